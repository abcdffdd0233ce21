"""Scan and du on real trees, through the real sshd and the local transport.

The truth every catalogue is compared against is ``os.lstat`` over ``os.walk``, computed here
independently of find and of the scanner.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import sqlite3
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from capacity.load import load_inventory
from capacity.tiering.catalog import FIELDS, Catalogue, group_by_directory
from capacity.tiering.records import FileRecord
from capacity.tiering.scan import (
    RecordParser,
    ScanError,
    find_argv,
    scan_hosts,
    scan_tier,
)
from capacity.tiering.usage import Usage, by_tier, by_unit, unit_depth
from capacity.transports import (
    TEMP_PREFIX,
    CommandResult,
    LocalTransport,
    Transport,
)
from tests.transports.test_capabilities import BareTransport

HOST = "pacs1"
T0 = 1_700_000_000.0  # 2023-11-14, a fixed past so every mtime is set, never "now"

HOSTILE = ["with space.dcm", "new\nline.dcm", "quote'single.dcm", 'quote"double.dcm',
           "-leading-dash.dcm", "$(touch PWNED).dcm", "semi;colon.dcm", "back\\slash.dcm",
           "한글 영상.dcm", "emoji 🩻.dcm", "glob*?[x].dcm"]

Entry = tuple[str, int, float, float, int]  # kind, size, mtime, atime, inode


# --------------------------------------------------------------------------- trees


def _touch(path: Path, size: int, age_days: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"D" * size)
    mtime = T0 - age_days * 86400 + 0.123456789
    os.utime(path, (mtime - 3600.5, mtime))  # atime differs from mtime: fields not swapped


def build_tree(root: Path, outside: Path) -> None:
    """A PACS-like tier: ROOT/YYYY/MM/STUDY/ files, hostile names everywhere, a symlink that
    leads out of the tier, and the engine's own temporary names (which a scan skips)."""
    for year, month, studies in ((2019, 3, 3), (2021, 11, 2), (2024, 1, 4)):
        for s in range(studies):
            study = root / f"{year}" / f"{month:02d}" / f"1.2.410.{year}{month:02d}.{s}"
            for i in range(3 + s):
                _touch(study / f"IM{i:04d}.dcm", 100 * (i + 1) + s, (2025 - year) * 365 - s)
    hostile = root / "2024" / "02" / "STUDY $(touch PWNED); rm -rf x"
    for i, name in enumerate(HOSTILE):
        _touch(hostile / name, 10 + i, 30 + i)
        _touch(root / name, 20 + i, 40 + i)  # at the top, units of their own
    (root / "2024" / "02" / "new\nline dir").mkdir()
    _touch(root / "2024" / "02" / "new\nline dir" / "x.dcm", 7, 50)
    fd = os.open(os.fsencode(root / "2024" / "02") + b"/bad-\xff\xfe.dcm",
                 os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"12345")
    os.close(fd)
    (root / "2023" / "empty").mkdir(parents=True)
    # A symlink out of the tier (to a directory full of files) and a dangling one.
    _touch(outside / "secret" / "not-in-the-tier.dcm", 999, 10)
    (root / "2024" / "01" / "escape").symlink_to(outside / "secret")
    (root / "dangling").symlink_to(outside / "nothing-here")
    # What the engine leaves behind (crash mid-write, work dirs): never catalogued.
    _touch(root / "2024" / "01" / f"{TEMP_PREFIX}0123456789abcdef", 5000, 1)
    _touch(root / ".capacity-work" / "staged.dcm", 5000, 1)


def truth(root: Path) -> dict[str, Entry]:
    """Every entry under ``root`` as os.lstat sees it, keyed by path relative to ``root``,
    skipping what the scanner must skip (names starting with .capacity-)."""
    found: dict[str, Entry] = {}
    for dirpath, dirnames, filenames in os.walk(root):  # never follows symlinks
        dirnames[:] = [d for d in dirnames if not d.startswith(".capacity-")]
        for name in [*dirnames, *filenames]:
            if name.startswith(".capacity-"):
                continue
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            kind = ("d" if stat.S_ISDIR(st.st_mode) else "l" if stat.S_ISLNK(st.st_mode)
                    else "f" if stat.S_ISREG(st.st_mode) else "o")
            found[os.path.relpath(path, root)] = (kind, st.st_size, st.st_mtime, st.st_atime,
                                                  st.st_ino)
    return found


def catalogued(catalogue: Catalogue, tier: str, host: str = HOST) -> dict[str, Entry]:
    return {r.path: (r.kind, r.size, r.mtime, r.atime, r.inode)
            for r in catalogue.files(host, tier)}


def assert_same(got: dict[str, Entry], want: dict[str, Entry]) -> None:
    assert sorted(got) == sorted(want)
    for path, (kind, size, mtime, atime, inode) in want.items():
        g_kind, g_size, g_mtime, g_atime, g_inode = got[path]
        assert (g_kind, g_size, g_inode) == (kind, size, inode), path
        # find prints nanoseconds; both sides are the same instant as a float.
        assert g_mtime == pytest.approx(mtime, abs=1e-6), path
        if kind == "f":  # reading a directory or following a link may move its atime
            assert g_atime == pytest.approx(atime, abs=1e-6), path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tiers" / "hot"
    build_tree(root, tmp_path / "outside")
    return root


