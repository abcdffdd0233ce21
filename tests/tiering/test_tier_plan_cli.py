"""`capacity tier plan` as a user runs it: a real process, a real study tree catalogued from
os.lstat, and (for the watermark) a real OpenSSH server measuring the tier's filesystem."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from capacity.tiering import binding
from capacity.tiering.catalog import Catalogue
from capacity.tiering.planfile import Plan
from capacity.tiering.records import FileRecord
from tests.sshd import SshServer

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
HOST = "pacs-store"

# tier -> unit -> [(file name, age in days, size)]
TREE: dict[str, dict[str, list[tuple[str, float, int]]]] = {
    "hot": {
        "2025/01/OLD1": [("a.dcm", 400, 1000), ("SR/b.dcm", 390, 2000)],
        "2025/02/OLD2": [("a.dcm", 300, 500)],
        "2025/03/MIXED": [("a.dcm", 400, 700), ("late.dcm", 5, 10)],  # one young file
        "2025/04/LINKED": [("a.dcm", 400, 800)],  # plus a symlink, below
        "2026/10/NEW": [("a.dcm", 10, 900)],
    },
    "warm": {"2020/01/W": [("a.dcm", 2000, 100)]},
    "archive": {
        "2014/01/GONE": [("a.dcm", 4500, 300)],
        "2014/02/HELD1": [("a.dcm", 4500, 400)],
    },
}


def _age(path: Path, days: float) -> None:
    when = NOW.timestamp() - days * 86400
    os.utime(path, (when, when), follow_symlinks=False)


def build_tree(root: Path) -> None:
    for tier, units in TREE.items():
        (root / tier).mkdir(parents=True)
        for unit, files in units.items():
            for name, days, size in files:
                path = root / tier / unit / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(hashlib.sha256(path.name.encode()).digest()[:1] * size)
                _age(path, days)
    link = root / "hot/2025/04/LINKED/outside.dcm"
    link.symlink_to("/etc/hostname")  # would lead out of the tier
    _age(link, 400)


def lstat_records(root: Path, tier: str) -> list[FileRecord]:
    """Every entry under a tier root as os.lstat sees it (the scan's job, done by hand)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            st = path.lstat()
            kind = ("f" if stat.S_ISREG(st.st_mode) else "l" if stat.S_ISLNK(st.st_mode)
                    else "d" if stat.S_ISDIR(st.st_mode) else "o")
            out.append(FileRecord(HOST, tier, path.relative_to(root).as_posix(), st.st_size,
                                  st.st_mtime, st.st_atime, st.st_ino, kind))  # type: ignore[arg-type]
    return out


def catalogue(state: Path, root: Path, tiers: list[str]) -> None:
    with Catalogue(state / "catalogue.sqlite") as cat:
        for tier in tiers:
            scan = cat.begin_scan(HOST, tier, str(root / tier))
            cat.add(scan, lstat_records(root / tier, tier))
            cat.finish_scan(scan)


def snapshot(tree: Path, state: Path) -> dict[str, Any]:
    """Every entry's kind, size, mtime (ns) and content (or link target) hash: of the whole
    tree, and of the state folder's files (SQLite's WAL files of a reader come and go, so
    the folder's own mtime may change; the catalogue's bytes may not)."""
    seen: dict[str, Any] = {}
    for root in (tree, state):
        for dirpath, dirnames, filenames in os.walk(root):
            for name in ["", *dirnames, *filenames] if root == tree else filenames:
                path = Path(dirpath) / name
                st = path.lstat()
                content = (os.readlink(path) if stat.S_ISLNK(st.st_mode)
                           else hashlib.sha256(path.read_bytes()).hexdigest()
                           if stat.S_ISREG(st.st_mode) else None)
                seen[str(path)] = (st.st_mode, st.st_size, st.st_mtime_ns, content)
    return seen


def inventory(path: Path, root: Path, policy: dict[str, Any],
              host: dict[str, Any] | None = None) -> Path:
    data = {
        "name": "plan test", "as_of": "2026-11-01", "sites": {"main": {"role": "primary"}},
        "hosts": {HOST: {"address": "127.0.0.1", **(host or {}),
                         "tiers": {t: str(root / t) for t in TREE}}},
        "policies": {"pacs-lifecycle": {
            "hosts": [HOST], "unit": {"depth": 3}, "order": "oldest",
            "rules": [
                {"name": "hot-to-warm", "from": "hot", "to": "warm",
                 "select": {"older_than": "180d"}},
                {"name": "expire-archive", "action": "expire", "from": "archive",
                 "select": {"older_than": "10y"}}],
            "retention": "10y",
            "holds": [{"paths": ["2014/02/HELD*"], "reason": "Litigation hold 2025-017"}],
            **policy}},
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def capacity(tmp: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    # HOME is the test's own, so no ~/.ssh/config or agent of the machine joins in.
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "CAPACITY_STATE")}
    env["HOME"] = str(tmp)
    return subprocess.run([sys.executable, "-m", "capacity", *map(str, args)],
                          capture_output=True, text=True, check=False, cwd=ROOT, env=env)


@pytest.fixture
def estate(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(tier roots folder, state folder, inventory without a trigger), catalogued."""
    root, state = tmp_path / "pacs", tmp_path / "state"
    build_tree(root)
    catalogue(state, root, list(TREE))
    return root, state, inventory(tmp_path / "inv.yaml", root, {})


def plan_args(inv: Path, state: Path, *more: str | Path) -> list[str | Path]:
    return ["tier", "plan", inv, "--state", state, "--now", NOW.isoformat(), *more]


# --------------------------------------------------------------------------- offline


def test_plan_json_says_what_moves_and_why_and_changes_nothing(
        tmp_path: Path, estate: tuple[Path, Path, Path]) -> None:
    root, state, inv = estate
    before = snapshot(root, state)
    out = tmp_path / "plan.json"
    run = capacity(tmp_path, *plan_args(inv, state, "--offline", "--format", "json",
                                        "--out", out))
    assert run.returncode == 0, run.stderr
    after = snapshot(root, state)
    # The one thing planning writes to its state: the key that seals plans, made once.
    assert after.pop(str(state / "plan.key"))[1] == 32
    assert after == before  # tree, mtimes and catalogue byte for byte

    data = json.loads(run.stdout)
    assert [(u["rule"], u["unit"]) for u in data["units"]] == [
        ("hot-to-warm", "2025/01/OLD1"), ("hot-to-warm", "2025/02/OLD2"),
        ("expire-archive", "2014/01/GONE")]
    old1 = data["units"][0]
    assert [(f["path"], f["size"]) for f in old1["files"]] == [
        ("2025/01/OLD1/SR/b.dcm", 2000), ("2025/01/OLD1/a.dcm", 1000)]
    assert old1["bytes"] == 3000 and old1["source"] == "hot" and old1["target"] == "warm"
    assert round(old1["age_days"], 6) == 390
    assert old1["reason"] == "older than 180d: newest file 390 days old"
    skipped = {s["unit"]: s["reason"] for s in data["skipped"]}
    assert set(skipped) == {"2025/04/LINKED", "2014/02/HELD1"}
    assert "symlink (2025/04/LINKED/outside.dcm)" in skipped["2025/04/LINKED"]
    assert skipped["2014/02/HELD1"] == "held: Litigation hold 2025-017"
    assert data["roots"][HOST] == {t: str(root / t) for t in TREE}

    totals = {r["rule"]: (r["units"], r["bytes"], r["skipped_units"])
              for r in data["totals"]["rules"]}
    assert totals == {"hot-to-warm": (2, 3500, 1), "expire-archive": (1, 300, 1)}
    tiers = {t["tier"]: t for t in data["totals"]["tiers"]}
    assert (tiers["hot"]["move_out_units"], tiers["hot"]["move_out_bytes"]) == (2, 3500)
    assert (tiers["warm"]["move_in_units"], tiers["warm"]["move_in_bytes"]) == (2, 3500)
    assert (tiers["archive"]["expire_units"], tiers["archive"]["expire_bytes"]) == (1, 300)

    # The plan file is the printed plan without the totals, sealed, and reads back whole.
    written = json.loads(out.read_text())
    assert binding.sealed_ok(out.read_text(), (state / "plan.key").read_bytes())
    assert {k: v for k, v in written.items() if k != "seal"} == {
        k: v for k, v in data.items() if k != "totals"}
    plan = Plan.read(out)
    assert json.loads(plan.to_json()) == {k: v for k, v in written.items() if k != "seal"}
    assert [u.id for u in plan.units] == [u["id"] for u in data["units"]]


def test_planning_twice_gives_the_same_plan(tmp_path: Path,
                                           estate: tuple[Path, Path, Path]) -> None:
    _root, state, inv = estate
    runs = [capacity(tmp_path, *plan_args(inv, state, "--offline", "--out",
                                          tmp_path / f"plan{i}.json")) for i in (1, 2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr
    plans = [json.loads((tmp_path / f"plan{i}.json").read_text()) for i in (1, 2)]
    for p in plans:
        del p["created"]  # when the plan was made: the one thing that differs
        del p["seal"]  # and so the seal over it
    assert plans[0] == plans[1]


def test_table_lists_units_with_a_limit_but_totals_everything(
        tmp_path: Path, estate: tuple[Path, Path, Path]) -> None:
    _root, state, inv = estate
    run = capacity(tmp_path, *plan_args(inv, state, "--offline", "--limit", "1"))
    assert run.returncode == 0, run.stderr
    text = run.stdout
    assert "2025/01/OLD1" in text and "2025/02/OLD2" not in text.split("Skipped")[0]
    assert "2 more units" in text
    assert "Totals per rule" in text and "Totals per tier" in text
    assert "no --out given: plan not written" in text
    assert "Planning changed nothing." in text


def test_triggered_rule_offline_plans_no_move(tmp_path: Path,
                                              estate: tuple[Path, Path, Path]) -> None:
    root, state, _ = estate
    inv = inventory(tmp_path / "trig.yaml", root, {"trigger": {"high": "85%", "low": "80%"}})
    run = capacity(tmp_path, *plan_args(inv, state, "--offline", "--format", "json"))
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert [u["unit"] for u in data["units"]] == ["2014/01/GONE"]  # expiry has no trigger
    reasons = {s["unit"]: s["reason"] for s in data["skipped"]}
    assert reasons["2025/01/OLD1"].startswith("tier hot not measured")
    assert data["usage"] == []


# --------------------------------------------------------------------------- refusals


def test_an_unscanned_tier_asks_for_a_scan_and_writes_nothing(tmp_path: Path) -> None:
    root, state = tmp_path / "pacs", tmp_path / "state"
    build_tree(root)
    inv = inventory(tmp_path / "inv.yaml", root, {})
    run = capacity(tmp_path, *plan_args(inv, state, "--offline"))
    assert run.returncode == 1
    assert "scan first: capacity tier scan" in run.stderr
    assert not state.exists()  # not even an empty catalogue

    catalogue(state, root, ["hot"])  # archive never scanned
    run = capacity(tmp_path, *plan_args(inv, state, "--offline"))
    assert run.returncode == 1
    assert f"{HOST}/archive was never scanned" in run.stderr
    assert "scan first: capacity tier scan" in run.stderr


@pytest.mark.parametrize("args", [["--now", "yesterday"], ["--host", "nope"],
                                  ["--policy", "nope"], ["--out", "/no/such/dir/plan.json"]])
def test_bad_input_exits_2(tmp_path: Path, estate: tuple[Path, Path, Path],
                           args: list[str]) -> None:
    _root, state, inv = estate
    run = capacity(tmp_path, "tier", "plan", inv, "--state", state, "--offline", *args)
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip()


# --------------------------------------------------------------------------- measured


def ssh_host(sshd: SshServer) -> dict[str, Any]:
    return {"address": sshd.host, "port": sshd.port, "user": sshd.user,
            "key": sshd.client_key, "known_hosts": sshd.known_hosts}


def test_watermarks_judged_on_the_fill_measured_over_ssh(
        tmp_path: Path, estate: tuple[Path, Path, Path], sshd: SshServer) -> None:
    root, state, _ = estate
    vfs = os.statvfs(root / "hot")
    fill = (vfs.f_blocks - vfs.f_bfree) / vfs.f_blocks
    # Half the real fill as both marks: the tier is above high, and moving a few KB cannot
    # bring it down to low, so every old enough study moves, oldest first.
    half = inventory(tmp_path / "half.yaml", root,
                     {"trigger": {"high": fill / 2, "low": fill / 2}}, ssh_host(sshd))
    before = snapshot(root, state)
    run = capacity(tmp_path, *plan_args(half, state, "--format", "json"))
    assert run.returncode == 0, run.stderr
    assert snapshot(root, state) == before
    data = json.loads(run.stdout)
    assert [u["unit"] for u in data["units"]] == ["2025/01/OLD1", "2025/02/OLD2",
                                                  "2014/01/GONE"]
    assert "tier hot" in data["units"][0]["reason"]
    [measured] = data["usage"]  # only the triggered rule's source tier is measured
    assert (measured["host"], measured["tier"], measured["root"]) == (HOST, "hot",
                                                                      str(root / "hot"))
    assert measured["total"] == vfs.f_blocks * vfs.f_frsize
    assert abs(measured["fill_ratio"] - fill) < 0.01  # other tests write meanwhile

    # A tier can never be above 100%: nothing moves, and each old study says why.
    full = inventory(tmp_path / "full.yaml", root, {"trigger": {"high": "100%", "low": "100%"}},
                     ssh_host(sshd))
    run = capacity(tmp_path, *plan_args(full, state, "--format", "json"))
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert [u["unit"] for u in data["units"]] == ["2014/01/GONE"]
    reasons = {s["unit"]: s["reason"] for s in data["skipped"]}
    assert "<= high 100%: no move needed" in reasons["2025/01/OLD1"]
    assert "<= high 100%: no move needed" in reasons["2025/02/OLD2"]


def test_an_unreachable_host_fails_and_suggests_offline(
        tmp_path: Path, estate: tuple[Path, Path, Path], sshd: SshServer) -> None:
    root, state, _ = estate
    wrong = {**ssh_host(sshd), "known_hosts": str(tmp_path / "empty_known_hosts")}
    (tmp_path / "empty_known_hosts").write_text("")
    inv = inventory(tmp_path / "inv.yaml", root, {"trigger": {"high": "85%", "low": "80%"}},
                    wrong)
    run = capacity(tmp_path, *plan_args(inv, state))
    assert run.returncode == 1
    assert "cannot measure" in run.stderr and "--offline" in run.stderr


def test_names_with_any_bytes_plan_and_read_back(tmp_path: Path) -> None:
    root, state = tmp_path / "pacs", tmp_path / "state"
    build_tree(root)
    study = b"ODD-\xff [bold]x[red]"  # not UTF-8, and rich markup if printed raw
    names = [b"\xfe-latin1-\xe9.dcm", b"new\nline.dcm"]
    folder = os.path.join(os.fsencode(root), b"hot/2025/05", study)
    os.makedirs(folder)
    for name in names:
        path = os.path.join(folder, name)
        with open(path, "wb") as f:
            f.write(b"x" * 10)
        _age(Path(os.fsdecode(path)), 500)
    catalogue(state, root, list(TREE))
    inv = inventory(tmp_path / "inv.yaml", root, {})
    out = tmp_path / "plan.json"
    env = {**os.environ, "HOME": str(tmp_path)}
    run = subprocess.run([sys.executable, "-m", "capacity", *map(str, plan_args(
        inv, state, "--offline", "--format", "json", "--out", out))],
        capture_output=True, check=False, cwd=ROOT, env=env)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout.decode("utf-8", "surrogateescape"))
    unit = "2025/05/" + os.fsdecode(study)
    want = sorted(f"{unit}/{os.fsdecode(n)}" for n in names)
    assert [[f["path"] for f in u["files"]] for u in data["units"] if u["unit"] == unit] == [
        want]
    assert [[f.path for f in u.files] for u in Plan.read(out).units if u.unit == unit] == [
        want]
    table = capacity(tmp_path, *plan_args(inv, state, "--offline"))
    assert table.returncode == 0, table.stderr
    # Undecodable bytes escaped, brackets shown as written (never read as markup).
    assert "2025/05/ODD-\\xff" in table.stdout and "[bold]x[red]" in table.stdout
