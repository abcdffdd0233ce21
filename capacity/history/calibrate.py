"""Calibrate a simulation from the usage history: the level each resource really holds, and
the growth it really shows, in place of the inventory's figures.

The method, per storage resource the simulator knows (pool, cluster, object store) with at
least ``MIN_DAYS`` readings:

1. **Reference run.** The inventory as it stands is played over the history window (from
   the resource's first reading to its last, buying nothing), so the simulation's own daily
   used bytes of the resource can be set beside the history, day for day: what lands there,
   less what its tier policies move on, expire or copy, just as the real resource.
2. **Growth.** A linear trend (OLS, on the days with readings only) is fitted to both: the
   history's slope against the reference run's.  The workloads that land on the resource
   have their daily volume (``per_year`` and every driver's studies a day) scaled by their
   ratio.  That is net growth against net growth, so a tier whose data moves on is judged by
   what it keeps, not by its ingest.  Where the simulation holds the resource flat (a tier
   policy keeps it at its watermark) or nothing lands on it (a mirror, a tier fed only by
   tiering), the growth is not calibrated and the report says so: it follows its sources.
   So too where doubling what lands adds less than half of it to the played window's
   growth: a tier its policy drains at a watermark keeps what the policy leaves, whatever
   lands, so its history says nothing of the ingest.
3. **Level.** The calibrated run starts the day after the last reading; each calibrated
   resource's workloads' ``stored`` is shifted so that it starts holding the last reading
   (moved on by the fitted growth to the day before the start), shared among them by what
   they store; never below zero, never more than the resource offers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from capacity.history.forecast import CANDIDATES
from capacity.history.store import Reading
from capacity.model import Inventory, Workload

MIN_DAYS = 14
FLAT = 0.01
"""A reference slope below this share of the daily volume landing there is flat."""
ITERATIONS = 6
RESPONSE = 0.5
"""Doubling what lands must add at least this share of it to the window's net growth."""
TOLERANCE = 0.01
"""The played window's growth is corrected until within this share of the history's."""


