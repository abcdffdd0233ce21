"""A PACS writes late images, key images and reports into old studies: one that arrives while
its study is being deleted must never be lost.

A writer watches the journal from another thread and, the moment a unit enters ``deleting``,
writes ``late.dcm`` into its study over its own SSH connection, as a PACS node would (making
the study folder again if it is gone).  After the run, every late image and every planned
file must exist, byte for byte, somewhere under the tier roots.  A unit that got a late image
ends kept-both, with the image named, and a second plan picks it up.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from capacity.load import load_inventory
from capacity.tiering import journal as J
from capacity.tiering.apply import Engine, Options
from capacity.tiering.audit import AuditLog
from capacity.tiering.journal import Journal
from capacity.tiering.state import StateDir
from capacity.transports import TEMP_PREFIX, SshTransport, TransportError
from tests.sshd import SshServer
from tests.tiering.pacs_tree import (
    inventory_file,
    make_roots,
    make_study,
    plan_from_disk,
    write_sealed,
)
from tests.tiering.test_apply import capacity

STUDIES = 20
ROUNDS = 3  # 60 units a case, four cases: hundreds of late images in all


def every_file(*roots: Path) -> dict[bytes, int]:
    """Content -> how many copies exist under the roots (links not followed)."""
    found: dict[bytes, int] = {}
    for root in roots:
        for folder, _dirs, files in os.walk(root):
            for name in files:
                path = Path(folder) / name
                if not path.is_symlink():
                    digest = hashlib.sha256(path.read_bytes()).digest()
                    found[digest] = found.get(digest, 0) + 1
    return found


class LateWriter(threading.Thread):
    """Writes one late image into each unit's source the moment the journal says it is in
    ``state`` (being deleted, by default); records what it wrote."""

    def __init__(self, journal: Path, sshd: SshServer, roots: dict[str, Path], tier: str,
                 rng: random.Random, state: str = J.DELETING):
        super().__init__(daemon=True)
        self.journal, self.sshd, self.root, self.rng = journal, sshd, roots[tier], rng
        self.state = state
        self.written: dict[str, bytes] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        with SshTransport(self.sshd.target()) as t:
            while not self.stop.is_set():
                for unit in self._in_state():
                    if unit not in self.written:
                        self._write(t, unit)
                time.sleep(0.0002)

    def _in_state(self) -> list[str]:
        if not self.journal.exists():
            return []
        try:
            db = sqlite3.connect(f"file:{self.journal}?mode=ro", uri=True, timeout=1)
            try:
                rows = db.execute("SELECT unit FROM units WHERE state = ?",
                                  (self.state,)).fetchall()
            finally:
                db.close()
        except sqlite3.Error:
            return []
        return [bytes(r[0]).decode() for r in rows]

    def _write(self, t: SshTransport, unit: str) -> None:
        data = self.rng.randbytes(3000)
        folder = f"{self.root}/{unit}"
        for _ in range(20):  # as a PACS retries: the folder may be set aside meanwhile
            try:
                t.write(f"{folder}/late.dcm", data)
            except TransportError:  # the study folder is gone: a PACS makes it again
                with contextlib.suppress(TransportError):
                    t.mkdir(folder)
                continue
            self.written[unit] = data
            return


def run_with_late_writer(tmp: Path, sshd: SshServer, *, action: str, policy: dict,
                         seed: int, state: str = J.DELETING
                         ) -> tuple[dict[str, Path], dict[bytes, int], LateWriter, dict]:
    roots = make_roots(tmp)
    rng = random.Random(seed)
    tier = "hot" if action == "move" else "warm"
    units = [f"2014/{i // 10 + 1:02d}/STUDY-{i}" for i in range(STUDIES)]
    for unit in units:
        make_study(roots[tier], unit, rng.randint(1, 4), rng.randint(500, 20_000), rng,
                   age_days=4000)
    inventory = inventory_file(tmp, sshd, roots, policy=policy)
    before = every_file(*roots.values())
    if action == "move":
        plan = plan_from_disk(inventory, roots, [("hot", "warm", u) for u in units])
    else:
        plan = plan_from_disk(inventory, roots, [("warm", "", u) for u in units],
                              action="expire", rule="expire")
    state_dir = tmp / "state"
    write_sealed(plan, tmp / "plan.json", state_dir)
    writer = LateWriter(state_dir / "journal.sqlite", sshd, roots, tier, rng, state)
    writer.start()
    try:
        run = capacity("tier", "apply", str(tmp / "plan.json"), "--allow-delete",
                       "--format", "json", state=state_dir)
    finally:
        writer.stop.set()
        writer.join()
    report = json.loads(run.stdout)["hosts"][0]
    return roots, before, writer, report


@pytest.mark.parametrize("round_", range(ROUNDS))
@pytest.mark.parametrize(("action", "policy"), [
    ("move", {}), ("move", {"stub": True}), ("expire", {"retention": "10y"})],
    ids=["move", "move-stub", "expire"])
def test_a_late_image_is_never_lost(tmp_path: Path, sshd: SshServer, action: str,
                                    policy: dict, round_: int) -> None:
    roots, before, writer, report = run_with_late_writer(
        tmp_path, sshd, action=action, policy=policy, seed=round_)
    # Idle, the writer catches 19-20 of 20 units while they are deleting; under load fewer.
    assert writer.written, "the writer caught no unit while it was deleting"
    after = every_file(*roots.values())
    for unit, data in writer.written.items():
        assert after.get(hashlib.sha256(data).digest(), 0) >= 1, f"late image of {unit} lost"
    if action == "move":
        assert all(after.get(d, 0) >= 1 for d in before), "a moved image was lost"
        for unit in writer.written:  # every planned file is at the target, whole
            assert (roots["warm"] / unit).is_dir()
    # Each unit whose late image landed before its source was gone says so.
    assert report["done"] + report["kept_both"] == STUDIES
    audit = [json.loads(line) for line in
             (tmp_path / "state" / "audit.jsonl").read_text().splitlines()]
    kept = [r for r in audit if r["step"] == "kept-both"]
    assert len(kept) == report["kept_both"]
    assert all("arrived or changed after the check" in r["error"]
               or "new files appeared" in r["error"] for r in kept)


def test_a_late_image_during_the_copy_skips_the_study(tmp_path: Path,
                                                      sshd: SshServer) -> None:
    """An image that arrives while its study is copied is a changed study, not a failed
    copy: the study stays whole where it was, is skipped (so the error brake does not
    count it), and the next run plans it as it is now."""
    roots, before, writer, report = run_with_late_writer(
        tmp_path, sshd, action="move", policy={}, seed=7, state=J.COPYING)
    assert writer.written, "the writer caught no unit while it was copying"
    after = every_file(*roots.values())
    assert all(after.get(d, 0) >= 1 for d in before), "a planned image was lost"
    assert all(after.get(hashlib.sha256(data).digest(), 0) >= 1
               for data in writer.written.values()), "a late image was lost"
    assert report["failed"] == 0
    assert report["done"] + report["skipped"] + report["kept_both"] == STUDIES
    audit = [json.loads(line) for line in
             (tmp_path / "state" / "audit.jsonl").read_text().splitlines()]
    skipped = {r["unit"] for r in audit if r["step"] == "skipped"}
    assert skipped and skipped <= set(writer.written)
    for unit in skipped:  # whole at its source, nothing of it at the target
        assert (roots["hot"] / unit / "late.dcm").is_file()
        assert not (roots["warm"] / unit).exists()


def test_a_study_rewritten_during_its_copy_is_skipped_not_failed(tmp_path: Path,
                                                                 sshd: SshServer) -> None:
    """A file the PACS rewrites in place while it is copied (a corrected header): the
    source's hash is of the old bytes, the copy holds some of each, and the listing shows
    the change.  That is a changed study, skipped whole; not a failed copy."""
    roots = make_roots(tmp_path)
    rng = random.Random(5)
    make_study(roots["hot"], "2014/01/STUDY", 2, 1000, rng, age_days=4000)
    big = roots["hot"] / "2014/01/STUDY/big.dcm"
    big.write_bytes(rng.randbytes(6_000_000))
    when = (roots["hot"] / "2014/01/STUDY/IM00000.dcm").stat().st_mtime
    os.utime(big, (when, when))
    inventory = inventory_file(tmp_path, sshd, roots, host={"pacing": {"bandwidth": "3MB/s"}})
    plan = plan_from_disk(inventory, roots, [("hot", "warm", "2014/01/STUDY")])
    state = tmp_path / "state"
    write_sealed(plan, tmp_path / "plan.json", state)
    rewritten = rng.randbytes(6_000_000)

    def rewrite_mid_copy() -> None:
        journal = state / "journal.sqlite"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if journal.exists():
                db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=1)
                try:
                    copying = db.execute("SELECT 1 FROM units WHERE state = ?",
                                         (J.COPYING,)).fetchone()
                except sqlite3.Error:
                    copying = None
                finally:
                    db.close()
                if copying:
                    time.sleep(0.8)  # the source is hashed; the copy is a third through
                    with open(big, "r+b") as f:  # in place: the copy never sees it shrink
                        f.write(rewritten)
                    return
            time.sleep(0.001)

    writer = threading.Thread(target=rewrite_mid_copy, daemon=True)
    writer.start()
    run = capacity("tier", "apply", str(tmp_path / "plan.json"), "--format", "json",
                   state=state)
    writer.join()
    report = json.loads(run.stdout)["hosts"][0]
    assert (report["failed"], report["skipped"]) == (0, 1), run.stdout
    assert big.read_bytes() == rewritten
    assert not (roots["warm"] / "2014/01/STUDY").exists()
    audit = [json.loads(line) for line in (state / "audit.jsonl").read_text().splitlines()]
    assert any("changed while it was copied" in str(r.get("error")) for r in audit)


def test_an_expiry_leaves_exactly_the_late_images(tmp_path: Path, sshd: SshServer) -> None:
    roots, _, writer, report = run_with_late_writer(
        tmp_path, sshd, action="expire", policy={"retention": "10y"}, seed=99)
    assert report["done"] + report["kept_both"] == STUDIES
    for unit, data in writer.written.items():
        # Nothing of the expired units but the late images is left.  The writer's own
        # temporary file may be too: its write was cut when the engine set the folder
        # aside (the rename into it found no folder), and the engine rightly keeps a file
        # it never verified; it holds the late image's bytes, never the unit's.
        left = sorted((roots["warm"] / unit).iterdir())
        assert [p.name for p in left if not p.name.startswith(TEMP_PREFIX)] == ["late.dcm"]
        assert all(p.read_bytes() == data for p in left)


# --------------------------------------------------------------------------- resume


class Killed(BaseException):
    """The process dies: nothing after this instant runs."""


class KilledOnDeleting(Journal):
    """A journal whose process dies the instant a unit (or a batch) is durably marked
    deleting."""

    def set_many(self, unit_ids: list[str], state: str, **kw: Any) -> None:
        super().set_many(unit_ids, state, **kw)
        if state == J.DELETING:
            raise Killed


@pytest.mark.parametrize("action", ["move", "expire"])
def test_resume_looks_again_before_it_deletes(tmp_path: Path, sshd: SshServer,
                                              action: str) -> None:
    """A unit left deleting is finished by resume; an image that arrived in between stays
    (for an expiry: a file 0 days old under a 10-year retention)."""
    roots = make_roots(tmp_path)
    tier = "hot" if action == "move" else "warm"
    make_study(roots[tier], "2014/01/STUDY", 3, 5000, random.Random(5), age_days=4000)
    inventory = inventory_file(tmp_path, sshd, roots, policy={"retention": "10y"})
    before = every_file(*roots.values())
    if action == "move":
        plan = plan_from_disk(inventory, roots, [("hot", "warm", "2014/01/STUDY")])
    else:
        plan = plan_from_disk(inventory, roots, [("warm", "", "2014/01/STUDY")],
                              action="expire", rule="expire")
    state = StateDir(tmp_path / "state")
    journal = KilledOnDeleting(state.journal)
    audit = AuditLog(state.audit)
    with SshTransport(sshd.target()) as transport:
        engine = Engine(load_inventory(inventory), "pacs1", transport, journal, audit,
                        Options(allow_delete=True))
        with pytest.raises(Killed):
            engine.run_plan(plan, "plan.json")
    journal.close()
    audit.close()

    late = roots[tier] / "2014/01/STUDY/late.dcm"
    late.write_bytes(b"key image written after the study was marked for deletion")
    run = capacity("tier", "resume", "--allow-delete", "--format", "json", state=state.root)
    assert run.returncode == 1, run.stdout + run.stderr  # kept-both is not a clean run
    report = json.loads(run.stdout)["hosts"][0]
    assert report["kept_both"] == 1
    assert late.read_bytes().startswith(b"key image")
    assert sorted(p.name for p in late.parent.iterdir()) == ["late.dcm"]
    if action == "move":
        after = every_file(*roots.values())
        assert all(after.get(d, 0) >= 1 for d in before)


@pytest.mark.parametrize("policy", [{}, {"stub": True}], ids=["move", "move-stub"])
def test_the_next_run_merges_late_images_into_the_moved_study(tmp_path: Path, sshd: SshServer,
                                                              policy: dict) -> None:
    roots, before, writer, report = run_with_late_writer(
        tmp_path, sshd, action="move", policy=policy, seed=7)
    assert report["kept_both"] > 0, "the writer beat no delete: the case was not exercised"
    left = sorted(str(p.relative_to(roots["hot"])) for p in roots["hot"].glob("2014/*/*")
                  if p.is_dir() and not p.is_symlink())
    assert left, "late images wait at the source"
    # The late images are as young as the day they came; a later run, once they are old
    # enough for the rule, moves them: make them that old.
    old = time.time() - 400 * 86400
    for unit in left:
        for path in (roots["hot"] / unit).rglob("*"):
            os.utime(path, (old, old))
    inventory = tmp_path / "inventory.yaml"
    plan = plan_from_disk(inventory, roots, [("hot", "warm", u) for u in left])
    write_sealed(plan, tmp_path / "plan2.json", tmp_path / "state")
    run = capacity("tier", "apply", str(tmp_path / "plan2.json"), "--format", "json",
                   state=tmp_path / "state")
    again = json.loads(run.stdout)["hosts"][0]
    assert run.returncode == 0, run.stdout + run.stderr
    assert again["done"] == len(left), again
    for unit, data in writer.written.items():  # every late image sits in its moved study
        assert (roots["warm"] / unit / "late.dcm").read_bytes() == data
    after = every_file(roots["warm"])
    assert all(after.get(d, 0) >= 1 for d in before)
    if policy.get("stub"):  # and the stubs point there
        for unit in writer.written:
            assert (roots["hot"] / unit).resolve() == (roots["warm"] / unit).resolve()
