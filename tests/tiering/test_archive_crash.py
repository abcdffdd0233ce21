"""Kill `capacity tier apply` with SIGKILL at random instants while it moves studies into a
bucket tier (the host uploading with signed URLs, over the real sshd, to the real S3
server), or cut its SSH connections, while late images land in the studies; then
`capacity tier resume` and apply again.  After every trial every file, original or late, is
whole (its sha256 unchanged) on the host or in the archive, no multipart upload is left
unfinished, no object lies outside a unit whose manifest is written, an archived unit is
exactly its planned files, and every study no late image touched is in the archive.  In
every other trial the store's parts are S3's smallest and one PUT may hold no more, so the
multi-megabyte file goes up in parts by the host, and kills land inside that upload too."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from tests.s3server import S3Server
from tests.sshd import SshServer
from tests.tiering.pacs_tree import (
    HOSTILE,
    inventory_file,
    make_study,
    plan_from_disk,
    snapshot,
    write_sealed,
)

ROOT = Path(__file__).resolve().parents[2]
TRIALS = 12
MANIFEST = ".capacity-manifest.json"


def build(tmp: Path, sshd: SshServer, s3: S3Server, bucket: str, rng: random.Random
          ) -> tuple[Path, dict[str, str], str, Path]:
    """Three studies (one of hostile names, one with a multi-megabyte file, so kills also
    land inside a long upload) and their sealed plan into the archive."""
    hot = tmp / "hot"
    hot.mkdir()
    units = []
    for i in range(3):
        unit = f"2025/0{i + 1}/STUDY-{i}"
        # The hostile names an object store can hold (UTF-8, no control characters).
        names = [n for n in HOSTILE if not re.search(r"[\x00-\x1f\x7f\ud800-\udfff]", n)
                 ] if i == 0 else None
        make_study(hot, unit, len(names) if names else 8, 20_000 + 7 * i, rng, names)
        units.append(unit)
    big = hot / "2025/03/STUDY-2/big.dcm"
    big.write_bytes(rng.randbytes(6_000_000))
    when = (hot / "2025/03/STUDY-2/IM00000.dcm").stat().st_mtime
    os.utime(big, (when, when))
    root = f"/crash-{secrets.token_hex(4)}"
    path = inventory_file(tmp, sshd, {"hot": hot})
    data = yaml.safe_load(path.read_text())
    data["object_stores"] = {"hcp1": {"site": "s", "raw": "1PB", "object_lock": True,
                                      "s3": {"endpoint": s3.endpoint, "region": s3.region}}}
    data["hosts"]["pacs1"]["tiers"]["archive"] = {"storage": "hcp1", "bucket": bucket,
                                                  "path": root}
    data["policies"]["life"]["rules"] = [{"name": "to-warm", "from": "hot", "to": "archive",
                                          "select": {"older_than": "180d"}}]
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    before = snapshot(hot)
    roots: dict[str, Any] = {"hot": hot, "archive": PurePosixPath(root)}
    plan = plan_from_disk(path, roots, [("hot", "archive", u) for u in units])
    return hot, before, root, write_sealed(plan, tmp / "plan.json", tmp / "state")


def env_for(s3: S3Server) -> dict[str, str]:
    return {**os.environ, **s3.env()}


IN_PARTS = """
import dataclasses
import sys

from capacity.tiering import hosts
from capacity.transports.s3 import MIN_PART

real = hosts.s3_target
hosts.s3_target = lambda inventory, tier: dataclasses.replace(
    real(inventory, tier), part_size=MIN_PART, single_put_limit=MIN_PART)
sys.argv[0] = "capacity"
from capacity.cli import main

