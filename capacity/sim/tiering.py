"""Tier policies played forward: scheduled runs of the very rules the tiering engine applies.

At each instant the policy's schedule starts a run (``policy.run_times``), the simulator
shows ``policy.decide`` its storage as tier states and its cohorts as candidate units, and
does what the decision says, as far as ``policy.paced`` lets it in the time the host's and
the policy's windows leave at the bandwidth limit.  Nothing here decides anything.

A cohort is shown as units of its workload's study size (the mean of its drivers; 100 MB
without drivers), in age bands: between two ages at which rules of its tier change
their minds, every unit is chosen by the same rule.  Data has no names in the simulator, so
path selections are taken to match and holds to hold nothing.

A copy rule's candidates are the data of its bands not copied yet: what each run copies is
kept per rule and workload, by birth day, and the copy lands on the target as the
workload's data (its retention deletes it there too, as everywhere).
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass

import simpy

from capacity.model import Policy, Route, Workload
from capacity.model.policy import (
    Candidate,
    RunDecision,
    TierState,
    budget,
    daily_run_spans,
    decide,
    effective,
    may_act,
    paced,
)
from capacity.model.policy.forecast import Drain, peak_held
from capacity.sim.twin import TIERING, Cohorts, Store, Twin
from capacity.units import days_on

NOTE_EVERY_DAYS = 90
"""A target held at its critical threshold is noted once a quarter, not every run."""
RECOUNT_DAYS = 7
"""How long a count of what tiering cannot take off a resource is reused: it moves slowly,
and counting every cohort daily would dominate a long run."""


def governed(twin: Twin, policy_name: str) -> Sequence[str]:
    """Workloads whose data the policy moves (kept current by ``WorkloadState`` additions)."""
    return twin.workloads_of_policy.get(policy_name, ())


def places(twin: Twin, workload: str) -> list[str]:
    """Every resource a workload's data can sit on: where it lands, where its policy's rules
    move it, and where migrations bring it."""
    state = twin.workloads[workload]
    found = [state.model.lands_on, *state.extra_places]
    if state.model.policy:
        found += [r.target for r in (*twin.routes[state.model.policy],
                                     *twin.copy_routes.get(state.model.policy, ()))
                  if r.target]
    return list(dict.fromkeys(found))


def drained_peak(twin: Twin, ref: str, horizon: float, offered: float,
                 projected: float) -> float | None:
    """What ``ref`` holds at most around ``horizon`` days from now, when its trend says
    ``projected``, with the triggered move rules that take data off it (``policy.peak_held``)
    and ``offered`` bytes on the tier they drain.  None when no triggered rule drains it.
    Procurement counts on this before it buys.  A mirror (GAD, remote copy) follows its
    source: ``offered`` is then the source's."""
    ref = twin.followed(ref)
    names = twin.policies_draining.get(ref, ())
    if not names:
        return None
    day = twin.day
    made = twin.forecasts.get((ref, horizon))
    if made is None or day - made[0] >= RECOUNT_DAYS:
        drain = _drain(twin, names[0])
        for name in names[1:]:
            drain = drain.combined(_drain(twin, name))
        held, arriving, earlier = _unmovable(twin, ref, horizon, day)
        made = twin.forecasts[ref, horizon] = (day, drain.sharing(earlier), held, arriving)
    _, drain, unmovable, arriving = made
    return peak_held(drain, offered, unmovable, arriving, twin.stores[ref].used, projected,
                     horizon)


def _drain(twin: Twin, policy_name: str) -> Drain:
    """How the policy's runs drain a tier (its unit: its first governed workload's); it
    holds for the whole run."""
    found = twin.drains.get(policy_name)
    if found is None:
        found = twin.drains[policy_name] = _work_out_drain(twin, policy_name)
    return found


def _work_out_drain(twin: Twin, policy_name: str) -> Drain:
    policy = twin.inventory.policies[policy_name]
    hours, bandwidth = effective(twin.inventory.hosts[policy.hosts[0]].pacing, policy.pacing)
    workloads = governed(twin, policy_name)
    unit = _unit_bytes(twin.workloads[workloads[0]].model) if workloads else STUDY_BYTES
    return Drain.of(policy, hours, bandwidth, unit)


