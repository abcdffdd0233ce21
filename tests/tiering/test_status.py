"""capacity.tiering.status: the progress report built from journal rows."""

from __future__ import annotations

import time
from pathlib import Path

from capacity.tiering import journal as J
from capacity.tiering.journal import Journal, UnitRow
from capacity.tiering.status import journal_units, status_report


def _row(unit: str, host: str, state: str, nbytes: int, started: float | None = None,
         finished: float | None = None, error: str | None = None) -> UnitRow:
    return UnitRow(unit, "plan.json", host, "p", "to-warm", "move", f"/hot/{unit}",
                   f"/warm/{unit}", unit, nbytes, state, {}, error, started, 0.0, finished)


def _local(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(t))


def test_units_by_state_bytes_rate_and_failures_per_host() -> None:
    t0 = 1_700_000_000.0
    rows = [_row("a", "pacs2", J.DONE, 300, t0, t0 + 10),
            _row("b", "pacs2", J.DONE, 700, t0 + 5, t0 + 20),
            _row("c", "pacs2", J.COPYING, 50, t0 + 21),
            _row("d", "pacs2", J.PENDING, 5),
            _row("e", "pacs2", J.FAILED, 9, t0, t0 + 1, error="disk full"),
            _row("f", "pacs1", J.KEPT_BOTH, 4, t0, t0 + 1, error="changed while copied"),
            _row("g", "pacs1", J.SKIPPED, 1)]
    report = status_report(rows)
    assert [h["host"] for h in report["hosts"]] == ["pacs1", "pacs2"]
    pacs1, pacs2 = report["hosts"]
    assert pacs2 == {
        "host": "pacs2", "units": 5, "in_progress": 1, "done_bytes": 1000,
        "planned_bytes": 1064,
        "states": {J.DONE: 2, J.COPYING: 1, J.PENDING: 1, J.FAILED: 1},
        "first_started": _local(t0), "last_finished": _local(t0 + 20),
        "bytes_per_second": 1000 / 20}
    assert (pacs1["done_bytes"], pacs1["bytes_per_second"], pacs1["first_started"]) == (
        0, 0.0, None)
    assert report["failures"] == [
        {"host": "pacs2", "unit": "e", "rule": "to-warm", "state": J.FAILED,
         "error": "disk full"},
        {"host": "pacs1", "unit": "f", "rule": "to-warm", "state": J.KEPT_BOTH,
         "error": "changed while copied"}]


def test_an_empty_journal_reports_nothing() -> None:
    assert status_report([]) == {"hosts": [], "failures": []}


def test_journal_units_reads_all_or_the_unfinished(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    for unit, state in (("a", J.DONE), ("b", J.COPYING), ("c", J.PENDING)):
        journal.add(unit, "plan.json", "h", "p", "r", "move", f"/hot/{unit}", f"/warm/{unit}",
                    unit, 1, {})
        journal.set(unit, state)
    journal.close()
    assert sorted(r.unit for r in journal_units(path)) == ["a", "b", "c"]
    assert sorted(r.unit for r in journal_units(path, unfinished=True)) == ["b", "c"]


def test_get_many_reads_back_what_get_reads_in_the_order_asked(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    ids = [f"u{i:04d}" for i in range(1200)]  # more than one query's worth
    journal.add_many([(i, "plan.json", "h", "p", "r", "move", f"/hot/{i}", f"/warm/{i}", i, 7,
                       {"n": n}) for n, i in enumerate(ids)])
    journal.set_many(ids[::3], J.COPYING, each={i: {"work": f"/w/{i}"} for i in ids[::3]})
    asked = [*reversed(ids), "nobody", ids[5]]
    assert journal.get_many(asked) == [journal.get(i) for i in asked if i != "nobody"]
    copying = journal.get_many(ids[::3])
    assert {r.state for r in copying} == {J.COPYING}
    assert all(r.detail == {"n": int(r.id[1:]), "work": f"/w/{r.id}"} for r in copying)
    journal.close()
