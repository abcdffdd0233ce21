"""From the inventory's hosts to transports.  The inventory names key files and known_hosts
files, never secrets; ssh-agent and ~/.ssh/config are honoured by the SSH transport."""

from __future__ import annotations

import os

from capacity.model import Host
from capacity.transports import SshTarget, SshTransport, Transport


def ssh_target(host: Host, *, trust_on_first_use: bool = False) -> SshTarget:
    def expand(path: str | None) -> str | None:
        return os.path.expanduser(path) if path else None

    return SshTarget(host=host.address, port=host.port, user=host.user,
                     key_filename=expand(host.key), known_hosts=expand(host.known_hosts),
                     trust_on_first_use=trust_on_first_use)


def connect(host: Host, *, trust_on_first_use: bool = False) -> Transport:
    """A transport to the host; connections are pooled, so this is cheap to call again."""
    return SshTransport(ssh_target(host, trust_on_first_use=trust_on_first_use))
