"""The S3 server itself refusing an expiry the engine's own checks let through: a legal hold
or a longer compliance retention is put on an object by another party in the instant
between the engine's check of its locks and its DeleteObject (the test server's trap,
``tests.s3server.TRAP``).  Through the CLI, the test sshd and the S3 server: the unit fails,
"the archive refused to expire", exit 1, no traceback; the manifest is back (its own
version, no delete marker left), so the unit is in the archive and is planned again; and
the server's listing of versions says what is still there."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from tests.backup.test_archive_expiry import STUDY, capacity, cycle, setup
from tests.s3server import TRAP, S3Server
from tests.sshd import SshServer


def held(s3: S3Server, bucket: str, prefix: str) -> tuple[set[tuple[str, str]], list[Any]]:
    """(key, version id) of every version under the prefix, and the delete markers."""
    listed = s3.client().list_object_versions(Bucket=bucket, Prefix=prefix + "/")
    return ({(v["Key"], v["VersionId"]) for v in listed.get("Versions", [])},
            listed.get("DeleteMarkers", []))


def plan_then_apply(s3: S3Server, tmp: Path, inventory: Path, bucket: str, key: str,
                    trap: str) -> tuple[dict[str, Any], Any]:
    state = str(tmp / "state")
    scan = capacity(s3, "tier", "scan", str(inventory), "--state", state)
    assert scan.returncode == 0, scan.stdout + scan.stderr
    plan = capacity(s3, "tier", "plan", str(inventory), "--state", state, "--out",
                    str(tmp / "plan.json"), "--format", "json")
    assert plan.returncode == 0, plan.stderr
    # After the plan, before apply: the object is armed to be locked by the server the
    # instant its deletion arrives (a tag locks nothing, so the engine's checks pass).
    s3.client().put_object_tagging(Bucket=bucket, Key=key,
                                   Tagging={"TagSet": [{"Key": TRAP, "Value": trap}]})
    applied = capacity(s3, "tier", "apply", str(tmp / "plan.json"), "--state", state,
                       "--allow-delete", "--format", "json")
    return json.loads(plan.stdout), applied


def refused(applied: Any, tmp: Path) -> str:
    assert applied.returncode == 1, applied.stdout + applied.stderr
    assert "Traceback" not in applied.stderr + applied.stdout
    assert json.loads(applied.stdout)["hosts"][0]["failed"] == 1
    audit = [json.loads(line) for line in
             (tmp / "state" / "audit.jsonl").read_text().splitlines()]
    failed = [a for a in audit if a["step"] == "failed" and a["unit"] == STUDY][-1]
    error = str(failed["error"])
    assert failed["refused"] == "object-lock"  # counted by the exporter's refusals
    assert "the archive refused to expire" in error and "AccessDenied" in error
    assert "its manifest is back" in error
    return error


def archived(tmp: Path, sshd: SshServer, s3: S3Server, bucket: str) -> tuple[Path, str]:
    inventory, prefix = setup(tmp, sshd, s3, bucket, {"retention": "1y"})  # no lock
    _plan, applied = cycle(s3, tmp, inventory)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    return inventory, prefix


def test_a_legal_hold_put_after_the_check_is_refused_by_the_server_and_nothing_goes(
        tmp_path: Path, sshd: SshServer, s3: S3Server, s3_bucket: str) -> None:
    inventory, prefix = archived(tmp_path, sshd, s3, s3_bucket)
    before, _markers = held(s3, s3_bucket, prefix)
    assert len(before) == 4
    manifest = f"{prefix}/{STUDY}/.capacity-manifest.json"
    current = s3.client().head_object(Bucket=s3_bucket, Key=manifest)["VersionId"]
    first = f"{prefix}/{STUDY}/IM00000.dcm"  # the first object the expiry deletes
    plan, applied = plan_then_apply(s3, tmp_path, inventory, s3_bucket, first, "legal-hold")
    assert [(u["action"], u["unit"]) for u in plan["units"]] == [("expire", STUDY)]
    assert "nothing was deleted" in refused(applied, tmp_path)
    after, markers = held(s3, s3_bucket, prefix)
    assert after == before and markers == []  # every version, and no marker hides any
    client = s3.client()
    assert client.head_object(Bucket=s3_bucket, Key=manifest)["VersionId"] == current
    assert client.head_object(Bucket=s3_bucket, Key=first)["ObjectLockLegalHoldStatus"] == "ON"
    # The unit is in the archive: planned again (and refused again, before any delete).
    plan, applied = cycle(s3, tmp_path, inventory)
    assert [(u["action"], u["unit"]) for u in plan["units"]] == [("expire", STUDY)]
    assert applied.returncode == 0 and json.loads(applied.stdout)["hosts"][0]["skipped"] == 1
    assert held(s3, s3_bucket, prefix) == (before, [])


def test_a_longer_retention_put_on_a_later_object_keeps_it_and_brings_the_manifest_back(
        tmp_path: Path, sshd: SshServer, s3: S3Server, s3_bucket: str) -> None:
    inventory, prefix = archived(tmp_path, sshd, s3, s3_bucket)
    last = f"{prefix}/{STUDY}/IM00002.dcm"  # the last image: two go before it is refused
    until = dt.date.today() + dt.timedelta(days=3650)
    _plan, applied = plan_then_apply(s3, tmp_path, inventory, s3_bucket, last,
                                     f"compliance:{until.isoformat()}")
    assert "2 of its 3 objects had expired before it" in refused(applied, tmp_path)
    after, markers = held(s3, s3_bucket, prefix)
    assert {k.rpartition("/")[2] for k, _v in after} == {"IM00002.dcm",
                                                        ".capacity-manifest.json"}
    assert markers == []
    head = s3.client().head_object(Bucket=s3_bucket, Key=last)
    assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"].date()) == (
        "COMPLIANCE", until)
    # The manifest is back: the unit is planned again, and its lock now keeps it.
    plan, applied = cycle(s3, tmp_path, inventory)
    assert [(u["action"], u["unit"]) for u in plan["units"]] == [("expire", STUDY)]
    assert applied.returncode == 0 and json.loads(applied.stdout)["hosts"][0]["skipped"] == 1
