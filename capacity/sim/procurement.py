"""Procurement: the purchasing desk reviews each expandable resource every day.

When a resource's use, projected over the lead time plus a safety margin at its recent
growth (the last 30 days), would cross its reorder threshold, it orders enough units to stay
under it.  For a cluster, the compute its workloads will ask within that horizon (vCPU,
RAM, GPUs, known start dates included) counts too.  The capacity arrives exactly lead-time
days later.  An order must fit: parity groups need free drive slots (drive boxes are
ordered with them where a drive-box rule exists), and every unit's rack units and power
must fit the site's budget; what cannot fit is recorded as an ``order-blocked`` event,
never silently granted.

Drive-box and whole-array rules are not reviewed on their own: drive boxes are bought along
with the parity groups that need their slots, and new arrays are a planner's decision.

Where several rules grow one resource (nodes, or drives into the nodes' empty bays; parity
groups of the tier's drive or of a bigger one), the desk prices what each would buy to
cover the need, within its limits (maximum units, bays, slots and the boxes for them, rack
space and power), and buys the cheapest that covers it, saying why in the order; if a
cheaper way has a lead time no longer than the due one's, it waits for that one to come due.
Compute is bought with nodes alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import simpy

from capacity.model import Cluster, ParityGroups, PoolTier, Procurement, Support
from capacity.sim.results import Order
from capacity.sim.tiering import drained_peak
from capacity.sim.twin import PROCUREMENT, Store, Twin, WorkloadState
from capacity.sizing.array import size_array
from capacity.units import format_size

if TYPE_CHECKING:
    from capacity.model import Inventory
    from capacity.model.scenario import Scenario

NOTE_EVERY_DAYS = 90
RETRY_DAYS = 7
"""A blocked order is looked at again a week later, as a purchasing desk would."""
LOOK_AGAIN_DAYS = 14
"""The longest a resource far from its threshold goes unreviewed."""


ComputeInputs = tuple[Cluster, tuple[int, int, int], int, int, int]
"""A cluster's configuration, the compute it gives, nodes on order, workloads known, and
``Twin.reconfigured`` (a scenario's change of growth or scale moves what is asked)."""
Compute = tuple[float, float, float]
"""vCPU, RAM bytes and GPUs."""


@dataclass(frozen=True)
class ComputeStarts:
    """The workloads that ask compute of one cluster: the twin's, and those a scenario adds
    on a known day, ahead of it."""

    workloads: int
    """Workloads in the twin when these were counted: only an added one changes them."""
    states: list[WorkloadState]
    grows: bool
    """Some workload's compute grows: what is asked moves every day."""

    @classmethod
    def count(cls, twin: Twin, cluster: str) -> ComputeStarts:
        coming = [s.state for s in twin.scheduled.starts if s.state.name not in twin.workloads]
        states = [s for s in (*twin.workloads.values(), *coming)
                  if s.model.compute is not None and s.model.compute.cluster == cluster]
        grows = any(s.model.compute is not None and s.model.compute.growth is not None
                    for s in states)
        return cls(len(twin.workloads), states, grows)

    def rising(self) -> bool:
        """What is asked only grows between starts and ends (no growth is negative)."""
        for state in self.states:
            compute = state.model.compute
            assert compute is not None
            rate = state.growth if compute.growth == "with-data" else compute.growth or 0.0
            if rate < 0:
                return False
        return True

    def changes_after(self, day: float) -> float:
        """The first start or end (the day after it) after ``day``; inf if none."""
        later = [d for s in self.states
                 for d in (s.start_day, None if s.end_day is None else s.end_day + 1)
                 if d is not None and d > day]
        return min(later, default=math.inf)

    def by(self, day: float) -> tuple[Compute, float]:
        """Compute asked on ``day`` by the workloads started by then, and the next day it
        may change after it (the next start; the next day, if some compute grows)."""
        total = [0.0, 0.0, 0.0]
        for state in self.states:
            asked = state.compute_on(day)
            if asked is not None:
                total = [t + a for t, a in zip(total, asked, strict=True)]
        later = [d for s in self.states
                 for d in (s.start_day, None if s.end_day is None else s.end_day + 1)
                 if d is not None and d > day]
        next_change = min(later, default=math.inf)
        if self.grows:
            next_change = min(next_change, day + 1)
        return (total[0], total[1], total[2]), next_change


class Review(NamedTuple):
    """A rule as the desk reviews it: what does not change during the run."""

    name: str
    rule: Procurement
    ref: str
    """The resource reviewed (a pool for a parity-group rule)."""
    store: Store
    lead: int
    """Lead time in days, scenario factor applied."""
    horizon: int
    """How far ahead the desk looks: lead time plus safety margin."""
    threshold: float
    """The share of capacity to stay under."""


@dataclass
class Ledger:
    """What is committed but not yet installed, per array and per site."""

    drives: dict[str, int] = field(default_factory=dict)
    slots: dict[str, int] = field(default_factory=dict)
    boxes: dict[str, int] = field(default_factory=dict)
    rack_units: dict[str, int] = field(default_factory=dict)
    power_w: dict[str, float] = field(default_factory=dict)
    pending: dict[str, float] = field(default_factory=dict)
    """Effective bytes ordered but not installed, per resource."""
    bought: dict[str, int] = field(default_factory=dict)
    """Units bought so far, per rule."""
    last_note: dict[tuple[str, str], int] = field(default_factory=dict)
    snoozed: dict[str, int] = field(default_factory=dict)
    """Rules whose last order was blocked outright, and the day to look again."""
    pending_nodes: dict[str, int] = field(default_factory=dict)
    """Nodes ordered but not installed, per cluster (they bring compute too)."""
    per_unit: dict[str, int] = field(default_factory=dict)
    """Effective bytes one more unit adds, per rule, for the current configuration."""
    box_rules: dict[str, str] = field(default_factory=dict)
    """Per array, the (first) drive-box rule that buys its boxes: looked up once, not per
    order (a large estate orders often and has many rules)."""
    enough: dict[str, tuple[ComputeInputs, float]] = field(default_factory=dict)
    """Per node rule, what its compute check last saw when no node was needed, and the day
    a start date next comes within its horizon."""
    compute_starts: dict[str, ComputeStarts] = field(default_factory=dict)
    """Per cluster, the compute its workloads ask by start day."""
    rivals: dict[str, list[Review]] = field(default_factory=dict)
    """Per resource, every rule that grows it (the desk buys the cheapest that covers)."""
    pending_drives: dict[str, int] = field(default_factory=dict)
    """Drives ordered into a cluster's bays but not installed, a drive a node."""


def new_ledger(twin: Twin) -> Ledger:
    ledger = Ledger()
    for name in twin.inventory.arrays:
        sized = size_array(twin.inventory, name)
        ledger.drives[name] = sized.drives
        ledger.slots[name] = sized.slots
        ledger.boxes[name] = twin.inventory.arrays[name].drive_boxes
    for site, use in twin.sites_start.items():
        ledger.rack_units[site] = use.rack_units
        ledger.power_w[site] = use.power_w
    for name, rule in twin.inventory.procurement.items():
        if rule.unit == "drive-box":
            ledger.box_rules.setdefault(rule.resource, name)
    return ledger


def reviewed(twin: Twin) -> list[str]:
    """The rules the desk reviews (drive boxes go with parity groups; arrays are by hand)."""
    return reviewed_rules(twin.inventory)


def reviewed_rules(inventory: Inventory) -> list[str]:
    """:func:`reviewed`, of an inventory."""
    return [n for n, r in inventory.procurement.items()
            if r.unit in ("parity-group", "node", "drive", "raw")]


def reviewed_ref(rule: Procurement) -> str:
    """The resource the desk reviews a rule for (a pool for a parity-group rule): the name
    its runways and orders carry."""
    return pool_ref(rule) if rule.unit == "parity-group" else rule.resource


def lead_time_factor(scenarios: Sequence[Scenario]) -> float:
    """What the scenarios do to every lead time: the product of their factors."""
    factor = 1.0
    for scenario in scenarios:
        factor *= scenario.adjust.lead_time_factor
    return factor


def lead_days(rule: Procurement, factor: float = 1.0) -> int:
    """Days from ordering a unit of ``rule`` to its capacity in service: its lead time times
    the scenarios' ``factor``, to the day.  The desk waits that long for every order (a
    parity group that needs new drive boxes waits for them too, if they take longer)."""
    return round(rule.lead_time * factor)


class LeadTime(NamedTuple):
    """How long an order of one rule the desk reviews takes, for the resource it grows."""

    resource: str
    rule: str
    unit: str
    days: int


def lead_times(inventory: Inventory, factor: float = 1.0) -> list[LeadTime]:
    """The lead time of every rule the desk reviews, as it waits for its orders (the
    exporter serves them, for the alert on a runway shorter than the time to buy)."""
    return [LeadTime(reviewed_ref(rule), name, rule.unit, lead_days(rule, factor))
            for name in reviewed_rules(inventory)
            for rule in (inventory.procurement[name],)]


def purchasing_desk(twin: Twin) -> Generator[simpy.Event, int, None]:
    """Every day, review every expandable resource and order what the trend says is due (a
    rule that is snoozed, and whose cluster has enough, is passed by until it is due)."""
    ledger = new_ledger(twin)
    rules: list[Review] = []
    for name in reviewed(twin):
        rule = twin.inventory.procurement[name]
        ref = reviewed_ref(rule)
        store = twin.stores[ref]
        lead = lead_days(rule, twin.lead_time_factor)
        rules.append(Review(name, rule, ref, store, lead, lead + rule.safety_margin,
                            rule.reorder_at or store.thresholds.warning))
        ledger.rivals.setdefault(ref, []).append(rules[-1])
    # The day each rule next has something to do: most days every rule is snoozed and every
    # cluster has enough, and the desk passes them by.
    due = [0.0] * len(rules)
    first_due = 0.0
    node_rules = [i for i, review in enumerate(rules) if review.rule.unit == "node"]
    reconfigured = twin.reconfigured
    day = yield twin.at(PROCUREMENT)
    clock = twin.clock()
    while True:
        if twin.reconfigured != reconfigured:  # what clusters give or are asked may have moved
            reconfigured = twin.reconfigured
            for i in node_rules:
                due[i] = first_due = day
        if day >= first_due:
            for i, review in enumerate(rules):
                if due[i] > day:
                    continue
                orders = len(twin.orders)
                _review(twin, ledger, day, review)
                due[i] = _next_due(twin, ledger, review, day)
                if len(twin.orders) != orders:  # nodes on order moved: clusters look again
                    for j in node_rules:
                        due[j] = min(due[j], day)
            first_due = min(due, default=math.inf)
        day = yield clock.tick()


def _review(twin: Twin, ledger: Ledger, day: int, review: Review) -> None:
    """One rule's daily review: compute first (for nodes), then capacity."""
    name, rule, ref, store, lead, horizon, threshold = review
    if rule.unit == "node":  # compute: cheap, and a start date is known ahead
        nodes = nodes_for_compute(twin, ledger, name, ref, threshold, horizon)
        if nodes:
            _order(twin, ledger, _offer(twin, ledger, review, 0.0, units=nodes),
                   "compute: vCPU, RAM or GPUs")
    if ledger.snoozed.get(name, -1) > day:
        return
    if store.offline:
        # Its site is down: what it offers now says nothing of what it will need; buying
        # for it would leave it larger than its partner once back.  Looked at again then.
        return
    offered = store.available + ledger.pending.get(ref, 0.0)
    # Organic growth from the trend, less what migrations placed; known demand on top.
    refs = {ref, twin.mirror_of[ref]} if ref in twin.mirror_of else {ref}
    growth = twin.scheduled.trend(refs, twin.history[ref])
    projected: float = (store.used + round(growth * horizon)
                        + twin.scheduled.ahead(refs, day, horizon))
    # Tier policies move old data off before it fills, and keep it sawing below their
    # high watermark: count on what they leave.
    # A mirror holds what its source's policies leave on the source, whose watermarks are
    # of the source's size: a source grown larger than its mirror fills the mirror.
    source = twin.followed(ref)
    drained = drained_peak(twin, ref, horizon, offered if source == ref else (
        twin.stores[source].available + ledger.pending.get(source, 0.0)), projected)
    if drained is not None:
        projected = drained
    if projected < threshold * offered:
        # Far from the threshold: look again when half the distance could be gone.
        days_left = (threshold * offered - projected) / growth if growth else math.inf
        wake = min(day + LOOK_AGAIN_DAYS, day + days_left / 2,
                   twin.scheduled.in_view(refs, day, horizon))
        ledger.snoozed[name] = int(wake)
        return
    # Reaching the threshold counts: at least a unit, even when exactly at it.
    needed = max(1.0, projected / threshold - offered)
    rivals = ledger.rivals[ref]
    if len(rivals) == 1:
        _order(twin, ledger, _offer(twin, ledger, review, needed))
        return
    offers = [_offer(twin, ledger, r, needed) for r in rivals]
    best = cheapest(offers)
    if best.review is not review and best.review.lead <= lead:
        return  # a cheaper way is still in time: its own review buys it when it is due
    _order(twin, ledger, best, _why(twin, offers, best, needed))


def _next_due(twin: Twin, ledger: Ledger, review: Review, day: int) -> float:
    """The first day after ``day`` on which a rule has something to do, as things stand: its
    snooze ends, or (a node rule) a known start date comes within its horizon; tomorrow for
    a node rule whose cluster was short today."""
    due = max(day + 1, ledger.snoozed.get(review.name, -1))
    if review.rule.unit == "node":
        enough = ledger.enough.get(review.name)
        if enough is not None and enough[0] == _compute_inputs(twin, ledger, review.ref):
            return min(due, enough[1])
        return day + 1
    return due


def nodes_for_compute(twin: Twin, ledger: Ledger, name: str, cluster: str, threshold: float,
                      horizon: float) -> int:
    """Nodes to order so that the compute that workloads will ask of the cluster within the
    horizon (known start dates included) stays under ``threshold`` of what it gives after
    N+k, counting nodes already on order."""
    day = twin.day
    # The desk asks every day, but the answer moves only when the cluster, what it gives,
    # the nodes on order or the workloads change, or a known start date comes within the
    # horizon: until then, a cluster that had enough still has.
    inputs = _compute_inputs(twin, ledger, cluster)
    enough = ledger.enough.get(name)
    if enough is not None and day < enough[1] and enough[0] == inputs:
        return 0
    config, have, pending, *_ = inputs
    demand, next_start = _demand_by(twin, ledger, cluster, day + horizon)
    node = twin.inventory.catalog.nodes[config.node_model]
    cores = (config.cores or node.cores) - config.controller_vm.cores
    ram = (config.ram or node.ram) - config.controller_vm.ram
    per_node = (cores * config.overcommit.cpu, ram * config.overcommit.ram,
                float(config.gpus if config.gpus is not None else node.gpus))
    supplies = [has + pending * each for has, each in zip(have, per_node, strict=True)]
    needed = 0
    for want, supply, each in zip(demand, supplies, per_node, strict=True):
        if want > threshold * supply and each > 0:
            needed = max(needed, math.ceil((want / threshold - supply) / each))
    if not needed:
        until = next_start - horizon
        starts = ledger.compute_starts[cluster]
        if starts.grows and starts.rising():
            until = _fits_until(starts, day, horizon, threshold, supplies, per_node)
        ledger.enough[name] = (inputs, until)
    return needed


def _fits_until(starts: ComputeStarts, day: int, horizon: float, threshold: float,
                supplies: list[float], per_node: Compute) -> float:
    """The first day from which growing compute may no longer fit: until the next start or
    end it only rises, so if it fits ``k`` days on it fits every day before; ``k`` doubles
    while it fits (the answer is at least half the true one: looked at again sooner)."""
    last = starts.changes_after(day + horizon) - horizon  # a start or end: look then
    fits, k = 0, 1
    while day + k < last:
        demand, _ = starts.by(day + k + horizon)
        if any(want > threshold * supply and each > 0
               for want, supply, each in zip(demand, supplies, per_node, strict=True)):
            break
        fits, k = k, 2 * k
    return min(day + fits + 1, last)


def _compute_inputs(twin: Twin, ledger: Ledger, cluster: str) -> ComputeInputs:
    """What a cluster's compute check depends on, besides the day."""
    return (twin.clusters[cluster], twin.compute[cluster], ledger.pending_nodes.get(cluster, 0),
            len(twin.workloads), twin.reconfigured)


def _demand_by(twin: Twin, ledger: Ledger, cluster: str,
               day: float) -> tuple[Compute, float]:
    """Compute asked of ``cluster`` by workloads started by ``day``, and the next start day
    after it (inf if none)."""
    starts = ledger.compute_starts.get(cluster)
    if starts is None or starts.workloads != len(twin.workloads):
        starts = ledger.compute_starts[cluster] = ComputeStarts.count(twin, cluster)
    return starts.by(day)


def pool_ref(rule: Procurement) -> str:
    array, pool, _tier = rule.resource.split("/")
    return f"{array}/{pool}"


@dataclass(frozen=True)
class Offer:
    """What one rule would buy for a need, as far as its limits allow: units, the drive
    boxes they need, and the cost of both."""

    review: Review
    units: int
    capacity: float
    """Effective bytes the units add (as the desk reckons them: per unit times units)."""
    boxes: int = 0
    box_rule: str | None = None
    cost: float = 0.0
    covers: bool = True
    """The units cover the need in full."""
    limit: str | None = None
    """Why fewer units than needed (None: none cut)."""
    site_bound: bool = False
    """The site's rack space or power cut it (not the resource's own limits)."""


def cheapest(offers: list[Offer]) -> Offer:
    """The cheapest offer that covers the need; if none covers, the one that comes closest
    (then the cheaper).  Ties go to the rule written first."""
    covering = [o for o in offers if o.covers and o.units > 0]
    if covering:
        return min(covering, key=lambda o: o.cost)
    return max(offers, key=lambda o: (o.capacity, -o.cost))


def _why(twin: Twin, offers: list[Offer], best: Offer, needed: float) -> str:
    currency = twin.inventory.currency

    def said(o: Offer) -> str:
        text = f"{o.review.name} {o.units} x {o.review.rule.unit} {o.cost:,.0f} {currency}"
        return text + ("" if o.covers else f" (not enough: {o.limit})")

    others = [said(o) for o in offers if o is not best]
    return (f"cheapest of {len(offers)} ways to add {format_size(round(needed))}: {said(best)};"
            f" not {', '.join(others)}")


def _offer(twin: Twin, ledger: Ledger, review: Review, needed: float,
           units: int | None = None) -> Offer:
    """What ``review``'s rule would buy for ``needed`` more effective bytes (or exactly
    ``units``), cut to its maximum, the drive slots or bays, and the site's racks and power.
    Nothing is booked."""
    name, rule, ref = review.name, review.rule, review.ref
    step = max(1, rule.units_per_order)
    if rule.unit == "drive":
        step *= twin.clusters[ref].nodes  # a drive into every node
    per_unit = ledger.per_unit.get(name)
    if per_unit is None:  # sizing is exact but not free: once per configuration
        per_unit = ledger.per_unit[name] = max(1, grow(twin, rule, step, apply=False) // step)
    wanted = math.ceil((needed / per_unit if units is None else units) / step) * step
    fit, limit, site_bound = wanted, None, False
    if rule.max_units is not None and fit > rule.max_units - ledger.bought.get(name, 0):
        fit = max(0, rule.max_units - ledger.bought.get(name, 0))
        limit = "the resource is at its maximum units"
    if rule.unit == "drive":
        bays = _free_bays(twin, ledger, ref)
        if fit > bays * twin.clusters[ref].nodes:
            fit = bays * twin.clusters[ref].nodes
            limit = f"no empty drive bays left in {ref}'s nodes"
    fit, boxes, box_rule, slots_limit = _fit_slots(twin, ledger, rule, fit)
    limit = slots_limit or limit
    site = twin.stores[ref].site
    unit_u, unit_w = footprint(twin, rule)
    box_u, box_w = footprint(twin, twin.inventory.procurement[box_rule]) if box_rule else (0, 0)
    room = _site_room(twin, ledger, site, unit_u, unit_w, boxes, box_u, box_w, step)
    if room < fit:
        fit, limit = room, f"site {site} has no rack space or power for more {rule.unit}s"
        site_bound = True
        if not fit:
            boxes, box_rule = 0, None
    box_cost = twin.inventory.procurement[box_rule].unit_cost if box_rule else 0.0
    return Offer(review, fit, fit * per_unit, boxes, box_rule,
                 fit * rule.unit_cost + boxes * box_cost, fit >= wanted, limit, site_bound)


def _free_bays(twin: Twin, ledger: Ledger, cluster: str) -> int:
    """Empty bays a node, less the drives already on order."""
    config = twin.clusters[cluster]
    bays = twin.inventory.catalog.nodes[config.node_model].drive_bays
    return max(0, bays - config.drives.count - ledger.pending_drives.get(cluster, 0))


def _order(twin: Twin, ledger: Ledger, offer: Offer, why: str = "") -> None:
    """Book what ``offer`` buys (and say why fewer units than needed, if so)."""
    name, rule, ref, lead = offer.review.name, offer.review.rule, offer.review.ref, \
        offer.review.lead
    if offer.limit is not None:
        _blocked(twin, ledger, name, ref, offer.limit, site=offer.site_bound)
    units, boxes, box_rule = offer.units, offer.boxes, offer.box_rule
    if units <= 0:
        return
    site = twin.stores[ref].site
    unit_u, unit_w = footprint(twin, rule)
    box_u, box_w = footprint(twin, twin.inventory.procurement[box_rule]) if box_rule else (0, 0)
    capacity = grow(twin, rule, units, apply=False)
    wait = lead
    if boxes:
        assert box_rule is not None
        array = rule.resource.split("/")[0]
        model = twin.inventory.catalog.arrays[twin.inventory.arrays[array].model]
        ledger.boxes[array] += boxes
        ledger.slots[array] = min(model.max_drives,
                                  ledger.slots[array] + boxes * model.drive_box.slots)
        box = twin.inventory.procurement[box_rule]
        box_lead = lead_days(box, twin.lead_time_factor)
        wait = max(lead, box_lead)  # the groups go in once their boxes are there
        _book(twin, ledger, box_rule, box, rule.resource.split("/")[0], boxes, box_lead, 0,
              box_u, box_w, site, lambda: _add_boxes(twin, ledger, rule, boxes))
    ledger.bought[name] = ledger.bought.get(name, 0) + units
    ledger.pending[ref] = ledger.pending.get(ref, 0.0) + capacity
    per_node = 0
    if rule.unit == "node":
        ledger.pending_nodes[ref] = ledger.pending_nodes.get(ref, 0) + units
    elif rule.unit == "drive":
        per_node = units // twin.clusters[ref].nodes
        ledger.pending_drives[ref] = ledger.pending_drives.get(ref, 0) + per_node
    elif rule.unit == "parity-group":
        array = rule.resource.split("/")[0]
        ledger.drives[array] += units * _group_width(twin, rule)

    def install() -> None:
        grow(twin, rule, units, apply=True)
        twin.refresh_capacity(ref)
        ledger.pending[ref] -= capacity
        for rival in ledger.rivals.get(ref, ()):  # what a unit adds has moved for each
            ledger.per_unit.pop(rival.name, None)
        if rule.unit == "node":
            ledger.pending_nodes[ref] -= units
        elif rule.unit == "drive":
            ledger.pending_drives[ref] -= per_node

    _book(twin, ledger, name, rule, ref, units, wait, capacity, unit_u, unit_w, site, install,
          why)


def _book(twin: Twin, ledger: Ledger, name: str, rule: Procurement, ref: str, units: int,
          wait: int, capacity: int, unit_u: int, unit_w: float, site: str,
          install: Callable[[], None], why: str = "") -> None:
    """Record an order and start its delivery."""
    today = twin.date()
    order = Order(rule=name, resource=ref, unit=rule.unit, units=units, ordered=today,
                  installed=twin.date(twin.day + wait), cost=units * rule.unit_cost,
                  capacity=capacity, rack_units=units * unit_u, power_w=units * unit_w,
                  why=why)
    twin.orders.append(order)
    ledger.rack_units[site] = ledger.rack_units.get(site, 0) + order.rack_units
    ledger.power_w[site] = ledger.power_w.get(site, 0.0) + order.power_w
    twin.note("order", ref, f"{units} x {rule.unit} ordered ({name}), in service"
              f" {order.installed}" + (f": {why}" if why else ""), units=units,
              cost=order.cost, capacity_bytes=capacity)
    twin.env.process(_deliver(twin, wait, ref, units, rule.unit, install))


def _deliver(twin: Twin, wait: int, ref: str, units: int, unit: str,
             install: Callable[[], None]) -> Generator[simpy.Event, None, None]:
    """Wait out the lead time, then put the units in service."""
    yield twin.env.timeout(wait)
    install()
    twin.note("install", ref, f"{units} x {unit} in service", units=units)


def _fit_slots(twin: Twin, ledger: Ledger, rule: Procurement,
               units: int) -> tuple[int, int, str | None, str | None]:
    """Parity groups need free slots: drive boxes go along where a rule allows, else only
    what fits.  Returns (units, drive boxes to add, the drive-box rule, why fewer)."""
    if rule.unit != "parity-group" or units <= 0:
        return units, 0, None, None
    array = rule.resource.split("/")[0]
    model = twin.inventory.catalog.arrays[twin.inventory.arrays[array].model]
    width = _group_width(twin, rule)
    free = ledger.slots[array] - ledger.drives[array]
    if units * width <= free:
        return units, 0, None, None
    box_rule = ledger.box_rules.get(array)
    boxes = 0
    if box_rule is not None:
        room_boxes = model.max_drive_boxes - ledger.boxes[array]
        cap_slots = model.max_drives - ledger.slots[array]
        short = units * width - free
        boxes = min(room_boxes, math.ceil(min(short, cap_slots) / model.drive_box.slots))
        boxes = max(0, boxes)
        free += min(boxes * model.drive_box.slots, cap_slots)
    fit = min(units, free // width)
    limit = (f"no free drive slots in {array} for {units - fit} more parity group(s): a new"
             " array is needed") if fit < units else None
    if fit <= 0:
        return 0, 0, None, limit
    return fit, boxes, box_rule if boxes else None, limit


def _site_room(twin: Twin, ledger: Ledger, site: str, unit_u: int, unit_w: float,
               boxes: int, box_u: int, box_w: float, step: int) -> int:
    """Units the site's racks and power can still take (whole steps), after the boxes."""
    racks = twin.inventory.sites[site].racks
    room_u = racks.count * racks.units - ledger.rack_units.get(site, 0) - boxes * box_u
    room_w = (racks.count * racks.power_kw * 1000 - ledger.power_w.get(site, 0.0)
              - boxes * box_w) if racks.power_kw else math.inf
    fit = 10**9
    if unit_u:
        fit = min(fit, max(0, room_u) // unit_u)
    if unit_w and room_w != math.inf:
        fit = min(fit, int(max(0.0, room_w) // unit_w))
    return fit // step * step


def refresh(twin: Twin, name: str, support: Support) -> Generator[simpy.Event, None, None]:
    """End of support: the replacement is ordered its lead time ahead, to be in service on
    the day support ends (or as soon as it can be, if that is already past); same capacity,
    rack space and power."""
    assert support.ends is not None
    ends = (support.ends - twin.start).days
    lead = round(support.refresh_lead_time * twin.lead_time_factor)
    day = max(0, ends - lead)
    if day >= twin.days:
        return
    yield twin.env.timeout(day + PROCUREMENT - twin.env.now)
    order = Order(rule=f"refresh:{name}", resource=name, unit="refresh", units=1,
                  ordered=twin.date(), installed=twin.date(day + lead), cost=support.refresh_cost,
                  capacity=0, rack_units=0, power_w=0.0,
                  why=f"support ends {support.ends.isoformat()}")
    twin.orders.append(order)
    twin.note("order", name, f"refresh of {name} ordered, in service {order.installed}:"
              f" {order.why}", units=1, cost=order.cost, capacity_bytes=0)


def _blocked(twin: Twin, ledger: Ledger, name: str, ref: str, reason: str, *,
             site: bool = False) -> None:
    """``site``: the site's rack space or power stopped it, not the resource's limits."""
    ledger.snoozed[name] = twin.day + RETRY_DAYS
    key = (name, reason)
    if twin.day - ledger.last_note.get(key, -10**9) >= NOTE_EVERY_DAYS:
        ledger.last_note[key] = twin.day
        twin.note("order-blocked", ref, f"{name}: {reason}", rule=name, reason=reason,
                  site_budget=site)


def _group_width(twin: Twin, rule: Procurement) -> int:
    return _tier(twin, rule).parity_groups[0].layout.width


def _tier(twin: Twin, rule: Procurement) -> PoolTier:
    array, pool, tier = rule.resource.split("/")
    return next(t for t in twin.pools[f"{array}/{pool}"].tiers if t.name == tier)


def _add_boxes(twin: Twin, ledger: Ledger, rule: Procurement, boxes: int) -> None:
    array = rule.resource.split("/")[0]
    twin.drive_boxes[array] += boxes


def footprint(twin: Twin, rule: Procurement) -> tuple[int, float]:
    """Rack units and watts one unit adds: the rule's figures, else the catalogue's."""
    cat = twin.inventory.catalog
    u, w = 0, 0.0
    if rule.unit == "node":
        cluster = twin.clusters[rule.resource]
        node = cat.nodes[cluster.node_model]
        u = node.rack_units
        w = node.power_w + cluster.drives.count * cat.drives[cluster.drives.drive].power_w
    elif rule.unit == "drive":
        w = cat.drives[twin.clusters[rule.resource].drives.drive].power_w
    elif rule.unit == "parity-group":
        group = _tier(twin, rule).parity_groups[0]
        w = group.layout.width * cat.drives[rule.drive or group.drive].power_w
    elif rule.unit == "drive-box":
        box = cat.arrays[twin.inventory.arrays[rule.resource].model].drive_box
        u, w = box.rack_units, box.power_w
    return (rule.rack_units if rule.rack_units is not None else u,
            rule.power_w if rule.power_w is not None else w)


def _more_groups(groups: list[ParityGroups], drive: str | None,
                 units: int) -> list[ParityGroups]:
    """``units`` more groups of ``drive`` (default the tier's first) in the first group's
    RAID layout: counted into a group of that drive and layout, else a new entry."""
    first = groups[0]
    drive = drive or first.drive
    for i, group in enumerate(groups):
        if group.drive == drive and group.raid == first.raid:
            return [*groups[:i], group.model_copy(update={"count": group.count + units}),
                    *groups[i + 1:]]
    return [*groups, ParityGroups(drive=drive, raid=first.raid, count=units)]


def grow(twin: Twin, rule: Procurement, units: int, *, apply: bool) -> int:
    """Effective bytes ``units`` more units add to the resource (sized exactly); with
    ``apply`` the resource's configuration takes them."""
    if rule.unit == "parity-group":
        array, pool_name, tier_name = rule.resource.split("/")
        ref = f"{array}/{pool_name}"
        pool = twin.pools[ref]
        tiers = []
        for tier in pool.tiers:
            if tier.name == tier_name:
                tier = tier.model_copy(update={"parity_groups": _more_groups(
                    tier.parity_groups, rule.drive, units)})
            tiers.append(tier)
        before = twin.pool_capacity(ref)
        twin.pools[ref] = pool.model_copy(update={"tiers": tiers})
        added = twin.pool_capacity(ref) - before
        if not apply:
            twin.pools[ref] = pool
        return added
    if rule.unit in ("node", "drive"):
        cluster = twin.clusters[rule.resource]
        before = twin.cluster_sizing(rule.resource).usable
        if rule.unit == "node":
            grown = cluster.model_copy(update={"nodes": cluster.nodes + units})
        else:  # as many drives into every node (more nodes since the order: still one set)
            per_node = -(-units // cluster.nodes)
            drives = cluster.drives.model_copy(update={"count": cluster.drives.count
                                                       + per_node})
            grown = cluster.model_copy(update={"drives": drives})
        twin.clusters[rule.resource] = grown
        added = twin.cluster_sizing(rule.resource).usable - before
        if not apply:
            twin.clusters[rule.resource] = cluster
        return added
    if rule.unit == "raw":
        store = twin.object_stores[rule.resource]
        before = twin.store_capacity(rule.resource)
        assert rule.capacity is not None
        twin.object_stores[rule.resource] = store.model_copy(
            update={"raw": store.raw + units * rule.capacity})
        added = twin.store_capacity(rule.resource) - before
        if not apply:
            twin.object_stores[rule.resource] = store
        return added
    return 0