@pytest.fixture
def catalogue(tmp_path: Path) -> Iterator[Catalogue]:
    with Catalogue(tmp_path / "state" / "catalogue.sqlite") as cat:
        yield cat


# --------------------------------------------------------------------------- one tier


def test_scan_records_every_entry_as_lstat_sees_it(transport: Transport, catalogue: Catalogue,
                                                   tree: Path) -> None:
    result = scan_tier(transport, catalogue, HOST, "hot", str(tree), batch_size=7)
    want = truth(tree)
    assert_same(catalogued(catalogue, "hot"), want)

    got = catalogued(catalogue, "hot")
    assert got["2024/01/escape"][0] == "l" and got["dangling"][0] == "l"
    assert not any("not-in-the-tier" in p or "capacity-" in p for p in got)
    assert os.fsdecode(b"2024/02/bad-\xff\xfe.dcm") in got
    assert "2024/02/STUDY $(touch PWNED); rm -rf x/new\nline.dcm" in got
    assert not (tree / "PWNED").exists() and not Path("PWNED").exists()

    files = [e for e in want.values() if e[0] == "f"]
    assert (result.files, result.bytes) == (len(files), sum(e[1] for e in files))
    assert result.dirs == sum(e[0] == "d" for e in want.values())
    assert result.links == 2 and result.removed == 0
    last = catalogue.last_scan(HOST, "hot")
    assert last is not None and last.root == str(tree) and last.finished is not None


@pytest.mark.parametrize("full", [True, False], ids=["full", "incremental"])
def test_rescan_replaces_what_changed(transport: Transport, catalogue: Catalogue,
                                      tree: Path, full: bool) -> None:
    """A full rescan sees every change; an incremental one every change but a file
    rewritten in place in a folder that gained or lost nothing (its mtime unchanged):
    what the periodic full scan is for."""
    scan_tier(transport, catalogue, HOST, "hot", str(tree))
    before = truth(tree)
    recorded = catalogued(catalogue, "hot")
    # Add a study and a file, modify two files, delete a file and a whole study.
    _touch(tree / "2025" / "06" / "NEW" / "IM0000.dcm", 4321, 2)
    _touch(tree / "2024" / "01" / "1.2.410.202401.0" / "IM9999.dcm", 11, 3)
    _touch(tree / "2019" / "03" / "1.2.410.201903.0" / "IM0000.dcm", 77777, 1)
    _touch(tree / "한글 영상.dcm", 1, 1)
    (tree / "2019" / "03" / "1.2.410.201903.1" / "IM0001.dcm").unlink()
    gone_study = tree / "2021" / "11" / "1.2.410.202111.1"
    deleted = 1 + 1 + len(list(gone_study.iterdir()))
    shutil.rmtree(gone_study)
    # An entry that changes kind keeps its path: recorded anew, not removed.
    (tree / "dangling").unlink()
    (tree / "dangling").mkdir()

    result = scan_tier(transport, catalogue, HOST, "hot", str(tree), full=full)
    after = truth(tree)
    rewritten = "2019/03/1.2.410.201903.0/IM0000.dcm"
    if full:
        assert_same(catalogued(catalogue, "hot"), after)
    else:
        assert result.full is False and result.listed is not None
        # Listed again: the root, the folders that gained or lost entries and their parents.
        assert result.listed < sum(kind == "d" for kind, *_ in after.values())
        got = catalogued(catalogue, "hot")
        assert got[rewritten] == recorded[rewritten]  # missed until the next full scan
        assert_same({p: e for p, e in got.items() if p != rewritten},
                    {p: e for p, e in after.items() if p != rewritten})
    assert result.removed == deleted == len(set(before) - set(after))
    assert catalogued(catalogue, "hot")["dangling"][0] == "d"
    files = [e for p, e in after.items() if e[0] == "f"]
    size = sum(e[1] for e in files) - (0 if full else after[rewritten][1] - before[rewritten][1])
    assert (result.files, result.bytes) == (len(files), size)


def test_a_missing_root_is_a_clear_error_and_keeps_the_previous_scan(
        transport: Transport, catalogue: Catalogue, tree: Path) -> None:
    scan_tier(transport, catalogue, HOST, "hot", str(tree))
    first = catalogue.last_scan(HOST, "hot")
    want = truth(tree)
    tree.rename(tree.with_name("hot-unmounted"))
    with pytest.raises(ScanError, match=r"pacs1/hot .*: the tier root does not exist") as err:
        scan_tier(transport, catalogue, HOST, "hot", str(tree))
    assert (err.value.host, err.value.tier, err.value.root) == (HOST, "hot", str(tree))
    assert_same(catalogued(catalogue, "hot"), want)
    assert catalogue.last_scan(HOST, "hot") == first


def test_a_transport_without_commands_scans_the_same(catalogue: Catalogue, tree: Path,
                                                      tmp_path: Path) -> None:
    """No find to run: the scan walks the tier through the transport's own operations,
    into the same records, skipping the same names."""
    bare = BareTransport()
    result = scan_tier(bare, catalogue, HOST, "hot", str(tree), batch_size=7)
    want = truth(tree)
    assert_same(catalogued(catalogue, "hot"), want)
    files = [e for e in want.values() if e[0] == "f"]
    assert (result.files, result.bytes, result.links) == (len(files), sum(e[1] for e in files), 2)
    # A root reached through a link is followed (as find -H does), which needs realpath.
    (tmp_path / "via").symlink_to(tree)
    with pytest.raises(ScanError, match="bare transport does not offer realpath"):
        scan_tier(bare, catalogue, HOST, "hot", str(tmp_path / "via"))
    assert_same(catalogued(catalogue, "hot"), want)


