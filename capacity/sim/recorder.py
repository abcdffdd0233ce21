"""The recorder closes each day: what every resource holds and offers, compute demand
against supply, and threshold crossings as events."""

from __future__ import annotations

import bisect
import itertools
import math
import operator
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field

import simpy

from capacity.sim.results import LEVELS, Runway
from capacity.sim.twin import RECORD, Store, Twin, WorkloadState
from capacity.sim.volumes import PoolTiers


@dataclass
class Tape:
    """Daily figures, written by the recorder's gauges and meters."""

    used: dict[str, list[int]] = field(default_factory=dict)
    capacity: dict[str, list[int]] = field(default_factory=dict)
    reached: dict[str, list[int]] = field(default_factory=dict)
    """The first day the tape shows each level reached (warning, critical, full), so far."""
    compute: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    gauges: list[Gauge] = field(default_factory=list)
    meters: list[Meter] = field(default_factory=list)
    pool_tiers: PoolTiers = field(default_factory=PoolTiers)
    """What HDT pools with declared volumes need to be shown tier by tier."""

    def close(self) -> None:
        """Write out the figures still held as runs, up to the last day taped."""
        days = max((len(used) for used in self.used.values()), default=0)
        for gauge in self.gauges:
            gauge.write_until(days)
        for meter in self.meters:
            meter.write_until(days)


class Gauge:
    """One storage resource on the tape: what it holds and offers each day in whole bytes,
    the level (warning, critical, full) it is at, for threshold events, and the first day
    the tape showed each level, for runways.

    Both come from the tape's whole bytes: a store is at a level once its bytes used reach
    that level's bytes (``level_bytes``), worked out again only when its capacity changes.
    Most days only the bytes used move, and the gauge checks little else: capacity is held
    and written out as runs (like a meter's figures), and the level is looked at again only
    when the bytes used leave the band of the level the store is at."""

    __slots__ = ("bounds", "capacity", "high", "level", "low", "ratios", "reach_at",
                 "reached", "since", "store", "taped", "upper", "used", "whole_capacity")

    def __init__(self, store: Store, used: list[int], capacity: list[int], ratios: list[float],
                 reached: list[int]) -> None:
        self.store = store
        self.used = used
        self.capacity = capacity
        self.ratios = ratios
        """Of each level; they ascend (the model checks warning <= critical <= 100%)."""
        self.reached = reached
        self.taped: float | None = None
        """The capacity the figures below were worked out for."""
        self.whole_capacity = 0
        self.since = 0
        """The capacity tape is written up to this day."""
        self.bounds: list[int] = []
        """Per level, its bytes: the least whole bytes used at which the store is at it."""
        self.reach_at: float = math.inf
        """The bytes of the first level the tape has not shown yet (inf: all shown)."""
        self.level = 0
        """How many levels the store is at or above now."""
        self.low: float = -math.inf
        self.high: float = math.inf
        """The store stays at its level while low <= whole bytes used < high."""
        self.upper: float = math.inf
        """The lesser of ``high`` and ``reach_at``: below it (and from ``low``), a day's bytes
        used change nothing but the tape."""

    def rescale(self, day: int, capacity: float) -> None:
        """The store offers another capacity from ``day``: work out its figures again
        (rarely: orders, failures)."""
        self.write_until(day)
        self.taped = capacity
        self.whole_capacity = int(capacity + 0.5)
        self.bounds = [level_bytes(ratio, self.whole_capacity) for ratio in self.ratios]
        self._next_to_reach()
        self._band()

    def write_until(self, day: int) -> None:
        self.capacity.extend(itertools.repeat(self.whole_capacity, day - self.since))
        self.since = day

    def reach(self, day: int, used: int) -> None:
        """The tape shows the next level(s) reached today."""
        while used >= self.reach_at:
            self.reached.append(day)
            self._next_to_reach()

    def relevel(self, twin: Twin, used: int) -> None:
        """The bytes used left the band of the store's level: note each level it rose
        through (falling back below one is not an event) and take the new band."""
        level_now = bisect.bisect_right(self.bounds, used)
        capacity = self.whole_capacity
        for level in LEVELS[self.level:level_now]:
            twin.note("threshold", self.store.ref, f"{level} threshold reached"
                      f" ({used / capacity:.0%} full)" if capacity else
                      f"{level}: no capacity online", level=level)
        self.level = level_now
        self._band()

    def _next_to_reach(self) -> None:
        n = len(self.reached)
        self.reach_at = self.bounds[n] if n < len(self.bounds) else math.inf
        self.upper = min(self.high, self.reach_at)

    def _band(self) -> None:
        n, bounds = self.level, self.bounds
        self.low = bounds[n - 1] if n else -math.inf
        self.high = bounds[n] if n < len(bounds) else math.inf
        self.upper = min(self.high, self.reach_at)


