"""Small inventories for simulator tests, built in code with their own catalogue."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from capacity.model import Inventory

TB = 10**12

CATALOG: dict[str, Any] = {
    "drives": {
        "d10": {"kind": "nl-sas", "capacity": "10TB", "afr": "2%", "rebuild_rate": "100MB/s",
                "power_w": 10, "assumed": True},
    },
    "arrays": {
        "arr": {"family": "test", "controller_slots": 48,
                "drive_box": {"slots": 24, "rack_units": 2, "power_w": 400},
                "max_drive_boxes": 4, "max_drives": 144, "rack_units": 4, "power_w": 1000,
                "raid_layouts": ["7D+1P", "14D+2P"], "page_size": 1, "pool_overhead": 0,
                "assumed": True},
    },
    "nodes": {
        "n": {"family": "test", "cores": 32, "ram": "512GiB", "drive_bays": 12,
              "rack_units": 2, "power_w": 500, "assumed": True},
    },
}


def base(**sections: Any) -> dict[str, Any]:
    """An estate with one site and one array pool 'a/p' of 2 x 7D+1P on 10 TB drives:
    140 TB after RAID (page 1 byte and no pool overhead, so capacity is exactly that)."""
    data: dict[str, Any] = {
        "name": "sim test", "as_of": "2027-01-01", "catalog": copy.deepcopy(CATALOG),
        "sites": {"s": {"role": "primary", "racks": {"count": 2, "units": 42,
                                                     "power_kw": 20}}},
        "arrays": {"a": {"site": "s", "model": "arr", "pools": {"p": {
            "tiers": [{"name": "t", "parity_groups": [
                {"drive": "d10", "raid": "7D+1P", "count": 2}]}]}}}},
    }
    data.update(sections)
    return data


@pytest.fixture
def make():
    def build(data: dict[str, Any]) -> Inventory:
        return Inventory.model_validate(data)
    return build
