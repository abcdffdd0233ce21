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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from capacity.history.forecast import CANDIDATES
from capacity.history.store import Reading
from capacity.model import Inventory, Workload

if TYPE_CHECKING:
    from capacity.sim.results import ResourceSeries

MIN_DAYS = 14
FLAT = 0.01
"""A reference slope below this share of the daily volume landing there is flat."""
ITERATIONS = 6
PROBE = 1.25
"""The factor on what lands that tells whether, and how much, a target's growth follows it."""
RESPONSE = 0.5
"""The probe's extra volume must add at least this share of it to the window's growth."""
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
class StreamCalibration:
    """A tier policy's stream of data, judged over every resource its data passes through:
    what lands on the first tier, less only what expires (and what else those resources
    hold), since what moves from tier to tier stays in the sum."""

    policy: str
    resources: tuple[str, ...]
    """The tiers' resources the sum is over, where the data lands first."""
    first_day: dt.date
    last_day: dt.date
    readings: int
    """Days on which every one of its resources has a reading: the days the sum is fitted on."""
    simulated_growth: float
    history_growth: float
    scale: float | None
    calibrated_growth: float
    workloads: tuple[str, ...]
    """The workloads whose daily volume is scaled: those of the policy that bring new data."""
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Calibrated:
    inventory: Inventory
    start: dt.date
    calibrations: tuple[Calibration, ...]
    skipped: tuple[tuple[str, str], ...]
    """(resource, why) for those in the history that are not calibrated."""
    streams: tuple[StreamCalibration, ...] = ()


@dataclass(frozen=True)
class Stream:
    """The resources one tier policy's data passes through (connected by where its
    workloads land and by its move and expiry rules: a policy whose hosts at two sites keep
    their own tiers has two streams; mirrors and replicas are no part of it)."""

    policy: str
    resources: tuple[str, ...]
    workloads: tuple[str, ...]
    """Those of the policy's workloads that bring new data (drivers or ``per_year``)."""


@dataclass(frozen=True)
class _Target:
    """What one growth factor is fitted to: a resource, or a stream's sum of resources."""

    name: str
    resources: tuple[str, ...]
    workloads: tuple[str, ...]
    days: tuple[int, ...]
    """Days since the window's first on which every one of ``resources`` was read."""
    values: tuple[float, ...]
    """The sum of their readings on those days."""


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


def streams(inventory: Inventory) -> list[Stream]:
    """Each tier policy's streams, with the workloads that bring new data into each."""
    found = []
    for name, policy in inventory.policies.items():
        members = {w: inventory.workloads[w].lands_on for w, wl in inventory.workloads.items()
                   if wl.policy == name and inventory.resource(wl.lands_on) is not None}
        edges = [(r.source, r.target) for r in inventory.routes(policy)
                 if r.target is not None]
        nodes = {*members.values(), *(r.source for r in inventory.routes(policy))}
        nodes |= {t for _, t in edges}
        parts: dict[str, set[str]] = {ref: {ref} for ref in nodes}
        for a, b in edges:  # join the two parts an edge links
            if parts[a] is not parts[b]:
                joined = parts[a] | parts[b]
                for ref in joined:
                    parts[ref] = joined
        order = inventory.resource_names()
        seen: list[set[str]] = []
        for part in parts.values():
            if any(part is s for s in seen):
                continue
            seen.append(part)
            landing = tuple(w for w, ref in members.items() if ref in part
                            and _daily_volume(inventory.workloads[w]) > 0)
            if landing:
                found.append(Stream(name, tuple(r for r in order if r in part), landing))
    return found


