"""Tier roots never nest or overlap: not in the inventory (refused by validate), not through
a symbolic link on the host (refused by the scan), and a unit that holds another tier's root
is never moved or expired (refused by apply, whatever the plan says)."""

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

from tests.tiering.pacs_tree import (
    inventory_file,
    make_study,
    plan_from_disk,
    snapshot,
    write_sealed,
)
from tests.tiering.test_apply import capacity as apply_cli

ROOT = Path(__file__).resolve().parents[2]


def capacity(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "capacity", *map(str, args)],
                          capture_output=True, text=True, check=False, cwd=ROOT)


@pytest.mark.parametrize(("hot", "archive", "words"), [
    ("/srv/pacs", "/srv/pacs/archive", "tier 'archive' (/srv/pacs/archive) lies inside tier"
                                       " 'hot' (/srv/pacs)"),
    ("/srv/pacs/hot/", "/srv/pacs/hot", "is the same folder as"),
    ("/srv/pacs/hot/../archive/x", "/srv/pacs/archive", "tier 'hot' (/srv/pacs/archive/x)"
                                                         " lies inside tier 'archive'"),
])
def test_validate_refuses_nested_roots(tmp_path: Path, hot: str, archive: str,
                                       words: str) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump({
        "name": "t", "as_of": "2026-11-01", "sites": {"s": {"role": "primary"}},
        "hosts": {"h": {"address": "pacs1", "tiers": {"hot": hot, "archive": archive}}}}))
    run = capacity("validate", path)
    assert run.returncode == 2
    assert f"{path}:5:5: hosts.h.tiers: " in run.stderr  # the line of 'tiers:'
    assert words in run.stderr and "may not nest or overlap" in run.stderr


def test_sibling_roots_with_a_common_prefix_are_apart(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump({
        "name": "t", "as_of": "2026-11-01", "sites": {"s": {"role": "primary"}},
        "hosts": {"h": {"address": "pacs1",
                        "tiers": {"hot": "/srv/pacs", "archive": "/srv/pacs-archive"}}}}))
    assert capacity("validate", path).returncode == 0


def test_a_link_that_joins_two_roots_stops_the_scan(
        tmp_path: Path, scan_write_inventory: Callable[..., Path],
        scan_ssh_host: Callable[..., dict[str, Any]]) -> None:
    (tmp_path / "hot" / "archive").mkdir(parents=True)
    (tmp_path / "archive").symlink_to(tmp_path / "hot" / "archive")
    inv = scan_write_inventory({"h": scan_ssh_host({"hot": tmp_path / "hot",
                                                    "archive": tmp_path / "archive"})})
    run = capacity("tier", "scan", inv, "--state", tmp_path / "state", "--format", "json")
    assert run.returncode != 0
    assert "resolves to" in run.stdout + run.stderr
    assert "may not nest or overlap" in run.stdout + run.stderr


def test_apply_never_takes_another_tier_with_a_unit(tmp_path: Path, sshd) -> None:
    """A plan (made by hand, or with a link in place) names a hot unit that is the archive
    tier's root: the expiry is refused and the archive keeps every file."""
    hot, warm = tmp_path / "hot", tmp_path / "warm"
    make_study(hot, "2014/archive/STUDY", 3, 1000, random.Random(3), age_days=5000)
    warm.symlink_to(hot / "2014" / "archive")  # the warm tier lives inside hot by a link
    roots = {"hot": hot, "warm": warm}
    inventory = inventory_file(tmp_path, sshd, roots, policy={"rules": [
        {"name": "expire", "action": "expire", "from": "hot", "select": {"older_than": "1y"}}],
        "unit": {"depth": 2}})
    before = snapshot(hot)
    plan = plan_from_disk(inventory, roots, [("hot", "", "2014/archive")], action="expire",
                          rule="expire")
    write_sealed(plan, tmp_path / "plan.json", tmp_path / "state")
    run = apply_cli("tier", "apply", str(tmp_path / "plan.json"), "--allow-delete",
                    "--format", "json", state=tmp_path / "state")
    report = json.loads(run.stdout)["hosts"][0]
    assert report["skipped"] == 1 and report["done"] == 0
    assert snapshot(hot) == before
    audit = (tmp_path / "state" / "audit.jsonl").read_text()
    assert "holds the root of tier 'warm'" in audit, audit
