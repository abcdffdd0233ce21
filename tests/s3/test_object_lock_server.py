"""The test archive's Object Lock, through its S3 API: what it refuses as an S3 archive with
Object Lock does, and what it lets through (``tests.s3server.NOT_ENFORCED``), which the
engine must therefore refuse itself.  Every object is written with a SHA-256 checksum, and
the server's checksum is checked against hashlib's."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.s3server import NOT_ENFORCED, S3Server

TOMORROW = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)


@pytest.fixture
def bucket(s3: S3Server) -> tuple[Any, str]:
    client = s3.client()
    name = f"archive-{secrets.token_hex(4)}"
    client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True,
                         CreateBucketConfiguration={"LocationConstraint": s3.region})
    return client, name


def refused(call: Callable[[], object]) -> str:
    with pytest.raises(ClientError) as info:
        call()
    return str(info.value.response["Error"]["Code"])


def put(client: Any, bucket: str, key: str, body: bytes, **lock: Any) -> str:
    answer = client.put_object(Bucket=bucket, Key=key, Body=body, ChecksumAlgorithm="SHA256",
                               **lock)
    assert base64.b64decode(answer["ChecksumSHA256"]) == hashlib.sha256(body).digest()
    return str(answer["VersionId"])


def test_a_bucket_with_object_lock_keeps_versions(bucket: tuple[Any, str]) -> None:
    client, name = bucket
    lock = client.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    assert client.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"


def test_a_compliance_lock_is_neither_deleted_nor_overwritten(bucket: tuple[Any, str]) -> None:
    client, name = bucket
    version = put(client, name, "study/IM1.dcm", b"image", ObjectLockMode="COMPLIANCE",
                  ObjectLockRetainUntilDate=TOMORROW)
    assert refused(lambda: client.delete_object(
        Bucket=name, Key="study/IM1.dcm", VersionId=version)) == "AccessDenied"
    assert refused(lambda: client.delete_object(
        Bucket=name, Key="study/IM1.dcm", VersionId=version,
        BypassGovernanceRetention=True)) == "AccessDenied"
    # A write to the same key makes a new version; the locked one stays as it was.
    put(client, name, "study/IM1.dcm", b"ransomware")
    old = client.get_object(Bucket=name, Key="study/IM1.dcm", VersionId=version)
    assert old["Body"].read() == b"image"
    # So does a delete without a version: a delete marker, the locked version untouched.
    client.delete_object(Bucket=name, Key="study/IM1.dcm")
    old = client.get_object(Bucket=name, Key="study/IM1.dcm", VersionId=version)
    assert old["Body"].read() == b"image"


def test_governance_gives_way_only_to_the_explicit_bypass(bucket: tuple[Any, str]) -> None:
    client, name = bucket
    version = put(client, name, "g", b"g", ObjectLockMode="GOVERNANCE",
                  ObjectLockRetainUntilDate=TOMORROW)
    assert refused(lambda: client.delete_object(Bucket=name, Key="g",
                                                VersionId=version)) == "AccessDenied"
    client.delete_object(Bucket=name, Key="g", VersionId=version,
                         BypassGovernanceRetention=True)
    assert refused(lambda: client.head_object(Bucket=name, Key="g", VersionId=version))


def test_a_legal_hold_blocks_deletion_even_with_the_bypass(bucket: tuple[Any, str]) -> None:
    client, name = bucket
    version = put(client, name, "h", b"h", ObjectLockLegalHoldStatus="ON")
    for bypass in (False, True):
        assert refused(lambda bypass=bypass: client.delete_object(
            Bucket=name, Key="h", VersionId=version,
            BypassGovernanceRetention=bypass)) == "AccessDenied"
    client.put_object_legal_hold(Bucket=name, Key="h", VersionId=version,
                                 LegalHold={"Status": "OFF"})
    client.delete_object(Bucket=name, Key="h", VersionId=version)


def test_what_the_test_server_does_not_enforce(bucket: tuple[Any, str]) -> None:
    """These pass here and fail against an archive: the engine checks them itself."""
    client, name = bucket
    assert set(NOT_ENFORCED) == {"shortening a compliance retention",
                                 "the governance bypass permission",
                                 "a multipart upload's lock"}
    version = put(client, name, "c", b"c", ObjectLockMode="COMPLIANCE",
                  ObjectLockRetainUntilDate=TOMORROW)
    client.put_object_retention(Bucket=name, Key="c", VersionId=version, Retention={
        "Mode": "COMPLIANCE", "RetainUntilDate": TOMORROW - dt.timedelta(hours=12)})
    shortened = client.head_object(Bucket=name, Key="c", VersionId=version)
    assert shortened["ObjectLockRetainUntilDate"] < TOMORROW - dt.timedelta(hours=11)
    upload = client.create_multipart_upload(Bucket=name, Key="m", ChecksumAlgorithm="SHA256",
                                            ObjectLockMode="COMPLIANCE",
                                            ObjectLockRetainUntilDate=TOMORROW)
    part = client.upload_part(Bucket=name, Key="m", UploadId=upload["UploadId"],
                              PartNumber=1, Body=b"m", ChecksumAlgorithm="SHA256")
    client.complete_multipart_upload(Bucket=name, Key="m", UploadId=upload["UploadId"],
                                     MultipartUpload={"Parts": [{
                                         "PartNumber": 1, "ETag": part["ETag"],
                                         "ChecksumSHA256": part["ChecksumSHA256"]}]})
    assert "ObjectLockMode" not in client.head_object(Bucket=name, Key="m")


def test_a_multipart_upload_checks_each_part_and_an_abort_leaves_none(
        bucket: tuple[Any, str]) -> None:
    client, name = bucket
    parts = [secrets.token_bytes(5 << 20), secrets.token_bytes(1000)]
    upload = client.create_multipart_upload(Bucket=name, Key="big", ChecksumAlgorithm="SHA256")
    for number, data in enumerate(parts, 1):
        answer = client.upload_part(Bucket=name, Key="big", UploadId=upload["UploadId"],
                                    PartNumber=number, Body=data, ChecksumAlgorithm="SHA256")
        assert base64.b64decode(answer["ChecksumSHA256"]) == hashlib.sha256(data).digest()
    listed = client.list_multipart_uploads(Bucket=name).get("Uploads", [])
    assert [u["Key"] for u in listed] == ["big"]
    client.abort_multipart_upload(Bucket=name, Key="big", UploadId=upload["UploadId"])
    assert client.list_multipart_uploads(Bucket=name).get("Uploads", []) == []
    assert refused(lambda: client.head_object(Bucket=name, Key="big"))
