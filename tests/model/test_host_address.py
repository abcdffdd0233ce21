"""A host's address is a host name, an ssh_config alias of that syntax, or an IP address:
nothing that a shell or ssh_config's ``Match exec "... %h"`` would run."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from capacity.model import Host

TIERS = {"hot": "/srv/hot"}


@pytest.mark.parametrize("address", ["pacs1", "pacs-main.hospital.example", "10.1.2.3",
                                     "::1", "fe80::1%eth0", "PACS_DR", "a" * 253])
def test_names_and_addresses_pass(address: str) -> None:
    assert Host(address=address, tiers=TIERS).address == address


@pytest.mark.parametrize("address", ["$(touch${IFS}X)", "`id`", "pacs1;id", "pacs 1",
                                     "-oProxyCommand=id", ".hidden", "pacs1\n", "",
                                     "user@pacs1", "a" * 254, "pacs1|id"])
def test_anything_else_is_refused(address: str) -> None:
    with pytest.raises(ValidationError, match="not a host name or an IP address"):
        Host(address=address, tiers=TIERS)
