"""Scan: walk each tier root on the host itself and record every entry in the catalogue.

One streaming remote command per tier (GNU ``find -printf`` with NUL-separated fields), never
a round trip per file: a PACS tier holds millions of files, and the host's own ``find`` walks
them at disk speed while we parse its output as it arrives.  A transport that cannot run
commands (no :attr:`Capability.RUN`) is walked through :meth:`Transport.walk` instead, into
the same records.

A scan that does not finish (find fails, the connection drops, we are interrupted) never
calls :meth:`Catalogue.finish_scan`, so nothing is forgotten on the word of a partial walk:
readers go on seeing the previous scan.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import compress
from pathlib import Path

from capacity.errors import JobFailed
from capacity.model import Host, HostTier, Inventory
from capacity.model.inventory import overlapping_roots
from capacity.tiering import hosts
from capacity.tiering.catalog import FIELDS, Catalogue, group_by_directory
from capacity.transports import (
    TEMP_PREFIX,
    Capability,
    CommandFailed,
    FileStat,
    Transport,
    TransportError,
)
from capacity.transports.base import decode_path, encode_path

#: Entries written to the catalogue per transaction.
BATCH = 20_000

#: Names never scanned, nor anything below them: the transports' temporary files and the
#: engine's own work directories and locks (``.capacity-apply.lock``, ...).
SKIP_NAMES = (f"{TEMP_PREFIX}*", ".capacity-*")

#: find -printf: type, size, mtime, atime, inode, path relative to the root (the catalogue's
#: FIELDS); each field ends with NUL, the only byte a path cannot hold, so any name survives.
PRINTF = "%y\\0%s\\0%T@\\0%A@\\0%i\\0%P\\0"

#: The census of an incremental scan: every directory's path and mtime.
CENSUS_PRINTF = "%P\\0%T@\\0"

FULL_EVERY = 7 * 86400.0
"""An incremental scan is done only within this many seconds of the tier's last full scan:
the periodic full scan catches what an incremental one cannot see (a file rewritten in
place, a folder put back with its old mtime)."""

#: Directories listed again per command of an incremental scan.
RELIST_BATCH = 1000

# SQLite allows one writer at a time; scan threads take turns here rather than spinning in
# SQLite's busy handler.  Parsing, the slow part, happens outside the lock.
_WRITE_LOCK = threading.Lock()

Connect = Callable[[Host], Transport]


class ScanError(RuntimeError, JobFailed):
    """A tier could not be scanned (completely); the catalogue keeps its previous scan."""

    def __init__(self, message: str, *, host: str, tier: str, root: str) -> None:
        super().__init__(message)
        self.host = host
        self.tier = tier
        self.root = root


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What one tier's scan found.  ``files`` counts every entry that is neither a directory
    nor a symlink, and ``bytes`` their sizes; ``removed`` is how many catalogue entries the
    scan did not see again and so forgot."""

    files: int
    bytes: int
    seconds: float
    removed: int
    dirs: int = 0
    links: int = 0
    full: bool = True
    """A full scan lists every entry; an incremental one (see :func:`scan_tier`) only the
    directories whose mtime changed, and carries the others over."""
    listed: int | None = None
    """Directories an incremental scan listed again."""

    @property
    def entries(self) -> int:
        return self.files + self.dirs + self.links

    @property
    def entries_per_second(self) -> float:
        return self.entries / self.seconds if self.seconds > 0 else 0.0


# --------------------------------------------------------------------------- one tier


def _skip() -> list[str]:
    skip: list[str] = []
    for pattern in SKIP_NAMES:
        skip += [*(["-o"] if skip else []), "-name", pattern]
    return skip


def census_argv(root: str) -> list[str]:
    """The command listing every directory below ``root`` with its mtime: a readdir of
    each, a stat of directories only.  Without :func:`find_argv`'s pruning, which costs
    half again as much on a million files: :func:`_census` leaves the skipped names out."""
    start = root if root.startswith("/") else "./" + root
    return ["env", "LC_ALL=C", "find", "-H", start, "-xdev", "-mindepth", "1", "-type", "d",
            "-printf", CENSUS_PRINTF]


