"""Where the engine keeps its state on the controller: the catalogue, the apply journal, the
audit log and the local locks.  One folder, by default ``$CAPACITY_STATE`` or
``~/.local/state/capacity``."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from capacity.problems import InputError, Position, Problem


def default_state_dir() -> Path:
    env = os.environ.get("CAPACITY_STATE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "capacity"


@dataclass(frozen=True)
class StateDir:
    root: Path

    @property
    def catalogue(self) -> Path:
        return self.root / "catalogue.sqlite"

    @property
    def journal(self) -> Path:
        return self.root / "journal.sqlite"

    @property
    def history(self) -> Path:
        """The usage history ``capacity collect`` writes (see capacity.history)."""
        return self.root / "history.sqlite"

    @property
    def audit(self) -> Path:
        return self.root / "audit.jsonl"

    @property
    def runs(self) -> Path:
        """The runs ledger ``capacity tier run`` writes (see capacity.schedule.ledger)."""
        return self.root / "runs.jsonl"

    @property
    def plan_key(self) -> Path:
        """The key that seals plans made here (see tiering.binding)."""
        return self.root / "plan.key"

    @property
    def locks(self) -> Path:
        return self.root / "locks"


def open_database(path: Path, what: str, remedy: str) -> sqlite3.Connection:
    """A state database, or bad input naming it when it is not one (damaged, truncated,
    another file): nothing is written to it then."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        db.execute("PRAGMA journal_mode=WAL")
    except sqlite3.DatabaseError as exc:
        db.close()
        raise InputError([Problem(Position(str(path), 1, 1), "", f"not a {what} ({exc});"
                                  f" move it aside, then {remedy}")]) from None
    return db


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error: a failed write must not leave
    the connection inside a transaction (every later BEGIN would then fail)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
