"""Real parts for the transport tests: an OpenSSH server, and every backend as a fixture.

``sshd`` (tests/conftest.py, session scope, so one server per pytest-xdist worker) is a
real OpenSSH server on 127.0.0.1; see tests/sshd.py.

``transport`` (tests/conftest.py) is parametrised over every backend: a test here that takes
it is a conformance test that each transport must pass.
"""

