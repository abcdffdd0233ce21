"""A live array beside the inventory: what differs (the drift, named), and an inventory
fragment written from what the array reports (import).  Pure: the array's state is read by
:mod:`capacity.transports.vsp`; nothing here touches a host.

Pools are matched by the inventory's ``pool_id``, else by name (the array's ``poolName``).
Tiers are matched by position: the inventory lists a pool's tiers fastest first, and the
array numbers them from 1, the fastest.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from capacity.model import Array, Inventory
from capacity.model.estate import Pool as DeclaredPool
from capacity.model.hardware import Catalog, RaidLayout
from capacity.transports.vsp import ArrayState, ParityGroup
from capacity.transports.vsp import Pool as LivePool

CAPACITY_TOLERANCE = 0.05
"""A pool's capacity on the array may differ this much from the inventory's sizing (page
and metadata overheads differ by model and firmware) before it is named as drift."""


@dataclass(frozen=True)
class TierView:
    number: int
    """The array's tier number (1 fastest); the inventory's tier at that position."""
    declared_name: str | None
    declared_groups: int
    declared_raid: tuple[str, ...]
    live_groups: tuple[ParityGroup, ...]
    live_total_bytes: int | None
    live_used_bytes: int | None


@dataclass(frozen=True)
class PoolView:
    name: str
    """The inventory's name, or the array's ``poolName`` for a pool not in the inventory."""
    declared: DeclaredPool | None
    live: LivePool | None
    tiers: tuple[TierView, ...]
    inventory_used_ratio: float | None
    inventory_capacity_bytes: int | None
    drift: tuple[str, ...]


@dataclass(frozen=True)
class ArrayView:
    name: str
    endpoint: str
    pools: tuple[PoolView, ...]
    drift: tuple[str, ...] = field(default=())


def _percent(ratio: float) -> int:
    return round(ratio * 100)


def find_pool(live: Iterable[LivePool], name: str, pool: DeclaredPool) -> LivePool | None:
    """The array's pool that the inventory's pool ``name`` is: by its ``pool_id``, else by
    name."""
    if pool.pool_id is not None:
        return next((p for p in live if p.pool_id == pool.pool_id), None)
    return next((p for p in live if p.name == name), None)


def compare(name: str, inventory: Inventory, state: ArrayState) -> ArrayView:
    """Every pool of the inventory's array ``name`` beside the array's, with the drift."""
    from capacity.sizing import size_estate

    array = inventory.arrays[name]
    sized = {r.ref: r for r in size_estate(inventory).resources}
    views: list[PoolView] = []
    matched: set[int] = set()
    for pool_name, pool in array.pools.items():
        live = find_pool(state.pools, pool_name, pool)
        resource = sized.get(f"{name}/{pool_name}")
        fill = resource.fill if resource is not None else None
        capacity = resource.usable if resource is not None else None
        if live is not None:
            matched.add(live.pool_id)
        views.append(_pool_view(pool_name, pool, live, state, fill, capacity))
    for live in state.pools:
        if live.pool_id not in matched:
            views.append(PoolView(
                live.name, None, live, _tiers(None, live, state), None, None,
                (f"pool {live.name} (poolId {live.pool_id}, {live.type}): on the array, not"
                 " in the inventory",)))
    return ArrayView(name, state.endpoint, tuple(views),
                     tuple(line for view in views for line in view.drift))


def _tiers(pool: DeclaredPool | None, live: LivePool | None,
           state: ArrayState) -> tuple[TierView, ...]:
    by_number = state.tier_parity_groups(live) if live is not None else {}
    live_tiers = {t.number: t for t in live.tiers} if live is not None else {}
    declared = pool.tiers if pool is not None else []
    count = max(len(declared), max(by_number, default=0), max(live_tiers, default=0))
    out = []
    for number in range(1, count + 1):
        tier = declared[number - 1] if number <= len(declared) else None
        live_tier = live_tiers.get(number)
        total = live_tier.total_bytes if live_tier is not None else (
            live.total_bytes if live is not None and not live.tiers and number == 1 else None)
        used = live_tier.used_bytes if live_tier is not None else (
            live.used_bytes if live is not None and not live.tiers and number == 1 else None)
        out.append(TierView(
            number, tier.name if tier else None,
            sum(pg.count for pg in tier.parity_groups) if tier else 0,
            tuple(sorted({pg.raid for pg in tier.parity_groups})) if tier else (),
            tuple(by_number.get(number, ())), total, used))
    return tuple(out)


def _pool_view(name: str, pool: DeclaredPool, live: LivePool | None, state: ArrayState,
               fill: float | None, capacity: int | None) -> PoolView:
    if live is None:
        how = f"poolId {pool.pool_id}" if pool.pool_id is not None else f"poolName {name}"
        return PoolView(name, pool, None, _tiers(pool, None, state), fill, capacity,
                        (f"pool {name}: in the inventory, the array has no pool with {how}",))
    drift: list[str] = []
    tiers = _tiers(pool, live, state)
    if live.type != pool.type:
        drift.append(f"the inventory says {pool.type}, the array {live.type}")
    live_tier_count = len(live.tiers) or 1
    if live_tier_count != len(pool.tiers):
        drift.append(f"the inventory has {len(pool.tiers)} tier(s), the array"
                     f" {live_tier_count}")
    for tier in tiers:
        label = f"tier {tier.number}" + (f" ({tier.declared_name})" if tier.declared_name
                                         else "")
        if tier.declared_groups != len(tier.live_groups):
            drift.append(f"the inventory has {tier.declared_groups} parity groups in {label},"
                         f" the array {len(tier.live_groups)}")
        live_raid = tuple(sorted({str(RaidLayout.parse(pg.raid_type))
                                  for pg in tier.live_groups}))
        if tier.declared_raid and live_raid and live_raid != tier.declared_raid:
            drift.append(f"{label}: the inventory's parity groups are"
                         f" {', '.join(tier.declared_raid)}, the array's {', '.join(live_raid)}")
    if fill is not None and _percent(live.used_ratio) != _percent(fill):
        drift.append(f"used {_percent(live.used_ratio)}%, the inventory says"
                     f" {_percent(fill)}%")
    for label, live_ratio, declared_ratio in (
            ("warning threshold", live.warning_ratio, pool.thresholds.warning),
            ("depletion threshold", live.depletion_ratio, pool.thresholds.critical)):
        if _percent(live_ratio) != _percent(declared_ratio):
            drift.append(f"{label} {_percent(live_ratio)}%, the inventory says"
                         f" {_percent(declared_ratio)}%")
    if capacity and abs(live.total_bytes - capacity) > CAPACITY_TOLERANCE * capacity:
        drift.append(f"capacity {live.total_bytes / 2**40:,.1f} TiB on the array, the"
                     f" inventory works out {capacity / 2**40:,.1f} TiB")
    prefix = f"pool {name}" + (f" (poolId {live.pool_id})" if live.name != name else "")
    return PoolView(name, pool, live, tiers, fill, capacity,
                    tuple(f"{prefix}: {line}" for line in drift))


def view_json(view: ArrayView) -> dict[str, Any]:
    """Plain data for ``--format json``: sizes in integer bytes, ratios as fractions."""
    return {
        "array": view.name, "endpoint": view.endpoint, "drift": list(view.drift),
        "pools": [{
            "name": p.name, "pool_id": p.live.pool_id if p.live else None,
            "in_inventory": p.declared is not None, "on_array": p.live is not None,
            "type": p.live.type if p.live else None,
            "status": p.live.status if p.live else None,
            "total_bytes": p.live.total_bytes if p.live else None,
            "used_bytes": p.live.used_bytes if p.live else None,
            "available_bytes": p.live.available_bytes if p.live else None,
            "used_ratio": p.live.used_ratio if p.live else None,
            "warning_ratio": p.live.warning_ratio if p.live else None,
            "depletion_ratio": p.live.depletion_ratio if p.live else None,
            "inventory": None if p.declared is None else {
                "type": p.declared.type,
                "capacity_bytes": p.inventory_capacity_bytes,
                "used_ratio": (None if p.inventory_used_ratio is None
                               else round(p.inventory_used_ratio, 6)),
                "warning_ratio": p.declared.thresholds.warning,
                "critical_ratio": p.declared.thresholds.critical},
            "tiers": [{
                "number": t.number, "inventory_name": t.declared_name,
                "inventory_parity_groups": t.declared_groups,
                "parity_groups": [g.group_id for g in t.live_groups],
                "total_bytes": t.live_total_bytes, "used_bytes": t.live_used_bytes,
            } for t in p.tiers],
            "drift": list(p.drift),
        } for p in view.pools],
    }


# --------------------------------------------------------------------------- import


_KINDS = {"ssd": ("sas-ssd", "nvme-ssd"), "nvme": ("nvme-ssd", "sas-ssd"),
          "sas": ("sas-10k",), "nl": ("nl-sas",)}


def drive_class(pg: ParityGroup) -> str:
    text = f"{pg.drive_type_name} {pg.drive_type}".upper()
    if "NVME" in text:
        return "nvme"
    if any(word in pg.drive_type_name.upper() for word in ("SSD", "FMD", "SCM", "FLASH")):
        return "ssd"
    if "NL" in pg.drive_type_name.upper() or "SATA" in pg.drive_type_name.upper():
        return "nl"
    return "sas"


def catalogue_drive(pg: ParityGroup, catalog: Catalog, prefer: str | None = None) -> str:
    """The catalogue's drive type for a parity group's drives: of the drive's class, the one
    whose capacity is nearest (by ratio) to the group's capacity per data drive.  ``prefer``
    (the inventory's own drive for that tier) wins when it is of the class and within 10%."""
    per_drive = pg.total_bytes / RaidLayout.parse(pg.raid_type).data
    kinds = _KINDS[drive_class(pg)]
    candidates = [(n, d) for n, d in catalog.drives.items() if d.kind in kinds]
    if not candidates:
        raise ValueError(f"the catalogue has no drive of kind {' or '.join(kinds)}")
    if prefer in catalog.drives and catalog.drives[prefer].kind in kinds and abs(
            math.log(catalog.drives[prefer].capacity / per_drive)) < math.log(1.1):
        return prefer
    return min(candidates, key=lambda c: (abs(math.log(c[1].capacity / per_drive)),
                                          kinds.index(c[1].kind), c[0]))[0]


def _drive_boxes_needed(pools: dict[str, Any], catalog: Catalog, model: str | None) -> int | None:
    """Drive boxes the pools' drives (parity groups and spares) need at least."""
    kind = catalog.arrays.get(model) if model else None
    if kind is None:
        return None
    tiers = [tier for pool in pools.values() for tier in pool["tiers"]]
    drives = sum(RaidLayout.parse(g["raid"]).width * g["count"] for tier in tiers
                 for g in tier["parity_groups"]) + sum(t.get("spares", 0) for t in tiers)
    beyond = max(0, drives - kind.controller_slots)
    return -(-beyond // kind.drive_box.slots)


def fragment(name: str, array: Array | None, state: ArrayState, catalog: Catalog, *,
             site: str | None = None, model: str | None = None,
             rest: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[str]]:
    """An inventory fragment (``arrays: {name: ...}``) of the array as it reports itself:
    its pools, their tiers with their parity groups (drives matched to the catalogue) and
    thresholds; site, model, drive boxes, REST endpoint, support, spares and a pool's
    volumes kept from the inventory (``array``, None for an array not in it yet), and
    ``site``, ``model`` and ``rest`` (the ``rest:`` entry's fields) given instead where they
    are given.  Also notes for the file's header: how each drive was matched, what was left
    out, what was kept."""
    notes: list[str] = []
    entry: dict[str, Any] = {"site": site or (array.site if array else None),
                             "model": model or (array.model if array else None)}
    if array is not None:
        entry["drive_boxes"] = array.drive_boxes
    by_id = {p.pool_id: n for n, p in (array.pools.items() if array else ()) if p.pool_id
             is not None}
    pools: dict[str, Any] = {}
    for live in state.pools:
        pool_name = by_id.get(live.pool_id, live.name)
        declared = array.pools.get(pool_name) if array else None
        if live.type not in ("HDP", "HDT"):
            notes.append(f"pool {live.name} (poolId {live.pool_id}) left out: type"
                         f" {live.type} is not one the inventory models (HDP, HDT)")
            continue
        tiers = []
        for number, groups in sorted(state.tier_parity_groups(live).items()):
            old = declared.tiers[number - 1] if declared and number <= len(
                declared.tiers) else None
            prefer = old.parity_groups[0].drive if old else None
            counted: dict[tuple[str, str], int] = {}
            for pg in groups:
                drive = catalogue_drive(pg, catalog, prefer)
                layout = str(RaidLayout.parse(pg.raid_type))
                counted[(drive, layout)] = counted.get((drive, layout), 0) + 1
                notes.append(f"parity group {pg.group_id} ({pg.drive_type_name}"
                             f" {pg.drive_type}, {pg.raid_type},"
                             f" {pg.total_bytes / RaidLayout.parse(pg.raid_type).data / 1e12:.2f}"
                             f" TB a data drive) -> {drive}")
            tier: dict[str, Any] = {
                "name": old.name if old else f"tier{number}-{drive_class(groups[0])}",
                "parity_groups": [{"drive": d, "raid": r, "count": c}
                                  for (d, r), c in counted.items()]}
            if old is not None and old.spares:
                tier["spares"] = old.spares
            elif old is None:
                notes.append(f"pool {pool_name} tier {number}: no spares written (the"
                             " inventory has no such tier, and spare drives are not read from"
                             " the array): add the tier's `spares:` by hand")
            tiers.append(tier)
        if not tiers:
            notes.append(f"pool {live.name} (poolId {live.pool_id}) left out: the array"
                         " names no parity group under it")
            continue
        pool: dict[str, Any] = {"pool_id": live.pool_id, "type": live.type, "tiers": tiers,
                                "thresholds": {"warning": f"{_percent(live.warning_ratio)}%",
                                               "critical": f"{_percent(live.depletion_ratio)}%"}}
        if declared is not None and declared.data_reduction.ratio != 1.0:
            pool["data_reduction"] = declared.data_reduction.model_dump(mode="json")
        if declared is not None and declared.volumes:
            # the array does not know when a volume was last written: kept, never rewritten
            pool["volumes"] = {label: volume.model_dump(mode="json", exclude_defaults=True)
                               for label, volume in declared.volumes.items()}
            notes.append(f"pool {pool_name}: its {len(declared.volumes)} volume(s) kept from"
                         " the inventory as they were")
        pools[pool_name] = pool
    entry["pools"] = pools
    boxes = _drive_boxes_needed(pools, catalog, entry["model"])
    if boxes is not None and boxes > entry.get("drive_boxes", 0):
        notes.append(f"drive_boxes {entry.get('drive_boxes', 0)} -> {boxes}: the parity groups"
                     " and spares need that many drive slots")
        entry["drive_boxes"] = boxes
    if rest is not None:
        entry["rest"] = rest
    elif array is not None and array.rest is not None:
        entry["rest"] = array.rest.model_dump(mode="json", exclude_none=True)
    if array is not None and array.support is not None:
        entry["support"] = array.support.model_dump(mode="json", exclude_defaults=True)
    order = ("site", "model", "drive_boxes", "pools", "rest", "support")
    return {"arrays": {name: {k: entry[k] for k in order if k in entry}}}, notes