def resource_history(inventory: Inventory, history: Mapping[str, Sequence[Reading]]
                     ) -> tuple[dict[str, list[Reading]], dict[str, list[str]],
                                list[tuple[str, str]]]:
    """The history by resource of the inventory: a host tier's file system (``HOST:TIER``,
    as ``capacity collect`` records it) stands for the resource its ``storage:`` names on
    the days that resource has no reading of its own; the catalogue's figures
    (``HOST:TIER:catalogue``) never do.  Returns the readings, notes per resource on what
    was taken from a host tier, and (series, why) for those not used."""
    on: dict[str, list[str]] = {}
    skipped: list[tuple[str, str]] = []
    merged = {ref: list(rs) for ref, rs in history.items()}
    for series in sorted(history):
        host, sep, tier = series.partition(":")
        if not sep:
            continue
        del merged[series]
        if tier.endswith(":catalogue"):
            skipped.append((series, "the catalogue counts the files the policies move, not"
                            " what fills the storage: calibration reads the file system"
                            f" ({series.removesuffix(':catalogue')}) or the resource"))
            continue
        known = inventory.hosts.get(host)
        storage = known.tiers[tier].storage if known and tier in known.tiers else None
        if storage is None or inventory.resource(storage) is None:
            skipped.append((series, "not a tier of a host of the inventory with a `storage:`"
                            " that names a pool, cluster or object store"
                            if storage is None else
                            f"its storage {storage!r} is no resource of the inventory"))
            continue
        on.setdefault(storage, []).append(series)
    notes: dict[str, list[str]] = {}
    for ref, tiers in on.items():
        if len(tiers) > 1:
            skipped += [(s, f"{len(tiers)} host tiers ({', '.join(tiers)}) stand on {ref}:"
                         " one file system or several, their readings do not say which;"
                         " record the resource itself") for s in tiers]
            continue
        (series,) = tiers
        own = {r.day for r in merged.get(ref, ())}
        taken = [r for r in history[series] if r.day not in own]
        if not taken:
            skipped.append((series, f"{ref}, the storage behind it, has its own reading on"
                            " each of its days"))
            continue
        merged[ref] = sorted([*merged.get(ref, ()), *(
            Reading(ref, r.day, r.used_bytes, r.capacity_bytes, r.source, r.collected_at)
            for r in taken)], key=lambda r: r.day)
        notes[ref] = [f"{len(taken)} of its {len(merged[ref])} readings are the file system"
                      f" of host tier {series} (no reading of {ref} itself on those days)"]
    return merged, notes, skipped


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
    by_resource, mapped, skipped = resource_history(inventory, history)
    usable = {}
    for ref, readings in sorted(by_resource.items()):
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

    def target(name: str, resources: tuple[str, ...], workloads: tuple[str, ...]
               ) -> _Target:
        read = [{(r.day - first).days: r.used_bytes for r in usable[ref]} for ref in resources]
        days = sorted(set.intersection(*(set(d) for d in read)))
        return _Target(name, resources, workloads, tuple(days),
                       tuple(float(sum(d[day] for d in read)) for day in days))

    # A stream whose every resource has a history is judged as a whole: its landing
    # workloads' growth is fitted to the stream's sum, not to the tier they land on.
    notes: dict[_Target, list[str]] = {}
    by_stream: dict[str, str] = {}
    stream_targets = []
    for stream in streams(inventory):
        label = stream.policy if sum(s.policy == stream.policy for s in streams(inventory)
                                     ) == 1 else f"{stream.policy} ({stream.resources[0]})"
        missing = [ref for ref in stream.resources if ref not in usable]
        if missing:
            skipped.append((label, f"no usable history of {', '.join(missing)}: a stream is"
                            " calibrated only over all its tiers; its workloads are judged"
                            " by the resource they land on"))
            continue
        whole = target(label, stream.resources, stream.workloads)
        if len(whole.days) < MIN_DAYS:
            skipped.append((label, f"{len(whole.days)} days with a reading of every one of"
                            f" its resources; calibration needs {MIN_DAYS}"))
            continue
        stream_targets.append(whole)
        notes[whole] = []
        by_stream.update(dict.fromkeys(stream.workloads, label))
    resource_targets = {}
    for ref in usable:
        mine = tuple(n for n in landing.get(ref, []) if n not in by_stream)
        resource_targets[ref] = alone = target(ref, (ref,), mine)
        notes[alone] = [*mapped.get(ref, [])]
        taken = sorted({by_stream[n] for n in landing.get(ref, []) if n in by_stream})
        if taken and not mine:
            notes[alone].append(f"what lands here is calibrated with its stream"
                                f" {', '.join(taken)}: growth not judged by this resource"
                                " alone (its tier policy moves data on)")
        elif not sum(_daily_volume(inventory.workloads[n]) for n in mine):
            notes[alone].append("nothing new lands on it: its growth follows its sources")
    targets = [*resource_targets.values(), *stream_targets]
    result = _fit(inventory, targets, notes,
                  lambda inv: simulate(inv, years=window / 365, start=first, seed=seed,
                                       procurement=False).resources)
    simulated, observed, scales, calibrated_growth = result
    workloads = dict(inventory.workloads)
    for t, k in scales.items():
        for n in t.workloads:
            workloads[n] = _scaled(workloads[n], k)

    found = []
    for ref, readings in usable.items():
        t = resource_targets[ref]
        names = landing.get(ref, [])
        growth = observed[t] if t in scales else simulated[t]
        capacity = sizing.resource(ref).effective
        level = readings[-1].used_bytes + growth * ((start - readings[-1].day).days - 1)
        level = round(min(max(level, 0.0), float(capacity)))
        if readings[-1].used_bytes > capacity:
            notes[t].append(f"the history holds more than its capacity"
                            f" ({capacity:,} bytes): it starts full")
        held = sizing.resource(ref).used
        stored = sum(inventory.workloads[n].stored for n in names)
        shift = level - held
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
            notes[t].append("level left as the inventory's")
        elif start_bytes != level:
            notes[t].append("the copies replication keeps there alone hold more than the"
                            " history: its workloads start with nothing stored")
        found.append(Calibration(ref, readings[0].day, readings[-1].day, len(readings), held,
                                 readings[-1].used_bytes, simulated[t], observed[t],
                                 scales.get(t), calibrated_growth[t], start_bytes,
                                 tuple(names), tuple(notes[t])))
    calibrated_streams = tuple(
        StreamCalibration(t.name.split(" ")[0], t.resources,
                          first + dt.timedelta(days=t.days[0]),
                          first + dt.timedelta(days=t.days[-1]), len(t.days), simulated[t],
                          observed[t], scales.get(t), calibrated_growth[t], t.workloads,
                          tuple(notes[t]))
        for t in stream_targets)
    calibrated = inventory.model_copy(update={"workloads": workloads})
    return Calibrated(calibrated, start, tuple(found), tuple(skipped), calibrated_streams)


