"""Fixtures shared by every test folder: a real OpenSSH server and a real S3-speaking server
(one of each per xdist worker), and every transport in turn."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from capacity.transports import LocalTransport, SshTarget, SshTransport, Transport, close_all
from tests.pki import TestPki, make_pki
from tests.s3server import S3Server, start_s3
from tests.sshd import SSHD, SshServer, start_sshd


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--trials", type=int, default=None,
                     help="kill instants of the tier apply crash test (default 50)")


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """A real OpenSSH server for this test session (one per xdist worker)."""
    missing = [p for p in (SSHD,) if not os.access(p, os.X_OK)]
    missing += [t for t in ("ssh-keygen",) if shutil.which(t) is None]
    if missing:
        message = f"OpenSSH not installed ({', '.join(missing)}); scripts/test-all installs it"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must never pass by skipping the SSH half
        pytest.skip(message)
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    try:
        yield server
    finally:
        close_all()  # client side first, so the server's children exit on their own
        server.stop()


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """An S3-speaking server on 127.0.0.1 for this test session (one per xdist worker)."""
    server = start_s3(tmp_path_factory.mktemp("s3"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[S3Server, TestPki]]:
    """The S3 server over HTTPS, its certificate signed by the tests' own CA."""
    pki = make_pki(tmp_path_factory.mktemp("s3-pki"))
    server = start_s3(tmp_path_factory.mktemp("s3-tls"), tls=pki)
    try:
        yield server, pki
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_bucket(s3: S3Server) -> str:
    """A bucket with Object Lock (so versioned), as an archive's is, for this session."""
    name = "capacity-archive"
    s3.client().create_bucket(Bucket=name, ObjectLockEnabledForBucket=True,
                              CreateBucketConfiguration={"LocationConstraint": s3.region})
    return name


@pytest.fixture(scope="session")
def ssh_target(sshd: SshServer) -> Iterator[SshTarget]:
    """The default target for ``sshd``; one transport stays open so its connection is
    pooled for the whole session, as a long-running tiering job would use it."""
    target = sshd.target()
    with SshTransport(target):
        yield target




@pytest.fixture(params=["local", "ssh"])
def transport(request: pytest.FixtureRequest) -> Iterator[Transport]:
    """Each transport in turn; the files it touches are local, so tests can check them.  A
    test that takes it runs against every backend."""
    if request.param == "local":
        with LocalTransport() as local:
            yield local
    else:
        target: SshTarget = request.getfixturevalue("ssh_target")
        with SshTransport(target) as ssh:
            yield ssh