main()
"""
"""`capacity` with the bucket tier's parts and single-PUT limit at S3's smallest part: a
file of a few MB goes up in parts, as one over 5 GiB does."""


def capacity_argv(*args: str, in_parts: bool = False) -> list[str]:
    launch = ["-c", IN_PARTS] if in_parts else ["-m", "capacity"]
    return [sys.executable, *launch, *args]


@pytest.fixture(scope="module")
def span(tmp_path_factory: pytest.TempPathFactory, sshd: SshServer, s3: S3Server,
         s3_bucket: str) -> float:
    """Seconds an uninterrupted apply takes here, now: the kill instants spread over it."""
    tmp = tmp_path_factory.mktemp("archive-span")
    _hot, _before, _root, plan = build(tmp, sshd, s3, s3_bucket, random.Random(0))
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "capacity", "tier", "apply", str(plan),
                          "--state", str(tmp / "state")], cwd=ROOT, capture_output=True,
                         timeout=300, check=False, env=env_for(s3))
    assert run.returncode == 0, run.stderr
    return max(0.5, (time.monotonic() - started) * 1.1)


class LateImages(threading.Thread):
    """Writes late images into the studies at random instants while apply runs, as a PACS
    writes key images and reports into old studies; remembers every file it wrote."""

    def __init__(self, hot: Path, units: list[str], rng: random.Random, span: float) -> None:
        super().__init__(daemon=True)
        self.hot, self.units, self.rng = hot, units, rng
        self.instants = sorted(rng.random() * span for _ in range(rng.randrange(1, 4)))
        self.written: dict[str, str] = {}
        self.halt = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        for count, instant in enumerate(self.instants):
            if self.halt.wait(max(0.0, instant - (time.monotonic() - started))):
                return
            unit = self.rng.choice(self.units)
            data = self.rng.randbytes(self.rng.randrange(1, 30_000))
            try:
                (self.hot / unit).mkdir(parents=True, exist_ok=True)
                (self.hot / unit / f"late-{count}.dcm").write_bytes(data)
            except OSError:
                continue  # the folder vanished under us: nothing written, nothing lost
            self.written[hashlib.sha256(data).hexdigest()] = f"{unit}/late-{count}.dcm"

    def stop(self) -> dict[str, str]:
        self.halt.set()
        self.join()
        return self.written


def wait_for_an_upload(s3: S3Server, bucket: str, root: str, process: Any, limit: float
                       ) -> None:
    """Return once a multipart upload is open under ``root``, the process has ended, or
    ``limit`` seconds have passed."""
    client, started = s3.client(), time.monotonic()
    while process.poll() is None and time.monotonic() - started < limit:
        if client.list_multipart_uploads(Bucket=bucket, Prefix=root.strip("/") + "/").get(
                "Uploads"):
            return
        time.sleep(0.01)


@pytest.mark.parametrize("trial", range(TRIALS))
def test_kill_during_archive_moves_loses_nothing_and_leaves_nothing(
        trial: int, tmp_path: Path, sshd: SshServer, s3: S3Server, s3_bucket: str,
        span: float) -> None:
    """SIGKILL at an instant spread over a measured run (every third trial cuts the SSH
    connections from the server instead), while late images land in the studies."""
    rng = random.Random(trial)
    in_parts = trial % 2 == 1
    hot, before, root, plan = build(tmp_path, sshd, s3, s3_bucket, rng)
    state = str(tmp_path / "state")
    units = ["2025/01/STUDY-0", "2025/02/STUDY-1", "2025/03/STUDY-2"]
    writer = LateImages(hot, units, random.Random(trial + 10_000), span)
    apply = subprocess.Popen(capacity_argv("tier", "apply", str(plan), "--state", state,
                                           in_parts=in_parts),
                             cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, start_new_session=True,
                             env=env_for(s3))
    writer.start()
    delay = (trial + rng.random()) / TRIALS * span
    if in_parts and trial % 4 == 3:  # the instant the host's upload in parts is under way
        wait_for_an_upload(s3, s3_bucket, root, apply, span)
        delay = rng.random() * 0.05
    try:
        apply.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        if trial % 3 == 2:
            sshd.drop_connections()
            apply.wait(timeout=300)
        else:
            os.killpg(apply.pid, signal.SIGKILL)
            apply.wait()
    late = writer.stop()
    resume = subprocess.run(capacity_argv("tier", "resume", "--state", state, "--format",
                                          "json", in_parts=in_parts),
                            cwd=ROOT, capture_output=True, text=True, timeout=300,
                            check=False, env=env_for(s3))
    assert resume.returncode in (0, 1), resume.stdout + resume.stderr
    # Units the kill stopped before they were journaled are planned again: apply again.
    again = subprocess.run(capacity_argv("tier", "apply", str(plan), "--state", state,
                                         "--format", "json", in_parts=in_parts),
                           cwd=ROOT, capture_output=True, text=True, timeout=300,
                           check=False, env=env_for(s3))
    assert again.returncode in (0, 1), again.stdout + again.stderr

    client, prefix = s3.client(), root.strip("/") + "/"
    listed = client.list_objects_v2(Bucket=s3_bucket, Prefix=prefix).get("Contents", [])
    stored = {o["Key"][len(prefix):]: hashlib.sha256(client.get_object(
        Bucket=s3_bucket, Key=o["Key"])["Body"].read()).hexdigest() for o in listed}
    manifests = {k.rsplit("/", 1)[0] for k in stored if k.endswith(MANIFEST)}
    strays = [k for k in stored if k.rsplit("/", 1)[0] not in manifests]
    assert not strays, strays  # every object belongs to a unit in the archive
    assert client.list_multipart_uploads(Bucket=s3_bucket, Prefix=prefix).get(
        "Uploads", []) == []
    on_host = snapshot(hot)
    for rel, digest in before.items():  # whole in at least one place, wherever it is
        assert digest in (on_host.get(rel), stored.get(rel)), rel
    for digest, rel in late.items():  # a late image is never lost either
        assert digest in (on_host.get(rel), stored.get(rel)), rel
    for unit in manifests:  # an archived unit is exactly its planned files
        manifest = json.loads(client.get_object(Bucket=s3_bucket,
                                                Key=f"{prefix}{unit}/{MANIFEST}")["Body"].read())
        assert {f"{unit}/{f['path']}": f["sha256"] for f in manifest["files"]} == {
            rel: d for rel, d in before.items() if rel.startswith(f"{unit}/")}
    if "2025/03/STUDY-2" in manifests:  # the large file: in parts where they were small
        head = client.head_object(Bucket=s3_bucket, Key=f"{prefix}2025/03/STUDY-2/big.dcm")
        assert head["ETag"].strip('"').endswith("-2") == in_parts, head["ETag"]
    touched = {rel.rsplit("/", 1)[0] for rel in late.values()}
    assert manifests >= set(units) - touched  # only a late image keeps a study back
    assert not [p for p in hot.rglob("*") if ".capacity" in p.name]
