"""The real counterparts ``capacity collect`` reads in its tests: the session's sshd
(tests/conftest.py), a Prometheus server (tests/observe) scraping a node_exporter started
per test, and the VSP contract server (tests/arrays)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.arrays.conftest import vsp, vsp_pki  # noqa: F401 - fixtures used here too
from tests.observe.conftest import prometheus  # noqa: F401 - the session's Prometheus
from tests.prometheus import NODE_EXPORTER, Daemon, node_exporter


@pytest.fixture
def exporter_of_filesystems(tmp_path: Path) -> Iterator[Daemon]:
    """node_exporter (filesystem collector only) on a free loopback port for this test."""
    if shutil.which(NODE_EXPORTER) is None:
        message = (f"node_exporter not installed ({NODE_EXPORTER}); scripts/test-all"
                   " installs Debian's prometheus-node-exporter package")
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must never pass by skipping the Prometheus half
        pytest.skip(message)
    with node_exporter(tmp_path) as running:
        yield running
