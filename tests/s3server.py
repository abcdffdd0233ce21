"""A real S3-speaking server for tests: moto's standalone server (``moto[server]``), on
127.0.0.1 at a free high port, in a process of its own that the fixture stops.

It speaks the S3 REST API over HTTP, so what talks to it (boto3, curl with presigned URLs)
does what it would against an object archive.  It is not an object store: what it does
not enforce is listed in ``NOT_ENFORCED`` and tested as such in tests/s3, so that the
engine refuses those things itself.
"""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.pki import TestPki

START_TIMEOUT = 20.0

NOT_ENFORCED = {
    "shortening a compliance retention": "put_object_retention moves a COMPLIANCE date"
    " earlier; S3 refuses it",
    "the governance bypass permission": "any caller may send"
    " x-amz-bypass-governance-retention; S3 asks for s3:BypassGovernanceRetention too",
    "a multipart upload's lock": "the retention and legal hold given when a multipart upload"
    " starts are not carried to the object it completes; S3 carries them",
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

    def client(self, verify: bool | str = True) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=self.region,
                            aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, verify=verify)

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


CORRECTED = {
    "folders of deleted objects": "a delimited listing of a versioned bucket names a folder"
    " whose objects are all behind delete markers; AWS and Ceph name none (SeaweedFS had the"
    " same bug, its issue 10416)",
    "checking a sent checksum": "an object or part sent with x-amz-checksum-sha256 is stored"
    " whatever its bytes (moto: 'TODO: AWS computes the provided value and verifies it');"
    " S3 refuses a mismatch with BadDigest and stores nothing",
}
"""What moto's server gets wrong and this module corrects in it (:func:`_correct_moto`)."""


TRAP = "capacity-test-trap"
"""An object tagged ``capacity-test-trap`` (value ``legal-hold``, or ``compliance:DATE``) is
locked by the server itself the instant a DeleteObject of one of its versions arrives, just
before moto judges it: what another party (a legal team, an administrator) does between the
engine's own check of the locks and its delete.  The server's refusal is then its own
(moto enforces legal holds and retentions on a delete with a VersionId)."""


def server_command() -> list[str]:
    """moto's server, corrected (:data:`CORRECTED`), in the interpreter the tests run in."""
    try:
        import moto.server  # noqa: F401 - only to say clearly when it is missing
    except ImportError:
        raise RuntimeError("moto's server is not installed: install the test extras"
                           " (pip install -e '.[test]')") from None
    return [sys.executable, str(Path(__file__).resolve())]


def _correct_moto() -> None:
    from moto.s3.models import FakeDeleteMarker, S3Backend

    original = S3Backend.list_objects

    def list_objects(self: Any, bucket: Any, prefix: Any, delimiter: Any, marker: Any,
                     max_keys: Any) -> Any:
        keys, folders, truncated, next_marker = original(self, bucket, prefix, delimiter,
                                                         marker, max_keys)
        if delimiter and folders:
            live = [name for name, key in bucket.keys.items()
                    if not isinstance(key, FakeDeleteMarker)]
            folders = [f for f in folders if any(name.startswith(f) for name in live)]
        return keys, folders, truncated, next_marker

    S3Backend.list_objects = list_objects  # type: ignore[method-assign]

    from moto.s3.exceptions import S3ClientError
    from moto.s3.responses import S3Response

    def checked(handler: Any) -> Any:
        def check_then_store(self: Any) -> Any:
            sent = self.headers.get("x-amz-checksum-sha256")
            if sent:
                body = self.body if isinstance(self.body, bytes) else self.body.encode()
                if base64.b64encode(hashlib.sha256(body).digest()).decode() != sent:
                    raise S3ClientError("BadDigest", "The SHA256 you specified did not match"
                                        " the calculated checksum.")
            return handler(self)
        return check_then_store

    original_delete = S3Response.delete_object

    def trapped_delete(self: Any) -> Any:
        version = self._get_param("versionId")
        if version:
            key = self.backend.get_object(self.bucket_name, self.parse_key_name(),
                                          version_id=version)
            tags = {t["Key"]: t["Value"] for t in
                    self.backend.get_object_tagging(key).get("Tags", [])} if key else {}
            trap = tags.get(TRAP, "")
            if trap == "legal-hold":
                key.lock_legal_status = "ON"
            elif trap.startswith("compliance:"):
                key.lock_mode = "COMPLIANCE"
                key.lock_until = f"{trap.partition(':')[2]}T00:00:00Z"
        return original_delete(self)

    S3Response.delete_object = trapped_delete  # type: ignore[method-assign]
    S3Response.put_object = checked(S3Response.put_object)  # type: ignore[method-assign]
    S3Response.upload_part = checked(S3Response.upload_part)  # type: ignore[method-assign]


def start_s3(workdir: Path, tls: TestPki | None = None) -> S3Server:
    """The server on a free port; over HTTPS with ``tls``'s certificate when given."""
    port = _free_port()
    log = workdir / "moto.log"
    https = ["-c", str(tls.cert), "-k", str(tls.key)] if tls else []
    with log.open("wb") as out:
        process = subprocess.Popen([*server_command(), "-H", "127.0.0.1", "-p", str(port),
                                    *https],
                                   stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd=workdir,
                                   env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "1"})
    server = S3Server(f"{'https' if tls else 'http'}://127.0.0.1:{port}", process, log)
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


if __name__ == "__main__":
    _correct_moto()
    from moto.server import main

    main(sys.argv[1:])