def test_a_root_that_is_a_file_is_refused(transport: Transport, catalogue: Catalogue,
                                          tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    with pytest.raises(ScanError, match="not a directory"):
        scan_tier(transport, catalogue, HOST, "hot", str(tmp_path / "plain"))


def test_a_root_that_is_a_symlink_is_followed_but_nothing_below(
        transport: Transport, catalogue: Catalogue, tree: Path, tmp_path: Path) -> None:
    (tmp_path / "mounted").symlink_to(tree)  # e.g. /pacs/hot -> /mnt/array1/hot
    scan_tier(transport, catalogue, HOST, "hot", str(tmp_path / "mounted"))
    assert_same(catalogued(catalogue, "hot"), truth(tree))


def test_an_interrupted_scan_keeps_the_previous_scan(transport: Transport,
                                                     catalogue: Catalogue, tree: Path) -> None:
    scan_tier(transport, catalogue, HOST, "hot", str(tree))
    first, want = catalogue.last_scan(HOST, "hot"), truth(tree)
    victim = next(p for p, e in want.items() if e[0] == "f")
    (tree / victim).unlink()

    def interrupt(written: int) -> None:
        raise KeyboardInterrupt  # the operator's Ctrl-C, after the first batch

    with pytest.raises(KeyboardInterrupt):
        scan_tier(transport, catalogue, HOST, "hot", str(tree), batch_size=5,
                  progress=interrupt)
    got = catalogued(catalogue, "hot")
    assert sorted(got) == sorted(want)  # nothing forgotten, the deleted file included
    assert catalogue.last_scan(HOST, "hot") == first
    # The next complete scan settles it.
    assert scan_tier(transport, catalogue, HOST, "hot", str(tree)).removed == 1
    assert_same(catalogued(catalogue, "hot"), truth(tree))


class AsNobody(LocalTransport):
    """This machine as an unprivileged user (root reads every directory, so a permission
    error needs someone else).  Commands run through setpriv, as they would through sudo."""

    PREFIX = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")

    def run(self, argv: Any, *, check: bool = True,
            timeout: float | None = None) -> CommandResult:
        return super().run([*self.PREFIX, *argv], check=check, timeout=timeout)

    def stream(self, argv: Any, *, timeout: float | None = None) -> Iterator[bytes]:
        return super().stream([*self.PREFIX, *argv], timeout=timeout)


@pytest.fixture
def world_readable() -> Iterator[Path]:
    """A folder others can enter (pytest's tmp_path is private to its owner)."""
    path = Path(tempfile.mkdtemp(prefix="capacity-scan-"))
    path.chmod(0o755)
    yield path
    for dirpath, dirnames, _ in os.walk(path):
        for d in dirnames:
            os.chmod(os.path.join(dirpath, d), 0o755, follow_symlinks=False)
    shutil.rmtree(path)


def test_a_find_that_fails_midway_keeps_the_previous_scan(world_readable: Path,
                                                          catalogue: Catalogue) -> None:
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: nobody to be denied")
        transport: Transport = AsNobody()
    else:
        transport = LocalTransport()
    root = world_readable / "hot"
    for study in ("A", "B", "C"):
        for i in range(4):
            _touch(root / "2024" / study / f"IM{i}.dcm", 10, 5)
    for dirpath, _, filenames in os.walk(world_readable):  # _touch made them 0o7xx by umask
        os.chmod(dirpath, 0o755)
        for f in filenames:
            os.chmod(os.path.join(dirpath, f), 0o644)
    scan_tier(transport, catalogue, HOST, "hot", str(root))
    first, want = catalogue.last_scan(HOST, "hot"), truth(root)
    assert_same(catalogued(catalogue, "hot"), want)

    (root / "2024" / "A" / "IM0.dcm").unlink()
    (root / "2024" / "B").chmod(0)
    with pytest.raises(ScanError, match=r"failed after \d+ entries.*Permission denied"):
        scan_tier(transport, catalogue, HOST, "hot", str(root), batch_size=2)
    got = catalogued(catalogue, "hot")
    assert sorted(got) == sorted(want)  # the deleted file and B's files: still there
    assert catalogue.last_scan(HOST, "hot") == first


def test_a_failed_batch_is_rolled_back_and_the_catalogue_stays_usable(
        catalogue: Catalogue) -> None:
    scan = catalogue.begin_scan(HOST, "hot", "/pacs/hot")
    good = FileRecord(HOST, "hot", "a/f", 1, T0, T0, 1, "f")
    entries = b"f\x001\x00%r\x00%r\x001\x00f\x00" % (T0, T0)
    packed = {b"a": entries, None: entries}  # a folder that is no name: refused by SQLite
    with pytest.raises(sqlite3.IntegrityError):
        catalogue.add_directories(scan, packed, 2, 2)  # type: ignore[dict-item]
    catalogue.add_directories(scan, {}, 0, 0)  # once failed, the connection used to refuse
    assert catalogue.finish_scan(scan) == 0     # every BEGIN
    assert list(catalogue.files(HOST, "hot")) == []  # all of the batch or none of it
    scan = catalogue.begin_scan(HOST, "hot", "/pacs/hot")
    catalogue.add_directories(scan, {b"a": packed[b"a"]}, 1, 1)
    catalogue.finish_scan(scan)
    assert list(catalogue.files(HOST, "hot")) == [good]


def test_two_scans_of_one_tier_at_once_forget_nothing_either_saw(catalogue: Catalogue,
                                                                 tree: Path) -> None:
    # A cron scan and an operator's scan overlap: the older finishing first must not drop
    # the rows the newer one refreshed (it used to empty the tier's catalogue).
    older = catalogue.begin_scan(HOST, "hot", str(tree))
    newer = catalogue.begin_scan(HOST, "hot", str(tree))
    out = LocalTransport().run(find_argv(str(tree))).stdout
    for scan in (older, newer):
        catalogue.add_directories(scan, group_by_directory(RecordParser().feed(out)), 0, 0)
    assert catalogue.finish_scan(older) == 0
    assert catalogue.finish_scan(newer) == 0
    assert_same(catalogued(catalogue, "hot"), truth(tree))


def test_readers_see_the_last_finished_scan_never_one_in_progress(
        transport: Transport, catalogue: Catalogue, tree: Path) -> None:
    scan_tier(transport, catalogue, HOST, "hot", str(tree))
    want = truth(tree)
    running = catalogue.begin_scan(HOST, "hot", str(tree))
    catalogue.add(running, [FileRecord(HOST, "hot", "2030/new.dcm", 5, T0, T0, 9, "f")])
    assert_same(catalogued(catalogue, "hot"), want)  # the scan in progress is not seen
    assert catalogue.finish_scan(running) == len(want)  # it saw none of the old entries
    assert list(catalogued(catalogue, "hot")) == ["2030/new.dcm"]


def test_of_two_scans_the_one_begun_last_wins_whichever_finishes_first(
        catalogue: Catalogue) -> None:
    older = catalogue.begin_scan(HOST, "hot", "/pacs/hot")
    newer = catalogue.begin_scan(HOST, "hot", "/pacs/hot")
    catalogue.add(older, [FileRecord(HOST, "hot", "old.dcm", 1, T0, T0, 1, "f")])
    catalogue.add(newer, [FileRecord(HOST, "hot", "new.dcm", 1, T0, T0, 2, "f")])
    catalogue.finish_scan(newer)
    assert catalogue.finish_scan(older) == 0  # too late: dropped
    assert list(catalogued(catalogue, "hot")) == ["new.dcm"]
    assert catalogue.last_scan(HOST, "hot").id == newer  # type: ignore[union-attr]


def test_forget_drops_exactly_the_named_entries(catalogue: Catalogue) -> None:
    scan = catalogue.begin_scan(HOST, "hot", "/pacs/hot")
    names = ["top.dcm", "2025/01/S1/a.dcm", "2025/01/S1/b.dcm", "2025/01/S2/a.dcm",
             "2025/01/S1/" + HOSTILE[1], "2025/01/S1/bad\udcff.dcm"]
    catalogue.add(scan, [FileRecord(HOST, "hot", n, i, T0, T0, i, "f")
                         for i, n in enumerate(names)])
    catalogue.finish_scan(scan)
    catalogue.forget(HOST, "hot", [names[1], names[4], names[5], "2025/09/never.dcm"])
    assert sorted(catalogued(catalogue, "hot")) == sorted([names[0], names[2], names[3]])


def test_a_catalogue_of_the_row_per_generation_layout_is_dropped_and_rebuilt(
        tmp_path: Path, tree: Path) -> None:
    """Layout 3 (a copy of every row in each generation): opened, it is emptied, and the
    next scan is a full one."""
    path = tmp_path / "layout3.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE scans (id INTEGER PRIMARY KEY, host, tier, root, started, finished,"
        " files, bytes, full); CREATE TABLE dirs (scan, dir, files, bytes, links, entries);"
        " CREATE TABLE dir_mtimes (scan, dir, mtime);"
        f" INSERT INTO scans VALUES (1, '{HOST}', 'hot', '{tree}', 1, 2, 1, 1, 1);"
        " INSERT INTO dirs VALUES (1, x'', 1, 1, 0, x'66003100'); PRAGMA user_version = 3;")
    old.close()
    with Catalogue(path) as catalogue:
        assert catalogue.tiers() == [] and catalogue.last_scan(HOST, "hot") is None
        columns = {r[1] for r in catalogue.db.execute("PRAGMA table_info(dirs)")}
        assert "since" in columns and "scan" not in columns
        result = scan_tier(LocalTransport(), catalogue, HOST, "hot", str(tree))
        assert result.full is True
        assert_same(catalogued(catalogue, "hot"), truth(tree))


