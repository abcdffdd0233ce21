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
import math
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from capacity.model import Host, Inventory, Policy
from capacity.model.policy import Rule
from capacity.tiering.binding import config_digest
from capacity.tiering.planfile import Plan, PlannedUnit, Skipped, UnitFile
from capacity.tiering.records import FileRecord, TierUsage
from capacity.units import format_days, format_size

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


# --------------------------------------------------------------------------- candidates


@dataclass(frozen=True)
class Candidate:
    """A unit and the rule that chose it (first match wins)."""

    unit: Unit
    rule: Rule
    age_days: float
    """Age as the rule judges it (modification or access time)."""
    written_days: float
    """Modification age: retention always counts from the last write, whatever the rule
    selects on, so reading old data never makes it expirable sooner or later."""


def choose(policy: Policy, units: Iterable[Unit], now: dt.datetime) -> dict[str, list[Candidate]]:
    """Rule name -> the units it chose, in the policy's order (oldest or largest first)."""
    chosen: dict[str, list[Candidate]] = {rule.name: [] for rule in policy.rules}
    for unit in units:
        written = age_days(now, unit.newest_mtime)
        accessed = age_days(now, unit.newest_atime)
        rule = policy.first_rule(unit.tier, unit.path, unit.bytes, written,
                                 atime_age_days=accessed)
        if rule is not None:
            age = accessed if rule.select.age_of == "atime" else written
            chosen[rule.name].append(Candidate(unit, rule, age, written))
    for candidates in chosen.values():
        candidates.sort(key=_order_key(policy))
    return chosen


def _order_key(policy: Policy) -> Callable[[Candidate], tuple[Any, ...]]:
    if policy.order == "largest":
        return lambda c: (-c.unit.bytes, -c.age_days, c.unit.path)
    return lambda c: (-c.age_days, c.unit.path)


# --------------------------------------------------------------------------- reasons


def _pct(ratio: float) -> str:
    # Two decimals, so a fill just above a mark never reads as equal to it.
    return f"{ratio * 100:.2f}".rstrip("0").rstrip(".") + "%"


def why_selected(candidate: Candidate) -> str:
    """The selection conditions that chose the unit, with the unit's own figures."""
    select, unit = candidate.rule.select, candidate.unit
    days = math.floor(candidate.age_days)
    parts = []
    if select.older_than is not None:
        figure = (f"newest access {days} days ago" if select.age_of == "atime"
                  else f"newest file {days} days old")
        parts.append(f"older than {format_days(select.older_than)}: {figure}")
    if select.larger_than is not None:
        parts.append(f"larger than {format_size(select.larger_than)}: "
                     f"{format_size(unit.bytes)}")
    if select.smaller_than is not None:
        parts.append(f"smaller than {format_size(select.smaller_than)}: "
                     f"{format_size(unit.bytes)}")
    if select.paths:
        parts.append("path matches " + ", ".join(repr(p) for p in select.paths))
    if select.exclude:
        parts.append("not excluded by " + ", ".join(repr(p) for p in select.exclude))
    return "; ".join(parts) or "the rule selects every unit"


# --------------------------------------------------------------------------- one run


@dataclass
class _Run:
    """What one run of a policy on one host has taken so far: caps and projected fill."""

    policy: Policy
    usage: Mapping[str, TierUsage]
    today: dt.date
    claimed: Mapping[tuple[str, str], str]
    taken_bytes: int = 0
    taken_units: int = 0
    capped: str | None = None
    freed: dict[str, int] = field(default_factory=dict)
    """Tier -> bytes this run takes off it (moves and expiry)."""

    def projected_fill(self, tier: str) -> float:
        usage = self.usage[tier]
        return (usage.used - self.freed.get(tier, 0)) / usage.total if usage.total else 0.0

    def refusal(self, c: Candidate) -> str | None:
        """Why the plan leaves this chosen unit alone, or None to plan it."""
        return (self._overlap(c) or self._odd(c) or self._expiry(c) or self._watermark(c)
                or self._cap(c))

    def _overlap(self, c: Candidate) -> str | None:
        for record in c.unit.files:
            owner = self.claimed.get((c.unit.tier, record.path))
            if owner is not None:
                return f"already planned by policy {owner}"
        return None

    def _odd(self, c: Candidate) -> str | None:
        if not c.unit.odd:
            return None
        first = min(c.unit.odd, key=lambda r: r.path)
        return (f"holds {_ODD_KINDS.get(first.kind, 'a non-regular file')} ({first.path}):"
                " only regular files move, and moving the unit could follow a link out of"
                " the tier")

    def _expiry(self, c: Candidate) -> str | None:
        if c.rule.action != "expire":
            return None
        if c.written_days < self.policy.retention:
            return (f"under retention {format_days(self.policy.retention)}: newest file"
                    f" {math.floor(c.written_days)} days old")
        held = self.policy.holding(c.unit.path, (r.path for r in c.unit.files), self.today)
        if not held:
            return None
        return "held: " + "; ".join(
            h.reason + (f" (until {h.until.isoformat()})" if h.until else "") for h in held)

    def _expirable(self, c: Candidate) -> str:
        retention = self.policy.retention
        text = f"; past retention {format_days(retention)}" if retention else "; no retention"
        if retention and c.rule.select.age_of == "atime":
            text += f" (newest file {math.floor(c.written_days)} days old)"
        return text + ("; no hold applies" if self.policy.holds else "")

    def _watermark(self, c: Candidate) -> str | None:
        trigger, tier = self.policy.trigger, c.rule.source
        if c.rule.action != "move" or trigger is None:
            return None
        if tier not in self.usage:
            return (f"tier {tier} not measured: the rule acts only above high"
                    f" {_pct(trigger.high)}")
        if self.usage[tier].fill <= trigger.high:
            return (f"tier {tier} {_pct(self.usage[tier].fill)} <= high {_pct(trigger.high)}:"
                    " no move needed")
        projected = self.projected_fill(tier)
        if projected <= trigger.low:
            return (f"tier {tier} projected {_pct(projected)} <= low {_pct(trigger.low)}:"
                    " enough moved")
        return None

    def _cap(self, c: Candidate) -> str | None:
        caps = self.policy.caps
        if self.capped is None:
            if caps.count is not None and self.taken_units >= caps.count:
                self.capped = f"cap reached: {caps.count} units per run"
            elif caps.bytes is not None and self.taken_bytes + c.unit.bytes > caps.bytes:
                # Caps stop the run in order: no smaller unit jumps the queue.
                self.capped = f"cap reached: {format_size(caps.bytes)} per run"
                if c.unit.bytes > caps.bytes:  # it would stop every run: say so
                    return (f"{self.capped} (this unit alone is {format_size(c.unit.bytes)}:"
                            " it moves only under a larger cap)")
        return self.capped

    def take(self, c: Candidate) -> str:
        """Count the unit against caps and fill; returns the reason it was chosen."""
        reason = why_selected(c)
        trigger, tier = self.policy.trigger, c.rule.source
        if c.rule.action == "move" and trigger is not None:
            reason += (f"; tier {tier} {_pct(self.usage[tier].fill)} > high"
                       f" {_pct(trigger.high)} (projected {_pct(self.projected_fill(tier))}"
                       f" before this unit, stop at low {_pct(trigger.low)})")
        if c.rule.action == "expire":
            reason += self._expirable(c)
        self.taken_bytes += c.unit.bytes
        self.taken_units += 1
        self.freed[tier] = self.freed.get(tier, 0) + c.unit.bytes
        return reason


