"""Warnings: parts of a valid inventory that silently do nothing, or less than they seem to.

``capacity.checks`` finds what is wrong (exit 2); this module finds what is allowed but
probably not meant: growth on a workload that ingests nothing, a procurement rule that can
never order, a tier rule that an earlier rule always beats.  Each finding is a path and a
message saying what happens instead; the loader turns the path into FILE:LINE:COL.  The
checks run only once ``capacity.checks`` found nothing, so every reference resolves here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from capacity.checks import Finding
from capacity.model import (
    Inventory,
    Policy,
    Procurement,
    Route,
    Selection,
    Thresholds,
    Workload,
)
from capacity.model.scenario import (
    AddWorkload,
    Migrate,
    ScaleDemand,
    Scenario,
    SetCompression,
    SetGrowth,
)
from capacity.problems import PathKey
from capacity.sizing import size_array, size_estate
from capacity.sizing.usage import copy_size
from capacity.units import format_days, format_ratio, format_size


def inventory_warnings(inv: Inventory, scenarios: Sequence[Scenario] = ()) -> list[Finding]:
    """Every warning about ``inv``; workloads that ``scenarios`` add count as naming their
    policies."""
    added = [e.workload for s in scenarios for e in s.events if isinstance(e, AddWorkload)]
    named = {wl.policy for wl in [*inv.workloads.values(), *added] if wl.policy}
    # What each policy's moves take data off: every procurement rule is checked against it.
    drained = {name: {r.source for r in inv.routes(policy) if r.target is not None}
               for name, policy in inv.policies.items()}
    return [
        *(f for name, wl in inv.workloads.items()
          for f in workload_warnings(inv, ("workloads", name), wl)),
        *_thresholds(inv),
        *(f for name, policy in inv.policies.items()
          for f in _policy(inv, ("policies", name), policy, name in named)),
        *(f for name, rule in inv.procurement.items()
          for f in _procurement(inv, ("procurement", name), rule, drained)),
        *_replications(inv),
        *_waited_for(inv, scenarios),
        *_unsupported(inv),
    ]


def _unsupported(inv: Inventory) -> Iterator[Finding]:
    """Support that ends with no refresh priced: the hardware runs on unsupported."""
    sections = {**{n: "arrays" for n in inv.arrays}, **{n: "clusters" for n in inv.clusters},
                **{n: "object_stores" for n in inv.object_stores}}
    for name, support in inv.contracts():
        if support.ends is not None and not support.refresh_cost:
            yield ((sections[name], name, "support", "ends"),
                   f"support ends {support.ends} and no refresh_cost is given: the plan"
                   " buys no replacement and it runs on unsupported")


def _waited_for(inv: Inventory, scenarios: Sequence[Scenario]) -> Iterator[Finding]:
    """A copy that starts after a migration wave no scenario of the run has never starts."""
    waves = {e.name for s in scenarios for e in s.events if isinstance(e, Migrate)}
    for name, rep in inv.replications.items():
        if rep.start_after is not None and rep.start_after not in waves:
            yield (("replications", name, "start_after"),
                   f"no scenario of this run migrates a wave named {rep.start_after!r}: the"
                   " copy does not start" + (f" (waves: {', '.join(sorted(waves))})"
                                             if waves else ""))


def scenario_warnings(inv: Inventory, scenario: Scenario) -> list[Finding]:
    """Events that change nothing, and workloads a scenario adds (``inv`` has its changes)."""
    found: list[Finding] = []
    workloads = dict(inv.workloads)
    for i, event in enumerate(scenario.events):
        at: PathKey = ("events", i)
        match event:
            case AddWorkload(name=name, workload=wl, on=on):
                # Its start defaults to the event's day (capacity.sim.events).
                wl = wl if wl.start is not None else wl.model_copy(update={"start": on})
                found += workload_warnings(inv, (*at, "workload"), wl)
                workloads[name] = wl
            case SetGrowth(workload=name) | ScaleDemand(workload=name):
                wl = workloads[name]
                if not _ingests(wl):
                    found.append(((*at, "workload"), f"{name!r} ingests nothing (no per_year,"
                                  f" no drivers): {event.action} changes nothing"))
            case SetCompression(workload=name, modality=modality):
                modalities = [d.modality for d in workloads[name].drivers]
                if not modalities:
                    found.append(((*at, "workload"), f"{name!r} has no drivers:"
                                  " set_compression changes nothing"))
                elif modality is not None and modality not in modalities:
                    found.append(((*at, "modality"), f"no driver of {name!r} has modality"
                                  f" {modality!r} (it has: {', '.join(modalities)}):"
                                  " nothing changes"))
    return found


# --- how policies run on storage ------------------------------------------------------

def reach(wl: Workload, plan: Iterable[Route]) -> set[str]:
    """Where a workload's data can get to: where it lands, and on through the moves."""
    plan = list(plan)
    places = {wl.lands_on}
    grown = True
    while grown:
        more = {r.target for r in plan if r.source in places and r.target}
        grown = not more <= places
        places |= more
    return places