def test_a_catalogue_of_the_row_per_file_layout_is_dropped_and_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.executescript("CREATE TABLE files (host, tier, path, size); CREATE TABLE scans (id);"
                      "INSERT INTO files VALUES ('h', 't', 'p', 1);")
    old.close()
    with Catalogue(path) as catalogue:
        assert catalogue.tiers() == [] and catalogue.last_scan("h", "t") is None
        tables = {r[0] for r in catalogue.db.execute("SELECT name FROM sqlite_master")}
        assert "files" not in tables and "dirs" in tables


# --------------------------------------------------------------------------- parsing


def test_records_split_anywhere_across_chunks_parse_the_same(tree: Path) -> None:
    out = LocalTransport().run(find_argv(str(tree))).stdout
    whole = RecordParser().feed(out)
    assert len(whole) == len(truth(tree)) * FIELDS
    for size in (1, 2, 3, 5, 7, 64, 1000):
        parser = RecordParser()
        parts: list[bytes] = []
        for i in range(0, len(out), size):
            parts += parser.feed(out[i:i + size])
        assert parser.complete and parts == whole
    cut = RecordParser()
    cut.feed(out[:-1])  # the last NUL missing: output that stopped mid-entry
    assert not cut.complete


# --------------------------------------------------------------------------- many hosts


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once closed


