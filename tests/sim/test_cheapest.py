"""Where several rules grow one resource, the desk buys the cheapest that covers the need,
within its limits, and says why: drives into empty HCI bays against whole nodes, a bigger
drive's parity group against the tier's own.  Capacities worked by hand."""

from __future__ import annotations

from typing import Any

from capacity.sim import simulate
from tests.sim.conftest import TB, base


def hci(bays_used: int = 4, **rules: dict[str, Any]) -> dict[str, Any]:
    """4 nodes of 12 bays, N+1, mirrored, no slack, 10 TB drives: usable (4 - 1) x d x 10 /
    2 TB with d drives a node, 60 TB with 4.  A drive more in every node adds 3 x 10 / 2 =
    15 TB for 4 drives (4,000); a node more adds (5 - 1) x 4 x 10 / 2 - 60 = 20 TB
    (50,000).  Data: 30 TB growing 36.5 TB a year (0.1 TB a day)."""
    data = base(clusters={"c": {"site": "s", "node_model": "n", "nodes": 4,
                                "drives": {"drive": "d10", "count": bays_used},
                                "storage_policy": "mirror-ftt1", "slack": "0%",
                                "failover_reserve": 1}},
                workloads={"w": {"lands_on": "c", "stored": "30TB", "per_year": "36.5TB"}},
                procurement={
                    "node": {"resource": "c", "unit": "node", "lead_time": "8w",
                             "unit_cost": 50000},
                    "drive": {"resource": "c", "unit": "drive", "lead_time": "8w",
                              "unit_cost": 1000}, **rules})
    del data["arrays"]
    return data


def test_drives_into_empty_bays_are_bought_before_nodes_when_cheaper(make) -> None:
    result = simulate(make(hci()), years=1)
    assert result.orders and {o.rule for o in result.orders} == {"drive"}
    first = result.orders[0]
    assert (first.units, first.cost, first.capacity) == (4, 4000, 15 * TB)
    assert first.why.startswith("cheapest of 2 ways") and "node 1 x node 50,000" in first.why
    # In service: 5 drives a node, 75 TB.
    day = (first.installed - result.start).days
    assert result.resources["c"].capacity[day] == 75 * TB


def test_nodes_when_the_bays_cannot_cover_the_need(make) -> None:
    """11 of 12 bays used: usable 3 x 11 x 10 / 2 = 165 TB, one set of drives left (+15 TB).
    Stored 150 TB at 3.65 TB a day (1,332 TB a year): within the 70-day horizon it needs
    more than the last set gives, so a node (each +55 TB: (5 - 1) x 11 x 10 / 2 - 165)."""
    data = hci(bays_used=11)
    data["workloads"]["w"] = {"lands_on": "c", "stored": "150TB", "per_year": "1332.25TB"}
    result = simulate(make(data), years=0.2)
    first = result.orders[0]
    assert first.rule == "node" and first.capacity % (55 * TB) == 0
    assert "not enough: no empty drive bays" in first.why


def test_a_cheaper_way_with_a_shorter_lead_time_is_waited_for(make) -> None:
    """Drives take 2 weeks, nodes 12: when the node rule comes due, drives are cheaper and
    still in time, so the desk waits and buys drives when their own, shorter, horizon
    comes: no node is bought."""
    data = hci()
    data["procurement"]["drive"]["lead_time"] = "2w"
    data["procurement"]["node"]["lead_time"] = "12w"
    result = simulate(make(data), years=1)
    assert {o.rule for o in result.orders} == {"drive"}
    assert all(o.installed - o.ordered == result.orders[0].installed - result.orders[0].ordered
               for o in result.orders)


def pool_with_bigger_drives() -> dict[str, Any]:
    """The base pool (2 x 7D+1P of 10 TB: 140 TB) with two rules, reordering at 50%: a group
    of its own drive (+70 TB, 8,000) or of a 20 TB drive (+140 TB, 12,000).  120 TB stored,
    none arriving: to be under 50% it needs 120 / 0.5 - 140 = 100 TB more, which one 20 TB
    group covers (12,000) and two 10 TB groups would (16,000)."""
    rule = {"resource": "a/p/t", "unit": "parity-group", "lead_time": "8w",
            "reorder_at": "50%"}
    data = base(workloads={"w": {"lands_on": "a/p", "stored": "120TB"}},
                procurement={"same": {**rule, "unit_cost": 8000},
                             "bigger": {**rule, "drive": "d20", "unit_cost": 12000}})
    data["catalog"]["drives"]["d20"] = {**data["catalog"]["drives"]["d10"],
                                        "capacity": "20TB"}
    return data


def test_a_bigger_drive_group_joins_the_tier_when_it_is_cheaper(make) -> None:
    result = simulate(make(pool_with_bigger_drives()), years=0.5)
    first = result.orders[0]
    assert (first.rule, first.units, first.capacity) == ("bigger", 1, 140 * TB)
    assert "same 2 x parity-group 16,000" in first.why
    day = (first.installed - result.start).days
    assert result.resources["a/p"].capacity[day] == 280 * TB


def test_one_rule_alone_says_no_why(make) -> None:
    data = hci()
    del data["procurement"]["node"]
    result = simulate(make(data), years=1)
    assert result.orders and all(o.why == "" for o in result.orders)


def test_drive_rules_are_checked_against_the_estate(make) -> None:
    from capacity.checks import check_inventory

    full = hci(bays_used=12)
    assert "all 12 bays filled" in dict(check_inventory(make(full)))[
        ("procurement", "drive", "unit")]
    data = pool_with_bigger_drives()
    data["procurement"]["bigger"]["drive"] = "d99"
    assert "d99" in dict(check_inventory(make(data)))[("procurement", "bigger", "drive")]
    data["procurement"]["bigger"] = {"resource": "a/p/t", "unit": "drive", "lead_time": "1w",
                                     "unit_cost": 1}
    assert "a drive expands a cluster" in dict(check_inventory(make(data)))[
        ("procurement", "bigger", "unit")]
