"""Backends on this machine (local, and ssh to 127.0.0.1) agree with ``os`` field by field.

The conformance suite reads results through the transport only; these checks compare them
with the local kernel's own answer, which only a backend on this machine can be held to.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from capacity.transports import FileStat, Transport
from tests.transports.test_conformance import HOSTILE_NAMES, SPACE_TOLERANCE


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
    os.utime(f, ns=(1_600_000_000_123_456_789, 1_650_000_000_987_654_321))
    (tmp_path / "series").mkdir()
    (tmp_path / "dangling").symlink_to("does-not-exist")
    (tmp_path / "dirlink").symlink_to(tmp_path / "series")
    hostile = tmp_path / HOSTILE_NAMES[-1]
    hostile.write_bytes(b"x")
    for name in ("study.dcm", "series", "dangling", "dirlink", hostile.name):
        lstat_equal(transport.stat(str(tmp_path / name)), tmp_path / name)
    lstat_equal(transport.stat(str(tmp_path)), tmp_path)


def test_free_space_matches_statvfs(transport: Transport, tmp_path: Path) -> None:
    space = transport.free_space(str(tmp_path))
    vfs = os.statvfs(tmp_path)
    assert space.total == vfs.f_blocks * vfs.f_frsize
    assert abs(space.free - vfs.f_bfree * vfs.f_frsize) <= SPACE_TOLERANCE
    assert abs(space.available - vfs.f_bavail * vfs.f_frsize) <= SPACE_TOLERANCE
