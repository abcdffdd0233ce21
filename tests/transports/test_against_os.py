"""Backends on this machine (local, and ssh to 127.0.0.1) agree with ``os`` field by field.

The conformance suite reads results through the transport only; these checks compare them
with the local kernel's own answer, which only a backend on this machine can be held to.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from capacity.transports import FileStat, Transport
from tests.transports.test_capabilities import ON_THIS_MACHINE, opened
from tests.transports.test_conformance import HOSTILE_NAMES, SPACE_TOLERANCE


@pytest.fixture(params=ON_THIS_MACHINE)
def transport(request: pytest.FixtureRequest) -> Iterator[Transport]:
    """Only the backends whose files ``os`` can see."""
    yield from opened(request)


def lstat_equal(got: FileStat | None, path: Path) -> None:
    st = os.lstat(path)
    assert got is not None
    assert got.size == st.st_size
    assert got.mtime == st.st_mtime
    assert got.atime == st.st_atime
    assert got.mode == st.st_mode
    assert got.inode == st.st_ino
    assert got.is_dir == stat.S_ISDIR(st.st_mode)
    assert got.is_symlink == stat.S_ISLNK(st.st_mode)


def test_stat_matches_os_lstat(transport: Transport, tmp_path: Path) -> None:
    f = tmp_path / "study.dcm"
    f.write_bytes(b"DICM" * 1000)
    os.chmod(f, 0o640)
    os.utime(f, ns=(1_600_000_000_123_456_789, 1_650_000_000_987_654_321))
    (tmp_path / "series").mkdir()
    (tmp_path / "dangling").symlink_to("does-not-exist")
    (tmp_path / "dirlink").symlink_to(tmp_path / "series")
    hostile = tmp_path / HOSTILE_NAMES[-1]
    hostile.write_bytes(b"x")
    for name in ("study.dcm", "series", "dangling", "dirlink", hostile.name):
        lstat_equal(transport.stat(str(tmp_path / name)), tmp_path / name)
    lstat_equal(transport.stat(str(tmp_path)), tmp_path)
    st = transport.stat(str(f))
    assert st is not None and st.permissions == 0o640
    assert st.mtime == pytest.approx(1_650_000_000.987654321, abs=1e-6)
    assert st.atime == pytest.approx(1_600_000_000.123456789, abs=1e-6)


def test_walk_matches_os_walk(transport: Transport, tmp_path: Path) -> None:
    root = tmp_path / "study"
    (root / "series 2" / "deeper").mkdir(parents=True)
    (root / "empty folder").mkdir()
    for rel in ("IM1.dcm", "series 2/IM2.dcm", f"series 2/deeper/{HOSTILE_NAMES[2]}",
                HOSTILE_NAMES[-1]):
        (root / rel).write_bytes(rel.encode("utf-8", "surrogateescape"))
    os.chmod(root / "IM1.dcm", 0o4750)  # setuid: every permission bit survives the walk
    os.mkfifo(root / "a fifo")
    (root / "escape").symlink_to(tmp_path)
    want = {"": root}
    for folder, dirs, files in os.walk(root):  # does not descend through "escape"
        for name in dirs + files:
            path = Path(folder, name)
            want[str(path.relative_to(root))] = path
    got = dict(transport.walk(str(root)))
    assert sorted(got) == sorted(want)
    for rel, path in want.items():
        st = os.lstat(path)
        entry = got[rel]
        assert (entry.size, entry.mode, entry.inode) == (st.st_size, st.st_mode, st.st_ino)
        assert entry.mtime == pytest.approx(st.st_mtime, abs=1e-6)
    assert got["a fifo"].kind == "p" and got["escape"].kind == "l"


def test_free_space_matches_statvfs(transport: Transport, tmp_path: Path) -> None:
    space = transport.free_space(str(tmp_path))
    vfs = os.statvfs(tmp_path)
    assert space.total == vfs.f_blocks * vfs.f_frsize
    assert abs(space.free - vfs.f_bfree * vfs.f_frsize) <= SPACE_TOLERANCE
    assert abs(space.available - vfs.f_bavail * vfs.f_frsize) <= SPACE_TOLERANCE
