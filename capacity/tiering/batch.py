"""Small units moved many at a time: the same journaled steps as one unit, each step taken
for a whole batch in one request to the host and one durable journal write.

A small study costs a move its round trips, not its bytes: one unit at a time, about 27
commands, two interpreter starts and several flushes each.  Here a batch of units goes
through check, copy, verify, rename, finish and delete together: the journal records every
unit of the batch in a state in one transaction before the step of that state is taken
for any of them, so a crash inside a batch leaves each unit exactly where one unit alone
would be, and ``recover`` treats it alike.  A unit that leaves the common path at any step
(its source changed, its target exists, a copy failed, a late image arrived) is handed to
the one-unit machine of :class:`~capacity.tiering.apply.Engine` from the state the
journal holds, which takes it to its end and says why.
"""

from __future__ import annotations

import concurrent.futures
import posixpath
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from capacity.tiering import journal as J
from capacity.tiering.apply import (
    HOST_TROUBLE,
    WORK_DIR,
    UnitProblem,
    aside_path,
    audit_record,
    doomed_files,
    files_of,
    planned_files,
    same_files,
    verified_files,
    work_path,
)
from capacity.tiering.hosts import resolve_many
from capacity.tiering.journal import UnitRow
from capacity.transports import OperationFailed
from capacity.transports.base import join_below

if TYPE_CHECKING:
    from capacity.tiering.apply import Engine
    from capacity.tiering.planfile import PlannedUnit

UNITS = 256
"""Units per batch at most: a few seconds of work for small studies."""
BYTES = 1 << 30
"""Bytes per batch at most; a unit larger than :data:`SMALL` goes alone, its data being
its cost."""
SMALL = 64 << 20


def batchable(engine: Engine, unit: PlannedUnit) -> bool:
    """A move of a small unit into a file tier whose policy runs no hook and leaves no
    stub: what a batch does.  Everything else goes one unit at a time."""
    policy = engine.inventory.policies.get(unit.policy)
    return (unit.action == "move" and unit.bytes <= SMALL and policy is not None
            and not policy.hook and not policy.stub
            and engine.bucket_of(unit.target) is None)