def relist_argv(root: str, dirs: Sequence[bytes]) -> list[str]:
    """The command listing the entries directly in each of ``dirs`` (relative to ``root``,
    ``b""`` for the root itself), as :func:`find_argv` prints them but with the path from
    the start (``%p``; see :func:`relative_to_root`).  ``-P``: a folder that became a link
    since the census is recorded as a link by its parent's listing, never followed here."""
    base = root.rstrip("/")
    starts = [f"{base}/." if not d else f"{base}/{decode_path(d)}" for d in dirs]
    return ["env", "LC_ALL=C", "find", "-P", *starts, "-xdev", "-mindepth", "1",
            "-maxdepth", "1", "(", *_skip(), ")", "-prune", "-o", "-printf",
            PRINTF.replace("%P", "%p")]


def relative_to_root(root: str, fields: list[bytes]) -> list[bytes]:
    """Records of :func:`relist_argv` with their paths made relative to ``root``, as
    :func:`find_argv` prints them."""
    base = encode_path(root.rstrip("/"))
    dot, plain = base + b"/./", base + b"/"
    paths = fields[FIELDS - 1::FIELDS]
    fields[FIELDS - 1::FIELDS] = [p[len(dot):] if p.startswith(dot) else p[len(plain):]
                                  for p in paths]
    return fields


def find_argv(root: str) -> list[str]:
    """The command that lists everything below ``root`` (not ``root`` itself).

    ``-H`` follows ``root`` if it is a symlink (a tier root may point at a mount) but no
    symlink below it: those are recorded as kind ``l``, never followed.  ``-xdev`` stays on
    the root's filesystem.  LC_ALL=C keeps ``%T@`` with a decimal point and errors in English.
    """
    start = root if root.startswith("/") else "./" + root  # find takes no "--"
    return ["env", "LC_ALL=C", "find", "-H", start, "-xdev", "-mindepth", "1",
            "(", *_skip(), ")", "-prune", "-o", "-printf", PRINTF]


def walk_records(transport: Transport, root: str) -> Generator[bytes, None, None]:
    """What :func:`find_argv` prints, from :meth:`Transport.walk`: for a transport that
    cannot run find.  ``root`` is followed if it is a link, as ``find -H`` does (which needs
    :attr:`Capability.REALPATH`); there is no ``-xdev`` (a :class:`FileStat` names no
    filesystem), so a mount below the root is walked too.  Yields one chunk per entry,
    which :class:`RecordParser` joins."""
    st = transport.stat(root)
    start = transport.realpath(root) if st is not None and st.is_symlink else root
    return (_record(rel, st) for rel, st in _unskipped(transport.walk(start)))


def _unskipped(entries: Iterable[tuple[str, FileStat]]) -> Iterator[tuple[str, FileStat]]:
    """The entries below the root, without those :data:`SKIP_NAMES` prunes (and what is
    below them)."""
    pruned: list[str] = []  # walk lists a directory before its entries
    for rel, st in entries:
        if not rel or any(rel.startswith(p) for p in pruned):
            continue
        name = rel.rpartition("/")[2]
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in SKIP_NAMES):
            pruned.append(rel + "/")
            continue
        yield rel, st


def _record(rel: str, st: FileStat) -> bytes:
    return b"%s\0%d\0%r\0%r\0%d\0%s\0" % (st.kind.encode(), st.size, st.mtime,
                                                st.atime, st.inode, encode_path(rel))


class RecordParser:
    """Splits find's NUL-separated output into whole records; chunks may end anywhere."""

    def __init__(self) -> None:
        self._tail = b""  # an unterminated field
        self._fields: list[bytes] = []  # the fields of an unfinished record

    def feed(self, chunk: bytes) -> list[bytes]:
        """The fields of the records completed by ``chunk`` (``FIELDS`` per record)."""
        parts = (self._tail + chunk).split(b"\0")
        self._tail = parts.pop()
        fields = self._fields + parts if self._fields else parts
        whole = len(fields) - len(fields) % FIELDS
        self._fields = fields[whole:]
        del fields[whole:]
        return fields

    @property
    def complete(self) -> bool:
        """True when the output so far ended on a record boundary."""
        return not self._tail and not self._fields


@dataclass
class _Tally:
    files: int = 0
    nbytes: int = 0  # not "bytes": in this class that name would shadow the type
    dirs: int = 0
    links: int = 0

    def count(self, fields: list[bytes]) -> tuple[int, int]:
        """Count a batch of find's records; returns its (files, bytes)."""
        kinds = fields[0::FIELDS]
        sizes = list(map(int, fields[1::FIELDS]))
        dirs, links = kinds.count(b"d"), kinds.count(b"l")
        files = len(kinds) - dirs - links
        # A directory's or a link's own size is not data.
        data = (sum(sizes) - sum(compress(sizes, map(b"d".__eq__, kinds)))
                - sum(compress(sizes, map(b"l".__eq__, kinds))))
        self.dirs += dirs
        self.links += links
        self.files += files
        self.nbytes += data
        return files, data


