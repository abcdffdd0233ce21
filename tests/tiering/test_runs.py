"""capacity.tiering.runs: the engine over several hosts, and what an apply makes the
catalogue forget."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from capacity.load import load_inventory
from capacity.tiering import journal as J
from capacity.tiering.apply import Engine, HostReport, Options
from capacity.tiering.catalog import Catalogue
from capacity.tiering.journal import Journal
from capacity.tiering.planfile import Plan, PlannedUnit, UnitFile
from capacity.tiering.records import FileRecord
from capacity.tiering.runs import forget_moved, run_hosts
from capacity.tiering.state import StateDir
from capacity.transports import HostKeyTrusted
from tests.sshd import SshServer
from tests.tiering.test_scan import _closed_port


def _done(engine: Engine) -> HostReport:
    return HostReport(engine.host_name, done=1)


def test_a_missing_or_unreachable_host_fails_alone(
        tmp_path: Path, scan_write_inventory: Callable[..., Path],
        scan_ssh_host: Callable[..., dict[str, Any]]) -> None:
    inv = load_inventory(scan_write_inventory({
        "down": scan_ssh_host({"hot": tmp_path / "hot"}, port=_closed_port()),
        "up": scan_ssh_host({"hot": tmp_path / "hot"})}))
    trusted: list[HostKeyTrusted] = []
    reports = run_hosts(inv, ["gone", "down", "up"], StateDir(tmp_path / "state"), False,
                        Options(), _done, trusted.append)
    assert [(r.host, r.done, r.failed) for r in reports] == [
        ("gone", 0, 1), ("down", 0, 1), ("up", 1, 0)]
    assert reports[0].stopped == "not in the inventory"
    down = reports[1].stopped or ""
    assert down.startswith("ConnectionLost: ") and "cannot connect" in down
    assert down.endswith("(run `capacity tier resume` when it is back)")
    assert trusted == []


def test_a_host_key_trusted_on_first_use_is_told_and_audited(
        tmp_path: Path, sshd: SshServer, scan_write_inventory: Callable[..., Path],
        scan_ssh_host: Callable[..., dict[str, Any]]) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    inv = load_inventory(scan_write_inventory({
        "new": scan_ssh_host({"hot": tmp_path / "hot"}, known_hosts=str(known))}))
    state = StateDir(tmp_path / "state")
    trusted: list[HostKeyTrusted] = []
    reports = run_hosts(inv, ["new"], state, True, Options(), _done, trusted.append)
    assert [(r.host, r.done, r.failed) for r in reports] == [("new", 1, 0)]
    assert [k.known_hosts for k in trusted] == [str(known)]
    records = [json.loads(line) for line in state.audit.read_text().splitlines()]
    steps = [r for r in records if r.get("step") == "host-key-trusted"]
    assert [(r["host"], r["fingerprint"]) for r in steps] == [("new", trusted[0].fingerprint)]
    assert sshd.host_key_line.split()[1] in known.read_text()


def _unit(host: str, tier: str, unit: str, names: list[str]) -> PlannedUnit:
    files = tuple(UnitFile(f"{unit}/{n}", 10, 1.0) for n in names)
    return PlannedUnit("p", host, "r", "move", tier, "warm", unit, files, 10 * len(files), 1.0,
                       400.0, "test")


def test_forget_moved_drops_the_entries_of_done_units_only(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    with Catalogue(state.catalogue) as catalogue:
        scan = catalogue.begin_scan("h", "hot", "/srv/hot")
        catalogue.add(scan, [FileRecord("h", "hot", p, 10, 1.0, 1.0, i, "f") for i, p in
                             enumerate(["A/1", "A/2", "B/1", "C/1"])])
        catalogue.finish_scan(scan)
    done, failed = _unit("h", "hot", "A", ["1", "2"]), _unit("h", "hot", "B", ["1"])
    journal = Journal(state.journal)
    for unit, final in ((done, J.DONE), (failed, J.FAILED)):
        journal.add(unit.id, "plan.json", unit.host, unit.policy, unit.rule, unit.action,
                    "/srv/hot/" + unit.unit, "/srv/warm/" + unit.unit, unit.unit, unit.bytes,
                    {})
        journal.set(unit.id, final)
    journal.close()
    now = dt.datetime.now().astimezone()
    plan = Plan("inv.yaml", now, now, {"h": {"hot": "/srv/hot", "warm": "/srv/warm"}},
                (done, failed))
    forget_moved(state, plan)
    with Catalogue(state.catalogue) as catalogue:
        assert sorted(r.path for r in catalogue.files("h", "hot")) == ["B/1", "C/1"]


def test_forget_moved_creates_no_catalogue(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    unit = _unit("h", "hot", "A", ["1"])
    journal = Journal(state.journal)
    journal.add(unit.id, "plan.json", "h", "p", "r", "move", "/srv/hot/A", "/srv/warm/A", "A",
                10, {})
    journal.set(unit.id, J.DONE)
    journal.close()
    now = dt.datetime.now().astimezone()
    forget_moved(state, Plan("inv.yaml", now, now, {}, (unit,)))
    assert not state.catalogue.exists()