@dataclass(frozen=True)
class Calibration:
    resource: str
    first_day: dt.date
    last_day: dt.date
    readings: int
    inventory_bytes: int
    """What the inventory says the resource holds on its as_of date."""
    history_bytes: int
    """The last reading."""
    simulated_growth: float
    """Bytes a day: the reference run's net growth over the history window."""
    history_growth: float
    scale: float | None
    """The factor applied to the daily volume of the workloads landing here (None: none)."""
    calibrated_growth: float
    """The net growth over the history window with that factor applied."""
    start_bytes: int
    """What the calibrated run starts with, by the inventory's reckoning of its parts."""
    workloads: tuple[str, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Calibrated:
    inventory: Inventory
    start: dt.date
    calibrations: tuple[Calibration, ...]
    skipped: tuple[tuple[str, str], ...]
    """(resource, why) for those in the history that are not calibrated."""


def _slope(days: Sequence[int], values: Sequence[float]) -> float:
    t = np.array(days, dtype=float)
    y = np.array(values, dtype=float)
    return CANDIDATES[0].fit(t - t[0], y, 1).growth


def _scaled(workload: Workload, factor: float) -> Workload:
    if factor <= 0:
        return workload.model_copy(update={"per_year": 0, "drivers": []})
    drivers = [d.model_copy(update={"studies_per_day": d.studies_per_day * factor})
               for d in workload.drivers]
    return workload.model_copy(update={"per_year": round(workload.per_year * factor),
                                       "drivers": drivers})


def _daily_volume(workload: Workload) -> float:
    return workload.per_year / 365 + sum(d.studies_per_day * d.study_size / d.compression
                                         for d in workload.drivers)


def calibrate(inventory: Inventory, history: Mapping[str, Sequence[Reading]], *,
              seed: int = 0) -> Calibrated:
    """The inventory with its workloads calibrated, and the start day of the run."""
    from capacity.sim import simulate
    from capacity.sizing import size_estate

    sizing = size_estate(inventory)
    landing: dict[str, list[str]] = {}
    for name, workload in inventory.workloads.items():
        resource = inventory.resource(workload.lands_on)
        if resource is not None:
            landing.setdefault(resource.ref, []).append(name)
    known = set(inventory.resource_names())
    skipped = []
    usable = {}
    for ref, readings in sorted(history.items()):
        if ref not in known:
            skipped.append((ref, "not a pool, cluster or object store of the inventory"))
        elif len(readings) < MIN_DAYS:
            skipped.append((ref, f"{len(readings)} readings; calibration needs {MIN_DAYS}"))
        else:
            usable[ref] = list(readings)
    if not usable:
        return Calibrated(inventory, inventory.as_of, (), tuple(skipped))
    first = min(r[0].day for r in usable.values())
    last = max(r[-1].day for r in usable.values())
    start = last + dt.timedelta(days=1)
    window = (last - first).days + 1

    def reference(inv: Inventory) -> dict[str, float]:
        """Each resource's net growth in the inventory played over the history window."""
        played = simulate(inv, years=window / 365, start=first, seed=seed,
                          procurement=False).resources
        growth = {}
        for ref, readings in usable.items():
            days = [(r.day - first).days for r in readings]
            growth[ref] = _slope(days, [played[ref].used[d] for d in days])
        return growth

    observed = {ref: _slope([(r.day - first).days for r in readings],
                            [r.used_bytes for r in readings])
                for ref, readings in usable.items()}
    simulated = reference(inventory)
    notes: dict[str, list[str]] = {ref: [] for ref in usable}
    scales: dict[str, float] = {}
    for ref in usable:
        names = landing.get(ref, [])
        volume = sum(_daily_volume(inventory.workloads[n]) for n in names)
        if not names or not volume:
            notes[ref].append("nothing new lands on it: its growth follows its sources")
        elif simulated[ref] <= FLAT * volume:
            notes[ref].append(
                "not driven by what lands there in the simulation (held flat by its tier"
                " policy, or shrinking by retention): growth left as the inventory's")
        else:
            scales[ref] = max(0.0, observed[ref] / simulated[ref])
            if scales[ref] == 0:
                notes[ref].append("the history shrinks: no new data assumed")

    def scaled(factors: Mapping[str, float]) -> dict[str, Workload]:
        workloads = dict(inventory.workloads)
        for ref, factor in factors.items():
            for n in landing[ref]:
                workloads[n] = _scaled(workloads[n], factor)
        return workloads

    # Is the resource's growth driven by what lands there?  Doubling it must add about that
    # much a day; a tier its policy drains at a watermark keeps no more for it.
    if scales:
        doubled = reference(inventory.model_copy(update={"workloads": scaled(
            dict.fromkeys(scales, 2.0))}))
        for ref in list(scales):
            volume = sum(_daily_volume(inventory.workloads[n]) for n in landing[ref])
            added = doubled[ref] - simulated[ref]
            if added < RESPONSE * volume:
                del scales[ref]
                notes[ref].append(
                    f"its growth does not follow what lands there (doubling the"
                    f" {volume / 1e12:.2f} TB a day adds {added / 1e12:.2f} TB a day: its"
                    " tier policy moves the rest on): growth left as the inventory's, level"
                    " from the history")

    # Net growth is not quite proportional to ingest (what moves on or expires is older
    # data, laid down at other rates; a tier drained at its watermark does not grow at
    # all): correct each factor against the played window, a step at most x2, keeping the
    # factor that came closest (1, the inventory's, among them).
    calibrated_growth = dict(simulated)
    best = {ref: (abs(simulated[ref] - observed[ref]), 1.0, simulated[ref]) for ref in scales}
    for _ in range(ITERATIONS if scales else 0):
        played = reference(inventory.model_copy(update={"workloads": scaled(scales)}))
        for ref, k in scales.items():
            best[ref] = min(best[ref], (abs(played[ref] - observed[ref]), k, played[ref]))
        off = {ref for ref, k in scales.items() if k > 0 and played[ref] > 0
               and abs(played[ref] - observed[ref]) > TOLERANCE * abs(observed[ref])}
        if not off:
            break
        for ref in off:
            scales[ref] *= min(2.0, max(0.5, observed[ref] / played[ref]))
    for ref, (error, k, growth) in best.items():
        scales[ref], calibrated_growth[ref] = k, growth
        if error > TOLERANCE * abs(observed[ref]) and observed[ref]:
            notes[ref].append(
                "the simulation cannot play the history's growth there (its tier policy"
                " drains what lands, or it fills): the closest it came is kept")
    workloads = scaled(scales)

    found = []
    for ref, readings in usable.items():
        names = landing.get(ref, [])
        growth = observed[ref] if ref in scales else simulated[ref]
        capacity = sizing.resource(ref).effective
        target = readings[-1].used_bytes + growth * ((start - readings[-1].day).days - 1)
        target = round(min(max(target, 0.0), float(capacity)))
        if readings[-1].used_bytes > capacity:
            notes[ref].append(f"the history holds more than its capacity"
                              f" ({capacity:,} bytes): it starts full")
        held = sizing.resource(ref).used
        stored = sum(inventory.workloads[n].stored for n in names)
        shift = target - held
        left = shift
        for i, n in enumerate(names):
            own = inventory.workloads[n].stored
            part = left if i == len(names) - 1 else round(
                shift * (own / stored if stored else 1 / len(names)))
            left -= part
            workloads[n] = workloads[n].model_copy(update={"stored": max(0, own + part)})
        start_bytes = held + sum(workloads[n].stored - inventory.workloads[n].stored
                                 for n in names)
        if not names:
            notes[ref].append("level left as the inventory's")
        elif start_bytes != target:
            notes[ref].append("the copies replication keeps there alone hold more than the"
                              " history: its workloads start with nothing stored")
        found.append(Calibration(ref, readings[0].day, readings[-1].day, len(readings), held,
                                 readings[-1].used_bytes, simulated[ref], observed[ref],
                                 scales.get(ref), calibrated_growth[ref], start_bytes,
                                 tuple(names), tuple(notes[ref])))
    calibrated = inventory.model_copy(update={"workloads": workloads})
    return Calibrated(calibrated, start, tuple(found), tuple(skipped))
