"""What a plan costs to run, year by year: support on what is bought, and power.

Capital cost is each order's cost on its order date.  Running cost is, per calendar year
of the run: each order's ``support`` (a yearly share of its cost) for the days it is in
service that year, and the power every site draws (what it drew at the start plus what
installed orders add) for those days at the inventory's ``power_price`` a kWh.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from capacity.model import Inventory
from capacity.sim.results import Order, SiteUse


def opex_per_year(inventory: Inventory, orders: Iterable[Order],
                  sites_start: Mapping[str, SiteUse], first: dt.date,
                  last: dt.date) -> dict[int, dict[str, float]]:
    """Calendar year -> {"support": ..., "power": ...} for the days ``first`` to ``last``."""
    years = {y: {"support": 0.0, "power": 0.0} for y in range(first.year, last.year + 1)}
    price = inventory.power_price / 1000 * 24  # a watt for a day
    orders = list(orders)
    for year, cost in years.items():
        start, end = max(first, dt.date(year, 1, 1)), min(last, dt.date(year, 12, 31))
        length = (dt.date(year, 12, 31) - dt.date(year, 1, 1)).days + 1
        cost["power"] += price * sum(s.power_w for s in sites_start.values()) * (
            (end - start).days + 1)
        for order in orders:
            days = (end - max(start, order.installed)).days + 1
            if days <= 0:
                continue
            rule = inventory.procurement.get(order.rule)
            support = rule.support if rule is not None else 0.0
            cost["support"] += order.cost * support * days / length
            cost["power"] += price * order.power_w * days
    return years
