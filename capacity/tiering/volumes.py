"""Policies on arrays, planned and applied: the tiering policy of HDT pools' volumes and
their pools' relocation, set through the array's REST API (``transports.vsp``).

The plan reads each array once (its pools and LDEVs) and decides with the rules the
simulator plays (``model.policy.volumes.candidates`` and ``decide``).  Applying a plan
journals each unit before the array is asked (``setting``), asks, and reads the volume
back: a unit is done when the array reports the level.  Resume asks again where the
journal says a unit was being set: setting a level twice is harmless, and a volume
already at its level is done without asking.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from capacity.arrays import find_pool
from capacity.errors import BadInput
from capacity.model import Array, Inventory, Policy, Volume
from capacity.model.estate import TierLevel
from capacity.model.policy import decide
from capacity.model.policy.volumes import (
    VolumeState,
    api_level,
    candidates,
    level_text,
    parse_level,
)
from capacity.tiering import journal as J
from capacity.tiering.apply import HostReport, Options, audit_record
from capacity.tiering.audit import AuditLog
from capacity.tiering.journal import Journal, UnitRow
from capacity.tiering.lock import local_lock
from capacity.tiering.planfile import Plan, PlannedUnit, Skipped
from capacity.tiering.state import StateDir
from capacity.transports import ConnectionLost, TransportError

if TYPE_CHECKING:
    from capacity.transports.vsp import ArrayState, Ldev, VspClient


def client_for(array: Array, *, timeout: float = 30.0) -> VspClient:
    """A client of the array's REST API, with the credentials from the environment or the
    file it names (never from the inventory); not yet connected."""
    from capacity.transports import vsp

    rest = array.rest
    if rest is None:
        raise BadInput("the array has no rest: a policy reaches an array through its REST"
                       " API", field="rest")
    return vsp.VspClient(rest.endpoint, vsp.credentials(),
                         ca_bundle=Path(rest.ca_bundle) if rest.ca_bundle else None,
                         storage_device_id=rest.storage_device_id, timeout=timeout)


def array_runs(inventory: Inventory, policies: Collection[str] | None = None,
               arrays: Collection[str] | None = None) -> Iterator[tuple[str, str, Policy]]:
    """(policy name, array name, policy) of every run on an array in scope."""
    for name, policy in inventory.policies.items():
        if policies is None or name in policies:
            for array in policy.arrays:
                if arrays is None or array in arrays:
                    yield name, array, policy


# --------------------------------------------------------------------------- planning


def _live_level(ldev: Ldev) -> TierLevel | int | None:
    """All, 1-5, a custom policy's number (6-31: no rule's level), or None: unreadable."""
    text = ldev.tier_level or "all"
    try:
        return parse_level(text)
    except ValueError:
        return int(text) if text.isdigit() else None


def volume_state(label: str, declared: Volume, ldev: Ldev | None, pool_id: int | None
                 ) -> VolumeState:
    """The volume as the array reports it, aged by the inventory (the array does not know
    when a volume was last written)."""
    blocked = None
    level = _live_level(ldev) if ldev is not None else declared.tier_level
    if ldev is None:
        blocked = f"the array has no LDEV {declared.ldev} ({declared.ldev:#x})"
    elif ldev.pool_id != pool_id:
        blocked = f"LDEV {declared.ldev:#x} is on pool {ldev.pool_id}, not this one"
    elif "HDT" not in ldev.attributes:
        blocked = f"LDEV {declared.ldev:#x} is not a Dynamic Tiering volume"
    elif ldev.label and ldev.label != label:
        blocked = f"LDEV {declared.ldev:#x} is labelled {ldev.label!r} on the array"
    elif level is None:
        blocked = f"the array reports tiering policy {ldev.tier_level!r}"
    used = ldev.used_bytes if ldev is not None and ldev.used_bytes else declared.used
    return VolumeState(label, used, declared.last_write, -1 if level is None else level,
                       blocked)


def plan_array(inventory: Inventory, name: str, state: ArrayState, now: dt.datetime,
               policies: Collection[str] | None = None
               ) -> tuple[list[PlannedUnit], list[Skipped]]:
    """What the policies on array ``name`` would set now, from the array as it stands."""
    array = inventory.arrays[name]
    ldevs = {ldev.ldev_id: ldev for ldev in state.ldevs}
    units: list[PlannedUnit] = []
    skipped: list[Skipped] = []
    today = now.date()
    for policy_name, _array, policy in array_runs(inventory, policies, [name]):
        for pool_name in dict.fromkeys(r.source for r in policy.rules):
            declared = array.pools[pool_name]
            live = find_pool(state.pools, pool_name, declared)
            pool_id = live.pool_id if live is not None else None
            states = [volume_state(label, v, ldevs.get(v.ldev), pool_id)
                      for label, v in declared.volumes.items()]
            decision = decide(policy, {}, candidates(policy, pool_name, states, today), today)
            for d in decision.taken:
                v: VolumeState = d.candidate.ref
                level = d.rule.tier_level
                assert level is not None
                units.append(PlannedUnit(
                    policy_name, name, d.rule.name, "tiering", pool_name, str(level), v.label,
                    (), int(v.used), _epoch(v.last_write), d.candidate.age_days,
                    f"{d.reason}; {level_text(v.tier_level)} -> {level_text(level)}"))
            skipped += [Skipped(policy_name, name, d.rule.name, d.candidate.ref.label,
                                int(d.bytes), d.reason) for d in decision.left]
            for rule in policy.rules:
                if rule.action != "relocate" or rule.source != pool_name:
                    continue
                if live is None:
                    skipped.append(Skipped(policy_name, name, rule.name, pool_name, 0,
                                           f"the array has no pool {pool_name!r}"))
                    continue
                units.append(PlannedUnit(
                    policy_name, name, rule.name, "relocate", pool_name, rule.relocation,
                    pool_name, (), 0, now.timestamp(), 0.0,
                    f"{rule.relocation} relocation of pool {pool_name} (pool id"
                    f" {live.pool_id}) each run"))
    return units, skipped


def _epoch(day: dt.date | None) -> float:
    if day is None:
        return 0.0
    return dt.datetime.combine(day, dt.time(), dt.UTC).timestamp()


def read_arrays(inventory: Inventory, names: Iterable[str]) -> dict[str, ArrayState]:
    """Each array's pools and LDEVs, one session each."""
    found = {}
    for name in names:
        with client_for(inventory.arrays[name]) as client:
            found[name] = client.read()
    return found


