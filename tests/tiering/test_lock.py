"""The host lock, through the local transport: taken, refused while held, broken when stale,
and never a crash on an owner.json someone else wrote."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from capacity.tiering.lock import LockHeld, host_lock
from capacity.transports import LocalTransport


def _held_by(remote: Path, owner: object) -> None:
    remote.mkdir()
    (remote / "owner.json").write_text(json.dumps(owner))


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_the_lock_is_taken_with_its_owner_and_released(tmp_path: Path) -> None:
    remote = tmp_path / "host.lock"
    with host_lock(LocalTransport(), "h", tmp_path / "locks", str(remote)):
        owner = json.loads((remote / "owner.json").read_text())
        assert owner == {"controller": socket.gethostname(), "pid": os.getpid()}
    assert not remote.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["locks"]  # no staging dir left


def test_a_lock_held_by_a_live_apply_is_refused(tmp_path: Path) -> None:
    remote = tmp_path / "host.lock"
    _held_by(remote, {"controller": socket.gethostname(), "pid": os.getpid()})
    with (pytest.raises(LockHeld, match=f"pid {os.getpid()}"),
          host_lock(LocalTransport(), "h", tmp_path / "locks", str(remote))):
        pass
    assert remote.is_dir()  # not ours to remove


def test_a_lock_left_by_a_dead_apply_on_this_controller_is_broken(tmp_path: Path) -> None:
    remote = tmp_path / "host.lock"
    _held_by(remote, {"controller": socket.gethostname(), "pid": _dead_pid()})
    with host_lock(LocalTransport(), "h", tmp_path / "locks", str(remote)):
        assert json.loads((remote / "owner.json").read_text())["pid"] == os.getpid()
    assert not remote.exists()


@pytest.mark.parametrize("owner", [
    [1, 2],  # not an object at all
    {"controller": socket.gethostname(), "pid": None},
    {"controller": socket.gethostname(), "pid": "12x"},
    {"controller": socket.gethostname(), "pid": [1]},
])
def test_an_owner_file_that_proves_nothing_keeps_the_lock(tmp_path: Path,
                                                           owner: object) -> None:
    # Such a file could not be shown stale: refuse, as for a live owner (this used to end
    # in a TypeError or AttributeError traceback).
    remote = tmp_path / "host.lock"
    _held_by(remote, owner)
    with (pytest.raises(LockHeld, match="is locked by"),
          host_lock(LocalTransport(), "h", tmp_path / "locks", str(remote))):
        pass
    assert json.loads((remote / "owner.json").read_text()) == owner
