"""The contract server of the documented VSP REST API (tests/vsp_contract.py) over HTTPS on
127.0.0.1: one test CA per session, a fresh server (state, counts) per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pki import TestPki, make_pki
from tests.vsp_contract import ContractServer, serve


@pytest.fixture(scope="session")
def vsp_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return make_pki(tmp_path_factory.mktemp("vsp-pki"))


@pytest.fixture
def vsp(vsp_pki: TestPki) -> Iterator[ContractServer]:
    """A contract server of the documented API, not an array."""
    with serve(vsp_pki) as server:
        yield server


@pytest.fixture
def credentials_file(tmp_path: Path) -> Path:
    from tests.vsp_contract import PASSWORD, USER

    path = tmp_path / "vsp.credentials"
    path.write_text(f"{USER}:{PASSWORD}\n", encoding="utf-8")
    path.chmod(0o600)
    return path
