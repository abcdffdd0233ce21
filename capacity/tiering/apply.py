"""Apply a plan: each unit through a journaled state machine that never loses data.

A move, on the host itself (a same-host move never streams data through the controller):

    check      the source still is what was planned (every file's size and mtime, nothing
               added, no symlink, nothing outside the tier root); the target is free and has
               room
    copy       into a work directory on the target tier: ROOT/.capacity-work/ID/payload
               (cp -a, or rsync --bwlimit when the host or policy limits bandwidth); flush;
               sha256 of every file of the copy, and meanwhile of the source, on the host
    verify     the two sets of sums must be equal, and the source unchanged
    rename     the verified copy into place (atomic, never over an existing target)
    finish     run the policy's hook, and make sure the source did not change meanwhile
    delete     the source (or replace it by a symbolic link to the target, with ``stub``)

Every state is journaled durably before its step is taken.  Whatever instant a crash hits,
each file exists whole in at least one place: the source stays until the target is verified
and in place, and the journal says which steps may have run.  ``recover`` then rolls an
unfinished unit back (before the rename) or forward (after it), and removes its work files.
An expiry checks the unit again (unchanged, past retention, not held) and deletes it, only
with ``allow_delete``.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import hashlib
import json
import posixpath
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from capacity.model import Host, Inventory, Policy
from capacity.model.inventory import path_contains
from capacity.model.policy import OpenHours, effective
from capacity.tiering import journal as J
from capacity.tiering.audit import AuditLog
from capacity.tiering.hosts import real_roots, resolve
from capacity.tiering.journal import Journal, UnitRow
from capacity.tiering.planfile import Plan, PlannedUnit
from capacity.transports import (
    AlreadyExists,
    Capability,
    CommandTimeout,
    ConnectionLost,
    FileStat,
    HostKeyError,
    NotFound,
    OperationFailed,
    Transport,
    TransportError,
    Unsupported,
)
from capacity.transports.base import join_below

if TYPE_CHECKING:
    from capacity.tiering.batch import BatchMove
    from capacity.transports.s3 import S3Transport

WORK_DIR = ".capacity-work"
"""Under each target tier root; the scanner skips it."""
MTIME_TOLERANCE = 1e-6


class UnitProblem(Exception):
    """A unit cannot go on; ``final`` is the state it ends in, ``refused`` one of
    :data:`capacity.tiering.audit.REFUSALS` when the engine refused to delete it."""

    def __init__(self, final: str, message: str, *, refused: str | None = None):
        super().__init__(message)
        self.final = final
        self.refused = refused


@dataclass
class Options:
    allow_delete: bool = False
    respect_windows: bool = True
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now().astimezone()


@dataclass
class HostReport:
    host: str
    done: int = 0
    skipped: int = 0
    failed: int = 0
    kept_both: int = 0
    bytes: int = 0
    seconds: float = 0.0
    stopped: str | None = None
    """Why the run stopped before the end of the plan (window closed, error brake)."""
    problems: list[str] = field(default_factory=list)


HOST_TROUBLE = (ConnectionLost, CommandTimeout, HostKeyError, Unsupported)
"""Errors that stop the host (resume picks its units up); any other ends one unit.  A
missing capability is the host's: every unit there would meet it."""
FILE_TIER_NEEDS = Capability.RENAME | Capability.DIRECTORIES
"""A source is set aside by a rename before its verified files are deleted, and its folders
go by rmdir only once empty: what keeps a late image safe on a file tier."""
MOVE_NEEDS = (Capability.COPY_ON_HOST | Capability.HASH_TREE | Capability.FLUSH
              | Capability.SPACE | FILE_TIER_NEEDS)
"""A move checks the target's free space, copies, flushes and hashes on the host, and
switches by a rename.  Listing, unlinking and cleaning up are operations every transport has
(one command each where it has RUN)."""
EXPIRE_NEEDS = FILE_TIER_NEEDS
HOOK_NEEDS = Capability.RUN
"""A policy's ``hook`` is a command run on the host."""


def work_path(target_root: str, unit_id: str) -> str:
    return f"{target_root}/{WORK_DIR}/{unit_id}"


def aside_path(row: UnitRow) -> str:
    """Where a source waits while exactly its verified files are deleted: beside it (same
    file system, so the rename is atomic), under a name the scanner skips."""
    return f"{posixpath.dirname(row.source)}/.capacity-deleting-{row.id}"


