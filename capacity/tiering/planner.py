"""Plan, pure: catalogue records + policies + a moment -> the units to move or expire, and why.

The policy objects of ``capacity.model.policy`` decide everything (the simulator plays the
very same objects forward); this module only walks a host's files through them:

1. Group each source tier's files into units (``Grouping.unit_of``): a PACS study directory
   moves whole or not at all.  Directories are structure and never units; symlinks (such as
   stubs left by earlier moves) and special files are never moved, so a unit holding one next
   to regular files is skipped: moving it could follow a link out of the tier.
2. Each unit is as old as its newest file and as large as its files together; the first rule
   whose selection matches it chooses it (``Policy.first_rule``).
3. Rules act in their order, as the simulator plays them; within a rule the policy's order
   (oldest or largest first) decides.  Move rules with a trigger act only on a tier above its
   high watermark and stop once the tier is projected down to the low one; expire rules act
   only past the retention and outside every hold (``Policy.may_expire``); the per-run caps
   stop the run.  Whatever a rule matched but the plan leaves alone is listed as skipped, with
   the reason.

Nothing here reads a file, a clock or a host: the same inputs give the same plan.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from capacity.model import Host, Inventory, Policy
from capacity.model.policy import Candidate, Decision, TierState, decide
from capacity.model.policy.language import ARRAY_ACTIONS
from capacity.tiering.binding import config_digest
from capacity.tiering.planfile import Plan, PlannedUnit, Skipped, UnitFile
from capacity.tiering.records import FileRecord, TierUsage

SECONDS_PER_DAY = 86400.0

_ODD_KINDS = {"l": "a symlink", "o": "a special file (device, socket or FIFO)"}

CatalogueFiles = Callable[[str, str], Iterable[FileRecord]]
"""(host, tier) -> that tier's catalogue entries."""


# --------------------------------------------------------------------------- units


@dataclass
class Unit:
    """Files that move together, as found on one tier."""

    tier: str
    path: str
    files: list[FileRecord] = field(default_factory=list)
    """Regular files: what a move copies or an expiry deletes."""
    odd: list[FileRecord] = field(default_factory=list)
    """Symlinks and special files: never moved, so they keep the unit where it is."""

    # Computed once the unit is complete; sorting and reasons ask for them often.
    @cached_property
    def bytes(self) -> int:
        return sum(r.size for r in self.files) + sum(r.size for r in self.odd)

    @cached_property
    def newest_mtime(self) -> float:
        return max(r.mtime for r in (*self.files, *self.odd))

    @cached_property
    def newest_atime(self) -> float:
        return max(r.atime for r in (*self.files, *self.odd))


def group_units(policy: Policy, tier: str, records: Iterable[FileRecord]) -> list[Unit]:
    """A tier's entries as units, in path order.  Units without a regular file (empty
    directories, a stub symlink left by an earlier move) hold nothing to move: left out."""
    units: dict[str, Unit] = {}
    for record in records:
        if record.kind == "d":
            continue  # structure: a move recreates the directories its files need
        path = policy.unit.unit_of(record.path)
        unit = units.get(path)
        if unit is None:
            unit = units[path] = Unit(tier, path)
        (unit.files if record.kind == "f" else unit.odd).append(record)
    return [units[p] for p in sorted(units) if units[p].files]


def age_days(now: dt.datetime, timestamp: float) -> float:
    return (now.timestamp() - timestamp) / SECONDS_PER_DAY


# --------------------------------------------------------------------------- one run


def candidate(unit: Unit, now: dt.datetime, claimed: Mapping[tuple[str, str], str]
              ) -> Candidate:
    """A catalogue unit as the policy rules see it, with what the catalogue knows stops it."""
    return Candidate(tier=unit.tier, path=unit.path, unit_bytes=unit.bytes,
                     age_days=age_days(now, unit.newest_mtime),
                     atime_age_days=age_days(now, unit.newest_atime),
                     files=tuple(r.path for r in unit.files),
                     blocked=_overlap(unit, claimed) or _odd(unit), ref=unit)


