"""Failures: drive failures follow AFR x drives x years; node and site failures take capacity
away for their duration."""

from __future__ import annotations

import math
import statistics

from capacity.model.scenario import Scenario
from capacity.sim import simulate
from tests.sim.conftest import base


def test_mean_drive_failures_match_afr_times_drives_times_years(make) -> None:
    """16 drives at 2% AFR for 5 years: 1.6 failures expected (Poisson).  Over 400 seeds the
    mean lies within 4 standard errors: 4 x sqrt(1.6 / 400) = 0.25."""
    inv = make(base(workloads={"w": {"lands_on": "a/p", "stored": "1TB"}}))
    counts = [sum(1 for e in simulate(inv, years=5, seed=seed).events
                  if e.kind == "drive-failure") for seed in range(400)]
    expected = 16 * 0.02 * 5
    assert abs(statistics.mean(counts) - expected) < 4 * math.sqrt(expected / 400)
    # And the spread is Poisson-like: variance close to the mean.
    assert 0.6 * expected < statistics.variance(counts) < 1.5 * expected


def test_seed_changes_failures_but_not_demand(make) -> None:
    inv = make(base(workloads={"w": {"lands_on": "a/p", "stored": "1TB", "per_year": "5TB"}}))
    runs = [simulate(inv, years=10, seed=s) for s in range(5)]
    failure_days = {tuple(e.date for e in r.events if e.kind == "drive-failure") for r in runs}
    assert len(failure_days) > 1
    assert all(r.resources["a/p"].used == runs[0].resources["a/p"].used for r in runs)


def cluster_inventory(make):
    data = base(clusters={"c": {"site": "s", "node_model": "n", "nodes": 4,
                                "drives": {"drive": "d10", "count": 4},
                                "storage_policy": "mirror-ftt1", "slack": "0%",
                                "failover_reserve": 1}},
                workloads={"w": {"lands_on": "c", "stored": "20TB",
                                 "compute": {"cluster": "c", "vcpu": 10}}})
    del data["arrays"]
    return make(data)


def test_node_failure_takes_a_node_for_its_duration(make) -> None:
    """4 nodes x 40 TB, N+1, mirrored: usable (4 - 1) x 40 / 2 = 60 TB; with one node
    down, (3 - 1) x 40 / 2 = 40 TB, for exactly 14 days from 2027-02-01 (day 31)."""
    scenario = Scenario.model_validate({"name": "n", "events": [
        {"on": "2027-02-01", "action": "fail_node", "cluster": "c", "duration": "14d"}]})
    result = simulate(cluster_inventory(make), [scenario], years=0.3)
    capacity = result.resources["c"].capacity
    TB = 10**12
    assert capacity[30] == 60 * TB
    assert capacity[31] == capacity[44] == 40 * TB
    assert capacity[45] == 60 * TB
    vcpu = result.compute["c"].vcpu
    assert vcpu[31] < vcpu[30] == vcpu[45]


def test_site_failure_takes_its_capacity_offline(make) -> None:
    scenario = Scenario.model_validate({"name": "s", "events": [
        {"on": "2027-01-05", "action": "fail_site", "site": "s", "duration": "3d"}]})
    result = simulate(cluster_inventory(make), [scenario], years=0.1)
    capacity = result.resources["c"].capacity
    assert capacity[3] > 0 and capacity[4] == capacity[6] == 0 and capacity[7] > 0
    assert result.runway("c", "full").days == 4  # data with no capacity online
    assert result.compute["c"].vcpu[4] == 0
