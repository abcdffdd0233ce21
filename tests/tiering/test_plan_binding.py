"""A plan file is not trusted beyond what it is bound to.  Each tampering reproduced on the
engine is tried twice: edited by hand (the seal no longer matches), and re-sealed with the
real key (as if the key leaked: the unit checks against the inventory refuse it).  Either
way: exit 2, a clear message, nothing touched on the host, nothing journaled."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from capacity.tiering import binding
from capacity.tiering.state import StateDir
from tests.sshd import SshServer
from tests.tiering.pacs_tree import (
    inventory_file,
    make_roots,
    make_study,
    plan_from_disk,
    snapshot,
    write_sealed,
)

ROOT = Path(__file__).resolve().parents[2]
Edit = Callable[[dict[str, Any], dict[str, Path], Path], None]


def capacity(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "capacity", *map(str, args)],
                          capture_output=True, text=True, check=False, cwd=ROOT)


@pytest.fixture
def estate(tmp_path: Path, sshd: SshServer) -> tuple[dict[str, Path], Path, Path, Path]:
    roots = make_roots(tmp_path)
    rng = random.Random(4)
    make_study(roots["hot"], "2018/01/STUDY-A", 2, 1000, rng, age_days=3000)
    make_study(roots["hot"], "2018/02/HELD-B", 2, 1000, rng, age_days=3000)
    (tmp_path / "outside").mkdir()
    make_study(tmp_path / "outside", "2018/01/STUDY-A", 2, 1000, rng, age_days=3000)
    inventory = inventory_file(tmp_path, sshd, roots, policy={
        "retention": "1y", "holds": [{"paths": ["2018/02/HELD-*"], "reason": "court order"}],
        "rules": [{"name": "to-warm", "from": "hot", "to": "warm",
                   "select": {"older_than": "180d"}},
                  {"name": "expire", "action": "expire", "from": "warm",
                   "select": {"older_than": "1y"}}]})
    state = tmp_path / "state"
    plan = plan_from_disk(inventory, roots, [("hot", "warm", "2018/01/STUDY-A")])
    path = write_sealed(plan, tmp_path / "plan.json", state)
    return roots, inventory, path, state


def _roots_elsewhere(data: dict[str, Any], roots: dict[str, Path], tmp: Path) -> None:
    data["roots"]["pacs1"]["hot"] = str(tmp / "outside")


def _empty_unit(data: dict[str, Any], roots: dict[str, Path], tmp: Path) -> None:
    unit = data["units"][0]
    unit["unit"] = ""
    unit["files"] = [{**f, "path": f["path"].split("/", 3)[-1]} for f in unit["files"]]


def _coarser(data: dict[str, Any], roots: dict[str, Path], tmp: Path) -> None:
    unit = data["units"][0]
    unit["unit"] = "2018"
    unit["files"] += [{"path": "2018/02/HELD-B/IM00000.dcm", "size": 1000,
                       "mtime": unit["files"][0]["mtime"]}]
    unit["bytes"] += 1000


def _move_to_expiry(data: dict[str, Any], roots: dict[str, Path], tmp: Path) -> None:
    unit = data["units"][0]
    unit.update(action="expire", target=None)


def _dotdot(data: dict[str, Any], roots: dict[str, Path], tmp: Path) -> None:
    data["units"][0]["unit"] = "2018/01/../../../outside/2018/01/STUDY-A"


def _unknown_policy(data: dict[str, Any], roots: dict[str, Path], tmp: Path) -> None:
    data["units"][0]["policy"] = "no-such-policy"


def _other_inventory(data: dict[str, Any], roots: dict[str, Path], tmp: Path) -> None:
    evil = yaml.safe_load(Path(data["inventory"]).read_text())
    evil["policies"]["life"]["hook"] = ["touch", str(tmp / "PWNED")]
    (tmp / "evil.yaml").write_text(yaml.safe_dump(evil))
    data["inventory"] = str(tmp / "evil.yaml")


TAMPERINGS: dict[str, tuple[Edit, str]] = {
    "roots at a non-tier folder": (_roots_elsewhere, "is not the root of tier 'hot'"),
    "unit path ''": (_empty_unit, "not a normalised path"),
    "unit made coarser": (_coarser, "the policy's units are 3 folder(s) deep"),
    "move flipped to an expiry": (_move_to_expiry, "does move from 'hot' to 'warm'"),
    "a path with ..": (_dotdot, "not a normalised path"),
    "unknown policy": (_unknown_policy, "no policy 'no-such-policy'"),
    "another inventory": (_other_inventory, "the inventory changed since this plan was made"),
}


@pytest.mark.parametrize("resealed", [False, True], ids=["edited", "resealed"])
@pytest.mark.parametrize("case", list(TAMPERINGS))
def test_a_tampered_plan_is_refused_and_touches_nothing(
        estate: tuple[dict[str, Path], Path, Path, Path], tmp_path: Path, case: str,
        resealed: bool) -> None:
    roots, _inventory, path, state = estate
    edit, words = TAMPERINGS[case]
    data = json.loads(path.read_text())
    edit(data, roots, tmp_path)
    data["units"][0].pop("id")  # as an editor would: the id is checked only if present
    if resealed:
        data["seal"] = binding.seal(data, binding.plan_key(StateDir(state)))
    path.write_text(json.dumps(data, indent=2))
    before = snapshot(roots["hot"], roots["warm"], tmp_path / "outside")
    run = capacity("tier", "apply", path, "--allow-delete", "--state", state)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert (words if resealed else "not sealed with the plan key") in run.stderr
    assert snapshot(roots["hot"], roots["warm"], tmp_path / "outside") == before
    assert not (tmp_path / "PWNED").exists()
    assert not (state / "journal.sqlite").exists() or capacity(
        "tier", "status", "--state", state, "--format", "json").stdout.count('"units"') == 0


def test_a_plan_made_with_another_state_folder_is_refused(
        estate: tuple[dict[str, Path], Path, Path, Path], tmp_path: Path) -> None:
    roots, _inventory, path, _state = estate
    before = snapshot(roots["hot"])
    run = capacity("tier", "apply", path, "--state", tmp_path / "elsewhere")
    assert run.returncode == 2
    assert "planned with another --state" in run.stderr
    assert snapshot(roots["hot"]) == before


def test_an_inventory_changed_since_the_plan_is_refused(
        estate: tuple[dict[str, Path], Path, Path, Path]) -> None:
    roots, inventory, path, state = estate
    text = inventory.read_text()
    inventory.write_text(text.replace("180d", "90d"))
    before = snapshot(roots["hot"])
    run = capacity("tier", "apply", path, "--state", state)
    assert run.returncode == 2
    assert "the inventory changed since this plan was made" in run.stderr
    assert "re-plan" in run.stderr
    assert snapshot(roots["hot"]) == before
    inventory.write_text(text)  # as planned again: it applies
    run = capacity("tier", "apply", path, "--state", state, "--format", "json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["hosts"][0]["done"] == 1


@pytest.mark.parametrize("content", [b"", b"{", b"null", b"[]", b'{"format": 1}',
                                     b"\xff\xfe", b'{"units": [{"bytes": 1e400}]}'])
def test_a_broken_plan_file_is_bad_input(estate: tuple[dict[str, Path], Path, Path, Path],
                                         content: bytes) -> None:
    roots, _inventory, path, state = estate
    path.write_bytes(content)
    before = snapshot(roots["hot"])
    run = capacity("tier", "apply", path, "--state", state)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert f"{path}:1:1:" in run.stderr
    assert snapshot(roots["hot"]) == before
