"""The state of the digital twin: storage resources holding data in daily cohorts, workloads
with their current rates, clusters with nodes up and down, and what happened so far.

The processes in the sibling modules change this state; ``recorder`` reads it at the end of
each day.  Time is in days from the start (``env.now``); each process runs in a fixed phase
of the day so that the order of work within a day never depends on scheduling accidents.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import simpy
from pydantic import BaseModel

from capacity.model import Cluster, Inventory, ObjectStore, Pool, Route, Thresholds, Workload
from capacity.model.demand import YEAR_DAYS
from capacity.model.policy import Drain
from capacity.sim.results import Event, Order, SiteLoss, SiteUse
from capacity.sim.scheduled import Scheduled
from capacity.sizing.array import effective_capacity, hdp_capacity, size_tier
from capacity.sizing.hci import ClusterSizing, size_cluster
from capacity.sizing.objects import size_object_store
from capacity.units import format_size

S = TypeVar("S")

# Phases of a day, in the order the work happens.
INGEST, TIERING, MIGRATION, REPLICATION, EVENTS, PROCUREMENT, RECORD = (
    0.0, 0.2, 0.3, 0.5, 0.6, 0.7, 0.9)


class Cohorts:
    """One workload's data on one store: whole bytes by birth day, oldest first.

    Parallel lists, with running totals beside the sizes: the desk's forecast and the tier
    runs sum windows of birth days, which is then two bisections and a subtraction, not a
    sum over the window (a long retention keeps thousands of daily cohorts)."""

    __slots__ = ("births", "inserted", "ran", "sizes")

    def __init__(self) -> None:
        self.births: list[float] = []
        self.sizes: list[int] = []
        self.ran: list[int] = []
        """Running totals: ``ran[j] - ran[i]`` is ``sum(sizes[i + 1:j + 1])`` for i < j, so
        taking cohorts off either end, or changing the oldest one, leaves them true."""
        self.inserted = 0
        """Cohorts inserted before the youngest so far: the only way an older cohort grows
        (see the copy rules' scan in capacity.sim.tiering)."""

    def add(self, birth: float, nbytes: int) -> None:
        births, sizes, ran = self.births, self.sizes, self.ran
        if not births or births[-1] < birth:  # the common case: a new day's data
            births.append(birth)
            sizes.append(nbytes)
            ran.append(ran[-1] + nbytes if ran else nbytes)
        elif births[-1] == birth:
            sizes[-1] += nbytes
            ran[-1] += nbytes
        else:  # older data arriving (a migration, a tier move)
            self.inserted += 1
            at = bisect.bisect_right(births, birth)  # after any cohort born the same day
            births.insert(at, birth)
            sizes.insert(at, nbytes)
            if at:
                ran.insert(at, ran[at - 1] + nbytes)
                for i in range(at + 1, len(ran)):
                    ran[i] += nbytes
            else:
                ran.insert(0, ran[0] - sizes[1])

    def take_older(self, born_by: float, limit: int) -> list[tuple[float, int]]:
        """Remove up to ``limit`` bytes of cohorts born on or before ``born_by``, oldest
        first; returns (birth, bytes) removed (the last cohort taken may be split)."""
        births, sizes = self.births, self.sizes
        taken: list[tuple[float, int]] = []
        gone = 0  # whole cohorts taken
        while gone < len(births) and limit > 0 and births[gone] <= born_by:
            nbytes = sizes[gone]
            if nbytes <= limit:
                taken.append((births[gone], nbytes))
                limit -= nbytes
                gone += 1
            else:  # the limit ends in this cohort: split it (it becomes the oldest)
                taken.append((births[gone], limit))
                sizes[gone] = nbytes - limit
                break
        del births[:gone], sizes[:gone], self.ran[:gone]
        return taken

    def take_since(self, born: float) -> list[tuple[float, int]]:
        """Remove the cohorts born on or after ``born``; returns (birth, bytes) removed."""
        at = bisect.bisect_left(self.births, born)
        taken = list(zip(self.births[at:], self.sizes[at:], strict=True))
        del self.births[at:], self.sizes[at:], self.ran[at:]
        return taken

    def born_between(self, after: float, until: float) -> int:
        """Bytes of cohorts born in (after, until]."""
        lo = bisect.bisect_right(self.births, after)
        hi = bisect.bisect_right(self.births, until)
        if hi <= lo:
            return 0
        return self.sizes[lo] + self.ran[hi - 1] - self.ran[lo]

    def total(self) -> int:
        return self.sizes[0] + self.ran[-1] - self.ran[0] if self.sizes else 0


class Clock:
    """One time of day, ticking daily, for the actors that start at that moment: each waits
    for the clock's next tick (``day = yield clock.tick()``), which gives the day.

    Its sharers wait on one timeout a day rather than one each: SimPy then schedules and
    pops one event for all of them, and resumes them in the order they asked (a process
    that a sharer starts begins after the tick's other sharers).  The first sharer to ask
    after a tick sets the next one, a day later; the others are given the same.  Once
    nobody asks, no tick is set and the clock stops."""

    __slots__ = ("day", "env", "next")

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.day = int(env.now) + 1
        """The day the next tick gives."""
        self.next = simpy.Timeout(env, 1, self.day)

    def tick(self) -> simpy.Timeout:
        """The next tick, for a sharer to yield.  Ask when resumed by the last tick (or when
        the clock is made): the first to ask sets the next tick a day after that moment."""
        if self.next.processed:  # it fired: this is the first sharer to ask since
            self.day += 1
            self.next = simpy.Timeout(self.env, 1, self.day)
        return self.next


class Store:
    """A storage resource: effective capacity and what sits on it.

    Workload data is kept as ``Cohorts`` per workload, so that retention and tier rules can
    act by age; copies (backups, trailing replicas, staging, rebuilds) are plain byte counts
    by name; a synchronous mirror's source is followed live, as the array does."""

    __slots__ = ("_capacity", "_offline", "_own", "available", "cohorts", "copies", "expired",
                 "kind", "mirrored_by", "mirrors", "moved_off", "ref", "site", "thresholds",
                 "used")

    def __init__(self, ref: str, kind: str, site: str, capacity: int,
                 thresholds: Thresholds) -> None:
        self.ref, self.kind, self.site, self.thresholds = ref, kind, site, thresholds
        self.cohorts: dict[str, Cohorts] = {}
        self.copies: dict[str, int] = {}
        self.mirrors: list[Store] = []
        """Stores whose workload data this one mirrors at every moment (GAD, sync)."""
        self.mirrored_by: list[Store] = []
        """Stores that mirror this one's workload data: a write must fit them too."""
        self._own = 0
        self.used = 0
        """Bytes held: its own workload data, its copies and the data of the stores it
        mirrors.  Kept current as they change (``own``, ``keep_copy``, ``drop_copy``,
        ``mirror``): every actor reads it every day, far more often than it changes."""
        self.expired = 0
        """Bytes deleted so far by retention and expiry (immutable backups still hold them)."""
        self.moved_off = 0
        """Bytes tier moves took off so far (gone from here: a backup of this store still
        holds them for its retention)."""
        self._capacity, self._offline = capacity, False
        self.available = capacity
        """What the store offers now: its capacity, or nothing while its site is down (a
        plain attribute: it is read far more often than it changes)."""

    @property
    def capacity(self) -> int:
        return self._capacity

    @capacity.setter
    def capacity(self, capacity: int) -> None:
        self._capacity = capacity
        self._offer()

    @property
    def offline(self) -> bool:
        """The site is down: the store holds its data but offers no capacity."""
        return self._offline

    @offline.setter
    def offline(self, offline: bool) -> None:
        self._offline = offline
        self._offer()

    def _offer(self) -> None:
        self.available = 0 if self._offline else self._capacity

    @property
    def own(self) -> int:
        """Bytes of workload data (the sum of all cohorts and of what it holds by count)."""
        return self._own

    @own.setter
    def own(self, nbytes: int) -> None:
        self._grow(nbytes - self._own)

    def _grow(self, change: int) -> None:
        self._own += change
        self.used += change
        for mirror in self.mirrored_by:
            mirror.used += change

    def mirror(self, source: Store) -> None:
        """From now on this store holds ``source``'s workload data as it changes."""
        self.mirrors.append(source)
        source.mirrored_by.append(self)
        self.used += source.own

    def drop_copy(self, name: str) -> None:
        self.used -= self.copies.pop(name, 0)

    def room(self) -> int:
        """Bytes a write may still add: nothing while the site is down, and never past the
        capacity of this store or of a store that mirrors it live (a GAD write lands on
        both; a mirror whose site is down is suspended, so it does not count)."""
        if self._offline:
            return 0
        free = self._capacity - self.used
        if self.mirrored_by:
            for mirror in self.mirrored_by:
                if not mirror._offline:
                    free = min(free, mirror._capacity - mirror.used)
        return free if free > 0 else 0

    def add(self, workload: str, birth_day: float, nbytes: int) -> int:
        """Store workload data born on ``birth_day``, as much as there is room for; returns
        the bytes stored (the rest does not fit)."""
        room = self.room()
        if nbytes > room:
            nbytes = room
        if nbytes <= 0:
            return 0
        cohorts = self.cohorts.get(workload)
        if cohorts is None:
            cohorts = self.cohorts[workload] = Cohorts()
        cohorts.add(birth_day, nbytes)
        self._grow(nbytes)
        return nbytes

    def hold(self, nbytes: int) -> int:
        """Add workload data that nothing will act on by age (no retention, no tier policy):
        counted, not kept by birth day; as much as there is room for, returned."""
        nbytes = min(nbytes, self.room())
        if nbytes <= 0:
            return 0
        self._grow(nbytes)
        return nbytes

    def keep_copy(self, name: str, nbytes: int) -> int:
        """Hold ``nbytes`` for a copy (a backup, a trailing replica, staging, a rebuild's
        spare space) in place of what it held, as far as there is room; returns what it
        holds now."""
        held = self.copies.get(name, 0)
        nbytes = max(0, min(nbytes, held + self.room()))
        self.copies[name] = nbytes
        self.used += nbytes - held
        return nbytes

    def take_since(self, workload: str, born: float) -> list[tuple[float, int]]:
        """Remove a workload's cohorts born on or after ``born``; returns them."""
        cohorts = self.cohorts.get(workload)
        if cohorts is None:
            return []
        taken = cohorts.take_since(born)
        self._grow(-sum(part for _birth, part in taken))
        return taken

    def take_older(self, workload: str, born_by: float,
                   limit: int) -> list[tuple[float, int]]:
        """Remove up to ``limit`` bytes of cohorts born on or before ``born_by``, oldest
        first; returns what was removed (a cohort may be split)."""
        cohorts = self.cohorts.get(workload)
        if cohorts is None or not cohorts.births or cohorts.births[0] > born_by:
            return []
        taken = cohorts.take_older(born_by, limit)
        self._grow(-sum(part for _birth, part in taken))
        return taken

    def expire(self, workload: str, born_by: float, limit: int | None = None) -> int:
        """Delete cohorts born on or before ``born_by``; returns the bytes deleted."""
        cohorts = self.cohorts.get(workload)
        if cohorts is None or not cohorts.births or cohorts.births[0] > born_by:
            return 0  # the common case, every day: nothing is old enough yet
        everything = self.own  # no limit: at most all there is
        gone = sum(c[1] for c in self.take_older(
            workload, born_by, everything if limit is None else limit))
        self.expired += gone
        return gone


@dataclass
class WorkloadState:
    """A workload's current daily rate: drivers, growth and modifiers that events change."""

    name: str
    model: Workload
    base_per_day: float
    """Daily bytes at full ramp before growth (drivers after compression, plus per_year)."""
    growth: float
    anchor_day: float = 0.0
    anchor_factor: float = 1.0
    """Growth factor reached at ``anchor_day``: a growth change continues from it."""
    scale: float = 1.0
    start_day: float | None = None
    end_day: float | None = None
    """The last day it ingests and asks compute (None: to the end of the run)."""
    compression: dict[int, float] = field(default_factory=dict)
    """Driver index -> compression ratio, where an event changed it."""
    extra_places: list[str] = field(default_factory=list)
    """Resources besides its landing and policy tiers where its data sits (migrations)."""
    writes_to: Store | None = None
    """While its site is down: the copy its new data lands on instead (``sim.failover``)."""
    held_away: int = 0
    """Bytes written there without birth days (``Store.hold``), to bring back."""
    compute_at: str | None = None
    """While its site is down: the cluster that runs its compute instead."""

    @classmethod
    def of(cls, name: str, wl: Workload, start: dt.date) -> WorkloadState:
        start_day = (wl.start - start).days if wl.start else None
        end_day = (wl.end - start).days if wl.end else None
        anchor = max(0, start_day) if start_day is not None else 0
        return cls(name, wl, wl.base_bytes_per_day, wl.growth, anchor_day=anchor,
                   start_day=start_day, end_day=end_day)

    def running(self, day: float) -> bool:
        """Between its start and its end, both included."""
        return ((self.start_day is None or day >= self.start_day)
                and (self.end_day is None or day <= self.end_day))

    def growth_factor(self, day: float) -> float:
        return self.anchor_factor * (1 + self.growth) ** ((day - self.anchor_day) / YEAR_DAYS)

    def bytes_on(self, day: float) -> int:
        """Whole bytes arriving on ``day`` (days from the start of the run)."""
        start, end = self.start_day, self.end_day
        if (start is not None and day < start) or (end is not None and day > end):
            return 0  # not running (``running``, spelt out: this is asked every day)
        if not self.base_per_day:  # a workload that only holds data (a tier's share)
            return 0
        rate = self.base_per_day * self.scale * (
            self.anchor_factor * (1 + self.growth) ** ((day - self.anchor_day) / YEAR_DAYS))
        if start is not None and self.model.ramp:
            rate *= min(1.0, (day - start + 1) / self.model.ramp)
        return round(rate)

    def compute_on(self, day: float) -> tuple[int, int, int] | None:
        """The vCPU, RAM bytes and GPUs the workload asks on ``day`` (None: it asks none,
        or has not started): the given figures grown as its ``compute.growth`` says, whole
        vCPUs and GPUs rounded up."""
        compute = self.model.compute
        if compute is None:
            return None
        start, end = self.start_day, self.end_day
        if (start is not None and day < start) or (end is not None and day > end):
            return None  # not running (``running``, spelt out: asked every day)
        if compute.growth is None:
            return compute.vcpu, compute.ram, compute.gpus
        if compute.growth == "with-data":
            factor = self.growth_factor(day) * self.scale
        else:
            since = day - max(0.0, start or 0.0)
            factor = float((1 + compute.growth) ** (since / YEAR_DAYS))
        # Rounded up, but a float a hair above a whole number is that number.
        return (math.ceil(compute.vcpu * factor - 1e-9), round(compute.ram * factor),
                math.ceil(compute.gpus * factor - 1e-9))

    def cluster_now(self) -> str | None:
        """The cluster its compute runs on now: its own, or where a site loss moved it."""
        compute = self.model.compute
        return self.compute_at or (compute.cluster if compute is not None else None)

    def set_growth(self, day: float, growth: float) -> None:
        self.anchor_factor = self.growth_factor(day)
        self.anchor_day = day
        self.growth = growth

    def set_compression(self, ratio: float, modality: str | None) -> None:
        for i, driver in enumerate(self.model.drivers):
            if modality is None or driver.modality == modality:
                self.compression[i] = ratio
        self.base_per_day = sum(
            d.studies_per_day * d.study_size / self.compression.get(i, d.compression)
            for i, d in enumerate(self.model.drivers)) + self.model.per_year / YEAR_DAYS


@dataclass
class Twin:
    """Everything the processes share."""

    env: simpy.Environment
    inventory: Inventory
    start: dt.date
    days: int
    seed: int
    stores: dict[str, Store]
    workloads: dict[str, WorkloadState]
    clusters: dict[str, Cluster]
    """Current configuration (orders and events change the node count)."""
    pools: dict[str, Pool]
    object_stores: dict[str, ObjectStore]
    drive_boxes: dict[str, int]
    sites_start: dict[str, SiteUse] = field(default_factory=dict)
    nodes_down: dict[str, int] = field(default_factory=dict)
    compute: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    """Usable vCPU, RAM bytes and GPUs per cluster now (refreshed when nodes change)."""
    events: list[Event] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    history: dict[str, list[int]] = field(default_factory=dict)
    """Whole bytes used at the end of each day so far, per store (for trends): the
    recorder's tape of bytes used."""
    workloads_of_policy: dict[str, list[str]] = field(default_factory=dict)
    landing: dict[str, list[WorkloadState]] = field(default_factory=dict)
    """Resource -> the workloads whose new data lands on it."""
    mirror_of: dict[str, str] = field(default_factory=dict)
    """Mirror target (GAD, sync or async copy) -> its source (set while the twin is built)."""
    follows: dict[str, str] = field(default_factory=dict)
    """Resource -> the store it follows (``followed``), as worked out once from
    ``mirror_of``."""
    policies_draining: dict[str, list[str]] = field(default_factory=dict)
    """Resource -> triggered policies with move rules that take data off it."""
    routes: dict[str, list[Route]] = field(default_factory=dict)
    """Policy -> its rules as they act on storage (``Inventory.routes``)."""
    copy_routes: dict[str, list[Route]] = field(default_factory=dict)
    """Policy -> its copy rules as they act on storage (``Inventory.copies``)."""
    drains: dict[str, Drain] = field(default_factory=dict)
    """Policy -> how its runs drain a tier (``sim.tiering.drained_peak``)."""
    forecasts: dict[tuple[str, float], tuple[int, Drain, float, float]] = field(
        default_factory=dict)
    """(Resource, horizon) -> the day it was counted, how tiering drains it, what tiering
    cannot take off it by then, and what reaches it a day (see ``sim.tiering.drained_peak``)."""
    sizings: dict[tuple[object, ...], object] = field(default_factory=dict)
    """Capacity sized per configuration (see ``_sized``)."""
    lead_time_factor: float = 1.0
    afr_factor: float = 1.0
    reconfigured: int = 0
    """How many times a resource's capacity was worked out again or a workload added: a
    judgement drawn from the configuration holds while this stands."""
    scheduled: Scheduled = field(default_factory=Scheduled)
    """Demand known ahead: migration waves, workloads starting on a known day."""
    unplaced: dict[str, list[int]] = field(default_factory=dict)
    """Workload -> bytes of its new data refused each day for want of room."""
    short: dict[str, list[int]] = field(default_factory=dict)
    """'copy:REPLICATION' or 'migration:WAVE' -> bytes it was short of room each day."""
    clocks: dict[float, Clock] = field(default_factory=dict)
    """By the moment of their first tick (see ``clock``)."""
    site_losses: list[SiteLoss] = field(default_factory=list)
    begun: set[str] = field(default_factory=set)
    """Replications running (their start has come)."""
    wave_ends: dict[str, simpy.Event] = field(default_factory=dict)
    """Migration wave -> the event of its last byte placed (its value: that day)."""

    def wave_end(self, wave: str) -> simpy.Event:
        """The event a copy that starts after ``wave`` waits for."""
        event = self.wave_ends.get(wave)
        if event is None:
            event = self.wave_ends[wave] = self.env.event()
        return event

    @property
    def day(self) -> int:
        return int(self.env.now)

    def at(self, phase: float) -> simpy.Event:
        """Later today, at ``phase`` (a fraction of the day): the event gives the day."""
        return self.env.timeout(phase, value=self.day)

    def clock(self) -> Clock:
        """The daily clock for an actor that acts once a day from now on.  Actors that start
        at the very same moment share it: every day after, they are resumed by the same
        tick, so they stay at the same moment and in the same order (every workload at
        INGEST, every replication at REPLICATION)."""
        clock = self.clocks.get(self.env.now)
        if clock is None:
            clock = self.clocks[self.env.now] = Clock(self.env)
        return clock

    def date(self, day: float | None = None) -> dt.date:
        return self.start + dt.timedelta(days=int(self.env.now if day is None else day))

    def rng(self, name: str) -> random.Random:
        """A random stream of its own for each actor: results do not depend on the order in
        which actors draw."""
        return random.Random(f"{self.seed}:{name}")

    def note(self, kind: str, resource: str, message: str, **data: object) -> None:
        self.events.append(Event(self.date(), kind, resource, message, dict(data)))

    def refuse(self, workload: str, ref: str, nbytes: int, what: str) -> None:
        """``nbytes`` of a workload's new data did not fit on ``ref`` today: it is lost to
        the plan.  Counted, and said on the first day of each stretch of refusals."""
        if self._count(self.unplaced, "data-refused", workload, ref, nbytes,
                       f"{what} does not fit on {ref}: {workload}'s data is refused until"
                       " there is room"):
            self.unplaced[workload][self._today()] += nbytes

    def fall_short(self, owner: str, ref: str, nbytes: int, what: str) -> None:
        """A copy or a migration holds ``nbytes`` less on ``ref`` today than it should (a
        backup incomplete, a migration stalled): counted, and said as for ``refuse``."""
        if self._count(self.short, "copy-short", owner, ref, nbytes,
                       f"{what} is short of room on {ref}"):
            days, day = self.short[owner], self._today()
            days[day] = max(days[day], nbytes)  # a level, not a flow: the day's worst

    def _today(self) -> int:
        return min(self.day, self.days - 1)

    def _count(self, tally: dict[str, list[int]], kind: str, owner: str, ref: str,
               nbytes: int, message: str) -> bool:
        """Whether there is something to count; says so on the first day of a stretch."""
        if nbytes <= 0:
            return False
        day = self._today()
        days = tally.get(owner)
        if days is None:
            days = tally[owner] = [0] * self.days
        if not days[day] and (day == 0 or not days[day - 1]):
            self.note(kind, ref, f"{message} ({format_size(nbytes)} today)", owner=owner,
                      bytes=nbytes)
        return True

    def followed(self, ref: str) -> str:
        """The store a mirror follows, through mirrors of mirrors; ``ref`` itself if it is no
        mirror, or if the chain comes back to it (two clusters that each run half the VMs
        and hold the other half's replica follow neither)."""
        found = self.follows.get(ref)
        if found is None:
            found = self.follows[ref] = self._follow(ref)
        return found

    def _follow(self, ref: str) -> str:
        start, seen = ref, {ref}
        while ref in self.mirror_of:
            ref = self.mirror_of[ref]
            if ref in seen:
                return start
            seen.add(ref)
        return ref

    def add_workload(self, state: WorkloadState) -> None:
        replaced = self.workloads.get(state.name)
        if replaced is not None:
            self.landing[replaced.model.lands_on].remove(replaced)
        self.workloads[state.name] = state
        self.landing.setdefault(state.model.lands_on, []).append(state)
        self.reconfigured += 1
        if state.model.policy:
            self.workloads_of_policy.setdefault(state.model.policy, []).append(state.name)

    # --- capacity of each resource from its current configuration -----------------------

    def pool_capacity(self, ref: str) -> int:
        pool = self.pools[ref]
        return self._sized(("pool", ref), pool, lambda: self._pool_capacity(ref, pool))

    def _pool_capacity(self, ref: str, pool: Pool) -> int:
        array_name = ref.partition("/")[0]
        model = self.inventory.catalog.arrays[self.inventory.arrays[array_name].model]
        after_raid = sum(size_tier(self.inventory, t).data for t in pool.tiers)
        return effective_capacity(hdp_capacity(after_raid, model), pool)

    def cluster_sizing(self, name: str) -> ClusterSizing:
        cluster = self.clusters[name]
        down = self.nodes_down.get(name, 0)
        return self._sized(("cluster", name, down), cluster,
                           lambda: self._cluster_sizing(name, cluster, down))

    def _cluster_sizing(self, name: str, cluster: Cluster, down: int) -> ClusterSizing:
        """The cluster with ``down`` nodes failed.  The failover reserve is there to absorb
        exactly that: a failure uses it up rather than being held back again from the
        nodes left, so only failures beyond the reserve cut usable capacity and compute."""
        running = cluster.model_copy(update={
            "nodes": max(1, cluster.nodes - down),
            "failover_reserve": max(0, cluster.failover_reserve - down)})
        inv = self.inventory.model_copy(update={"clusters": {**self.inventory.clusters,
                                                             name: running}})
        return size_cluster(inv, name)

    def store_capacity(self, name: str) -> int:
        store = self.object_stores[name]
        return self._sized(("object store", name), store,
                           lambda: self._store_capacity(name, store))

    def _store_capacity(self, name: str, store: ObjectStore) -> int:
        inv = self.inventory.model_copy(update={"object_stores": {
            **self.inventory.object_stores, name: store}})
        return size_object_store(inv, name).usable

    def _sized(self, key: tuple[object, ...], config: BaseModel, size: Callable[[], S]) -> S:
        """Sizing is exact but not free: work it out once per configuration.  The desk sizes
        the same configurations again and again (what one unit more would add, what an
        order adds, what the delivery did add), each time in a fresh model object, so they
        are told apart by value."""
        key = (*key, config.model_dump_json())
        hit = self.sizings.get(key)
        if hit is None:
            hit = self.sizings[key] = size()
        return hit  # type: ignore[return-value]

    def refresh_capacity(self, ref: str) -> None:
        self.reconfigured += 1
        store = self.stores[ref]
        if store.kind == "pool":
            store.capacity = self.pool_capacity(ref)
        elif store.kind == "cluster":
            sized = self.cluster_sizing(ref)
            store.capacity = sized.usable
            self.compute[ref] = (sized.vcpu, sized.ram, sized.gpus)
        else:
            store.capacity = self.store_capacity(ref)
