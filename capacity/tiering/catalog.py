"""The file catalogue: what each host's tier roots held at their last scan, in SQLite (WAL).

Layout: a row per directory per batch of a scan (a directory whose entries come in more
than one batch has more than one row), holding its entries packed as find printed them
(``kind size mtime atime inode name``, each field ending in NUL).  A PACS tier of millions
of files is tens of thousands of study directories, so a scan writes that many rows rather
than a row per file: the per-row cost of SQLite from Python, not find, was what bounded the
scan rate.  Readers unpack the rows of the tiers they ask for.

A row holds over a range of generations: it is written by the scan that listed its
directory (``since``) and stays in every later generation of its tier until a scan lists
that directory again or finds it gone.  A full scan lists every directory; an incremental
one only those whose mtime changed, so the rows of every other directory are carried over
by leaving them alone, and only the directories listed again are compared and replaced.

Readers see the newest *finished* scan of a tier: the rows of its finished scans.  Rows of
a scan in progress, or one that failed or was interrupted, are not among them, so such a
scan changes nothing they see; finishing a scan drops, in the same transaction, the rows it
replaces (all older ones of its tier, for a full scan), and gives their pages back to the
file system (incremental auto-vacuum).  Of two scans of one tier running at once, the one
begun last wins, whichever finishes first.

The catalogue is a cache of the hosts' filesystems: a catalogue written by an older layout
is dropped when opened, and the next scan fills it again.
"""

from __future__ import annotations

import itertools
import posixpath
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from pathlib import Path

from capacity.tiering.records import FileRecord
from capacity.tiering.state import open_database, transaction

