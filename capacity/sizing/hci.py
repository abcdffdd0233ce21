"""Hyper-converged clusters: raw -> failover reserve -> storage policy -> slack -> usable,
and the compute left for workloads after the controller VM and overcommit.

- The failover reserve holds back the capacity of the ``failover_reserve`` largest nodes
  (nodes in a cluster are identical, so any ``k`` of them), as vSAN does for rebuilds and
  Nutanix for N+1 (RF2) / N+2 (RF3).
- The storage policy then divides by its raw-per-usable factor, and slack is kept free.
  With RF2 (``mirror-ftt1``), slack 10% and N+1 this is Nutanix's recommended maximum
  ``M = 0.9 x (T - N1)`` of raw, i.e. ``M / 2`` of data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from capacity.model import Cluster, Inventory, Thresholds
from capacity.sizing.common import exact, floor_times, lookup

VSAN_POLICIES = "VMware vSAN storage policy design (docs/DOMAIN.md, hyper-converged table)"


@dataclass(frozen=True)
class StoragePolicySpec:
    """What a storage policy costs: raw bytes per usable byte, and the hosts it needs."""

    factor: Fraction
    min_hosts: int
    source: str


STORAGE_POLICIES: dict[str, StoragePolicySpec] = {
    "mirror-ftt1": StoragePolicySpec(Fraction(2), 3, f"{VSAN_POLICIES}: FTT=1 RAID-1 mirror"),
    "raid5-ftt1": StoragePolicySpec(Fraction(4, 3), 4, f"{VSAN_POLICIES}: FTT=1 RAID-5 3+1"),
    "mirror-ftt2": StoragePolicySpec(Fraction(3), 5, f"{VSAN_POLICIES}: FTT=2 RAID-1 mirror"),
    "raid6-ftt2": StoragePolicySpec(Fraction(3, 2), 6, f"{VSAN_POLICIES}: FTT=2 RAID-6 4+2"),
    "esa-raid5-2p1": StoragePolicySpec(Fraction(3, 2), 3,
                                       f"{VSAN_POLICIES}: ESA RAID-5 2+1 (3-5 hosts)"),
    "esa-raid5-4p1": StoragePolicySpec(Fraction(5, 4), 6,
                                       f"{VSAN_POLICIES}: ESA RAID-5 4+1 (6+ hosts)"),
}


def storage_policy_spec(name: str) -> StoragePolicySpec:
    return lookup(STORAGE_POLICIES, name, "storage policy")


@dataclass(frozen=True)
class ClusterSizing:
    name: str
    site: str
    nodes: int
    node_raw: int
    """Capacity drives of one node."""
    raw: int
    reserve_raw: int
    """Raw capacity of the nodes held back for failover."""
    after_reserve: int
    protected: int
    """What the storage policy leaves of ``after_reserve``."""
    usable: int
    """``protected`` less slack (computed exactly from ``after_reserve``, floored once)."""
    vcpu: int
    ram: int
    gpus: int
    rack_units: int
    power_w: float
    min_hosts: int
    policy_factor: Fraction
    thresholds: Thresholds


def size_cluster(inventory: Inventory, name: str) -> ClusterSizing:
    cluster = lookup(inventory.clusters, name, "cluster")
    node = lookup(inventory.catalog.nodes, cluster.node_model, "node model")
    drive = lookup(inventory.catalog.drives, cluster.drives.drive, "drive type")
    spec = storage_policy_spec(cluster.storage_policy)
    vcpu, ram, gpus = _compute(cluster, node.cores, node.ram, node.gpus)

    node_raw = cluster.drives.count * drive.capacity
    raw = cluster.nodes * node_raw
    reserve_raw = min(cluster.failover_reserve, cluster.nodes) * node_raw
    after_reserve = raw - reserve_raw
    return ClusterSizing(
        name=name, site=cluster.site, nodes=cluster.nodes, node_raw=node_raw, raw=raw,
        reserve_raw=reserve_raw, after_reserve=after_reserve,
        protected=math.floor(after_reserve / spec.factor),
        # One floor over the exact product, so usable == floor(0.9 (T - N1) / 2) holds exactly.
        usable=math.floor(after_reserve / spec.factor * (1 - exact(cluster.slack))),
        vcpu=vcpu, ram=ram, gpus=gpus,
        rack_units=cluster.nodes * node.rack_units,
        power_w=cluster.nodes * (node.power_w + cluster.drives.count * drive.power_w),
        min_hosts=spec.min_hosts, policy_factor=spec.factor, thresholds=cluster.thresholds)


def _compute(cluster: Cluster, node_cores: int, node_ram: int,
             node_gpus: int) -> tuple[int, int, int]:
    """vCPUs, RAM and GPUs for workloads: only the nodes outside the failover reserve run
    them, and each gives up what its controller VM takes before overcommit multiplies the
    rest."""
    running = max(0, cluster.nodes - cluster.failover_reserve)
    cores = cluster.cores if cluster.cores is not None else node_cores
    ram = cluster.ram if cluster.ram is not None else node_ram
    gpus = cluster.gpus if cluster.gpus is not None else node_gpus
    cvm = cluster.controller_vm
    return (floor_times(running * max(0, cores - cvm.cores), cluster.overcommit.cpu),
            floor_times(running * max(0, ram - cvm.ram), cluster.overcommit.ram),
            running * gpus)