DEFAULT_OLDEST_DAYS = 5 * 365


def assumed_ages(inv: Inventory, wl: Workload) -> tuple[int, int]:
    """The ages the simulator gives stored data without ``stored_ages`` (as
    capacity.sim.workloads.backlog_ages does): from new up to the first age at which a rule
    takes data off where it lands, else the retention, else five years."""
    oldest = wl.retention or DEFAULT_OLDEST_DAYS
    policy = inv.policies.get(wl.policy) if wl.policy else None
    for host in policy.hosts if policy else ():
        tiers = inv.hosts[host].tiers
        for rule in policy.rules if policy else ():
            tier = tiers.get(rule.source)
            if tier is not None and tier.storage == wl.lands_on and rule.select.older_than:
                oldest = min(oldest, rule.select.older_than)
    return 0, oldest


def _ingests(wl: Workload) -> bool:
    return bool(wl.drivers or wl.per_year)


# --- workloads --------------------------------------------------------------------------

def workload_warnings(inv: Inventory, at: PathKey, wl: Workload) -> Iterator[Finding]:
    if wl.growth and not _ingests(wl):
        yield (*at, "growth"), ("growth applies to data that arrives, and this workload"
                                " ingests nothing (no per_year, no drivers): its stored data"
                                " stays as it is; give per_year or drivers")
    if wl.ramp and wl.start is None:
        yield (*at, "ramp"), ("the ramp counts from start, and there is none: the workload"
                              " runs at full volume from the first day; give start")
    if wl.stored_ages is not None and not wl.stored:
        yield (*at, "stored_ages"), "describes stored data, and the workload stores none"
    policy = inv.policies.get(wl.policy) if wl.policy else None
    acting: list[Route] = []
    if policy is not None:
        plan = inv.routes(policy)
        places = reach(wl, plan)
        acting = [r for r in (*plan, *inv.copies(policy)) if r.source in places]
        if not acting:
            sources = sorted({r.source for r in (*plan, *inv.copies(policy))})
            behind = (f"its rules take from {', '.join(sources)}" if sources else
                      "its hosts' tiers name no storage")
            yield (*at, "policy"), (f"policy {wl.policy!r} never acts on this workload's data,"
                                    f" which lands on {wl.lands_on}: {behind}")
    by_age = [f"{r.rule.name} ({format_days(r.age)})" for r in acting if r.age]
    if wl.stored and wl.stored_ages is None and (by_age or wl.retention is not None):
        youngest, oldest = assumed_ages(inv, wl)
        what = [f"rule{'s' if len(by_age) > 1 else ''} {', '.join(by_age)}"] if by_age else []
        if wl.retention is not None:
            what.append(f"the retention ({format_days(wl.retention)})")
        act = "act" if len(by_age) + (wl.retention is not None) > 1 else "acts"
        yield (*at, "stored"), (f"no stored_ages: the simulator takes the {format_size(wl.stored)}"
                                f" as {format_days(youngest)} to {format_days(oldest)} old,"
                                f" spread by month, and {' and '.join(what)} {act} on its age;"
                                " give stored_ages as the data really is")
    if wl.retention is not None:
        late = [r for r in acting if r.age > wl.retention]
        for r in late:
            yield (*at, "retention"), (f"data expires at {format_days(wl.retention)}, before"
                                       f" rule {r.rule.name!r} takes it at"
                                       f" {format_days(r.age)}: the rule never acts on it")
        if policy is not None and policy.retention > wl.retention and not late:
            yield (*at, "retention"), (f"policy {wl.policy!r} keeps data"
                                       f" {format_days(policy.retention)} (its retention), but"
                                       f" this workload's data expires at"
                                       f" {format_days(wl.retention)}")


