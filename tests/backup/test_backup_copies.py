"""A copy rule on a real host (the test sshd) into a bucket of its own with Object Lock on a
real S3 server on loopback: the study stays, every object of the backup is its file's
bytes, locked until the retention ends, and the server refuses to delete it early."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError

from capacity.load import load_inventory
from capacity.tiering.apply import Engine, Options
from capacity.tiering.archive import MANIFEST
from capacity.tiering.audit import AuditLog
from capacity.tiering.journal import Journal
from capacity.tiering.planner import make_plan
from capacity.tiering.records import FileRecord
from capacity.transports import SshTarget, SshTransport
from capacity.units import Years, ends_on
from tests.s3server import S3Server
from tests.sshd import SshServer
from tests.tiering.pacs_tree import inventory_file, make_study, snapshot

STUDY = "2025/01/STUDY"


@pytest.fixture
def backup(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    client = s3.client()
    name = f"backup-{secrets.token_hex(4)}"
    client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True,
                         CreateBucketConfiguration={"LocationConstraint": s3.region})
    return {"bucket": name, "client": client}


def setup(tmp: Path, sshd: SshServer, s3: S3Server, backup: dict[str, Any]) -> Path:
    hot = tmp / "hot"
    hot.mkdir()
    make_study(hot, STUDY, 3, 20_000, random.Random(11))
    path = inventory_file(tmp, sshd, {"hot": hot})
    data = yaml.safe_load(path.read_text())
    data["object_stores"] = {"hcp-dr": {"site": "s", "raw": "1PB", "object_lock": True, "s3": {
        "endpoint": s3.endpoint, "region": s3.region}}}
    data["hosts"]["pacs1"]["tiers"]["backup"] = {"storage": "hcp-dr", "bucket": backup["bucket"],
                                                 "path": "/hospital-a"}
    data["policies"]["life"].update({
        "retention": "10y", "lock": {"mode": "compliance"},
        "rules": [{"name": "backup", "action": "copy", "from": "hot", "to": "backup",
                   "select": {"older_than": "7d"}}]})
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def records(root: Path, tier: str = "hot") -> list[FileRecord]:
    """The tier's catalogue entries, as a scan records them."""
    found = []
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        found.append(FileRecord("pacs1", tier, str(p.relative_to(root)),
                                0 if p.is_dir() else st.st_size, st.st_mtime, st.st_atime,
                                st.st_ino, "d" if p.is_dir() else "f"))
    return found


def run(tmp: Path, inventory: Path, target: SshTarget, backup_records: list[FileRecord]
        ) -> Any:
    inv = load_inventory(inventory)
    catalogue = {"hot": records(tmp / "hot"), "backup": backup_records}
    now = dt.datetime.now(dt.UTC)
    plan = make_plan(inv, inventory, lambda _h, tier: catalogue.get(tier, []), {}, now)
    journal, audit = Journal(tmp / "journal.sqlite"), AuditLog(tmp / "audit.jsonl")
    try:
        with SshTransport(target) as transport:
            engine = Engine(inv, "pacs1", transport, journal, audit,
                            Options(respect_windows=False))
            return plan, engine.run_plan(plan, "plan.json")
    finally:
        journal.close()
        audit.close()


def test_a_study_is_backed_up_locked_and_stays(tmp_path: Path, sshd: SshServer,
                                              ssh_target: SshTarget, s3: S3Server,
                                              backup: dict[str, Any]) -> None:
    inventory = setup(tmp_path, sshd, s3, backup)
    before = snapshot(tmp_path / "hot")
    plan, report = run(tmp_path, inventory, ssh_target, [])
    assert [(u.action, u.unit) for u in plan.units] == [("copy", STUDY)]
    assert report.done == 1, report
    assert snapshot(tmp_path / "hot") == before  # the primary stays, byte for byte
    client, bucket = backup["client"], backup["bucket"]
    listed = client.list_objects_v2(Bucket=bucket, Prefix="hospital-a/")["Contents"]
    stored = {o["Key"][len("hospital-a/"):]: client.get_object(Bucket=bucket, Key=o["Key"])[
        "Body"].read() for o in listed}
    manifest = json.loads(stored.pop(f"{STUDY}/{MANIFEST}"))
    assert {k: hashlib.sha256(v).hexdigest() for k, v in stored.items()} == before
    assert len(manifest["files"]) == 3
    newest = max(p.stat().st_mtime for p in (tmp_path / "hot").rglob("*") if p.is_file())
    until = ends_on(Years(10), dt.datetime.fromtimestamp(newest, dt.UTC).date())
    for o in listed:
        head = client.head_object(Bucket=bucket, Key=o["Key"])
        assert head["ObjectLockMode"] == "COMPLIANCE"
        assert head["ObjectLockRetainUntilDate"].date() == until
        # Immutable: the server refuses to delete this version before its retention ends.
        with pytest.raises(ClientError) as refused:
            client.delete_object(Bucket=bucket, Key=o["Key"], VersionId=head["VersionId"])
        assert refused.value.response["Error"]["Code"] == "AccessDenied"


def test_a_study_backed_up_already_is_not_planned_again(
        tmp_path: Path, sshd: SshServer, ssh_target: SshTarget, s3: S3Server,
        backup: dict[str, Any]) -> None:
    inventory = setup(tmp_path, sshd, s3, backup)
    run(tmp_path, inventory, ssh_target, [])
    # The backup tier's catalogue now holds the study's files, as its scan would list them.
    held = records(tmp_path / "hot", "backup")
    plan, report = run(tmp_path, inventory, ssh_target, held)
    assert plan.units == () and report.done == 0


def test_a_copy_planned_again_anyway_uploads_nothing_and_is_done(
        tmp_path: Path, sshd: SshServer, ssh_target: SshTarget, s3: S3Server,
        backup: dict[str, Any]) -> None:
    inventory = setup(tmp_path, sshd, s3, backup)
    run(tmp_path, inventory, ssh_target, [])
    client, bucket = backup["client"], backup["bucket"]
    versions = client.list_object_versions(Bucket=bucket)["Versions"]
    (tmp_path / "journal.sqlite").unlink()  # a stale catalogue, a new journal
    _plan, report = run(tmp_path, inventory, ssh_target, [])
    assert report.done == 1
    assert client.list_object_versions(Bucket=bucket)["Versions"] == versions
