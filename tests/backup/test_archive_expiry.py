"""Expiry inside a bucket tier, through the CLI, the test sshd and the S3 server: a study's
age in the archive counts from its images' dates (its manifest), not from its upload; an
expired study leaves no version behind; and a study whose objects are still locked on the
server is not deleted, and the plan's unit says why."""

from __future__ import annotations

import json
import os
import random
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.s3server import S3Server
from tests.sshd import SshServer
from tests.tiering.pacs_tree import inventory_file, make_study

ROOT = Path(__file__).resolve().parents[2]
STUDY = "2024/08/STUDY"
AGE = 800


def capacity(s3: S3Server, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **s3.env()}
    return subprocess.run([sys.executable, "-m", "capacity", *args], capture_output=True,
                          text=True, check=False, cwd=ROOT, env=env, timeout=300)


def setup(tmp: Path, sshd: SshServer, s3: S3Server, bucket: str, policy: dict[str, Any]
          ) -> tuple[Path, str]:
    hot = tmp / "hot"
    hot.mkdir()
    make_study(hot, STUDY, 3, 5000, random.Random(3), age_days=AGE)
    path = inventory_file(tmp, sshd, {"hot": hot})
    data = yaml.safe_load(path.read_text())
    prefix = f"expiry-{secrets.token_hex(4)}"
    data["object_stores"] = {"hcp1": {"site": "s", "raw": "1PB", "object_lock": True, "s3": {
        "endpoint": s3.endpoint, "region": s3.region}}}
    data["hosts"]["pacs1"]["tiers"]["archive"] = {"storage": "hcp1", "bucket": bucket,
                                                  "path": f"/{prefix}"}
    data["policies"]["life"].update({"rules": [
        {"name": "archive", "from": "hot", "to": "archive", "select": {"older_than": "180d"}},
        {"name": "expire", "action": "expire", "from": "archive",
         "select": {"older_than": "1y"}}], **policy})
    path.write_text(yaml.safe_dump(data))
    return path, prefix


def cycle(s3: S3Server, tmp: Path, inventory: Path) -> tuple[dict[str, Any], Any]:
    """Scan, plan and apply (deleting allowed), as a scheduled run does."""
    state = str(tmp / "state")
    scan = capacity(s3, "tier", "scan", str(inventory), "--state", state)
    assert scan.returncode == 0, scan.stdout + scan.stderr
    plan = capacity(s3, "tier", "plan", str(inventory), "--state", state, "--out",
                    str(tmp / "plan.json"), "--format", "json")
    assert plan.returncode == 0, plan.stderr
    applied = capacity(s3, "tier", "apply", str(tmp / "plan.json"), "--state", state,
                       "--allow-delete", "--format", "json")
    return json.loads(plan.stdout), applied


def versions(s3: S3Server, bucket: str, prefix: str) -> list[str]:
    listed = s3.client().list_object_versions(Bucket=bucket, Prefix=prefix + "/")
    return [v["Key"] for v in (*listed.get("Versions", []), *listed.get("DeleteMarkers", []))]


def test_a_study_past_its_retention_expires_from_the_archive_by_its_images_age(
        tmp_path: Path, sshd: SshServer, s3: S3Server, s3_bucket: str) -> None:
    inventory, prefix = setup(tmp_path, sshd, s3, s3_bucket, {"retention": "1y"})
    plan, applied = cycle(s3, tmp_path, inventory)
    assert [u["action"] for u in plan["units"]] == ["move"]
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert len(versions(s3, s3_bucket, prefix)) == 4  # three images and the manifest
    # Uploaded today, but the manifest dates the study by its images: 800 days old.
    plan, applied = cycle(s3, tmp_path, inventory)
    assert [(u["action"], u["unit"]) for u in plan["units"]] == [("expire", STUDY)]
    assert abs(plan["units"][0]["age_days"] - AGE) < 1
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert versions(s3, s3_bucket, prefix) == []  # no version, no delete marker left


