"""The apply journal: every unit's state, written durably *before* the step it names is
taken, so that after a crash at any instant ``resume`` knows what may have happened.

SQLite in WAL mode with synchronous=FULL: a committed transition survives power loss.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capacity import jsontext
from capacity.tiering.state import open_database, transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS units (
    id TEXT PRIMARY KEY,
    plan TEXT NOT NULL,
    host TEXT NOT NULL,
    policy TEXT NOT NULL,
    rule TEXT NOT NULL,
    action TEXT NOT NULL,
    source BLOB NOT NULL,
    target BLOB,
    unit BLOB NOT NULL,
    bytes INTEGER NOT NULL,
    state TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    started REAL,
    updated REAL NOT NULL,
    finished REAL
);
CREATE INDEX IF NOT EXISTS units_state ON units (state);
"""

# The states a unit passes through, in order.  A state is recorded before its step is taken.
PENDING, CHECKING, COPYING, VERIFYING, RENAMING, FINISHING, DELETING, DONE = (
    "pending", "checking", "copying", "verifying", "renaming", "finishing", "deleting", "done")
SKIPPED, FAILED, KEPT_BOTH = "skipped", "failed", "kept-both"
SETTING = "setting"
"""A volume's tiering policy or a pool's relocation: recorded before the array is asked."""
FINAL = (DONE, SKIPPED, FAILED, KEPT_BOTH)


@dataclass(frozen=True)
class UnitRow:
    id: str
    plan: str
    host: str
    policy: str
    rule: str
    action: str
    source: str
    """Absolute path of the unit at its source."""
    target: str | None
    """Absolute path the unit moves to."""
    unit: str
    bytes: int
    state: str
    detail: dict[str, Any]
    error: str | None
    started: float | None
    updated: float
    finished: float | None


_IN_CHUNK = 500
"""Ids in one ``IN (...)`` query: well under any SQLite's limit on its parameters."""


