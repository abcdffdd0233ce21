"""HCI cluster sizing against the vSAN policy table and the Nutanix sizing rule
(docs DOMAIN.md).  Every node of the test cluster has 10 x 7.68 TB = 76.8 TB raw."""

from __future__ import annotations

import typing
from fractions import Fraction

import pytest

from capacity.model.estate import StoragePolicy
from capacity.sizing import STORAGE_POLICIES, size_cluster, storage_policy_spec

TB = 10**12
GB = 10**9
GiB = 2**30


@pytest.mark.parametrize(("policy", "nodes", "raw", "usable", "raw_per_usable"), [
    # mirror FTT=1: 3 x 76.8 = 230.4 TB raw; / 2 = 115.2 TB
    ("mirror-ftt1", 3, 230_400 * GB, 115_200 * GB, Fraction(2)),
    # RAID-5 FTT=1 (3+1): 4 x 76.8 = 307.2 TB; x 3/4 = 230.4 TB; 1.33x
    ("raid5-ftt1", 4, 307_200 * GB, 230_400 * GB, Fraction(4, 3)),
    # mirror FTT=2: 5 x 76.8 = 384 TB; / 3 = 128 TB
    ("mirror-ftt2", 5, 384 * TB, 128 * TB, Fraction(3)),
    # RAID-6 FTT=2 (4+2): 6 x 76.8 = 460.8 TB; x 4/6 = 307.2 TB; 1.5x
    ("raid6-ftt2", 6, 460_800 * GB, 307_200 * GB, Fraction(3, 2)),
    # ESA RAID-5 2+1: 3 x 76.8 = 230.4 TB; x 2/3 = 153.6 TB
    ("esa-raid5-2p1", 3, 230_400 * GB, 153_600 * GB, Fraction(3, 2)),
    # ESA RAID-5 4+1: 6 x 76.8 = 460.8 TB; x 4/5 = 368.64 TB
    ("esa-raid5-4p1", 6, 460_800 * GB, 368_640 * GB, Fraction(5, 4)),
])
def test_storage_policy_costs_its_factor(make_inventory, policy, nodes, raw, usable,
                                         raw_per_usable):
    inv = make_inventory(clusters={"C": make_inventory.cluster(
        nodes, storage_policy=policy, failover_reserve=0, slack=0)})
    sized = size_cluster(inv, "C")
    assert sized.node_raw == 76_800 * GB  # 10 x 7.68 TB
    assert (sized.raw, sized.protected, sized.usable) == (raw, usable, usable)
    assert Fraction(sized.raw, sized.usable) == raw_per_usable == sized.policy_factor


@pytest.mark.parametrize(("policy", "min_hosts"), [
    ("mirror-ftt1", 3), ("raid5-ftt1", 4), ("mirror-ftt2", 5), ("raid6-ftt2", 6),
    ("esa-raid5-2p1", 3), ("esa-raid5-4p1", 6),
])
def test_storage_policy_minimum_hosts(policy, min_hosts):
    assert storage_policy_spec(policy).min_hosts == min_hosts


def test_every_model_policy_has_a_sourced_spec():
    assert set(STORAGE_POLICIES) == set(typing.get_args(StoragePolicy))
    assert all(spec.source for spec in STORAGE_POLICIES.values())


def test_unknown_policy_is_a_value_error():
    with pytest.raises(ValueError, match="no storage policy named 'raid7'"):
        storage_policy_spec("raid7")


def test_nutanix_rf2_rule(make_inventory):
    inv = make_inventory(clusters={"C": make_inventory.cluster(
        8, storage_policy="mirror-ftt1", failover_reserve=1, slack="10%")})
    sized = size_cluster(inv, "C")
    # T = 8 x 76.8 = 614.4 TB; N1 = 76.8 TB; T - N1 = 537.6 TB
    assert (sized.raw, sized.reserve_raw, sized.after_reserve) == (
        614_400 * GB, 76_800 * GB, 537_600 * GB)
    # M = 0.9 x 537.6 = 483.84 TB of raw; RF2 keeps two copies: 483.84 / 2 = 241.92 TB
    assert sized.usable == 241_920 * GB
    # before slack: 537.6 / 2 = 268.8 TB
    assert sized.protected == 268_800 * GB


