"""Fixtures of the tiering tests; each name starts with the feature it serves (``scan_``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.sshd import SshServer


@pytest.fixture
def scan_write_inventory(tmp_path: Path) -> Callable[..., Path]:
    """Write an inventory holding ``hosts`` (name -> Host fields) and ``policies``."""

    def write(hosts: dict[str, dict[str, Any]], policies: dict[str, Any] | None = None,
              name: str = "inventory.yaml") -> Path:
        data = {"name": "scan test", "as_of": "2026-11-01",
                "sites": {"s": {"role": "primary"}}, "hosts": hosts, "policies": policies or {}}
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
        return path

    return write


@pytest.fixture
def scan_ssh_host(sshd: SshServer) -> Callable[..., dict[str, Any]]:
    """Host fields that reach the test sshd, with ``tiers`` (name -> root) and overrides."""

    def host(tiers: dict[str, Path | str], **overrides: Any) -> dict[str, Any]:
        return {"address": sshd.host, "port": sshd.port, "user": sshd.user,
                "key": sshd.client_key, "known_hosts": sshd.known_hosts,
                "tiers": {name: str(root) for name, root in tiers.items()}, **overrides}

    return host
