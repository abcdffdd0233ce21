"""Orders: placed when the trend crosses the reorder threshold within lead time, installed
exactly lead-time days later, within slots, rack space and power."""

from __future__ import annotations

import copy
import datetime as dt
import math

import pytest

from capacity.model.policy import Drain
from capacity.model.scenario import Scenario
from capacity.sim import simulate
from tests.sim.conftest import TB, base
from tests.sim.test_tiering import tiered


def grow_fast(**extra: object) -> dict:
    return base(workloads={"w": {"lands_on": "a/p", "stored": "60.1TB", "per_year": "73TB"}},
                procurement={"pg": {"resource": "a/p/t", "unit": "parity-group",
                                    "lead_time": "8w", "unit_cost": 1000, **extra}})


def test_orders_land_exactly_lead_time_days_later(make) -> None:
    result = simulate(make(grow_fast()), years=3)
    assert result.orders, "a pool growing 0.2 TB a day from 60 of 140 TB must order"
    capacity = result.resources["a/p"].capacity
    for order in result.orders:
        assert order.installed - order.ordered == dt.timedelta(days=56)
        day = (order.installed - result.start).days
        # One 7D+1P group of 10 TB drives adds 70 TB, in service from the install day.
        assert order.capacity == 70 * TB * order.units
        assert capacity[day] - capacity[day - 1] == order.capacity


def test_first_order_is_placed_when_the_projection_crosses_the_threshold(make) -> None:
    """Warning 70% of 140 TB = 98 TB.  The desk projects used + 0.2 TB/day x (56 + 14) days:
    used on day d is 60.1 + 0.2 (d + 1), so the order falls on the first d with
    60.3 + 0.2 d + 14 >= 98, i.e. d >= 118.5: day 119."""
    result = simulate(make(grow_fast()), years=1)
    first = result.orders[0]
    assert (first.ordered - result.start).days == 119
    assert first.cost == 1000 * first.units
    assert result.runway("a/p", "warning").date is None  # the order came in time


def test_max_units_stops_orders(make) -> None:
    result = simulate(make(grow_fast(max_units=1)), years=4)
    assert sum(o.units for o in result.orders) == 1
    blocked = [e for e in result.events if e.kind == "order-blocked"]
    assert blocked and "maximum units" in blocked[0].message
    assert result.runway("a/p", "full").date is not None


def test_full_chassis_needs_drive_boxes_and_orders_them_with_the_groups(make) -> None:
    """The chassis has 48 slots: 2 groups (16 drives) in use, room for 4 more groups of 8;
    the 5th group needs a drive box, ordered with it under the drive-box rule."""
    data = grow_fast()
    data["workloads"]["w"]["per_year"] = "300TB"
    data["procurement"]["box"] = {"resource": "a", "unit": "drive-box", "lead_time": "10w",
                                  "unit_cost": 500}
    result = simulate(make(data), years=3)
    boxes = [o for o in result.orders if o.unit == "drive-box"]
    groups = sum(o.units for o in result.orders if o.unit == "parity-group")
    assert groups > 4 and boxes
    first_box = boxes[0]
    assert first_box.installed - first_box.ordered == dt.timedelta(days=70)
    with_box = [o for o in result.orders if o.unit == "parity-group"
                and o.ordered == first_box.ordered]
    assert with_box and with_box[0].installed == first_box.installed  # waits for its box


def tight_site() -> dict:
    """Nodes of 2U and 500 W plus 4 drives x 10 W: a site with 1 rack of 42U but 3 kW
    holds the 4 nodes there (2,160 W) and one more (2,700 W), not a sixth."""
    data = base(clusters={"c": {"site": "s", "node_model": "n", "nodes": 4,
                                "drives": {"drive": "d10", "count": 4},
                                "storage_policy": "mirror-ftt1", "slack": "0%"}},
                workloads={"w": {"lands_on": "c", "stored": "40TB", "per_year": "100TB"}},
                procurement={"node": {"resource": "c", "unit": "node", "lead_time": "4w",
                                      "unit_cost": 10}})
    data["sites"]["s"]["racks"] = {"count": 1, "units": 42, "power_kw": 3}
    del data["arrays"]
    return data