def scan_tier(transport: Transport, catalogue: Catalogue, host_name: str, tier_name: str,
              root: str, *, batch_size: int = BATCH, timeout: float | None = None,
              progress: Callable[[int], None] | None = None, full: bool | None = None,
              full_every: float = FULL_EVERY) -> ScanResult:
    """Scan one tier root into the catalogue, replacing what its last scan recorded.

    A full scan lists every entry.  An incremental one (PACS files are written once) lists
    every directory with its mtime (the census), lists again only the directories whose
    mtime differs from the last scan's (entries added, removed or renamed there), their
    parents and the root, and leaves every other directory's entries as the last scan
    recorded them (see :meth:`Catalogue.finish_scan`).  ``full`` None: incremental when
    the host runs commands, the tier was scanned at this root before, and its last full
    scan is younger than ``full_every`` seconds; True or False forces one or the other
    (False: incremental where it can be).

    ``progress`` is called with the number of entries written so far after each batch.
    Raises :class:`ScanError` if the root is missing or the walk fails; the catalogue then
    keeps the entries of the previous scan (those seen again are refreshed).
    """
    started = time.monotonic()

    def fail(message: str) -> ScanError:
        return ScanError(f"{host_name}/{tier_name} ({root}): {message}", host=host_name,
                         tier=tier_name, root=root)

    there = _check_root(transport, root, fail)
    with _WRITE_LOCK:
        previous = _incremental_base(transport, catalogue, host_name, tier_name, root, full,
                                     full_every)
        scan_id = catalogue.begin_scan(host_name, tier_name, root, full=previous is None)
    parser = RecordParser()
    tally = _Tally()
    batch: list[bytes] = []
    written = 0
    relist: list[bytes] = []
    try:
        if not there:
            commands: Iterable[Iterator[bytes]] = []
        elif previous is None:
            commands = [transport.stream(find_argv(root), timeout=timeout)
                        if transport.has(Capability.RUN) else walk_records(transport, root)]
        else:
            census = _census(transport, root, timeout)
            with _WRITE_LOCK:
                catalogue.add_census(scan_id, census)
            changed = catalogue.changed_directories(previous, scan_id)
            relist = sorted({b"", *changed, *(d.rpartition(b"/")[0] for d in changed)})
            commands = (transport.stream(relist_argv(root, relist[at:at + RELIST_BATCH]),
                                         timeout=timeout)
                        for at in range(0, len(relist), RELIST_BATCH))
        for chunks_of in commands:
            # closing(): stop find (or its SSH channel) at once if we fail or are
            # interrupted, not whenever the garbage collector gets to the generator.
            with contextlib.closing(chunks_of) as chunks:  # type: ignore[type-var]
                for chunk in chunks:
                    fields = parser.feed(chunk)
                    batch += fields if previous is None else relative_to_root(root, fields)
                    if len(batch) >= batch_size * FIELDS:
                        written += _write(catalogue, scan_id, batch, tally,
                                          record_dirs=previous is None)
                        batch = []
                        if progress is not None:
                            progress(written)
    except TransportError as exc:
        seen = written + len(batch) // FIELDS
        raise fail(f"scan failed after {seen} entries, the catalogue keeps the previous"
                   f" scan: {_reason(exc)}") from exc
    except ValueError as exc:  # find printed something that is not our format
        raise fail(f"unexpected output from find: {exc}") from exc
    if not parser.complete:
        raise fail("find's output ended in the middle of an entry; the catalogue keeps the"
                   " previous scan")
    written += _write(catalogue, scan_id, batch, tally, record_dirs=previous is None)
    with _WRITE_LOCK:
        removed = catalogue.finish_scan(scan_id, relist)
    seconds = time.monotonic() - started
    if previous is None:
        return ScanResult(files=tally.files, bytes=tally.nbytes, seconds=seconds,
                          removed=removed, dirs=tally.dirs, links=tally.links)
    files, nbytes, dirs, links = catalogue.totals(scan_id)
    return ScanResult(files=files, bytes=nbytes, seconds=seconds, removed=removed,
                      dirs=dirs, links=links, full=False, listed=len(relist))


