"""What the S3 transport does beyond the shared contract (tests/transports runs that on it):
the server checks every byte it stores against the SHA-256 sent with it, large objects go up
in parts that each carry their own, an interrupted upload leaves no parts behind, the sums
read back are the server's, and credentials come from the environment or a profile only.
Everything runs against the real S3-speaking server on 127.0.0.1 (tests/s3server.py); sums
are checked against hashlib, and stored bytes by reading them back with a plain boto3 client.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from capacity.transports import (
    Capability,
    ConnectionLost,
    NotFound,
    OperationFailed,
    PermissionDenied,
)
from capacity.transports.base import TransportError
from capacity.transports.s3 import (
    MIN_PART,
    S3Target,
    S3Transport,
    composite_sha256,
    parse_s3,
)
from tests.pki import TestPki
from tests.s3server import S3Server

MiB = 1024 * 1024


@pytest.fixture
def with_credentials(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The server's credentials in the environment, as an operator's shell would have them;
    nothing from this machine's own ~/.aws."""
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    return s3


@pytest.fixture
def store(with_credentials: S3Server, s3_bucket: str) -> Iterator[S3Transport]:
    target = S3Target(s3_bucket, f"t-{secrets.token_hex(4)}/",
                      endpoint=with_credentials.endpoint, part_size=MIN_PART)
    with S3Transport(target) as t:
        yield t


def stored(s3: S3Server, t: S3Transport, path: str) -> bytes:
    """The object's bytes as a plain S3 client reads them, not through the transport."""
    answer = s3.client().get_object(Bucket=t.target.bucket, Key=t.key(path))
    return bytes(answer["Body"].read())


def test_an_object_store_declares_what_it_lacks(store: S3Transport) -> None:
    assert store.capabilities == Capability.HASH_TREE
    for missing in (Capability.RENAME, Capability.DIRECTORIES, Capability.SPACE,
                    Capability.RUN, Capability.COPY_ON_HOST, Capability.FLUSH,
                    Capability.SYMLINKS, Capability.BYTE_NAMES):
        assert not store.has(missing)


def test_paths_name_keys_under_the_prefix(s3: S3Server, store: S3Transport) -> None:
    store.write("/2019/03/STUDY 1/IM1.dcm", b"DICM")
    prefix = store.target.prefix
    keys = [o["Key"] for o in s3.client().list_objects_v2(
        Bucket=store.target.bucket, Prefix=prefix)["Contents"]]
    assert keys == [f"{prefix}2019/03/STUDY 1/IM1.dcm"]
    assert store.key("2019//03/") == f"{prefix}2019/03"
    for bad in ("/a/../b", "/a/./b"):
        with pytest.raises(ValueError):
            store.key(bad)


