"""Kill `capacity tier apply` with SIGKILL at random instants, then `capacity tier resume`:
after every trial, every original file exists whole (its sha256 unchanged) in at least one
place, no work or temporary files are left, and every unit is done.  Some trials kill the
first resume too."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tiering.pacs_tree import (
    HOSTILE,
    inventory_file,
    make_roots,
    make_study,
    plan_from_disk,
    snapshot,
    write_sealed,
)

ROOT = Path(__file__).resolve().parents[2]
TRIALS = 50
SPAN = 7.0
"""Seconds over which the kill instants are spread: about one uninterrupted apply here."""


def start(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "capacity", *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def kill_after(proc: subprocess.Popen[bytes], seconds: float) -> bool:
    """SIGKILL the process group after ``seconds`` unless it ended; True if it was killed."""
    try:
        proc.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return True


@pytest.mark.parametrize("trial", range(TRIALS))
def test_kill_at_any_instant_loses_nothing(trial: int, tmp_path: Path, sshd) -> None:
    rng = random.Random(trial)
    roots = make_roots(tmp_path)
    units = []
    for i in range(4):
        unit = f"2025/0{i + 1}/STUDY-{i}"
        names = HOSTILE if i == 0 else None
        make_study(roots["hot"], unit, 10 if i else len(HOSTILE), 20_000 + 7 * i, rng, names)
        units.append(unit)
    # One multi-megabyte file, so kills also land inside a long copy and hash.
    big = roots["hot"] / "2025/04/STUDY-3/big.dcm"
    big.write_bytes(rng.randbytes(8_000_000))
    when = (roots["hot"] / "2025/04/STUDY-3/IM00000.dcm").stat().st_mtime
    os.utime(big, (when, when))  # as old as its study: the policy chooses the study
    inventory = inventory_file(tmp_path, sshd, roots)
    before = snapshot(roots["hot"])
    plan = plan_from_disk(inventory, roots, [("hot", "warm", u) for u in units])
    write_sealed(plan, tmp_path / "plan.json", tmp_path / "state")
    state = str(tmp_path / "state")

    # Spread the kill instants over the whole run, one slice per trial.
    delay = (trial + rng.random()) / TRIALS * SPAN
    apply = start("tier", "apply", str(tmp_path / "plan.json"), "--state", state)
    kill_after(apply, delay)
    if trial % 2:
        first = start("tier", "resume", "--state", state)
        kill_after(first, rng.random() * 3)
    resume = subprocess.run([sys.executable, "-m", "capacity", "tier", "resume", "--state",
                             state, "--format", "json"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, check=False)
    assert resume.returncode == 0, resume.stdout + resume.stderr

    # Every file whole in at least one place, wherever it is.
    assert snapshot(roots["hot"], roots["warm"]) == before
    for rel in before:
        places = [r / rel for r in roots.values() if (r / rel).is_file()]
        assert places, rel
    leftovers = [p for r in roots.values() for p in r.rglob("*")
                 if ".capacity-work" in str(p) or ".capacity-tmp" in p.name
                 or p.name.endswith(".capacity-stub")]
    assert not leftovers
    status = json.loads(subprocess.run(
        [sys.executable, "-m", "capacity", "tier", "status", "--state", state, "--format",
         "json"], cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    if status["hosts"]:  # empty when the apply was killed before it journaled anything
        assert status["hosts"][0]["states"].get("done", 0) + status["hosts"][0]["states"].get(
            "pending", 0) == status["hosts"][0]["units"]
    # And a fresh apply of the plan finishes whatever is left, still losing nothing.
    again = subprocess.run([sys.executable, "-m", "capacity", "tier", "apply",
                            str(tmp_path / "plan.json"), "--state", state], cwd=ROOT,
                           capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    assert snapshot(roots["warm"]) == before
    assert not any(p.is_file() for p in roots["hot"].rglob("*"))
    # The lock a killed apply left was recognised as stale, broken, and released.
    assert not (tmp_path / "host.lock").exists()