def _fit(inventory: Inventory, targets: Sequence[_Target], notes: dict[_Target, list[str]],
         play: Callable[[Inventory], Mapping[str, ResourceSeries]]
         ) -> tuple[dict[_Target, float], dict[_Target, float], dict[_Target, float],
                    dict[_Target, float]]:
    """The growth factor of each target's workloads: the reference run's net growth, the
    history's, the factors found and the growth they play (steps 1 and 2 of the method)."""

    def reference(inv: Inventory) -> dict[_Target, float]:
        """Each target's net growth in the inventory played over the history window."""
        played = play(inv)
        return {t: _slope(t.days, [sum(played[ref].used[d] for ref in t.resources)
                                   for d in t.days]) for t in targets}

    def scaled(factors: Mapping[_Target, float]) -> Inventory:
        workloads = dict(inventory.workloads)
        for t, factor in factors.items():
            for n in t.workloads:
                workloads[n] = _scaled(workloads[n], factor)
        return inventory.model_copy(update={"workloads": workloads})

    def volume(t: _Target) -> float:
        return sum(_daily_volume(inventory.workloads[n]) for n in t.workloads)

    observed = {t: _slope(t.days, t.values) for t in targets}
    simulated = reference(inventory)
    fitted = []
    for t in targets:
        if not volume(t):
            continue  # the caller says why
        if simulated[t] <= FLAT * volume(t):
            notes[t].append(
                "not driven by what lands there in the simulation (held flat by its tier"
                " policy, or shrinking by retention): growth left as the inventory's")
        else:
            fitted.append(t)

    # Is the growth driven by what lands there?  A quarter more must add about a quarter
    # of it a day; a tier its policy drains at a watermark keeps no more for it.  (Not
    # double: twice the ingest can fill a tier, whose refusals would pass for draining.)
    response: dict[_Target, float] = {}
    if fitted:
        probed = reference(scaled(dict.fromkeys(fitted, PROBE)))
        for t in fitted:
            added = probed[t] - simulated[t]
            if added < RESPONSE * (PROBE - 1) * volume(t):
                notes[t].append(
                    f"its growth does not follow what lands there ({PROBE - 1:.0%} more of"
                    f" the {volume(t) / 1e12:.2f} TB a day adds {added / 1e12:.2f} TB a"
                    " day: its tier policy moves the rest on): growth left as the"
                    " inventory's, level from the history")
            else:
                response[t] = added / (PROBE - 1)

    # Net growth is ingest less what moves on or expires, which is older data the factor
    # does not touch: growth = k x response + what leaves, not k x growth.  So each factor
    # is a secant step from the last plays (the first from the probe), at most x2 a step,
    # keeping the factor that came closest (1, the inventory's, among them).
    scales: dict[_Target, float] = {}
    last: dict[_Target, tuple[float, float]] = {}
    for t in fitted:
        if t not in response:
            continue
        scales[t] = max(0.0, 1 + (observed[t] - simulated[t]) / response[t])
        last[t] = (1.0, simulated[t])
        if scales[t] == 0:
            notes[t].append("the history shrinks: no new data assumed")
    calibrated_growth = dict(simulated)
    best = {t: (abs(simulated[t] - observed[t]), 1.0, simulated[t]) for t in scales}
    for _ in range(ITERATIONS if scales else 0):
        played = reference(scaled(scales))
        for t, k in scales.items():
            best[t] = min(best[t], (abs(played[t] - observed[t]), k, played[t]))
        off = {t for t, k in scales.items() if k > 0
               and abs(played[t] - observed[t]) > TOLERANCE * abs(observed[t])}
        if not off:
            break
        for t in off:
            k, (k0, g0) = scales[t], last[t]
            if abs(k - k0) > 1e-9 and (played[t] - g0) / (k - k0) > 0:
                response[t] = (played[t] - g0) / (k - k0)
            last[t] = (k, played[t])
            step = k + (observed[t] - played[t]) / response[t]
            scales[t] = min(2 * k, max(0.5 * k, step))
    for t, (error, k, growth) in best.items():
        scales[t], calibrated_growth[t] = k, growth
        if error > TOLERANCE * abs(observed[t]) and observed[t]:
            notes[t].append(
                "the simulation cannot play the history's growth there (its tier policy"
                " drains what lands, or it fills): the closest it came is kept")
    return simulated, observed, scales, calibrated_growth