def plan_policy(policy_name: str, policy: Policy, host_name: str, host: Host,
                files: Mapping[str, Iterable[FileRecord]],
                usage: Mapping[str, TierUsage] | None, now: dt.datetime, *,
                claimed: Mapping[tuple[str, str], str] | None = None,
                ) -> tuple[list[PlannedUnit], list[Skipped]]:
    """One policy's run on one host.

    ``files``: tier -> its catalogue entries (tiers left out hold nothing);
    ``usage``: tier -> its measured fill (None or a missing tier: not measured, so triggered
    move rules plan nothing there); ``now``: a timezone-aware moment ages count from;
    ``claimed``: (tier, file path) -> name of an earlier policy that already planned it.
    Returns the planned units in the order they should run, and the skipped ones.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    sources = {r.source for r in policy.rules if r.source in host.tiers}
    units = [u for tier in sorted(sources) for u in group_units(policy, tier,
                                                                 files.get(tier, ()))]
    chosen = choose(policy, units, now)
    run = _Run(policy, usage or {}, now.astimezone(dt.UTC).date(), claimed or {})
    planned: list[PlannedUnit] = []
    skipped: list[Skipped] = []
    for rule in policy.rules:
        for c in chosen[rule.name]:
            refusal = run.refusal(c)
            if refusal is not None:
                skipped.append(Skipped(policy_name, host_name, rule.name, c.unit.path,
                                       c.unit.bytes, refusal))
                continue
            reason = run.take(c)
            planned.append(_planned(policy_name, host_name, c, reason))
    return planned, skipped


def _planned(policy_name: str, host_name: str, c: Candidate, reason: str) -> PlannedUnit:
    files = tuple(UnitFile(r.path, r.size, r.mtime)
                  for r in sorted(c.unit.files, key=lambda r: r.path))
    return PlannedUnit(
        policy=policy_name, host=host_name, rule=c.rule.name, action=c.rule.action,
        source=c.rule.source, target=c.rule.target, unit=c.unit.path, files=files,
        bytes=sum(f.size for f in files), newest_mtime=max(f.mtime for f in files),
        age_days=round(c.age_days, 6), reason=reason)


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
        sources = sorted({r.source for r in policy.rules if r.source in host.tiers})
        done, passed = plan_policy(
            policy_name, policy, host_name, host,
            {tier: catalogue_files(host_name, tier) for tier in sources},
            {t: u for (h, t), u in left.items() if h == host_name}, now,
            claimed=claimed.get(host_name))
        mine = claimed.setdefault(host_name, {})
        for unit in done:
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


def triggered_tiers(inventory: Inventory, *, policies: Collection[str] | None = None,
                    hosts: Collection[str] | None = None) -> list[tuple[str, str]]:
    """(host, tier) pairs whose fill a plan needs: sources of move rules with a trigger."""
    found: dict[tuple[str, str], None] = {}
    for _name, host_name, policy in runs(inventory, policies, hosts):
        if policy.trigger is not None:
            for rule in policy.rules:
                if rule.action == "move" and rule.source in inventory.hosts[host_name].tiers:
                    found[(host_name, rule.source)] = None
    return sorted(found)


def source_tiers(inventory: Inventory, *, policies: Collection[str] | None = None,
                 hosts: Collection[str] | None = None) -> list[tuple[str, str]]:
    """(host, tier) pairs whose catalogue a plan reads: every rule's source."""
    found = {(h, r.source) for _n, h, p in runs(inventory, policies, hosts) for r in p.rules
             if r.source in inventory.hosts[h].tiers}
    return sorted(found)


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
            rule_row(name, r.name, r.action, r.source, r.target)
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
        kind = "expire" if u.action == "expire" else "move_out"
        _add(tier_row(u.host, u.source), kind, u.bytes)
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
