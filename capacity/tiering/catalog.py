"""The file catalogue: what each host's tier roots held at their last scan, in SQLite (WAL).

Layout: a row per directory per batch of a scan (a directory whose entries come in more
than one batch has more than one row), holding its entries packed as find printed them
(``kind size mtime atime inode name``, each field ending in NUL).  A PACS tier of millions
of files is tens of thousands of study directories, so a scan writes that many rows rather
than a row per file: the per-row cost of SQLite from Python, not find, was what bounded the
scan rate.  Readers unpack the rows of the tiers they ask for.

Each scan writes its own generation of rows.  Readers see the newest *finished* scan of a
tier, so a scan in progress, or one that failed or was interrupted, changes nothing they
see; finishing a scan drops the older generations in the same transaction, and gives their
pages back to the file system (incremental auto-vacuum).  Of two scans of
one tier running at once, the one begun last wins, whichever finishes first.

The catalogue is a cache of the hosts' filesystems: a catalogue written by an older layout
is dropped when opened, and the next scan fills it again.
"""

from __future__ import annotations

import contextlib
import itertools
import posixpath
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from pathlib import Path

from capacity.tiering.records import FileRecord
from capacity.tiering.state import open_database

LAYOUT = 3
"""``PRAGMA user_version`` of this layout.  (The counts come before the packed entries in
a row: reading them then never walks a large row's overflow pages.)"""

SCHEMA = """
CREATE TABLE IF NOT EXISTS scans (
    id INTEGER PRIMARY KEY,
    host TEXT NOT NULL,
    tier TEXT NOT NULL,
    root TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL,
    files INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    full INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS scans_tier ON scans (host, tier, finished);
CREATE TABLE IF NOT EXISTS dirs (
    scan INTEGER NOT NULL,
    dir BLOB NOT NULL,
    files INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    links INTEGER NOT NULL,
    entries BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS dirs_scan ON dirs (scan, dir);
CREATE TABLE IF NOT EXISTS dir_mtimes (
    scan INTEGER NOT NULL,
    dir BLOB NOT NULL,
    mtime REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS dir_mtimes_scan ON dir_mtimes (scan, dir);
"""

_INCREMENTAL = 2
"""``PRAGMA auto_vacuum`` value: free pages are given back on ``incremental_vacuum``."""

FIELDS = 6
"""Fields of one packed entry: kind, size, mtime, atime, inode, name (in that order)."""

_KINDS = {b"f": "f", b"l": "l", b"d": "d"}


def _blob(path: str) -> bytes:
    # Paths are kept as the host's bytes: any name survives, whatever its encoding.
    return path.encode("utf-8", "surrogateescape")


def _text(blob: bytes) -> str:
    return bytes(blob).decode("utf-8", "surrogateescape")


def group_by_directory(fields: list[bytes]) -> dict[bytes, bytes]:
    """find's records (``FIELDS`` fields each, the path relative to the root last) packed
    per directory: relative directory (b"" for the root) -> its entries."""
    parts = list(map(bytes.rpartition, fields[FIELDS - 1::FIELDS], repeat(b"/")))
    fields[FIELDS - 1::FIELDS] = map(itemgetter(2), parts)  # the name in its directory
    packed: dict[bytes, bytes] = {}
    start = 0
    # find lists a directory's entries together, except where it descends into a
    # subdirectory in between: runs, and a few directories in more than one.
    for folder, run in itertools.groupby(map(itemgetter(0), parts)):
        end = start + len(list(run))
        entries = b"\0".join(fields[start * FIELDS:end * FIELDS]) + b"\0"
        packed[folder] = packed.get(folder, b"") + entries
        start = end
    return packed


def unpack(host: str, tier: str, folder: bytes, entries: bytes) -> list[FileRecord]:
    fields = entries.split(b"\0")
    del fields[-1]
    names = fields[FIELDS - 1::FIELDS]
    if folder:
        prefix = folder + b"/"
        names = [prefix + n for n in names]
    paths = map(bytes.decode, names, repeat("utf-8"), repeat("surrogateescape"))
    return list(map(FileRecord, repeat(host), repeat(tier), paths,
                    map(int, fields[1::FIELDS]), map(float, fields[2::FIELDS]),
                    map(float, fields[3::FIELDS]), map(int, fields[4::FIELDS]),
                    map(_KINDS.get, fields[0::FIELDS], repeat("o"))))


