"""From the inventory's hosts to transports.  The inventory names key files and known_hosts
files, never secrets; ssh-agent and ~/.ssh/config are honoured by the SSH transport."""

from __future__ import annotations

import os
import posixpath
from typing import TYPE_CHECKING

from capacity.model import Host
from capacity.transports import Capability, CommandFailed, NotFound, Transport, Unsupported

if TYPE_CHECKING:
    from capacity.model import HostTier, Inventory
    from capacity.transports.s3 import S3Target
    from capacity.transports.ssh import SshTarget

#: How the tier commands (all of which take the flag) say to trust an unknown host key.
TRUST_ADVICE = "run again with --trust-new-host-keys to record it"


def ssh_target(host: Host, *, trust_on_first_use: bool = False) -> SshTarget:
    from capacity.transports.ssh import SshTarget  # paramiko: only when a host is reached

    def expand(path: str | None) -> str | None:
        return os.path.expanduser(path) if path else None

    return SshTarget(host=host.address, port=host.port, user=host.user,
                     key_filename=expand(host.key), known_hosts=expand(host.known_hosts),
                     trust_on_first_use=trust_on_first_use,
                     unknown_key_advice=TRUST_ADVICE)


def s3_target(inventory: Inventory, tier: HostTier) -> S3Target:
    """Where a bucket tier lives: its bucket on the object store its ``storage`` names,
    reached where that store's ``s3`` says (``validate`` has checked that it says).  Paths
    on the transport are keys below the bucket: the tier's root is ``tier.path``."""
    from capacity.transports.s3 import S3Target

    assert tier.bucket is not None and tier.storage is not None, "a bucket tier"
    api = inventory.object_stores[tier.storage].s3
    assert api is not None, "validate checks that a bucket tier's store has s3"
    return S3Target(bucket=tier.bucket, endpoint=api.endpoint, region=api.region,
                    profile=api.profile,
                    ca_bundle=os.path.expanduser(api.ca_bundle) if api.ca_bundle else None)


def connect(host: Host, *, trust_on_first_use: bool = False) -> Transport:
    """A transport to the host; connections are pooled, so this is cheap to call again."""
    from capacity.transports.ssh import SshTransport

    return SshTransport(ssh_target(host, trust_on_first_use=trust_on_first_use))


def resolve(transport: Transport, path: str, *, must_exist: bool = True) -> str:
    """``path`` with every symbolic link resolved on the host.  A store without symbolic
    links cannot lead a path elsewhere, so there the path is its own resolution; one with
    links but no way to resolve them cannot prove a path stays in its tier: refused."""
    if transport.has(Capability.REALPATH):
        return transport.realpath(path, must_exist=must_exist)
    if transport.has(Capability.SYMLINKS):
        raise Unsupported(transport.label, Capability.REALPATH,
                          "prove that a path does not lead out of its tier")
    if must_exist and not transport.exists(path):
        raise NotFound(f"{path}: No such file or directory", path=path, host=transport.label)
    return posixpath.normpath(path)


def resolve_many(transport: Transport, paths: list[str]) -> list[str]:
    """:func:`resolve` of each of ``paths``, missing parts allowed, in one request where the
    transport can."""
    if transport.has(Capability.REALPATH):
        return transport.realpath_many(paths)
    return [resolve(transport, p, must_exist=False) for p in paths]


def real_roots(transport: Transport, host: Host) -> dict[str, str]:
    """Tier -> its root with every symbolic link resolved, on the host (missing roots are
    left out: the scan of that tier says so; bucket tiers are not on the host)."""
    roots: dict[str, str] = {}
    for tier, spec in host.tiers.items():
        if spec.bucket is not None:
            continue  # in an object store, not on the host
        try:
            roots[tier] = resolve(transport, spec.path)
        except (NotFound, CommandFailed):  # as `realpath -q`: the scan of that tier says why
            continue
    return roots
