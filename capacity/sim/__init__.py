"""The SimPy twin of the estate: one process per real-world actor.

``simulate`` is a pure function of (inventory, scenarios, seed): the same inputs give the
same result, byte for byte, so runs can be repeated, compared and spread over many seeds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Sequence

import simpy

from capacity.model import Inventory
from capacity.model.demand import YEAR_DAYS
from capacity.model.scenario import AddWorkload, FailNode, FailSite, Migrate, Scenario
from capacity.sim import (
    events,
    failover,
    failures,
    migration,
    procurement,
    replication,
    tiering,
    volumes,
)
from capacity.sim.costs import opex_per_year
from capacity.sim.recorder import Tape, recorder, runways
from capacity.sim.results import (
    ComputeSeries,
    ResourceSeries,
    SimResult,
    SiteLoss,
    SiteUse,
    Watermarks,
)
from capacity.sim.scheduled import CopyStart, Start, Wave
from capacity.sim.twin import EVENTS, Store, Twin, WorkloadState
from capacity.sim.workloads import lay_down_backlog, workload
from capacity.sizing import size_estate


def simulate(inventory: Inventory, scenarios: Sequence[Scenario] = (), *, years: float = 5,
             start: dt.date | None = None, seed: int = 0, procurement: bool = True,
             unbought: bool = False) -> SimResult:
    """Play the estate forward ``years`` from ``start`` (default: the inventory's as_of,
    the date its stored volumes describe).  ``procurement=False`` buys nothing;
    ``unbought=True`` also plays it once more buying nothing, for the runways without
    purchases (``SimResult.unbought``)."""
    start = start or inventory.as_of
    days = max(1, round(years * YEAR_DAYS))
    result = _play(inventory, scenarios, start, days, seed, procurement)
    if unbought:
        bare = result if not procurement else _play(inventory, scenarios, start, days, seed,
                                                    procurement=False)
        result = dataclasses.replace(result, unbought=bare.runways)
    return result


def dr_check(inventory: Inventory, *, at: dt.date | None = None,
             sites: Sequence[str] | None = None, days: int = 30, seed: int = 0,
             procurement: bool = True) -> list[SiteLoss]:
    """Each site lost on ``at`` (default: the inventory's as_of) for ``days``, one at a time:
    the estate played forward to that day as ``simulate`` plays it (buying as its rules say,
    unless ``procurement`` is off), then how every workload there carries on elsewhere.
    ``sites``: those to lose (default: every site with storage or clusters)."""
    start = inventory.as_of
    day = (at - start).days if at is not None else 0
    if day < 0:
        raise ValueError(f"{at} is before the inventory's as_of date {start}")
    twin = _build(inventory, (), start, day + 1, seed)
    _start_processes(twin, Tape(), (), procurement)
    twin.env.run(until=day + EVENTS)  # that day's data is in; the site goes now
    if sites is None:
        sites = [name for name in inventory.sites
                 if any(store.site == name for store in twin.stores.values())]
    return [failover.assess(twin, site, days) for site in sites]


def _play(inventory: Inventory, scenarios: Sequence[Scenario], start: dt.date, days: int,
          seed: int, procurement: bool) -> SimResult:
    twin = _build(inventory, scenarios, start, days, seed)
    at_start = {ref: (s.used, s.capacity) for ref, s in twin.stores.items()}
    tape = Tape()
    _start_processes(twin, tape, scenarios, procurement)
    twin.env.run(until=days)
    tape.close()
    return _result(twin, tape, scenarios, at_start)


def _build(inv: Inventory, scenarios: Sequence[Scenario], start: dt.date, days: int,
           seed: int) -> Twin:
    sized = size_estate(inv)
    stores = {r.ref: Store(r.ref, r.kind, r.site, int(r.effective), r.thresholds)
              for r in sized.resources}
    lead, afr = procurement.lead_time_factor(scenarios), 1.0
    for scenario in scenarios:
        afr *= scenario.adjust.afr_factor
    twin = Twin(
        env=simpy.Environment(), inventory=inv, start=start, days=days, seed=seed,
        stores=stores,
        workloads={},
        clusters=dict(inv.clusters),
        pools={f"{a}/{p}": pool for a, arr in inv.arrays.items() for p, pool in arr.pools.items()},
        object_stores=dict(inv.object_stores),
        drive_boxes={a: arr.drive_boxes for a, arr in inv.arrays.items()},
        sites_start={s: SiteUse(s, fp.rack_units, fp.rack_units_budget, fp.power_w,
                                fp.power_budget_w) for s, fp in sized.sites.items()},
        lead_time_factor=lead, afr_factor=afr)
    for name, c in sized.clusters.items():
        twin.compute[name] = (c.vcpu, c.ram, c.gpus)
    for name, wl in inv.workloads.items():
        twin.add_workload(WorkloadState.of(name, wl, start))
    _known_ahead(twin, scenarios)
    for rep in inv.replications.values():
        if rep.kind in ("gad", "sync", "async"):
            twin.mirror_of[rep.target] = rep.source
    for name, policy in inv.policies.items():
        twin.routes[name] = inv.routes(policy)
        twin.copy_routes[name] = inv.copies(policy)
        if policy.trigger is not None:
            for route in twin.routes[name]:
                if route.target is not None:
                    draining = twin.policies_draining.setdefault(route.source, [])
                    if name not in draining:
                        draining.append(name)
    for name in inv.workloads:
        lay_down_backlog(twin, name)
    for name, rep in inv.replications.items():
        if not replication.started(twin, rep):
            continue  # made on its start day
        twin.begun.add(name)
        if replication.is_mirror(rep):
            replication.mirror(twin, name)
        else:
            replication.lay_down_copy(twin, name)
    return twin


def _known_ahead(twin: Twin, scenarios: Sequence[Scenario]) -> None:
    """What the purchasing desk can know is coming: the scenarios' migration waves and
    added workloads, and the inventory's workloads and copies that start after the first
    day."""
    known = twin.scheduled
    # A copy that waits for a wave: due when the wave would end at its full rate (a stalled
    # wave ends later, and its copy is then bought for early, not late).
    ends = {e.name: (e.on - twin.start).days + math.ceil(e.volume / max(1, e.bytes_per_day))
            for s in scenarios for e in s.events if isinstance(e, Migrate)}
    for rep in twin.inventory.replications.values():
        if replication.started(twin, rep):
            continue
        day = (replication.start_day(twin, rep) if rep.start_after is None
               else ends.get(rep.start_after))
        if day is not None:
            known.copies.append(CopyStart(rep.target, day, replication.first_copy(twin, rep)))
    for state in twin.workloads.values():
        if state.start_day is not None and state.start_day > 0:
            known.starts.append(Start(state, int(state.start_day)))
    for scenario in scenarios:
        for event in scenario.events:
            day = (event.on - twin.start).days
            if isinstance(event, Migrate):
                known.waves[event.name] = Wave(event.to, day, round(event.bytes_per_day),
                                               event.volume, event.staging_on, event.staging)
            elif isinstance(event, AddWorkload) and day > 0:
                wl = event.workload.model_copy(update={"start": event.workload.start
                                                       or event.on})
                state = WorkloadState.of(event.name, wl, twin.start)
                known.starts.append(Start(state, max(day, int(state.start_day or day))))


def _start_processes(twin: Twin, tape: Tape, scenarios: Sequence[Scenario],
                     buying: bool) -> None:
    env, inv = twin.env, twin.inventory
    for name in inv.workloads:
        env.process(workload(twin, name))
    for name in inv.policies:
        env.process(tiering.tiering(twin, name))
    tape.pool_tiers = volumes.watched(twin)
    env.process(volumes.pool_tiers(twin, tape.pool_tiers))
    for name, rep in inv.replications.items():
        if not replication.is_mirror(rep):
            env.process(replication.replication(twin, name))
        elif not replication.started(twin, rep):
            env.process(replication.mirror_from(twin, name))
    if buying:
        env.process(procurement.purchasing_desk(twin))
        for name, support in inv.contracts():
            if support.ends is not None and support.refresh_cost:
                env.process(procurement.refresh(twin, name, support))
    for population in failures.populations(twin):
        env.process(failures.drive_failures(twin, population))
    for scenario in scenarios:
        for event in scenario.events:
            day = max(0, (event.on - twin.start).days)
            if day >= twin.days:
                continue
            if isinstance(event, FailNode):
                env.process(failures.fail_node(twin, event, day))
            elif isinstance(event, FailSite):
                env.process(failures.fail_site(twin, event, day))
            elif isinstance(event, Migrate):
                env.process(migration.migration(twin, event, day))
            else:
                env.process(events.change(twin, event, day))
    env.process(recorder(twin, tape))


def _result(twin: Twin, tape: Tape, scenarios: Sequence[Scenario],
            at_start: dict[str, tuple[int, int]]) -> SimResult:
    resources = {ref: ResourceSeries(ref, s.kind, s.site, tape.used[ref], tape.capacity[ref],
                                     s.thresholds.warning, s.thresholds.critical,
                                     _watermarks(twin, ref), at_start[ref])
                 for ref, s in twin.stores.items()}
    compute = {name: ComputeSeries(name, twin.stores[name].site, **series)
               for name, series in tape.compute.items()}
    installed = [o for o in twin.orders if o.installed <= twin.date(twin.days - 1)]
    sites_end = {}
    for site, use in twin.sites_start.items():
        mine = [o for o in installed if _site_of(twin, o.resource) == site]
        sites_end[site] = SiteUse(site, use.rack_units + sum(o.rack_units for o in mine),
                                  use.rack_units_budget,
                                  use.power_w + sum(o.power_w for o in mine),
                                  use.power_budget_w)
    events = sorted(twin.events, key=lambda e: e.date)  # stable: same-day order is kept
    return SimResult(
        inventory=twin.inventory.name, scenarios=[s.name for s in scenarios], seed=twin.seed,
        start=twin.start, days=twin.days, resources=resources, compute=compute,
        orders=list(twin.orders), events=events, runways=runways(twin, tape),
        sites_start=dict(twin.sites_start), sites_end=sites_end,
        currency=twin.inventory.currency,
        opex=opex_per_year(twin.inventory, twin.orders, twin.sites_start, twin.start,
                           twin.date(twin.days - 1), tape.capacity),
        unplaced={owner: [int(n + 0.5) for n in days]
                  for owner, days in sorted(twin.unplaced.items())},
        short={owner: [int(n + 0.5) for n in days] for owner, days in sorted(twin.short.items())},
        site_losses=list(twin.site_losses),
        pool_tiers=volumes.series(twin, tape.pool_tiers, tape.used, tape.capacity))


def _watermarks(twin: Twin, ref: str) -> tuple[Watermarks, ...]:
    """The triggers of the tier policies that drain ``ref``; a mirror follows its source's."""
    ref = twin.followed(ref)
    found = []
    for name in twin.policies_draining.get(ref, ()):
        trigger = twin.inventory.policies[name].trigger
        if trigger is not None:
            found.append(Watermarks(name, trigger.high, trigger.low, ref))
    return tuple(found)


def _site_of(twin: Twin, ref: str) -> str:
    if ref in twin.stores:
        return twin.stores[ref].site
    return twin.inventory.arrays[ref].site  # drive boxes are ordered against an array


__all__ = ["SimResult", "SiteLoss", "dr_check", "simulate"]
