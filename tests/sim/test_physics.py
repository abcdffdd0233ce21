"""Nothing holds more than it has: what does not fit is refused, short or stalled, and the
run's verdict says the plan fails from that day.  Each figure is worked out by hand."""

from __future__ import annotations

import datetime as dt

from capacity.model.scenario import Scenario
from capacity.report.simulation import summary, verdict_line
from capacity.sim import simulate
from tests.sim.conftest import TB, base
from tests.sim.test_closed_forms import two_sites
from tests.sim.test_procurement import tight_site


def test_a_gad_write_must_fit_the_smaller_side(make) -> None:
    """The DR pool of a GAD pair is one 7D+1P group (70 TB), the source two (140 TB):
    20 TB + 0.1 TB a day fills the mirror on day 499 (20 + 0.1 x 500 = 70); from then
    the source takes nothing more either, as an array refuses a write its pair cannot
    mirror."""
    data = two_sites(kind="gad")
    data["arrays"]["b"]["pools"]["p"] = {"tiers": [{"name": "t", "parity_groups": [
        {"drive": "d10", "raid": "7D+1P", "count": 1}]}]}
    result = simulate(make(data), years=2)
    source, mirror = result.resources["a/p"].used, result.resources["b/p"].used
    assert max(mirror) == 70 * TB and max(source) == 70 * TB
    assert source[498] < 70 * TB and source[499] == 70 * TB
    assert result.failed_from == result.start + dt.timedelta(days=500)


def test_a_backup_that_does_not_fit_is_short_not_overfilled(make) -> None:
    """100 TB with 1% daily change kept 30 days needs 130 TB; an object store of 100 TB
    raw keeping one copy offers 100 TB: the copy holds 100 TB and is 30 TB short every
    day."""
    data = base(workloads={"w": {"lands_on": "a/p", "stored": "100TB"}},
                object_stores={"o": {"site": "s", "raw": "100TB",
                                     "protection": {"copies": 1}}},
                replications={"b": {"kind": "backup", "source": "a/p", "target": "o",
                                    "retention": "30d", "change_rate": "1%"}})
    result = simulate(make(data), years=0.1)
    assert result.resources["o"].capacity[0] == 100 * TB
    assert max(result.resources["o"].used) == 100 * TB
    assert set(result.short["copy:b"]) == {30 * TB}
    assert result.failed_from == result.start
    assert [e.kind for e in result.events if e.kind == "copy-short"] == ["copy-short"]


def test_a_migration_that_does_not_fit_stalls_and_is_done_only_when_placed(make) -> None:
    """The pool (140 TB) holds 100 TB; 60 TB arrive at 10 TB a day from day 10: four days
    place 40 TB, the fifth fills the pool and 20 TB stay on the legacy system, so the wave
    never ends, and it is short 20 TB on each day from day 14."""
    data = base(workloads={"w": {"lands_on": "a/p", "stored": "100TB"}})
    scenario = Scenario.model_validate({"name": "m", "events": [{
        "on": "2027-01-11", "action": "migrate", "name": "legacy", "volume": "60TB",
        "to": "a/p", "per_day": "10TB"}]})
    result = simulate(make(data), [scenario], years=0.1)
    used = result.resources["a/p"].used
    assert used[13] == 140 * TB and max(used) == 140 * TB
    short = result.short["migration:legacy"]
    assert short[:14] == [0] * 14 and set(short[14:]) == {20 * TB}
    assert not [e for e in result.events if e.kind == "migration-end"]


def test_the_verdict_names_lost_data_and_blocked_orders(make) -> None:
    data = base(workloads={"w": {"lands_on": "a/p", "stored": "130TB",
                                 "per_year": "365TB"}})
    s = summary(simulate(make(data), years=0.1))
    assert s["verdict"] == {"holds": False, "failed_from": "2027-01-11",
                            "refused_bytes": 26 * TB, "orders_blocked": 0,
                            "blocked_from": None, "blocked_reasons": []}
    assert s["unplaced"] == [{"owner": "w", "kind": "refused", "bytes": 26 * TB, "days": 26,
                              "first": "2027-01-11", "last": "2027-02-05"}]
    line = verdict_line(s)
    assert line.tone == "crit" and line.text == (
        "PLAN FAILS from 2027-01-11: data does not fit (w 26 TB refused)")
    fits = summary(simulate(make(base(workloads={"w": {"lands_on": "a/p",
                                                       "stored": "1TB"}})), years=0.1))
    assert fits["verdict"]["holds"] and verdict_line(fits).text.startswith("plan holds")


def test_a_blocked_order_makes_the_plan_infeasible_at_its_site(make) -> None:
    """The site of test_procurement's blocked node order: 3 kW holds one more node."""
    result = simulate(make(tight_site()), years=3)
    s = summary(result)
    first_blocked = min(e.date for e in result.blocked_orders)
    assert s["verdict"]["orders_blocked"] == len(result.blocked_orders) > 0
    assert s["verdict"]["blocked_from"] == first_blocked.isoformat()
    assert [site["orders_blocked"] for site in s["sites"]] == [len(result.blocked_orders)]
    assert "INFEASIBLE from " + first_blocked.isoformat() in verdict_line(s).text
    assert s["verdict"]["blocked_reasons"] == [{
        "reason": "site s has no rack space or power for more nodes",
        "orders": len(result.blocked_orders), "first": first_blocked.isoformat()}]
    assert verdict_line(s).text.endswith(
        "order(s) blocked: site s has no rack space or power for more nodes")