def test_hosts_scan_in_parallel_and_one_failure_stops_no_other(
        tmp_path: Path, scan_write_inventory: Callable[..., Path],
        scan_ssh_host: Callable[..., dict[str, Any]]) -> None:
    roots = {name: tmp_path / name for name in ("a-hot", "a-warm", "b-hot", "b-warm")}
    for name, root in roots.items():
        build_tree(root, tmp_path / f"outside-{name}")
    inv = load_inventory(scan_write_inventory({
        "a": scan_ssh_host({"hot": roots["a-hot"], "warm": roots["a-warm"]}),
        "b": scan_ssh_host({"hot": roots["b-hot"], "warm": roots["b-warm"],
                            "cold": tmp_path / "not-mounted"}),
        "down": scan_ssh_host({"hot": tmp_path / "x"}, port=_closed_port()),
    }))
    db = tmp_path / "state" / "catalogue.sqlite"
    outcomes = scan_hosts(inv, None, db, workers=3)

    assert [o.host for o in outcomes] == ["a", "b", "down"]
    a, b, down = outcomes
    assert a.ok and [t.tier for t in a.tiers] == ["hot", "warm"]
    assert not b.ok and b.error is None
    assert [t.error is None for t in b.tiers] == [True, True, False]
    assert "does not exist" in str(b.tiers[2].error)
    assert not down.ok and down.tiers == () and "cannot connect" in str(down.error)
    with Catalogue(db) as cat:
        for host in ("a", "b"):
            for tier in ("hot", "warm"):
                assert_same(catalogued(cat, tier, host), truth(roots[f"{host}-{tier}"]))
        assert cat.last_scan("b", "cold") is None


def test_scan_hosts_rejects_unknown_names(tmp_path: Path,
                                          scan_write_inventory: Callable[..., Path]) -> None:
    inv = load_inventory(scan_write_inventory({"a": {"address": "x", "tiers": {"t": "/t"}}}))
    with pytest.raises(ValueError, match=r"unknown host.*nope"):
        scan_hosts(inv, ["nope"], tmp_path / "c.sqlite")


def test_local_hosts_scan_through_any_transport(
        tmp_path: Path, scan_write_inventory: Callable[..., Path]) -> None:
    build_tree(tmp_path / "hot", tmp_path / "out")
    inv = load_inventory(scan_write_inventory(
        {"here": {"address": "localhost", "tiers": {"hot": str(tmp_path / "hot")}}}))
    [outcome] = scan_hosts(inv, ["here"], tmp_path / "c.sqlite",
                           connect=lambda host: LocalTransport())
    assert outcome.ok
    with Catalogue(tmp_path / "c.sqlite") as cat:
        assert_same(catalogued(cat, "hot", "here"), truth(tmp_path / "hot"))


# --------------------------------------------------------------------------- du


def independent_du(want: dict[str, Entry], depth: int) -> dict[str, tuple[int, int, float,
                                                                          float, int]]:
    """files, bytes, oldest, newest, links per unit, straight from the lstat truth."""
    units: dict[str, list[Any]] = {}
    for path, (kind, size, mtime, _, _) in want.items():
        if kind == "d":
            continue
        parts = path.split("/")
        unit = path if depth == 0 or len(parts) <= depth else "/".join(parts[:depth])
        u = units.setdefault(unit, [0, 0, None, None, 0])
        if kind == "l":
            u[4] += 1
            continue
        u[0] += 1
        u[1] += size
        u[2] = mtime if u[2] is None else min(u[2], mtime)
        u[3] = mtime if u[3] is None else max(u[3], mtime)
    return {k: tuple(v) for k, v in units.items()}  # type: ignore[misc]


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_du_equals_sums_computed_independently(catalogue: Catalogue, tree: Path,
                                               depth: int) -> None:
    scan_tier(LocalTransport(), catalogue, HOST, "hot", str(tree))
    want = truth(tree)
    units = by_unit(catalogue.files(HOST, "hot"), depth)
    got = {u.unit: (u.files, u.bytes, u.oldest, u.newest, u.links) for u in units}
    expected = independent_du(want, depth)
    assert sorted(got) == sorted(expected)
    for unit, (files, size, oldest, newest, links) in expected.items():
        g_files, g_size, g_oldest, g_newest, g_links = got[unit]
        assert (g_files, g_size, g_links) == (files, size, links), unit
        # find prints nanoseconds; both sides are the same instant as a float.
        assert (g_oldest, g_newest) == pytest.approx((oldest, newest), abs=1e-6), unit
    assert [u.bytes for u in units] == sorted((u.bytes for u in units), reverse=True)

    total = by_tier(units)[(HOST, "hot")]
    files = [e for e in want.values() if e[0] == "f"]
    assert (total.files, total.bytes, total.links) == (len(files), sum(e[1] for e in files), 2)
    assert total.oldest == pytest.approx(min(e[2] for e in files))
    assert total.newest == pytest.approx(max(e[2] for e in files))