def _incremental_base(transport: Transport, catalogue: Catalogue, host: str, tier: str,
                      root: str, full: bool | None, full_every: float) -> int | None:
    """The scan an incremental scan starts from, or None for a full scan."""
    if full or not transport.has(Capability.RUN):
        return None
    last = catalogue.last_scan(host, tier)
    if last is None or last.root != root:
        return None
    if full is None:
        since = catalogue.last_full(host, tier)
        if since is None or time.time() - since >= full_every:
            return None
    return last.id


def _census(transport: Transport, root: str, timeout: float | None
            ) -> list[tuple[bytes, float]]:
    """Every directory below ``root`` and its mtime (see :func:`census_argv`)."""
    tail, fields = b"", []
    with contextlib.closing(transport.stream(census_argv(root), timeout=timeout)) as chunks:
        for chunk in chunks:
            parts = (tail + chunk).split(b"\0")
            tail = parts.pop()
            fields += parts
    if tail or len(fields) % 2:
        raise ValueError("the census ended in the middle of an entry")
    return [(path, float(mtime)) for path, mtime in zip(fields[0::2], fields[1::2],
                                                        strict=True)
            if not (path.startswith(b".") or b"/." in path) or not _skipped(path)]


def _skipped(path: bytes) -> bool:
    """Whether a folder lies in (or is) one that :data:`SKIP_NAMES` prunes."""
    return any(fnmatch.fnmatchcase(decode_path(name), pattern)
               for name in path.split(b"/") for pattern in SKIP_NAMES)


def _check_root(transport: Transport, root: str,
                fail: Callable[[str], ScanError]) -> bool:
    """One stat up front, so a missing root says so plainly rather than as find's error.
    False for an empty tier in an object store (a prefix with nothing below it is not
    there at all)."""
    try:
        st = transport.stat(root)
    except TransportError as exc:
        raise fail(f"cannot examine the tier root: {exc}") from exc
    if st is None and not transport.has(Capability.DIRECTORIES):
        return False
    if st is None:
        raise fail("the tier root does not exist")
    if not (st.is_dir or st.is_symlink):  # a symlink is followed by find -H
        raise fail("the tier root is not a directory")
    return True


def _write(catalogue: Catalogue, scan_id: int, batch: list[bytes], tally: _Tally, *,
           record_dirs: bool = True) -> int:
    if not batch:
        return 0
    files, nbytes = tally.count(batch)
    packed = group_by_directory(batch)
    with _WRITE_LOCK:
        catalogue.add_directories(scan_id, packed, files, nbytes, record_dirs=record_dirs)
    return len(batch) // FIELDS


def _reason(exc: TransportError) -> str:
    """find's own complaint (its last lines of stderr) rather than the whole command line."""
    if isinstance(exc, CommandFailed):
        lines = exc.stderr.decode("utf-8", "replace").strip().splitlines()
        if lines:
            shown = "; ".join(lines[-3:])
            more = f" (and {len(lines) - 3} more)" if len(lines) > 3 else ""
            return f"find exited {exc.exit_code}: {shown}{more}"
        return f"find exited {exc.exit_code}"
    return str(exc)


# --------------------------------------------------------------------------- many hosts


@dataclass(frozen=True)
class TierOutcome:
    """One tier of one host: its result, or why it has none."""

    host: str
    tier: str
    root: str
    result: ScanResult | None = None
    error: Exception | None = None


@dataclass(frozen=True)
class HostOutcome:
    """One host: its tiers, or the error that kept us from reaching it."""

    host: str
    tiers: tuple[TierOutcome, ...] = ()
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(t.error is None for t in self.tiers)


#: Called as entries arrive: (host, tier, entries written so far).
Progress = Callable[[str, str, int], None]


def manifest_cache(catalogue_path: Path, host: str, tier: str) -> Path:
    """Where a bucket tier's manifests, as its last scan read them, are kept."""
    return catalogue_path.parent / "manifests" / f"{host}.{tier}.json"