# --------------------------------------------------------------------------- the plan binds


def refusal(plan: Plan, inventory: Inventory, unit: PlannedUnit) -> str | None:
    """Why the inventory does not back this unit of a plan (None: it does)."""
    policy = inventory.policies.get(unit.policy)
    if policy is None:
        return f"no policy {unit.policy!r} in the inventory"
    array = inventory.arrays.get(unit.host)
    if array is None or unit.host not in policy.arrays:
        return f"policy {unit.policy!r} does not run on array {unit.host!r}"
    rule = next((r for r in policy.rules if r.name == unit.rule), None)
    if rule is None:
        return f"policy {unit.policy!r} has no rule {unit.rule!r}"
    pool = array.pools.get(unit.source)
    if rule.action != unit.action or rule.source != unit.source or pool is None:
        return (f"rule {rule.name!r} does {rule.action} on pool {rule.source!r}, not"
                f" {unit.action} on {unit.source!r}")
    if unit.action == "relocate":
        if (unit.target, unit.unit) != (rule.relocation, unit.source):
            return f"rule {rule.name!r} does relocation {rule.relocation} of its pool"
        return None
    if unit.target != str(rule.tier_level):
        return f"rule {rule.name!r} gives tiering policy {rule.tier_level}, not {unit.target}"
    volume = pool.volumes.get(unit.unit)
    if volume is None:
        return f"pool {unit.source!r} has no volume {unit.unit!r} in the inventory"
    age = max(0, (plan.now.date() - volume.last_write).days) if volume.last_write else 0
    chosen = policy.first_rule(unit.source, unit.unit, unit.bytes, float(age))
    if chosen is None or chosen.name != rule.name:
        return (f"the policy's rules would not choose it for {rule.name!r} (the first"
                f" matching rule is {chosen.name if chosen else 'none'!r})")
    return None


# --------------------------------------------------------------------------- applying


