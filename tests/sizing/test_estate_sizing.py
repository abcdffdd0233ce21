"""The estate view: one ResourceSizing per storage resource, headroom and fill."""

from __future__ import annotations

import pytest

from capacity.model import Thresholds
from capacity.sizing import ResourceSizing, size_estate

TB = 10**12
GB = 10**9
MiB = 2**20


def store_estate(make_inventory, stored):
    return make_inventory(object_stores={"S": make_inventory.store("1PB")},
                          workloads={"w": {"lands_on": "S", "stored": stored}})


def test_headroom_to_warning_and_critical(make_inventory):
    s = size_estate(store_estate(make_inventory, "500TB")).resource("S")
    # object store default thresholds 80% / 90% of 1,000 TB effective, 500 TB used:
    # warning 800 - 500 = 300 TB; critical 900 - 500 = 400 TB; free 1,000 - 500 = 500 TB
    assert (s.headroom("warning"), s.headroom("critical")) == (300 * TB, 400 * TB)
    assert (s.free, s.fill) == (500 * TB, 0.5)


def test_headroom_goes_negative_past_the_threshold(make_inventory):
    s = size_estate(store_estate(make_inventory, "950TB")).resource("S")
    # 800 - 950 = -150 TB; 900 - 950 = -50 TB
    assert (s.headroom("warning"), s.headroom("critical")) == (-150 * TB, -50 * TB)
    with pytest.raises(ValueError, match="no threshold named 'full'"):
        s.headroom("full")  # type: ignore[arg-type]


def test_pool_headroom_uses_the_hdp_thresholds(make_inventory):
    inv = make_inventory(
        catalog={"drives": {"d": make_inventory.drive("14000MiB")}},
        arrays={"ARR": make_inventory.pool_array([{"drive": "d", "raid": "3D+1P"}])},
        workloads={"w": {"lands_on": "ARR/P", "stored": "20000MiB"}})
    pool = size_estate(inv).resource("ARR/P")
    # effective 37,800 MiB (1,000 pages - 4,200 MiB); HDP defaults 70% warning, 80% depletion
    # warning: 37,800 x 0.7 = 26,460 MiB - 20,000 = 6,460 MiB
    # critical: 37,800 x 0.8 = 30,240 MiB - 20,000 = 10,240 MiB
    assert pool.headroom("warning") == 6_460 * MiB
    assert pool.headroom("critical") == 10_240 * MiB


def test_resources_of_every_kind(make_inventory):
    inv = make_inventory(
        arrays={"ARR": make_inventory.pool_array([{"drive": "nl18", "raid": "14D+2P"}],
                                                 spares=2)},
        clusters={"C": make_inventory.cluster(3, failover_reserve=0, slack=0)},
        object_stores={"S": make_inventory.store("1400TB", site="B",
                                                 protection={"data": 10, "parity": 4})},
        workloads={"w": {"lands_on": "C", "stored": "15TB"}})
    estate = size_estate(inv)
    assert [(r.ref, r.kind, r.site) for r in estate.resources] == [
        ("ARR/P", "pool", "A"), ("C", "cluster", "A"), ("S", "object_store", "B")]
    pool, cluster, store = estate.resources
    # pool raw = 16 x 18 TB in the group + 2 spares x 18 TB = 288 + 36 = 324 TB
    assert pool.raw == 324 * TB
    # usable: 252 TB after RAID / 44,040,192 B = 5,722,045.8 -> 5,722,045 pages x 42 MiB
    # = 240,325,890 MiB - 4,200 = 240,321,690 MiB; no data reduction: effective == usable
    assert (pool.usable, pool.effective) == (240_321_690 * MiB, 240_321_690 * MiB)
    # cluster: 3 x 76.8 = 230.4 TB raw, mirrored: 115.2 TB usable == effective; 15 TB used
    assert (cluster.raw, cluster.usable, cluster.effective, cluster.used) == (
        230_400 * GB, 115_200 * GB, 115_200 * GB, 15 * TB)
    # store: 1,400 TB x 10/14 = 1,000 TB
    assert (store.raw, store.usable, store.effective) == (1_400 * TB, 1_000 * TB, 1_000 * TB)
    assert set(estate.arrays) == {"ARR"} and set(estate.clusters) == {"C"}
    assert set(estate.object_stores) == {"S"} and set(estate.sites) == {"A", "B"}


def test_fill_of_a_resource_without_capacity():
    empty = ResourceSizing("X", "object_store", "A", 0, 0, 0, 0, Thresholds())
    assert empty.fill == 0.0
    assert ResourceSizing("X", "object_store", "A", 0, 0, 0, 1, Thresholds()).fill \
        == float("inf")


def test_unknown_resource_in_the_estate(make_inventory):
    with pytest.raises(ValueError, match="no storage resource named 'Q'"):
        size_estate(make_inventory()).resource("Q")
