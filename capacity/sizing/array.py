"""Block arrays: parity groups -> RAID data -> HDP pool capacity -> effective capacity.

Rules (docs DOMAIN.md, Hitachi VSP manuals):
- a parity group of layout ``nD+mP`` (or ``nD+nD`` mirrored) keeps ``n`` of its drives' worth
  of data; spare drives sit outside every parity group and hold no data;
- an HDP pool cuts its capacity into pages and keeps some for itself:
  ``capacity = floor(after_raid / page) x page - pool_overhead`` (42 MiB pages, 4,200 MiB);
- data reduction, when on, pays its metadata overhead first and then multiplies:
  ``effective = capacity x (1 - overhead) x ratio``; at 1:1 it is off and costs nothing.

Simplification: pages are counted over the whole pool, not per pool volume (LDEV), so the
rounding loss is at most one page per pool rather than one per pool volume.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from capacity.model import Array, Inventory, Pool, PoolTier, Thresholds
from capacity.model.hardware import ArrayModel
from capacity.sizing.common import exact, floor_times, lookup


@dataclass(frozen=True)
class TierSizing:
    """One tier of a pool.  ``drive`` is the tier's drive type (that of its first parity
    group), which is also the type of its spares."""

    name: str
    drive: str
    drives: int
    """Drives in parity groups (spares not included)."""
    spares: int
    raw: int
    """Capacity of the drives in parity groups."""
    spare_raw: int
    data: int
    """What the parity groups hold after RAID."""


@dataclass(frozen=True)
class PoolSizing:
    ref: str
    """'ARRAY/POOL'."""
    tiers: tuple[TierSizing, ...]
    raw: int
    """Drives in parity groups; spares are in ``spare_raw``."""
    spare_raw: int
    after_raid: int
    capacity: int
    """HDP pool capacity: whole pages less the pool's own overhead."""
    effective: int
    """What the pool can hold after data reduction."""
    thresholds: Thresholds


@dataclass(frozen=True)
class ArraySizing:
    name: str
    site: str
    model: str
    drives: int
    """Drives installed: parity-group drives and spares of every pool."""
    slots: int
    """Drive slots installed: chassis plus drive boxes, never above ``max_drives``."""
    max_drives: int
    rack_units: int
    power_w: float
    pools: dict[str, PoolSizing]
    """Keyed by pool name."""


def size_tier(inventory: Inventory, tier: PoolTier) -> TierSizing:
    drives_catalog = inventory.catalog.drives
    drives = raw = data = 0
    for group in tier.parity_groups:
        capacity = lookup(drives_catalog, group.drive, "drive type").capacity
        layout = group.layout
        drives += group.count * layout.width
        raw += group.count * layout.width * capacity
        data += group.count * layout.data * capacity
    drive = tier.parity_groups[0].drive
    spare_capacity = lookup(drives_catalog, drive, "drive type").capacity
    return TierSizing(name=tier.name, drive=drive, drives=drives, spares=tier.spares, raw=raw,
                      spare_raw=tier.spares * spare_capacity, data=data)


def hdp_capacity(after_raid: int, model: ArrayModel) -> int:
    """Whole pages less the pool overhead, never below zero."""
    pages = after_raid // model.page_size
    return max(0, pages * model.page_size - model.pool_overhead)


def effective_capacity(capacity: int, pool: Pool) -> int:
    reduction = pool.data_reduction
    if reduction.ratio == 1.0:
        return capacity  # reduction off: no metadata overhead either
    return floor_times(capacity, 1 - exact(reduction.overhead), reduction.ratio)


def size_pool(inventory: Inventory, array_name: str, pool_name: str) -> PoolSizing:
    array = _array(inventory, array_name)
    model = lookup(inventory.catalog.arrays, array.model, "array model")
    pool = lookup(array.pools, pool_name, f"pool in array {array_name!r}")
    tiers = tuple(size_tier(inventory, tier) for tier in pool.tiers)
    after_raid = sum(t.data for t in tiers)
    capacity = hdp_capacity(after_raid, model)
    return PoolSizing(ref=f"{array_name}/{pool_name}", tiers=tiers,
                      raw=sum(t.raw for t in tiers), spare_raw=sum(t.spare_raw for t in tiers),
                      after_raid=after_raid, capacity=capacity,
                      effective=effective_capacity(capacity, pool), thresholds=pool.thresholds)


def size_array(inventory: Inventory, name: str) -> ArraySizing:
    array = _array(inventory, name)
    model = lookup(inventory.catalog.arrays, array.model, "array model")
    box = model.drive_box
    counts = drive_counts(array)
    drive_power = sum(count * lookup(inventory.catalog.drives, drive, "drive type").power_w
                      for drive, count in counts.items())
    return ArraySizing(
        name=name, site=array.site, model=array.model, drives=sum(counts.values()),
        slots=min(model.controller_slots + array.drive_boxes * box.slots, model.max_drives),
        max_drives=model.max_drives,
        rack_units=model.rack_units + array.drive_boxes * box.rack_units,
        power_w=model.power_w + array.drive_boxes * box.power_w + drive_power,
        pools={pool: size_pool(inventory, name, pool) for pool in array.pools})


def drive_counts(array: Array) -> Counter[str]:
    """Drives installed in the array by drive type: parity-group members and spares."""
    counts: Counter[str] = Counter()
    for pool in array.pools.values():
        for tier in pool.tiers:
            for group in tier.parity_groups:
                counts[group.drive] += group.count * group.layout.width
            counts[tier.parity_groups[0].drive] += tier.spares
    return counts


def _array(inventory: Inventory, name: str) -> Array:
    return lookup(inventory.arrays, name, "array")