class BatchMove:
    """One batch of pending moves, all from one source root to one target root."""

    def __init__(self, engine: Engine, rows: Sequence[UnitRow]):
        self.e = engine
        self.t = engine.t
        self.rows = list(rows)
        self.order = {r.id: i for i, r in enumerate(rows)}
        self.off: list[UnitRow] = []
        """Units that left the common path, for the one-unit machine."""
        self.handed_on: set[str] = set()
        self.ended: dict[str, str] = {}
        """Units the batch ended short of done: their final state."""
        self.deleting: concurrent.futures.Future[None] | None = None
        """The deletion of the verified sources, running on the host."""

    def run(self, before_delete: Callable[[], None] = lambda: None) -> list[UnitRow]:
        """Take the batch as far as it goes together, up to the deletion of its verified
        sources, which goes on on the host in the background (``settle`` waits for it);
        ``before_delete`` is called first (it settles the batch before).  Returns the units
        that must go on alone (reloaded from the journal), in plan order."""
        self._steps([self._check, self._copy, self._verify, self._rename, self._finish,
                     before_delete, self._start_delete])
        return self._hand_on()

    def settle(self) -> list[UnitRow]:
        """Wait for the deletion of the sources and finish the batch; returns the units
        that must go on alone (reloaded from the journal), in plan order."""
        self._steps([self._end_delete])
        return self._hand_on()

    def abandon(self) -> None:
        """The run stops on an error: let the deletion end, and leave its units where the
        journal has them (deleting: resume finishes them)."""
        if self.deleting is not None:
            concurrent.futures.wait([self.deleting])

    def _steps(self, steps: Sequence[Callable[[], None]]) -> None:
        try:
            for step in steps:
                if not self.rows:
                    break
                step()
        except HOST_TROUBLE:
            raise
        except Exception:  # each unit meets it again alone, and says it
            self.off += self.rows
            self.rows = []

    def _hand_on(self) -> list[UnitRow]:
        ordered = sorted(self.off, key=lambda r: self.order[r.id])
        self.off = []
        self.handed_on |= {r.id for r in ordered}
        return self.e.journal.get_many([r.id for r in ordered])

    # --- the steps ------------------------------------------------------------------

    def _check(self) -> None:
        self._enter(J.CHECKING)
        sources = [r.source for r in self.rows]
        targets = [_target(r) for r in self.rows]
        found = self.t.walk_many(sources)
        taken = self.t.walk_many(targets, top_only=True)
        reals = resolve_many(self.t, [*sources, *(posixpath.dirname(t) for t in targets)])
        keep: list[UnitRow] = []
        for i, row in enumerate(self.rows):
            listing = self._files(row, found)
            problem = (listing is None or not same_files(listing, planned_files(row))
                       or _target(row) in taken
                       or self.e.outside_root(row.source, reals[i],
                                              row.detail["source_root"])
                       or self.e.holds_tier_root(row, reals[i])
                       or self.e.outside_root(posixpath.dirname(_target(row)),
                                              reals[len(self.rows) + i], _root(row)))
            (self.off if problem else keep).append(row)
        self.rows = keep
        if self.rows:
            space = self.t.free_space(_root(self.rows[0]))
            if space.available < sum(r.bytes for r in self.rows):
                self._leave(self.rows)  # one by one, each says whether it fits

    def _copy(self) -> None:
        works = {r.id: work_path(_root(r), r.id) for r in self.rows}
        self._enter(J.COPYING, each={i: {"work": w} for i, w in works.items()})
        self.t.mkdir_many(list(works.values()))
        first = works[self.rows[0].id]
        self.results = self.t.copy_and_hash_many(
            [(r.source, f"{works[r.id]}/payload") for r in self.rows],
            scratch=f"{first}/copy.sha256", bandwidth=self.e._bandwidth(self.rows[0]),
            in_flight=self.e.host.copies_in_flight)
        self._audit("copied", lambda r: {"bytes": r.bytes, "work": f"{works[r.id]}/payload"},
                    [r for r, res in zip(self.rows, self.results, strict=True)
                     if not isinstance(res, OperationFailed)])

    def _verify(self) -> None:
        self._enter(J.VERIFYING)
        now = self.t.walk_many([r.source for r in self.rows])
        keep, sums = [], {}
        for row, result in zip(self.rows, self.results, strict=True):
            listing = self._files(row, now)
            planned = planned_files(row)
            # As for one unit: a study that gained or changed a file while it was copied
            # (a late image) is skipped whole, the next run plans it as it is then; a copy
            # that failed, or differs, fails.
            if listing is None or not same_files(listing, planned) or (
                    not isinstance(result, OperationFailed) and set(result[0]) != set(planned)):
                why = f" ({result})" if isinstance(result, OperationFailed) else ""
                self._end(row, UnitProblem(J.SKIPPED, "the source changed while it was"
                                           f" copied{why}"))
            elif isinstance(result, OperationFailed):
                self._end(row, UnitProblem(J.FAILED, str(result)))
            elif result[0] != result[1]:
                self._end(row, UnitProblem(J.FAILED, "verification failed: the copy differs"
                                           " from the source"))
            else:
                keep.append(row)
                sums[row.id] = {p: [planned[p][0], planned[p][1], h]
                                for p, h in sorted(result[0].items())}
        self.rows = keep
        if not self.rows:
            return
        self._enter(J.RENAMING, each={i: {"checksums": c} for i, c in sums.items()})
        self._audit("verified", lambda r: {"files": len(sums[r.id]), "sha256": {
            p: v[2] for p, v in sums[r.id].items()}})

    def _rename(self) -> None:
        self.t.mkdir_many(sorted({posixpath.dirname(_target(r)) for r in self.rows}))
        done = self.t.rename_many([(f"{r.detail['work']}/payload", _target(r))
                                   for r in self.rows])
        self._split(done)
        if not self.rows:
            return
        root = _root(self.rows[0])
        self.t.remove_works([r.detail["work"] for r in self.rows], f"{root}/{WORK_DIR}")
        self._audit("renamed", lambda r: {"target": r.target})
        self._enter(J.FINISHING)

    def _finish(self) -> None:
        now = self.t.walk_many([r.source for r in self.rows])
        self._split([(listing := self._files(r, now)) is not None
                     and same_files(listing, verified_files(r)) for r in self.rows])
        if self.rows:
            self._enter(J.DELETING)

    def _start_delete(self) -> None:
        asides = {r.id: aside_path(r) for r in self.rows}
        self._split(self.t.rename_many([(r.source, asides[r.id]) for r in self.rows]))
        if not self.rows:
            return
        found = self.t.walk_many(list(asides[r.id] for r in self.rows))
        # Unlinking thousands of small files is the file system's slowest step here: it
        # runs on the host while the next batch is checked and copied (a transport takes
        # commands from two threads; an SSH one runs the second on its own channel).
        self.deleting = self.e.background().submit(
            self.t.delete_files, [join_below(asides[r.id], p) for r in self.rows
                                  for p in doomed_files(found.get(asides[r.id], []),
                                                        verified_files(r))])

    def _end_delete(self) -> None:
        assert self.deleting is not None
        deleting, self.deleting = self.deleting, None
        deleting.result()
        asides = {r.id: aside_path(r) for r in self.rows}
        self.t.remove_empty_dirs_many([asides[r.id] for r in self.rows])
        left = self.t.walk_many([*(asides[r.id] for r in self.rows),
                                 *(r.source for r in self.rows)], top_only=True)
        # Whatever is still at the side (a late image) or at the source (a new writer) the
        # one-unit machine puts back, keeps, and names.
        self._split([asides[r.id] not in left and r.source not in left for r in self.rows])
        if self.rows:
            self._audit("source-deleted", lambda r: {"source": r.source, "stub": False})
            self._enter(J.DONE)

    # --- helpers --------------------------------------------------------------------

    def _enter(self, state: str, each: dict[str, dict[str, Any]] | None = None) -> None:
        ids = [r.id for r in self.rows]
        self.e.journal.set_many(ids, state, each=each)
        self.rows = self.e.journal.get_many(ids)

    def _end(self, row: UnitRow, problem: UnitProblem) -> None:
        self.ended[row.id] = self.e.end(row, problem)

    def _split(self, keep: Sequence[bool]) -> None:
        self.off += [r for r, k in zip(self.rows, keep, strict=True) if not k]
        self.rows = [r for r, k in zip(self.rows, keep, strict=True) if k]

    def _leave(self, rows: list[UnitRow]) -> None:
        self.off += rows
        self.rows = [r for r in self.rows if r not in rows]

    def _files(self, row: UnitRow,
               walks: dict[str, list[Any]]) -> dict[str, tuple[int, float]] | None:
        """The unit's regular files as a batch walk found them; None if it found none of
        the unit, or something that is not a regular file (the unit goes on alone)."""
        entries = walks.get(row.source)
        if entries is None:
            return None
        try:
            return files_of(entries, row.source)
        except UnitProblem:
            return None

    def _audit(self, step: str, data: Any, rows: Sequence[UnitRow] | None = None) -> None:
        self.e.audit.write_many([audit_record(r, step, **data(r))
                                 for r in (self.rows if rows is None else rows)])


def _target(row: UnitRow) -> str:
    assert row.target is not None
    return row.target


def _root(row: UnitRow) -> str:
    root = row.detail["target_root"]
    assert isinstance(root, str)
    return root