def scan_hosts(inventory: Inventory, host_names: Sequence[str] | None, catalogue_path: Path,
               connect: Connect = hosts.connect, workers: int = 4,
               progress: Progress | None = None, full: bool | None = None
               ) -> list[HostOutcome]:
    """Scan the named hosts (None: all of the inventory's) in parallel, each host's tiers
    one after another.  A host that fails does not stop the others: its error is in its
    outcome.  Outcomes come in the order of ``host_names`` (or the inventory).  ``full``
    as for :func:`scan_tier`.

    Each thread has its own catalogue connection (SQLite connections are not shared across
    threads); their writes take turns.  Interrupted (Ctrl-C), every scan stops at its next
    batch, unfinished, so the catalogue keeps the previous scans.
    """
    names = list(inventory.hosts) if host_names is None else list(dict.fromkeys(host_names))
    unknown = [n for n in names if n not in inventory.hosts]
    if unknown:
        raise ValueError(f"unknown host(s) {', '.join(unknown)}; the inventory has:"
                         f" {', '.join(inventory.hosts) or 'none'}")
    # Create the database (and switch it to WAL) once, before threads race to do it.
    Catalogue(catalogue_path).close()
    if not names:
        return []
    job = _Job(catalogue_path, connect, progress, threading.Event(), full, inventory)
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(names))),
                              thread_name_prefix="scan")
    try:
        futures = [pool.submit(job.scan_host, name, inventory.hosts[name]) for name in names]
        return [_outcome(name, future.result) for name, future in
                zip(names, futures, strict=True)]
    except BaseException:
        job.stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _outcome(name: str, result: Callable[[], HostOutcome]) -> HostOutcome:
    try:
        return result()
    except Exception as exc:  # a bug or a database error: report it against this host only
        return HostOutcome(name, error=exc)


def _overlap_on_host(transport: Transport, host: Host) -> str | None:
    """Why the host's tier roots may not be scanned: two of them resolve to one folder or
    one inside the other (the inventory's paths are apart, a symbolic link joins them)."""
    real = hosts.real_roots(transport, host)
    clash = overlapping_roots(real)
    if not clash:
        return None
    outer, inner = clash[0]
    return (f"tier {inner!r} resolves to {real[inner]}, inside tier {outer!r} ({real[outer]}):"
            " tier roots may not nest or overlap; nothing on this host is scanned")


@dataclass(frozen=True)
class _Job:
    """What every host's thread shares."""

    catalogue_path: Path
    connect: Connect
    progress: Progress | None
    stop: threading.Event
    full: bool | None = None
    inventory: Inventory | None = None
    """Where a bucket tier's store answers."""

    def scan_host(self, name: str, host: Host) -> HostOutcome:
        if self.stop.is_set():
            return HostOutcome(name, error=RuntimeError("interrupted before its scan began"))
        try:
            transport = self.connect(host)
        except (TransportError, ValueError) as exc:
            return HostOutcome(name, error=exc)
        with transport, Catalogue(self.catalogue_path) as catalogue:
            clash = _overlap_on_host(transport, host)
            if clash:
                return HostOutcome(name, tuple(
                    TierOutcome(name, tier, spec.path, error=ScanError(
                        f"{name}/{tier} ({spec.path}): {clash}", host=name, tier=tier,
                        root=spec.path)) for tier, spec in host.tiers.items()))
            return HostOutcome(name, tuple(self._tiers(transport, catalogue, name, host)))

    def _tiers(self, transport: Transport, catalogue: Catalogue, name: str,
               host: Host) -> Iterator[TierOutcome]:
        for tier, spec in host.tiers.items():
            try:
                self._batch(name, tier, spec.path, 0)
                with contextlib.ExitStack() as stack:
                    on = transport if spec.bucket is None else stack.enter_context(
                        self._bucket(name, tier, spec))
                    result = scan_tier(on, catalogue, name, tier, spec.path,
                                       progress=functools.partial(self._batch, name, tier,
                                                                  spec.path), full=self.full)
            except ScanError as exc:
                yield TierOutcome(name, tier, spec.path, error=exc)
            else:
                yield TierOutcome(name, tier, spec.path, result=result)

    def _bucket(self, host: str, tier: str, spec: HostTier) -> Transport:
        """The object store a bucket tier lives in (the host is not in the way), as its
        manifests describe it."""
        from capacity.tiering.archived import ArchiveView

        if self.inventory is None:
            raise ScanError(f"{host}/{tier} ({spec.path}): a bucket tier needs the inventory"
                            " to reach its store", host=host, tier=tier, root=spec.path)
        try:
            return ArchiveView(hosts.s3_target(self.inventory, spec),
                               cache=manifest_cache(self.catalogue_path, host, tier),
                               reread=bool(self.full))
        except ValueError as exc:
            raise ScanError(f"{host}/{tier} ({spec.path}): {exc}", host=host, tier=tier,
                            root=spec.path) from None

    def _batch(self, host: str, tier: str, root: str, written: int) -> None:
        if self.stop.is_set():
            raise ScanError(f"{host}/{tier} ({root}): interrupted; the catalogue keeps the"
                            " previous scan", host=host, tier=tier, root=root)
        if self.progress is not None:
            self.progress(host, tier, written)
