"""Kill `capacity tier recall` with SIGKILL at instants spread over a measured run (from
its first touch of the hot tier to its end) while it brings archived studies back to the
hot tier (the host fetching with signed URLs, over the real sshd, from the real S3
server), or cut its SSH connections; then `capacity tier resume` and recall again.  Right
after the cut, what is in place on the hot tier is whole: a study is there with every file
of its manifest, each of its sha256, or not there at all.  After resume and the second
recall every study is back, file for file as it was before it was archived, no work
directory is left on the host, and the archive's copy is as it was (every object of its
sha256, the manifests unchanged, no upload left open)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from capacity.tiering import journal as J
from capacity.tiering.apply import WORK_DIR
from capacity.tiering.journal import Journal
from tests.s3server import S3Server
from tests.sshd import SshServer
from tests.tiering.pacs_tree import snapshot
from tests.tiering.test_archive_crash import build, env_for

ROOT = Path(__file__).resolve().parents[2]
TRIALS = 12
UNITS = ["2025/01/STUDY-0", "2025/02/STUDY-1", "2025/03/STUDY-2"]


def capacity(*args: str, s3: S3Server, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "capacity", *args, "--state", str(state)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
                          env=env_for(s3))


def recall_argv(inventory: Path, state: Path) -> list[str]:
    return [sys.executable, "-m", "capacity", "tier", "recall", *UNITS, "--inventory",
            str(inventory), "--host", "pacs1", "--from", "archive", "--to", "hot", "--state",
            str(state), "--format", "json"]


def archived(tmp: Path, sshd: SshServer, s3: S3Server, bucket: str, rng: random.Random
             ) -> tuple[Path, dict[str, str], str, Path, dict[str, bytes]]:
    """The three studies of the archive crash test moved into the archive by `tier apply`
    (uninterrupted): the hot tier, the files' sha256 before, the tier's key prefix, the
    inventory, and every object of the archive as it then is."""
    hot, before, root, plan = build(tmp, sshd, s3, bucket, rng)
    run = capacity("tier", "apply", str(plan), s3=s3, state=tmp / "state")
    assert run.returncode == 0, run.stdout + run.stderr
    assert not any(p.is_file() for p in hot.rglob("*"))
    return hot, before, root, tmp / "inventory.yaml", store_objects(s3, bucket, root)


def store_objects(s3: S3Server, bucket: str, root: str) -> dict[str, bytes]:
    client, prefix = s3.client(), root.strip("/") + "/"
    listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"][len(prefix):]: client.get_object(Bucket=bucket, Key=o["Key"])[
        "Body"].read() for o in listed}


@pytest.fixture(scope="module")
def span(tmp_path_factory: pytest.TempPathFactory, sshd: SshServer, s3: S3Server,
         s3_bucket: str) -> tuple[float, float]:
    """When, in seconds from its start, an uninterrupted recall of the three studies first
    makes its work directory on the hot tier here, now (the interpreter's start and the
    store's checks come before), and when it has ended: the kill instants are spread over
    that, a little before it too."""
    tmp = tmp_path_factory.mktemp("recall-span")
    hot, before, _root, inventory, _objects = archived(tmp, sshd, s3, s3_bucket,
                                                       random.Random(0))
    started = time.monotonic()
    run = subprocess.Popen(recall_argv(inventory, tmp / "state"), cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env=env_for(s3))
    touched = None
    while run.poll() is None:
        if touched is None and (hot / WORK_DIR).exists():
            touched = time.monotonic() - started
        time.sleep(0.005)
    ended = time.monotonic() - started
    assert run.returncode == 0
    assert snapshot(hot) == before
    first = touched if touched is not None else ended / 2
    return max(0.0, first - 0.1 * (ended - first)), max(ended, first + 0.3)


def in_place(hot: Path) -> dict[str, str]:
    """sha256 of every file on the hot tier outside the engine's own names (work
    directories, sources set aside): what a PACS would read."""
    found = {}
    for rel, digest in snapshot(hot).items():
        if not any(part.startswith(".capacity") for part in Path(rel).parts):
            found[rel] = digest
    return found


@pytest.mark.parametrize("trial", range(TRIALS))
def test_kill_during_recall_leaves_nothing_partial_and_resume_brings_everything_back(
        trial: int, tmp_path: Path, sshd: SshServer, s3: S3Server, s3_bucket: str,
        span: tuple[float, float]) -> None:
    """SIGKILL at an instant spread over a measured recall (every third trial cuts the SSH
    connections from the server instead)."""
    rng = random.Random(trial)
    hot, before, root, inventory, objects = archived(tmp_path, sshd, s3, s3_bucket, rng)
    state = tmp_path / "state"
    recall = subprocess.Popen(recall_argv(inventory, state), cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              start_new_session=True, env=env_for(s3))
    first, last = span
    delay = first + (trial + rng.random()) / TRIALS * (last - first)
    try:
        recall.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        if trial % 3 == 2:
            sshd.drop_connections()
            recall.wait(timeout=300)
        else:
            os.killpg(recall.pid, signal.SIGKILL)
            recall.wait()
    assert recall.stderr is not None
    stderr = recall.stderr.read().decode("utf-8", "replace")
    recall.stderr.close()
    assert "Traceback" not in stderr, stderr

    # Cut off: what is in place is whole, a study all there or not at all.
    placed = in_place(hot)
    for rel, digest in placed.items():
        assert before.get(rel) == digest, rel  # nothing partial, nothing foreign
    for unit in UNITS:
        planned = {rel for rel in before if rel.startswith(f"{unit}/")}
        there = {rel for rel in placed if rel.startswith(f"{unit}/")}
        assert there in (set(), planned), (unit, sorted(planned - there))

    # A recall's journal rows name its inventory: resume finds it there by itself.
    resume = capacity("tier", "resume", "--format", "json", s3=s3, state=state)
    assert resume.returncode == 0, resume.stdout + resume.stderr
    # Units the cut stopped before they were journaled are recalled by asking again; those
    # recalled already are not fetched twice.
    again = subprocess.run(recall_argv(inventory, state), cwd=ROOT, capture_output=True,
                           text=True, timeout=300, check=False, env=env_for(s3))
    assert again.returncode == 0, again.stdout + again.stderr

    assert snapshot(hot) == before  # every file back, whole; no work left on the host
    assert not [p for p in hot.rglob("*") if ".capacity" in p.name]
    assert store_objects(s3, s3_bucket, root) == objects  # the archive's copy, untouched
    client = s3.client()
    assert client.list_multipart_uploads(Bucket=s3_bucket, Prefix=root.strip("/")).get(
        "Uploads", []) == []
    journal = Journal(state / "journal.sqlite")
    try:
        recalls: list[Any] = [r for r in journal.units() if r.action == "recall"]
        assert not list(journal.units(unfinished=True))
    finally:
        journal.close()
    assert sorted(r.unit for r in recalls) == UNITS
    assert {r.state for r in recalls} == {J.DONE}
