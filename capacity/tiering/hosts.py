"""From the inventory's hosts to transports.  The inventory names key files and known_hosts
files, never secrets; ssh-agent and ~/.ssh/config are honoured by the SSH transport."""

from __future__ import annotations

import os

from capacity.model import Host
from capacity.transports import SshTarget, SshTransport, Transport
from capacity.transports.base import decode_path

#: How the tier commands (all of which take the flag) say to trust an unknown host key.
TRUST_ADVICE = "run again with --trust-new-host-keys to record it"


def ssh_target(host: Host, *, trust_on_first_use: bool = False) -> SshTarget:
    def expand(path: str | None) -> str | None:
        return os.path.expanduser(path) if path else None

    return SshTarget(host=host.address, port=host.port, user=host.user,
                     key_filename=expand(host.key), known_hosts=expand(host.known_hosts),
                     trust_on_first_use=trust_on_first_use,
                     unknown_key_advice=TRUST_ADVICE)


def connect(host: Host, *, trust_on_first_use: bool = False) -> Transport:
    """A transport to the host; connections are pooled, so this is cheap to call again."""
    return SshTransport(ssh_target(host, trust_on_first_use=trust_on_first_use))


def real_roots(transport: Transport, host: Host) -> dict[str, str]:
    """Tier -> its root with every symbolic link resolved, on the host (missing roots are
    left out: the scan of that tier says so)."""
    names = list(host.tiers)
    result = transport.run(["realpath", "-z", "-q", "-e", "--",
                            *(host.tiers[t].path for t in names)], check=False)
    resolved = [decode_path(p) for p in result.stdout.split(b"\0")[:-1]]
    if len(resolved) != len(names):  # some root is missing: resolve one by one
        resolved = []
        for tier in names:
            one = transport.run(["realpath", "-z", "-q", "-e", "--", host.tiers[tier].path],
                                check=False)
            resolved.append(decode_path(one.stdout.rstrip(b"\0")) if one.ok else "")
    return {t: r for t, r in zip(names, resolved, strict=True) if r}
