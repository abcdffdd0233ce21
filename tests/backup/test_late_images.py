"""A study that gains images after it went into a bucket (a late series, a report), through
the CLI, the test sshd and the S3 server: its backup copy and its archive grow by a new
manifest version listing every file, written last; only the new images are written (one
version each), the earlier manifest version stays on the server, locked as it was; an image
whose bytes changed under an archived name is refused, and nothing is written."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError

from capacity.tiering.archive import MANIFEST
from capacity.units import Years, ends_on
from tests.backup.test_archive_expiry import capacity, cycle
from tests.s3server import S3Server
from tests.sshd import SshServer
from tests.tiering.pacs_tree import inventory_file, make_study

STUDY = "2024/08/STUDY"


def lock_bucket(s3: S3Server) -> str:
    name = f"late-{secrets.token_hex(4)}"
    s3.client().create_bucket(Bucket=name, ObjectLockEnabledForBucket=True,
                              CreateBucketConfiguration={"LocationConstraint": s3.region})
    return name


def setup(tmp: Path, sshd: SshServer, s3: S3Server, bucket: str, rule: dict[str, Any],
          age_days: float) -> Path:
    hot = tmp / "hot"
    hot.mkdir()
    make_study(hot, STUDY, 3, 20_000, random.Random(5), age_days=age_days)
    path = inventory_file(tmp, sshd, {"hot": hot})
    data = yaml.safe_load(path.read_text())
    data["object_stores"] = {"hcp1": {"site": "s", "raw": "1PB", "object_lock": True, "s3": {
        "endpoint": s3.endpoint, "region": s3.region}}}
    data["hosts"]["pacs1"]["tiers"]["bucket"] = {"storage": "hcp1", "bucket": bucket,
                                                 "path": "/site-a"}
    data["policies"]["life"].update({"retention": "10y", "lock": {"mode": "compliance"},
                                     "rules": [{**rule, "from": "hot", "to": "bucket"}]})
    path.write_text(yaml.safe_dump(data))
    return path


def add_image(tmp: Path, name: str, age_days: float, data: bytes) -> float:
    path = tmp / "hot" / STUDY / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    when = dt.datetime.now().timestamp() - age_days * 86400
    os.utime(path, (when, when))
    return when


def versions(s3: S3Server, bucket: str) -> dict[str, list[str]]:
    """Each key's version ids as the server lists them (newest first); delete markers too."""
    listed = s3.client().list_object_versions(Bucket=bucket, Prefix=f"site-a/{STUDY}")
    found: dict[str, list[str]] = {}
    for v in (*listed.get("Versions", []), *listed.get("DeleteMarkers", [])):
        found.setdefault(v["Key"][len(f"site-a/{STUDY}/"):], []).append(v["VersionId"])
    assert not listed.get("DeleteMarkers")
    return found


def stored(s3: S3Server, bucket: str) -> tuple[dict[str, str], dict[str, Any]]:
    """The sha256 of each object's bytes as read back from the server, and the manifest."""
    client = s3.client()
    keys = [o["Key"] for o in client.list_objects_v2(
        Bucket=bucket, Prefix=f"site-a/{STUDY}/")["Contents"]]
    found = {k.rpartition("/")[2]: client.get_object(Bucket=bucket, Key=k)["Body"].read()
             for k in keys}
    manifest = json.loads(found.pop(MANIFEST))
    return {k: hashlib.sha256(v).hexdigest() for k, v in found.items()}, manifest


def until(mtime: float) -> dt.date:
    return ends_on(Years(10), dt.datetime.fromtimestamp(mtime, dt.UTC).date())


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_grown(s3: S3Server, bucket: str, originals: dict[str, str], first: dict[str, Any],
                late: float) -> None:
    """Every image once, the bytes of the files; the new manifest lists all four, the
    earlier version is still there, locked as it was; every object locked to the late
    image's date."""
    client = s3.client()
    sums, manifest = stored(s3, bucket)
    assert sums == originals
    assert {f["path"]: f["sha256"] for f in manifest["files"]} == originals
    held = versions(s3, bucket)
    assert {k: len(v) for k, v in held.items()} == {
        **{name: 1 for name in originals}, MANIFEST: 2}  # nothing copied twice
    old_version = first["manifest"]
    assert held[MANIFEST][1] == old_version  # the earlier manifest, behind the new one
    key = f"site-a/{STUDY}/{MANIFEST}"
    head = client.head_object(Bucket=bucket, Key=key, VersionId=old_version)
    assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"].date()) == (
        "COMPLIANCE", first["until"])
    old = json.loads(client.get_object(Bucket=bucket, Key=key, VersionId=old_version)[
        "Body"].read())
    assert len(old["files"]) == 3
    with pytest.raises(ClientError) as refused:
        client.delete_object(Bucket=bucket, Key=key, VersionId=old_version)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    for name in (*originals, MANIFEST):
        head = client.head_object(Bucket=bucket, Key=f"site-a/{STUDY}/{name}")
        assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"].date()) == (
            "COMPLIANCE", until(late))


