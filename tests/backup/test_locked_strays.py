"""Objects a cut-off try left locked under a unit's prefix, with no manifest over them (they
cannot be purged until their lock ends), through the CLI, the test sshd and the S3 server:
a later try adopts each that is exactly the planned file (its size, and the server's own
SHA-256 of it equal to the host's of the file now), writes it no second time, verifies it
with the others, extends its lock to the unit's and lists it in the manifest, written last;
one with other bytes, or under a name the unit does not plan, stops the unit, and nothing
is written."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from capacity.tiering.archive import MANIFEST
from tests.backup.test_archive_expiry import ROOT, capacity, cycle
from tests.backup.test_late_images import (
    STUDY,
    failed,
    lock_bucket,
    setup,
    sha,
    stored,
    until,
    versions,
)
from tests.s3server import S3Server
from tests.sshd import SshServer

RULE = {"name": "archive", "select": {"older_than": "180d"}}


def leave_locked(s3: S3Server, bucket: str, name: str, data: bytes) -> str:
    """An object as a try cut off after its upload and before its manifest leaves it: with
    the server's SHA-256 of it and a compliance retention (shorter than the unit's); its
    version id."""
    put = s3.client().put_object(
        Bucket=bucket, Key=f"site-a/{STUDY}/{name}", Body=data, ChecksumAlgorithm="SHA256",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
    return str(put["VersionId"])


def audit_steps(tmp: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in
            (tmp / "state" / "audit.jsonl").read_text().splitlines()]


def test_locked_objects_of_a_cut_off_try_that_are_the_planned_files_are_adopted(
        tmp_path: Path, sshd: SshServer, s3: S3Server) -> None:
    bucket = lock_bucket(s3)
    inventory = setup(tmp_path, sshd, s3, bucket, RULE, age_days=800)
    hot = tmp_path / "hot" / STUDY
    originals = {p.name: sha(p) for p in hot.iterdir()}
    newest = max(p.stat().st_mtime for p in hot.iterdir())
    # The cut-off try: two images up and locked, a third begun with other bytes and not
    # locked yet (removable: purged as always), no manifest.
    left = {name: leave_locked(s3, bucket, name, (hot / name).read_bytes())
            for name in ("IM00000.dcm", "IM00001.dcm")}
    s3.client().put_object(Bucket=bucket, Key=f"site-a/{STUDY}/IM00002.dcm", Body=b"partial")
    plan, applied = cycle(s3, tmp_path, inventory)
    assert [(u["action"], u["unit"]) for u in plan["units"]] == [("move", STUDY)]
    assert applied.returncode == 0, applied.stdout + applied.stderr
    sums, manifest = stored(s3, bucket)
    assert sums == originals  # the server's bytes, read back, are the files
    assert {f["path"]: f["sha256"] for f in manifest["files"]} == originals
    held = versions(s3, bucket)
    assert {k: len(v) for k, v in held.items()} == {
        **{name: 1 for name in originals}, MANIFEST: 1}  # the adopted not written twice
    assert {name: held[name][0] for name in left} == left
    client = s3.client()
    for name in (*originals, MANIFEST):  # the adopted locks extended to the unit's
        head = client.head_object(Bucket=bucket, Key=f"site-a/{STUDY}/{name}")
        assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"].date()) == (
            "COMPLIANCE", until(newest))
    assert not hot.exists()  # moved: the source went, after the switch
    audit = [a for a in audit_steps(tmp_path) if a.get("unit") == STUDY]
    steps = [a["step"] for a in audit]
    assert steps.index("adopted") < steps.index("verified") < steps.index("renamed") < (
        steps.index("source-deleted"))
    adopted = audit[steps.index("adopted")]
    assert adopted["sha256"] == {name: originals[name] for name in left}
    assert "objects-left" not in steps and "failed" not in steps


def test_a_locked_object_that_is_not_the_planned_file_stops_the_unit_and_nothing_is_written(
        tmp_path: Path, sshd: SshServer, s3: S3Server) -> None:
    bucket = lock_bucket(s3)
    inventory = setup(tmp_path, sshd, s3, bucket, RULE, age_days=800)
    hot = tmp_path / "hot" / STUDY
    originals = {p.name: sha(p) for p in hot.iterdir()}
    # Other bytes of the same size under a planned name, locked.
    other = random.Random(99).randbytes((hot / "IM00000.dcm").stat().st_size)
    first = leave_locked(s3, bucket, "IM00000.dcm", other)
    _plan, applied = cycle(s3, tmp_path, inventory)
    failed(applied, tmp_path, f"site-a/{STUDY}/IM00000.dcm: an object of an earlier try that"
           " cannot be removed")
    error = [a for a in audit_steps(tmp_path) if a["step"] == "failed"][-1]["error"]
    assert "is not the planned file (its SHA-256 is" in error
    assert hashlib.sha256(other).hexdigest()[:16] in error
    assert versions(s3, bucket) == {"IM00000.dcm": [first]}  # nothing else, no manifest
    assert [a["step"] for a in audit_steps(tmp_path)].count("objects-left") == 1
    assert {p.name: sha(p) for p in hot.iterdir()} == originals  # the source untouched
    # A locked object under a name the unit does not plan: the same.
    leave_locked(s3, bucket, "IM0000.dcm", b"not an image of the study")
    _plan, applied = cycle(s3, tmp_path, inventory)
    failed(applied, tmp_path, f"site-a/{STUDY}/IM0000.dcm: an object of an earlier try that"
           " cannot be removed")
    error = [a for a in audit_steps(tmp_path) if a["step"] == "failed"][-1]["error"]
    assert "(the unit has no such file)" in error
    assert set(versions(s3, bucket)) == {"IM00000.dcm", "IM0000.dcm"}
    assert {p.name: sha(p) for p in hot.iterdir()} == originals


def test_a_try_cut_off_with_its_uploads_locked_by_the_bucket_is_finished_by_resume(
        tmp_path: Path, sshd: SshServer, s3: S3Server) -> None:
    """A real try, SIGKILLed once an image is up in a bucket whose default retention locks
    every object at upload: `tier resume` adopts what is there and archives the study."""
    bucket = lock_bucket(s3)
    client = s3.client()
    client.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}})
    inventory = setup(tmp_path, sshd, s3, bucket, RULE, age_days=800)
    data = yaml.safe_load(inventory.read_text())
    data["policies"]["life"]["pacing"] = {"bandwidth": "20kB/s"}  # about 1 s an image
    inventory.write_text(yaml.safe_dump(data))
    hot = tmp_path / "hot" / STUDY
    originals = {p.name: sha(p) for p in hot.iterdir()}
    newest = max(p.stat().st_mtime for p in hot.iterdir())
    state = str(tmp_path / "state")
    for step in (["scan", str(inventory)], ["plan", str(inventory), "--out",
                                             str(tmp_path / "plan.json")]):
        done = capacity(s3, "tier", *step, "--state", state)
        assert done.returncode == 0, done.stdout + done.stderr
    apply = subprocess.Popen(
        [sys.executable, "-m", "capacity", "tier", "apply", str(tmp_path / "plan.json"),
         "--state", state, "--allow-delete"], cwd=ROOT, env={**os.environ, **s3.env()},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    prefix = f"site-a/{STUDY}/"
    deadline = time.monotonic() + 60
    up: list[str] = []
    while not up and apply.poll() is None and time.monotonic() < deadline:
        up = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=prefix).get(
            "Contents", [])]
        time.sleep(0.02)
    os.killpg(apply.pid, signal.SIGKILL)
    apply.wait()
    assert up, "the try ended before an image was up"
    left = {o["Key"][len(prefix):]: o for o in client.list_objects_v2(
        Bucket=bucket, Prefix=prefix)["Contents"]}
    assert MANIFEST not in left and len(left) < len(originals)  # cut off before the switch
    for name in left:  # locked at upload, so no purge can clear them
        assert client.head_object(Bucket=bucket, Key=prefix + name)["ObjectLockMode"] == (
            "COMPLIANCE")
    before = {name: v[0] for name, v in versions(s3, bucket).items()}
    resumed = capacity(s3, "tier", "resume", "--state", state, "--allow-delete",
                       "--format", "json")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    sums, manifest = stored(s3, bucket)
    assert sums == originals
    assert {f["path"]: f["sha256"] for f in manifest["files"]} == originals
    held = versions(s3, bucket)
    assert {k: len(v) for k, v in held.items()} == {
        **{name: 1 for name in originals}, MANIFEST: 1}
    assert {name: held[name][0] for name in before} == before  # adopted, not written again
    for name in (*originals, MANIFEST):
        head = client.head_object(Bucket=bucket, Key=prefix + name)
        assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"].date()) == (
            "COMPLIANCE", until(newest))
    assert not hot.exists()
    steps = [a["step"] for a in audit_steps(tmp_path) if a.get("unit") == STUDY]
    assert "adopted" in steps and steps[-1] == "source-deleted"