# --- thresholds -----------------------------------------------------------------------

def _all_thresholds(inv: Inventory) -> Iterator[tuple[PathKey, Thresholds]]:
    for name, cl in inv.clusters.items():
        yield ("clusters", name, "thresholds"), cl.thresholds
    for name, arr in inv.arrays.items():
        for pool_name, pool in arr.pools.items():
            yield ("arrays", name, "pools", pool_name, "thresholds"), pool.thresholds
    for name, store in inv.object_stores.items():
        yield ("object_stores", name, "thresholds"), store.thresholds


def _thresholds(inv: Inventory) -> Iterator[Finding]:
    # warning > critical is an error (the model refuses it); equal ones are allowed but
    # the warning then never comes first.
    for at, t in _all_thresholds(inv):
        if t.warning == t.critical:
            yield (*at, "warning"), (f"equals the critical threshold ({format_ratio(t.critical)}):"
                                     " it gives no notice before critical; set it lower")


def resource_thresholds(inv: Inventory, ref: str) -> Thresholds:
    """Of a pool 'ARRAY/POOL', a cluster or an object store."""
    if "/" in ref:
        return inv.pool(ref).thresholds
    if ref in inv.clusters:
        return inv.clusters[ref].thresholds
    return inv.object_stores[ref].thresholds


# --- policies ---------------------------------------------------------------------------

def _policy(inv: Inventory, at: PathKey, policy: Policy, named: bool) -> Iterator[Finding]:
    plan = inv.routes(policy)
    if (plan or inv.copies(policy)) and not named:
        yield at, ("no workload names this policy (a workload's 'policy'): the simulator"
                   " moves and expires no data by it")
    moves = [r for r in plan if r.target is not None]
    if policy.trigger is not None:
        if not any(r.action == "move" for r in policy.rules):
            yield (*at, "trigger"), "starts and stops move rules, and the policy has none"
        high = policy.trigger.high
        for source in dict.fromkeys(r.source for r in moves):
            critical = resource_thresholds(inv, source).critical
            if high >= critical:
                yield (*at, "trigger", "high"), (
                    f"moves off {source} start only above {format_ratio(high)}, at or past"
                    f" its critical threshold ({format_ratio(critical)}): it reaches critical"
                    " before tiering makes room; lower the watermarks or raise the thresholds")
    if (policy.retention and policy.lock is None
            and not any(r.action == "expire" for r in policy.rules)):
        yield (*at, "retention"), ("holds back expire rules only, and the policy has none:"
                                   " nothing expires by it (a workload's own retention"
                                   " expires its data)")
    for i, hold in enumerate(policy.holds):
        for j, pattern in enumerate(hold.paths):
            if not policy.unit.depth or pattern.count("/") < policy.unit.depth:
                continue
            yield (*at, "holds", i, "paths", j), (
                f"{pattern!r} names something inside a unit (units are {policy.unit.depth}"
                " folder(s) deep): the hold keeps the whole unit that contains it")
        if hold.until is not None and hold.until < inv.as_of:
            yield (*at, "holds", i, "until"), (f"the hold lapsed on {hold.until}, before the"
                                               f" inventory's as_of ({inv.as_of}): it holds"
                                               " nothing")
    for i, rule in enumerate(policy.rules):
        empty = _selects_nothing(rule.select)
        if empty:
            yield (*at, "rules", i, "select"), f"selects no unit: {empty}"
            continue
        first = next((earlier for earlier in policy.rules[:i]
                      if earlier.source == rule.source
                      and _covers(earlier.select, rule.select)), None)
        if first is not None:
            yield (*at, "rules", i), (f"never chooses a unit: rule {first.name!r} comes first,"
                                      f" takes from {rule.source!r} too and selects every unit"
                                      " this one does (the first matching rule wins)")