def test_an_order_that_does_not_fit_the_site_is_an_event(make) -> None:
    """The tight site: one node more fits, not a second."""
    result = simulate(make(tight_site()), years=3)
    assert sum(o.units for o in result.orders) == 1
    blocked = [e for e in result.events if e.kind == "order-blocked"]
    assert blocked and "no rack space or power" in blocked[0].message
    assert result.sites_end["s"].power_w <= 3000


def test_nodes_are_ordered_for_compute_demand_ahead_of_a_known_start(make) -> None:
    """4 nodes of 32 cores, N+1, controller VM 4 cores, overcommit 1: (4 - 1) x 28 = 84 vCPU.
    A workload asking 150 vCPU starts on day 200; with warning 80% the cluster must give
    150 / 0.8 = 187.5 vCPU: 4 more nodes (28 each: 84 + 112 = 196).  Lead time 8 weeks plus
    14 days of margin: ordered by day 200 - 70 = 130, installed by day 200."""
    data = base(clusters={"c": {"site": "s", "node_model": "n", "nodes": 4,
                                "drives": {"drive": "d10", "count": 1},
                                "storage_policy": "mirror-ftt1"}},
                workloads={"w": {"lands_on": "c", "stored": "1TB",
                                 "start": "2027-07-20",
                                 "compute": {"cluster": "c", "vcpu": 150}}},
                procurement={"node": {"resource": "c", "unit": "node", "lead_time": "8w",
                                      "unit_cost": 10}})
    del data["arrays"]
    result = simulate(make(data), years=1)
    assert sum(o.units for o in result.orders) == 4
    first = result.orders[0]
    assert (first.ordered - result.start).days == 130
    vcpu = result.compute["c"]
    start = (dt.date(2027, 7, 20) - result.start).days
    assert start == 200
    assert vcpu.vcpu[start] == 196 >= vcpu.vcpu_demand[start] / 0.8
    assert result.runway("c:vcpu", "full").date is None


def drained(reorder_at: str, **policy: object) -> dict:
    """Hot 'a/p' (140 TB) holds 100 TB, taking 0.1 TB a day; a policy moves data older than
    30 days to the object store while hot is above 85% (119 TB), down to 75% (105 TB)."""
    data = tiered(trigger={"high": "85%", "low": "75%"}, **policy)
    data["workloads"]["w"].update(stored="100TB", stored_ages={"oldest": "600d"})
    data["procurement"] = {"pg": {"resource": "a/p/t", "unit": "parity-group",
                                  "lead_time": "8w", "unit_cost": 1000,
                                  "reorder_at": reorder_at}}
    return data


def test_the_desk_does_not_buy_for_a_tier_that_tiering_keeps_below_its_reorder_point(
        make) -> None:
    """Reorder at 88% (123.2 TB) over 56 + 14 days.  On the trend alone the desk would order
    once used + 0.1 x 70 passed 123.2 TB (used 116.2 TB, day 161); but a run drains hot to
    105 TB as soon as it finds it above 119 TB, so hot never holds more than 119 TB plus a
    day's images (the sawtooth's peak) and nothing need be bought."""
    result = simulate(make(drained("88%")), years=2)
    hot = result.resources["a/p"].used
    assert result.orders == []
    assert max(hot) <= 119 * TB + 0.1 * TB + 1
    assert min(hot[200:]) == pytest.approx(105 * TB, abs=0.1 * TB)  # drained to low


def test_the_desk_buys_for_a_tier_whose_runs_cannot_keep_up(make) -> None:
    """The same tier, runs capped at 0.05 TB: from the first run above high (day 190, 119.1
    TB) hot still grows by 0.1 - 0.05 TB a day.  The desk plans for used + (0.1 - 0.05) x 70
    days: it orders on the first day that reaches 126 TB (90%), used >= 122.5 TB, i.e. 69
    days after day 190: day 259.  The group (70 TB) arrives 56 days later, before hot
    reaches 90%."""
    result = simulate(make(drained("90%", caps={"bytes": "0.05TB"})), years=1.5)
    first = result.orders[0]
    assert abs((first.ordered - result.start).days - 259) <= 1
    used, capacity = result.resources["a/p"].used, result.resources["a/p"].capacity
    assert all(u < 0.9 * c for u, c in zip(used, capacity, strict=True))