def _overlap(unit: Unit, claimed: Mapping[tuple[str, str], str]) -> str | None:
    for record in unit.files:
        owner = claimed.get((unit.tier, record.path))
        if owner is not None:
            return f"already planned by policy {owner}"
    return None


def _odd(unit: Unit) -> str | None:
    if not unit.odd:
        return None
    first = min(unit.odd, key=lambda r: r.path)
    return (f"holds {_ODD_KINDS.get(first.kind, 'a non-regular file')} ({first.path}):"
            " only regular files move, and moving the unit could follow a link out of"
            " the tier")


def copy_candidates(policy: Policy, units: list[Unit],
                    files: Mapping[str, Iterable[FileRecord]],
                    found: list[Candidate]) -> list[Candidate]:
    """Each unit of a copy rule's source again, for the copy rules, with the tiers whose
    catalogue holds every one of its files at its size already (copied before)."""
    copies = [r for r in policy.rules if r.action == "copy" and r.target]
    if not copies:
        return []
    held = {tier: {(r.path, r.size) for r in files.get(tier, ()) if r.kind == "f"}
            for tier in {r.target for r in copies if r.target}}
    sources = {r.source for r in copies}
    return [dataclasses.replace(c, copy=True, copied_to=tuple(
                tier for tier, there in held.items()
                if all((f.path, f.size) in there for f in unit.files)))
            for unit, c in zip(units, found, strict=True) if unit.tier in sources]


