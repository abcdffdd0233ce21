"""One apply per host at a time: a lock on the controller (flock) and one on the host itself
(a directory in the remote user's home, put in place by an atomic rename with its owner
already inside), so two controllers cannot work on one host either.  A remote lock left by
a controller process that no longer runs (killed, power lost) is recognised and broken."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from capacity.transports import AlreadyExists, Transport


class LockHeld(RuntimeError):
    """Another apply holds the host."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def host_lock(transport: Transport, host: str, locks_dir: Path, remote: str) -> Iterator[None]:
    locks_dir.mkdir(parents=True, exist_ok=True)
    with open(locks_dir / f"{host}.lock", "w") as local:
        try:
            fcntl.flock(local, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(f"another apply on this controller holds host {host}") from None
        _take_remote(transport, host, remote)
        try:
            yield
        finally:
            transport.run(["rm", "-rf", "--", remote], check=False)


def _take_remote(transport: Transport, host: str, remote: str) -> None:
    me = {"controller": socket.gethostname(), "pid": os.getpid()}
    mine = f"{remote}.{me['controller']}.{me['pid']}"
    transport.run(["rm", "-rf", "--", mine], check=False)
    transport.mkdir(mine)
    transport.write(f"{mine}/owner.json", json.dumps(me).encode())
    try:
        for _attempt in range(2):
            try:
                transport.rename(mine, remote)
                return
            except AlreadyExists:
                owner = _owner(transport, remote)
                if (owner.controller == me["controller"] and owner.pid is not None
                        and not _alive(owner.pid)):
                    transport.run(["rm", "-rf", "--", remote], check=False)
                    continue  # its apply was killed: the lock is stale
                raise LockHeld(f"host {host} is locked by {owner.controller} pid"
                               f" {owner.pid} (remove {remote} there if that apply"
                               " is gone)") from None
        raise LockHeld(f"could not take the lock on host {host}")
    finally:
        transport.run(["rm", "-rf", "--", mine], check=False)


@dataclass(frozen=True)
class _Owner:
    """Who holds a remote lock, as far as its owner.json tells; None where it does not."""

    controller: str | None = None
    pid: int | None = None


def _owner(transport: Transport, remote: str) -> _Owner:
    try:
        data = json.loads(transport.read(f"{remote}/owner.json"))
    except (OSError, ValueError):
        return _Owner()
    if not isinstance(data, dict):  # not written by us: nothing to prove the owner gone
        return _Owner()
    controller, pid = data.get("controller"), data.get("pid")
    return _Owner(controller if isinstance(controller, str) else None,
                  pid if isinstance(pid, int) and not isinstance(pid, bool) else None)