def test_nutanix_rule_holds_to_the_byte(make_inventory):
    inv = make_inventory(
        catalog={"drives": {"odd": make_inventory.drive(1_000_000_000_001)}},
        clusters={"C": make_inventory.cluster(
            4, drives={"drive": "odd", "count": 1}, failover_reserve=1, slack="10%")})
    # T - N1 = 3 x 1,000,000,000,001 = 3,000,000,000,003 B; x 0.9 = 2,700,000,000,002.7;
    # / 2 = 1,350,000,000,001.35 -> 1,350,000,000,001 (flooring twice would lose a byte)
    assert size_cluster(inv, "C").usable == 1_350_000_000_001


def test_n_plus_2_reserve(make_inventory):
    inv = make_inventory(clusters={"C": make_inventory.cluster(
        8, storage_policy="raid6-ftt2", failover_reserve=2, slack="25%")})
    sized = size_cluster(inv, "C")
    # raw 8 x 76.8 = 614.4 TB; reserve 2 x 76.8 = 153.6 TB; left 460.8 TB
    assert (sized.reserve_raw, sized.after_reserve) == (153_600 * GB, 460_800 * GB)
    # RAID-6 4+2: 460.8 / 1.5 = 307.2 TB; less 25% slack: 307.2 x 0.75 = 230.4 TB
    assert (sized.protected, sized.usable) == (307_200 * GB, 230_400 * GB)
    assert sized.min_hosts == 6


def test_compute_after_controller_vm_and_overcommit(make_inventory):
    inv = make_inventory(clusters={"C": make_inventory.cluster(
        8, failover_reserve=1, controller_vm={"cores": 6, "ram": "32GiB"},
        overcommit={"cpu": 4})})
    sized = size_cluster(inv, "C")
    # 8 - 1 = 7 nodes run workloads; (32 - 6) cores x 4 vCPU per core: 7 x 26 x 4 = 728
    assert sized.vcpu == 728
    # RAM is not overcommitted: 7 x (512 - 32) GiB = 7 x 480 = 3,360 GiB
    assert sized.ram == 3_360 * GiB
    # 7 nodes x 2 GPUs = 14
    assert sized.gpus == 14


def test_compute_with_cluster_overrides(make_inventory):
    inv = make_inventory(clusters={"C": make_inventory.cluster(
        8, failover_reserve=1, cores=48, ram="768GiB", gpus=1,
        controller_vm={"cores": 6, "ram": "32GiB"}, overcommit={"cpu": 1.5, "ram": 1.5})})
    sized = size_cluster(inv, "C")
    # 7 x (48 - 6) x 1.5 = 7 x 42 x 1.5 = 441 vCPUs
    assert sized.vcpu == 441
    # 7 x (768 - 32) GiB x 1.5 = 7 x 736 x 1.5 = 7,728 GiB
    assert sized.ram == 7_728 * GiB
    # 7 x 1 GPU
    assert sized.gpus == 7


def test_compute_with_default_controller_vm(make_inventory):
    inv = make_inventory(clusters={"C": make_inventory.cluster(4)})
    sized = size_cluster(inv, "C")
    # defaults: N+1, controller VM 4 cores and 32 GiB, no overcommit:
    # 3 x (32 - 4) = 84 vCPUs; 3 x (512 - 32) GiB = 1,440 GiB
    assert (sized.vcpu, sized.ram) == (84, 1_440 * GiB)


def test_cluster_rack_units_and_power(make_inventory):
    sized = size_cluster(make_inventory(clusters={"C": make_inventory.cluster(8)}), "C")
    # 8 nodes x 2U = 16U; 8 x (800 W + 10 drives x 12 W) = 8 x 920 = 7,360 W
    assert (sized.rack_units, sized.power_w) == (16, 7_360)
    assert (sized.name, sized.site, sized.nodes) == ("C", "A", 8)


def test_unknown_cluster_or_node_model(make_inventory):
    inv = make_inventory(clusters={"C": make_inventory.cluster(4, node_model="zz")})
    with pytest.raises(ValueError, match="no cluster named 'D'"):
        size_cluster(inv, "D")
    with pytest.raises(ValueError, match="no node model named 'zz'"):
        size_cluster(inv, "C")
