"""Properties that hold for any configuration, checked on generated ones."""

from __future__ import annotations

import typing
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from capacity.model.estate import StoragePolicy
from capacity.sizing import size_cluster, size_object_store, size_pool

LAYOUTS = ["2D+2D", "4D+4D", "3D+1P", "7D+1P", "6D+2P", "14D+2P"]
capacities = st.integers(min_value=10**9, max_value=30 * 10**12)
ratios = st.integers(min_value=0, max_value=50).map(lambda pct: f"{pct}%")


def pool_inventory(make_inventory, layout, groups, capacity, spares=0, reduction=1.0):
    return make_inventory(
        catalog={"drives": {"d": make_inventory.drive(capacity)}},
        arrays={"ARR": make_inventory.pool_array(
            [{"drive": "d", "raid": layout, "count": groups}], spares=spares,
            data_reduction={"ratio": reduction})})


@settings(max_examples=60, deadline=None)
@given(layout=st.sampled_from(LAYOUTS), groups=st.integers(1, 12), capacity=capacities,
       spares=st.integers(0, 4))
def test_pool_never_yields_more_than_its_drives(make_inventory, layout, groups, capacity,
                                                spares):
    pool = size_pool(pool_inventory(make_inventory, layout, groups, capacity, spares),
                     "ARR", "P")
    assert 0 <= pool.effective == pool.capacity <= pool.after_raid <= pool.raw
    # RAID keeps exactly data / width of the parity-group drives
    data, _, rest = layout.partition("D+")
    width = int(data) + int(rest[:-1])
    assert Fraction(pool.after_raid, pool.raw) == Fraction(int(data), width)


@settings(max_examples=60, deadline=None)
@given(layout=st.sampled_from(LAYOUTS), groups=st.integers(1, 12), capacity=capacities)
def test_more_parity_groups_never_reduce_capacity(make_inventory, layout, groups, capacity):
    fewer = size_pool(pool_inventory(make_inventory, layout, groups, capacity), "ARR", "P")
    more = size_pool(pool_inventory(make_inventory, layout, groups + 1, capacity), "ARR", "P")
    assert more.capacity >= fewer.capacity
    assert more.after_raid > fewer.after_raid


@settings(max_examples=60, deadline=None)
@given(capacity=capacities, ratio=st.sampled_from([1.0, 1.2, 1.5, 2.0, 3.0]))
def test_data_reduction_never_costs_more_than_its_overhead(make_inventory, capacity, ratio):
    pool = size_pool(pool_inventory(make_inventory, "7D+1P", 2, capacity, reduction=ratio),
                     "ARR", "P")
    # effective >= capacity x (1 - 10%) for any ratio >= 1, and == capacity at 1:1
    assert pool.effective * 10 >= pool.capacity * 9 - 10
    if ratio == 1.0:
        assert pool.effective == pool.capacity


@settings(max_examples=80, deadline=None)
@given(policy=st.sampled_from(typing.get_args(StoragePolicy)), nodes=st.integers(1, 16),
       reserve=st.integers(0, 3), slack=ratios, capacity=capacities)
def test_cluster_usable_never_exceeds_raw(make_inventory, policy, nodes, reserve, slack,
                                          capacity):
    def sized(node_count):
        inv = make_inventory(
            catalog={"drives": {"d": make_inventory.drive(capacity)}},
            clusters={"C": make_inventory.cluster(
                node_count, drives={"drive": "d", "count": 4}, storage_policy=policy,
                failover_reserve=reserve, slack=slack)})
        return size_cluster(inv, "C")

    cluster = sized(nodes)
    assert 0 <= cluster.usable <= cluster.protected <= cluster.after_reserve <= cluster.raw
    assert cluster.vcpu >= 0 and cluster.ram >= 0 and cluster.gpus >= 0
    assert sized(nodes + 1).usable >= cluster.usable  # a node more never loses capacity


@settings(max_examples=60, deadline=None)
@given(raw=st.integers(0, 10**18), data=st.integers(1, 20), parity=st.integers(0, 6))
def test_object_store_usable_never_exceeds_raw(make_inventory, raw, data, parity):
    inv = make_inventory(object_stores={"S": make_inventory.store(
        raw, protection={"data": data, "parity": parity})})
    sized = size_object_store(inv, "S")
    assert 0 <= sized.usable <= sized.raw
    assert sized.usable * (data + parity) <= raw * data < (sized.usable + 1) * (data + parity)
