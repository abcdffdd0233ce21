"""Workloads: new data arrives every day, and data past its retention leaves.

Data already stored at the start is laid down as monthly cohorts spread over its ages
(``stored_ages``), weighted as the workload's growth implies (older months were smaller), so
that retention and tier rules meet it at the right time.
"""

from __future__ import annotations

import math
from collections.abc import Generator

import simpy

from capacity.model.demand import YEAR_DAYS
from capacity.sim.tiering import places
from capacity.sim.twin import INGEST, Store, Twin
from capacity.units import days_on

DEFAULT_BACKLOG_DAYS = 5 * YEAR_DAYS
BACKLOG_BIN_DAYS = 30


def backlog_ages(twin: Twin, name: str) -> tuple[int, int]:
    """The youngest and oldest age of a workload's stored data.  Without ``stored_ages``:
    from new up to the age at which its policy first moves data off its landing tier, else
    its retention, else five years."""
    wl = twin.workloads[name].model
    if wl.stored_ages is not None:
        return wl.stored_ages.youngest, wl.stored_ages.oldest
    oldest = wl.retention or DEFAULT_BACKLOG_DAYS
    policy = twin.inventory.policies.get(wl.policy) if wl.policy else None
    if policy is not None:
        for host_name in policy.hosts:
            tiers = twin.inventory.hosts[host_name].tiers
            for rule in policy.rules:
                tier = tiers.get(rule.source)
                if tier is not None and tier.storage == wl.lands_on and rule.select.older_than:
                    oldest = min(oldest, rule.select.older_than)
    return 0, oldest


def lay_down_backlog(twin: Twin, name: str) -> None:
    wl = twin.workloads[name].model
    if not wl.stored:
        return
    youngest, oldest = backlog_ages(twin, name)
    # Bin centres from oldest to youngest; a month that lies g% in the past weighs 1/(1+g).
    ages = list(range(oldest, youngest, -BACKLOG_BIN_DAYS)) or [youngest]
    weights = [float((1 + wl.growth) ** (-age / YEAR_DAYS)) for age in ages]
    store = twin.stores[wl.lands_on]
    for age, part in zip(ages, apportion(wl.stored, weights), strict=True):
        twin.refuse(name, wl.lands_on, part - store.add(name, -age, part), "stored data")


def apportion(total: int, weights: list[float]) -> list[int]:
    """``total`` whole bytes in parts as the weights say, summing to exactly ``total``: each
    part rounded down, and the bytes left over go one each to the largest remainders."""
    whole = sum(weights)
    exact = [total * w / whole for w in weights]
    parts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(parts)), key=lambda i: parts[i] - exact[i])
    for i in by_remainder[:total - sum(parts)]:
        parts[i] += 1
    return parts


def workload(twin: Twin, name: str) -> Generator[simpy.Event, int, None]:
    """Every day: today's data lands; data that reached its retention leaves, wherever the
    tier policies have put it."""
    state = twin.workloads[name]
    retention = state.model.retention
    landing = twin.stores[state.model.lands_on]
    where: list[Store] = []  # the stores its data can sit on ...
    extra_places = -1  # ... as of this many migrations bringing it elsewhere
    by_age = retention is not None or state.model.policy is not None  # kept by birth day?
    day = yield twin.at(INGEST)
    clock = twin.clock()
    while True:
        today = state.bytes_on(day)
        store = state.writes_to or landing  # its site is down: the copy that took over
        kept = store.add(name, day, today) if by_age else store.hold(today)
        if kept < today:
            twin.refuse(name, store.ref, today - kept, "today's new data")
        if not by_age and store is not landing:
            state.held_away += kept
        if retention is not None:
            if len(state.extra_places) != extra_places:
                extra_places = len(state.extra_places)
                where = [twin.stores[ref] for ref in places(twin, name)]
            # Most days nothing is that old: look at the oldest cohorts first, against the
            # least the retention can be (a calendar year is 365 days or more).
            born_by = day - int(retention)
            for place in where:
                cohorts = place.cohorts.get(name)
                if cohorts is not None and cohorts.births and cohorts.births[0] <= born_by:
                    _expire(twin, name, retention, day, where)
                    break
        day = yield clock.tick()


def _expire(twin: Twin, name: str, retention: int, day: int,
            where: list[Store]) -> None:
    """Delete a workload's data past its retention on ``day`` from the stores that hold some
    at least as old as the retention can be (a calendar year is 365 days or more)."""
    least = day - int(retention)
    born_by = day - days_on(retention, twin.date(day))
    for store in where:
        cohorts = store.cohorts.get(name)
        if cohorts is not None and cohorts.births and cohorts.births[0] <= least:
            store.expire(name, born_by)
