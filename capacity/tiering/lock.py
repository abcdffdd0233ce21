"""One apply per host at a time: a lock on the controller (flock) and one on the host itself
(a directory in the remote user's home, put in place by an atomic rename with its owner
already inside), so two controllers cannot work on one host either.

A remote lock is broken only when its owner is provably gone.  The owner is named by its
machine (machine-id), boot (boot_id), PID namespace, pid and the process's start time: a
second controller with the same host name, or in another container, never breaks a live
lock; a pid reused by a later process is not mistaken for the owner."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from capacity.errors import HostTrouble
from capacity.transports import (
    AlreadyExists,
    CommandTimeout,
    ConnectionLost,
    Transport,
    TransportError,
)


class LockHeld(RuntimeError, HostTrouble):
    """Another apply holds the host."""


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip() or None
    except OSError:
        return None


def _start_time(pid: int) -> int | None:
    """When the process started, in clock ticks since boot (/proc/PID/stat field 22)."""
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return None
    fields = stat.rpartition(")")[2].split()  # the name before ')' may hold spaces
    return int(fields[19]) if len(fields) > 19 and fields[19].isdigit() else None


def _pid_namespace() -> str | None:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return None


def identity(pid: int | None = None) -> dict[str, str | int | None]:
    """This controller process, as a lock's owner.json names it."""
    pid = os.getpid() if pid is None else pid
    return {"controller": socket.gethostname(), "pid": pid,
            "machine_id": _read("/etc/machine-id") or _read("/var/lib/dbus/machine-id"),
            "boot_id": _read("/proc/sys/kernel/random/boot_id"),
            "pid_namespace": _pid_namespace(), "start_time": _start_time(pid)}


@contextlib.contextmanager
def host_lock(transport: Transport, host: str, locks_dir: Path, remote: str) -> Iterator[None]:
    with local_lock(locks_dir, host, "host"):
        _take_remote(transport, host, remote)
        try:
            yield
        finally:
            _remove(transport, remote)


@contextlib.contextmanager
def local_lock(locks_dir: Path, name: str, what: str) -> Iterator[None]:
    """One apply on this controller at a time for ``name`` (a host, or an array, which has
    no place for a lock of its own: its session limit keeps other tools few)."""
    locks_dir.mkdir(parents=True, exist_ok=True)
    with open(locks_dir / f"{name}.lock", "w") as local:
        try:
            fcntl.flock(local, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(f"another apply on this controller holds {what} {name}") from None
        yield


def _remove(transport: Transport, path: str) -> None:
    """Remove a lock directory if it is there.  Failing that is no error (the rename that
    takes the lock says whether one is in the way), losing the host is."""
    try:
        transport.delete_tree(path, missing_ok=True)
    except (ConnectionLost, CommandTimeout):
        raise
    except TransportError:
        pass


def _take_remote(transport: Transport, host: str, remote: str) -> None:
    me = identity()
    mine = f"{remote}.{me['controller']}.{me['pid']}"
    _remove(transport, mine)
    transport.mkdir(mine)
    transport.write(f"{mine}/owner.json", json.dumps(me).encode())
    try:
        for _attempt in range(2):
            try:
                transport.rename(mine, remote)
                return
            except AlreadyExists:
                owner = _owner(transport, remote)
                if owner.gone():
                    _remove(transport, remote)
                    continue  # its apply was killed, or its machine rebooted: stale
                raise LockHeld(f"host {host} is locked by {owner.controller} pid"
                               f" {owner.pid} (remove {remote} there if that apply"
                               " is gone)") from None
        raise LockHeld(f"could not take the lock on host {host}")
    finally:
        _remove(transport, mine)


@dataclass(frozen=True)
class _Owner:
    """Who holds a remote lock, as far as its owner.json tells; None where it does not."""

    controller: str | None = None
    pid: int | None = None
    machine_id: str | None = None
    boot_id: str | None = None
    pid_namespace: str | None = None
    start_time: int | None = None

    def gone(self) -> bool:
        """True only when the owner provably no longer runs: it was on this machine, and
        the machine has booted since, or (same boot, same PID namespace) no process of its
        pid and start time exists."""
        here = identity()
        if self.machine_id is None or self.machine_id != here["machine_id"]:
            return False
        if self.boot_id is not None and here["boot_id"] is not None \
                and self.boot_id != here["boot_id"]:
            return True
        if (self.boot_id != here["boot_id"] or self.pid_namespace is None
                or self.pid_namespace != here["pid_namespace"] or self.pid is None
                or self.start_time is None):
            return False
        return _start_time(self.pid) != self.start_time


def _owner(transport: Transport, remote: str) -> _Owner:
    try:
        data = json.loads(transport.read(f"{remote}/owner.json"))
    except (OSError, ValueError):
        return _Owner()
    if not isinstance(data, dict):  # not written by us: nothing to prove the owner gone
        return _Owner()

    def text(key: str) -> str | None:
        value = data.get(key)
        return value if isinstance(value, str) else None

    def whole(key: str) -> int | None:
        value = data.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return _Owner(text("controller"), whole("pid"), text("machine_id"), text("boot_id"),
                  text("pid_namespace"), whole("start_time"))
