"""What a simulation run returns: plain, immutable data, ready to write as CSV, JSON or HTML."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

Level = Literal["warning", "critical", "full"]
LEVELS: tuple[Level, ...] = ("warning", "critical", "full")


@dataclass(frozen=True)
class Watermarks:
    """The trigger of a tier policy that drains a resource: its move rules start above
    ``high`` full and stop at ``low``, so a fill held flat at ``low`` is the policy at work."""

    policy: str
    high: float
    low: float
    tier: str
    """The resource the policy drains: this one, or the source a mirror follows."""


@dataclass(frozen=True)
class ResourceSeries:
    """One storage resource, day by day (index i is ``start + i`` days)."""

    ref: str
    kind: str
    """pool, cluster or object_store."""
    site: str
    used: list[int]
    """Bytes held at the end of each day."""
    capacity: list[int]
    """Effective bytes available at the end of each day (orders and failures move it)."""
    warning: float
    critical: float
    watermarks: tuple[Watermarks, ...] = ()
    at_start: tuple[int, int] | None = None
    """Bytes held and offered on the start date before its day begins: the inventory as it
    stands (what ``capacity show`` reports); None: as at the end of the first day."""


@dataclass(frozen=True)
class PoolTierSeries:
    """An HDT pool with declared volumes, tier by tier (top first), day by day: where its
    pages sit under its volumes' tiering policies."""

    ref: str
    tiers: tuple[str, ...]
    used: list[list[int]]
    """Per tier, bytes held at the end of each day."""
    capacity: list[list[int]]
    """Per tier, its share of the pool's effective capacity each day."""
    volumes: dict[str, list[list[int]]] = field(default_factory=dict)
    """Declared volume -> per tier, its bytes there at the end of each day."""


@dataclass(frozen=True)
class ComputeSeries:
    """One HCI cluster's compute, day by day: demand against usable after N+k."""

    cluster: str
    site: str
    vcpu_demand: list[int]
    vcpu: list[int]
    ram_demand: list[int]
    ram: list[int]
    gpu_demand: list[int]
    gpus: list[int]


@dataclass(frozen=True)
class Outcome:
    """One workload in a site loss: how it carries on, and what the survivors lack for it
    over the outage (whole bytes, vCPUs, RAM bytes, GPUs; 0: nothing)."""

    workload: str
    available: bool
    """Its data is served at another site and its compute has a cluster to run on."""
    rto_zero: bool
    rpo_days: int | None
    why: str
    writes_to: str | None
    compute_to: str | None
    storage_short: int = 0
    vcpu_short: int = 0
    ram_short: int = 0
    gpus_short: int = 0

    @property
    def survives(self) -> bool:
        return self.available and not (self.storage_short or self.vcpu_short
                                       or self.ram_short or self.gpus_short)


@dataclass(frozen=True)
class Need:
    """What a surviving store or cluster is asked over an outage against what it offers:
    bytes for a store (new data over the outage against its free room), or (vCPU, RAM
    bytes, GPUs) for a cluster."""

    resource: str
    asked: tuple[int, ...]
    offered: tuple[int, ...]
    more_nodes: int | None = None
    """For a cluster that falls short: the nodes it would take to carry it all (None: it
    does not fall short, or no number of nodes would do)."""

    @property
    def short(self) -> tuple[int, ...]:
        return tuple(max(0, a - o) for a, o in zip(self.asked, self.offered, strict=True))


@dataclass(frozen=True)
class SiteLoss:
    """A site lost on ``date`` for ``days``: each affected workload, and the stores and
    clusters that take over its data and compute."""

    site: str
    date: dt.date
    days: int
    outcomes: tuple[Outcome, ...]
    stores: tuple[Need, ...]
    clusters: tuple[Need, ...]

    @property
    def holds(self) -> bool:
        """Every workload carries on, and no surviving resource is short."""
        return (all(o.survives for o in self.outcomes)
                and not any(any(n.short) for n in (*self.stores, *self.clusters)))


@dataclass(frozen=True)
class Order:
    """A purchase: placed on ``ordered``, capacity in service on ``installed``."""

    rule: str
    resource: str
    unit: str
    units: int
    ordered: dt.date
    installed: dt.date
    cost: float
    capacity: int
    """Effective bytes the order adds (0 for drive boxes, which add slots)."""
    rack_units: int
    power_w: float
    why: str = ""
    """Why this rule, where several could grow the resource (or 'compute: ...')."""


@dataclass(frozen=True)
class Event:
    """Something that happened in the run and that a planner should see."""

    date: dt.date
    kind: str
    """order, install, order-blocked, threshold, drive-failure, node-failure, migration ..."""
    resource: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Runway:
    """When a resource first reaches a level, or None when not within the horizon."""

    resource: str
    level: Level
    ratio: float
    date: dt.date | None
    days: int | None


@dataclass(frozen=True)
class SiteUse:
    site: str
    rack_units: int
    rack_units_budget: int
    power_w: float
    power_budget_w: float


@dataclass(frozen=True)
class SimResult:
    inventory: str
    scenarios: list[str]
    seed: int
    start: dt.date
    days: int
    resources: dict[str, ResourceSeries]
    compute: dict[str, ComputeSeries]
    orders: list[Order]
    events: list[Event]
    runways: list[Runway]
    sites_start: dict[str, SiteUse]
    sites_end: dict[str, SiteUse]
    currency: str = "USD"
    unplaced: dict[str, list[int]] = field(default_factory=dict)
    """Workload -> whole bytes of its new data refused each day: no room where it lands."""
    opex: dict[int, dict[str, float]] = field(default_factory=dict)
    """Calendar year -> running cost: "support" and "power" (``capacity.sim.costs``)."""
    unbought: list[Runway] | None = None
    """The runways of the same run buying nothing (None: not played)."""
    short: dict[str, list[int]] = field(default_factory=dict)
    """'copy:REPLICATION' or 'migration:WAVE' -> whole bytes it was short of room each day
    (a backup incomplete; a migration's data still on the legacy system, stalled)."""
    site_losses: list[SiteLoss] = field(default_factory=list)
    """Each site the scenarios take down, as assessed on the day it goes."""
    pool_tiers: dict[str, PoolTierSeries] = field(default_factory=dict)
    """HDT pools with declared volumes, tier by tier (``capacity.sim.volumes``)."""

    @property
    def end(self) -> dt.date:
        return self.start + dt.timedelta(days=self.days - 1)

    def date(self, index: int) -> dt.date:
        return self.start + dt.timedelta(days=index)

    def runway(self, resource: str, level: Level) -> Runway:
        return next(r for r in self.runways if r.resource == resource and r.level == level)

    @property
    def failed_from(self) -> dt.date | None:
        """The first day some data did not fit: from then on the plan fails."""
        days = [next(i for i, n in enumerate(series) if n)
                for series in (*self.unplaced.values(), *self.short.values()) if any(series)]
        return self.date(min(days)) if days else None

    @property
    def blocked_orders(self) -> list[Event]:
        """Orders the plan needed and could not place (rack, power, slots, max units)."""
        return [e for e in self.events if e.kind == "order-blocked"]

    def cost_per_year(self) -> dict[int, float]:
        """Order cost by the calendar year the order is placed."""
        years: dict[int, float] = {}
        for order in self.orders:
            years[order.ordered.year] = years.get(order.ordered.year, 0.0) + order.cost
        return dict(sorted(years.items()))
