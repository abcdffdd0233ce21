"""Small inventories for the sizing tests, with their hardware catalogue inline.

Figures are round numbers chosen so that expected values can be worked out by hand; they
are marked ``assumed`` because they describe no real product.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from capacity.model import Inventory

CATALOG: dict[str, dict[str, Any]] = {
    "drives": {
        # 18 TB nearline drive, 8 W
        "nl18": {"kind": "nl-sas", "capacity": "18TB", "afr": "1.5%",
                 "rebuild_rate": "105MB/s", "power_w": 8, "assumed": True},
        # 7.68 TB NVMe drive, 12 W
        "ssd768": {"kind": "nvme-ssd", "capacity": "7.68TB", "afr": "0.5%",
                   "rebuild_rate": "1GB/s", "power_w": 12, "assumed": True},
    },
    "arrays": {
        # 24 slots in the chassis (4U, 1500 W); boxes of 60 slots, 4U, 400 W; at most 384 drives
        "vsp": {"family": "VSP", "controller_slots": 24,
                "drive_box": {"slots": 60, "rack_units": 4, "power_w": 400},
                "max_drive_boxes": 8, "max_drives": 384, "rack_units": 4, "power_w": 1500,
                "raid_layouts": ["2D+2D", "4D+4D", "3D+1P", "7D+1P", "6D+2P", "14D+2P"],
                "assumed": True},
    },
    "nodes": {
        # 32 cores, 512 GiB, 2 GPUs, 12 bays, 2U, 800 W
        "hc": {"family": "HC", "cores": 32, "ram": "512GiB", "gpus": 2, "drive_bays": 12,
               "rack_units": 2, "power_w": 800, "assumed": True},
    },
}

SITES: dict[str, Any] = {
    # A: 2 racks of 42U and 10 kW each; B: 1 rack of 42U and 8 kW
    "A": {"role": "primary", "racks": {"count": 2, "units": 42, "power_kw": 10}},
    "B": {"role": "dr", "racks": {"count": 1, "units": 42, "power_kw": 8}},
}


class InventoryMaker:
    """Builds test inventories: call it with inventory sections; its helpers write the
    sections' common shapes.  Reached through the ``make_inventory`` fixture, so test
    modules never import this file."""

    def __call__(self, **sections: Any) -> Inventory:
        """An inventory of the given sections on sites A and B; ``catalog`` entries are
        added to (or replace) the default catalogue's."""
        data: dict[str, Any] = {"name": "test", "as_of": "2026-01-01",
                                "sites": copy.deepcopy(SITES),
                                "catalog": copy.deepcopy(CATALOG)}
        for part, entries in sections.pop("catalog", {}).items():
            data["catalog"][part].update(entries)
        data.update(sections)
        return Inventory.model_validate(data)

    @staticmethod
    def pool_array(groups: list[dict[str, Any]], *, site: str = "A", spares: int = 0,
                   drive_boxes: int = 0, **pool: Any) -> dict[str, Any]:
        """An array of model 'vsp' with one single-tier pool 'P'."""
        tier = {"name": "t1", "parity_groups": groups, "spares": spares}
        return {"site": site, "model": "vsp", "drive_boxes": drive_boxes,
                "pools": {"P": {"tiers": [tier], **pool}}}

    @staticmethod
    def drive(capacity: str | int, power_w: float = 10) -> dict[str, Any]:
        """A catalogue drive entry of the given capacity."""
        return {"kind": "nl-sas", "capacity": capacity, "afr": "1%",
                "rebuild_rate": "100MB/s", "power_w": power_w, "assumed": True}

    @staticmethod
    def cluster(nodes: int, **options: Any) -> dict[str, Any]:
        """A cluster of 'hc' nodes on site A, each with 10 x 7.68 TB capacity drives."""
        return {"site": "A", "node_model": "hc", "nodes": nodes,
                "drives": {"drive": "ssd768", "count": 10}, **options}

    @staticmethod
    def store(raw: str | int, *, site: str = "A", **options: Any) -> dict[str, Any]:
        """An object store keeping one copy unless ``protection`` says otherwise."""
        return {"site": site, "raw": raw, **options}


@pytest.fixture(scope="session")
def make_inventory() -> InventoryMaker:
    return InventoryMaker()
