"""A bucket tier's rescan reads only the manifests that are new or changed since the last
scan (the listing's ETag, size and time say which), through the CLI, the test sshd and the
S3 server: the GETs of manifests are counted in the server's own request log, and the
catalogue lists every archived file as a full read would."""

from __future__ import annotations

import datetime as dt
import os
import random
from pathlib import Path

from capacity.tiering.catalog import Catalogue
from tests.backup.test_archive_expiry import STUDY, capacity, cycle, setup
from tests.backup.test_server_side_copy import requests
from tests.s3server import S3Server
from tests.sshd import SshServer
from tests.tiering.pacs_tree import make_study

OTHER = "2024/09/OTHER"


def scan(s3: S3Server, tmp: Path, inventory: Path, *args: str) -> list[str]:
    """Scan; the manifests read from the server meanwhile, by key."""
    mark = len(requests(s3))
    done = capacity(s3, "tier", "scan", str(inventory), "--state", str(tmp / "state"), *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return sorted(r.split(" ", 1)[1] for r in requests(s3, mark)
                  if r.startswith("GET ") and r.endswith("/.capacity-manifest.json"))


def archived_files(tmp: Path) -> dict[str, int]:
    with Catalogue(tmp / "state" / "catalogue.sqlite") as catalogue:
        return {r.path: r.size for r in catalogue.files("pacs1", "archive") if r.kind == "f"}


def test_a_rescan_reads_only_the_manifests_that_changed(
        tmp_path: Path, sshd: SshServer, s3: S3Server, s3_bucket: str) -> None:
    inventory, prefix = setup(tmp_path, sshd, s3, s3_bucket, {"retention": "10y"})
    make_study(tmp_path / "hot", OTHER, 2, 3000, random.Random(4), age_days=700)
    _plan, applied = cycle(s3, tmp_path, inventory)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    manifest = f"/{s3_bucket}/{prefix}/{{}}/.capacity-manifest.json"
    both = sorted(manifest.format(unit) for unit in (STUDY, OTHER))
    assert scan(s3, tmp_path, inventory) == both  # new to the scan: each read once
    whole = archived_files(tmp_path)
    assert len(whole) == 5
    assert scan(s3, tmp_path, inventory) == []  # nothing changed: none read
    assert archived_files(tmp_path) == whole
    # A late image joins the archived study: its manifest gets a new version.
    late = tmp_path / "hot" / STUDY / "IM00009.dcm"
    late.parent.mkdir(parents=True)
    late.write_bytes(random.Random(8).randbytes(4000))
    when = (dt.datetime.now() - dt.timedelta(days=300)).timestamp()
    os.utime(late, (when, when))
    _plan, applied = cycle(s3, tmp_path, inventory)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert scan(s3, tmp_path, inventory) == [manifest.format(STUDY)]  # only the changed one
    assert archived_files(tmp_path) == {**whole, f"{STUDY}/IM00009.dcm": 4000}
    assert scan(s3, tmp_path, inventory, "--full") == both  # a full scan reads every one
    # A cache that is not one (damaged, or of another bucket) is as none.
    cache = tmp_path / "state" / "manifests" / "pacs1.archive.json"
    cache.write_text("{not json")
    assert scan(s3, tmp_path, inventory) == both
    assert archived_files(tmp_path) == {**whole, f"{STUDY}/IM00009.dcm": 4000}
