"""Failures: drives fail at their annualised failure rate and rebuild; nodes and sites fail
when a scenario says so.

Drive failures arrive as a Poisson process per drive population (one drive type in one
array or cluster): the gap to the next failure is exponential with rate
``drives x AFR / 365`` a day (Backblaze AFR: failures per drive-year).  A rebuild takes
``capacity / rebuild_rate``; while it runs, a spare is in use (arrays) or the failed drive's
share of the cluster's capacity is held back for re-protection (HCI).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass

import simpy

from capacity.model.scenario import FailNode, FailSite
from capacity.sim import failover
from capacity.sim.results import Outcome
from capacity.sim.twin import EVENTS, Twin
from capacity.sizing.array import drive_counts
from capacity.units import format_size

DAY_SECONDS = 86_400


@dataclass(frozen=True)
class Population:
    """Drives of one type in one array or cluster."""

    owner: str
    """Array or cluster name."""
    drive: str
    count: Callable[[], int]
    store: str | None
    """The cluster store whose capacity a rebuild holds back (None for arrays)."""


def populations(twin: Twin) -> list[Population]:
    found = []
    for name in twin.inventory.arrays:
        for drive in sorted(drive_counts(twin.inventory.arrays[name])):
            found.append(Population(name, drive, _array_count(twin, name, drive), None))
    for name, cluster in twin.clusters.items():
        found.append(Population(name, cluster.drives.drive, _cluster_count(twin, name), name))
    return found


def _array_count(twin: Twin, array: str, drive: str) -> Callable[[], int]:
    def count() -> int:
        pools = {p: twin.pools[f"{array}/{p}"] for p in twin.inventory.arrays[array].pools}
        current = twin.inventory.arrays[array].model_copy(update={"pools": pools})
        return drive_counts(current)[drive]
    return count


def _cluster_count(twin: Twin, name: str) -> Callable[[], int]:
    def count() -> int:
        cluster = twin.clusters[name]
        return (cluster.nodes - twin.nodes_down.get(name, 0)) * cluster.drives.count
    return count


def drive_failures(twin: Twin, population: Population) -> Generator[simpy.Event, None, None]:
    spec = twin.inventory.catalog.drives[population.drive]
    rng = twin.rng(f"drives:{population.owner}:{population.drive}")
    rebuild_hours = spec.capacity / spec.rebuild_rate / 3600
    while True:
        rate = population.count() * spec.afr * twin.afr_factor / 365
        if rate <= 0:
            return
        yield twin.env.timeout(rng.expovariate(rate))
        twin.note("drive-failure", population.owner, f"{population.drive} failed; rebuild"
                  f" about {rebuild_hours:.1f} h", drive=population.drive,
                  rebuild_hours=round(rebuild_hours, 2))
        if population.store is not None:
            twin.env.process(_hold_for_rebuild(twin, population, spec.capacity, rebuild_hours))


def _hold_for_rebuild(twin: Twin, population: Population, drive_bytes: int,
                      hours: float) -> Generator[simpy.Event, None, None]:
    """During the rebuild, the failed drive's share of usable capacity is not available."""
    assert population.store is not None
    store = twin.stores[population.store]
    drives = max(1, population.count())
    share = store.capacity // drives
    key = f"rebuild:{population.drive}:{twin.env.now:.6f}"
    store.keep_copy(key, share)  # spare space: only what is free
    yield twin.env.timeout(max(hours / 24, 1 / DAY_SECONDS))
    store.drop_copy(key)


def fail_node(twin: Twin, event: FailNode, day: int) -> Generator[simpy.Event, None, None]:
    yield twin.env.timeout(day + EVENTS - twin.env.now)
    name = event.cluster
    twin.nodes_down[name] = twin.nodes_down.get(name, 0) + event.count
    twin.refresh_capacity(name)
    store = twin.stores[name]
    over = store.used > store.available
    twin.note("node-failure", name, f"{event.count} node(s) down for {event.duration} days"
              + ("; data exceeds the remaining capacity" if over else ""),
              nodes=event.count, over_capacity=over)
    yield twin.env.timeout(event.duration)
    twin.nodes_down[name] -= event.count
    twin.refresh_capacity(name)
    twin.note("node-repaired", name, f"{event.count} node(s) back", nodes=event.count)


def fail_site(twin: Twin, event: FailSite, day: int) -> Generator[simpy.Event, None, None]:
    """The site's storage and clusters go down; its workloads carry on at the other site
    as their copies allow (``sim.failover``), and come home when it is back."""
    yield twin.env.timeout(day + EVENTS - twin.env.now)
    plans = failover.plans(twin, event.site)
    loss = failover.assess(twin, event.site, event.duration, plans)
    twin.site_losses.append(loss)
    lost = [s for s in twin.stores.values() if s.site == event.site]
    for store in lost:
        store.offline = True
    switched = failover.fail_over(twin, plans)
    twin.note("site-failure", event.site, f"site down for {event.duration} days:"
              f" {len(lost)} storage resource(s) offline, {len(switched)} workload(s) carried"
              f" on elsewhere" + ("" if loss.holds else "; the other sites fall short"),
              resources=[s.ref for s in lost], holds=loss.holds)
    for o in loss.outcomes:
        twin.note("failover", o.workload, _outcome_line(o), survives=o.survives,
                  rto_zero=o.rto_zero, storage_short=o.storage_short, vcpu_short=o.vcpu_short,
                  ram_short=o.ram_short, gpus_short=o.gpus_short)
    yield twin.env.timeout(event.duration)
    for store in lost:
        store.offline = False
    back = failover.fail_back(twin, switched, day)
    twin.note("site-repaired", event.site, f"site back; {format_size(back)} written"
              " elsewhere meanwhile resynced home", resynced_bytes=back)


def _outcome_line(o: Outcome) -> str:
    short = [f"{what} {amount}" for what, amount in (
        ("storage", format_size(o.storage_short) if o.storage_short else ""),
        ("vCPU", str(o.vcpu_short) if o.vcpu_short else ""),
        ("RAM", format_size(o.ram_short, binary=True) if o.ram_short else ""),
        ("GPUs", str(o.gpus_short) if o.gpus_short else "")) if amount]
    state = ("carries on" if o.survives else "down" if not o.available
             else "short of " + ", ".join(short))
    return f"{state}; {'RTO 0' if o.rto_zero else 'not RTO 0'}: {o.why}"


def expected_failures(drives: int, afr: float, days: int) -> float:
    """Mean failures of a population over ``days``: drives x AFR x years."""
    return drives * afr * days / 365 if drives else 0.0


__all__ = ["Population", "drive_failures", "expected_failures", "fail_node", "fail_site",
           "populations"]
