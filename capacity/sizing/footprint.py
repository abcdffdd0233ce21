"""Rack space and power each site's equipment takes, against the site's rack budget."""

from __future__ import annotations

from dataclasses import dataclass

from capacity.model import Inventory
from capacity.sizing.array import ArraySizing, size_array
from capacity.sizing.hci import ClusterSizing, size_cluster
from capacity.sizing.objects import ObjectStoreSizing, size_object_store


@dataclass(frozen=True)
class SiteFootprint:
    site: str
    rack_units: int
    rack_units_budget: int
    """Racks x rack units per rack."""
    power_w: float
    power_budget_w: float
    """Racks x power per rack."""

    @property
    def free_rack_units(self) -> int:
        return self.rack_units_budget - self.rack_units

    @property
    def free_power_w(self) -> float:
        return self.power_budget_w - self.power_w


def site_footprints(inventory: Inventory) -> dict[str, SiteFootprint]:
    """Every site of the inventory (empty ones too) with its arrays, clusters and stores."""
    units = dict.fromkeys(inventory.sites, 0)
    power = dict.fromkeys(inventory.sites, 0.0)
    equipment: list[ArraySizing | ClusterSizing | ObjectStoreSizing] = [
        *(size_array(inventory, name) for name in inventory.arrays),
        *(size_cluster(inventory, name) for name in inventory.clusters),
        *(size_object_store(inventory, name) for name in inventory.object_stores),
    ]
    for item in equipment:
        if item.site not in units:
            raise ValueError(f"{item.name!r} stands at site {item.site!r}, which the inventory"
                             f" does not list (sites: {', '.join(inventory.sites)})")
        units[item.site] += item.rack_units
        power[item.site] += item.power_w
    return {
        name: SiteFootprint(site=name, rack_units=units[name],
                            rack_units_budget=site.racks.count * site.racks.units,
                            power_w=power[name],
                            power_budget_w=site.racks.count * site.racks.power_kw * 1000)
        for name, site in inventory.sites.items()}
