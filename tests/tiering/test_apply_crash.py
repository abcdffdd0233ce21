"""Kill `capacity tier apply` with SIGKILL at random instants, then `capacity tier resume`:
after every trial, every original file exists whole (its sha256 unchanged) in at least one
place, no work or temporary files are left, and every unit is done.  Some trials kill the
first resume too, some cut the SSH connections from the server, and in all of them a writer
adds late images to the studies being moved."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.sshd import SshServer
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
"""Kill instants a run; `pytest --trials 500 tests/tiering/test_apply_crash.py` runs more."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "trial" in metafunc.fixturenames:
        count = metafunc.config.getoption("--trials") or TRIALS
        metafunc.parametrize("trial", range(count))


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


def build(tmp_path: Path, sshd: SshServer, rng: random.Random
          ) -> tuple[dict[str, Path], dict[str, str], Path]:
    """Four studies (one of hostile names, one with a multi-megabyte file, so kills also
    land inside a long copy and hash) and their sealed plan."""
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
    return roots, before, write_sealed(plan, tmp_path / "plan.json", tmp_path / "state")


@pytest.fixture(scope="module")
def span(tmp_path_factory: pytest.TempPathFactory, sshd: SshServer) -> float:
    """Seconds an uninterrupted apply of the trial's estate takes on this machine, now:
    the kill instants are spread over it."""
    tmp = tmp_path_factory.mktemp("span")
    _roots, _before, plan = build(tmp, sshd, random.Random(0))
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "capacity", "tier", "apply", str(plan),
                          "--state", str(tmp / "state")], cwd=ROOT, capture_output=True,
                         timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    return max(0.5, (time.monotonic() - started) * 1.1)


class LateWriter(threading.Thread):
    """Writes late images into the studies while apply and resume run, as a PACS writes key
    images and reports into old studies; remembers every file it finished writing.

    A few land at random instants (a study changed before its move began is skipped); one
    burst lands the moment a copy is seen under way, into every study still on hot, so the
    study being moved gains a file between its check and its deletion."""

    def __init__(self, roots: dict[str, Path], units: list[str], rng: random.Random,
                 span: float) -> None:
        super().__init__(daemon=True)
        self.roots, self.units, self.rng, self.span = roots, units, rng, span
        self.written: dict[str, str] = {}
        self.halt = threading.Event()
        self.count = 0

    def run(self) -> None:
        instants = [self.rng.random() * self.span for _ in range(self.rng.randrange(3))]
        started, burst = time.monotonic(), False
        work = self.roots["warm"] / ".capacity-work"
        while not self.halt.wait(0.005):
            now = time.monotonic() - started
            if instants and now >= min(instants):
                instants.remove(min(instants))
                self.write(self.rng.choice(self.units))
            if not burst and work.is_dir() and any(work.iterdir()):
                burst = True
                for unit in self.units:
                    if (self.roots["hot"] / unit).is_dir():
                        self.write(unit)

    def write(self, unit: str) -> None:
        study, data = self.roots["hot"] / unit, self.rng.randbytes(self.rng.randrange(1, 30_000))
        self.count += 1
        name = f"late-{self.count}.dcm"
        try:
            study.mkdir(parents=True, exist_ok=True)  # the PACS makes it again if gone
            (study / name).write_bytes(data)
        except OSError:
            return  # the folder vanished under us: nothing was written, nothing lost
        self.written[hashlib.sha256(data).hexdigest()] = f"{unit}/{name}"

    def stop(self) -> dict[str, str]:
        self.halt.set()
        self.join()
        return self.written


def contents(*roots: Path) -> set[str]:
    """sha256 of every regular file anywhere under the roots (a kept-both folder too)."""
    return {hashlib.sha256(p.read_bytes()).hexdigest() for r in roots for p in r.rglob("*")
            if p.is_file() and not p.is_symlink()}


