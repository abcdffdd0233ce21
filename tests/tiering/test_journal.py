"""The journal's rows as a batch reads them back after writing them: the same as a fresh
reader of the file finds."""

from __future__ import annotations

from pathlib import Path

from capacity.tiering import journal as J
from capacity.tiering.journal import Journal


def test_rows_read_back_after_set_many_are_the_files(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    ids = [f"u{i}" for i in range(5)]
    journal.add_many([(i, "plan", "h", "p", "r", "move", f"/src/{i}\udcff", f"/dst/{i}", i,
                       10, {"files": [{"path": "IM1", "size": 1, "mtime": 1.5}]})
                      for i in ids])
    journal.set_many(ids, J.CHECKING)
    journal.set_many(ids[:3], J.COPYING, each={i: {"work": f"/w/{i}", "t": (1, 2)}
                                               for i in ids[:3]})
    journal.set_many(ids[:2], J.FAILED, error="bad \udcfe byte", shared={"x": 1})
    fresh = Journal(tmp_path / "journal.sqlite")
    assert journal.get_many(ids) == fresh.get_many(ids)
    assert journal.get_many(ids[::-1]) == fresh.get_many(ids[::-1])
    assert journal.get_many(["u1"])[0].detail["t"] == [1, 2]
    journal.forget(["u0"])
    assert journal.get_many(ids) == fresh.get_many(ids) == fresh.get_many(ids[1:])
    journal.restart("u1", {"files": []})
    assert journal.get_many(ids) == fresh.get_many(ids)
    assert journal.get_many(["u1"])[0].state == J.PENDING