def _pack(records: Iterable[FileRecord]) -> bytes:
    return b"".join(b"%s\0%d\0%r\0%r\0%d\0%s\0" % (
        r.kind.encode(), r.size, r.mtime, r.atime, r.inode,
        _blob(posixpath.basename(r.path))) for r in records)


def counts(entries: bytes) -> tuple[int, int, int]:
    """Files (neither directories nor links) among packed entries, their bytes, and the
    links."""
    fields = entries.split(b"\0")
    kinds, sizes = fields[0:-1:FIELDS], fields[1:-1:FIELDS]
    data = [int(size) for kind, size in zip(kinds, sizes, strict=True)
            if kind != b"d" and kind != b"l"]
    return len(data), sum(data), kinds.count(b"l")


def _subdirectories(folder: bytes, entries: bytes) -> Iterator[tuple[bytes, float]]:
    """(path, mtime) of each directory among a directory's packed entries."""
    fields = entries.split(b"\0")
    prefix = folder + b"/" if folder else b""
    for at in range(0, len(fields) - 1, FIELDS):
        if fields[at] == b"d":
            yield prefix + fields[at + FIELDS - 1], float(fields[at + 2])


def _names(entries: bytes) -> set[bytes]:
    fields = entries.split(b"\0")
    return set(fields[FIELDS - 1:-1:FIELDS])


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
        self.path = path
        self.db = open_database(path, "capacity catalogue", "scan again (`capacity tier"
                                " scan`): the catalogue is only a listing")
        self.db.execute("PRAGMA synchronous=NORMAL")
        if self.db.execute("PRAGMA auto_vacuum").fetchone()[0] != _INCREMENTAL:
            # Pages an old generation frees go back to the file system (see finish_scan);
            # a catalogue made without it is rewritten once to have it.
            self.db.execute(f"PRAGMA auto_vacuum = {_INCREMENTAL}")
            self.db.execute("VACUUM")
        if self.db.execute("PRAGMA user_version").fetchone()[0] != LAYOUT:
            with self._transaction():
                self.db.execute("DROP TABLE IF EXISTS files")  # the row-per-file layout
                self.db.execute("DROP TABLE IF EXISTS dirs")
                self.db.execute("DROP TABLE IF EXISTS dir_mtimes")
                self.db.execute("DROP TABLE IF EXISTS scans")
                self.db.execute(f"PRAGMA user_version = {LAYOUT}")
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
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # --- writing a scan ---------------------------------------------------------------

    def begin_scan(self, host: str, tier: str, root: str, *, full: bool = True) -> int:
        cur = self.db.execute("INSERT INTO scans (host, tier, root, started, full)"
                              " VALUES (?,?,?,?,?)", (host, tier, root, time.time(), full))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def add_directories(self, scan: int, packed: dict[bytes, bytes], files: int,
                        nbytes: int, *, record_dirs: bool = True) -> None:
        """Add one batch of a scan (directory -> packed entries, see
        :func:`group_by_directory`) holding ``files`` files of ``nbytes``; one transaction.
        The mtime of each directory among the entries is recorded too, unless the scan's
        census records them (``record_dirs`` false)."""
        rows = [(scan, folder, entries, *counts(entries)) for folder, entries in packed.items()]
        with self._transaction():
            self.db.executemany("INSERT INTO dirs (scan, dir, entries, files, bytes, links)"
                                " VALUES (?,?,?,?,?,?)", rows)
            self.db.execute("UPDATE scans SET files = files + ?, bytes = bytes + ?"
                            " WHERE id = ?", (files, nbytes, scan))
            if record_dirs:
                self.db.executemany(
                    "INSERT INTO dir_mtimes (scan, dir, mtime) VALUES (?,?,?)",
                    ((scan, *d) for folder, entries in packed.items()
                     for d in _subdirectories(folder, entries)))

    def add(self, scan: int, records: Iterable[FileRecord]) -> None:
        """Add entries of a scan from records (their host and tier are the scan's)."""
        records = sorted(records, key=lambda r: posixpath.dirname(r.path))
        packed = {_blob(folder): _pack(group) for folder, group in
                  itertools.groupby(records, key=lambda r: posixpath.dirname(r.path))}
        files = [r for r in records if r.kind not in ("d", "l")]
        self.add_directories(scan, packed, len(files), sum(r.size for r in files))

    def add_census(self, scan: int, dirs: Iterable[tuple[bytes, float]]) -> None:
        """Record every directory of the tier and its mtime as the scan began (an
        incremental scan: what it compares with the previous scan's)."""
        with self._transaction():
            self.db.executemany("INSERT INTO dir_mtimes (scan, dir, mtime) VALUES (?,?,?)",
                                ((scan, d, m) for d, m in dirs))

    def changed_directories(self, old: int, new: int) -> list[bytes]:
        """Directories of scan ``new``'s census that scan ``old`` did not record with the
        same mtime: new ones, and those whose entries were added, removed or renamed."""
        return [bytes(d) for (d,) in self.db.execute(
            "SELECT n.dir FROM dir_mtimes n LEFT JOIN dir_mtimes o ON o.scan = ?"
            " AND o.dir = n.dir WHERE n.scan = ? AND (o.mtime IS NULL OR o.mtime != n.mtime)",
            (old, new))]

    def carry_over(self, old: int, new: int, listed: Iterable[bytes]) -> None:
        """Copy into scan ``new`` the rows of scan ``old`` for every directory whose mtime
        the census found unchanged and that ``new`` did not list again itself; in SQLite,
        a directory at a time, whatever the size of the tier."""
        with self._transaction():
            self.db.execute("CREATE TEMP TABLE IF NOT EXISTS listed (dir BLOB PRIMARY KEY)")
            self.db.execute("DELETE FROM listed")
            self.db.executemany("INSERT OR IGNORE INTO listed VALUES (?)",
                                ((d,) for d in listed))
            self.db.execute(
                "INSERT INTO dirs (scan, dir, entries, files, bytes, links)"
                " SELECT ?, d.dir, d.entries, d.files, d.bytes, d.links FROM dirs d"
                " JOIN dir_mtimes o ON o.scan = d.scan AND o.dir = d.dir"
                " JOIN dir_mtimes n ON n.scan = ? AND n.dir = d.dir AND n.mtime = o.mtime"
                " WHERE d.scan = ? AND d.dir NOT IN (SELECT dir FROM listed)",
                (new, new, old))
            self.db.execute(
                "UPDATE scans SET files = (SELECT coalesce(sum(files), 0) FROM dirs WHERE"
                " scan = ?), bytes = (SELECT coalesce(sum(bytes), 0) FROM dirs WHERE"
                " scan = ?) WHERE id = ?", (new, new, new))

    def totals(self, scan: int) -> tuple[int, int, int, int]:
        """Files, bytes, directories and links of a scan, from its rows."""
        files, nbytes, links = self.db.execute(
            "SELECT coalesce(sum(files), 0), coalesce(sum(bytes), 0), coalesce(sum(links), 0)"
            " FROM dirs WHERE scan = ?", (scan,)).fetchone()
        (dirs,) = self.db.execute("SELECT count(*) FROM dir_mtimes WHERE scan = ?",
                                  (scan,)).fetchone()
        return files, nbytes, dirs, links

    def last_full(self, host: str, tier: str) -> float | None:
        """When the last finished full scan of the tier began."""
        row = self.db.execute("SELECT max(started) FROM scans WHERE host = ? AND tier = ?"
                              " AND finished IS NOT NULL AND full", (host, tier)).fetchone()
        return row[0]

    def finish_scan(self, scan: int) -> int:
        """Make a complete scan the one readers see, and drop the older ones of its tier;
        returns how many entries of the previous scan this one did not see again.

        A scan that finds a newer one of its tier already finished is dropped instead: its
        view is the older."""
        host, tier = self._scanned(scan)
        with self._transaction():
            newer = self.db.execute(
                "SELECT 1 FROM scans WHERE host = ? AND tier = ? AND id > ?"
                " AND finished IS NOT NULL", (host, tier, scan)).fetchone()
            previous = self._current(host, tier)
            removed = 0
            if newer:
                self.db.execute("DELETE FROM dirs WHERE scan = ?", (scan,))
                self.db.execute("DELETE FROM dir_mtimes WHERE scan = ?", (scan,))
            else:
                if previous is not None:
                    removed = self._count_removed(previous, scan)
                for table in ("dirs", "dir_mtimes"):
                    self.db.execute(f"DELETE FROM {table} WHERE scan IN (SELECT id FROM scans"
                                    " WHERE host = ? AND tier = ? AND id < ?)",
                                    (host, tier, scan))
            self.db.execute("UPDATE scans SET finished = ? WHERE id = ?",
                            (time.time(), scan))
        self._reclaim()
        return removed

    def _reclaim(self) -> None:
        """Give the pages of dropped generations back to the file system, so that the
        catalogue stays about one generation on disk, not two after every rescan."""
        # executescript: the vacuum frees a page a step, and execute() would step it once.
        self.db.executescript("PRAGMA incremental_vacuum;")
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def _count_removed(self, old: int, new: int) -> int:
        """Entries of scan ``old`` that scan ``new`` did not see again.  The generations are
        compared a directory at a time, both read in directory order (the index's), so the
        memory this takes does not grow with the number of files; only directories whose
        entries differ need unpacking: on a rescan of cold data that is almost none."""
        after = self._by_directory(new)
        theirs = next(after, None)
        removed = 0
        for folder, entries in self._by_directory(old):
            while theirs is not None and theirs[0] < folder:
                theirs = next(after, None)
            same_folder = theirs is not None and theirs[0] == folder
            now = theirs[1] if theirs is not None and same_folder else b""
            if now != entries:
                removed += len(_names(entries) - _names(now))
        return removed

    def _by_directory(self, scan: int) -> Iterator[tuple[bytes, bytes]]:
        """(directory, all its entries) of one scan, in the order of the directories' bytes."""
        rows = self.db.execute("SELECT dir, entries FROM dirs WHERE scan = ? ORDER BY dir,"
                               " rowid", (scan,))
        for folder, group in itertools.groupby(rows, key=itemgetter(0)):
            yield bytes(folder), b"".join(entries for _, entries in group)

    # --- reading ----------------------------------------------------------------------

    def files(self, host: str, tier: str) -> Iterator[FileRecord]:
        """Entries of one tier at its last finished scan, in path order."""
        scan = self._current(host, tier)
        if scan is None:
            return
        found: list[FileRecord] = []
        for folder, entries in self.db.execute(
                "SELECT dir, entries FROM dirs WHERE scan = ?", (scan,)):
            found += unpack(host, tier, folder, entries)
        found.sort(key=lambda r: _blob(r.path))
        yield from found

    def forget(self, host: str, tier: str, paths: Iterable[str]) -> None:
        """Drop entries the engine itself moved or deleted (until the next scan sees them)."""
        scan = self._current(host, tier)
        if scan is None:
            return
        by_dir: dict[bytes, set[bytes]] = {}
        for p in paths:
            folder, _, name = _blob(p).rpartition(b"/")
            by_dir.setdefault(folder, set()).add(name)
        with self._transaction():
            for folder, names in by_dir.items():
                for rowid, entries in self.db.execute(
                        "SELECT rowid, entries FROM dirs WHERE scan = ? AND dir = ?",
                        (scan, folder)).fetchall():
                    kept = [r for r in unpack(host, tier, folder, entries)
                            if _blob(posixpath.basename(r.path)) not in names]
                    packed = _pack(kept)
                    self.db.execute("UPDATE dirs SET entries = ?, files = ?, bytes = ?,"
                                    " links = ? WHERE rowid = ?",
                                    (packed, *counts(packed), rowid))

    def last_scan(self, host: str, tier: str) -> Scan | None:
        row = self.db.execute("SELECT id, host, tier, root, started, finished, files, bytes"
                              " FROM scans WHERE host = ? AND tier = ? AND finished IS NOT NULL"
                              " ORDER BY id DESC LIMIT 1", (host, tier)).fetchone()
        return Scan(*row) if row else None

    def tiers(self) -> list[tuple[str, str]]:
        return [(host, tier) for host, tier in self.db.execute(
            "SELECT DISTINCT host, tier FROM scans WHERE finished IS NOT NULL"
            " ORDER BY host, tier")]

    def _current(self, host: str, tier: str) -> int | None:
        row = self.db.execute("SELECT max(id) FROM scans WHERE host = ? AND tier = ?"
                              " AND finished IS NOT NULL", (host, tier)).fetchone()
        return row[0]

    def _scanned(self, scan: int) -> tuple[str, str]:
        host, tier = self.db.execute("SELECT host, tier FROM scans WHERE id = ?",
                                     (scan,)).fetchone()
        return host, tier