def test_kill_at_any_instant_loses_nothing(trial: int, tmp_path: Path, sshd: SshServer,
                                           span: float, request: pytest.FixtureRequest
                                           ) -> None:
    """SIGKILL of apply at an instant spread over a measured run (every other trial kills
    a resume too; every third cuts the SSH connections from the server instead), while a
    writer adds late images to the studies."""
    rng = random.Random(trial)
    roots, before, plan = build(tmp_path, sshd, rng)
    state = str(tmp_path / "state")
    trials = request.config.getoption("--trials") or TRIALS
    units = sorted({rel.rsplit("/", 1)[0] for rel in before})
    writer = LateWriter(roots, units, random.Random(trial + 10_000), span)
    writer.start()

    # Spread the kill instants over the whole run, one slice per trial.
    delay = (trial + rng.random()) / trials * span
    apply = start("tier", "apply", str(plan), "--state", state)
    if trial % 3 == 2:
        try:
            apply.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            sshd.drop_connections()
        apply.wait(timeout=300)
    else:
        kill_after(apply, delay)
    if trial % 2:
        first = start("tier", "resume", "--state", state)
        kill_after(first, rng.random() * span / 2)
    late = writer.stop()
    resume = subprocess.run([sys.executable, "-m", "capacity", "tier", "resume", "--state",
                             state, "--format", "json"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, check=False)
    assert resume.returncode == 0, resume.stdout + resume.stderr

    # Every file, original or late, whole in at least one place, wherever it is.
    assert set(before.values()) | set(late) <= contents(roots["hot"], roots["warm"])
    for rel, digest in before.items():
        assert digest in {snapshot(r).get(rel) for r in roots.values()}, rel
    leftovers = [p for r in roots.values() for p in r.rglob("*")
                 if ".capacity-work" in str(p) or ".capacity-tmp" in p.name
                 or ".capacity-deleting" in p.name or p.name.endswith(".capacity-stub")]
    assert not leftovers
    status = json.loads(subprocess.run(
        [sys.executable, "-m", "capacity", "tier", "status", "--state", state, "--format",
         "json"], cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    if status["hosts"]:  # empty when the apply was killed before it journaled anything
        states = status["hosts"][0]["states"]
        # A late image makes a study skipped or kept-both, never a failure.
        assert not [f for f in status["failures"] if f["state"] == "failed"], status
        assert sum(states.get(s, 0) for s in ("done", "pending", "kept-both", "skipped")) == \
            status["hosts"][0]["units"], states
    # And a fresh apply of the plan finishes whatever is left, still losing nothing: each
    # study is on warm, or still on hot when late images changed it since it was planned
    # (apply skips a study that changed); hot holds nothing else.
    again = subprocess.run([sys.executable, "-m", "capacity", "tier", "apply",
                            str(plan), "--state", state], cwd=ROOT,
                           capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    on = {name: snapshot(root) for name, root in roots.items()}
    for rel, digest in before.items():
        assert digest in (on["warm"].get(rel), on["hot"].get(rel)), rel
    assert contents(roots["hot"]) <= set(late) | set(before.values())
    assert set(late) <= contents(roots["hot"], roots["warm"])
    if not late:
        assert on["warm"] == before and not on["hot"]
    # The lock a killed apply left was recognised as stale, broken, and released.
    assert not (tmp_path / "host.lock").exists()


def _copiers(marker: str) -> list[int]:
    """Copy-and-hash processes (the script, rsync, cp) working under ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            argv0 = cmdline.split(b"\0", 1)[0].rsplit(b"/", 1)[-1]
            if marker.encode() in cmdline and (b"hash_py=" in cmdline
                                               or argv0 in (b"rsync", b"cp")):
                found.append(int(entry.name))
    return found


def test_resume_ends_a_copy_the_killed_apply_left_running(tmp_path: Path,
                                                          sshd: SshServer) -> None:
    """SIGKILL of apply leaves the host-side copy running; resume must not work beside it:
    it ends that copy (its process group, by its recorded pid and start time) first."""
    roots = make_roots(tmp_path)
    rng = random.Random(99)
    make_study(roots["hot"], "2025/01/SLOW", 1, 1000, rng)
    (roots["hot"] / "2025/01/SLOW/big.dcm").write_bytes(rng.randbytes(6_000_000))
    when = (roots["hot"] / "2025/01/SLOW/IM00000.dcm").stat().st_mtime
    os.utime(roots["hot"] / "2025/01/SLOW/big.dcm", (when, when))
    inventory = inventory_file(tmp_path, sshd, roots, host={"pacing": {"bandwidth": "2MB/s"}})
    before = snapshot(roots["hot"])
    plan = plan_from_disk(inventory, roots, [("hot", "warm", "2025/01/SLOW")])
    path = write_sealed(plan, tmp_path / "plan.json", tmp_path / "state")
    state = str(tmp_path / "state")
    apply = start("tier", "apply", str(path), "--state", state)
    work = str(roots["warm"] / ".capacity-work")
    deadline = time.monotonic() + 60
    while not _copiers(work) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not _copiers(work):
        apply.kill()
        raise AssertionError(f"the copy never started: {apply.communicate()[1]!r}")
    assert kill_after(apply, 0.3)
    time.sleep(0.5)
    orphans = set(_copiers(work))
    assert orphans, "the copy outlived its apply (the case this test is about)"
    resume = subprocess.Popen([sys.executable, "-m", "capacity", "tier", "resume",
                               "--state", state, "--format", "json"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # The moment resume's own copy starts, nothing of the old one may still run.
    overlap = set()
    while resume.poll() is None:
        running = set(_copiers(work))
        if running - orphans:
            overlap |= running & orphans
        time.sleep(0.01)
    out, err = resume.communicate()
    assert resume.returncode == 0, out + err
    assert not overlap, f"the killed apply's copy ran beside resume's: {sorted(overlap)}"
    assert not set(_copiers(work)) & orphans
    assert snapshot(roots["warm"]) == before
    assert not any(p.is_file() for p in roots["hot"].rglob("*"))
