"""The file catalogue: what each host's tier roots held at its last scan, in SQLite (WAL).

A rescan replaces a tier's rows: entries seen again are updated in place, new ones added,
and entries the scan did not see are deleted when it finishes.  An unfinished scan (a crash,
a lost connection) leaves the previous scan's rows as they were.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

from capacity.tiering.records import Entries, FileRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS scans (
    id INTEGER PRIMARY KEY,
    host TEXT NOT NULL,
    tier TEXT NOT NULL,
    root TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL,
    files INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS files (
    host TEXT NOT NULL,
    tier TEXT NOT NULL,
    path BLOB NOT NULL,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    atime REAL NOT NULL,
    inode INTEGER NOT NULL,
    kind TEXT NOT NULL,
    scan INTEGER NOT NULL,
    PRIMARY KEY (host, tier, path)
) WITHOUT ROWID;
"""


def _blob(path: str) -> bytes:
    # Paths are stored as the host's bytes: any name survives, whatever its encoding.
    return path.encode("utf-8", "surrogateescape")


def _text(blob: bytes) -> str:
    return bytes(blob).decode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class Scan:
    id: int
    host: str
    tier: str
    root: str
    started: float
    finished: float | None
    files: int
    bytes: int


class Catalogue:
    """The catalogue database; one writer at a time, readers any time (WAL)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Catalogue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN ... COMMIT, rolled back on any error: a failed batch must not leave the
        connection inside a transaction (every later BEGIN would then fail)."""
        self.db.execute("BEGIN")
        try:
            yield
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def begin_scan(self, host: str, tier: str, root: str) -> int:
        cur = self.db.execute("INSERT INTO scans (host, tier, root, started) VALUES (?,?,?,?)",
                              (host, tier, root, time.time()))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def add_entries(self, scan: int, entries: Entries) -> None:
        """Insert or update one batch of a scan's entries, in one transaction."""
        host, tier = self._scanned(scan)
        rows = zip(repeat(host), repeat(tier), entries.paths, entries.sizes, entries.mtimes,
                   entries.atimes, entries.inodes, entries.kinds, repeat(scan))
        self._upsert(scan, rows, len(entries), sum(entries.sizes))

    def add(self, scan: int, records: Iterable[FileRecord]) -> None:
        """Insert or update records in one transaction (any host and tier)."""
        rows = [(r.host, r.tier, _blob(r.path), r.size, r.mtime, r.atime, r.inode, r.kind, scan)
                for r in records]
        self._upsert(scan, rows, len(rows), sum(r[3] for r in rows))

    def _upsert(self, scan: int, rows: Iterable[tuple[object, ...]], files: int,
                nbytes: int) -> None:
        with self._transaction():
            self.db.executemany(
                "INSERT INTO files (host, tier, path, size, mtime, atime, inode, kind, scan)"
                " VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (host, tier, path) DO UPDATE SET"
                " size=excluded.size, mtime=excluded.mtime, atime=excluded.atime,"
                " inode=excluded.inode, kind=excluded.kind, scan=excluded.scan", rows)
            self.db.execute("UPDATE scans SET files = files + ?, bytes = bytes + ?"
                            " WHERE id = ?", (files, nbytes, scan))

    def _scanned(self, scan: int) -> tuple[str, str]:
        host, tier = self.db.execute("SELECT host, tier FROM scans WHERE id = ?",
                                     (scan,)).fetchone()
        return host, tier

    def finish_scan(self, scan: int) -> int:
        """Forget entries of this host and tier that the scan did not see; returns how many.

        Only entries last seen by an *older* scan go: a newer scan of the same tier running
        alongside has refreshed its rows, and they are not this scan's to judge."""
        host, tier = self._scanned(scan)
        with self._transaction():
            gone = self.db.execute("DELETE FROM files WHERE host = ? AND tier = ?"
                                   " AND scan < ?", (host, tier, scan)).rowcount
            self.db.execute("UPDATE scans SET finished = ? WHERE id = ?",
                            (time.time(), scan))
        return gone

    def files(self, host: str, tier: str) -> Iterator[FileRecord]:
        """Entries of one tier, in path order."""
        cur = self.db.execute("SELECT path, size, mtime, atime, inode, kind FROM files"
                              " WHERE host = ? AND tier = ? ORDER BY path", (host, tier))
        for path, size, mtime, atime, inode, kind in cur:
            yield FileRecord(host, tier, _text(path), size, mtime, atime, inode, kind)

    def forget(self, host: str, tier: str, paths: Iterable[str]) -> None:
        """Drop entries the engine itself moved or deleted (until the next scan sees them)."""
        rows = [(host, tier, _blob(p)) for p in paths]
        with self._transaction():
            self.db.executemany("DELETE FROM files WHERE host = ? AND tier = ? AND path = ?",
                                rows)

    def last_scan(self, host: str, tier: str) -> Scan | None:
        row = self.db.execute("SELECT id, host, tier, root, started, finished, files, bytes"
                              " FROM scans WHERE host = ? AND tier = ? AND finished IS NOT NULL"
                              " ORDER BY id DESC LIMIT 1", (host, tier)).fetchone()
        return Scan(*row) if row else None

    def tiers(self) -> list[tuple[str, str]]:
        return [tuple(r) for r in self.db.execute(
            "SELECT DISTINCT host, tier FROM files ORDER BY host, tier")]  # type: ignore[misc]