def test_a_study_still_locked_on_the_server_is_kept_and_the_plan_says_why(
        tmp_path: Path, sshd: SshServer, s3: S3Server, s3_bucket: str) -> None:
    inventory, prefix = setup(tmp_path, sshd, s3, s3_bucket, {
        "retention": "10y", "lock": {"mode": "compliance"}})
    _plan, applied = cycle(s3, tmp_path, inventory)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    # The policy's retention is cut to a year: the objects keep their ten-year lock.
    data = yaml.safe_load(inventory.read_text())
    data["policies"]["life"]["retention"] = "1y"
    inventory.write_text(yaml.safe_dump(data))
    plan, applied = cycle(s3, tmp_path, inventory)
    assert [u["action"] for u in plan["units"]] == ["expire"]
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert len(versions(s3, s3_bucket, prefix)) == 4  # nothing was deleted
    assert json.loads(applied.stdout)["hosts"][0]["skipped"] == 1
    audit = [json.loads(line) for line in
             (tmp_path / "state" / "audit.jsonl").read_text().splitlines()]
    skipped = [a for a in audit if a["step"] == "skipped" and a["unit"] == STUDY]
    assert skipped and "compliance retention ends" in skipped[-1]["error"]
    assert "refuses its deletion" in skipped[-1]["error"]


def test_an_archived_study_is_backed_up_from_the_archive_into_a_bucket_of_its_own(
        tmp_path: Path, sshd: SshServer, s3: S3Server, s3_bucket: str) -> None:
    """The study is archived first (and gone from the host); a copy rule from the archive
    tier then writes its backup, server to server through the controller, locked."""
    import datetime as dt
    import hashlib

    from capacity.units import Years, ends_on

    client = s3.client()
    backup = f"backup-{secrets.token_hex(4)}"
    client.create_bucket(Bucket=backup, ObjectLockEnabledForBucket=True,
                         CreateBucketConfiguration={"LocationConstraint": s3.region})
    inventory, prefix = setup(tmp_path, sshd, s3, s3_bucket, {
        "retention": "10y", "lock": {"mode": "compliance"}})
    originals = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                 for p in (tmp_path / "hot" / STUDY).iterdir()}
    newest = max(p.stat().st_mtime for p in (tmp_path / "hot" / STUDY).iterdir())
    data = yaml.safe_load(inventory.read_text())
    data["object_stores"]["hcp-dr"] = {**data["object_stores"]["hcp1"]}
    data["hosts"]["pacs1"]["tiers"]["backup"] = {"storage": "hcp-dr", "bucket": backup,
                                                 "path": "/dr"}
    data["policies"]["life"]["rules"] = [
        {"name": "archive", "from": "hot", "to": "archive", "select": {"older_than": "180d"}},
        {"name": "backup", "action": "copy", "from": "archive", "to": "backup"}]
    inventory.write_text(yaml.safe_dump(data))
    plan, applied = cycle(s3, tmp_path, inventory)
    assert [u["action"] for u in plan["units"]] == ["move"]  # the archive was empty
    assert applied.returncode == 0, applied.stdout + applied.stderr
    plan, applied = cycle(s3, tmp_path, inventory)
    assert [(u["action"], u["source"], u["target"]) for u in plan["units"]] == [
        ("copy", "archive", "backup")]
    assert applied.returncode == 0, applied.stdout + applied.stderr
    listed = client.list_objects_v2(Bucket=backup, Prefix=f"dr/{STUDY}/")["Contents"]
    stored = {o["Key"].rpartition("/")[2]: o["Key"] for o in listed}
    assert stored.pop(".capacity-manifest.json")
    assert {name: hashlib.sha256(client.get_object(Bucket=backup, Key=key)["Body"].read())
            .hexdigest() for name, key in stored.items()} == originals
    until = ends_on(Years(10), dt.datetime.fromtimestamp(newest, dt.UTC).date())
    for o in listed:
        head = client.head_object(Bucket=backup, Key=o["Key"])
        assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"].date()) == (
            "COMPLIANCE", until)
    assert len(versions(s3, s3_bucket, prefix)) == 4  # the archive is as it was
    plan, _applied = cycle(s3, tmp_path, inventory)
    assert plan["units"] == []  # backed up: not copied again