def _unmovable(twin: Twin, ref: str, horizon: float,
               day: int) -> tuple[float, float, float]:
    """The data that will be on ``ref`` at the horizon and that its triggered move rules do
    not take yet: governed data whose age then falls between the age at which it moves onto
    ``ref`` (0 where it lands) and the age at which it moves off, on ``ref`` or on the tiers
    that feed it now, plus what lands meanwhile; and everything on ``ref`` no rule moves.
    Also how many bytes a day reach ``ref`` (landing, or aging onto it), and how many of
    them rules that come before its move-off rules in the policy bring (they spend each
    run's caps first)."""
    held = arriving = earlier = 0.0
    arrives: set[str] = set()  # workloads counted in ``arriving``
    for name in twin.policies_draining.get(ref, ()):
        plan = twin.routes[name]
        rules = twin.inventory.policies[name].rules
        feeding = _feeding(plan, ref)
        for route in plan:
            if route.source != ref or route.target is None:
                continue
            age_off = route.age
            age_on = max((r.age for r in plan if r.target == ref), default=0)
            first = any(rules.index(r.rule) < rules.index(route.rule)
                        for r in plan if r.target == ref)
            oldest, youngest = day + horizon - age_off, day + horizon - age_on
            for wl in governed(twin, name):
                for where in places(twin, wl):
                    if where not in feeding:
                        continue  # moved on, or elsewhere: it does not come back
                    cohorts = twin.stores[where].cohorts.get(wl)
                    if cohorts is not None:
                        held += cohorts.born_between(oldest, youngest)
                state = twin.workloads[wl]
                per_day = state.bytes_on(day)
                if state.model.lands_on == ref:
                    held += per_day * min(horizon, age_off)
                if (state.model.lands_on == ref or age_on > 0) and wl not in arrives:
                    arrives.add(wl)
                    arriving += per_day
                    if age_on > 0 and first and state.model.lands_on != ref:
                        earlier += per_day
    # What no triggered rule moves: other workloads' data (and what lands of it meanwhile),
    # copies and staging.  It stays, and the runs must make room around it.
    ruled = {wl for name in twin.policies_draining.get(ref, ()) for wl in governed(twin, name)}
    store = twin.stores[ref]
    others = sum(s.bytes_on(day) for s in twin.landing.get(ref, ()) if s.name not in ruled)
    held += store.used - sum(c.total() for wl, c in store.cohorts.items() if wl in ruled)
    return held + others * horizon, arriving + others, earlier


def _feeding(plan: Sequence[Route], ref: str) -> set[str]:
    """``ref`` and every resource whose data the moves bring to it, however many hops."""
    found = {ref}
    while more := {r.source for r in plan if r.target in found} - found:
        found |= more
    return found


@dataclass(frozen=True)
class _Band:
    """Data of one workload on one store between two ages (in days, [youngest, oldest))."""

    workload: str
    store: Store
    youngest: int
    oldest: float
    copy: bool = False
    """A band of data not copied yet, for the copy rules."""


def tiering(twin: Twin, policy_name: str) -> Generator[simpy.Event, int, None]:
    """The policy's runs, at the instants its schedule names, every day."""
    if not twin.routes[policy_name] and not twin.copy_routes.get(policy_name):
        return
    runs = _Runs(twin, policy_name)
    day = yield twin.at(TIERING)
    clock = twin.clock()
    while True:
        runs.day(day)
        day = yield clock.tick()


