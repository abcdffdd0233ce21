"""Small units in batches: many units per host command, the same outcomes as one at a time.
Every file is checked by its sha256 against the original set, and the commands are counted
as the host runs them."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from capacity.load import load_inventory
from capacity.tiering import batch
from capacity.tiering import journal as J
from capacity.tiering.apply import Engine, Options
from capacity.tiering.audit import AuditLog
from capacity.tiering.journal import Journal
from capacity.tiering.state import StateDir
from capacity.transports import CommandResult, ConnectionLost, TransportError
from capacity.transports.local import LocalTransport
from capacity.transports.ssh import SshTransport
from tests.sshd import SshServer
from tests.tiering.pacs_tree import inventory_file, make_roots, make_study, plan_from_disk, snapshot


class Counting(LocalTransport):
    """This machine's files, counting the commands run (each is a round trip over SSH)."""

    def __init__(self) -> None:
        super().__init__()
        self.commands = 0

    def run(self, argv: Sequence[str], **kw: Any) -> CommandResult:
        self.commands += 1
        return super().run(argv, **kw)

    def stream(self, argv: Sequence[str], **kw: Any):  # type: ignore[no-untyped-def]
        self.commands += 1
        return super().stream(argv, **kw)


def estate(tmp_path: Path, sshd: SshServer, studies: int, **host: Any
           ) -> tuple[dict[str, Path], Path, list[str]]:
    roots = make_roots(tmp_path)
    rng = random.Random(3)
    units = [f"2025/{i % 12 + 1:02d}/CR-{i:03d}" for i in range(studies)]
    for unit in units:
        make_study(roots["hot"], unit, 3, 2000, rng)
    return roots, inventory_file(tmp_path, sshd, roots, host=host), units


def engine(tmp_path: Path, inventory: Path, transport: LocalTransport,
           journal: Journal | None = None) -> Engine:
    state = StateDir(tmp_path / "state")
    return Engine(load_inventory(inventory), "pacs1", transport,
                  journal or Journal(state.journal), AuditLog(state.audit), Options())