def first_copy(s3: S3Server, bucket: str, tmp: Path) -> dict[str, Any]:
    newest = max(p.stat().st_mtime for p in (tmp / "hot" / STUDY).iterdir())
    held = versions(s3, bucket)
    assert {k: len(v) for k, v in held.items()} == {
        "IM00000.dcm": 1, "IM00001.dcm": 1, "IM00002.dcm": 1, MANIFEST: 1}
    return {"manifest": held[MANIFEST][0], "until": until(newest)}


def full_scan(s3: S3Server, tmp: Path, inventory: Path) -> None:
    """A file rewritten in place leaves its folder's mtime as it was: only a full scan (the
    weekly one) sees it."""
    scan = capacity(s3, "tier", "scan", str(inventory), "--state", str(tmp / "state"),
                    "--full")
    assert scan.returncode == 0, scan.stdout + scan.stderr


def failed(applied: Any, tmp: Path, wanted: str) -> None:
    assert applied.returncode == 1, applied.stdout + applied.stderr
    assert "Traceback" not in applied.stderr
    assert json.loads(applied.stdout)["hosts"][0]["failed"] == 1
    audit = [json.loads(line) for line in
             (tmp / "state" / "audit.jsonl").read_text().splitlines()]
    assert wanted in [a for a in audit if a["step"] == "failed"][-1]["error"]


def test_a_backed_up_study_with_late_images_gets_them_and_a_new_manifest_version(
        tmp_path: Path, sshd: SshServer, s3: S3Server) -> None:
    bucket = lock_bucket(s3)
    inventory = setup(tmp_path, sshd, s3, bucket, {
        "name": "backup", "action": "copy", "select": {"older_than": "7d"}}, age_days=30)
    plan, applied = cycle(s3, tmp_path, inventory)
    assert [(u["action"], u["unit"]) for u in plan["units"]] == [("copy", STUDY)]
    assert applied.returncode == 0, applied.stdout + applied.stderr
    first = first_copy(s3, bucket, tmp_path)
    # A late series: one more image, acquired ten days ago (so the copy rule selects it).
    late = add_image(tmp_path, "IM00003.dcm", 10, random.Random(6).randbytes(30_000))
    originals = {p.name: sha(p) for p in (tmp_path / "hot" / STUDY).iterdir()}
    plan, applied = cycle(s3, tmp_path, inventory)
    assert [(u["action"], u["unit"]) for u in plan["units"]] == [("copy", STUDY)]
    assert applied.returncode == 0, applied.stdout + applied.stderr
    check_grown(s3, bucket, originals, first, late)
    assert {p.name: sha(p) for p in (tmp_path / "hot" / STUDY).iterdir()} == originals
    plan, _applied = cycle(s3, tmp_path, inventory)
    assert plan["units"] == []  # backed up whole: not copied again
    # An image rewritten in place (other bytes under its name): refused, nothing written.
    before = versions(s3, bucket)
    add_image(tmp_path, "IM00000.dcm", 10, b"encrypted" * 3000)
    full_scan(s3, tmp_path, inventory)
    plan, applied = cycle(s3, tmp_path, inventory)
    assert [(u["action"], u["unit"]) for u in plan["units"]] == [("copy", STUDY)]
    failed(applied, tmp_path, "IM00000.dcm changed since it went into the backup")
    assert versions(s3, bucket) == before
    assert stored(s3, bucket)[0] == originals