def level_bytes(ratio: float, capacity: int) -> int:
    """The least whole bytes used at which a store offering ``capacity`` whole bytes is at a
    level of ``ratio`` (used >= ratio x capacity, the product as floating point gives it),
    and at least one: an empty store is at no level, even one that offers nothing."""
    return max(1, math.ceil(ratio * capacity))


NO_COMPUTE = (0, 0, 0)
"""What a cluster gives while its site is down."""


class Meter:
    """One cluster's compute tape: demand and what the cluster gives, day by day.  Both
    change only when nodes or workloads do, so the meter holds the current figures and
    writes them out as a run of days when they change (and when the tape is closed)."""

    def __init__(self, series: dict[str, list[int]]) -> None:
        self.series = [series[k] for k in ("vcpu_demand", "vcpu", "ram_demand", "ram",
                                           "gpu_demand", "gpus")]
        self.want: Sequence[int] = NO_COMPUTE
        self.have: Sequence[int] = NO_COMPUTE
        self.since = 0

    def change(self, day: int, want: Sequence[int], have: Sequence[int]) -> None:
        """From ``day`` on, the figures are these."""
        self.write_until(day)
        self.want, self.have = want, have

    def write_until(self, day: int) -> None:
        days = day - self.since
        want, have = self.want, self.have
        if days == 1:  # growing compute changes the figures every day
            series = self.series
            series[0].append(want[0])
            series[1].append(have[0])
            series[2].append(want[1])
            series[3].append(have[1])
            series[4].append(want[2])
            series[5].append(have[2])
        else:
            figures = (want[0], have[0], want[1], have[1], want[2], have[2])
            for tape, figure in zip(self.series, figures, strict=True):
                tape.extend(itertools.repeat(figure, days))
        self.since = day


def level_ratio(twin: Twin, ref: str, level: str) -> float:
    thresholds = twin.stores[ref].thresholds
    return {"warning": thresholds.warning, "critical": thresholds.critical, "full": 1.0}[level]


def recorder(twin: Twin, tape: Tape) -> Generator[simpy.Event, int, None]:
    for ref, store in twin.stores.items():
        tape.used[ref] = twin.history[ref] = []
        tape.capacity[ref] = []
        tape.reached[ref] = []
        tape.gauges.append(Gauge(store, tape.used[ref], tape.capacity[ref],
                                 [level_ratio(twin, ref, level) for level in LEVELS],
                                 tape.reached[ref]))
    for name in twin.clusters:
        tape.compute[name] = {k: [] for k in ("vcpu_demand", "vcpu", "ram_demand", "ram",
                                              "gpu_demand", "gpus")}
        tape.meters.append(Meter(tape.compute[name]))
    meters = [(name, twin.stores[name], meter)
              for name, meter in zip(twin.clusters, tape.meters, strict=True)]
    gauges = tape.gauges
    known = twin.scheduled
    one_off = [(ref, known.one_off_history.setdefault(ref, []))
                for ref in known.one_off_refs()]
    demand = Demand(twin)
    day = yield twin.at(RECORD)
    clock = twin.clock()
    while True:
        for gauge in gauges:
            store = gauge.store
            used = int(store.used + 0.5)  # whole bytes, as the tape has them
            gauge.used.append(used)
            if store.available != gauge.taped:
                gauge.rescale(day, store.available)
            if not gauge.low <= used < gauge.upper:  # a level reached, or the band left
                if used >= gauge.reach_at:
                    gauge.reach(day, used)
                if not gauge.low <= used < gauge.high:
                    gauge.relevel(twin, used)
        for ref, placed in one_off:
            placed.append(known.one_off.get(ref, 0))
        wanted = demand.on(day)
        for name, store, meter in meters:
            want, have = wanted[name], NO_COMPUTE if store.offline else twin.compute[name]
            if want is not meter.want or have is not meter.have:  # the same until changed
                meter.change(day, want, have)
        day = yield clock.tick()