def test_the_desk_counts_what_no_rule_moves_off_a_drained_tier(make) -> None:
    """The drained tier of the test above, with a second workload on it that no policy
    governs: 10 TB, 0.1 TB a day more.  The runs keep the governed data near 75%, but the
    other grows under it and nothing takes it off, so the tier's floor rises 0.1 TB a day;
    the desk must buy before the tier reaches 88%, not count on the watermarks alone."""
    data = drained("88%")
    data["workloads"]["other"] = {"lands_on": "a/p", "stored": "10TB", "per_year": "36.5TB"}
    result = simulate(make(data), years=3)
    used, capacity = result.resources["a/p"].used, result.resources["a/p"].capacity
    assert result.orders
    assert all(u < 0.88 * c for u, c in zip(used, capacity, strict=True))


def test_runways_if_nothing_is_bought_come_from_a_second_run_buying_nothing(make) -> None:
    """The pool of test_first_order...: 60.1 + 0.2 (d + 1) TB on day d of 140 TB.  Bought
    for, it reaches no level; buying nothing, it reaches warning (70%, 98 TB) on day 189,
    critical (80%, 112 TB) on day 259 and full on day 399, when 140.1 TB would be there:
    0.1 TB of that day's data is refused, and all of it from then on."""
    result = simulate(make(grow_fast()), years=1.5, unbought=True)
    assert result.orders and result.runway("a/p", "warning").date is None
    assert result.unbought is not None
    days = {r.level: (r.date - result.start).days for r in result.unbought
            if r.resource == "a/p" and r.date is not None}
    assert days == {"warning": 189, "critical": 259, "full": 399}
    bare = simulate(make(grow_fast()), years=1.5, procurement=False)
    assert bare.orders == [] and bare.failed_from == result.start + dt.timedelta(days=399)
    refused = bare.unplaced["w"]
    assert refused[398] == 0 and abs(refused[399] - 0.1 * TB) <= 1
    assert all(abs(n - 0.2 * TB) <= 1 for n in refused[400:])


def test_an_order_due_exactly_on_the_threshold_is_placed_that_day(make) -> None:
    """Whole bytes throughout: 40 TB stored over a year of ages is laid down as exactly
    40 TB, and 0.2 TB a day lands, so on day d the pool holds 40 + 0.2 (d + 1) TB.  The desk
    projects 70 days at 0.2 TB a day: 40 + 0.2 (d + 71) reaches 98 TB (70% of 140 TB)
    exactly on day 219, and the order is placed then, not a day late."""
    data = grow_fast()
    data["workloads"]["w"].update(stored="40TB", stored_ages={"oldest": "365d"})
    result = simulate(make(data), years=1)
    assert result.resources["a/p"].used[0] == 40 * TB + 0.2 * TB
    assert (result.orders[0].ordered - result.start).days == 219


def test_stored_data_is_laid_down_to_the_byte(make) -> None:
    """98 TB stored over five years of ages, weighted by 12% growth, is exactly 98 TB: 70%
    of 140 TB, the warning, so the desk orders on day 0 (reaching it counts).  Float parts
    summed to 97,999,999,999,999.97 bytes, just under, and no order came."""
    data = base(workloads={"w": {"lands_on": "a/p", "stored": "98TB", "growth": "12%/y",
                                 "stored_ages": {"oldest": "5y"}}},
                procurement={"pg": {"resource": "a/p/t", "unit": "parity-group",
                                    "lead_time": "8w", "unit_cost": 1000}})
    result = simulate(make(data), years=0.1)
    assert result.resources["a/p"].used[0] == 98 * TB
    assert [(o.ordered - result.start).days for o in result.orders] == [0]


