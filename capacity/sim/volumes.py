"""HDT pools tier by tier: the policies on arrays give volumes tiering policies at the
instants their schedules name, by the rules the planner applies (``decide`` over
``volumes.candidates``), and each pool's pages sit on its tiers as those policies say
(``volumes.place``).

What a pool holds in all comes from the rest of the simulation; its declared volumes hold
their ``used`` (a closed era's volume is not written), and the rest is data at All.  A
level set by a run moves the volume's pages within the run's window when the policy starts
relocation on the pool, and by the next monitoring cycle (at most a day) when it does not.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator
from dataclasses import dataclass, field

import simpy

from capacity.model.estate import TierLevel
from capacity.model.policy import decide, effective
from capacity.model.policy.volumes import (
    VolumeState,
    candidates,
    level_text,
    place,
    relocations,
    tier_totals,
)
from capacity.model.policy.windows import daily_run_spans
from capacity.sim.results import PoolTierSeries
from capacity.sim.twin import TIERING, Twin
from capacity.sizing.array import size_tier


@dataclass
class _Volume:
    label: str
    used: int
    last_write: dt.date | None
    levels: list[tuple[int, TierLevel]]
    """(First day in effect, level), in order; the inventory's level from day 0."""

    def level_on(self, day: int) -> TierLevel:
        level = self.levels[0][1]
        for since, this in self.levels:
            if since > day:
                break
            level = this
        return level


@dataclass
class PoolTiers:
    """What the simulation keeps of each HDT pool with declared volumes."""

    volumes: dict[str, dict[str, _Volume]] = field(default_factory=dict)
    """Pool ref -> label -> volume."""
    shares: dict[str, list[tuple[int, tuple[float, ...]]]] = field(default_factory=dict)
    """Pool ref -> (first day, each tier's share of the pool's capacity), as it changes."""


def watched(twin: Twin) -> PoolTiers:
    found = PoolTiers()
    for array_name, array in twin.inventory.arrays.items():
        for pool_name, pool in array.pools.items():
            if pool.type == "HDT" and pool.volumes:
                found.volumes[f"{array_name}/{pool_name}"] = {
                    label: _Volume(label, v.used, v.last_write, [(0, v.tier_level)])
                    for label, v in pool.volumes.items()}
    return found


def pool_tiers(twin: Twin, kept: PoolTiers) -> Generator[simpy.Event, int, None]:
    """Each day: the policies on arrays run, and each watched pool's tiers are noted."""
    if not kept.volumes:
        return
    policies = [(name, daily_run_spans(p.schedule, effective(p.pacing)[0]))
                for name, p in twin.inventory.policies.items() if p.on_arrays]
    day = yield twin.at(TIERING)
    clock = twin.clock()
    seen: dict[str, object] = {}
    while True:
        for name, spans in policies:
            for _start, _seconds in spans(twin.date(day)):
                _run(twin, kept, name, day)
        for ref in kept.volumes:
            if seen.get(ref) is not twin.pools[ref]:
                seen[ref] = twin.pools[ref]
                kept.shares.setdefault(ref, []).append((day, _shares(twin, ref)))
        day = yield clock.tick()


def _run(twin: Twin, kept: PoolTiers, name: str, day: int) -> None:
    policy = twin.inventory.policies[name]
    relocate = relocations(policy)
    for array in policy.arrays:
        for pool in dict.fromkeys(r.source for r in policy.rules):
            ref = f"{array}/{pool}"
            volumes = kept.volumes.get(ref)
            if volumes is None or twin.stores[ref].offline:
                continue  # nothing declared to set; or its site is down: no run reaches it
            states = [VolumeState(v.label, v.used, v.last_write, v.level_on(10**9))
                      for v in volumes.values()]
            found = candidates(policy, pool, states, twin.date(day))
            if not found:
                continue
            decision = decide(policy, {}, found, twin.date(day), explain=False)
            since = day if relocate.get(pool) == "start" else day + 1
            for d in decision.taken:
                volume = volumes[d.candidate.ref.label]
                level = d.rule.tier_level
                assert level is not None
                twin.note("tiering-policy", ref, f"{d.rule.name}: volume {volume.label} to"
                          f" {level_text(level)}", rule=d.rule.name, volume=volume.label,
                          tier_level=level)
                volume.levels.append((since, level))


def _shares(twin: Twin, ref: str) -> tuple[float, ...]:
    data = [size_tier(twin.inventory, t).data for t in twin.pools[ref].tiers]
    total = sum(data)
    return tuple(d / total if total else 0.0 for d in data)


def series(twin: Twin, kept: PoolTiers, used: dict[str, list[int]],
           capacity: dict[str, list[int]]) -> dict[str, PoolTierSeries]:
    """Each watched pool's bytes per tier per day, from the tape of what it holds."""
    out = {}
    for ref, volumes in kept.volumes.items():
        shares = kept.shares.get(ref, [])
        names = [t.name for t in twin.pools[ref].tiers]
        days = len(used[ref])
        tier_used: list[list[int]] = [[] for _ in names]
        tier_capacity: list[list[int]] = [[] for _ in names]
        of_volume: dict[str, list[list[int]]] = {v: [[] for _ in names] for v in volumes}
        at = 0
        for day in range(days):
            while at + 1 < len(shares) and shares[at + 1][0] <= day:
                at += 1
            share = shares[at][1] if shares else (1.0,)
            caps = [s * capacity[ref][day] for s in share]
            declared = [(v.level_on(day), float(v.used)) for v in volumes.values()]
            rest = used[ref][day] - sum(b for _, b in declared)
            placed = place(caps, [*declared, ("all", float(max(0, rest)))])
            totals = tier_totals(placed, len(caps))
            for i in range(len(caps)):
                tier_used[i].append(round(totals[i]))
                tier_capacity[i].append(round(caps[i]))
                for label, load in zip(volumes, placed, strict=False):
                    of_volume[label][i].append(round(load[i]))
        out[ref] = PoolTierSeries(ref, tuple(names), tier_used, tier_capacity, of_volume)
    return out
