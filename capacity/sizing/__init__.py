"""Pure capacity maths: raw -> usable -> effective for pools, clusters and object stores,
what each holds today, and the rack space and power each site takes.  No I/O; imports only
the model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from capacity.model import Inventory, Thresholds
from capacity.model.inventory import ResourceKind
from capacity.sizing.array import ArraySizing, PoolSizing, TierSizing, size_array, size_pool
from capacity.sizing.common import floor_times, lookup
from capacity.sizing.footprint import SiteFootprint, site_footprints
from capacity.sizing.hci import (
    STORAGE_POLICIES,
    ClusterSizing,
    StoragePolicySpec,
    size_cluster,
    storage_policy_spec,
)
from capacity.sizing.objects import ObjectStoreSizing, size_object_store
from capacity.sizing.usage import used_by_resource

Level = Literal["warning", "critical"]


@dataclass(frozen=True)
class ResourceSizing:
    """A storage resource as the planner sees it: how big, and how full.

    ``raw`` is every drive (spares included), ``usable`` what remains after RAID or storage
    policy, reserves and pool overhead, ``effective`` what it can hold after data reduction
    (equal to ``usable`` where there is none), and ``used`` what it holds today."""

    ref: str
    kind: ResourceKind
    site: str
    raw: int
    usable: int
    effective: int
    used: int
    thresholds: Thresholds

    @property
    def free(self) -> int:
        return self.effective - self.used

    @property
    def fill(self) -> float:
        """Used share of effective capacity (inf when something sits on no capacity)."""
        if self.effective:
            return self.used / self.effective
        return float("inf") if self.used else 0.0

    def headroom(self, level: Level) -> int:
        """Bytes that can still be added before the fill reaches the threshold ``level``;
        negative once past it."""
        if level not in ("warning", "critical"):
            raise ValueError(f"no threshold named {level!r}: use 'warning' or 'critical'")
        return floor_times(self.effective, getattr(self.thresholds, level)) - self.used


@dataclass(frozen=True)
class EstateSizing:
    resources: list[ResourceSizing]
    """In ``Inventory.resource_names()`` order."""
    arrays: dict[str, ArraySizing]
    pools: dict[str, PoolSizing]
    """Keyed by 'ARRAY/POOL'."""
    clusters: dict[str, ClusterSizing]
    object_stores: dict[str, ObjectStoreSizing]
    sites: dict[str, SiteFootprint]

    def resource(self, ref: str) -> ResourceSizing:
        return lookup({r.ref: r for r in self.resources}, ref, "storage resource")


def size_estate(inventory: Inventory) -> EstateSizing:
    arrays = {name: size_array(inventory, name) for name in inventory.arrays}
    pools = {pool.ref: pool for array in arrays.values() for pool in array.pools.values()}
    clusters = {name: size_cluster(inventory, name) for name in inventory.clusters}
    stores = {name: size_object_store(inventory, name) for name in inventory.object_stores}
    used = used_by_resource(inventory)

    resources = [
        *(ResourceSizing(ref, "pool", arrays[ref.partition("/")[0]].site,
                         raw=p.raw + p.spare_raw, usable=p.capacity, effective=p.effective,
                         used=used[ref], thresholds=p.thresholds) for ref, p in pools.items()),
        *(ResourceSizing(name, "cluster", c.site, raw=c.raw, usable=c.usable,
                         effective=c.usable, used=used[name], thresholds=c.thresholds)
          for name, c in clusters.items()),
        *(ResourceSizing(name, "object_store", s.site, raw=s.raw, usable=s.usable,
                         effective=s.usable, used=used[name], thresholds=s.thresholds)
          for name, s in stores.items()),
    ]
    return EstateSizing(resources=resources, arrays=arrays, pools=pools, clusters=clusters,
                        object_stores=stores, sites=site_footprints(inventory))


__all__ = [
    "STORAGE_POLICIES", "ArraySizing", "ClusterSizing", "EstateSizing", "Level",
    "ObjectStoreSizing", "PoolSizing", "ResourceSizing", "SiteFootprint", "StoragePolicySpec",
    "TierSizing", "site_footprints", "size_array", "size_cluster", "size_estate",
    "size_object_store", "size_pool", "storage_policy_spec", "used_by_resource",
]
