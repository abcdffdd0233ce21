"""What a plan costs to run, year by year: support, licences and power.

Capital cost is each order's cost on its order date (a refresh at end of support is an
order too).  Running cost is, per calendar year of the run, for the days of it the run
covers:

- support: each order's ``support`` (a yearly share of its cost) and ``support_per_unit``
  (a yearly price per unit) for the days it is in service, and each installed array's,
  cluster's and object store's contract (``support.per_year``), for every day (after a
  refresh, the new hardware's contract is taken to cost the same);
- licences: per TB of the capacity the resources they cover offer, day by day, and per
  physical core of the clusters they cover (their nodes, with those bought), a year;
- power: what every site draws (at the start, plus installed orders) at the inventory's
  ``power_price`` a kWh.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

from capacity.model import Inventory
from capacity.sim.results import Order, SiteUse

TB = 10**12


def opex_per_year(inventory: Inventory, orders: Iterable[Order],
                  sites_start: Mapping[str, SiteUse], first: dt.date, last: dt.date,
                  capacity: Mapping[str, Sequence[int]]) -> dict[int, dict[str, float]]:
    """Calendar year -> {"support", "licences", "power"} for the days ``first`` to
    ``last``; ``capacity``: what each resource offered each day of the run."""
    years = {y: {"support": 0.0, "licences": 0.0, "power": 0.0}
             for y in range(first.year, last.year + 1)}
    price = inventory.power_price / 1000 * 24  # a watt for a day
    orders = list(orders)
    contracts = [support.per_year for _name, support in inventory.contracts()]
    for year, cost in years.items():
        start, end = max(first, dt.date(year, 1, 1)), min(last, dt.date(year, 12, 31))
        length = (dt.date(year, 12, 31) - dt.date(year, 1, 1)).days + 1
        days = (end - start).days + 1
        cost["power"] += price * sum(s.power_w for s in sites_start.values()) * days
        cost["support"] += sum(contracts) * days / length
        for order in orders:
            served = (end - max(start, order.installed)).days + 1
            if served <= 0:
                continue
            rule = inventory.procurement.get(order.rule)
            if rule is not None:
                cost["support"] += (order.cost * rule.support
                                    + order.units * rule.support_per_unit) * served / length
            cost["power"] += price * order.power_w * served
        cost["licences"] += _licences(inventory, orders, capacity, first, start, end) / length
    return years


def _licences(inventory: Inventory, orders: list[Order], capacity: Mapping[str, Sequence[int]],
              first: dt.date, start: dt.date, end: dt.date) -> float:
    """Licence-days from ``start`` to ``end``: TB-days or core-days times the price."""
    total = 0.0
    i, j = (start - first).days, (end - first).days + 1
    for licence in inventory.licences.values():
        for ref in licence.applies_to:
            if licence.per == "tb":
                total += licence.price * sum(capacity.get(ref, ())[i:j]) / TB
            else:
                total += licence.price * _core_days(inventory, orders, ref, start, end)
    return total


def _core_days(inventory: Inventory, orders: list[Order], cluster: str, start: dt.date,
               end: dt.date) -> int:
    """Physical cores of the cluster's nodes, installed and bought, summed over the days."""
    config = inventory.clusters[cluster]
    cores = config.cores or inventory.catalog.nodes[config.node_model].cores
    node_days = config.nodes * ((end - start).days + 1)
    for order in orders:
        if order.resource == cluster and order.unit == "node" and order.installed <= end:
            node_days += order.units * ((end - max(start, order.installed)).days + 1)
    return node_days * cores


__all__ = ["opex_per_year"]
