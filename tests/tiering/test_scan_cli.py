"""``capacity tier scan`` and ``capacity tier du`` as an operator runs them, against the real
test sshd: exit codes, host keys, and du's figures against sums computed here."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.sshd import SshServer
from tests.tiering.test_scan import _closed_port, build_tree, independent_du, truth

ROOT = Path(__file__).resolve().parents[2]


def capacity(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "capacity", *map(str, args)],
                          capture_output=True, text=True, check=False, cwd=ROOT, timeout=120)


@pytest.fixture
def estate(tmp_path: Path, scan_write_inventory: Callable[..., Path],
           scan_ssh_host: Callable[..., dict[str, Any]]) -> tuple[Path, dict[str, Path]]:
    """Two hosts on the test sshd, each with its own tiers, and a policy (depth 3) on one."""
    roots = {"a/hot": tmp_path / "a" / "hot", "a/warm": tmp_path / "a" / "warm",
             "b/hot": tmp_path / "b" / "hot"}
    for name, root in roots.items():
        build_tree(root, tmp_path / "outside" / name)
    rule = {"name": "r", "action": "expire", "from": "hot", "select": {"older_than": "10y"}}
    inv = scan_write_inventory(
        {"a": scan_ssh_host({"hot": roots["a/hot"], "warm": roots["a/warm"]}),
         "b": scan_ssh_host({"hot": roots["b/hot"]})},
        {"studies": {"hosts": ["a"], "unit": {"depth": 3}, "rules": [rule]}})
    return inv, roots


def test_scan_then_du_report_what_the_disks_hold(tmp_path: Path,
                                                  estate: tuple[Path, dict[str, Path]]) -> None:
    inv, roots = estate
    state = tmp_path / "state"
    run = capacity("tier", "scan", inv, "--state", state, "--format", "json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["ok"] and [h["host"] for h in report["hosts"]] == ["a", "b"]
    for h in report["hosts"]:
        for t in h["tiers"]:
            want = truth(roots[f"{h['host']}/{t['tier']}"])
            files = [e for e in want.values() if e[0] == "f"]
            assert (t["files"], t["bytes"], t["removed"], t["error"]) == (
                len(files), sum(e[1] for e in files), 0, None)

    # du: default depth 3 for host a (its policy), 1 for b; every unit (--top 0).
    run = capacity("tier", "du", inv, "--state", state, "--format", "json", "--top", "0")
    assert run.returncode == 0, run.stderr
    tiers = json.loads(run.stdout)["tiers"]
    assert [(t["host"], t["tier"], t["depth"]) for t in tiers] == [
        ("a", "hot", 3), ("a", "warm", 3), ("b", "hot", 1)]
    for t in tiers:
        want = independent_du(truth(roots[f"{t['host']}/{t['tier']}"]), t["depth"])
        got = {u["unit"]: (u["files"], u["bytes"], u["links"]) for u in t["units"]}
        assert got == {k: (v[0], v[1], v[4]) for k, v in want.items()}  # bytes round-trip
        assert t["files"] == sum(v[0] for v in want.values())
        assert t["bytes"] == sum(v[1] for v in want.values())
        assert t["unit_count"] == len(want) and t["scanned"].endswith("+00:00")
        oldest = min(v[2] for v in want.values() if v[2] is not None)
        assert t["oldest_mtime"] == dt.datetime.fromtimestamp(oldest, dt.UTC).isoformat(
            timespec="seconds")

    # --depth, --host, --tier and --top narrow it; the table names what it shows.
    run = capacity("tier", "du", inv, "--state", state, "--format", "json", "--host", "b",
                   "--depth", "0", "--top", "2")
    [b_hot] = json.loads(run.stdout)["tiers"]
    assert (b_hot["host"], b_hot["depth"], len(b_hot["units"])) == ("b", 0, 2)
    assert b_hot["unit_count"] == sum(e[0] != "d" for e in truth(roots["b/hot"]).values())
    run = capacity("tier", "du", inv, "--state", state, "--tier", "warm")
    assert run.returncode == 0, run.stderr
    assert "Largest units of a/warm (depth 3)" in run.stdout and "a/hot" not in run.stdout
    assert "STUDY $(touch PWNED); rm -rf x" in run.stdout and "more units" in run.stdout


def test_rescan_table_counts_removed_files(tmp_path: Path,
                                           estate: tuple[Path, dict[str, Path]]) -> None:
    inv, roots = estate
    state = tmp_path / "state"
    assert capacity("tier", "scan", inv, "--state", state, "--host", "b").returncode == 0
    for name in ("with space.dcm", "new\nline.dcm"):
        (roots["b/hot"] / name).unlink()
    run = capacity("tier", "scan", inv, "--state", state, "--host", "b", "-f", "json")
    assert run.returncode == 0, run.stderr
    [b] = json.loads(run.stdout)["hosts"]
    assert b["tiers"][0]["removed"] == 2
    run = capacity("tier", "scan", inv, "--state", state, "--host", "b")
    assert run.returncode == 0 and "entries/s" in run.stdout and " ok" in run.stdout


def test_an_unreachable_host_fails_alone_with_exit_1(
        tmp_path: Path, scan_write_inventory: Callable[..., Path],
        scan_ssh_host: Callable[..., dict[str, Any]]) -> None:
    build_tree(tmp_path / "hot", tmp_path / "outside")
    inv = scan_write_inventory({
        "up": scan_ssh_host({"hot": tmp_path / "hot"}),
        "down": scan_ssh_host({"hot": tmp_path / "hot"}, port=_closed_port()),
        "half": scan_ssh_host({"hot": tmp_path / "hot", "gone": tmp_path / "gone"})})
    state = tmp_path / "state"
    run = capacity("tier", "scan", inv, "--state", state)
    assert run.returncode == 1
    assert "down: " in run.stderr and "cannot connect" in run.stderr
    assert "half: half/gone" in run.stderr and "does not exist" in run.stderr
    assert "unreachable" in run.stdout and "failed" in run.stdout
    run = capacity("tier", "scan", inv, "--state", state, "--format", "json")
    report = json.loads(run.stdout)
    assert run.returncode == 1 and not report["ok"]
    assert [(h["host"], h["ok"]) for h in report["hosts"]] == [
        ("up", True), ("down", False), ("half", False)]
    run = capacity("tier", "du", inv, "--state", state, "-f", "json")
    scanned = {(t["host"], t["tier"]): t["scanned"] is not None for t in json.loads(
        run.stdout)["tiers"]}
    assert scanned == {("up", "hot"): True, ("down", "hot"): False, ("half", "hot"): True,
                       ("half", "gone"): False}


def test_bad_input_exits_2(tmp_path: Path, estate: tuple[Path, dict[str, Path]],
                           scan_write_inventory: Callable[..., Path]) -> None:
    bad = scan_write_inventory({"h": {"address": "x", "tiers": {"hot": "relative/path"}}},
                               name="bad.yaml")
    for command in ("scan", "du"):
        run = capacity("tier", command, bad, "--state", tmp_path / "state")
        assert run.returncode == 2 and f"{bad}:" in run.stderr, run.stderr
        assert "absolute path" in run.stderr
    inv, _ = estate
    run = capacity("tier", "scan", inv, "--state", tmp_path / "state", "--host", "nope")
    assert run.returncode == 2 and "--host: no host named 'nope' in the inventory" in run.stderr
    run = capacity("tier", "du", inv, "--state", tmp_path / "state", "--tier", "nope")
    assert run.returncode == 2 and "unknown tier nope" in run.stderr


def test_du_before_any_scan_says_to_scan(tmp_path: Path,
                                         estate: tuple[Path, dict[str, Path]]) -> None:
    run = capacity("tier", "du", estate[0], "--state", tmp_path / "empty")
    assert run.returncode == 1 and "run `capacity tier scan` first" in run.stderr
    assert not (tmp_path / "empty").exists()


def test_an_unknown_host_key_is_refused_until_trusted(
        tmp_path: Path, sshd: SshServer, scan_write_inventory: Callable[..., Path],
        scan_ssh_host: Callable[..., dict[str, Any]]) -> None:
    build_tree(tmp_path / "hot", tmp_path / "outside")
    known = tmp_path / "known_hosts"
    known.write_text("")
    inv = scan_write_inventory({"new": scan_ssh_host({"hot": tmp_path / "hot"},
                                                     known_hosts=str(known))})
    state = tmp_path / "state"
    run = capacity("tier", "scan", inv, "--state", state)
    assert run.returncode == 1
    assert "unknown host key" in run.stderr and "--trust-new-host-keys" in run.stderr
    assert known.read_text() == ""

    run = capacity("tier", "scan", inv, "--state", state, "--trust-new-host-keys")
    assert run.returncode == 0, run.stderr
    key_type, key = sshd.host_key_line.split()[:2]
    assert known.read_text() == f"{sshd.host_key_name} {key_type} {key}\n"
    assert capacity("tier", "scan", inv, "--state", state).returncode == 0