class Engine:
    """Runs units on one host."""

    def __init__(self, inventory: Inventory, host_name: str, transport: Transport,
                 journal: Journal, audit: AuditLog, options: Options):
        self.inventory = inventory
        self.host_name = host_name
        self.host: Host = inventory.hosts[host_name]
        self.t = transport
        self.journal = journal
        self.audit = audit
        self.options = options
        self._real_roots: dict[str, str] = {}
        self._tier_roots: dict[str, str] | None = None
        self.errors = 0
        """Units ended by an unexpected error (counted by the error brake)."""
        self._background: concurrent.futures.ThreadPoolExecutor | None = None
        self._stores: dict[str, S3Transport] = {}
        self._by_host: bool | None = None
        self._ca_on_host: str | None = None

    def background(self) -> concurrent.futures.ThreadPoolExecutor:
        """One thread for host work that overlaps the run's next step (a batch's deletes)."""
        if self._background is None:
            self._background = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix=f"capacity-{self.host_name}")
        return self._background

    # --- bucket tiers ------------------------------------------------------------------

    def bucket_of(self, tier: str | None) -> S3Transport | None:
        """The object store of a bucket tier of this host (None for a file tier), opened
        once a run."""
        spec = self.host.tiers.get(tier or "")
        if spec is None or spec.bucket is None:
            return None
        if tier not in self._stores:
            from capacity.tiering.hosts import s3_target
            from capacity.transports.s3 import S3Transport

            self._stores[tier or ""] = S3Transport(s3_target(self.inventory, spec))
        return self._stores[tier or ""]

    def _bucket(self, row: UnitRow) -> S3Transport | None:
        return self.bucket_of(row.detail.get("target_tier"))

    def archive_by_host(self) -> bool:
        """Whether the host uploads to the archive itself (it has curl and reached the store
        so far); else the controller streams its files."""
        if self._by_host is None:
            self._by_host = self.t.has(Capability.RUN) and self.t.run(
                ["curl", "--version"], check=False).ok
        return self._by_host

    def archive_unreachable(self, stderr: bytes) -> None:
        """The host could not reach the store: the rest of the run streams through here."""
        self._by_host = False
        self.audit.write(step="archive-unreachable", host=self.host_name,
                         error=stderr.decode("utf-8", "replace").strip()[-500:])

    def archive_ca(self) -> str | None:
        """The store's CA bundle, put on the host for its uploads (a public certificate)."""
        if self._ca_on_host is None:
            stores = [self.inventory.object_stores[s.storage or ""].s3
                      for s in self.host.tiers.values() if s.bucket]
            bundle = next((api.ca_bundle for api in stores if api and api.ca_bundle), None)
            if bundle is None:
                return None
            from pathlib import Path

            data = Path(bundle).expanduser().read_bytes()
            path = f"{self.host.lock}.ca.pem"
            self.t.write(path, data)
            self._ca_on_host = path
        return self._ca_on_host

    # --- the public steps -------------------------------------------------------------

    def run_plan(self, plan: Plan, plan_name: str) -> HostReport:
        from capacity.tiering import batch

        report = HostReport(self.host_name)
        started = time.monotonic()
        units = list(units_of(plan, self.host_name))
        self.check_capabilities((u.action, u.policy) for u in units)
        tally = _Tally(report)
        # The batch whose sources are still being deleted on the host, its units and policy;
        # once settled, the units its deletion handed on (one batch's at a time).
        deleting: tuple[batch.BatchMove, list[UnitRow], Policy | None] | None = None
        stragglers: list[UnitRow] = []
        their_policy: Policy | None = None
        braked = False

        def settle() -> None:
            nonlocal deleting, their_policy
            if deleting is not None:
                moved, fresh, their_policy = deleting
                deleting = None
                stragglers.extend(moved.settle())
                tally.batch(moved, fresh)

        def go_on() -> bool:
            """The stragglers of the settled batch, alone; True when the brake stopped."""
            rows = stragglers[:]
            stragglers.clear()
            return self._alone(rows, their_policy, tally)

        try:
            for group in self._groups(units):
                policy = self.inventory.policies.get(group[0].policy)
                closed = self._window_closed(policy)
                if closed:
                    report.stopped = closed
                    break
                rows = self._enter(plan, plan_name, group)
                fresh = [r for r in rows if r.state == J.PENDING]
                alone = [r for r in rows if r.state not in (J.PENDING, J.DONE)]
                # (A unit done before is left: applying a plan twice changes nothing.)
                if fresh and batch.batchable(self, group[0]):
                    moved = batch.BatchMove(self, fresh)
                    alone += moved.run(before_delete=settle)
                    settle()  # if this batch did not get as far as its deletion
                    deleting = (moved, fresh, policy)
                else:
                    settle()
                    alone += fresh
                braked = go_on() or self._alone(alone, policy, tally)
                if braked:
                    break
            # The batch still deleting finishes whatever stopped the run: its units are
            # past their copy.  What it hands on goes on alone, unless the brake stopped
            # the run (then resume takes it up).
            settle()
            if braked:
                self._put_back(stragglers)
            else:
                go_on()
        except BaseException:
            if deleting is not None:
                deleting[0].abandon()
            raise
        finally:
            if self._background is not None:
                self._background.shutdown()
                self._background = None
            self._close_stores()
        report.seconds = time.monotonic() - started
        return report

    def _alone(self, rows: list[UnitRow], policy: Policy | None, tally: _Tally) -> bool:
        """Take units one at a time; True when the error brake stopped the run."""
        for at, row in enumerate(rows):
            errors = self.errors
            final = self.advance(row)
            tally.unit(final, row.bytes, failed=final == J.FAILED or self.errors > errors)
            tripped = (policy.error_brake.tripped(tally.failures, tally.tries)
                       if policy else None)
            if tripped:
                tally.report.stopped = tripped
                self._put_back(rows[at + 1:])
                return True
        return False

    def _put_back(self, rows: list[UnitRow]) -> None:
        """Units of a batch the run stops short of: those that changed nothing on the host
        yet leave the journal, as if never reached (resume does not take them up; the next
        apply does); the others are left to resume."""
        early = [r for r in rows if r.state in (J.PENDING, J.CHECKING, J.COPYING, J.VERIFYING)]
        for row in early:
            self._roll_back_work(row)
        self.journal.forget([r.id for r in early])

    def _groups(self, units: list[PlannedUnit]) -> Iterator[list[PlannedUnit]]:
        """The host's units in plan order: runs of small moves of one policy between the
        same tiers as batches (see tiering.batch), any other unit alone."""
        from capacity.tiering import batch

        group: list[PlannedUnit] = []
        for unit in units:
            if group and (not batch.batchable(self, unit) or len(group) >= batch.UNITS
                          or (unit.policy, unit.source, unit.target) != (
                              group[0].policy, group[0].source, group[0].target)
                          or sum(u.bytes for u in group) + unit.bytes > batch.BYTES):
                yield group
                group = []
            if not batch.batchable(self, unit):
                yield [unit]
                continue
            group.append(unit)
        if group:
            yield group

    def recall(self, units: Iterable[tuple[str, str, str]], name: str = "recall",
               inventory: str | None = None) -> HostReport:
        """Bring archived units back: (bucket tier, file tier, unit path) each, the unit's
        manifest saying what its files are.  Journaled like moves (with ``inventory``, the
        file resume loads), so resume finishes a recall cut short; a unit recalled before
        is not fetched again."""
        from capacity.tiering.archive import MANIFEST

        report = HostReport(self.host_name)
        started = time.monotonic()
        entries = []
        for source_tier, target_tier, unit in units:
            store = self.bucket_of(source_tier)
            target = self.host.tiers.get(target_tier)
            if store is None or target is None or target.bucket is not None:
                raise ValueError(f"a recall is from a bucket tier of {self.host_name} to a"
                                 f" file tier of it; {source_tier!r} -> {target_tier!r} is not")
            source_root = self.host.tiers[source_tier].path.rstrip("/")
            prefix = f"{source_root}/{unit}"
            manifest_path = f"{prefix}/{MANIFEST}"
            if not store.exists(manifest_path) and store.exists(f"{prefix}{MANIFEST}"):
                manifest_path = f"{prefix}{MANIFEST}"  # a single-file unit
            try:
                manifest = json.loads(store.read(manifest_path))
            except (NotFound, ValueError) as exc:
                raise ValueError(f"{unit} is not in the archive {source_tier!r}: no manifest"
                                 f" at {manifest_path} ({exc})") from None
            files = manifest["files"]
            is_dir = manifest_path.endswith(f"/{MANIFEST}")
            unit_id = hashlib.sha256("\0".join(("recall", self.host_name, source_tier,
                                                 target_tier, unit, str(manifest.get("id"))))
                                     .encode("utf-8", "surrogateescape")).hexdigest()[:32]
            root = target.path.rstrip("/") or "/"
            detail = {"files": files, "source_root": source_root, "target_root": root,
                      "is_dir": is_dir, "source_tier": source_tier,
                      "target_tier": target_tier, "manifest": manifest_path,
                      "inventory": inventory}
            entries.append((unit_id, name, self.host_name, "", "recall", "recall", prefix,
                            f"{root.rstrip('/')}/{unit}", unit,
                            sum(int(f["size"]) for f in files), detail))
        rows = self.journal.add_many(entries)
        rows = [self.journal.restart(row.id, entry[-1])
                if row.state in J.FINAL and row.state != J.DONE else row
                for row, entry in zip(rows, entries, strict=True)]
        try:
            for row in rows:
                if row.state != J.DONE:
                    _count(report, self.advance(row), row.bytes)
        finally:
            self._close_stores()
        report.seconds = time.monotonic() - started
        return report

    def _recall(self, row: UnitRow) -> None:
        from capacity.tiering.archive import Recall

        store = self.bucket_of(row.detail.get("source_tier"))
        assert store is not None, "a recall's source is a bucket tier"
        Recall(self, store).run(row)

    def recover(self) -> HostReport:
        """Finish every unfinished unit of this host that the journal knows."""
        report = HostReport(self.host_name)
        started = time.monotonic()
        rows = list(self.journal.units(host=self.host_name, unfinished=True))
        self.check_capabilities((row.action, row.policy) for row in rows)
        try:
            for row in rows:
                policy = self.inventory.policies.get(row.policy)
                closed = self._window_closed(policy)
                if closed:
                    self._roll_back_work(row)
                    report.stopped = closed
                    continue
                _count(report, self.advance(row), row.bytes)
        finally:
            self._close_stores()
        report.seconds = time.monotonic() - started
        return report

    def _close_stores(self) -> None:
        for store in self._stores.values():
            store.close()
        self._stores.clear()

    def check_capabilities(self, work: Iterable[tuple[str, str]]) -> None:
        """Refuse the host before anything is touched when its transport lacks what the
        (action, policy) pairs need, naming the transport and the capability."""
        needs = Capability.NONE
        any_work = False
        for action, policy_name in work:
            any_work = True
            policy = self.inventory.policies.get(policy_name)
            needs |= EXPIRE_NEEDS if action == "expire" else MOVE_NEEDS
            into_bucket = {r.action for r in policy.rules
                           if self.bucket_of(r.target) is not None} if policy else set()
            archive = bool(into_bucket & {"move", "copy"})
            if "move" in into_bucket and policy is not None and policy.stub:
                raise Unsupported(self.label_for_stub(), Capability.SYMLINKS,
                                  f"leave a stub link to an object (policy {policy_name!r}"
                                  " has stub: true and moves into a bucket tier)")
            if archive:
                needs |= Capability.RUN  # the host's files are read by a command
            if action == "move" and policy is not None and policy.stub:
                self.t.require(Capability.SYMLINKS,
                               f"leave a stub link at each moved source (policy"
                               f" {policy_name!r} has stub: true)")
            if action == "move" and policy is not None and policy.hook:
                self.t.require(HOOK_NEEDS, f"run the hook of policy {policy_name!r} after"
                               " each move")
        if any_work and self.t.has(Capability.SYMLINKS):
            needs |= Capability.REALPATH  # else a link could lead a unit out of its tier
        self.t.require(needs, f"apply a plan on host {self.host_name}")

    def advance(self, row: UnitRow) -> str:
        """Take a unit from whatever state it is in to a final one."""
        try:
            if row.action == "expire":
                self._expire(row)
            elif row.action == "recall":
                self._recall(row)
            else:
                self._move(row)
            final = J.DONE
        except UnitProblem as problem:
            final = self.end(row, problem)
        except HOST_TROUBLE as exc:
            # The host or the connection failed mid-step: the journal still says where the
            # unit stood; resume picks it up from there.
            self._audit(row, "interrupted", error=str(exc))
            raise
        except Exception as exc:  # the unit's own trouble ends that unit only
            # A file it may not delete, a read-only target, a bug: this unit ends, the run
            # goes on (and the error brake counts it).
            final = self._end_on_error(row, exc)
        return final

    def end(self, row: UnitRow, problem: UnitProblem) -> str:
        """End a unit short of done: its work rolled back, the reason journaled and audited."""
        self._roll_back_work(row)
        self.journal.set(row.id, problem.final, error=str(problem))
        refused = {"refused": problem.refused} if problem.refused else {}
        self._audit(row, problem.final, error=str(problem), **refused)
        return problem.final

    def _end_on_error(self, row: UnitRow, exc: Exception) -> str:
        message = f"{type(exc).__name__}: {exc}"
        row = self._reload(row)
        store = self._bucket(row)
        placed = row.state in (J.RENAMING, J.FINISHING, J.DELETING) and bool(
            row.target) and (store or self.t).exists(row.target or "")
        final = J.KEPT_BOTH if placed else J.FAILED
        self._roll_back_work(row)
        self.journal.set(row.id, final, error=message)
        self._audit(row, final, error=message)
        self.errors += 1
        return final

    # --- moves ----------------------------------------------------------------------

    def label_for_stub(self) -> str:
        store = next(iter(self._stores.values()), None)
        return store.label if store else "object store"

    def _move(self, row: UnitRow) -> None:
        assert row.target is not None
        store = self._bucket(row)
        if store is not None:
            from capacity.tiering.archive import ArchiveCopy, ArchiveMove

            source = self.bucket_of(row.detail.get("source_tier"))
            (ArchiveMove(self, store) if source is None
             else ArchiveCopy(self, source, store)).run(row)
            return
        state = row.state
        work = work_path(self._root_of(row), row.id)
        payload = f"{work}/payload"
        if state in (J.PENDING, J.CHECKING, J.COPYING, J.VERIFYING):
            # Nothing is in place yet: start (again) from a clean slate.
            self._roll_back_work(row)
            self._set(row, J.CHECKING)
            listing = self._check_source(row)
            self._check_target(row)
            self._set(row, J.COPYING, work=work)
            source_sums, copy_sums = self._copy(row, payload)
            self._set(row, J.VERIFYING)
            sums = self._verify(row, listing, source_sums, copy_sums)
            self._set(row, J.RENAMING, checksums=sums)
            state = J.RENAMING
        row = self._reload(row)
        if state == J.RENAMING:
            self._rename(row, payload)
            self._set(row, J.FINISHING)
            state = J.FINISHING
        row = self._reload(row)
        if state == J.FINISHING:
            self._finish(row)
            self._set(row, J.DELETING)
            state = J.DELETING
        if state == J.DELETING:
            self._delete_source(row)
            self._set(row, J.DONE)

    def _check_source(self, row: UnitRow) -> dict[str, tuple[int, float]]:
        planned = planned_files(row)
        if not self.t.exists(row.source):
            if row.target and self._bucket(row) is None and self.t.exists(row.target):
                found = self._listing(row.target, row.target)
                if same_files(found, planned):
                    raise UnitProblem(J.DONE, "already in place at the target")
            raise UnitProblem(J.SKIPPED, "the source is gone")
        self._inside_root(row.source, row.detail["source_root"])
        self._holds_no_tier_root(row)
        found = self._listing(row.source, row.detail["source_root"])
        if not same_files(found, planned):
            raise UnitProblem(J.SKIPPED, "the source changed since it was planned: "
                              + _difference(found, planned))
        return found

    def _check_target(self, row: UnitRow) -> None:
        assert row.target is not None
        st = self.t.stat(row.target)
        # A study moved before, whose late images follow it now, merges into its folder
        # file by file; anything else in the way is never overwritten.
        if st is not None and not (st.is_dir and not st.is_symlink and row.detail["is_dir"]):
            raise UnitProblem(J.FAILED, f"the target {row.target} exists already; it is"
                              " never overwritten")
        target_root = self._root_of(row)
        self._inside_root(posixpath.dirname(row.target), target_root, may_be_missing=True)
        space = self.t.free_space(target_root)
        if space.available < row.bytes:
            raise UnitProblem(J.FAILED, f"target tier full: {space.available} bytes available,"
                              f" the unit needs {row.bytes}")

    def _copy(self, row: UnitRow, payload: str) -> tuple[dict[str, str], dict[str, str]]:
        """Copy the unit into its work directory, flush it to disk and hash the copy; hash
        the source meanwhile.  Returns the sha256 of the source's files and of the copy's."""
        self.t.mkdir(posixpath.dirname(payload))
        try:
            sums = self.t.copy_and_hash(row.source, payload, bandwidth=self._bandwidth(row),
                                        scratch=f"{posixpath.dirname(payload)}/copy.sha256")
        except OperationFailed as exc:
            # A copy that tripped over a file being written (vanished, grew) is a busy
            # study, skipped whole like one that changed under a finished copy.
            planned = planned_files(row)
            if not same_files(self._listing(row.source, row.detail["source_root"]), planned):
                raise UnitProblem(J.SKIPPED, "the source changed while it was copied"
                                  f" ({exc})") from None
            raise UnitProblem(J.FAILED, str(exc)) from None
        self._audit(row, "copied", bytes=row.bytes, work=payload)
        return sums

    def _verify(self, row: UnitRow, listing: dict[str, tuple[int, float]],
                source: dict[str, str], copy: dict[str, str]) -> dict[str, Any]:
        # A study that gained or changed a file during the copy (a late image) is not a
        # failed copy: it is skipped whole, and the next run plans it as it is now.
        if set(source) != set(listing) or not same_files(
                self._listing(row.source, row.detail["source_root"]), listing):
            raise UnitProblem(J.SKIPPED, "the source changed while it was copied")
        if source != copy:
            raise UnitProblem(J.FAILED, "verification failed: the copy differs from the source")
        sums = {p: [listing[p][0], listing[p][1], h] for p, h in sorted(source.items())}
        self._audit(row, "verified", files=len(sums), sha256=source)
        return sums

    def _rename(self, row: UnitRow, payload: str) -> None:
        assert row.target is not None
        renamed_now = False
        if self.t.exists(payload):
            self.t.mkdir(posixpath.dirname(row.target))
            try:
                self.t.rename(payload, row.target)
                renamed_now = True
            except AlreadyExists:
                if not row.detail["is_dir"]:
                    raise UnitProblem(J.KEPT_BOTH, f"the target {row.target} appeared"
                                      " meanwhile; nothing was overwritten") from None
                self._merge(row, payload)
        if not self.t.exists(row.target):
            raise UnitProblem(J.FAILED, "neither the verified copy nor the target exists")
        # After a crash the rename may have happened without being journaled, and a merge
        # leaves other files beside ours: check that the target holds every verified file
        # before the source may go.
        if not renamed_now:
            found = self._hashes(row.target)
            wrong = sorted(p for p, h in _expected_hashes(row).items() if found.get(p) != h)
            if wrong:
                raise UnitProblem(J.KEPT_BOTH, "the target does not hold the verified copy"
                                  f" of {len(wrong)} file(s), e.g. {wrong[0]!r}")
        self._roll_back_work(row)  # what is left of the work directory: the sums file
        self._audit(row, "renamed", target=row.target)

    def _merge(self, row: UnitRow, payload: str) -> None:
        """Rename the verified files one by one into the existing target folder, never over
        a file there: one of the same content counts as placed (a merge cut short by a
        crash), one of other content keeps both."""
        assert row.target is not None
        expected = _expected_hashes(row)
        clash = []
        for rel in sorted(self._listing(payload, payload)):
            dst = f"{row.target}/{rel}"
            self.t.mkdir(posixpath.dirname(dst))
            try:
                self.t.rename(f"{payload}/{rel}", dst)
            except AlreadyExists:
                if self._hashes(dst).get("") != expected.get(rel):
                    clash.append(rel)
        if clash:
            raise UnitProblem(J.KEPT_BOTH, f"the target {row.target} holds other content"
                              f" under {len(clash)} of the unit's names, e.g. {clash[0]!r};"
                              " nothing was overwritten")

    def _finish(self, row: UnitRow) -> None:
        policy = self.inventory.policies.get(row.policy)
        if policy and policy.hook:
            argv = policy.hook_argv(source=row.source, target=row.target or "", unit=row.unit)
            result = self.t.run(argv, check=False)
            self._audit(row, "hook", argv=argv, exit_code=result.exit_code)
            if not result.ok:
                raise UnitProblem(J.KEPT_BOTH, f"hook failed ({result.exit_code}):"
                                  f" {_stderr(result.stderr)}; the source is kept")
        if not self.t.exists(row.source):
            return  # deleted already (a crash after the delete began)
        found = self._listing(row.source, row.detail["source_root"])
        verified = verified_files(row)
        if not same_files(found, verified):
            raise UnitProblem(J.KEPT_BOTH, "the source changed after it was copied: both are"
                              " kept; " + _difference(found, verified))

    def _delete_source(self, row: UnitRow) -> None:
        policy = self.inventory.policies.get(row.policy)
        stub = row.target if policy and policy.stub else None
        verified = verified_files(row)
        self._delete_verified(row, verified, stub=stub)
        self._audit(row, "source-deleted", source=row.source, stub=bool(stub))

    def _delete_verified(self, row: UnitRow, verified: dict[str, tuple[int, float]], *,
                         stub: str | None = None) -> None:
        """Delete exactly the files that were verified, and nothing that came since.

        The source is renamed aside first (atomic, on its own file system: a writer that
        comes later makes a new source, which is left alone), listed again, and only the
        listed files that match the verified set are unlinked; folders go bottom-up, each
        only once empty.  Anything else (a late image, a changed file) is put back and the
        unit ends kept-both, naming it.  Safe to run again from any point after a crash."""
        aside = aside_path(row)
        if not self.t.exists(aside):
            st = self.t.stat(row.source)
            if st is not None and not st.is_symlink:
                self.t.rename(row.source, aside)
        if stub:
            # symlink() never replaces, nor puts the link inside a folder a writer made
            # meanwhile: that source stays as it is, and the check below says so.
            try:
                self.t.symlink(stub, row.source)
            except HOST_TROUBLE:
                raise
            except TransportError:
                pass
        if self.t.exists(aside):
            self._clear_aside(row, aside, verified, stub)
        if stub and not self._is_link_to(row.source, stub):
            raise UnitProblem(J.KEPT_BOTH, f"new files appeared at {row.source} after the"
                              " check: kept there, no stub made; the next run picks them up")

    def _clear_aside(self, row: UnitRow, aside: str, verified: dict[str, tuple[int, float]],
                     stub: str | None) -> None:
        found = self._entries(aside)
        doomed = doomed_files(found.items(), verified)
        self.t.delete_files([join_below(aside, p) for p in doomed])
        # Each folder goes by rmdir, which fails on one that is not empty: a late file stays.
        self.t.remove_empty_dirs(aside)
        if not self.t.exists(aside):
            return
        gone = set(doomed)
        extra = sorted(p for p, st in found.items() if not st.is_dir and p not in gone)
        kept = row.source
        if stub and self._is_link_to(row.source, stub):
            # The late files go back where the application wrote them; the next run merges
            # them into the target and makes the stub again.
            self.t.delete(row.source)
        try:
            self.t.rename(aside, row.source)
        except AlreadyExists:
            kept = f"{row.source}.capacity-kept-{row.id[:12]}"
            self.t.rename(aside, kept)
        names = ", ".join(repr(p or posixpath.basename(row.source)) for p in extra[:5])
        more = f" and {len(extra) - 5} more" if len(extra) > 5 else ""
        raise UnitProblem(J.KEPT_BOTH, f"{len(extra)} file(s) arrived or changed after the"
                          f" check and were kept at {kept}: {names}{more}; the next run picks"
                          " them up")

    def _is_link_to(self, path: str, target: str) -> bool:
        st = self.t.stat(path)
        if st is None or not st.is_symlink:
            return False
        try:
            return self.t.readlink(path) == target
        except HOST_TROUBLE:
            raise
        except TransportError:
            return False

    # --- expiry ---------------------------------------------------------------------

    def _expire(self, row: UnitRow) -> None:
        """Check the unit again (unchanged, past retention, not held), then delete what was
        checked.  Resuming a unit left deleting checks its policy again first."""
        if not self.options.allow_delete:
            raise UnitProblem(J.SKIPPED, "expiry deletes data: run with --allow-delete")
        policy = self.inventory.policies.get(row.policy)
        if policy is None:
            raise UnitProblem(J.SKIPPED, f"no policy {row.policy!r} in the inventory")
        planned = planned_files(row)
        store = self.bucket_of(row.detail.get("source_tier"))
        if store is not None:
            from capacity.tiering.archive import ArchiveExpiry

            ArchiveExpiry(self, store).run(row, policy)
            return
        if row.state in (J.PENDING, J.CHECKING):
            self._set(row, J.CHECKING)
            self._check_source(row)
        today = self.options.clock().date()
        newest = max((mtime for _, mtime in planned.values()), default=0.0)
        age = (self.options.clock().timestamp() - newest) / 86400
        refusal = policy.expiry_refusal(row.unit, _tier_paths(row), age, today)
        if refusal is not None:
            raise UnitProblem(J.SKIPPED, f"{refusal.text}, at apply time: nothing was deleted",
                              refused=refusal.reason)
        self._set(row, J.DELETING)
        self._delete_verified(row, planned)
        self._audit(row, "expired", source=row.source, bytes=row.bytes)
        self._set(row, J.DONE)

    # --- helpers --------------------------------------------------------------------

    def _enter(self, plan: Plan, plan_name: str, units: list[PlannedUnit]) -> list[UnitRow]:
        """Journal the units as pending (one transaction), unless known; a unit that ended
        short of done before tries again."""
        entries = []
        for unit in units:
            source_root = plan.root(unit.host, unit.source)
            target_root = plan.root(unit.host, unit.target) if unit.target else None
            files = [{"path": f.path, "size": f.size, "mtime": f.mtime} for f in unit.files]
            # A unit is a directory when its files lie below it, a file when it is one.
            is_dir = any(f.path != unit.unit for f in unit.files)
            detail = {"files": _relative(files, unit.unit), "source_root": source_root,
                      "target_root": target_root, "is_dir": is_dir,
                      "inventory": plan.inventory, "source_tier": unit.source,
                      "target_tier": unit.target}
            entries.append((unit.id, plan_name, unit.host, unit.policy, unit.rule,
                            unit.action, f"{source_root}/{unit.unit}",
                            f"{target_root}/{unit.unit}" if target_root else None, unit.unit,
                            unit.bytes, detail))
        rows = self.journal.add_many(entries)
        return [self.journal.restart(row.id, entry[-1])
                if row.state in J.FINAL and row.state != J.DONE else row
                for row, entry in zip(rows, entries, strict=True)]

    def _set(self, row: UnitRow, state: str, **detail: Any) -> None:
        self.journal.set(row.id, state, **detail)

    def _reload(self, row: UnitRow) -> UnitRow:
        fresh = self.journal.get(row.id)
        assert fresh is not None
        return fresh

    def _audit(self, row: UnitRow, step: str, **data: Any) -> None:
        self.audit.write(**audit_record(row, step, **data))

    def _root_of(self, row: UnitRow) -> str:
        return row.detail.get("target_root") or row.detail["source_root"]

    def _roll_back_work(self, row: UnitRow) -> None:
        """Remove the unit's work directory (a partial or unplaced copy); never the source
        or a placed target.  A move into a bucket has none on the host."""
        root = row.detail.get("target_root")
        store = self._bucket(row) if root else None
        if store is not None:
            from capacity.tiering.archive import ArchiveMove

            ArchiveMove(self, store).roll_back(row)
            return
        if root:
            self.t.remove_work(work_path(root, row.id), f"{root}/{WORK_DIR}")

    def _entries(self, path: str) -> dict[str, FileStat]:
        """Everything under ``path`` (or ``path`` itself, keyed ``''``), not following links:
        relative path -> its lstat."""
        return dict(self.t.walk(path))

    def _listing(self, path: str, root: str) -> dict[str, tuple[int, float]]:
        """Regular files under ``path`` (or ``path`` itself): relative path -> (size, mtime).
        Anything that is not a regular file or a directory stops the unit: moving it could
        follow a link out of the tier."""
        return files_of(self._entries(path).items(), path)

    def _hashes(self, path: str) -> dict[str, str]:
        """sha256 of every regular file under ``path``, computed on the host."""
        return self.t.hash_tree(path)

    def _inside_root(self, path: str, root: str, *, may_be_missing: bool = False) -> None:
        """Refuse a path that leaves its tier root through a symbolic link."""
        problem = self.outside_root(path, resolve(self.t, path, must_exist=not may_be_missing),
                                    root)
        if problem:
            raise UnitProblem(J.SKIPPED, problem)

    def outside_root(self, path: str, real: str, root: str) -> str | None:
        """Why ``path``, resolved to ``real`` on the host, is not inside its tier ``root``
        (None if it is)."""
        real_root = self._real_roots.get(root)
        if real_root is None:
            real_root = self._real_roots[root] = resolve(self.t, root)
        if real != real_root and not real.startswith(real_root.rstrip("/") + "/"):
            return (f"{path} resolves to {real}, outside its tier root {root}: symbolic"
                    " links are never followed out of a tier")
        return None

    def _holds_no_tier_root(self, row: UnitRow) -> None:
        problem = self.holds_tier_root(row, resolve(self.t, row.source))
        if problem:
            raise UnitProblem(J.SKIPPED, problem)

    def holds_tier_root(self, row: UnitRow, real: str) -> str | None:
        """Why a unit, its source resolved to ``real``, may not go: it is, or contains,
        another tier's root once links are resolved (moving or expiring it would take that
        whole tier with it)."""
        if self._tier_roots is None:
            self._tier_roots = real_roots(self.t, self.host)
        own = row.detail.get("source_tier")
        for tier, root in self._tier_roots.items():
            if tier != own and path_contains(real, root):
                return (f"{row.source} holds the root of tier {tier!r} ({root}): a unit never"
                        " takes another tier with it")
        return None

    def _pacing(self, policy: Policy | None) -> tuple[OpenHours, float | None]:
        return effective(self.host.pacing, *([policy.pacing] if policy else []))

    def _bandwidth(self, row: UnitRow) -> float | None:
        return self._pacing(self.inventory.policies.get(row.policy))[1]

    def _window_closed(self, policy: Policy | None) -> str | None:
        if not self.options.respect_windows:
            return None
        hours = self._pacing(policy)[0]
        if hours.open_at(self.options.clock().time()):
            return None
        return f"outside the time windows (open {hours.text()})"


