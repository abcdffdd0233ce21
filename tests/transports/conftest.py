"""Real parts for the transport tests: an OpenSSH server, and every backend as a fixture.

``sshd`` (tests/conftest.py, session scope, so one server per pytest-xdist worker) is a
real OpenSSH server on 127.0.0.1; see tests/sshd.py.

``transport`` is parametrised over every backend: a test that takes it is a conformance test
that each transport must pass.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from capacity.transports import LocalTransport, SshTarget, SshTransport, Transport

# --------------------------------------------------------------------------- every backend

BACKENDS = ["local", "ssh"]


@pytest.fixture(params=BACKENDS)
def transport(request: pytest.FixtureRequest) -> Iterator[Transport]:
    """Each transport in turn; the files it touches are local, so tests can check them."""
    if request.param == "local":
        with LocalTransport() as local:
            yield local
    else:
        target: SshTarget = request.getfixturevalue("ssh_target")
        with SshTransport(target) as ssh:
            yield ssh