@dataclass
class ArrayRun:
    """One array's units of a plan (or its unfinished ones), in one session."""

    inventory: Inventory
    name: str
    client: VspClient
    journal: Journal
    audit: AuditLog
    options: Options

    def run_plan(self, plan: Plan, plan_name: str) -> HostReport:
        units = [u for u in plan.units if u.host == self.name]
        rows = []
        for unit in units:
            row = self.journal.add(unit.id, plan_name, unit.host, unit.policy, unit.rule,
                                   unit.action, unit.source, unit.target, unit.unit,
                                   unit.bytes, {"inventory": plan.inventory})
            if row.state in J.FINAL and row.state != J.DONE:
                row = self.journal.restart(row.id, row.detail)
            rows.append(row)
        return self._run(rows)

    def recover(self) -> HostReport:
        return self._run(list(self.journal.units(host=self.name, unfinished=True)))

    def _run(self, rows: list[UnitRow]) -> HostReport:
        report = HostReport(self.name)
        started = time.monotonic()
        failures = tries = 0
        for row in rows:
            if row.state == J.DONE:
                continue  # applying a plan twice changes nothing
            policy = self.inventory.policies.get(row.policy)
            closed = self._window_closed(policy)
            if closed:
                report.stopped = closed
                break
            tries += 1
            try:
                final = self._advance(row)
            except (ConnectionLost, TransportError) as exc:
                if not _unit_only(exc):
                    report.stopped = (f"{type(exc).__name__}: {exc} (run `capacity tier"
                                      " resume` when it is back)")
                    report.failed += 1
                    break
                final = self._fail(row, exc)
            if final == J.DONE:
                report.done += 1
            elif final == J.SKIPPED:
                report.skipped += 1
            else:
                report.failed += 1
                failures += 1
            tripped = policy.error_brake.tripped(failures, tries) if policy else None
            if tripped:
                report.stopped = tripped
                break
        report.seconds = time.monotonic() - started
        return report

    def _window_closed(self, policy: Policy | None) -> str | None:
        if not self.options.respect_windows or policy is None:
            return None
        from capacity.model.policy import effective

        hours = effective(policy.pacing)[0]
        if hours.open_at(self.options.clock().time()):
            return None
        return f"outside the time windows (open {hours.text()})"

    def _advance(self, row: UnitRow) -> str:
        if row.action == "relocate":
            return self._relocate(row)
        return self._set_level(row)

    def _pool_id(self, pool_name: str) -> int | None:
        declared = self.inventory.arrays[self.name].pools[pool_name]
        if declared.pool_id is not None:
            return declared.pool_id
        live = find_pool(tuple(self.client.pools()), pool_name, declared)
        return live.pool_id if live is not None else None

    def _set_level(self, row: UnitRow) -> str:
        assert row.target is not None
        level = parse_level(row.target)
        pool_name = row.source
        declared = self.inventory.arrays[self.name].pools[pool_name].volumes.get(row.unit)
        if declared is None:
            return self._end(row, J.SKIPPED, f"pool {pool_name!r} no longer lists volume"
                             f" {row.unit!r}")
        pool_id = self._pool_id(pool_name)
        state = self._state(row, declared, pool_id)
        if state.blocked:
            return self._end(row, J.SKIPPED, state.blocked)
        if state.tier_level == level:
            return self._end(row, J.DONE, None, already=True)
        self.journal.set(row.id, J.SETTING, ldev=declared.ldev, was=str(state.tier_level))
        self._audit(row, "setting", ldev=declared.ldev, was=str(state.tier_level),
                    to=row.target)
        job = self.client.set_tiering_policy(declared.ldev, api_level(level))
        after = self._state(row, declared, pool_id)
        if after.tier_level != level:
            return self._end(row, J.FAILED, f"job {job.job_id} succeeded but the array"
                             f" reports {after.tier_level} for LDEV {declared.ldev:#x}")
        return self._end(row, J.DONE, None, job=job.job_id)

    def _state(self, row: UnitRow, declared: Volume, pool_id: int | None) -> VolumeState:
        ldevs = {d.ldev_id: d for d in self.client.ldevs(pool_id)} if pool_id is not None else {}
        return volume_state(row.unit, declared, ldevs.get(declared.ldev), pool_id)

    def _relocate(self, row: UnitRow) -> str:
        pool_id = self._pool_id(row.source)
        if pool_id is None:
            return self._end(row, J.SKIPPED, f"the array has no pool {row.source!r}")
        self.journal.set(row.id, J.SETTING, pool_id=pool_id)
        self._audit(row, "setting", pool_id=pool_id, relocation=row.target)
        job = self.client.relocation(pool_id, row.target == "start")
        return self._end(row, J.DONE, None, job=job.job_id)

    def _fail(self, row: UnitRow, exc: BaseException) -> str:
        return self._end(row, J.FAILED, f"{type(exc).__name__}: {exc}")

    def _end(self, row: UnitRow, state: str, error: str | None, **detail: object) -> str:
        self.journal.set(row.id, state, error=error, **detail)
        self._audit(row, state, **({"error": error} if error else {}), **detail)
        return state

    def _audit(self, row: UnitRow, step: str, **data: object) -> None:
        self.audit.write(**audit_record(row, step, array=self.name, **data))


def _unit_only(exc: BaseException) -> bool:
    """Whether the error ends this unit only (the array refused it, a job failed) rather
    than the array's run (the array is unreachable, or an answer never came)."""
    from capacity.transports.vsp import ArrayJobTimeout, ArrayRefused, RequestOutcomeUnknown

    return isinstance(exc, ArrayRefused) and not isinstance(
        exc, ArrayJobTimeout | RequestOutcomeUnknown)


def run_arrays(inventory: Inventory, names: list[str], state: StateDir, options: Options,
               plan: Plan | None = None, plan_name: str = "") -> list[HostReport]:
    """Each array's units of ``plan`` (None: its unfinished units, as resume takes them)
    under its lock, one session each, as :func:`~capacity.tiering.runs.run_each` says."""
    from capacity.tiering.runs import run_each

    def one(name: str, journal: Journal, audit: AuditLog) -> HostReport:
        with local_lock(state.locks, f"array-{name}", "array"), \
                client_for(inventory.arrays[name]) as client:
            run = ArrayRun(inventory, name, client, journal, audit, options)
            return run.run_plan(plan, plan_name) if plan is not None else run.recover()

    return run_each(names, inventory.arrays, state, one)