def _selects_nothing(s: Selection) -> str:
    """Why a selection matches no unit at all ('' when it may match some)."""
    if s.larger_than is not None and s.smaller_than is not None and (
            s.smaller_than <= s.larger_than + 1):
        return (f"no unit is larger than {format_size(s.larger_than)} and smaller than"
                f" {format_size(s.smaller_than)}")
    if any(p.strip("*") == "" for p in s.exclude):
        return "an exclude pattern of '*' rules out every unit"
    return ""


def _covers(a: Selection, b: Selection) -> bool:
    """Whether every unit ``b`` selects is selected by ``a`` too (judged on the conditions
    alone, so a False may still overlap)."""
    age = (a.older_than is None or (a.age_of == b.age_of
                                    and a.older_than <= (b.older_than or 0)))
    larger = a.larger_than is None or (b.larger_than is not None
                                       and a.larger_than <= b.larger_than)
    smaller = a.smaller_than is None or (b.smaller_than is not None
                                         and a.smaller_than >= b.smaller_than)
    paths = not a.paths or (bool(b.paths) and set(b.paths) <= set(a.paths))
    return age and larger and smaller and paths and set(a.exclude) <= set(b.exclude)


# --- procurement ------------------------------------------------------------------------

def _procurement(inv: Inventory, at: PathKey, rule: Procurement,
                 drained: dict[str, set[str]]) -> Iterator[Finding]:
    """What capacity.sim.procurement would do with the rule: never order, or not as written."""
    if rule.max_units == 0:
        yield (*at, "max_units"), "is 0: the rule never orders anything"
    if rule.units_per_order == 0:
        yield (*at, "units_per_order"), "0 is taken as 1: each order is of whole units"
    if rule.capacity is not None and rule.unit != "raw":
        yield (*at, "capacity"), (f"is read for 'raw' units only: what a {rule.unit} adds is"
                                  " worked out from the hardware")
    if rule.unit == "array":
        yield (*at, "unit"), ("the simulator never orders whole arrays (a new array is a"
                              " planner's decision): the rule is never used")
    elif rule.unit == "drive-box":
        yield from _drive_box(inv, at, rule)
    elif rule.unit == "parity-group":
        yield from _parity_group(inv, at, rule)
    if rule.unit in ("node", "parity-group", "raw") and rule.reorder_at is not None:
        ref = "/".join(rule.resource.split("/")[:2])
        t = resource_thresholds(inv, ref)
        if rule.reorder_at == 0:
            yield (*at, "reorder_at"), (f"0% is read as unset: orders come at {ref}'s warning"
                                        f" threshold ({format_ratio(t.warning)})")
        elif rule.reorder_at > 1:
            yield (*at, "reorder_at"), (f"{format_ratio(rule.reorder_at)} is beyond full:"
                                        f" {ref} is full before the rule orders")
        elif rule.reorder_at >= t.critical:
            yield (*at, "reorder_at"), (f"{format_ratio(rule.reorder_at)} is at or past {ref}'s"
                                        f" critical threshold ({format_ratio(t.critical)}):"
                                        " orders come only once it is projected past critical")
    if rule.unit in ("node", "parity-group", "raw"):
        yield from _reorder_under_watermark(inv, at, rule, drained)