def test_an_archived_study_with_late_images_moves_them_into_its_unit_too(
        tmp_path: Path, sshd: SshServer, s3: S3Server) -> None:
    bucket = lock_bucket(s3)
    inventory = setup(tmp_path, sshd, s3, bucket, {
        "name": "archive", "select": {"older_than": "180d"}}, age_days=800)
    originals = {p.name: sha(p) for p in (tmp_path / "hot" / STUDY).iterdir()}
    plan, applied = cycle(s3, tmp_path, inventory)
    assert [(u["action"], u["unit"]) for u in plan["units"]] == [("move", STUDY)]
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert not (tmp_path / "hot" / STUDY).exists()
    held = versions(s3, bucket)  # the source is gone: the manifest dates the study
    first = {"manifest": held[MANIFEST][0], "until": until(
        max(f["mtime"] for f in stored(s3, bucket)[1]["files"]))}
    # A late report lands on the host in the archived study's folder, old enough to move.
    data = random.Random(7).randbytes(25_000)
    late = add_image(tmp_path, "IM00003.dcm", 400, data)
    originals["IM00003.dcm"] = hashlib.sha256(data).hexdigest()
    plan, applied = cycle(s3, tmp_path, inventory)
    assert [(u["action"], u["unit"]) for u in plan["units"]] == [("move", STUDY)]
    assert applied.returncode == 0, applied.stdout + applied.stderr
    check_grown(s3, bucket, originals, first, late)
    assert not (tmp_path / "hot" / STUDY / "IM00003.dcm").exists()  # moved: gone here
    # Other bytes under an archived image's name: refused, kept on the host, nothing written.
    before = versions(s3, bucket)
    add_image(tmp_path, "IM00000.dcm", 400, b"encrypted" * 3000)
    full_scan(s3, tmp_path, inventory)
    plan, applied = cycle(s3, tmp_path, inventory)
    assert [(u["action"], u["unit"]) for u in plan["units"]] == [("move", STUDY)]
    failed(applied, tmp_path, "IM00000.dcm changed since it went into the archive")
    assert versions(s3, bucket) == before
    assert stored(s3, bucket)[0] == originals
    assert (tmp_path / "hot" / STUDY / "IM00000.dcm").read_bytes() == b"encrypted" * 3000


def test_a_backup_of_the_archive_grows_with_it_copying_only_the_late_image_in_the_store(
        tmp_path: Path, sshd: SshServer, s3: S3Server, s3_bucket: str) -> None:
    """Archived, backed up from the archive (inside the store); then a late image is
    archived into the study, and the next copy writes that one object and a new manifest
    version into the backup, and nothing else."""
    from tests.backup.test_server_side_copy import backed_up, requests

    found = backed_up(tmp_path, sshd, s3, s3_bucket, None)
    bucket, _, where = found["backup"].strip("/").partition("/")
    client = s3.client()
    key = f"{where}/{MANIFEST}"
    first = client.head_object(Bucket=bucket, Key=key)["VersionId"]
    inventory = tmp_path / "inventory.yaml"
    data = random.Random(9).randbytes(7000)
    add_image(tmp_path, "IM00003.dcm", 300, data)
    plan, applied = cycle(s3, tmp_path, inventory)
    assert [u["action"] for u in plan["units"]] == ["move"]  # into the archive first
    assert applied.returncode == 0, applied.stdout + applied.stderr
    mark = len(requests(s3))
    plan, applied = cycle(s3, tmp_path, inventory)
    assert [(u["action"], u["source"]) for u in plan["units"]] == [("copy", "archive")]
    assert applied.returncode == 0, applied.stdout + applied.stderr
    log = requests(s3, mark)
    writes = [r for r in log if r.startswith(f"PUT /{bucket}/{where}/IM") and "?" not in r]
    assert writes == [f"PUT /{bucket}/{where}/IM00003.dcm"]  # only the late image
    assert not [r for r in log if r.startswith("GET ") and "/IM0000" in r]
    listed = client.list_object_versions(Bucket=bucket, Prefix=f"{where}/")
    counts: dict[str, int] = {}
    for v in listed["Versions"]:
        counts[v["Key"].rpartition("/")[2]] = counts.get(v["Key"].rpartition("/")[2], 0) + 1
    assert counts == {"IM00000.dcm": 1, "IM00001.dcm": 1, "IM00002.dcm": 1, "IM00003.dcm": 1,
                      MANIFEST: 2}
    assert not listed.get("DeleteMarkers")
    body = client.get_object(Bucket=bucket, Key=f"{where}/IM00003.dcm")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(data).hexdigest()
    manifest = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert len(manifest["files"]) == 4
    head = client.head_object(Bucket=bucket, Key=key, VersionId=first)
    assert head["ObjectLockMode"] == "COMPLIANCE"  # the earlier version, locked as it was
    assert len(json.loads(client.get_object(Bucket=bucket, Key=key, VersionId=first)[
        "Body"].read())["files"]) == 3
