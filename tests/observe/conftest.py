"""A real Prometheus server for the exporter's tests: one per test session (per xdist
worker), on loopback, with its own configuration and storage, evaluating the package's
alert rules; stopped when the session ends."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from capacity.observe.alerts import RULES
from tests.prometheus import PrometheusServer, missing_tools, start_prometheus


def need_prometheus() -> None:
    missing = missing_tools()
    if missing:
        message = (f"Prometheus not installed ({', '.join(missing)}); scripts/test-all"
                   " installs Debian's prometheus package")
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must never pass by skipping the Prometheus half
        pytest.skip(message)


@pytest.fixture
def promtool_installed() -> None:
    need_prometheus()


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    need_prometheus()
    server = start_prometheus(tmp_path_factory.mktemp("prometheus"), {"capacity": RULES})
    try:
        yield server
    finally:
        server.stop()