@pytest.mark.parametrize("in_flight", [1, 4])
def test_a_hundred_small_studies_take_a_few_commands_a_batch(tmp_path: Path, sshd: SshServer,
                                                             in_flight: int) -> None:
    roots, inventory, units = estate(tmp_path, sshd, 100, copies_in_flight=in_flight)
    before = snapshot(roots["hot"])
    plan = plan_from_disk(inventory, roots, [("hot", "warm", u) for u in units])
    transport = Counting()
    report = engine(tmp_path, inventory, transport).run_plan(plan, "plan.json")
    assert (report.done, report.failed, report.skipped) == (100, 0, 0)
    assert snapshot(roots["warm"]) == before
    assert not [p for p in roots["hot"].rglob("*") if p.is_file()]
    batches = -(-100 // batch.UNITS)
    # One unit at a time took about 27 commands each (2,700 here); a batch takes 15, and
    # the tier roots are resolved once.
    assert transport.commands <= 15 * batches + 5, transport.commands
    journal = Journal(StateDir(tmp_path / "state").journal)
    assert {r.state for r in journal.units()} == {J.DONE}


def test_units_that_leave_the_batch_end_as_they_would_alone(tmp_path: Path,
                                                            sshd: SshServer) -> None:
    """In one batch: a study changed since it was planned, one whose target is taken, one
    holding a link, one already gone; the others move, each of these ends as alone."""
    roots, inventory, units = estate(tmp_path, sshd, 8)
    plan = plan_from_disk(inventory, roots, [("hot", "warm", u) for u in units])
    changed, taken, linked, gone = units[1], units[3], units[5], units[6]
    (roots["hot"] / changed / "late.dcm").write_bytes(b"a late image")
    (roots["warm"] / taken).parent.mkdir(parents=True, exist_ok=True)
    (roots["warm"] / taken).write_bytes(b"not the study")
    (roots["hot"] / linked / "IM00000.dcm").unlink()
    (roots["hot"] / linked / "IM00000.dcm").symlink_to("/etc/passwd")
    for f in (roots["hot"] / gone).iterdir():
        f.unlink()
    (roots["hot"] / gone).rmdir()
    before = snapshot(roots["hot"])
    report = engine(tmp_path, inventory, Counting()).run_plan(plan, "plan.json")
    assert (report.done, report.skipped, report.failed) == (4, 3, 1)
    rows = {r.unit: r for r in Journal(StateDir(tmp_path / "state").journal).units()}
    assert rows[changed].state == J.SKIPPED and "changed" in (rows[changed].error or "")
    assert rows[taken].state == J.FAILED and "never overwritten" in (rows[taken].error or "")
    assert rows[linked].state == J.SKIPPED and "not a regular file" in (rows[linked].error
                                                                          or "")
    assert rows[gone].state == J.SKIPPED and "gone" in (rows[gone].error or "")
    for unit in set(units) - {changed, taken, linked, gone}:
        assert rows[unit].state == J.DONE
    after = {**snapshot(roots["hot"]), **snapshot(roots["warm"])}
    for rel, digest in before.items():  # every file whole in one place
        assert rel.split("/", 3)[-1] and digest in after.values()
    assert (roots["warm"] / taken).read_bytes() == b"not the study"


class DiesAfter(Journal):
    """The process dies the instant the batch is durably in ``state``."""

    def __init__(self, path: Path, state: str) -> None:
        super().__init__(path)
        self.state = state

    def set_many(self, unit_ids: list[str], state: str, **kw: Any) -> None:
        super().set_many(unit_ids, state, **kw)
        if state == self.state and len(unit_ids) > 1:
            raise KeyboardInterrupt


@pytest.mark.parametrize("state", [J.CHECKING, J.COPYING, J.VERIFYING, J.RENAMING,
                                   J.FINISHING, J.DELETING])
def test_a_batch_cut_at_any_state_resumes_losing_nothing(tmp_path: Path, sshd: SshServer,
                                                         state: str) -> None:
    roots, inventory, units = estate(tmp_path, sshd, 12)
    before = snapshot(roots["hot"])
    plan = plan_from_disk(inventory, roots, [("hot", "warm", u) for u in units])
    journal = DiesAfter(StateDir(tmp_path / "state").journal, state)
    with pytest.raises(KeyboardInterrupt):
        engine(tmp_path, inventory, Counting(), journal).run_plan(plan, "plan.json")
    stuck = {r.state for r in journal.units()}
    assert stuck == {state}
    journal.close()
    report = engine(tmp_path, inventory, Counting()).recover()
    assert report.done == 12 and report.failed == report.kept_both == 0
    assert snapshot(roots["warm"]) == before
    assert not [p for p in roots["hot"].rglob("*") if not p.is_dir()]
    assert not [p for r in roots.values() for p in r.rglob("*") if ".capacity-" in p.name]
    assert os.listdir(roots["hot"] / "2025") is not None


class Timed(Counting):
    """Records when each batch's copy and each batch's deletion ran; the deletion takes a
    while, as thousands of unlinks do on a real disk."""

    def __init__(self, fail_deleting: int | None = None) -> None:
        super().__init__()
        self.copies: list[tuple[float, float]] = []
        self.deletes: list[tuple[float, float]] = []
        self.fail_deleting = fail_deleting

    def copy_and_hash_many(self, *args: Any, **kw: Any):  # type: ignore[no-untyped-def]
        start = time.monotonic()
        try:
            return super().copy_and_hash_many(*args, **kw)
        finally:
            self.copies.append((start, time.monotonic()))

    def delete_files(self, paths: Sequence[str]) -> None:
        start = time.monotonic()
        time.sleep(0.3)
        if len(self.deletes) == self.fail_deleting:
            self.deletes.append((start, time.monotonic()))
            raise TransportError("rm: cannot remove: Input/output error")
        super().delete_files(paths)
        self.deletes.append((start, time.monotonic()))


def test_a_batchs_deletion_runs_while_the_next_batch_copies(
        tmp_path: Path, sshd: SshServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "UNITS", 10)
    roots, inventory, units = estate(tmp_path, sshd, 30)
    before = snapshot(roots["hot"])
    plan = plan_from_disk(inventory, roots, [("hot", "warm", u) for u in units])
    transport = Timed()
    report = engine(tmp_path, inventory, transport).run_plan(plan, "plan.json")
    assert (report.done, report.failed, report.skipped) == (30, 0, 0)
    assert snapshot(roots["warm"]) == before
    assert not [p for p in roots["hot"].rglob("*") if not p.is_dir()]
    assert len(transport.copies) == len(transport.deletes) == 3
    # Batch n's unlinks were still running when batch n + 1's copy began.
    for (del_start, del_end), (copy_start, _) in zip(transport.deletes, transport.copies[1:],
                                                     strict=False):
        assert del_start < copy_start < del_end


def test_a_deletion_that_fails_hands_its_units_on(tmp_path: Path, sshd: SshServer,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The second batch's unlinks fail on the host while the third batch copies: its
    units go on alone from the journal's state (deleting), and every file ends whole at
    the target, nothing at the source."""
    monkeypatch.setattr(batch, "UNITS", 10)
    roots, inventory, units = estate(tmp_path, sshd, 30)
    before = snapshot(roots["hot"])
    plan = plan_from_disk(inventory, roots, [("hot", "warm", u) for u in units])
    report = engine(tmp_path, inventory, Timed(fail_deleting=1)).run_plan(plan, "plan.json")
    assert (report.done, report.failed, report.skipped) == (30, 0, 0)
    assert snapshot(roots["warm"]) == before
    assert not [p for p in roots["hot"].rglob("*") if not p.is_dir()]
    assert not [p for r in roots.values() for p in r.rglob("*") if ".capacity-" in p.name]
    journal = Journal(StateDir(tmp_path / "state").journal)
    assert {r.state for r in journal.units()} == {J.DONE}


def test_a_host_lost_while_a_batch_deletes_leaves_it_to_resume(
        tmp_path: Path, sshd: SshServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The connection drops during the next batch's copy while a batch is deleting: the
    run stops after the deletion ends, and resume finishes every unit, losing nothing."""
    monkeypatch.setattr(batch, "UNITS", 10)
    roots, inventory, units = estate(tmp_path, sshd, 30)
    before = snapshot(roots["hot"])
    plan = plan_from_disk(inventory, roots, [("hot", "warm", u) for u in units])

    class Drops(Timed):
        def copy_and_hash_many(self, *args: Any, **kw: Any):  # type: ignore[no-untyped-def]
            if self.copies:
                self.copies.append((0.0, 0.0))
                raise ConnectionLost("connection lost while copying")
            return super().copy_and_hash_many(*args, **kw)

    transport = Drops()
    with pytest.raises(ConnectionLost):
        engine(tmp_path, inventory, transport).run_plan(plan, "plan.json")
    assert len(transport.deletes) == 1  # the first batch's deletion ran to its end
    report = engine(tmp_path, inventory, Counting()).recover()
    assert report.failed == report.kept_both == 0
    rows = list(Journal(StateDir(tmp_path / "state").journal).units())
    # The first two batches were journaled and are done; the third was never started.
    assert sorted(r.unit for r in rows) == sorted(units[:20])
    assert {r.state for r in rows} == {J.DONE}
    hot, warm = snapshot(roots["hot"]), snapshot(roots["warm"])
    for rel, digest in before.items():  # every file whole in exactly one place
        assert (hot.get(rel), warm.get(rel)).count(digest) == 1, rel
    assert sorted(hot) == sorted(r for r in before if r.rsplit("/", 1)[0] in units[20:])


def test_batches_over_ssh_delete_on_a_channel_of_their_own(
        tmp_path: Path, sshd: SshServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the real SSH server: the deletion's thread and the next batch's copy use the
    one connection at once (the shell for one, an exec channel for the other)."""
    monkeypatch.setattr(batch, "UNITS", 10)
    roots, inventory, units = estate(tmp_path, sshd, 40)
    before = snapshot(roots["hot"])
    plan = plan_from_disk(inventory, roots, [("hot", "warm", u) for u in units])
    state = StateDir(tmp_path / "state")
    with SshTransport(sshd.target()) as transport:
        engine_ = Engine(load_inventory(inventory), "pacs1", transport, Journal(state.journal),
                         AuditLog(state.audit), Options())
        report = engine_.run_plan(plan, "plan.json")
    assert (report.done, report.failed, report.skipped) == (40, 0, 0)
    assert snapshot(roots["warm"]) == before
    assert not [p for p in roots["hot"].rglob("*") if not p.is_dir()]
    assert not [p for r in roots.values() for p in r.rglob("*") if ".capacity-" in p.name]
