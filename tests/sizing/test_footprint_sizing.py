"""Rack units and power per site against the racks' budget."""

from __future__ import annotations

import pytest

from capacity.sizing import site_footprints


def test_site_sums_arrays_clusters_and_stores(make_inventory):
    inv = make_inventory(
        arrays={"ARR": make_inventory.pool_array([{"drive": "nl18", "raid": "14D+2P"}],
                                                 spares=2, drive_boxes=2)},
        clusters={"C": make_inventory.cluster(4, storage_policy="raid5-ftt1")},
        object_stores={"S": make_inventory.store("1PB", rack_units=6, power_w=2000)})
    footprints = site_footprints(inv)
    a = footprints["A"]
    # array 4U + 2 boxes x 4U = 12U; cluster 4 x 2U = 8U; store 6U: 12 + 8 + 6 = 26U
    # budget 2 racks x 42U = 84U; free 84 - 26 = 58U
    assert (a.rack_units, a.rack_units_budget, a.free_rack_units) == (26, 84, 58)
    # array 1500 + 2 x 400 + 18 drives x 8 W = 2,444 W; cluster 4 x (800 + 10 x 12) = 3,680 W;
    # store 2,000 W: 2,444 + 3,680 + 2,000 = 8,124 W; budget 2 x 10 kW = 20,000 W; free 11,876
    assert (a.power_w, a.power_budget_w, a.free_power_w) == (8_124, 20_000, 11_876)
    # site B has nothing: 0U of 1 x 42U, 0 W of 8,000 W
    b = footprints["B"]
    assert (b.rack_units, b.rack_units_budget, b.power_w, b.power_budget_w) == (0, 42, 0, 8_000)


def test_equipment_on_an_unknown_site(make_inventory):
    inv = make_inventory(object_stores={"S": make_inventory.store("1PB", site="Z")})
    with pytest.raises(ValueError, match="'S' stands at site 'Z'"):
        site_footprints(inv)