def test_the_server_refuses_bytes_that_do_not_match_their_sum(
        s3: S3Server, store: S3Transport, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each put carries the SHA-256 of what the caller meant to send; the server compares it
    with what arrived and stores nothing on a mismatch (here: a sum of other bytes)."""
    import capacity.transports.s3 as s3_module

    store.write("/IM1.dcm", b"the first version")
    real = s3_module.sha256_b64
    monkeypatch.setattr(s3_module, "sha256_b64", lambda data: real(data + b"!"))
    with pytest.raises(OperationFailed, match="checksum"):
        store.write("/IM1.dcm", b"bytes damaged on the way")
    with pytest.raises(OperationFailed, match="checksum"):
        store.write("/IM2.dcm", b"never stored")
    assert stored(s3, store, "/IM1.dcm") == b"the first version"
    assert store.stat("/IM2.dcm") is None


def test_hash_tree_gives_the_servers_own_sums(store: S3Transport,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    files = {"IM1.dcm": b"one", "series 2/IM2.dcm": b"two" * 1000, "empty.dcm": b""}
    for rel, data in files.items():
        store.write(f"/study/{rel}", data)
    # Whole-object sums are the server's: nothing is read back to get them.
    monkeypatch.setattr(store, "stream_object", lambda path: pytest.fail(f"read {path}"))
    assert store.hash_tree("/study") == {rel: hashlib.sha256(d).hexdigest()
                                         for rel, d in files.items()}
    assert store.hash_tree("/study/IM1.dcm") == {"": hashlib.sha256(b"one").hexdigest()}
    with pytest.raises(NotFound):
        store.hash_tree("/missing")


def test_a_large_object_goes_up_in_parts_each_checked(s3: S3Server,
                                                      store: S3Transport) -> None:
    data = os.urandom(2 * MIN_PART + 12345)  # three parts, the last one short
    returned = store.upload("/study/CT.dcm", io.BytesIO(data), len(data))
    parts = [data[i:i + MIN_PART] for i in range(0, len(data), MIN_PART)]
    expected = base64.b64encode(hashlib.sha256(b"".join(
        hashlib.sha256(p).digest() for p in parts)).digest()).decode() + "-3"
    assert returned == expected == composite_sha256([hashlib.sha256(p).digest()
                                                     for p in parts])
    head = s3.client().head_object(Bucket=store.target.bucket, Key=store.key("/study/CT.dcm"),
                                   ChecksumMode="ENABLED")
    assert head["ContentLength"] == len(data)
    assert head["ChecksumSHA256"].split("-")[0] == expected.split("-")[0]
    assert stored(s3, store, "/study/CT.dcm") == data
    # The server holds a sum of the parts: the whole file's is read back and hashed.
    assert store.hash_tree("/study") == {"CT.dcm": hashlib.sha256(data).hexdigest()}
    assert store.unfinished_uploads("/") == []


def test_a_small_upload_is_one_checked_put(s3: S3Server, store: S3Transport) -> None:
    data = b"DICM" * 1000
    assert store.upload("/IM1.dcm", io.BytesIO(data), len(data)) == base64.b64encode(
        hashlib.sha256(data).digest()).decode()
    assert stored(s3, store, "/IM1.dcm") == data


class FailsAfter(io.RawIOBase):
    """A source that breaks after ``limit`` bytes, as a host's disk or link might."""

    def __init__(self, data: bytes, limit: int) -> None:
        self.data, self.limit, self.at = data, limit, 0

    def read(self, size: int = -1) -> bytes:
        if self.at >= self.limit:
            raise OSError(5, "Input/output error")
        chunk = self.data[self.at:self.at + size]
        self.at += len(chunk)
        return chunk


def test_a_failed_upload_is_aborted_and_leaves_nothing(store: S3Transport) -> None:
    data = os.urandom(3 * MIN_PART)
    with pytest.raises(OSError, match="Input/output error"):
        store.upload("/study/CT.dcm", FailsAfter(data, MIN_PART + 1), len(data))
    assert store.unfinished_uploads("/") == []
    assert store.stat("/study/CT.dcm") is None
    with pytest.raises(OperationFailed, match="changed while read"):
        store.upload("/study/CT.dcm", io.BytesIO(data[:-1]), len(data))
    assert store.unfinished_uploads("/") == []


def test_uploads_a_killed_controller_left_are_found_and_aborted(s3: S3Server,
                                                                store: S3Transport) -> None:
    client = s3.client()
    for name in ("study/CT1.dcm", "study/CT2.dcm", "other/CT.dcm"):
        upload = client.create_multipart_upload(Bucket=store.target.bucket,
                                                Key=store.target.prefix + name,
                                                ChecksumAlgorithm="SHA256")
        client.upload_part(Bucket=store.target.bucket, Key=store.target.prefix + name,
                           UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * MIN_PART)
    assert sorted(k for k, _ in store.unfinished_uploads("/study")) == [
        store.key("/study/CT1.dcm"), store.key("/study/CT2.dcm")]
    assert store.abort_uploads("/study") == 2
    assert store.unfinished_uploads("/study") == []
    assert [k for k, _ in store.unfinished_uploads("/")] == [store.key("/other/CT.dcm")]
    assert store.abort_uploads("/") == 1
    assert client.list_multipart_uploads(Bucket=store.target.bucket,
                                         Prefix=store.target.prefix).get("Uploads", []) == []


def test_a_delete_in_a_versioned_bucket_leaves_a_delete_marker(s3: S3Server,
                                                               store: S3Transport) -> None:
    store.write("/study/IM1.dcm", b"image")
    store.delete("/study/IM1.dcm")
    assert store.stat("/study/IM1.dcm") is None and store.stat("/study") is None
    versions = s3.client().list_object_versions(Bucket=store.target.bucket,
                                                Prefix=store.key("/study/IM1.dcm"))
    assert len(versions["Versions"]) == 1 and len(versions["DeleteMarkers"]) == 1


def test_credentials_come_from_a_profile(s3: S3Server, s3_bucket: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    credentials = tmp_path / "credentials"
    credentials.write_text(f"[archive]\naws_access_key_id = {s3.access_key}\n"
                           f"aws_secret_access_key = {s3.secret_key}\n")
    credentials.chmod(0o600)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    target = S3Target(s3_bucket, "profiled/", endpoint=s3.endpoint, region=s3.region,
                      profile="archive")
    with S3Transport(target) as t:
        t.write("/IM1.dcm", b"x")
        assert t.read("/IM1.dcm") == b"x"


def test_without_credentials_the_refusal_says_where_they_come_from(
        s3: S3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    target = S3Target(s3_bucket, "nobody/", endpoint=s3.endpoint, region=s3.region)
    with S3Transport(target) as t, pytest.raises(PermissionDenied,
                                                 match=r"AWS_ACCESS_KEY_ID.*profile"):
        t.write("/IM1.dcm", b"x")


def test_targets_refuse_plain_http_off_this_machine_and_bad_names() -> None:
    for endpoint in ("http://archive.example", "http://10.0.0.5:9000", "ftp://x"):
        with pytest.raises(ValueError):
            S3Target("archive", endpoint=endpoint)
    for endpoint in ("https://hcp.example:443", "http://127.0.0.1:9000",
                     "http://[::1]:9000", "http://localhost:9000"):
        S3Target("archive", endpoint=endpoint)
    for bad in ({"bucket": ""}, {"bucket": "a/b"}, {"bucket": "a", "prefix": "/abs/"},
                {"bucket": "a", "prefix": "no-slash"}, {"bucket": "a", "part_size": MiB}):
        with pytest.raises(ValueError):
            S3Target(**bad)  # type: ignore[arg-type]
    target = parse_s3("s3://pacs-archive/hospital-a/pacs", region="eu-central-1")
    assert (target.bucket, target.prefix, target.region) == (
        "pacs-archive", "hospital-a/pacs/", "eu-central-1")
    assert parse_s3("s3://pacs-archive").prefix == ""
    with pytest.raises(ValueError):
        parse_s3("https://pacs-archive/x")


def test_a_missing_bucket_is_not_found(with_credentials: S3Server) -> None:
    with S3Transport(S3Target("no-such-bucket-here", endpoint=with_credentials.endpoint)) as t:
        with pytest.raises(NotFound):
            t.read("/IM1.dcm")
        with pytest.raises(TransportError):
            t.write("/IM1.dcm", b"x")


def test_tls_is_verified_against_the_system_or_the_named_ca(
        s3_tls: tuple[S3Server, TestPki], monkeypatch: pytest.MonkeyPatch) -> None:
    server, pki = s3_tls
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    server.client(verify=str(pki.ca)).create_bucket(
        Bucket="tls-archive", CreateBucketConfiguration={"LocationConstraint": server.region})
    assert server.endpoint.startswith("https://")
    for ca_bundle in (None, str(pki.other_ca)):  # the system's CAs; a CA that signed nothing
        target = S3Target("tls-archive", endpoint=server.endpoint, ca_bundle=ca_bundle)
        with S3Transport(target) as t, pytest.raises(ConnectionLost, match=r"(?i)certificate"):
            t.write("/IM1.dcm", b"never sent")
    with S3Transport(S3Target("tls-archive", endpoint=server.endpoint,
                              ca_bundle=str(pki.ca))) as t:
        t.write("/IM1.dcm", b"sent over verified TLS")
        assert t.read("/IM1.dcm") == b"sent over verified TLS"
    assert [o["Key"] for o in server.client(verify=str(pki.ca)).list_objects_v2(
        Bucket="tls-archive")["Contents"]] == ["IM1.dcm"]