def _reorder_under_watermark(inv: Inventory, at: PathKey, rule: Procurement,
                             drained: dict[str, set[str]]) -> Iterator[Finding]:
    """A tier drained to a watermark is kept near ``high`` full whatever its size: a rule
    that orders at or below ``high`` buys capacity that tiering lets fill again.
    ``drained``: policy -> the resources its moves take data off."""
    ref = "/".join(rule.resource.split("/")[:2])
    thresholds = resource_thresholds(inv, ref)
    reorder = rule.reorder_at or thresholds.warning
    for name, policy in inv.policies.items():
        trigger = policy.trigger
        # A high at or past critical is warned about at the policy, with this fix in it.
        if (trigger is None or not reorder <= trigger.high < thresholds.critical
                or ref not in drained[name]):
            continue
        yield (*at, "reorder_at" if rule.reorder_at else "resource"), (
            f"orders at {format_ratio(reorder)}, at or below policy {name!r}'s high watermark"
            f" ({format_ratio(trigger.high)}) on {ref}: tiering keeps {ref} near"
            f" {format_ratio(trigger.high)} full however much is bought, so every order fills"
            " up again; order above the high watermark, or lower the watermarks")


def _box_rule(inv: Inventory, array: str) -> bool:
    return any(r.unit == "drive-box" and r.resource == array and r.max_units != 0
               for r in inv.procurement.values())


def _drive_box(inv: Inventory, at: PathKey, rule: Procurement) -> Iterator[Finding]:
    array = inv.arrays[rule.resource]
    model = inv.catalog.arrays[array.model]
    groups = [r for r in inv.procurement.values()
              if r.unit == "parity-group" and r.resource.split("/")[0] == rule.resource]
    if not groups:
        yield (*at, "unit"), (f"drive boxes are bought only along with parity groups, and no"
                              f" parity-group rule expands {rule.resource}: the rule never"
                              " orders")
    elif (array.drive_boxes >= model.max_drive_boxes
          or size_array(inv, rule.resource).slots >= model.max_drives):
        yield (*at, "resource"), (f"{rule.resource} has all the drive slots a {array.model}"
                                  " takes: the rule never orders")


def _parity_group(inv: Inventory, at: PathKey, rule: Procurement) -> Iterator[Finding]:
    """A group that can never get the drive slots it needs never arrives."""
    array_name, pool_name, tier_name = rule.resource.split("/")
    array = inv.arrays[array_name]
    model = inv.catalog.arrays[array.model]
    tier = next(t for t in array.pools[pool_name].tiers if t.name == tier_name)
    group = tier.parity_groups[0]  # the simulator grows the tier's first group
    sized = size_array(inv, array_name)
    free = sized.slots - sized.drives
    if free >= group.layout.width:
        return
    most = min(model.max_drives, model.controller_slots
               + model.max_drive_boxes * model.drive_box.slots) - sized.drives
    if _box_rule(inv, array_name) and most >= group.layout.width:
        return
    why = ("and drive boxes would add too few" if _box_rule(inv, array_name)
           else "and no drive-box rule adds slots")
    yield (*at, "resource"), (f"a {group.raid} group needs {group.layout.width} drive slots;"
                              f" {array_name} has {max(0, free)} free {why}: the rule never"
                              " orders")


# --- replications -----------------------------------------------------------------------

def _replications(inv: Inventory) -> Iterator[Finding]:
    if not inv.replications:
        return
    estate = size_estate(inv)
    written: dict[str, int] = {}
    for wl in inv.workloads.values():
        written[wl.lands_on] = written.get(wl.lands_on, 0) + wl.stored
    # Copies join their target in inventory order; the one that overfills it is named, once.
    held = dict(written)
    full: set[str] = set()
    for name, rep in inv.replications.items():
        copy = copy_size(rep, written.get(rep.source, 0))
        held[rep.target] = held.get(rep.target, 0) + copy
        effective = estate.resource(rep.target).effective
        if held[rep.target] > effective and rep.target not in full:
            full.add(rep.target)
            yield ("replications", name, "target"), (
                f"the copy ({format_size(copy)}) does not fit: with it {rep.target} would hold"
                f" {format_size(held[rep.target])} in {format_size(effective)} effective on"
                f" {inv.as_of}")