@dataclass
class _Tally:
    """A run's outcomes, and the error brake's count of them."""

    report: HostReport
    tries: int = 0
    failures: int = 0

    def unit(self, final: str, nbytes: int, *, failed: bool) -> None:
        self.tries += 1
        self.failures += failed
        _count(self.report, final, nbytes)

    def batch(self, moved: BatchMove, fresh: list[UnitRow]) -> None:
        """The units a batch took to their end (those it handed on are counted alone)."""
        for row in fresh:
            if row.id not in moved.handed_on:
                final = moved.ended.get(row.id, J.DONE)
                self.unit(final, row.bytes, failed=final == J.FAILED)


def _count(report: HostReport, final: str, nbytes: int) -> None:
    if final == J.DONE:
        report.done += 1
        report.bytes += nbytes
    elif final == J.SKIPPED:
        report.skipped += 1
    elif final == J.KEPT_BOTH:
        report.kept_both += 1
    else:
        report.failed += 1


def _relative(files: list[dict[str, Any]], unit: str) -> list[dict[str, Any]]:
    """Plan paths are relative to the tier root; the journal keeps them relative to the unit
    (what ``find -printf %P`` and ``sha256sum`` show), '' for a single-file unit."""
    out = []
    for f in files:
        rel = "" if f["path"] == unit else f["path"][len(unit) + 1:]
        out.append({**f, "path": rel})
    return out


