"""Tier policies played forward: the very policy objects the tiering engine applies to hosts.

Each day a policy's rules act in order.  A move rule takes the oldest eligible data of the
workloads the policy governs from its source tier to its target tier, only while the source
is above the high watermark (when the policy has a trigger) and until it is down to the low
one, within the day's bandwidth x window allowance and the per-run byte cap, and never
filling the target past its critical threshold.  An expire rule deletes data past both its
age and the policy's retention.

Modelled: age (``older_than``).  Not modelled: path and size selections and holds, which
need file names; the simulator assumes they match the governed workloads' data.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass

import simpy

from capacity.model import Policy, Rule
from capacity.sim.twin import TIERING, Store, Twin

NOTE_EVERY_DAYS = 90
RECOUNT_DAYS = 7
"""How long a forecast of what tiering leaves on a resource is reused: it moves slowly, and
counting every cohort daily would dominate a long run."""


@dataclass(frozen=True)
class Route:
    """A rule as it runs on storage: from one resource to another (or to deletion)."""

    rule: Rule
    source: str
    target: str | None


def routes(twin: Twin, policy_name: str) -> list[Route]:
    """The storage each rule's tiers live on, through the policy's hosts (deduplicated);
    worked out once per run."""
    key = ("routes", policy_name)
    found = twin.memo.get(key)
    if not isinstance(found, list):
        found = twin.memo[key] = _routes(twin, policy_name)
    return found


def _routes(twin: Twin, policy_name: str) -> list[Route]:
    policy = twin.inventory.policies[policy_name]
    found: list[Route] = []
    for host_name in policy.hosts:
        tiers = twin.inventory.hosts[host_name].tiers
        for rule in policy.rules:
            source = tiers[rule.source].storage
            target = tiers[rule.target].storage if rule.target else None
            route = Route(rule, source, target) if source else None
            if route and (target or rule.action == "expire") and route not in found:
                found.append(route)
    return found


def daily_allowance(twin: Twin, policy: Policy) -> float:
    """Bytes the policy may move in a day: its own and its hosts' pacing, and its cap."""
    limits = [policy.pacing.bytes_per_day(), policy.caps.bytes]
    limits += [twin.inventory.hosts[h].pacing.bytes_per_day() for h in policy.hosts]
    return min((float(x) for x in limits if x is not None), default=math.inf)


def governed(twin: Twin, policy_name: str) -> Sequence[str]:
    """Workloads whose data the policy moves (kept current by ``WorkloadState`` additions)."""
    return twin.workloads_of_policy.get(policy_name, ())


def places(twin: Twin, workload: str) -> list[str]:
    """Every resource a workload's data can sit on: where it lands, where its policy's rules
    move it, and where migrations bring it."""
    state = twin.workloads[workload]
    key = ("places", workload, len(state.extra_places))
    found = twin.memo.get(key)
    if not isinstance(found, list):
        found = [state.model.lands_on, *state.extra_places]
        if state.model.policy:
            found += [r.target for r in routes(twin, state.model.policy) if r.target]
        found = twin.memo[key] = list(dict.fromkeys(found))
    return found


def held_after_draining(twin: Twin, ref: str, horizon: float) -> float | None:
    """What ``ref`` will hold ``horizon`` days from now if its triggered move rules drain it
    as far as they may: the governed data whose age then falls between the age at which it
    moves onto ``ref`` (0 where it lands) and the age at which it moves off, wherever that
    data sits now, plus what lands meanwhile; never below the low watermark.  None when no
    triggered rule drains ``ref``.  Procurement counts on this before it buys.  A mirror
    (GAD, remote copy) follows its source."""
    source = twin.mirror_of.get(ref)
    if source is not None:
        return held_after_draining(twin, source, horizon)
    day = twin.day
    key = ("held", ref, horizon)
    memo = twin.memo.get(key)
    if isinstance(memo, tuple) and day - memo[0] < RECOUNT_DAYS:
        return memo[1]
    held = _held_after_draining(twin, ref, horizon, day)
    twin.memo[key] = (day, held)
    return held


def _held_after_draining(twin: Twin, ref: str, horizon: float, day: int) -> float | None:
    held, low, drained = 0.0, 1.0, False
    for name in twin.policies_draining.get(ref, ()):
        policy = twin.inventory.policies[name]
        assert policy.trigger is not None
        plan = routes(twin, name)
        for route in plan:
            if route.source != ref or route.target is None:
                continue
            drained = True
            low = min(low, policy.trigger.low)
            age_off = route.rule.select.older_than or 0
            age_on = max((r.rule.select.older_than or 0 for r in plan if r.target == ref),
                         default=0)
            oldest, youngest = day + horizon - age_off, day + horizon - age_on
            for wl in governed(twin, name):
                for where in places(twin, wl):
                    cohorts = twin.stores[where].cohorts.get(wl)
                    if cohorts is not None:
                        held += cohorts.born_between(oldest, youngest)
                state = twin.workloads[wl]
                if state.model.lands_on == ref:
                    held += state.bytes_on(day) * min(horizon, age_off)
    if not drained:
        return None
    return max(held, low * twin.stores[ref].available)


def tiering(twin: Twin, policy_name: str) -> Generator[simpy.Event, int, None]:
    policy = twin.inventory.policies[policy_name]
    allowance_per_day = daily_allowance(twin, policy)
    # Each rule as it runs: where from, where to (None: expire), and the age it acts at.
    plan = [(route, twin.stores[route.source],
             twin.stores[route.target] if route.target is not None else None,
             _acts_at(policy, route)) for route in routes(twin, policy_name)]
    draining: dict[str, bool] = {}  # source -> above high, not yet down to low
    last_note: dict[str, int] = {}
    day = yield twin.at(TIERING)
    clock = twin.clock()
    while True:
        allowance = allowance_per_day
        names = governed(twin, policy_name)  # add_workload events can join later
        for route, source, target, age in plan:
            if target is None:
                for name in names:
                    source.expire(name, day - age)
                continue
            limit = _move_limit(policy, source, draining)
            if limit <= 0:
                continue  # under a trigger, most days: nothing may leave the source
            room = target.available * target.thresholds.critical - target.used
            if room < limit and day - last_note.get(target.ref, -10**9) >= NOTE_EVERY_DAYS:
                last_note[target.ref] = day
                twin.note("tiering-held", target.ref, f"{route.rule.name}: target at its"
                          " critical threshold; moves held back", rule=route.rule.name)
            limit = min(limit, allowance, max(0.0, room))
            for name in names:
                if limit <= 0:
                    break
                if name not in source.cohorts:
                    continue  # none of its data sits here (it lands on another tier)
                for birth, nbytes in source.take_older(name, day - age, limit):
                    target.add(name, birth, nbytes)
                    limit -= nbytes
                    allowance -= nbytes
        day = yield clock


def _acts_at(policy: Policy, route: Route) -> int:
    """The age at which a rule takes data: an expire rule never before the retention."""
    age = route.rule.select.older_than or 0
    return age if route.target is not None else max(age, policy.retention)


def _move_limit(policy: Policy, source: Store, draining: dict[str, bool]) -> float:
    """How much may leave the source today under the watermarks (inf without a trigger)."""
    if policy.trigger is None:
        return math.inf
    used, available = source.used, source.available
    if (used / available if available else math.inf) > policy.trigger.high:  # its fill
        draining[source.ref] = True
    if not draining.get(source.ref):
        return 0.0
    excess = used - policy.trigger.low * available
    if excess <= 0:
        draining[source.ref] = False
        return 0.0
    return excess