class _Runs:
    """One policy's runs over the simulation, and what they work out once rather than at
    every run: the stores behind its tiers, the age bands of its rules, each workload's
    unit."""

    def __init__(self, twin: Twin, policy_name: str) -> None:
        self.twin, self.name = twin, policy_name
        self.policy = policy = twin.inventory.policies[policy_name]
        plan = [*twin.routes[policy_name], *twin.copy_routes.get(policy_name, ())]
        self.stores = {r.rule.source: twin.stores[r.source] for r in plan}
        self.stores.update({r.rule.target: twin.stores[r.target] for r in plan
                            if r.target and r.rule.target})
        host = twin.inventory.hosts[policy.hosts[0]]
        hours, self.bandwidth = effective(host.pacing, policy.pacing)
        self.spans = daily_run_spans(policy.schedule, hours)
        self.tiers = sorted({r.rule.source for r in plan})
        self.retention = -1
        self.bands: dict[tuple[str, str], list[_Band]] = {}
        """(Tier, workload) -> the age bands [youngest, oldest) some rule of the tier takes
        its data in, young to old (for the retention as it stands)."""
        self.sizes: dict[str, float] = {}
        """Workload -> its unit's bytes."""
        self.noted: dict[str, int] = {}
        """Target -> the day it was last noted as held back."""
        self.copy_sources = {r.rule.source for r in twin.copy_routes.get(policy_name, ())}
        self.copy_bands: dict[tuple[str, str], list[_Band]] = {}
        self.copied: dict[tuple[str, str], Cohorts] = {}
        """(Copy rule, workload) -> what its runs copied, by birth day."""
        self.copied_through: dict[tuple[str, _Band], tuple[float, int]] = {}
        """(Copy rule, band) -> a birth B, and the source's ``inserted`` then: no cohort of
        the source born before B owes the band a copy, as long as no cohort was inserted
        since (appends are younger, removals and splits shrink; B itself may have grown).
        A run then looks at the cohorts from B on only: without it every run looked at
        every cohort of a ten-year retention."""

    def day(self, day: int) -> None:
        today = self.twin.date(day)
        # A retention in calendar years is so many days back from today: 365 or 366.
        retention = days_on(self.policy.retention, today)
        if retention != self.retention:
            self.retention = retention
            self.bands.clear()
        for start, seconds in self.spans(today):
            self.run(day, start, seconds)

    def run(self, day: int, start: dt.datetime, seconds: float) -> None:
        """One run: the policy decides on the stores as they are, and what it may do in
        ``seconds`` is done."""
        policy, stores = self.policy, self.stores
        tiers = {tier: TierState(s.used, s.available, s.thresholds.critical)
                 for tier, s in stores.items()}
        # A tier whose site is down is not read: its data waits for the site.
        acting = {r.source for r in policy.rules if r.source in self.tiers
                  and not stores[r.source].offline and may_act(policy, r, tiers)}
        candidates = [c for tier in self.tiers if tier in acting
                      for c in self.candidates(tier, day)]
        if not candidates:
            return
        decision = decide(policy, tiers, candidates, start.date(), explain=False)
        _note_held_back(self.twin, decision, stores, day, self.noted)
        for d in paced(decision, budget(self.bandwidth, seconds)):
            band: _Band = d.candidate.ref
            if band.copy:
                self.copy(d.rule.name, stores[d.rule.target or ""], band, day, round(d.bytes))
                continue
            nbytes = min(round(d.bytes), band.store.cohorts[band.workload].born_between(
                day - band.oldest, day - band.youngest))
            if d.rule.target is None:
                band.store.expire(band.workload, day - band.youngest, nbytes)
            else:
                target = stores[d.rule.target]
                for birth, part in band.store.take_older(band.workload, day - band.youngest,
                                                         nbytes):
                    # A target mirrored onto a fuller store may take less: the rest stays.
                    moved = target.add(band.workload, birth, part)
                    if moved < part:
                        band.store.add(band.workload, birth, part - moved)
                    band.store.moved_off += moved

    def candidates(self, tier: str, day: int) -> list[Candidate]:
        """The governed workloads' data on ``tier`` as candidate units, by age band; for the
        copy rules, also what of it is not copied yet."""
        store = self.stores[tier]
        found = []
        for name in governed(self.twin, self.name):
            cohorts = store.cohorts.get(name)
            if cohorts is None or not cohorts.births:
                continue
            unit = self.sizes.get(name) or self.unit(name)
            bands = self.bands.get((tier, name))
            if bands is None:
                bands = self.bands[tier, name] = [
                    _Band(name, store, youngest, oldest)
                    for youngest, oldest in self._bands(tier, unit)]
            oldest_birth = cohorts.births[0]
            for band in bands:
                youngest = band.youngest
                if oldest_birth > day - youngest:
                    break  # nothing this old yet (bands go from young to old)
                held = cohorts.born_between(day - band.oldest, day - youngest)
                if held > 0:
                    found.append(Candidate(tier, None, unit, float(youngest),
                                           count=math.ceil(held / unit), ref=band))
            if tier in self.copy_sources:
                found += self._copy_candidates(tier, name, cohorts, unit, day)
        return found

    def _copy_candidates(self, tier: str, name: str, cohorts: Cohorts, unit: float,
                         day: int) -> list[Candidate]:
        bands = self.copy_bands.get((tier, name))
        if bands is None:
            bands = self.copy_bands[tier, name] = [
                _Band(name, self.stores[tier], youngest, oldest, copy=True)
                for youngest, oldest in self._bands(tier, unit, copy=True)]
        found = []
        for band in bands:
            rule = self.policy.first_rule(tier, None, unit, band.youngest, copy=True)
            copied = self.copied.get((rule.name, name)) if rule else None
            if copied is not None and copied.births and copied.births[0] < cohorts.births[0]:
                # What the source no longer holds (its retention ended) is no longer owed.
                copied.take_older(math.nextafter(cohorts.births[0], -math.inf), 2**62)
            after, until = day - band.oldest, day - band.youngest
            left = cohorts.born_between(after, until) - (
                copied.born_between(after, until) if copied else 0)
            if left > 0:
                found.append(Candidate(tier, None, unit, float(band.youngest),
                                       count=math.ceil(left / unit), copy=True, ref=band))
        return found

    def copy(self, rule: str, target: Store, band: _Band, day: int, nbytes: int) -> None:
        """Copy up to ``nbytes`` of the band's data not copied yet onto ``target``, oldest
        first; the source keeps it."""
        copied = self.copied.setdefault((rule, band.workload), Cohorts())
        source = band.store.cohorts[band.workload]
        births = source.births
        known = self.copied_through.get((rule, band))
        start = (bisect.bisect_left(births, known[0])
                 if known is not None and known[1] == source.inserted else 0)
        after, until = day - band.oldest, day - band.youngest
        owing = bisect.bisect_right(births, until)  # the first cohort still owing, at the end
        for at, birth, part in _uncopied(source, copied, after, until, start):
            if nbytes <= 0:
                owing = at
                break
            placed = target.add(band.workload, birth, min(part, nbytes))
            copied.add(birth, placed)
            nbytes -= placed
            if placed < part:  # the bandwidth or the target's room ends in this cohort
                owing = at
                break
        if owing:
            self.copied_through[rule, band] = (births[owing - 1], source.inserted)

    def unit(self, workload: str) -> float:
        unit = self.sizes.get(workload)
        if unit is None:
            unit = self.sizes[workload] = _unit_bytes(self.twin.workloads[workload].model)
        return unit

    def _bands(self, tier: str, unit: float, *, copy: bool = False
               ) -> list[tuple[int, float]]:
        """The bands between the ages at which the tier's rules may change their minds in
        which some rule (some copy rule, with ``copy``) takes a unit of ``unit`` bytes."""
        ages = _ages(self.policy, tier, self.retention)
        return [(youngest, ages[i + 1] if i + 1 < len(ages) else math.inf)
                for i, youngest in enumerate(ages)
                if self.policy.first_rule(tier, None, unit, youngest, copy=copy) is not None]