def test_a_migration_is_bought_for_ahead_once_not_extrapolated(make) -> None:
    """An object store of 1 PB holds 600 TB and grows by nothing; a wave copies 300 TB at
    10 TB a day from day 100.  The desk looks 56 + 14 = 70 days ahead and counts the wave's
    bytes within them: 600 + 10 x (d + 70 - 100 + 1) reaches 800 TB (the 80% warning) on
    day 49, and it orders then, once.  The wave is not growth: once it is done, nothing
    more is bought (the trend read as growth would have bought 700 TB more)."""
    data = base(object_stores={"o": {"site": "s", "raw": "1PB", "protection": {"copies": 1}}},
                workloads={"w": {"lands_on": "o", "stored": "600TB"}},
                procurement={"raw": {"resource": "o", "unit": "raw", "capacity": "500TB",
                                     "lead_time": "8w", "unit_cost": 1}})
    scenario = Scenario.model_validate({"name": "m", "events": [{
        "on": "2027-04-11", "action": "migrate", "name": "legacy", "volume": "300TB",
        "to": "o", "per_day": "10TB"}]})
    result = simulate(make(data), [scenario], years=1)
    assert (dt.date(2027, 4, 11) - result.start).days == 100
    assert [(o.ordered - result.start).days for o in result.orders] == [49]
    used, capacity = result.resources["o"].used, result.resources["o"].capacity
    assert used[-1] == 900 * TB and capacity[-1] == 1500 * TB
    assert result.runway("o", "warning").date is None


def test_a_workload_with_a_start_date_is_bought_for_from_its_model(make) -> None:
    """The pool (140 TB) holds 60 TB and grows by nothing; a workload of 0.5 TB a day
    starts on day 181.  On day d after it starts the pool holds 60 + 0.5 (d - 180) TB, and
    the desk counts the full 0.5 TB a day over its 70 days (what the 30-day trend has not
    seen yet from the workload's model): 60 + 0.5 (d - 180) + 35 reaches 98 TB (70%) on
    day 186.  The trend alone would have waited for the ramp of its own window."""
    data = base(workloads={"old": {"lands_on": "a/p", "stored": "60TB"},
                           "new": {"lands_on": "a/p", "per_year": "182.5TB",
                                   "start": "2027-07-01"}},
                procurement={"pg": {"resource": "a/p/t", "unit": "parity-group",
                                    "lead_time": "8w", "unit_cost": 1000}})
    result = simulate(make(data), years=1)
    assert (dt.date(2027, 7, 1) - result.start).days == 181
    assert (result.orders[0].ordered - result.start).days == 186


def test_a_workload_a_scenario_adds_on_a_known_day_is_bought_for_ahead(make) -> None:
    """The cluster and demand of the test above, but the workload comes as a scenario's
    add_workload on 2027-07-20: the scenario declares the day, so the desk knows it as it
    knows an inventory start date, and orders the same 4 nodes on day 130."""
    data = base(clusters={"c": {"site": "s", "node_model": "n", "nodes": 4,
                                "drives": {"drive": "d10", "count": 1},
                                "storage_policy": "mirror-ftt1"}},
                workloads={"base": {"lands_on": "c", "stored": "1TB"}},
                procurement={"node": {"resource": "c", "unit": "node", "lead_time": "8w",
                                      "unit_cost": 10}})
    del data["arrays"]
    scenario = Scenario.model_validate({"name": "new service", "events": [{
        "on": "2027-07-20", "action": "add_workload", "name": "w", "workload": {
            "lands_on": "c", "per_year": "1TB", "compute": {"cluster": "c", "vcpu": 150}}}]})
    result = simulate(make(data), [scenario], years=1)
    assert [((o.ordered - result.start).days, o.units) for o in result.orders] == [(130, 4)]
    assert result.runway("c:vcpu", "full").date is None


def test_a_copy_that_starts_on_a_known_day_is_bought_for_ahead_once(make) -> None:
    """An object store of 1 PB holds 700 TB; a backup of the 100 TB pool starts on day 100.
    Its first full copy (100 TB, 'new-data': nothing rewritten) is known 70 days ahead: on
    day 30 the projection is 700 + 100 = 800 TB, the 80% warning, and the desk orders
    then; once the copy is there it is not read as growth, and nothing more is bought."""
    data = base(object_stores={"o": {"site": "s", "raw": "1PB", "protection": {"copies": 1}}},
                workloads={"w": {"lands_on": "a/p", "stored": "100TB"},
                           "archive": {"lands_on": "o", "stored": "700TB"}},
                replications={"b": {"kind": "backup", "source": "a/p", "target": "o",
                                    "retention": "30d", "change_rate": "new-data",
                                    "start": "2027-04-11"}},
                procurement={"raw": {"resource": "o", "unit": "raw", "capacity": "500TB",
                                     "lead_time": "8w", "unit_cost": 1}})
    result = simulate(make(data), years=1)
    assert [(o.ordered - result.start).days for o in result.orders] == [30]
    assert result.resources["o"].used[99] == 700 * TB
    assert result.resources["o"].used[100] == 800 * TB


