"""Real parts for the transport tests: an OpenSSH server, and every backend as a fixture.

``sshd`` (tests/conftest.py, session scope, so one server per pytest-xdist worker) is a
real OpenSSH server on 127.0.0.1; see tests/sshd.py.

``transport`` is parametrised over every backend: local, ssh, ``bare``, this machine's
files through the file operations alone (no commands), so the contract's own defaults pass
the suite too, and ``s3``, a prefix in a bucket of the test S3 server (tests/s3server.py),
an object store with no rename and no directories of its own.  A test here that takes it
is a conformance test that each transport must pass.  ``base`` is a fresh directory made
through the transport: the conformance tests build their files there through the transport
under test, and read them back through it only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest

from capacity.transports import Transport
from tests.transports.test_capabilities import EVERY_BACKEND, opened


@pytest.fixture(params=EVERY_BACKEND)
def transport(request: pytest.FixtureRequest) -> Iterator[Transport]:
    yield from opened(request)


@pytest.fixture
def base(transport: Transport, tmp_path: Path) -> PurePosixPath:
    """An empty directory on the transport's host, made through it.  A pure path: nothing
    can reach it but the transport.  (Every backend here stores on this machine, so it
    lies under pytest's tmp_path; one that does not would name its own scratch folder.)"""
    path = PurePosixPath(tmp_path, "t")
    transport.mkdir(str(path), parents=False)
    return path
