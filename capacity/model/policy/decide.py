"""One run of a policy: tier states + candidate units -> what to move or expire, and why.

This is the only place the rules of a run are written down.  The planner hands it a host's
units from the catalogue; the simulator hands it its cohorts as units of a workload's study
size.  Both get the same decisions for the same situation.

1. Each candidate belongs to the first rule, in order, whose selection matches it; a
   candidate for copying (``copy``) to the first copy rule that matches it, so a unit can
   be backed up by one rule and moved or expired by another.
2. Copy rules act first (a unit is copied from where it is, before a move of the same run
   takes it on), then the others; each kind in the policy's order, and within a rule
   candidates go in the policy's ``order``.  A copy leaves its unit where it is, and a unit
   its copy rule's target holds already is not copied again.
3. A candidate the caller knows cannot move (``blocked``) is left with that reason.
4. An expiry acts only past the retention (counted from the last write) and outside every
   hold.
5. A move with a trigger acts only if the source tier was above ``high`` when the run began,
   and only until the projected fill (measured use minus what this run takes off) is down to
   ``low``: the unit that crosses ``low`` is the last.
6. A move never fills its target past the target's critical threshold.
7. Caps end the run at the first unit that would pass ``caps.count`` or ``caps.bytes``; no
   smaller unit jumps the queue.

How much of a decided run gets done in the time the windows leave is :func:`paced`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from capacity.model.policy.language import Policy, Rule
from capacity.units import days_on, format_days, format_size


@dataclass(frozen=True)
class TierState:
    """A tier's fill as a run finds it."""

    used: float
    total: float
    critical: float | None = None
    """The fill a move must never take this tier past, as a target (None: unguarded)."""

    @property
    def fill(self) -> float:
        return self.used / self.total if self.total else 0.0


@dataclass(frozen=True)
class Candidate:
    """``count`` units of ``unit_bytes`` each, of one age, on one tier (the planner's units
    are one each; a simulator cohort is many)."""

    tier: str
    path: str | None
    """Relative to the tier root; None when unknown (path selections then match)."""
    unit_bytes: float
    age_days: float
    """Age of the newest write (mtime)."""
    atime_age_days: float | None = None
    """Age of the newest access, for rules with ``age_of: atime``."""
    count: int = 1
    files: tuple[str, ...] = ()
    """Paths of its files, relative to the tier root (holds look inside a unit)."""
    blocked: str | None = None
    """Why the caller knows it cannot move (a symlink inside, planned by another policy)."""
    copy: bool = False
    """A candidate for the policy's copy rules (the simulator's: data not copied yet)."""
    copied_to: tuple[str, ...] = ()
    """Tiers that hold its copy already (copy rules into them pass it by)."""
    ref: Any = None
    """The caller's own handle (a catalogue unit, a cohort band)."""

    def age_for(self, rule: Rule) -> float:
        if rule.select.age_of == "atime" and self.atime_age_days is not None:
            return self.atime_age_days
        return self.age_days


@dataclass(frozen=True)
class Decision:
    """``units`` of a candidate, taken by ``rule`` or left alone, and why."""

    candidate: Candidate
    rule: Rule
    units: int
    reason: str
    limit: str = ""
    """What left it, for callers that act on it: blocked, retention, held, watermark,
    target, cap ('' when taken)."""

    @property
    def bytes(self) -> float:
        return self.units * self.candidate.unit_bytes


@dataclass
class RunDecision:
    taken: list[Decision] = field(default_factory=list)
    """In the order the run should do them."""
    left: list[Decision] = field(default_factory=list)

    def bytes_taken(self, action: str | None = None) -> float:
        return sum(d.bytes for d in self.taken if action in (None, d.rule.action))


def pct(ratio: float) -> str:
    # Two decimals, so a fill just above a mark never reads as equal to it.
    return f"{ratio * 100:.2f}".rstrip("0").rstrip(".") + "%"


def choose(policy: Policy, candidates: Iterable[Candidate]) -> dict[str, list[Candidate]]:
    """Rule name -> the candidates it chose (first match wins), in the policy's order."""
    chosen: dict[str, list[Candidate]] = {rule.name: [] for rule in policy.rules}
    for c in candidates:
        rule = policy.first_rule(c.tier, c.path, c.unit_bytes, c.age_days,
                                 atime_age_days=c.atime_age_days, copy=c.copy)
        if rule is not None:
            chosen[rule.name].append(c)
    by_rule = {r.name: r for r in policy.rules}
    for name, group in chosen.items():
        rule = by_rule[name]
        if policy.order == "largest":
            group.sort(key=lambda c: (-c.unit_bytes, -c.age_for(rule), c.path or ""))
        else:
            group.sort(key=lambda c: (-c.age_for(rule), c.path or ""))
    return chosen


