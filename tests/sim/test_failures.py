"""Failures: drive failures follow AFR x drives x years; node and site failures take capacity
away for their duration."""

from __future__ import annotations

import datetime as dt
import math
import statistics

from capacity.model.scenario import Scenario
from capacity.sim import SimResult, simulate
from tests.sim.conftest import TB, base
from tests.sim.test_closed_forms import two_sites


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


def test_a_node_failure_uses_up_the_failover_reserve(make) -> None:
    """4 nodes x 40 TB, N+1, mirrored: usable (4 - 1) x 40 / 2 = 60 TB.  One node down is
    what the reserve is for: the 3 nodes left give (3 - 0) x 40 / 2 = 60 TB and the same
    compute, with no reserve left.  Two down, one beyond the reserve: (4 - 2) x 40 / 2 =
    40 TB, for exactly 14 days from 2027-02-01 (day 31)."""
    def run(count: int) -> SimResult:
        scenario = Scenario.model_validate({"name": "n", "events": [
            {"on": "2027-02-01", "action": "fail_node", "cluster": "c", "count": count,
             "duration": "14d"}]})
        return simulate(cluster_inventory(make), [scenario], years=0.3)

    one = run(1)
    assert set(one.resources["c"].capacity) == {60 * TB}
    assert set(one.compute["c"].vcpu) == {one.compute["c"].vcpu[0]}
    two = run(2)
    capacity, vcpu = two.resources["c"].capacity, two.compute["c"].vcpu
    assert capacity[30] == 60 * TB
    assert capacity[31] == capacity[44] == 40 * TB
    assert capacity[45] == 60 * TB
    # Workloads run on the nodes outside the reserve: 3 of 4, then the 2 left.
    assert vcpu[31] * 3 == vcpu[30] * 2 and vcpu[45] == vcpu[30]


def test_site_failure_takes_its_capacity_offline(make) -> None:
    scenario = Scenario.model_validate({"name": "s", "events": [
        {"on": "2027-01-05", "action": "fail_site", "site": "s", "duration": "3d"}]})
    result = simulate(cluster_inventory(make), [scenario], years=0.1)
    capacity = result.resources["c"].capacity
    assert capacity[3] > 0 and capacity[4] == capacity[6] == 0 and capacity[7] > 0
    assert result.runway("c", "full").days == 4  # data with no capacity online
    assert result.compute["c"].vcpu[4] == 0


def test_a_site_failure_buys_nothing_for_the_failed_site_and_the_gad_pair_stays_equal(
        make) -> None:
    """A GAD pair of 140 TB pools at 119 TB (85%, past the 70% warning), each side with
    its own parity-group rule.  The DR site is down for 30 days from day 10: the desk buys
    for the running side as its trend says, nothing for the failed one while it is down,
    and once it is back, both sides of the pair again offer what the other does."""
    data = two_sites(kind="gad")
    data["workloads"]["w"] = {"lands_on": "a/p", "stored": "100TB", "per_year": "36.5TB"}
    data["procurement"] = {
        side: {"resource": f"{side}/p/t", "unit": "parity-group", "lead_time": "8w",
               "unit_cost": 1000} for side in ("a", "b")}
    scenario = Scenario.model_validate({"name": "dr down", "events": [
        {"on": "2027-01-11", "action": "fail_site", "site": "dr", "duration": "30d"}]})
    result = simulate(make(data), [scenario], years=1)
    down = [o for o in result.orders if o.resource == "b/p"
            and dt.date(2027, 1, 11) <= o.ordered < dt.date(2027, 2, 10)]
    assert down == []
    a, b = result.resources["a/p"], result.resources["b/p"]
    assert a.capacity[-1] == b.capacity[-1] > 140 * TB
    assert max(b.used) <= max(b.capacity) and a.used[-1] == b.used[-1]