def plan_policy(policy_name: str, policy: Policy, host_name: str, host: Host,
                files: Mapping[str, Iterable[FileRecord]],
                usage: Mapping[str, TierUsage] | None, now: dt.datetime, *,
                claimed: Mapping[tuple[str, str], str] | None = None,
                critical: Mapping[str, float] | None = None,
                ) -> tuple[list[PlannedUnit], list[Skipped]]:
    """One policy's run on one host: the catalogue's units through ``policy.decide``.

    ``files``: tier -> its catalogue entries (tiers left out hold nothing);
    ``usage``: tier -> its measured fill (None or a missing tier: not measured, so triggered
    move rules plan nothing there); ``now``: a timezone-aware moment ages count from;
    ``claimed``: (tier, file path) -> name of an earlier policy that already planned it;
    ``critical``: tier -> the fill a move must not take it past, as a target.
    Returns the planned units in the order they should run, and the skipped ones.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    sources = {r.source for r in policy.rules if r.source in host.tiers}
    units = [u for tier in sorted(sources) for u in group_units(policy, tier,
                                                                 files.get(tier, ()))]
    tiers = {tier: TierState(u.used, u.total, (critical or {}).get(tier))
             for tier, u in (usage or {}).items()}
    found = [candidate(u, now, claimed or {}) for u in units]
    found += copy_candidates(policy, units, files, found)
    decision = decide(policy, tiers, found, now.astimezone(dt.UTC).date())
    planned = [_planned(policy_name, host_name, d) for d in decision.taken]
    skipped = [Skipped(policy_name, host_name, d.rule.name, d.candidate.ref.path,
                       d.candidate.ref.bytes, d.reason) for d in decision.left]
    return planned, skipped


def _planned(policy_name: str, host_name: str, d: Decision) -> PlannedUnit:
    unit, rule = d.candidate.ref, d.rule
    files = tuple(UnitFile(r.path, r.size, r.mtime)
                  for r in sorted(unit.files, key=lambda r: r.path))
    return PlannedUnit(
        policy=policy_name, host=host_name, rule=rule.name, action=rule.action,
        source=rule.source, target=rule.target, unit=unit.path, files=files,
        bytes=sum(f.size for f in files), newest_mtime=max(f.mtime for f in files),
        age_days=round(d.candidate.age_for(rule), 6), reason=d.reason)


# --------------------------------------------------------------------------- the estate


def make_plan(inventory: Inventory, inventory_path: str | Path,
              catalogue_files: CatalogueFiles,
              usage: Mapping[tuple[str, str], TierUsage], now: dt.datetime, *,
              policies: Collection[str] | None = None, hosts: Collection[str] | None = None,
              created: dt.datetime | None = None) -> Plan:
    """Every policy (in inventory order) on every host it names, or only the given ones.

    A file planned by an earlier policy is never planned again by a later one, and a later
    policy judges watermarks on what the earlier ones leave on the tier.  ``created``
    defaults to ``now``, so the same inputs give a byte-identical plan.
    """
    claimed: dict[str, dict[tuple[str, str], str]] = {}  # host -> (tier, file) -> policy
    left = dict(usage)  # (host, tier) -> usage after the policies planned so far
    units: list[PlannedUnit] = []
    skipped: list[Skipped] = []
    planned_hosts: list[str] = []
    for policy_name, host_name, policy in runs(inventory, policies, hosts):
        host = inventory.hosts[host_name]
        planned_hosts.append(host_name)
        sources = sorted(_read_tiers(policy, host))
        done, passed = plan_policy(
            policy_name, policy, host_name, host,
            {tier: catalogue_files(host_name, tier) for tier in sources},
            {t: u for (h, t), u in left.items() if h == host_name}, now,
            claimed=claimed.get(host_name), critical=critical_fills(inventory, host))
        mine = claimed.setdefault(host_name, {})
        for unit in done:
            if unit.action == "copy":
                continue  # the unit stays: a later policy may still move it
            mine.update({(unit.source, f.path): policy_name for f in unit.files})
            key = (host_name, unit.source)
            if key in left:
                left[key] = dataclasses.replace(left[key], used=left[key].used - unit.bytes)
        units += done
        skipped += passed
    roots = {h: {t: tier.path for t, tier in inventory.hosts[h].tiers.items()}
             for h in dict.fromkeys(planned_hosts)}
    measured = tuple(u for key, u in sorted(usage.items()) if key[0] in roots)
    # Absolute, so apply and resume work from any folder.
    return Plan(inventory=str(Path(inventory_path).resolve()), created=created or now, now=now,
                roots=roots, units=tuple(units), skipped=tuple(skipped), usage=measured,
                digest=config_digest(inventory))


def critical_fills(inventory: Inventory, host: Host) -> dict[str, float]:
    """Tier -> the fill a move must not take it past: its storage's critical threshold
    (tiers without a ``storage`` are guarded by apply's free-space check only; a bucket
    tier by nothing here, as S3 reports no free space: its store's room is the
    simulator's to watch)."""
    found = {}
    for name, tier in host.tiers.items():
        thresholds = (inventory.thresholds(tier.storage) if tier.storage and not tier.bucket
                      else None)
        if thresholds is not None:
            found[name] = thresholds.critical
    return found


def triggered_tiers(inventory: Inventory, *, policies: Collection[str] | None = None,
                    hosts: Collection[str] | None = None) -> list[tuple[str, str]]:
    """(host, tier) pairs whose fill a plan needs: sources of move rules with a trigger,
    and targets of move rules that have a critical threshold to keep."""
    found: dict[tuple[str, str], None] = {}
    for _name, host_name, policy in runs(inventory, policies, hosts):
        host = inventory.hosts[host_name]
        guarded = critical_fills(inventory, host)
        for rule in policy.rules:
            if rule.action != "move" or rule.source not in host.tiers:
                continue
            if policy.trigger is not None:
                found[(host_name, rule.source)] = None
            if rule.target in guarded:
                found[(host_name, rule.target)] = None
    return sorted(found)


def source_tiers(inventory: Inventory, *, policies: Collection[str] | None = None,
                 hosts: Collection[str] | None = None) -> list[tuple[str, str]]:
    """(host, tier) pairs whose catalogue a plan reads: every rule's source, and every copy
    rule's target."""
    found = {(h, tier) for _n, h, p in runs(inventory, policies, hosts)
             for tier in _read_tiers(p, inventory.hosts[h])}
    return sorted(found)


def _read_tiers(policy: Policy, host: Host) -> set[str]:
    """The tiers of ``host`` whose catalogue a run of ``policy`` reads: every rule's source,
    and every copy rule's target (what it holds is not copied again)."""
    return ({r.source for r in policy.rules if r.source in host.tiers}
            | {r.target for r in policy.rules if r.action == "copy" and r.target in host.tiers})


def runs(inventory: Inventory, policies: Collection[str] | None = None,
         hosts: Collection[str] | None = None) -> Iterable[tuple[str, str, Policy]]:
    """(policy name, host name, policy) of every run in scope, in inventory order."""
    for name, policy in inventory.policies.items():
        if policies is None or name in policies:
            for host_name in policy.hosts:
                if hosts is None or host_name in hosts:
                    yield name, host_name, policy


# --------------------------------------------------------------------------- totals


def totals(plan: Plan, policies: Mapping[str, Policy] | None = None) -> dict[str, Any]:
    """Units and bytes per rule (over all hosts) and per host tier, planned and skipped, with
    each measured tier's fill.  ``policies`` lists every rule, also those that chose nothing."""
    rules: dict[tuple[str, str], dict[str, Any]] = {}

    def rule_row(policy: str, rule: str, action: str | None = None, source: str | None = None,
                 target: str | None = None) -> dict[str, Any]:
        return rules.setdefault((policy, rule), {
            "policy": policy, "rule": rule, "action": action, "source": source,
            "target": target, "units": 0, "bytes": 0, "skipped_units": 0, "skipped_bytes": 0})

    for name, policy in (policies or {}).items():
        for r in policy.rules:
            # A tiering rule's target is the level it gives; a relocate rule's, start or stop.
            target = r.target or (str(r.tier_level) if r.tier_level is not None
                                  else r.relocation)
            rule_row(name, r.name, r.action, r.source, target)
    tiers: dict[tuple[str, str], dict[str, Any]] = {}

    def tier_row(host: str, tier: str) -> dict[str, Any]:
        return tiers.setdefault((host, tier), {
            "host": host, "tier": tier, "fill_ratio": None, "move_out_units": 0,
            "move_out_bytes": 0, "move_in_units": 0, "move_in_bytes": 0, "expire_units": 0,
            "expire_bytes": 0})

    for usage in plan.usage:
        tier_row(usage.host, usage.tier)["fill_ratio"] = round(usage.fill, 6)
    for u in plan.units:
        row = rule_row(u.policy, u.rule, u.action, u.source, u.target)
        row["units"] += 1
        row["bytes"] += u.bytes
        if u.action in ARRAY_ACTIONS:
            continue  # a volume's data stays in its pool: no tier of a host gains or loses
        if u.action != "copy":  # a copy takes nothing off its source
            _add(tier_row(u.host, u.source), "expire" if u.action == "expire" else "move_out",
                 u.bytes)
        if u.target is not None:
            _add(tier_row(u.host, u.target), "move_in", u.bytes)
    for s in plan.skipped:
        row = rule_row(s.policy, s.rule)
        row["skipped_units"] += 1
        row["skipped_bytes"] += s.bytes
    return {
        "units": len(plan.units), "bytes": sum(u.bytes for u in plan.units),
        "skipped_units": len(plan.skipped), "skipped_bytes": sum(s.bytes for s in plan.skipped),
        "rules": list(rules.values()),
        "tiers": [tiers[k] for k in sorted(tiers)],
    }


def _add(row: dict[str, Any], kind: str, nbytes: int) -> None:
    row[f"{kind}_units"] += 1
    row[f"{kind}_bytes"] += nbytes