def test_compute_that_grows_is_bought_for_as_it_grows(make) -> None:
    """4 nodes of 28 usable cores, N+1: 84 vCPU; the warning (80%) is 67.2 vCPU.  A workload
    asks 60 vCPU growing 20% a year: on day t it asks ceil(60 x 1.2^(t / 365)), which passes
    67.2 (reaches 68) on the first t with 60 x 1.2^(t / 365) > 67, t > 365 x ln(67 / 60) /
    ln 1.2 = 220.9: day 221.  The desk looks 70 days ahead and orders on day 151."""
    import math

    data = base(clusters={"c": {"site": "s", "node_model": "n", "nodes": 4,
                                "drives": {"drive": "d10", "count": 1},
                                "storage_policy": "mirror-ftt1"}},
                workloads={"w": {"lands_on": "c", "stored": "1TB",
                                 "compute": {"cluster": "c", "vcpu": 60, "growth": "20%/y"}}},
                procurement={"node": {"resource": "c", "unit": "node", "lead_time": "8w",
                                      "unit_cost": 10}})
    del data["arrays"]
    result = simulate(make(data), years=1)
    demand = result.compute["c"].vcpu_demand
    first = next(t for t in range(365) if 60 * 1.2 ** (t / 365) > 67)
    assert first == math.floor(365 * math.log(67 / 60) / math.log(1.2)) + 1 == 221
    assert demand[0] == 60 and demand[first - 1] == 67 and demand[first] == 68
    assert demand[364] == math.ceil(60 * 1.2 ** (364 / 365))
    assert (result.orders[0].ordered - result.start).days == first - 70


def test_compute_can_grow_with_the_workload_s_data(make) -> None:
    """'with-data': the demand grows as the workload's daily volume, here 44% a year, and
    a scenario that doubles the volume doubles it too."""
    data = base(clusters={"c": {"site": "s", "node_model": "n", "nodes": 4,
                                "drives": {"drive": "d10", "count": 1},
                                "storage_policy": "mirror-ftt1"}},
                workloads={"w": {"lands_on": "c", "per_year": "1TB", "growth": "44%/y",
                                 "compute": {"cluster": "c", "vcpu": 10, "ram": "100GiB",
                                             "growth": "with-data"}}})
    del data["arrays"]
    scenario = Scenario.model_validate({"name": "x2", "events": [
        {"on": "2028-01-10", "action": "scale_demand", "workload": "w", "factor": 2}]})
    result = simulate(make(data), [scenario], years=2)
    c = result.compute["c"]
    assert c.vcpu_demand[0] == 10 and c.ram_demand[0] == 100 * 2**30
    assert c.vcpu_demand[182] == 12  # ceil(10 x 1.44^(182/365)) = ceil(11.996)
    assert c.vcpu_demand[364] == 15  # ceil(14.39)
    assert c.ram_demand[364] == round(100 * 2**30 * 1.44 ** (364 / 365))
    assert c.vcpu_demand[400] == math.ceil(2 * 10 * 1.44 ** (400 / 365))