def decide(policy: Policy, tiers: Mapping[str, TierState], candidates: Iterable[Candidate],
           today: dt.date, *, explain: bool = True) -> RunDecision:
    """One run of ``policy`` over ``candidates``, with the tiers as the run finds them
    (a tier left out was not measured: triggered moves from it decide nothing).
    ``explain=False`` leaves the reasons empty (the simulator decides thousands of runs and
    reads none)."""
    run = _Run(policy, tiers, today, explain)
    chosen = choose(policy, candidates)
    copies_first = sorted(policy.rules, key=lambda r: r.action != "copy")  # stable
    for rule in copies_first:
        for c in chosen[rule.name]:
            if rule.action == "copy" and rule.target in c.copied_to:
                continue  # backed up already: nothing to do, nothing to say
            run.consider(rule, c)
    return run.result


def may_act(policy: Policy, rule: Rule, tiers: Mapping[str, TierState]) -> bool:
    """Whether the rule can take anything at all in a run that finds ``tiers``: a move
    with a trigger acts only on a measured tier above ``high``."""
    if rule.action != "move" or policy.trigger is None:
        return True
    state = tiers.get(rule.source)
    return state is not None and state.fill > policy.trigger.high


def paced(decision: RunDecision, budget: float | None) -> list[Decision]:
    """What of a run's decisions gets done when it may copy ``budget`` bytes before its
    windows close (None: no limit): units start in order while budget is left, and a unit
    once started finishes.  Expiries cost no copy time."""
    if budget is None:
        return list(decision.taken)
    done: list[Decision] = []
    left = budget
    for d in decision.taken:
        if d.rule.action == "expire":
            done.append(d)
            continue
        if left <= 0:
            continue
        units = min(d.units, math.ceil(left / d.candidate.unit_bytes)) if (
            d.candidate.unit_bytes > 0) else d.units
        left -= units * d.candidate.unit_bytes
        done.append(Decision(d.candidate, d.rule, units, d.reason))
    return done


def budget(bandwidth: float | None, seconds_open: float) -> float | None:
    """Bytes a run may copy: the bandwidth limit times the time its windows leave it."""
    if bandwidth is None:
        return None if seconds_open > 0 else 0.0
    return bandwidth * seconds_open