LAYOUT = 4
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
CREATE TABLE IF NOT EXISTS tiers (
    id INTEGER PRIMARY KEY,
    host TEXT NOT NULL,
    tier TEXT NOT NULL,
    UNIQUE (host, tier)
);
CREATE TABLE IF NOT EXISTS dirs (
    tier_id INTEGER NOT NULL,
    dir BLOB NOT NULL,
    since INTEGER NOT NULL,
    files INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    links INTEGER NOT NULL,
    entries BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS dirs_tier ON dirs (tier_id, dir, since);
CREATE TABLE IF NOT EXISTS dir_mtimes (
    scan INTEGER NOT NULL,
    dir BLOB NOT NULL,
    mtime REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS dir_mtimes_scan ON dir_mtimes (scan, dir);
"""

_OLD_TABLES = ("files", "dirs", "dir_mtimes", "scans", "tiers")
"""Every table of this layout and the earlier ones (``files``: the row-per-file layout)."""

_FINISHED = ("SELECT id FROM scans WHERE host = :host AND tier = :tier"
             " AND finished IS NOT NULL")
_GENERATION = ("tier_id = :key AND since <= :scan AND (since = :scan OR since IN"
               f" ({_FINISHED}))")
"""The rows of scan ``:scan``'s generation, once it is the newest of its tier or while it is
being finished: its own and those it carried over from the finished scans before it."""
_BEFORE = f"tier_id = :key AND since < :scan AND since IN ({_FINISHED})"
"""The rows the tier's readers see while scan ``:scan`` is being finished."""
_OWN = "tier_id = :key AND +since = :scan"
"""The rows scan ``:scan`` wrote.  (``+``: not a term for the index, whose order is then the
ORDER BY's as it stands, rather than one SQLite sorts again without ``since``.)"""

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
            with transaction(self.db):
                for table in _OLD_TABLES:
                    self.db.execute(f"DROP TABLE IF EXISTS {table}")
                self.db.execute(f"PRAGMA user_version = {LAYOUT}")
        self.db.executescript(SCHEMA)
        self._keys: dict[int, int] = {}  # scan -> its tier's key

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Catalogue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing a scan ---------------------------------------------------------------

    def begin_scan(self, host: str, tier: str, root: str, *, full: bool = True) -> int:
        """A new scan of a tier.  ``full``: it lists every directory (see
        :meth:`finish_scan`)."""
        with transaction(self.db):
            self.db.execute("INSERT OR IGNORE INTO tiers (host, tier) VALUES (?,?)",
                            (host, tier))
            cur = self.db.execute("INSERT INTO scans (host, tier, root, started, full)"
                                  " VALUES (?,?,?,?,?)",
                                  (host, tier, root, time.time(), full))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def add_directories(self, scan: int, packed: dict[bytes, bytes], files: int,
                        nbytes: int, *, record_dirs: bool = True) -> None:
        """Add one batch of a scan (directory -> packed entries, see
        :func:`group_by_directory`) holding ``files`` files of ``nbytes``; one transaction.
        The mtime of each directory among the entries is recorded too, unless the scan's
        census records them (``record_dirs`` false)."""
        key = self._key(scan)
        rows = [(key, folder, scan, *counts(entries), entries)
                for folder, entries in packed.items()]
        with transaction(self.db):
            self.db.executemany("INSERT INTO dirs (tier_id, dir, since, files, bytes, links,"
                                " entries) VALUES (?,?,?,?,?,?,?)", rows)
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
        with transaction(self.db):
            self.db.executemany("INSERT INTO dir_mtimes (scan, dir, mtime) VALUES (?,?,?)",
                                ((scan, d, m) for d, m in dirs))

    def changed_directories(self, old: int, new: int) -> list[bytes]:
        """Directories of scan ``new``'s census that scan ``old`` did not record with the
        same mtime: new ones, and those whose entries were added, removed or renamed."""
        return [bytes(d) for (d,) in self.db.execute(
            "SELECT n.dir FROM dir_mtimes n LEFT JOIN dir_mtimes o ON o.scan = ?"
            " AND o.dir = n.dir WHERE n.scan = ? AND (o.mtime IS NULL OR o.mtime != n.mtime)",
            (old, new))]

    def totals(self, scan: int) -> tuple[int, int, int, int]:
        """Files, bytes, directories and links of a tier's newest scan, from its rows."""
        files, nbytes, links = self.db.execute(
            "SELECT coalesce(sum(files), 0), coalesce(sum(bytes), 0), coalesce(sum(links), 0)"
            f" FROM dirs WHERE {_GENERATION}", self._about(scan)).fetchone()
        (dirs,) = self.db.execute("SELECT count(*) FROM dir_mtimes WHERE scan = ?",
                                  (scan,)).fetchone()
        return files, nbytes, dirs, links

    def last_full(self, host: str, tier: str) -> float | None:
        """When the last finished full scan of the tier began."""
        row = self.db.execute("SELECT max(started) FROM scans WHERE host = ? AND tier = ?"
                              " AND finished IS NOT NULL AND full", (host, tier)).fetchone()
        return row[0]

    def finish_scan(self, scan: int, listed: Iterable[bytes] = ()) -> int:
        """Make a complete scan the one readers see; returns how many entries of the
        previous scan this one did not see again.

        A full scan replaces every row of its tier.  An incremental one replaces the rows of
        the directories it ``listed`` again (the root, those whose mtime changed and their
        parents, whether or not they still hold entries) and of those its census no longer
        found; every other directory keeps its rows, which is what carries it over.

        A scan that finds a newer one of its tier already finished is dropped instead: its
        view is the older."""
        about = self._about(scan)
        with transaction(self.db):
            newer = self.db.execute(
                "SELECT 1 FROM scans WHERE host = :host AND tier = :tier AND id > :scan"
                " AND finished IS NOT NULL", about).fetchone()
            removed = 0
            if newer:
                self.db.execute("DELETE FROM dirs WHERE tier_id = :key AND since = :scan",
                                about)
                self.db.execute("DELETE FROM dir_mtimes WHERE scan = :scan", about)
            else:
                removed = self._replace(about, None if about["full"] else listed)
                self.db.execute("DELETE FROM dir_mtimes WHERE scan IN (SELECT id FROM scans"
                                " WHERE host = :host AND tier = :tier AND id < :scan)", about)
            self.db.execute("UPDATE scans SET finished = :now WHERE id = :scan",
                            {**about, "now": time.time()})
        self._reclaim()
        return removed

    def _replace(self, about: dict[str, object], listed: Iterable[bytes] | None) -> int:
        """Drop the rows of the tier that scan ``about`` replaces (every older one when
        ``listed`` is None: a full scan); returns how many entries they held that the scan
        did not see again.  Rows of scans that never finished go too: they are in no one's
        view, and an older scan still running will be dropped when it finishes."""
        if listed is None:
            removed = self._count_removed(self._by_directory(_BEFORE, about),
                                          self._by_directory(_OWN, about))
            self.db.execute("DELETE FROM dirs WHERE tier_id = :key AND since < :scan", about)
            return removed
        written = self.db.execute("SELECT DISTINCT dir FROM dirs WHERE tier_id = :key AND"
                                  " since = :scan", about)
        # Gone: a directory with rows that the census (every directory but the root) lacks.
        gone = self.db.execute(
            "SELECT DISTINCT dir FROM dirs WHERE tier_id = :key AND since < :scan AND"
            " dir != x'' AND dir NOT IN (SELECT dir FROM dir_mtimes WHERE scan = :scan)",
            about)
        replaced = sorted({*listed, *(bytes(d) for (d,) in itertools.chain(written, gone))})
        removed = 0
        for folder in replaced:
            removed += self._count_removed(
                self._by_directory(f"{_BEFORE} AND dir = :dir", {**about, "dir": folder}),
                self._by_directory(f"{_OWN} AND dir = :dir", {**about, "dir": folder}))
        self.db.executemany("DELETE FROM dirs WHERE tier_id = :key AND dir = :dir AND"
                            " since < :scan", ({**about, "dir": d} for d in replaced))
        self.db.execute("DELETE FROM dirs WHERE tier_id = :key AND since IN (SELECT id FROM"
                        " scans WHERE host = :host AND tier = :tier AND id < :scan AND"
                        " finished IS NULL)", about)
        # The scan's totals: what it carried over and what it listed.
        self.db.execute(f"UPDATE scans SET (files, bytes) = (SELECT coalesce(sum(files), 0),"
                        f" coalesce(sum(bytes), 0) FROM dirs WHERE {_GENERATION})"
                        " WHERE id = :scan", about)
        return removed

    def _reclaim(self) -> None:
        """Give the pages of dropped generations back to the file system, so that the
        catalogue stays about one generation on disk, not two after every rescan."""
        # executescript: the vacuum frees a page a step, and execute() would step it once.
        self.db.executescript("PRAGMA incremental_vacuum;")
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    @staticmethod
    def _count_removed(before: Iterator[tuple[bytes, bytes]],
                       after: Iterator[tuple[bytes, bytes]]) -> int:
        """Entries of ``before`` that ``after`` does not hold, both (directory, entries) in
        directory order: compared a directory at a time, so the memory this takes does not
        grow with the number of files; only directories whose entries differ need
        unpacking."""
        theirs = next(after, None)
        removed = 0
        for folder, entries in before:
            while theirs is not None and theirs[0] < folder:
                theirs = next(after, None)
            same_folder = theirs is not None and theirs[0] == folder
            now = theirs[1] if theirs is not None and same_folder else b""
            if now != entries:
                removed += len(_names(entries) - _names(now))
        return removed

    def _by_directory(self, where: str, args: dict[str, object]
                      ) -> Iterator[tuple[bytes, bytes]]:
        """(directory, all its entries) of the rows ``where`` selects, in the order of the
        directories' bytes (the index's)."""
        rows = self.db.execute(f"SELECT dir, entries FROM dirs WHERE {where} ORDER BY"
                               " tier_id, dir, since, rowid", args)
        for folder, group in itertools.groupby(rows, key=itemgetter(0)):
            yield bytes(folder), b"".join(entries for _, entries in group)

    # --- reading ----------------------------------------------------------------------

    def files(self, host: str, tier: str) -> Iterator[FileRecord]:
        """Entries of one tier at its last finished scan, in path order."""
        scan = self._current(host, tier)
        if scan is None:
            return
        found: list[FileRecord] = []
        for folder, entries in self.db.execute(f"SELECT dir, entries FROM dirs WHERE"
                                               f" {_GENERATION}", self._about(scan)):
            found += unpack(host, tier, folder, entries)
        found.sort(key=lambda r: _blob(r.path))
        yield from found

    def forget(self, host: str, tier: str, paths: Iterable[str]) -> None:
        """Drop entries the engine itself moved or deleted (until the next scan sees them)."""
        scan = self._current(host, tier)
        if scan is None:
            return
        about = self._about(scan)
        by_dir: dict[bytes, set[bytes]] = {}
        for p in paths:
            folder, _, name = _blob(p).rpartition(b"/")
            by_dir.setdefault(folder, set()).add(name)
        with transaction(self.db):
            for folder, names in by_dir.items():
                for rowid, entries in self.db.execute(
                        f"SELECT rowid, entries FROM dirs WHERE {_GENERATION} AND dir = :dir",
                        {**about, "dir": folder}).fetchall():
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

    def _about(self, scan: int) -> dict[str, object]:
        """The parameters of the queries about scan ``scan``: it, its host and tier, the
        tier's key, whether it is full."""
        host, tier, full = self.db.execute("SELECT host, tier, full FROM scans WHERE id = ?",
                                           (scan,)).fetchone()
        return {"scan": scan, "host": host, "tier": tier, "key": self._key(scan),
                "full": bool(full)}

    def _key(self, scan: int) -> int:
        """The key of scan ``scan``'s tier in the ``dirs`` table."""
        if scan not in self._keys:
            (self._keys[scan],) = self.db.execute(
                "SELECT t.id FROM scans s JOIN tiers t ON t.host = s.host AND t.tier = s.tier"
                " WHERE s.id = ?", (scan,)).fetchone()
        return self._keys[scan]