def test_an_order_the_resource_cannot_take_is_not_blamed_on_its_site(make) -> None:
    """At its maximum units the pool takes no more: the plan is infeasible and says why,
    and the site, with room to spare, is not said to have blocked anything."""
    from tests.sim.test_procurement import grow_fast

    s = summary(simulate(make(grow_fast(max_units=1)), years=4))
    assert s["verdict"]["orders_blocked"] > 0
    assert [r["reason"] for r in s["verdict"]["blocked_reasons"]] == [
        "the resource is at its maximum units"]
    assert [site["orders_blocked"] for site in s["sites"]] == [0]
    assert "blocked: the resource is at its maximum units" in verdict_line(s).text


def test_the_summary_says_when_each_migration_is_done(make) -> None:
    """100 TB at 1 GB/s in an 8-hour window: 28.8 TB a day, done on its fourth day; the
    wave that stalls on a full pool is not done by the end."""
    data = base(object_stores={"o": {"site": "s", "raw": "1PB"}},
                workloads={"w": {"lands_on": "a/p", "stored": "100TB"}})
    scenario = Scenario.model_validate({"name": "m", "events": [
        {"on": "2027-01-11", "action": "migrate", "name": "fits", "volume": "100TB",
         "to": "o", "bandwidth": "1GB/s", "windows": ["22:00-06:00"]},
        {"on": "2027-01-11", "action": "migrate", "name": "stalls", "volume": "60TB",
         "to": "a/p", "per_day": "10TB"}]})
    s = summary(simulate(make(data), [scenario], years=0.1))
    assert s["migrations"] == [
        {"wave": "fits", "to": "o", "volume_bytes": 100 * TB, "started": "2027-01-11",
         "done": "2027-01-14", "days": 4, "servers_on": None, "servers_released": None,
         "copies_started": []},
        {"wave": "stalls", "to": "a/p", "volume_bytes": 60 * TB, "started": "2027-01-11",
         "done": None, "days": None, "servers_on": None, "servers_released": None,
         "copies_started": []}]


def test_temporary_migration_servers_are_released_when_the_wave_is_done(make) -> None:
    """Servers of 40 vCPU, 256 GiB and 5 TB on the cluster from the wave's first day
    (2027-01-11, day 10) through its last (100 TB at 28.8 TB a day: day 13); they are
    released the next day, day 14, and the summary says so."""
    data = base(clusters={"c": {"site": "s", "node_model": "n", "nodes": 4,
                                "drives": {"drive": "d10", "count": 4},
                                "storage_policy": "mirror-ftt1"}},
                object_stores={"o": {"site": "s", "raw": "1PB"}},
                workloads={"w": {"lands_on": "c", "stored": "1TB",
                                 "compute": {"cluster": "c", "vcpu": 10}}})
    scenario = Scenario.model_validate({"name": "m", "events": [
        {"on": "2027-01-11", "action": "migrate", "name": "legacy", "volume": "100TB",
         "to": "o", "bandwidth": "1GB/s", "windows": ["22:00-06:00"],
         "servers": {"cluster": "c", "vcpu": 40, "ram": "256GiB"},
         "servers_storage": "5TB"}]})
    result = simulate(make(data), [scenario], years=0.1)
    vcpu, ram = result.compute["c"].vcpu_demand, result.compute["c"].ram_demand
    used = result.resources["c"].used
    assert vcpu[9] == 10 and vcpu[10] == vcpu[13] == 50 and vcpu[14] == 10
    assert ram[10] == 256 * 2**30 and ram[14] == 0
    assert used[9] == 1 * TB and used[10] == used[13] == 6 * TB and used[14] == 1 * TB
    [wave] = summary(result)["migrations"]
    assert (wave["done"], wave["servers_on"], wave["servers_released"]) == (
        "2027-01-14", "c", "2027-01-15")


def test_a_workload_ends_on_its_end_date(make) -> None:
    """0.1 TB a day and 10 vCPU until 2027-01-31 (day 30): the data stays, nothing more
    lands, and the compute is given back from day 31."""
    data = base(clusters={"c": {"site": "s", "node_model": "n", "nodes": 4,
                                "drives": {"drive": "d10", "count": 4},
                                "storage_policy": "mirror-ftt1"}},
                workloads={"w": {"lands_on": "c", "per_year": "36.5TB", "end": "2027-01-31",
                                 "compute": {"cluster": "c", "vcpu": 10}}})
    result = simulate(make(data), years=0.2)
    used, vcpu = result.resources["c"].used, result.compute["c"].vcpu_demand
    assert used[30] == used[60] == 31 * TB // 10
    assert vcpu[30] == 10 and vcpu[31] == 0