def _tier_paths(row: UnitRow) -> list[str]:
    """The unit's planned files, relative to the tier root (as holds name them)."""
    return [f"{row.unit}/{f['path']}" if f["path"] else row.unit for f in row.detail["files"]]


def files_of(entries: Iterable[tuple[str, FileStat]],
             path: str) -> dict[str, tuple[int, float]]:
    """The regular files among a walk's entries: relative path -> (size, mtime).  Anything
    that is not a regular file or a directory stops the unit (UnitProblem)."""
    found: dict[str, tuple[int, float]] = {}
    for name, st in entries:
        if st.is_dir:
            continue
        if not st.is_file:
            raise UnitProblem(J.SKIPPED, f"{name or path}: not a regular file (a link or"
                              " device); the unit is left alone")
        found[name] = (st.size, st.mtime)
    return found


def doomed_files(entries: Iterable[tuple[str, FileStat]],
                 verified: dict[str, tuple[int, float]]) -> list[str]:
    """Of what lies at a source set aside, the files that may be deleted: regular files
    whose path, size and mtime are those verified at the target.  Nothing else ever is."""
    return [p for p, st in entries
            if st.is_file and p in verified and verified[p][0] == st.size
            and abs(verified[p][1] - st.mtime) <= MTIME_TOLERANCE]