def test_running_cost_is_support_on_what_is_bought_and_power_at_its_price(make) -> None:
    """The estate of test_first_order... for 2027 (365 days): its site draws 1,160 W from
    the start (the array's 1,000 W and 16 drives of 10 W), at 0.20 a kWh: 1.16 x 24 x 365
    x 0.2 = 2,032.32.  The order of day 119 (1
    group at 1,000, 80 W) is in service from day 175 (56 days later): 190 days of 2027, so
    support at 18% a year is 1,000 x 0.18 x 190 / 365 and its power 0.08 x 24 x 190 x 0.2."""
    data = grow_fast(support="18%")
    data["power_price"] = 0.2
    result = simulate(make(data), years=1)
    order = result.orders[0]
    assert (order.installed - result.start).days == 175 and order.power_w == 80
    assert result.sites_start["s"].power_w == 1000 + 16 * 10
    opex = result.opex[2027]
    assert opex["support"] == pytest.approx(1000 * 0.18 * 190 / 365)
    # Or a price a unit a year: 500 for the one group, 190 of 365 days.
    data["procurement"]["pg"].update(support=0, support_per_unit=500)
    assert simulate(make(data), years=1).opex[2027]["support"] == pytest.approx(
        500 * 190 / 365)
    assert opex["power"] == pytest.approx(1.16 * 24 * 365 * 0.2 + 0.08 * 24 * 190 * 0.2)


def test_installed_support_licences_and_the_refresh_at_end_of_support(make) -> None:
    """A 2027 run (365 days) of the base pool (140 TB, nothing arriving) on an array whose
    support costs 36,500 a year and ends on 2027-07-01 (day 181), refreshed for 200,000
    with 30 days' lead: ordered on day 151 (2027-06-01), in service on 2027-07-01.  A
    licence of 2 a TB a year on the pool: 140 x 2 = 280; one of 10 a core on a 4-node
    cluster of 32-core nodes: 4 x 32 x 10 = 1,280; both for all 365 days."""
    data = base(workloads={"w": {"lands_on": "a/p", "stored": "10TB"}})
    data["arrays"]["a"]["support"] = {"per_year": 36500, "ends": "2027-07-01",
                                      "refresh_cost": 200000, "refresh_lead_time": "30d"}
    data["clusters"] = {"c": {"site": "s", "node_model": "n", "nodes": 4,
                              "drives": {"drive": "d10", "count": 4}}}
    data["licences"] = {"pool": {"per": "tb", "price": 2, "applies_to": ["a/p"]},
                        "cores": {"per": "core", "price": 10, "applies_to": ["c"]}}
    result = simulate(make(data), years=1)
    (refresh,) = result.orders
    assert (refresh.rule, refresh.unit, refresh.cost) == ("refresh:a", "refresh", 200000)
    assert (refresh.ordered, refresh.installed) == (dt.date(2027, 6, 1), dt.date(2027, 7, 1))
    assert refresh.why == "support ends 2027-07-01"
    assert result.opex[2027]["support"] == pytest.approx(36500)
    assert result.opex[2027]["licences"] == pytest.approx(280 + 1280)
    assert result.cost_per_year() == {2027: 200000}
    # Buying nothing buys no refresh either.
    assert simulate(make(data), years=1, procurement=False).orders == []


def test_support_that_ends_with_no_refresh_is_a_warning(make) -> None:
    from capacity.lint import inventory_warnings

    data = base(workloads={"w": {"lands_on": "a/p", "stored": "10TB"}})
    data["arrays"]["a"]["support"] = {"per_year": 1, "ends": "2028-01-01"}
    said = dict(inventory_warnings(make(data)))
    assert "runs on unsupported" in said[("arrays", "a", "support", "ends")]


def test_a_run_s_caps_spent_by_an_earlier_rule_are_not_counted_twice(make) -> None:
    """Hot 'a/p' and warm 'a/q' (140 TB each), 0.1 TB a day landing on hot: hot-to-warm
    (first) takes data past 30 days, warm-to-archive data past 200 days, while a tier is
    above 85%; each run moves at most 0.15 TB in all.  Hot-to-warm spends 0.1 TB of it a
    day, so warm-to-archive has 0.05 TB a day against the 0.1 TB that reaches warm: above
    its high watermark warm still grows 0.05 TB a day, and the desk must buy for it (it
    reorders at 88%) rather than count on the full 0.15 TB draining it."""
    assert Drain(0.85, 1.0, 10.0).sharing(4.0) == Drain(0.85, 1.0, 6.0)
    data = tiered(trigger={"high": "85%", "low": "75%"}, caps={"bytes": "0.15TB"})
    pool = data["arrays"]["a"]["pools"]["p"]
    data["arrays"]["a"]["pools"]["q"] = {**pool, "thresholds": {"warning": "88%",
                                                                "critical": "93%"}}
    data["hosts"]["h"]["tiers"]["warm"] = {"path": "/warm", "storage": "a/q"}
    rules = data["policies"]["life"]["rules"]
    rules[0]["to"] = "warm"
    rules.append({"name": "warm-out", "from": "warm", "to": "arch",
                  "select": {"older_than": "200d"}})
    data["workloads"]["w"].update(stored="115TB", stored_ages={"oldest": "200d"})
    data["workloads"]["w2"] = {"lands_on": "a/q", "stored": "110TB",
                               "stored_ages": {"youngest": "30d", "oldest": "199d"},
                               "policy": "life"}
    data["procurement"] = {"warm": {"resource": "a/q/t", "unit": "parity-group",
                                    "lead_time": "8w", "unit_cost": 1000,
                                    "reorder_at": "88%"}}
    result = simulate(make(data), years=2)
    used, capacity = result.resources["a/q"].used, result.resources["a/q"].capacity
    assert result.orders
    assert all(u < 0.88 * c for u, c in zip(used, capacity, strict=True))