def _uncopied(source: Cohorts, copied: Cohorts, after: float, until: float, start: int = 0
              ) -> Iterator[tuple[int, float, int]]:
    """(Index, birth, bytes) of the source's data from index ``start`` born in (after,
    until], less what was copied of it, oldest first, a birth day at a time (old data
    arriving can make two cohorts of one birth day, on either side; copies are kept at their
    source's birth days)."""
    births, sizes = source.births, source.sizes
    copies, copy_sizes = copied.births, copied.sizes
    i = max(start, bisect.bisect_right(births, after))
    hi = bisect.bisect_right(births, until)
    while i < hi:
        birth, first, held = births[i], i, 0
        while i < hi and births[i] == birth:
            held += sizes[i]
            i += 1
        at, done = bisect.bisect_left(copies, birth), 0
        while at < len(copies) and copies[at] == birth:
            done += copy_sizes[at]
            at += 1
        if held > done:
            yield first, birth, held - done


def _ages(policy: Policy, tier: str, retention: int) -> list[int]:
    """Ages at which the rules of ``tier`` may change their minds, with the policy's
    retention at ``retention`` days: band edges."""
    edges = {0}
    for rule in policy.rules:
        if rule.source == tier:
            edges.add(rule.select.older_than or 0)
            if rule.action == "expire":
                edges.add(retention)
    return sorted(edges)


def _note_held_back(twin: Twin, decision: RunDecision, stores: dict[str, Store],
                    day: int, noted: dict[str, int]) -> None:
    for d in decision.left:
        target = stores[d.rule.target] if d.limit == "target" and d.rule.target else None
        if target is not None and day - noted.get(target.ref, -10**9) >= NOTE_EVERY_DAYS:
            noted[target.ref] = day
            twin.note("tiering-held", target.ref, f"{d.rule.name}: target at its critical"
                      " threshold; moves held back", rule=d.rule.name)


STUDY_BYTES = 100 * 10**6
"""The unit of a workload without drivers: a 100 MB study (CT studies are 100-500 MB)."""


def _unit_bytes(model: Workload) -> float:
    """A workload's unit: its mean study as stored (``STUDY_BYTES`` without drivers)."""
    studies = sum(d.studies_per_day for d in model.drivers)
    if studies:
        return sum(d.bytes_per_day for d in model.drivers) / studies
    return STUDY_BYTES
