"""Transports: the only code that touches hosts.

One contract (:class:`Transport`), one conformance suite (``tests/transports``), several
backends.  Open one with :func:`open_transport`::

    with open_transport("ssh://pacs@archive1") as host:
        for chunk in host.stream(["find", "/tiers/hot", "-printf", "%s %T@ %p\\\\0"]):
            ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from capacity.transports.base import (
    FILESYSTEM_CAPABILITIES,
    POSIX_CAPABILITIES,
    TEMP_PREFIX,
    AlreadyExists,
    Capability,
    CommandFailed,
    CommandResult,
    CommandTimeout,
    ConnectionLost,
    DiskSpace,
    FileStat,
    HostKeyError,
    HostKeyTrusted,
    NotFound,
    OperationFailed,
    PermissionDenied,
    Transport,
    TransportError,
    Unsupported,
)
from capacity.transports.local import LocalTransport

if TYPE_CHECKING:
    from capacity.transports.ssh import SshTarget, SshTransport, close_all, parse_target

_SSH = ("SshTarget", "SshTransport", "close_all", "parse_target")


def __getattr__(name: str) -> Any:
    """The SSH backend (and paramiko) loads when first asked for, not with the package: most
    commands never reach a host."""
    if name in _SSH:
        from capacity.transports import ssh
        return getattr(ssh, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "FILESYSTEM_CAPABILITIES",
    "POSIX_CAPABILITIES",
    "TEMP_PREFIX",
    "AlreadyExists",
    "Capability",
    "CommandFailed",
    "CommandResult",
    "CommandTimeout",
    "ConnectionLost",
    "DiskSpace",
    "FileStat",
    "HostKeyError",
    "HostKeyTrusted",
    "LocalTransport",
    "NotFound",
    "OperationFailed",
    "PermissionDenied",
    "SshTarget",
    "SshTransport",
    "Transport",
    "TransportError",
    "Unsupported",
    "close_all",
    "open_transport",
    "parse_target",
]


def open_transport(where: str | SshTarget | None = None, **ssh_options: Any) -> Transport:
    """A transport for ``where``: None or ``"local"`` for this machine, an
    :class:`SshTarget`, or an SSH address (see :func:`parse_target`)."""
    from capacity.transports.ssh import SshTarget, SshTransport, parse_target

    if where is None or where == "local":
        if ssh_options:
            raise TypeError(f"SSH options given for the local transport: {sorted(ssh_options)}")
        return LocalTransport()
    if isinstance(where, SshTarget):
        if ssh_options:
            raise TypeError("pass options inside the SshTarget, not beside it")
        return SshTransport(where)
    return SshTransport(parse_target(where, **ssh_options))