def test_a_scaled_demand_is_bought_for_the_day_it_is_scaled(make) -> None:
    """Compute growing 1% a year with its data, 40 vCPU on a 4-node cluster of 32-core
    nodes (N+1: 96 vCPU, 80% of it 76.8): nothing to buy, and the desk may count on that
    for a while.  Scaled x3 on day 100 (120 vCPU), it orders that day: the scaling is news
    however long the check last held."""
    data = base(clusters={"c": {"site": "s", "node_model": "n", "nodes": 4,
                                "drives": {"drive": "d10", "count": 1},
                                "storage_policy": "mirror-ftt1"}},
                workloads={"w": {"lands_on": "c", "per_year": "1TB", "growth": "1%/y",
                                 "compute": {"cluster": "c", "vcpu": 40,
                                             "growth": "with-data"}}},
                procurement={"node": {"resource": "c", "unit": "node", "lead_time": "8w",
                                      "unit_cost": 1}})
    del data["arrays"]
    scenario = Scenario.model_validate({"name": "x3", "events": [
        {"on": "2027-04-11", "action": "scale_demand", "workload": "w", "factor": 3}]})
    result = simulate(make(data), [scenario], years=1)
    assert result.orders and (result.orders[0].ordered - result.start).days == 100


def test_a_mirror_smaller_than_its_source_is_bought_for_before_it_fills(make) -> None:
    """The drained tier above (0.1 TB a day, drained above 85%) with a third parity group
    (210 TB) and a GAD mirror 'b/p' at a DR site that kept two (140 TB): the source's
    runs act only above 85% of 210 TB (178.5 TB), so the mirror holds everything up to then
    and would fill on day 400.  Its rule (88%, 123.2 TB, 56 + 14 days ahead) must order on
    the first day the trend reaches 123.2 TB: used + 0.1 x 70 >= 123.2, day 162 (116.2 TB);
    counting on the source's watermarks as if they were of the mirror's size (119 TB, below
    the reorder point) it never bought, and the pair stopped taking images."""
    data = drained("88%")
    pool = data["arrays"]["a"]["pools"]["p"]
    data["sites"]["dr"] = {"role": "dr", "racks": {"count": 1, "units": 42}}
    data["arrays"]["b"] = {"site": "dr", "model": "arr", "pools": {"p": copy.deepcopy(pool)}}
    pool["tiers"][0]["parity_groups"][0]["count"] = 3
    data["replications"] = {"r": {"kind": "gad", "source": "a/p", "target": "b/p"}}
    data["procurement"] = {"pg-dr": {"resource": "b/p/t", "unit": "parity-group",
                                     "lead_time": "8w", "unit_cost": 1000,
                                     "reorder_at": "88%"}}
    result = simulate(make(data), years=2)
    first = result.orders[0]
    assert first.rule == "pg-dr"
    assert abs((first.ordered - result.start).days - 162) <= 1
    used, capacity = result.resources["b/p"].used, result.resources["b/p"].capacity
    assert all(u < 0.88 * c for u, c in zip(used, capacity, strict=True))
    assert not [e for e in result.events if e.kind == "data-refused"]