def test_du_of_nothing_is_nothing() -> None:
    assert by_unit([], 3) == []
    assert by_tier([]) == {}
    assert Usage("h", "t", None).plus(Usage("h", "t", None)) == Usage("h", "t", None)


def test_unit_depth_is_the_first_policy_naming_the_host(
        scan_write_inventory: Callable[..., Path]) -> None:
    rule = {"name": "r", "action": "expire", "from": "hot", "select": {"older_than": "10y"}}
    tiers = {"hot": "/pacs/hot"}
    inv = load_inventory(scan_write_inventory(
        {"a": {"address": "a", "tiers": tiers}, "b": {"address": "b", "tiers": tiers},
         "c": {"address": "c", "tiers": tiers}},
        {"first": {"hosts": ["b"], "unit": {"depth": 3}, "rules": [rule]},
         "second": {"hosts": ["a", "b"], "unit": {"depth": 2}, "rules": [rule]}}))
    assert [unit_depth(inv, h) for h in ("a", "b", "c")] == [2, 3, 1]


def test_the_catalogue_stays_one_generation_on_disk(tmp_path: Path) -> None:
    """Rescans give the pages of the generation they replace back: the file does not grow
    with each rescan, as it did when freed pages stayed in the file."""
    root = tmp_path / "tier"
    for study in range(40):
        _touch(root / f"S{study:03d}" / "IM0.dcm", 10, 1)
        for image in range(1, 60):
            (root / f"S{study:03d}" / f"IM{image}.dcm").write_bytes(b"")
    path = tmp_path / "catalogue.sqlite"

    def on_disk() -> int:
        return sum(os.path.getsize(p) for p in (path, Path(f"{path}-wal")) if p.exists())

    with Catalogue(path) as catalogue:
        transport = LocalTransport()
        scan_tier(transport, catalogue, HOST, "hot", str(root), batch_size=50)
        one = on_disk()
        for _ in range(4):
            scan_tier(transport, catalogue, HOST, "hot", str(root), batch_size=50)
            assert catalogue.db.execute("PRAGMA freelist_count").fetchone()[0] == 0
        assert on_disk() <= 1.2 * one, (on_disk(), one)
        assert len(list(catalogue.files(HOST, "hot"))) == 40 * 61