class Demand:
    """Compute asked of each cluster by the workloads started so far.  Unless a workload's
    compute grows, it changes only when a workload starts, ends or is added, so it is
    counted again only then, not every day."""

    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        self.counted = -1  # workloads when last looked at
        self.reconfigured = -1  # twin.reconfigured then (a release ends a workload early)
        self.asking: list[WorkloadState] = []  # the workloads with compute, then
        self.grows = False  # whether one's compute grows (then it is counted daily)
        self.changes: list[float] = []  # the days one starts or ends, ascending
        self.until = -math.inf  # the next day it must be counted again
        self.demand: dict[str, list[int]] = {}

    def on(self, day: int) -> dict[str, list[int]]:
        twin = self.twin
        if len(twin.workloads) != self.counted or twin.reconfigured != self.reconfigured:
            self.counted, self.reconfigured = len(twin.workloads), twin.reconfigured
            self.asking = [s for s in twin.workloads.values() if s.model.compute is not None]
            self.grows = any(s.model.compute is not None and s.model.compute.growth is not None
                             for s in self.asking)
            self.changes = sorted(d for s in twin.workloads.values()
                                  for d in (s.start_day,
                                            None if s.end_day is None else s.end_day + 1)
                                  if d is not None)
            self.until = -math.inf
        if day >= self.until:
            self.demand = _compute_demand(twin, self.asking, day)
            later = bisect.bisect_right(self.changes, day)
            self.until = day + 1 if self.grows else (
                self.changes[later] if later < len(self.changes) else math.inf)
        return self.demand


def _compute_demand(twin: Twin, asking: list[WorkloadState],
                    day: int) -> dict[str, list[int]]:
    demand = {name: [0, 0, 0] for name in twin.clusters}
    for state in asking:
        asked = state.compute_on(day)
        if asked is not None:
            cluster = state.cluster_now()
            assert cluster is not None
            d = demand[cluster]
            d[0] += asked[0]
            d[1] += asked[1]
            d[2] += asked[2]
    return demand


def runways(twin: Twin, tape: Tape) -> list[Runway]:
    """First day each resource reaches each level (vCPU and RAM runways for clusters are
    reported as resources 'CLUSTER:vcpu' and 'CLUSTER:ram')."""
    found = []
    for ref in twin.stores:
        reached = tape.reached[ref]
        for i, level in enumerate(LEVELS):
            day = reached[i] if i < len(reached) else None
            found.append(_runway(twin, ref, level, level_ratio(twin, ref, level), day))
    for name, series in tape.compute.items():
        for kind in ("vcpu", "ram"):
            demand, supply = series[f"{kind}_demand"], series[kind]
            # The first day demand exceeds supply: the first index where demand > supply.
            day = next(itertools.compress(itertools.count(), map(operator.gt, demand, supply)),
                       None)
            found.append(_runway(twin, f"{name}:{kind}", "full", 1.0, day))
    return found


def _runway(twin: Twin, ref: str, level: str, ratio: float, day: int | None) -> Runway:
    return Runway(ref, level, ratio, None if day is None else twin.date(day), day)  # type: ignore[arg-type]