@dataclass
class _Run:
    policy: Policy
    tiers: Mapping[str, TierState]
    today: dt.date
    explain: bool
    result: RunDecision = field(default_factory=RunDecision)
    taken_bytes: float = 0.0
    taken_units: int = 0
    capped: str | None = None
    freed: dict[str, float] = field(default_factory=dict)
    added: dict[str, float] = field(default_factory=dict)

    def consider(self, rule: Rule, c: Candidate) -> None:
        if c.blocked is not None:
            self._leave(rule, c, c.count, c.blocked, "blocked")
            return
        refusal = self._expiry(rule, c)
        if refusal is not None:
            self._leave(rule, c, c.count, refusal,
                        "held" if refusal.startswith("held") else "retention")
            return
        units, why_not, code = c.count, _nothing, ""
        for name, limit in (("watermark", self._watermark), ("target", self._target),
                            ("cap", self._cap)):
            allowed, reason = limit(rule, c, units)
            if allowed < units:
                units, why_not, code = allowed, reason, name
            if units == 0:
                break
        if units > 0:
            why = self._why_taken(rule, c) if self.explain else ""
            self._take(rule, c, units)
            self.result.taken.append(Decision(c, rule, units, why))
        if units < c.count:
            self._leave(rule, c, c.count - units, why_not() if self.explain else "", code)

    def _leave(self, rule: Rule, c: Candidate, units: int, reason: str, limit: str) -> None:
        self.result.left.append(Decision(c, rule, units, reason, limit))

    def _take(self, rule: Rule, c: Candidate, units: int) -> None:
        nbytes = units * c.unit_bytes
        self.taken_bytes += nbytes
        self.taken_units += units
        if rule.action != "copy":  # a copy leaves its unit where it is
            self.freed[rule.source] = self.freed.get(rule.source, 0.0) + nbytes
        if rule.target is not None:
            self.added[rule.target] = self.added.get(rule.target, 0.0) + nbytes

    def projected_used(self, tier: str) -> float:
        """What the tier will hold once this run's decisions so far are done."""
        return self.tiers[tier].used - self.freed.get(tier, 0.0) + self.added.get(tier, 0.0)

    def projected_fill(self, tier: str, minus: float = 0.0) -> float:
        total = self.tiers[tier].total
        return (self.projected_used(tier) - minus) / total if total else 0.0

    # -- the rules, each returning how many of the candidate's units it lets through

    def _expiry(self, rule: Rule, c: Candidate) -> str | None:
        if rule.action != "expire":
            return None
        retention = self.policy.retention
        if c.age_days < days_on(retention, self.today):
            return (f"under retention {format_days(retention)}: newest file"
                    f" {math.floor(c.age_days)} days old")
        if c.path is None:
            return None  # the simulator's data: no names, so no hold can name it
        held = self.policy.holding(c.path, c.files, self.today)
        if not held:
            return None
        return "held: " + "; ".join(
            h.reason + (f" (until {h.until.isoformat()})" if h.until else "") for h in held)

    def _watermark(self, rule: Rule, c: Candidate, units: int) -> tuple[int, Callable[[], str]]:
        trigger, tier = self.policy.trigger, rule.source
        if rule.action != "move" or trigger is None:
            return units, _nothing
        state = self.tiers.get(tier)
        if state is None:
            return 0, lambda: (f"tier {tier} not measured: the rule acts only above high"
                               f" {pct(trigger.high)}")
        if not may_act(self.policy, rule, self.tiers):
            return 0, lambda: (f"tier {tier} {pct(state.fill)} <= high {pct(trigger.high)}:"
                               " no move needed")
        excess = self.projected_used(tier) - trigger.low * state.total
        allowed = _units_to_cover(excess, c.unit_bytes, units)
        after = self.projected_fill(tier, allowed * c.unit_bytes)
        return allowed, lambda: (f"tier {tier} projected {pct(after)} <= low"
                                 f" {pct(trigger.low)}: enough moved")

    def _target(self, rule: Rule, c: Candidate, units: int) -> tuple[int, Callable[[], str]]:
        target = rule.target
        state = self.tiers.get(target) if target else None
        if target is None or state is None or state.critical is None or not state.total:
            return units, _nothing
        room = state.critical * state.total - self.projected_used(target)
        allowed = units if c.unit_bytes <= 0 else max(0, min(units, math.floor(
            room / c.unit_bytes)))
        fill, critical = self.projected_fill(target), state.critical
        return allowed, lambda: (f"target tier {target} projected {pct(fill)}: a move must"
                                 f" not take it past its critical {pct(critical)}")

    def _cap(self, rule: Rule, c: Candidate, units: int) -> tuple[int, Callable[[], str]]:
        caps = self.policy.caps
        if self.capped is not None:
            capped = self.capped
            return 0, lambda: capped
        if caps.count is not None and self.taken_units + units > caps.count:
            units = caps.count - self.taken_units
            self.capped = f"cap reached: {caps.count} units per run"
        if caps.bytes is not None and self.taken_bytes + units * c.unit_bytes > caps.bytes:
            units = max(0, math.floor((caps.bytes - self.taken_bytes) / c.unit_bytes))
            self.capped = f"cap reached: {format_size(caps.bytes)} per run"
            if c.unit_bytes > caps.bytes:  # it would stop every run: say so
                capped = self.capped
                return 0, lambda: (f"{capped} (this unit alone is"
                                   f" {format_size(round(c.unit_bytes))}: it moves only under"
                                   " a larger cap)")
        said = self.capped or ""
        return max(0, units), lambda: said

    def _why_taken(self, rule: Rule, c: Candidate) -> str:
        reason = why_selected(rule, c)
        trigger, tier = self.policy.trigger, rule.source
        if rule.action == "move" and trigger is not None:
            reason += (f"; tier {tier} {pct(self.tiers[tier].fill)} > high"
                       f" {pct(trigger.high)} (projected {pct(self.projected_fill(tier))}"
                       f" before this unit, stop at low {pct(trigger.low)})")
        if rule.action == "expire":
            retention = self.policy.retention
            reason += f"; past retention {format_days(retention)}" if retention else (
                "; no retention")
            if retention and rule.select.age_of == "atime":
                reason += f" (newest file {math.floor(c.age_days)} days old)"
            reason += "; no hold applies" if self.policy.holds else ""
        return reason


def _nothing() -> str:
    return ""


def _units_to_cover(excess: float, unit_bytes: float, count: int) -> int:
    """Units to take, in order, while the projected fill is still above the mark: the one
    that crosses it is the last."""
    if excess <= 0:
        return 0
    if unit_bytes <= 0:
        return count
    return min(count, math.ceil(excess / unit_bytes))


def why_selected(rule: Rule, c: Candidate) -> str:
    """The selection conditions that chose the unit, with the unit's own figures."""
    select = rule.select
    days = math.floor(c.age_for(rule))
    size = format_size(round(c.unit_bytes))
    parts = []
    if select.older_than is not None:
        figure = (f"newest access {days} days ago" if select.age_of == "atime"
                  else f"newest file {days} days old")
        parts.append(f"older than {format_days(select.older_than)}: {figure}")
    if select.larger_than is not None:
        parts.append(f"larger than {format_size(select.larger_than)}: {size}")
    if select.smaller_than is not None:
        parts.append(f"smaller than {format_size(select.smaller_than)}: {size}")
    if select.paths:
        parts.append("path matches " + ", ".join(repr(p) for p in select.paths))
    if select.exclude:
        parts.append("not excluded by " + ", ".join(repr(p) for p in select.exclude))
    return "; ".join(parts) or "the rule selects every unit"
