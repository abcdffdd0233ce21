"""The usage history: one row per resource per day, idempotent, read back by day."""

from __future__ import annotations

import sqlite3
from datetime import date

import pytest

from capacity.history.store import History, Reading
from capacity.problems import InputError


def reading(day: int, used: int, *, resource: str = "e1090-main/pacs-hot") -> Reading:
    return Reading(resource, date(2026, 11, day), used, 10**15, "array",
                   f"2026-11-{day:02d}T06:00:00Z")


def test_a_day_collected_twice_keeps_one_row_the_later(tmp_path):
    with History(tmp_path / "h.sqlite") as history:
        history.record([reading(1, 100), reading(2, 200)])
        history.record([reading(2, 250), reading(3, 300)])
        rows = history.series("e1090-main/pacs-hot")
    assert [(r.day.day, r.used_bytes) for r in rows] == [(1, 100), (2, 250), (3, 300)]
    # independently of the class: what sqlite itself holds
    db = sqlite3.connect(tmp_path / "h.sqlite")
    assert db.execute("SELECT count(*), sum(used_bytes) FROM usage").fetchone() == (3, 650)


def test_series_by_resource_and_range(tmp_path):
    with History(tmp_path / "h.sqlite") as history:
        history.record([reading(d, d * 10) for d in (5, 1, 3)]
                       + [reading(2, 7, resource="hcp-main")])
        assert history.resources() == ["e1090-main/pacs-hot", "hcp-main"]
        window = history.series("e1090-main/pacs-hot", since=date(2026, 11, 2),
                                until=date(2026, 11, 4))
        assert [r.day.day for r in history.series("e1090-main/pacs-hot")] == [1, 3, 5]
    assert [r.used_bytes for r in window] == [30]


def test_a_failed_write_writes_nothing(tmp_path):
    with History(tmp_path / "h.sqlite") as history:
        history.record([reading(1, 100)])
        with pytest.raises(sqlite3.IntegrityError):
            history.record([reading(2, 200), reading(3, -1)])
        assert [r.used_bytes for r in history.series("e1090-main/pacs-hot")] == [100]


def test_a_file_that_is_not_a_history_is_bad_input_and_left_alone(tmp_path):
    path = tmp_path / "h.sqlite"
    path.write_bytes(b"not a database at all, but a file someone cares about" * 100)
    before = path.read_bytes()
    with pytest.raises(InputError, match="not a capacity usage history"):
        History(path)
    assert path.read_bytes() == before
