"""A backup copy from the archive into a bucket on the same store is made inside the store
(CopyObject; UploadPartCopy for an object too large for one copy), never through the
controller; on another store it is streamed, as before.  What passed between the controller
and the store is read from the S3 server's own request log; the copy's bytes from the
server, against the sha256 of the original files."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import secrets
from pathlib import Path
from typing import Any

import yaml

from capacity.transports.s3 import MIN_PART, S3Target, S3Transport
from capacity.units import Years, ends_on
from tests.backup.test_archive_expiry import STUDY, cycle, setup
from tests.s3server import S3Server
from tests.sshd import SshServer


def requests(s3: S3Server, since: int = 0) -> list[str]:
    """The server's log of requests ("METHOD /bucket/key?query"), from line ``since``."""
    lines = s3.log.read_text(errors="replace").splitlines()[since:]
    found = []
    for line in lines:
        quoted = line.partition('"')[2].rpartition('"')[0]
        method, _, rest = quoted.replace("\x1b[33m", "").replace("\x1b[0m", "").partition(" ")
        found.append(f"{method} {rest.rpartition(' HTTP')[0]}")
    return found


def backed_up(tmp: Path, sshd: SshServer, s3: S3Server, bucket: str, dr_endpoint: str | None
              ) -> dict[str, Any]:
    """A study archived, then copied from the archive into a backup bucket whose store is
    the archive's (``dr_endpoint`` None) or reached at another endpoint."""
    client = s3.client()
    backup = f"backup-{secrets.token_hex(4)}"
    client.create_bucket(Bucket=backup, ObjectLockEnabledForBucket=True,
                         CreateBucketConfiguration={"LocationConstraint": s3.region})
    inventory, prefix = setup(tmp, sshd, s3, bucket, {
        "retention": "10y", "lock": {"mode": "compliance"}})
    study = tmp / "hot" / STUDY
    originals = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in study.iterdir()}
    newest = max(p.stat().st_mtime for p in study.iterdir())
    data = yaml.safe_load(inventory.read_text())
    data["object_stores"]["hcp-dr"] = {**data["object_stores"]["hcp1"]}
    if dr_endpoint:
        data["object_stores"]["hcp-dr"]["s3"] = {**data["object_stores"]["hcp1"]["s3"],
                                                 "endpoint": dr_endpoint}
    data["hosts"]["pacs1"]["tiers"]["backup"] = {"storage": "hcp-dr", "bucket": backup,
                                                 "path": "/dr"}
    data["policies"]["life"]["rules"] = [
        {"name": "archive", "from": "hot", "to": "archive", "select": {"older_than": "180d"}},
        {"name": "backup", "action": "copy", "from": "archive", "to": "backup"}]
    inventory.write_text(yaml.safe_dump(data))
    _plan, applied = cycle(s3, tmp, inventory)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    mark = len(requests(s3))
    plan, applied = cycle(s3, tmp, inventory)
    assert [(u["action"], u["source"]) for u in plan["units"]] == [("copy", "archive")]
    assert applied.returncode == 0, applied.stdout + applied.stderr
    log = requests(s3, mark)
    # Independent truth after the log is read: the copy's bytes and locks on the server.
    listed = client.list_object_versions(Bucket=backup, Prefix=f"dr/{STUDY}/")["Versions"]
    assert len(listed) == 4  # three images and the manifest, one version each
    stored = {v["Key"].rpartition("/")[2]: v["Key"] for v in listed}
    assert stored.pop(".capacity-manifest.json")
    assert {name: hashlib.sha256(client.get_object(Bucket=backup, Key=key)["Body"].read())
            .hexdigest() for name, key in stored.items()} == originals
    until = ends_on(Years(10), dt.datetime.fromtimestamp(newest, dt.UTC).date())
    for v in listed:
        head = client.head_object(Bucket=backup, Key=v["Key"], VersionId=v["VersionId"])
        assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"].date()) == (
            "COMPLIANCE", until)
    audit = [json.loads(line) for line in
             (tmp / "state" / "audit.jsonl").read_text().splitlines()]
    uploaded = [a for a in audit if a["step"] == "uploaded" and a["action"] == "copy"]
    return {"log": log, "archive": f"/{bucket}/{prefix}/{STUDY}/", "backup":
            f"/{backup}/dr/{STUDY}/", "by": uploaded[-1]["by"]}


def images(log: list[str], method: str, where: str) -> list[str]:
    return [r for r in log if r.startswith(f"{method} {where}IM")]


def test_a_copy_between_buckets_of_one_store_never_passes_through_the_controller(
        tmp_path: Path, sshd: SshServer, s3: S3Server, s3_bucket: str) -> None:
    found = backed_up(tmp_path, sshd, s3, s3_bucket, None)
    log = found["log"]
    assert found["by"] == "store"
    assert images(log, "GET", found["archive"]) == []  # no image read from the archive
    assert images(log, "GET", found["backup"]) == []  # nor from the backup, to verify
    # One request writes each image (CopyObject, no parts); its lock is set after it.
    assert sorted(r for r in images(log, "PUT", found["backup"]) if "?" not in r) == [
        f"PUT {found['backup']}IM0000{i}.dcm" for i in range(3)]


def test_a_copy_to_another_store_is_streamed_through_the_controller(
        tmp_path: Path, sshd: SshServer, s3: S3Server, s3_bucket: str) -> None:
    other = s3.endpoint.replace("127.0.0.1", "localhost")  # another endpoint: another store
    found = backed_up(tmp_path, sshd, s3, s3_bucket, other)
    assert found["by"] == "controller"
    assert len(images(found["log"], "GET", found["archive"])) == 3  # each read once


def test_an_object_too_large_for_one_copy_is_copied_in_parts_inside_the_store(
        s3: S3Server, s3_bucket: str) -> None:
    """UploadPartCopy, in the target's parts: the bytes stay in the store, and the copy is
    the original's bytes (read back here, by the test, from the server)."""
    prefix = f"parts-{secrets.token_hex(4)}/"
    data = secrets.token_bytes(2 * MIN_PART + 12345)
    source = S3Transport(S3Target(bucket=s3_bucket, prefix=prefix, endpoint=s3.endpoint,
                                  region=s3.region), client=s3.client())
    source.write("/a/IM1.dcm", data)
    target = S3Transport(dataclasses.replace(source.target, prefix=prefix + "copy/",
                                             part_size=MIN_PART, single_put_limit=MIN_PART),
                         client=s3.client())
    assert target.same_store(source)
    mark = len(requests(s3))
    sent = target.copy_from(source, "/a/IM1.dcm", "/a/IM1.dcm", len(data))
    log = requests(s3, mark)
    assert not [r for r in log if r.startswith(f"GET /{s3_bucket}/")]  # no object read here
    copied = [r for r in log if r.startswith(f"PUT /{s3_bucket}/{prefix}copy/a/IM1.dcm?")]
    assert len(copied) == 3 and all("partNumber=" in r for r in copied)
    assert target.unfinished_uploads("/") == []
    body = s3.client().get_object(Bucket=s3_bucket, Key=f"{prefix}copy/a/IM1.dcm")["Body"]
    assert hashlib.sha256(body.read()).hexdigest() == hashlib.sha256(data).hexdigest()
    assert target.read_sha256("/a/IM1.dcm") == hashlib.sha256(data).hexdigest()
    assert sent == "" or sent.endswith("-3")
