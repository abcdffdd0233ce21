"""A real S3-speaking server for tests: moto's standalone server (``moto[server]``), on
127.0.0.1 at a free high port, in a process of its own that the fixture stops.

It speaks the S3 REST API over HTTP, so what talks to it (boto3, curl with presigned URLs)
does what it would against an object archive.  It is not an object store: what it does
not enforce is listed in ``NOT_ENFORCED`` and tested as such in tests/s3, so that the
engine refuses those things itself.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

START_TIMEOUT = 20.0

NOT_ENFORCED = {
    "shortening a compliance retention": "put_object_retention moves a COMPLIANCE date"
    " earlier; S3 refuses it",
    "the governance bypass permission": "any caller may send"
    " x-amz-bypass-governance-retention; S3 asks for s3:BypassGovernanceRetention too",
}
"""What moto's server lets through that an S3 archive with Object Lock refuses."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class S3Server:
    """A running server; credentials are any pair (it checks none, as no store should be
    trusted to)."""

    endpoint: str
    process: subprocess.Popen[bytes]
    log: Path
    access_key: str = "capacity-test"
    secret_key: str = "capacity-test-secret"
    region: str = "eu-central-1"

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=self.region,
                            aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key)

    def env(self) -> dict[str, str]:
        """The environment a command needs to reach the server (credentials never in YAML)."""
        return {"AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_DEFAULT_REGION": self.region}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def server_command() -> list[str]:
    """moto's server from the environment the tests run in."""
    beside = Path(sys.executable).with_name("moto_server")
    found = str(beside) if beside.exists() else shutil.which("moto_server")
    if found is None:
        raise RuntimeError("moto_server not found: install the test extras"
                           " (pip install -e '.[test]')")
    return [found]


def start_s3(workdir: Path) -> S3Server:
    port = _free_port()
    log = workdir / "moto.log"
    with log.open("wb") as out:
        process = subprocess.Popen([*server_command(), "-H", "127.0.0.1", "-p", str(port)],
                                   stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd=workdir,
                                   env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "1"})
    server = S3Server(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited {process.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return server
        except OSError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"moto_server did not listen within {START_TIMEOUT} s:\n"
                       f"{log.read_text()}")