def planned_files(row: UnitRow) -> dict[str, tuple[int, float]]:
    """The unit's files as planned: relative path -> (size, mtime)."""
    return {f["path"]: (f["size"], f["mtime"]) for f in row.detail["files"]}


def verified_files(row: UnitRow) -> dict[str, tuple[int, float]]:
    """The unit's files as verified at the copy: relative path -> (size, mtime)."""
    return {p: (v[0], v[1]) for p, v in row.detail["checksums"].items()}


def audit_record(row: UnitRow, step: str, **data: Any) -> dict[str, Any]:
    """The audit log's line for a step of a unit."""
    return {"host": row.host, "policy": row.policy, "unit_id": row.id, "unit": row.unit,
            "rule": row.rule, "action": row.action, "step": step, **data}


def same_files(found: dict[str, tuple[int, float]],
                expected: dict[str, tuple[int, float]]) -> bool:
    if found.keys() != expected.keys():
        return False
    return all(found[p][0] == expected[p][0]
               and abs(found[p][1] - expected[p][1]) <= MTIME_TOLERANCE for p in found)


def _difference(found: dict[str, tuple[int, float]],
                expected: dict[str, tuple[int, float]]) -> str:
    added = sorted(found.keys() - expected.keys())
    gone = sorted(expected.keys() - found.keys())
    changed = sorted(p for p in found.keys() & expected.keys() if found[p] != expected[p])
    parts = [f"{label}: {', '.join(repr(p) for p in paths[:3])}"
             + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
             for label, paths in (("new", added), ("missing", gone), ("changed", changed))
             if paths]
    return "; ".join(parts)


def _expected_hashes(row: UnitRow) -> dict[str, str]:
    return {p: v[2] for p, v in row.detail["checksums"].items()}


def _stderr(data: bytes) -> str:
    return data.decode("utf-8", "replace").strip()[-500:]


def units_of(plan: Plan, host: str) -> Iterator[PlannedUnit]:
    return (u for u in plan.units if u.host == host)
