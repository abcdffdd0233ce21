"""The usage history database: one row per resource per day, idempotent.

A *resource* is named as the inventory names what holds data: a cluster (``pacs-main``), an
array pool (``e1090-main/pacs-hot``), an object store (``hcp-main``), or a host's file tier
(``pacs-store:hot``).  Collecting twice on one day replaces that day's row (the later reading
is the truer one), so a timer may run ``capacity collect`` as often as it likes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from capacity.tiering.state import open_database, transaction

LAYOUT = 1
"""``PRAGMA user_version`` of this layout."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (
    resource TEXT NOT NULL,
    day TEXT NOT NULL,            -- ISO 8601 date
    used_bytes INTEGER NOT NULL CHECK (used_bytes >= 0),
    capacity_bytes INTEGER CHECK (capacity_bytes IS NULL OR capacity_bytes >= 0),
    source TEXT NOT NULL,         -- ssh, catalogue, prometheus, array
    collected_at TEXT NOT NULL,   -- ISO 8601 instant of the reading
    PRIMARY KEY (resource, day)
) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True)
class Reading:
    """What one resource held on one day; ``capacity_bytes`` is None where the source does
    not say (the catalogue counts bytes, not room)."""

    resource: str
    day: date
    used_bytes: int
    capacity_bytes: int | None
    source: str
    collected_at: str


class History:
    """The history database; readers any time, one writer at a time (WAL)."""

    def __init__(self, path: Path):
        self.path = path
        self.db = open_database(path, "capacity usage history",
                                "collect again (`capacity collect`) to start a new history")
        if self.db.execute("PRAGMA user_version").fetchone()[0] == 0:
            self.db.execute(f"PRAGMA user_version = {LAYOUT}")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record(self, readings: Iterable[Reading]) -> int:
        """Write readings, each replacing its resource's row of that day; all or none."""
        rows = [(r.resource, r.day.isoformat(), r.used_bytes, r.capacity_bytes, r.source,
                 r.collected_at) for r in readings]
        with transaction(self.db):
            self.db.executemany(
                "INSERT INTO usage VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (resource, day) DO"
                " UPDATE SET used_bytes = excluded.used_bytes, capacity_bytes ="
                " excluded.capacity_bytes, source = excluded.source, collected_at ="
                " excluded.collected_at", rows)
        return len(rows)

    def resources(self) -> list[str]:
        return [r for (r,) in self.db.execute(
            "SELECT DISTINCT resource FROM usage ORDER BY resource")]

    def series(self, resource: str, *, since: date | None = None,
               until: date | None = None) -> list[Reading]:
        """One resource's readings by day, oldest first, within ``since``..``until``."""
        query = "SELECT * FROM usage WHERE resource = ?"
        args: list[str] = [resource]
        if since is not None:
            query += " AND day >= ?"
            args.append(since.isoformat())
        if until is not None:
            query += " AND day <= ?"
            args.append(until.isoformat())
        return [Reading(res, date.fromisoformat(day), used, cap, source, at)
                for res, day, used, cap, source, at in
                self.db.execute(query + " ORDER BY day", args)]