class Journal:
    def __init__(self, path: Path):
        self.db = open_database(path, "capacity journal", "check the tiers by hand: the"
                                " audit log says what each unit did")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        self._written: dict[str, UnitRow] = {}
        """The rows the last :meth:`set_many` wrote, as written (see there)."""

    def close(self) -> None:
        self.db.close()

    def get(self, unit_id: str) -> UnitRow | None:
        row = self.db.execute("SELECT * FROM units WHERE id = ?", (unit_id,)).fetchone()
        return _row(row) if row else None

    def get_many(self, unit_ids: Sequence[str]) -> list[UnitRow]:
        """The units of ``unit_ids`` the journal knows, in that order, in a query a few
        hundred (a batch's step reads them all back)."""
        found = {i: self._written[i] for i in unit_ids if i in self._written}
        wanted = [i for i in unit_ids if i not in found]
        for at in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[at:at + _IN_CHUNK]
            query = f"SELECT * FROM units WHERE id IN ({','.join('?' * len(chunk))})"
            found.update((r.id, r) for r in map(_row, self.db.execute(query, chunk)))
        return [found[i] for i in unit_ids if i in found]

    def add(self, unit_id: str, plan: str, host: str, policy: str, rule: str, action: str,
            source: str, target: str | None, unit: str, nbytes: int,
            detail: dict[str, Any]) -> UnitRow:
        """Record a planned unit as pending with all that resuming it needs, in one statement
        (a crash never leaves a row without its detail), unless the journal knows it already."""
        return self.add_many([(unit_id, plan, host, policy, rule, action, source, target,
                               unit, nbytes, detail)])[0]

    def add_many(self, units: Sequence[tuple[str, str, str, str, str, str, str, str | None,
                                             str, int, dict[str, Any]]]) -> list[UnitRow]:
        """:meth:`add` of each, in one transaction: one flush to disk for a batch."""
        self._written = {}
        now = time.time()
        with transaction(self.db):
            for (unit_id, plan, host, policy, rule, action, source, target, unit, nbytes,
                 detail) in units:
                self.db.execute(
                    "INSERT OR IGNORE INTO units (id, plan, host, policy, rule, action, source,"
                    " target, unit, bytes, state, detail, updated)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (unit_id, plan, host, policy, rule, action, _blob(source),
                     None if target is None else _blob(target), _blob(unit), nbytes, PENDING,
                     jsontext.dumps(detail), now))
        rows = [self.get(u[0]) for u in units]
        assert None not in rows
        return [r for r in rows if r is not None]

    def restart(self, unit_id: str, detail: dict[str, Any]) -> UnitRow:
        """A unit that ended short of done (skipped, failed, kept both) tries again."""
        self._written = {}
        self.db.execute(
            "UPDATE units SET state = ?, detail = ?, error = NULL, started = NULL,"
            " finished = NULL, updated = ? WHERE id = ?",
            (PENDING, jsontext.dumps(detail), time.time(), unit_id))
        row = self.get(unit_id)
        assert row is not None
        return row

    def set(self, unit_id: str, state: str, *, error: str | None = None,
            **detail: Any) -> None:
        """Durably record that the unit enters ``state`` (before acting on it)."""
        self.set_many([unit_id], state, error=error, **detail)

    def set_many(self, unit_ids: list[str], state: str, *, error: str | None = None,
                 each: dict[str, dict[str, Any]] | None = None, **detail: Any) -> None:
        """Durably record that each unit enters ``state``, in one transaction; ``each``
        adds a unit's own detail to what all share."""
        now = time.time()
        error = None if error is None else _text(error)
        finished = now if state in FINAL else None
        rows = []
        with transaction(self.db):
            currents = self.get_many(unit_ids)
            assert [c.id for c in currents] == list(unit_ids)
            for unit_id, current in zip(unit_ids, currents, strict=True):
                added = {**detail, **(each or {}).get(unit_id, {})}
                self.db.execute(
                    "UPDATE units SET state = ?, detail = ?, error = ?, updated = ?,"
                    " started = COALESCE(started, ?), finished = ? WHERE id = ?",
                    (state, jsontext.dumps({**current.detail, **added}), error, now, now,
                     finished, unit_id))
                # The row as get_many would read it back: what was added as JSON gives it
                # back (lists for tuples ...), the rest of the detail as it was read.
                back = json.loads(jsontext.dumps(added)) if added else {}
                rows.append(dataclasses.replace(
                    current, state=state, detail={**current.detail, **back}, error=error,
                    updated=now, finished=finished,
                    started=now if current.started is None else current.started))
        # Committed: a batch's next read of these rows (every step reads them back) need
        # not decode them all again.  Only this call's rows are kept, and every other
        # write forgets them.
        self._written = {r.id: r for r in rows}

    def forget(self, unit_ids: list[str]) -> None:
        """Remove units the run never took a step of on the host (their work rolled back)."""
        self._written = {}
        with transaction(self.db):
            self.db.executemany("DELETE FROM units WHERE id = ?", [(i,) for i in unit_ids])

    def units(self, *, host: str | None = None, unfinished: bool = False) -> Iterator[UnitRow]:
        query, args = "SELECT * FROM units", []
        clauses = []
        if host is not None:
            clauses.append("host = ?")
            args.append(host)
        if unfinished:
            clauses.append(f"state NOT IN ({','.join('?' * len(FINAL))})")
            args += list(FINAL)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        for row in self.db.execute(query + " ORDER BY rowid", args).fetchall():
            yield _row(row)


def _blob(path: str) -> bytes:
    """Paths are stored as the bytes they name: any byte string is a file name."""
    return path.encode("utf-8", "surrogateescape")


def _path(value: bytes | str | None) -> str | None:
    if value is None or isinstance(value, str):  # str: a journal written before blobs
        return value
    return bytes(value).decode("utf-8", "surrogateescape")


def _text(message: str) -> str:
    """Messages for people: a byte that is not UTF-8 shows as \\xNN."""
    return message.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _row(row: tuple[Any, ...]) -> UnitRow:
    values = list(row)
    values[6], values[7], values[8] = _path(values[6]), _path(values[7]), _path(values[8])
    values[11] = json.loads(values[11])
    return UnitRow(*values)
