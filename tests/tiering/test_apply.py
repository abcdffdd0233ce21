"""`capacity tier apply` on real files through a real OpenSSH server: every file is checked
by its sha256 against the original set, never by the engine's own word."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
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


def capacity(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "capacity", *args, "--state", str(state)],
                          capture_output=True, text=True, check=False, cwd=ROOT)


@pytest.fixture
def estate(tmp_path: Path, sshd: SshServer):
    roots = make_roots(tmp_path)
    rng = random.Random(1)
    make_study(roots["hot"], "2025/01/STUDY-A", 5, 4096, rng)
    make_study(roots["hot"], "2025/01/STUDY-B", 3, 10_000, rng, names=HOSTILE[:3])
    make_study(roots["hot"], "2025/02/STUDY-C", len(HOSTILE), 1000, rng, names=HOSTILE)
    inventory = inventory_file(tmp_path, sshd, roots)
    return tmp_path, roots, inventory


def write_plan(tmp: Path, roots: dict[str, Path], inventory: Path,
               units: list[str], **kw: str) -> Path:
    plan = plan_from_disk(inventory, roots, [("hot", "warm", u) for u in units], **kw)
    return write_sealed(plan, tmp / "plan.json", tmp / "state", tmp / "s")


def no_work_left(*roots: Path) -> bool:
    return not any(".capacity-work" in str(p) or ".capacity-tmp" in p.name
                   for root in roots for p in root.rglob("*"))


def test_move_verifies_and_nothing_is_lost(estate) -> None:
    tmp, roots, inventory = estate
    before = snapshot(roots["hot"])
    units = ["2025/01/STUDY-A", "2025/01/STUDY-B", "2025/02/STUDY-C"]
    plan = write_plan(tmp, roots, inventory, units)
    run = capacity("tier", "apply", str(plan), "--format", "json", state=tmp / "state")
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(run.stdout)["hosts"][0]
    assert report["done"] == 3
    assert snapshot(roots["warm"]) == before  # every file, byte for byte, at the target
    assert not any(p.is_file() for p in roots["hot"].rglob("*"))
    assert no_work_left(*roots.values())
    assert not (Path(os.path.expanduser("~")) / "PWNED").exists()
    assert not (roots["hot"] / "PWNED").exists()
    # The audit log holds the checksums it verified: they are the files' real sha256.
    audit = [json.loads(line) for line in (tmp / "state" / "audit.jsonl").read_text()
             .splitlines()]
    verified = {}
    for record in audit:
        if record["step"] == "verified":
            for rel, digest in record["sha256"].items():
                verified[f"{record['unit']}/{rel}"] = digest
    assert verified == before


def test_applying_twice_changes_nothing(estate) -> None:
    tmp, roots, inventory = estate
    plan = write_plan(tmp, roots, inventory, ["2025/01/STUDY-A"])
    assert capacity("tier", "apply", str(plan), state=tmp / "state").returncode == 0
    after_first = snapshot(roots["hot"]), snapshot(roots["warm"])
    second = capacity("tier", "apply", str(plan), "--format", "json", state=tmp / "state")
    assert second.returncode == 0
    assert json.loads(second.stdout)["hosts"][0]["done"] == 0
    assert (snapshot(roots["hot"]), snapshot(roots["warm"])) == after_first
    # Even with its journal gone, a second apply finds the unit in place and moves nothing.
    # (the plan key stays: it seals what this controller planned)
    (tmp / "other-state").mkdir()
    (tmp / "other-state" / "plan.key").write_bytes((tmp / "state" / "plan.key").read_bytes())
    third = capacity("tier", "apply", str(plan), state=tmp / "other-state")
    assert third.returncode == 0, third.stdout
    assert (snapshot(roots["hot"]), snapshot(roots["warm"])) == after_first


def test_source_changed_after_planning_is_skipped(estate) -> None:
    tmp, roots, inventory = estate
    plan = write_plan(tmp, roots, inventory, ["2025/01/STUDY-A", "2025/01/STUDY-B"])
    (roots["hot"] / "2025/01/STUDY-A/IM00001.dcm").write_bytes(b"a new series")
    (roots["hot"] / "2025/01/STUDY-B/late-image.dcm").write_bytes(b"arrived late")
    before = snapshot(roots["hot"])
    run = capacity("tier", "apply", str(plan), "--format", "json", state=tmp / "state")
    report = json.loads(run.stdout)["hosts"][0]
    assert report["skipped"] == 2 and report["done"] == 0
    assert snapshot(roots["hot"]) == before
    assert snapshot(roots["warm"]) == {}
    status = capacity("tier", "status", "--format", "json", state=tmp / "state")
    assert json.loads(status.stdout)["hosts"][0]["states"] == {"skipped": 2}


def test_symlink_out_of_the_tier_is_never_followed(estate) -> None:
    tmp, roots, inventory = estate
    outside = tmp / "outside"
    outside.mkdir()
    (outside / "secret.dcm").write_bytes(b"not part of the tier")
    (roots["hot"] / "2025/01/STUDY-A/link.dcm").symlink_to(outside / "secret.dcm")
    (roots["hot"] / "2024").symlink_to(outside, target_is_directory=True)
    make_study(outside, "01/STUDY-X", 2, 100, random.Random(3))
    plan = plan_from_disk(inventory, roots, [("hot", "warm", "2025/01/STUDY-A")])
    # A unit reached through a symlinked directory, planned as if it were inside the tier.
    outside_plan = plan_from_disk(inventory, roots, [("hot", "warm", "2024/01/STUDY-X")])
    both = type(plan)(**{**plan.__dict__, "units": plan.units + outside_plan.units})
    write_sealed(both, tmp / "plan.json", tmp / "state")
    run = capacity("tier", "apply", str(tmp / "plan.json"), "--format", "json",
                   state=tmp / "state")
    assert json.loads(run.stdout)["hosts"][0]["skipped"] == 2
    assert (outside / "secret.dcm").read_bytes() == b"not part of the tier"
    assert (outside / "01/STUDY-X").is_dir() and snapshot(roots["warm"]) == {}


def test_full_target_fails_cleanly_and_keeps_the_source(tmp_path: Path, sshd) -> None:
    if os.geteuid() != 0 and not os.environ.get("CI"):
        pytest.skip("mounting a small filesystem needs root (CI runs as root)")
    roots = make_roots(tmp_path)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(roots["warm"])],
                   check=True)
    try:
        rng = random.Random(5)
        make_study(roots["hot"], "2025/01/BIG", 4, 100_000, rng)  # 400 kB > 256 kB
        make_study(roots["hot"], "2025/01/SMALL", 2, 1000, rng)
        inventory = inventory_file(tmp_path, sshd, roots)
        before = snapshot(roots["hot"])
        plan = write_plan(tmp_path, roots, inventory, ["2025/01/BIG", "2025/01/SMALL"])
        run = capacity("tier", "apply", str(plan), "--format", "json", state=tmp_path / "state")
        assert run.returncode == 1
        report = json.loads(run.stdout)["hosts"][0]
        assert report["failed"] == 1 and report["done"] == 1
        assert snapshot(roots["hot"], roots["warm"]) == before
        assert no_work_left(*roots.values())
        status = json.loads(capacity("tier", "status", "--format", "json",
                                     state=tmp_path / "state").stdout)
        assert "target tier full" in status["failures"][0]["error"]
    finally:
        subprocess.run(["umount", str(roots["warm"])], check=False)


def test_copy_failing_mid_way_keeps_the_source(estate) -> None:
    """A target directory the copy cannot write into: cp fails, the work is rolled back."""
    tmp, roots, inventory = estate
    before = snapshot(roots["hot"])
    plan = write_plan(tmp, roots, inventory, ["2025/01/STUDY-A"])
    (roots["warm"] / ".capacity-work").write_text("a file where the work dir should be")
    run = capacity("tier", "apply", str(plan), "--format", "json", state=tmp / "state")
    assert run.returncode == 1
    assert snapshot(roots["hot"]) == before


def test_expiry_needs_allow_delete_and_honours_holds(tmp_path: Path, sshd) -> None:
    roots = make_roots(tmp_path)
    rng = random.Random(7)
    make_study(roots["warm"], "2014/01/OLD", 2, 100, rng, age_days=4000)
    make_study(roots["warm"], "2014/02/HELD", 2, 100, rng, age_days=4000)
    inventory = inventory_file(tmp_path, sshd, roots, policy={
        "retention": "10y", "holds": [{"paths": ["2014/02/*"], "reason": "litigation"}]})
    plan = plan_from_disk(inventory, roots, [("warm", "", "2014/01/OLD"),
                                             ("warm", "", "2014/02/HELD")],
                          action="expire", rule="expire")
    write_sealed(plan, tmp_path / "plan.json", tmp_path / "s1", tmp_path / "s2")
    run = capacity("tier", "apply", str(tmp_path / "plan.json"), "--format", "json",
                   state=tmp_path / "s1")
    assert json.loads(run.stdout)["hosts"][0]["skipped"] == 2
    assert (roots["warm"] / "2014/01/OLD").is_dir()
    run = capacity("tier", "apply", str(tmp_path / "plan.json"), "--allow-delete",
                   "--format", "json", state=tmp_path / "s2")
    report = json.loads(run.stdout)["hosts"][0]
    assert report["done"] == 1 and report["skipped"] == 1
    assert not (roots["warm"] / "2014/01/OLD").exists()
    assert (roots["warm"] / "2014/02/HELD").is_dir()


def test_stub_and_hook(tmp_path: Path, sshd) -> None:
    roots = make_roots(tmp_path)
    make_study(roots["hot"], "2025/01/S1", 2, 100, random.Random(9))
    inventory = inventory_file(tmp_path, sshd, roots, policy={
        "stub": True, "hook": ["touch", "{target}.updated"]})
    before = snapshot(roots["hot"])
    plan = write_plan(tmp_path, roots, inventory, ["2025/01/S1"])
    assert capacity("tier", "apply", str(plan), state=tmp_path / "s").returncode == 0
    link = roots["hot"] / "2025/01/S1"
    assert link.is_symlink() and Path(os.readlink(link)) == roots["warm"] / "2025/01/S1"
    assert (roots["warm"] / "2025/01/S1.updated").exists()
    moved = snapshot(roots["warm"])
    del moved["2025/01/S1.updated"]
    assert moved == before


def test_failing_hook_keeps_both_copies(tmp_path: Path, sshd) -> None:
    roots = make_roots(tmp_path)
    make_study(roots["hot"], "2025/01/S1", 2, 100, random.Random(9))
    inventory = inventory_file(tmp_path, sshd, roots, policy={"hook": ["false"]})
    before = snapshot(roots["hot"])
    plan = write_plan(tmp_path, roots, inventory, ["2025/01/S1"])
    run = capacity("tier", "apply", str(plan), "--format", "json", state=tmp_path / "s")
    assert run.returncode == 1
    assert json.loads(run.stdout)["hosts"][0]["kept_both"] == 1
    assert snapshot(roots["hot"]) == before == snapshot(roots["warm"])


def test_closed_window_stops_before_touching_anything(tmp_path: Path, sshd) -> None:
    import datetime as dt

    roots = make_roots(tmp_path)
    make_study(roots["hot"], "2025/01/S1", 2, 100, random.Random(9))
    hour = dt.datetime.now().hour
    closed = f"{(hour + 2) % 24:02d}:00-{(hour + 3) % 24:02d}:00"
    inventory = inventory_file(tmp_path, sshd, roots,
                               policy={"pacing": {"windows": [closed]}})
    before = snapshot(roots["hot"])
    plan = write_plan(tmp_path, roots, inventory, ["2025/01/S1"])
    run = capacity("tier", "apply", str(plan), "--format", "json", state=tmp_path / "s")
    report = json.loads(run.stdout)["hosts"][0]
    assert report["done"] == 0 and "outside the time windows" in report["stopped"]
    assert snapshot(roots["hot"]) == before
    run = capacity("tier", "apply", str(plan), "--ignore-windows", state=tmp_path / "s")
    assert run.returncode == 0 and snapshot(roots["warm"]) == before


def test_bandwidth_limit_copies_with_rsync(tmp_path: Path, sshd) -> None:
    roots = make_roots(tmp_path)
    make_study(roots["hot"], "2025/01/S1", 3, 50_000, random.Random(2), names=HOSTILE[:3])
    inventory = inventory_file(tmp_path, sshd, roots, host={"pacing": {"bandwidth": "5MB/s"}})
    before = snapshot(roots["hot"])
    plan = write_plan(tmp_path, roots, inventory, ["2025/01/S1"])
    assert capacity("tier", "apply", str(plan), state=tmp_path / "s").returncode == 0
    assert snapshot(roots["warm"]) == before


def test_a_second_apply_on_a_locked_host_is_refused(estate, sshd) -> None:
    import json as j

    tmp, roots, inventory = estate
    lock = tmp / "host.lock"
    lock.mkdir()
    (lock / "owner.json").write_text(j.dumps({"controller": "another-host", "pid": 1}))
    try:
        before = snapshot(roots["hot"])
        plan = write_plan(tmp, roots, inventory, ["2025/01/STUDY-A"])
        run = capacity("tier", "apply", str(plan), "--format", "json", state=tmp / "state")
        assert run.returncode == 1
        assert "locked by another-host" in run.stdout
        assert snapshot(roots["hot"]) == before
    finally:
        for p in lock.iterdir():
            p.unlink()
        lock.rmdir()


def test_changed_host_key_is_refused(estate, sshd) -> None:
    tmp, roots, inventory = estate
    other = tmp / "other_known_hosts"
    other.write_text(f"[{sshd.host}]:{sshd.port} ssh-ed25519 "
                     "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
    text = inventory.read_text().replace(sshd.known_hosts, str(other))
    inventory.write_text(text)
    before = snapshot(roots["hot"])
    plan = write_plan(tmp, roots, inventory, ["2025/01/STUDY-A"])
    run = capacity("tier", "apply", str(plan), "--format", "json", state=tmp / "state")
    assert run.returncode == 1
    assert "HostKeyError" in run.stdout
    assert snapshot(roots["hot"]) == before


def test_error_brake_stops_the_run(tmp_path: Path, sshd) -> None:
    """Every unit fails (its target exists already); the brake stops after two."""
    roots = make_roots(tmp_path)
    rng = random.Random(11)
    units = [f"2025/01/S{i}" for i in range(4)]
    for unit in units:
        make_study(roots["hot"], unit, 1, 100, rng)
        # A file in the way: never overwritten (a folder would be merged into).
        (roots["warm"] / unit).parent.mkdir(parents=True, exist_ok=True)
        (roots["warm"] / unit).write_bytes(b"not the study")
    inventory = inventory_file(tmp_path, sshd, roots,
                               policy={"error_brake": {"failures": 2}})
    before = snapshot(roots["hot"])
    plan = write_plan(tmp_path, roots, inventory, units)
    run = capacity("tier", "apply", str(plan), "--format", "json", state=tmp_path / "s")
    assert run.returncode == 1
    report = json.loads(run.stdout)["hosts"][0]
    assert report["failed"] == 2 and "error brake" in report["stopped"]
    states = json.loads(capacity("tier", "status", "--format", "json",
                                 state=tmp_path / "s").stdout)["hosts"][0]["states"]
    assert states == {"failed": 2}  # the other two were never started
    assert snapshot(roots["hot"]) == before


def test_a_move_merges_into_the_existing_study_but_never_overwrites(tmp_path: Path,
                                                                    sshd) -> None:
    roots = make_roots(tmp_path)
    rng = random.Random(12)
    make_study(roots["hot"], "2025/01/S1", 3, 1000, rng)
    make_study(roots["hot"], "2025/01/S2", 2, 1000, rng)
    same = (roots["hot"] / "2025/01/S1/IM00000.dcm").read_bytes()
    # S1 moved before: one of its names already holds the same image at the target.
    (roots["warm"] / "2025/01/S1").mkdir(parents=True)
    (roots["warm"] / "2025/01/S1/IM00000.dcm").write_bytes(same)
    (roots["warm"] / "2025/01/S1/earlier.dcm").write_bytes(b"moved by an earlier run")
    # S2's target holds other content under one of its names.
    (roots["warm"] / "2025/01/S2").mkdir(parents=True)
    (roots["warm"] / "2025/01/S2/IM00001.dcm").write_bytes(b"another image")
    inventory = inventory_file(tmp_path, sshd, roots)
    before = snapshot(roots["hot"])
    plan = write_plan(tmp_path, roots, inventory, ["2025/01/S1", "2025/01/S2"])
    run = capacity("tier", "apply", str(plan), "--format", "json", state=tmp_path / "s")
    report = json.loads(run.stdout)["hosts"][0]
    assert run.returncode == 1 and report["done"] == 1 and report["kept_both"] == 1
    warm = snapshot(roots["warm"])
    assert {k: v for k, v in warm.items() if k.startswith("2025/01/S1/")
            and k != "2025/01/S1/earlier.dcm"} == {
        k: v for k, v in before.items() if k.startswith("2025/01/S1/")}
    assert (roots["warm"] / "2025/01/S1/earlier.dcm").read_bytes() == b"moved by an earlier run"
    assert not (roots["hot"] / "2025/01/S1").exists()
    # S2: nothing overwritten, the source whole.
    assert (roots["warm"] / "2025/01/S2/IM00001.dcm").read_bytes() == b"another image"
    assert snapshot(roots["hot"]) == {k: v for k, v in before.items()
                                      if k.startswith("2025/01/S2/")}
    assert no_work_left(*roots.values())


def test_the_hook_gets_exactly_its_arguments(tmp_path: Path, sshd) -> None:
    """A study named '{target}' (or '{unit}') is a name, never a placeholder."""
    roots = make_roots(tmp_path)
    unit = "2025/01/{target}{unit}"
    make_study(roots["hot"], unit, 2, 100, random.Random(13))
    record = tmp_path / "hook-argv.json"
    inventory = inventory_file(tmp_path, sshd, roots, policy={"hook": [
        sys.executable, "-c", "import json, sys; open(sys.argv[1], 'w').write("
        "json.dumps(sys.argv[2:]))", str(record), "{source}", "{target}", "{unit}",
        "{source}{target}"]})
    plan = write_plan(tmp_path, roots, inventory, [unit])
    assert capacity("tier", "apply", str(plan), state=tmp_path / "s").returncode == 0
    source, target = f"{roots['hot']}/{unit}", f"{roots['warm']}/{unit}"
    assert json.loads(record.read_text()) == [source, target, unit, source + target]


def test_a_host_key_trusted_on_first_use_is_said_and_audited(tmp_path: Path, sshd) -> None:
    roots = make_roots(tmp_path)
    make_study(roots["hot"], "2025/01/S1", 1, 100, random.Random(14))
    known = tmp_path / "fresh_known_hosts"
    inventory = inventory_file(tmp_path, sshd, roots, host={"known_hosts": str(known)})
    plan = write_plan(tmp_path, roots, inventory, ["2025/01/S1"])
    refused = capacity("tier", "apply", str(plan), state=tmp_path / "state")
    assert refused.returncode == 1 and "unknown host key" in refused.stdout
    run = capacity("tier", "apply", str(plan), "--trust-new-host-keys",
                   state=tmp_path / "state")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "trusted the new host key" in run.stderr
    audit = [json.loads(line) for line in
             (tmp_path / "state" / "audit.jsonl").read_text().splitlines()]
    (record,) = [r for r in audit if r["step"] == "host-key-trusted"]
    assert record["fingerprint"] in run.stderr and record["known_hosts"] == str(known)
    assert known.read_text() == sshd.known_hosts_line()


@pytest.mark.parametrize("read_only", ["warm", "hot"])
def test_one_units_trouble_stops_one_unit(tmp_path: Path, sshd, read_only: str) -> None:
    """A read-only target (nothing can be copied) or a read-only source (a moved source
    cannot be deleted) ends each unit on its own; every unit is tried and the run goes on."""
    if os.geteuid() != 0 and not os.environ.get("CI"):
        pytest.skip("a read-only bind mount needs root (CI runs as root)")
    roots = make_roots(tmp_path)
    rng = random.Random(15)
    units = [f"2025/01/S{i}" for i in range(3)]
    for unit in units:
        make_study(roots["hot"], unit, 2, 500, rng)
    inventory = inventory_file(tmp_path, sshd, roots)
    before = snapshot(roots["hot"])
    plan = write_plan(tmp_path, roots, inventory, units)
    where = roots[read_only]
    subprocess.run(["mount", "--bind", str(where), str(where)], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", str(where)], check=True)
    try:
        run = capacity("tier", "apply", str(plan), "--format", "json", state=tmp_path / "s")
    finally:
        subprocess.run(["umount", str(where)], check=True)
    assert run.returncode == 1, run.stdout + run.stderr
    report = json.loads(run.stdout)["hosts"][0]
    assert report["stopped"] is None  # not a host failure: every unit was tried
    if read_only == "warm":
        assert report["failed"] == 3 and report["done"] == 0
        assert snapshot(roots["hot"]) == before
    else:
        assert report["kept_both"] == 3  # copied and verified; the source could not go
        assert snapshot(roots["warm"]) == before and snapshot(roots["hot"]) == before
    assert "Traceback" not in run.stderr