def test_a_catalogue_made_without_auto_vacuum_is_rewritten_with_it(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.sqlite"
    with Catalogue(path) as catalogue:
        catalogue.db.execute("PRAGMA auto_vacuum = 0")
        catalogue.db.execute("VACUUM")
        assert catalogue.db.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    with Catalogue(path) as catalogue:
        assert catalogue.db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2


def test_a_full_scan_comes_round_and_catches_what_incremental_ones_miss(
        transport: Transport, catalogue: Catalogue, tree: Path) -> None:
    scan_tier(transport, catalogue, HOST, "hot", str(tree))
    rewritten = tree / "2019" / "03" / "1.2.410.201903.0" / "IM0000.dcm"
    _touch(rewritten, 4242, 1)  # in place: its folder's mtime does not move
    assert scan_tier(transport, catalogue, HOST, "hot", str(tree)).full is False
    rel = str(rewritten.relative_to(tree))
    assert catalogued(catalogue, "hot")[rel][1] != 4242
    # The last full scan is older than full_every: this one is full, and sees it.
    result = scan_tier(transport, catalogue, HOST, "hot", str(tree), full_every=0)
    assert result.full is True
    assert_same(catalogued(catalogue, "hot"), truth(tree))
    # Forced: a rescan that lists everything whatever the age of the last full one.
    assert scan_tier(transport, catalogue, HOST, "hot", str(tree), full=True).full is True


def test_an_incremental_rescan_lists_only_the_folders_that_changed(
        transport: Transport, catalogue: Catalogue, tmp_path: Path) -> None:
    root = tmp_path / "tier"
    for study in range(100):
        _touch(root / "2024" / f"{study % 12 + 1:02d}" / f"S{study:03d}" / "IM0.dcm", 10, 400)
    scan_tier(transport, catalogue, HOST, "hot", str(root))
    _touch(root / "2024" / "05" / "S004" / "late.dcm", 5, 0)  # a late image
    shutil.rmtree(root / "2024" / "07" / "S006")  # a study expired by hand
    result = scan_tier(transport, catalogue, HOST, "hot", str(root))
    # Of 112 folders: the two whose entries changed (S004, 2024/07), the parent of each
    # (2024/05, 2024), and the root.
    assert result.full is False and result.listed == 5 and result.dirs == 112
    assert_same(catalogued(catalogue, "hot"), truth(root))
    assert result.removed == 2 and (result.files, result.bytes) == (100, 99 * 10 + 5)


# --------------------------------------------------------------------------- rescans


def _one_day(root: Path, rng: random.Random, day: int) -> None:
    """What a PACS tier sees between scans, and what an operator may do to it: late images,
    new studies and series, a study expired, emptied, renamed, replaced by a file, a month
    expired, the engine's work folder in a study, a file removed."""
    studies = sorted(p for p in root.glob("20*/*/*") if p.is_dir() and not p.is_symlink())
    rng.shuffle(studies)
    for study in studies[:2]:
        _touch(study / f"LATE{day}.dcm", 50 + day, 0)
    _touch(root / "2026" / f"{day % 12 + 1:02d}" / f"NEW.{day}" / "IM0000.dcm", 9, 0)
    _touch(root / "2026" / "01" / f"SERIES.{day}" / "s1" / "IM0.dcm", 3, 0)
    victims = iter(studies[2:])
    shutil.rmtree(next(victims))  # expired
    for f in next(victims).iterdir():  # emptied, the folder kept
        if f.is_dir() and not f.is_symlink():
            shutil.rmtree(f)
        else:
            f.unlink()
    moved = next(victims)
    moved.rename(moved.with_name(moved.name + f".renamed{day}"))
    replaced = next(victims)
    shutil.rmtree(replaced)
    replaced.write_bytes(b"x" * day)  # a folder become a file keeps its path
    _touch(next(victims) / f".capacity-work{day}" / "staged.dcm", 5, 0)  # never catalogued
    files = sorted(p for p in root.rglob("*.dcm") if p.is_file() and ".capacity-" not in str(p))
    rng.choice(files).unlink()
    if day % 3 == 0:
        months = sorted(p for p in root.glob("20*/*") if p.is_dir() and not p.is_symlink())
        shutil.rmtree(rng.choice(months))


def _listed_again(before: dict[str, Entry], after: dict[str, Entry]) -> set[bytes]:
    """The folders an incremental rescan should list again, from lstat alone: the root, each
    folder that is new or whose mtime moved, and the parent of each."""
    changed = {p for p, (kind, _, mtime, _, _) in after.items() if kind == "d" and (
        p not in before or before[p][0] != "d" or before[p][2] != mtime)}
    return {b"", *(os.fsencode(p) for p in changed),
            *(os.fsencode(os.path.dirname(p)) for p in changed)}


def test_incremental_rescans_day_after_day_hold_what_the_tree_holds(
        transport: Transport, catalogue: Catalogue, tree: Path) -> None:
    """Against lstat after every rescan: the entries, the totals, the entries removed, the
    folders listed again, and that every other folder's rows were left as they were (the
    carry-over is doing nothing)."""
    rng = random.Random(13)
    scan_tier(transport, catalogue, HOST, "hot", str(tree))
    before = truth(tree)
    for day in range(1, 8):
        _one_day(tree, rng, day)
        after = truth(tree)
        rows = {rowid: (bytes(folder), since) for rowid, folder, since in
                catalogue.db.execute("SELECT rowid, dir, since FROM dirs")}
        result = scan_tier(transport, catalogue, HOST, "hot", str(tree), full=False,
                           batch_size=7)
        assert result.full is False
        assert_same(catalogued(catalogue, "hot"), after)
        assert result.removed == len(set(before) - set(after)), day
        files = [e for e in after.values() if e[0] == "f"]
        assert (result.files, result.bytes) == (len(files), sum(e[1] for e in files))
        assert result.dirs == sum(e[0] == "d" for e in after.values())
        assert result.links == sum(e[0] == "l" for e in after.values())
        last = catalogue.last_scan(HOST, "hot")
        assert last is not None and (last.files, last.bytes) == (result.files, result.bytes)
        listed = _listed_again(before, after)
        assert result.listed == len(listed), day
        now = {rowid: (bytes(folder), since) for rowid, folder, since in
               catalogue.db.execute("SELECT rowid, dir, since FROM dirs")}
        kept = {rowid: row for rowid, row in rows.items() if row[0] not in listed
                and os.fsdecode(row[0]) in after and after[os.fsdecode(row[0])][0] == "d"}
        assert kept and {r: now.get(r) for r in kept} == kept, day  # untouched
        assert all(since == last.id for rowid, (folder, since) in now.items()
                   if rowid not in kept), day  # the rest written by this scan
        before = after
    # A full scan finds nothing they missed (no file here was rewritten in place).
    result = scan_tier(transport, catalogue, HOST, "hot", str(tree), full=True)
    assert result.removed == 0 and result.full is True
    assert_same(catalogued(catalogue, "hot"), truth(tree))


def test_an_emptied_folder_loses_its_entries_on_an_incremental_rescan(
        transport: Transport, catalogue: Catalogue, tmp_path: Path) -> None:
    """Listed again, it prints nothing: the rows it had must go all the same."""
    root = tmp_path / "tier"
    for i in range(3):
        _touch(root / "2024" / "S1" / f"IM{i}.dcm", 10, 5)
    _touch(root / "2024" / "S2" / "IM0.dcm", 10, 5)
    scan_tier(transport, catalogue, HOST, "hot", str(root))
    for i in range(3):
        (root / "2024" / "S1" / f"IM{i}.dcm").unlink()
    result = scan_tier(transport, catalogue, HOST, "hot", str(root))
    assert result.full is False and result.removed == 3
    assert_same(catalogued(catalogue, "hot"), truth(root))
    assert (result.files, result.bytes) == (1, 10)


def test_an_incremental_rescan_over_a_scan_that_finished_meanwhile(
        catalogue: Catalogue, tree: Path, tmp_path: Path) -> None:
    """A full scan begun before an incremental one finishes while it runs: the incremental
    one lists what changed since the scan it started from, and finishing replaces those
    folders in the view the full scan left (which has every other)."""
    transport = LocalTransport()
    scan_tier(transport, catalogue, HOST, "hot", str(tree))
    _touch(tree / "2024" / "01" / "1.2.410.202401.1" / "LATE.dcm", 5, 0)
    shutil.rmtree(tree / "2019" / "03" / "1.2.410.201903.2")
    older = catalogue.begin_scan(HOST, "hot", str(tree))
    out = transport.run(find_argv(str(tree))).stdout
    catalogue.add_directories(older, group_by_directory(RecordParser().feed(out)), 0, 0)
    _touch(tree / "2024" / "01" / "1.2.410.202401.2" / "LATER.dcm", 6, 0)

    def finish_the_older(written: int) -> None:
        with Catalogue(catalogue.path) as other:
            if other.last_scan(HOST, "hot").id != older:  # type: ignore[union-attr]
                other.finish_scan(older)

    result = scan_tier(transport, catalogue, HOST, "hot", str(tree), full=False,
                       batch_size=2, progress=finish_the_older)
    assert result.full is False
    assert catalogue.last_scan(HOST, "hot").id > older  # type: ignore[union-attr]
    assert_same(catalogued(catalogue, "hot"), truth(tree))
    files = [e for e in truth(tree).values() if e[0] == "f"]
    assert (result.files, result.bytes) == (len(files), sum(e[1] for e in files))


def test_an_older_scan_finishing_after_a_newer_incremental_one_is_dropped(
        transport: Transport, catalogue: Catalogue, tree: Path) -> None:
    scan_tier(transport, catalogue, HOST, "hot", str(tree))
    older = catalogue.begin_scan(HOST, "hot", str(tree))
    catalogue.add(older, [FileRecord(HOST, "hot", "stale.dcm", 1, T0, T0, 1, "f")])
    _touch(tree / "2024" / "01" / "1.2.410.202401.0" / "LATE.dcm", 5, 0)
    assert scan_tier(transport, catalogue, HOST, "hot", str(tree)).full is False
    assert catalogue.finish_scan(older) == 0  # too late: dropped, rows and all
    assert_same(catalogued(catalogue, "hot"), truth(tree))
    assert catalogue.db.execute("SELECT count(*) FROM dirs WHERE since = ?",
                                (older,)).fetchone() == (0,)


def test_readers_never_see_an_older_scan_still_writing_after_a_newer_one_finished(
        transport: Transport, catalogue: Catalogue, tree: Path) -> None:
    older = catalogue.begin_scan(HOST, "hot", str(tree))
    scan_tier(transport, catalogue, HOST, "hot", str(tree), full=True)
    want = truth(tree)
    catalogue.add(older, [FileRecord(HOST, "hot", "2024/01/late-write.dcm", 1, T0, T0, 1, "f")])
    assert_same(catalogued(catalogue, "hot"), want)
    assert catalogue.totals(catalogue.last_scan(HOST, "hot").id)[0] == sum(  # type: ignore[union-attr]
        e[0] == "f" for e in want.values())
    assert catalogue.finish_scan(older) == 0
    assert_same(catalogued(catalogue, "hot"), want)


@pytest.mark.parametrize("full", [True, False], ids=["full", "incremental"])
def test_an_interrupted_rescan_leaves_no_rows_behind_the_next_incremental_one(
        transport: Transport, catalogue: Catalogue, tree: Path, full: bool) -> None:
    """A full scan cut short wrote rows of folders the next, incremental, scan does not
    list again: they go all the same."""
    scan_tier(transport, catalogue, HOST, "hot", str(tree))
    want = truth(tree)
    _touch(tree / "2024" / "01" / "1.2.410.202401.0" / "LATE.dcm", 5, 0)
    shutil.rmtree(tree / "2021" / "11" / "1.2.410.202111.0")

    def interrupt(written: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        scan_tier(transport, catalogue, HOST, "hot", str(tree), batch_size=2,
                  progress=interrupt, full=full)
    assert_same(catalogued(catalogue, "hot"), want)  # its rows are in no one's view
    (abandoned,) = catalogue.db.execute("SELECT max(id) FROM scans").fetchone()
    assert catalogue.db.execute("SELECT count(*) FROM dirs WHERE since = ?",
                                (abandoned,)).fetchone()[0] > 0
    result = scan_tier(transport, catalogue, HOST, "hot", str(tree), full=False)
    assert result.full is False and result.removed == len(set(want) - set(truth(tree)))
    assert_same(catalogued(catalogue, "hot"), truth(tree))
    assert catalogue.db.execute("SELECT count(*) FROM dirs WHERE since = ?",
                                (abandoned,)).fetchone()[0] == 0
