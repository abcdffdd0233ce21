"""The host lock, through the local transport: taken, refused while held, broken when stale,
and never a crash on an owner.json someone else wrote."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from capacity.tiering.lock import LockHeld, host_lock, identity
from capacity.transports import LocalTransport
from tests.transports.test_capabilities import BareTransport


def _held_by(remote: Path, owner: object) -> None:
    remote.mkdir()
    (remote / "owner.json").write_text(json.dumps(owner))


def _dead_owner() -> dict[str, object]:
    """The identity of a process that ran here and has ended (as a killed apply's)."""
    child = subprocess.Popen(["sleep", "5"])
    owner = identity(child.pid)
    child.kill()
    child.wait()
    return owner


def _proc_start(pid: int) -> int:
    # /proc/PID/stat: the 22nd field, counted after the command name in parentheses
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19])


def test_the_lock_is_taken_with_its_owner_and_released(tmp_path: Path) -> None:
    remote = tmp_path / "host.lock"
    with host_lock(LocalTransport(), "h", tmp_path / "locks", str(remote)):
        owner = json.loads((remote / "owner.json").read_text())
        assert owner["controller"] == socket.gethostname() and owner["pid"] == os.getpid()
        assert owner["machine_id"] == Path("/etc/machine-id").read_text().strip()
        assert owner["boot_id"] == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        assert owner["start_time"] == _proc_start(os.getpid())
    assert not remote.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["locks"]  # no staging dir left


def test_a_lock_held_by_a_live_apply_is_refused(tmp_path: Path) -> None:
    remote = tmp_path / "host.lock"
    _held_by(remote, identity())
    with (pytest.raises(LockHeld, match=f"pid {os.getpid()}"),
          host_lock(LocalTransport(), "h", tmp_path / "locks", str(remote))):
        pass
    assert remote.is_dir()  # not ours to remove


def test_a_lock_left_by_a_dead_apply_on_this_controller_is_broken(tmp_path: Path) -> None:
    remote = tmp_path / "host.lock"
    _held_by(remote, _dead_owner())
    with host_lock(LocalTransport(), "h", tmp_path / "locks", str(remote)):
        assert json.loads((remote / "owner.json").read_text())["pid"] == os.getpid()
    assert not remote.exists()


@pytest.mark.parametrize("owner", [
    [1, 2],  # not an object at all
    {"controller": socket.gethostname(), "pid": None},
    {"controller": socket.gethostname(), "pid": "12x"},
    {"controller": socket.gethostname(), "pid": [1]},
    {"controller": socket.gethostname(), "pid": 2**22},  # the old format: no machine named
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


def _live_owner_elsewhere(**changes: object) -> dict[str, object]:
    child = subprocess.Popen(["sleep", "5"])
    owner = {**identity(child.pid), **changes}
    child.kill()  # dead here; the question is whether it can be shown dead there
    child.wait()
    return owner


@pytest.mark.parametrize("changes", [
    {"machine_id": "0" * 32},  # same host name, another machine
    {"pid_namespace": "1"},  # another container on this machine: its pids are not ours
], ids=["another machine", "another pid namespace"])
def test_an_owner_not_provably_gone_keeps_the_lock(tmp_path: Path,
                                                   changes: dict[str, object]) -> None:
    remote = tmp_path / "host.lock"
    _held_by(remote, _live_owner_elsewhere(**changes))
    with (pytest.raises(LockHeld, match="is locked by"),
          host_lock(LocalTransport(), "h", tmp_path / "locks", str(remote))):
        pass


@pytest.mark.parametrize("changes", [
    {"boot_id": "00000000-0000-0000-0000-000000000000"},  # this machine rebooted since
    {"pid": os.getpid(), "start_time": 1},  # a live pid, but a later process than the owner
], ids=["rebooted", "pid reused"])
def test_an_owner_provably_gone_loses_the_lock(tmp_path: Path,
                                              changes: dict[str, object]) -> None:
    remote = tmp_path / "host.lock"
    _held_by(remote, {**identity(), **changes})
    with host_lock(LocalTransport(), "h", tmp_path / "locks", str(remote)):
        assert json.loads((remote / "owner.json").read_text())["pid"] == os.getpid()


def test_the_lock_needs_no_commands(tmp_path: Path) -> None:
    """Taken, a stale one broken, and released through file operations alone."""
    remote = tmp_path / "host.lock"
    _held_by(remote, _dead_owner())
    with host_lock(BareTransport(), "h", tmp_path / "locks", str(remote)):
        assert json.loads((remote / "owner.json").read_text())["pid"] == os.getpid()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["locks"]
