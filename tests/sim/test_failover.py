"""Site loss with failover: which copy serves each store (the model's rule, worked by hand
per kind of copy), what the survivors lack over the outage (hand-worked bytes and vCPUs),
and a run's data going to the partner and back with no byte lost."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from capacity.model.failover import failover
from capacity.model.scenario import Scenario
from capacity.sim import simulate
from tests.sim.conftest import TB, base
from tests.sim.test_closed_forms import two_sites

ON = dt.date(2027, 1, 1)
DAY = 10**11  # 36.5 TB a year is 0.1 TB a day


def lost(days: int = 10, on: str = "2027-01-11", site: str = "s") -> Scenario:
    return Scenario.model_validate({"name": "lost", "events": [
        {"on": on, "action": "fail_site", "site": site, "duration": f"{days}d"}]})


@pytest.mark.parametrize(("replication", "mode", "rto_zero", "rpo"), [
    ({"kind": "gad"}, "active-active", True, 0),
    ({"kind": "gad", "quorum": "s"}, "promote", False, 0),  # quorum went down with the site
    ({"kind": "gad", "quorum": "dr"}, "active-active", True, 0),
    ({"kind": "sync"}, "promote", False, 0),
    ({"kind": "async", "lag": "2d"}, "promote", False, 2),
    ({"kind": "backup", "retention": "30d"}, "restore", False, None),
])
def test_each_kind_of_copy_serves_as_the_rule_says(make, replication, mode, rto_zero,
                                                   rpo) -> None:
    plan = failover(make(two_sites(**replication)), "w", "s", ON)
    assert plan is not None
    (path,) = plan.paths
    assert (path.store, path.to, path.mode) == ("a/p", "b/p", mode)
    assert plan.rto_zero is rto_zero and plan.rpo_days == rpo
    assert plan.available is (mode != "restore")
    assert plan.writes_to == ("b/p" if plan.available else None)


def test_no_copy_or_a_copy_not_yet_started_is_no_failover(make) -> None:
    data = two_sites(kind="gad", start="2027-06-01")
    plan = failover(make(data), "w", "s", ON)
    assert plan is not None and plan.paths[0].mode == "none" and not plan.available
    assert failover(make(data), "w", "s", dt.date(2027, 6, 1)).rto_zero  # type: ignore[union-attr]
    assert failover(make(data), "w", "dr", ON) is None  # nothing of it at the DR site


def test_an_object_replica_is_read_at_once_with_the_lag_as_rpo(make) -> None:
    data = base(workloads={"w": {"lands_on": "o1", "stored": "1TB"}})
    data["sites"]["dr"] = {"role": "dr"}
    store = {"raw": "10TB", "protection": {"data": 4, "parity": 2}}
    data["object_stores"] = {"o1": {"site": "s", **store}, "o2": {"site": "dr", **store}}
    data["replications"] = {"r": {"kind": "async", "source": "o1", "target": "o2",
                                  "lag": "1d"}}
    plan = failover(make(data), "w", "s", ON)
    assert plan is not None and plan.rto_zero and plan.rpo_days == 1


def clusters(**extra: Any) -> dict[str, Any]:
    """Two sites with a cluster each: 4 nodes, N+1, 32 cores less 2 for the controller VM:
    3 x 30 = 90 vCPU usable, 1 GPU a node: 3 GPUs.  'a' at s asks 60 vCPU and 2 GPUs, its
    partner 'b' at dr 50 vCPU and 2 GPUs."""
    node = {"node_model": "n", "nodes": 4, "drives": {"drive": "d10", "count": 4},
            "storage_policy": "mirror-ftt1", "slack": "0%", "failover_reserve": 1, "gpus": 1,
            "controller_vm": {"cores": 2, "ram": "32GiB"}}
    data = base(clusters={"c1": {"site": "s", **node}, "c2": {"site": "dr", **node}},
                workloads={
                    "a": {"lands_on": "c1", "stored": "10TB", "per_year": "36.5TB",
                          "compute": {"cluster": "c1", "vcpu": 60, "gpus": 2}},
                    "b": {"lands_on": "c2", "stored": "10TB", "per_year": "36.5TB",
                          "partner": "a", "compute": {"cluster": "c2", "vcpu": 50,
                                                      "gpus": 2}}}, **extra)
    data["sites"]["dr"] = {"role": "dr", "racks": {"count": 2, "units": 42}}
    del data["arrays"]
    return data


def test_a_partner_carries_the_lost_half_and_its_cluster_may_fall_short(make) -> None:
    """'a' goes to its partner's cluster c2: 60 + 50 = 110 vCPU asked of 90, 20 short; 4
    GPUs of 3, 1 short.  Its new data lands on c2 with b's: 10 days x 0.1 TB each, 2 TB,
    which fit."""
    inv = make(clusters())
    plan = failover(inv, "a", "s", ON)
    assert plan is not None and plan.partner == "b" and plan.rto_zero
    assert (plan.writes_to, plan.compute_from, plan.compute_to) == ("c2", "c1", "c2")
    result = simulate(inv, [lost()], years=0.1)
    (loss,) = result.site_losses
    (outcome,) = loss.outcomes
    assert (outcome.vcpu_short, outcome.gpus_short, outcome.storage_short) == (20, 1, 0)
    assert not outcome.survives and not loss.holds
    (need,) = loss.stores
    assert need.asked == (2 * 10 * DAY,)
    compute = result.compute["c2"]
    day = 10  # 2027-01-11
    assert compute.vcpu_demand[day - 1] == 50 and compute.vcpu_demand[day] == 110
    assert compute.vcpu_demand[day + 10] == 50  # back home when the site is back
    assert result.compute["c1"].vcpu[day] == 0


def test_what_a_survivor_cannot_hold_over_the_outage_is_counted_short(make) -> None:
    """The GAD pair: 140 TB, 130 TB held; the site goes on day 1, after its ingest, so
    10 - 2 x 0.1 = 9.8 TB free.  A 150-day outage brings 150 x 0.1 = 15 TB of new data:
    5.2 TB short."""
    data = two_sites(kind="gad")
    data["workloads"]["w"]["stored"] = "130TB"
    result = simulate(make(data), [lost(days=150, on="2027-01-02")], years=0.5)
    (loss,) = result.site_losses
    (need,) = loss.stores
    assert need.offered == (10 * TB - 2 * DAY,) and need.asked == (150 * DAY,)
    assert loss.outcomes[0].storage_short == 5 * TB + 2 * DAY


def test_during_the_outage_new_data_lands_on_the_copy_and_comes_home_after(make) -> None:
    """20 TB held, 0.1 TB a day: site s goes on day 10 after its ingest, for 10 days.
    Nothing is refused: days 11 to 20 land on b/p (which holds 20 + 2 TB by day 19), and
    on day 20, when s is back, they go home to a/p: the pair equal, nothing lost."""
    result = simulate(make(two_sites(kind="gad")), [lost()], years=0.1)
    a, b = result.resources["a/p"], result.resources["b/p"]
    assert result.unplaced == {} and result.failed_from is None
    assert a.capacity[10] == 0 and a.used[10] == a.used[19] == 20 * TB + 11 * DAY
    assert b.used[19] == 20 * TB + 20 * DAY
    assert a.used[20] == b.used[20] == 20 * TB + 21 * DAY
    assert a.used[-1] == b.used[-1] == 20 * TB + len(a.used) * DAY
    back = next(e for e in result.events if e.kind == "site-repaired")
    assert back.data["resynced_bytes"] == 10 * DAY


def test_without_a_copy_the_new_data_is_refused_while_the_site_is_down(make) -> None:
    data = base(workloads={"w": {"lands_on": "a/p", "stored": "20TB", "per_year": "36.5TB"}})
    result = simulate(make(data), [lost()], years=0.1)
    assert sum(result.unplaced["w"]) == 10 * DAY
    (outcome,) = result.site_losses[0].outcomes
    assert not outcome.available and "no copy" in outcome.why


def test_vms_restart_on_the_cluster_that_holds_their_replica_not_at_rto_0(make) -> None:
    data = clusters()
    del data["workloads"]["b"]
    data["replications"] = {"r": {"kind": "async", "source": "c1", "target": "c2",
                                  "lag": 0}}
    plan = failover(make(data), "a", "s", ON)
    assert plan is not None and plan.available and not plan.rto_zero
    assert (plan.writes_to, plan.compute_to) == ("c2", "c2")
    assert "restart on c2" in plan.why()
    # Told where to restart: there, if at another site.
    data["clusters"]["c3"] = {**data["clusters"]["c2"]}
    data["workloads"]["a"]["compute"]["failover"] = "c3"
    plan = failover(make(data), "a", "s", ON)
    assert plan is not None and plan.compute_to == "c3"


def test_a_short_cluster_is_told_the_nodes_it_would_take(make) -> None:
    """110 vCPU and 4 GPUs asked of c2: with N+1, 5 nodes give 4 x 30 = 120 vCPU and 4
    GPUs: one node more."""
    result = simulate(make(clusters()), [lost()], years=0.1)
    (need,) = result.site_losses[0].clusters
    assert need.short == (20, 0, 1) and need.more_nodes == 1


def test_a_partner_or_failover_cluster_at_the_same_site_is_refused(make) -> None:
    from capacity.checks import check_inventory

    data = clusters()
    data["clusters"]["c3"] = {**data["clusters"]["c1"]}  # at s, as c1
    data["workloads"]["a"]["compute"]["failover"] = "c3"
    data["workloads"]["x"] = {"lands_on": "c1", "stored": "1TB", "partner": "a"}
    data["workloads"]["y"] = {"lands_on": "c2", "stored": "1TB", "partner": "nobody"}
    found = dict(check_inventory(make(data)))
    assert "another site" in found[("workloads", "a", "compute", "failover")]
    assert "the same site" in found[("workloads", "x", "partner")]
    assert "nobody" in found[("workloads", "y", "partner")]
    assert ("workloads", "b", "partner") not in found


def test_a_copy_that_waits_for_a_migration_starts_the_day_after_its_last_byte(make) -> None:
    """10 TB at 1 TB a day from day 5 (2027-01-06): days 5 to 14, so the GAD copy starts on
    day 15 with all the source holds: 20 TB, 0.1 TB a day for days 0 to 15 less day 4's,
    refused while the site was lost on day 3 with no copy yet, and the 10 TB.  Lost again
    on day 24, the pair carries it."""
    from capacity.lint import inventory_warnings

    data = two_sites(kind="gad", start_after="legacy")
    inv = make(data)
    wave = Scenario.model_validate({"name": "m", "events": [
        {"on": "2027-01-06", "action": "migrate", "name": "legacy", "volume": "10TB",
         "to": "a/p", "per_day": "1TB"}]})
    result = simulate(inv, [wave, lost(days=1, on="2027-01-04", site="s"),
                            lost(days=1, on="2027-01-25", site="s")], years=0.1)
    a, b = result.resources["a/p"].used, result.resources["b/p"].used
    assert b[14] == 0 and b[15] == a[15] == 20 * TB + 15 * DAY + 10 * TB
    assert result.unplaced["w"][4] == DAY
    assert [loss.holds for loss in result.site_losses] == [False, True]
    said = dict(inventory_warnings(inv))
    assert "no scenario of this run migrates a wave named 'legacy'" in said[
        ("replications", "r", "start_after")]
    assert ("replications", "r", "start_after") not in dict(inventory_warnings(inv, [wave]))


def test_a_copy_has_a_start_date_or_a_wave_to_wait_for_not_both(make) -> None:
    with pytest.raises(ValueError, match="start or start_after"):
        make(two_sites(kind="gad", start="2027-02-01", start_after="legacy"))
