"""`capacity simulate` and `capacity compare`: a run's outcome as data (JSON) and as tables.

``summary`` is the single source: summary.json, ``--format json``, the rich tables and the
HTML tables are all made from it, so they cannot disagree.  Tables are described once as
``Grid`` values (plain text plus a tone) and drawn by rich here and by ``html`` there.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.text import Text

from capacity.model.policy.volumes import level_text
from capacity.report import UNITS_LINE, site_loss
from capacity.report.grid import RICH_STYLE, Cell, Grid, Tone, print_grids
from capacity.report.grid import ram_text as _ram
from capacity.report.grid import size_text as _size
from capacity.sim.results import LEVELS, Order, Runway, SimResult, SiteUse

BASELINE = "baseline"
SOON_DAYS = 365
"""A runway this short is coloured: it needs a decision within the budget year."""
COMPUTE_METRICS: tuple[tuple[str, str, str], ...] = (
    ("vcpu", "vcpu_demand", "vcpu"), ("ram", "ram_demand", "ram"), ("gpu", "gpu_demand", "gpus"))
"""(name in the summary, demand attribute, usable attribute) of ``ComputeSeries``."""


# -- numbers ---------------------------------------------------------------------------------

def _num(x: float) -> float:
    """Six decimals: enough for ratios and money, and it hides float noise that would make two
    equal runs print differently.  ``+ 0.0`` turns -0.0 into 0.0."""
    return round(float(x), 6) + 0.0


def _fill(used: int, capacity: int) -> float | None:
    """None when there is no capacity: a ratio to nothing is undefined, not 0 or infinity."""
    return _num(used / capacity) if capacity > 0 else None


def _iso(date: dt.date | None) -> str | None:
    return date.isoformat() if date is not None else None


def _first_short(demand: Sequence[int], usable: Sequence[int]) -> int | None:
    """First day on which demand exceeds what the cluster can give, or None."""
    return next((i for i, (d, u) in enumerate(zip(demand, usable, strict=True)) if d > u), None)


def sorted_orders(orders: Iterable[Order]) -> list[Order]:
    """By order date, then the rest, so that ties never depend on the simulator's list order."""
    return sorted(orders, key=lambda o: (o.ordered, o.installed, o.resource, o.rule, o.unit,
                                         o.units, o.cost))


# -- summary ---------------------------------------------------------------------------------

def _runways(result: SimResult, runways: Iterable[Runway]) -> list[dict[str, Any]]:
    rows = []
    for r in sorted(runways, key=lambda r: (r.resource, LEVELS.index(r.level))):
        days = None
        if r.date is not None:
            days = r.days if r.days is not None else (r.date - result.start).days
        rows.append({"resource": r.resource, "level": r.level, "ratio": _num(r.ratio),
                     "date": _iso(r.date), "days_from_start": days,
                     "beyond_horizon": r.date is None})
    return rows


def _order(o: Order) -> dict[str, Any]:
    return {"rule": o.rule, "resource": o.resource, "unit": o.unit, "units": int(o.units),
            "ordered": o.ordered.isoformat(), "installed": o.installed.isoformat(),
            "cost": _num(o.cost), "capacity_bytes": int(o.capacity),
            "rack_units": int(o.rack_units), "power_w": _num(o.power_w), "why": o.why}


def _resources_at(result: SimResult, day: int | None) -> list[dict[str, Any]]:
    """At the end of ``day``; None: at the start, before the first day begins."""
    rows = []
    for ref in sorted(result.resources):
        s = result.resources[ref]
        if day is None and s.at_start is not None:
            used, cap = s.at_start
        else:
            day = day or 0
            used, cap = (int(s.used[day]), int(s.capacity[day])) if s.used else (0, 0)
        rows.append({"resource": ref, "kind": s.kind, "site": s.site, "used_bytes": used,
                     "capacity_bytes": cap, "fill_ratio": _fill(used, cap),
                     "warning_ratio": _num(s.warning), "critical_ratio": _num(s.critical)})
    return rows


def _last(values: Sequence[int]) -> int:
    return int(values[-1]) if values else 0


def _compute_end(result: SimResult) -> list[dict[str, Any]]:
    rows = []
    for name in sorted(result.compute):
        c = result.compute[name]
        rows.append({"cluster": name, "site": c.site,
                     "vcpu_demand": _last(c.vcpu_demand), "vcpu": _last(c.vcpu),
                     "ram_demand_bytes": _last(c.ram_demand), "ram_bytes": _last(c.ram),
                     "gpu_demand": _last(c.gpu_demand), "gpus": _last(c.gpus)})
    return rows


def _compute_runways(result: SimResult) -> list[dict[str, Any]]:
    rows = []
    for name in sorted(result.compute):
        c = result.compute[name]
        for metric, demand, usable in COMPUTE_METRICS:
            day = _first_short(getattr(c, demand), getattr(c, usable))
            rows.append({"cluster": name, "metric": metric,
                         "date": _iso(result.date(day) if day is not None else None),
                         "days_from_start": day, "beyond_horizon": day is None})
    return rows


def _over(value: float, budget: float) -> bool:
    """A budget of 0 means none was given, which nothing can exceed."""
    return budget > 0 and value > budget


def _site_of(result: SimResult, ref: str) -> str | None:
    """The site of a resource, or of an array (drive boxes are ordered against one)."""
    if ref in result.resources:
        return result.resources[ref].site
    return next((s.site for r, s in result.resources.items() if r.startswith(ref + "/")), None)


def _unplaced(result: SimResult) -> list[dict[str, Any]]:
    """Per owner: new data refused (``bytes``: the sum, all lost), or room a copy or a
    migration was short of (``bytes``: the most on any day; its data is not lost, but the
    copy is incomplete or the migration stalled)."""
    rows = []
    for kind, tally, total in (("refused", result.unplaced, sum),
                               ("short", result.short, max)):
        for owner, days in sorted(tally.items()):
            hit = [i for i, n in enumerate(days) if n]
            if hit:
                rows.append({"owner": owner, "kind": kind, "bytes": int(total(days)),
                             "days": len(hit), "first": result.date(hit[0]).isoformat(),
                             "last": result.date(hit[-1]).isoformat()})
    return rows


def _migrations(result: SimResult) -> list[dict[str, Any]]:
    """Each migration wave: where to, how much, when it began, when its last byte was
    placed (None: not within the run), and its temporary servers' cluster and release."""
    ends = {e.data.get("wave"): e for e in result.events if e.kind == "migration-end"}
    released = {e.data.get("wave"): e for e in result.events if e.kind == "servers-released"}
    servers = {e.data.get("wave"): e for e in result.events if e.kind == "servers-start"}
    copies: dict[object, list[str]] = {}
    for e in result.events:
        if e.kind == "copy-start" and e.data.get("wave"):
            copies.setdefault(e.data["wave"], []).append(f"{e.data['replication']} {e.date}")
    rows = []
    for start in (e for e in result.events if e.kind == "migration-start"):
        wave = start.data.get("wave")
        end, on = ends.get(wave), servers.get(wave)
        gone = released.get(wave)
        rows.append({"wave": wave, "to": start.resource,
                     "volume_bytes": int(start.data.get("volume_bytes", 0)),
                     "started": start.date.isoformat(),
                     "done": end.date.isoformat() if end else None,
                     "days": (end.date - start.date).days + 1 if end else None,
                     "servers_on": on.resource if on else None,
                     "servers_released": gone.date.isoformat() if gone else None,
                     "copies_started": copies.get(wave, [])})
    return rows


def _pool_tiers(result: SimResult) -> list[dict[str, Any]]:
    """Each HDT pool with declared volumes, tier by tier at the start and the end."""
    rows = []
    for ref in sorted(result.pool_tiers):
        p = result.pool_tiers[ref]
        for i, tier in enumerate(p.tiers):
            used, cap = p.used[i], p.capacity[i]
            rows.append({"pool": ref, "tier": tier, "used_bytes_start": used[0],
                         "capacity_bytes_start": cap[0], "used_bytes_end": used[-1],
                         "capacity_bytes_end": cap[-1], "fill_ratio_end": _fill(used[-1],
                                                                                cap[-1]),
                         "volumes_bytes_start": {v: b[i][0] for v, b in sorted(p.volumes.items())},
                         "volumes_bytes_end": {v: b[i][-1] for v, b in sorted(p.volumes.items())}})
    return rows


def _volume_tiering(result: SimResult) -> list[dict[str, Any]]:
    """Each tiering policy a run gave a volume, in date order."""
    return [{"date": e.date.isoformat(), "pool": e.resource, "volume": e.data["volume"],
             "tier_level": e.data["tier_level"], "rule": e.data["rule"]}
            for e in result.events if e.kind == "tiering-policy"]


def _verdict(result: SimResult) -> dict[str, Any]:
    """Whether the plan holds: every byte placed, every order it needed placed."""
    blocked = result.blocked_orders
    reasons: dict[str, list[dt.date]] = {}
    for e in blocked:
        reasons.setdefault(str(e.data.get("reason", e.message)), []).append(e.date)
    return {"holds": result.failed_from is None and not blocked,
            "failed_from": _iso(result.failed_from),
            "refused_bytes": sum(sum(days) for days in result.unplaced.values()),
            "orders_blocked": len(blocked),
            "blocked_from": _iso(min((e.date for e in blocked), default=None)),
            "blocked_reasons": [{"reason": why, "orders": len(days), "first": _iso(min(days))}
                                for why, days in sorted(reasons.items(),
                                                        key=lambda kv: min(kv[1]))]}


def _sites(result: SimResult) -> list[dict[str, Any]]:
    # Only what the site's racks or power stopped: an array out of slots is not the site's.
    blocked = Counter(_site_of(result, e.resource) for e in result.blocked_orders
                      if e.data.get("site_budget"))
    rows = []
    for name in sorted(set(result.sites_start) | set(result.sites_end)):
        end = result.sites_end.get(name) or result.sites_start[name]
        start = result.sites_start.get(name) or SiteUse(name, 0, end.rack_units_budget, 0.0,
                                                        end.power_budget_w)
        rows.append({
            "site": name,
            "rack_units_start": int(start.rack_units), "rack_units_end": int(end.rack_units),
            "rack_units_budget": int(end.rack_units_budget),
            "power_w_start": _num(start.power_w), "power_w_end": _num(end.power_w),
            "power_budget_w": _num(end.power_budget_w),
            "rack_units_over_budget": _over(end.rack_units, end.rack_units_budget),
            "power_over_budget": _over(end.power_w, end.power_budget_w),
            "orders_blocked": blocked[name],
        })
    return rows


def summary(result: SimResult) -> dict[str, Any]:
    """Everything a run says, as JSON-ready data: sizes integer bytes (keys ``*_bytes``), dates
    ISO 8601, floats to 6 places, lists sorted; equal results give equal dicts."""
    return {
        "inventory": result.inventory,
        "scenarios": list(result.scenarios),
        "seed": result.seed,
        "start": result.start.isoformat(),
        "end": result.end.isoformat(),
        "days": result.days,
        "currency": result.currency,
        "verdict": _verdict(result),
        "unplaced": _unplaced(result),
        "migrations": _migrations(result),
        "runways": _runways(result, result.runways),
        # The same run buying nothing: when each level comes if no order is placed.
        "runways_unbought": (_runways(result, result.unbought)
                             if result.unbought is not None else None),
        "orders": [_order(o) for o in sorted_orders(result.orders)],
        "cost_per_year": {str(y): _num(c) for y, c in sorted(result.cost_per_year().items())},
        # fsum: exact, so the total does not depend on the order the orders come in
        "total_cost": _num(math.fsum(o.cost for o in result.orders)),
        "opex_per_year": {str(y): {k: _num(v) for k, v in c.items()}
                          for y, c in sorted(result.opex.items())},
        "total_opex": _num(math.fsum(v for c in result.opex.values() for v in c.values())),
        "total_cost_of_ownership": _num(math.fsum(o.cost for o in result.orders) + math.fsum(
            v for c in result.opex.values() for v in c.values())),
        "resources_start": _resources_at(result, None),
        "resources_end": _resources_at(result, -1),
        "compute_end": _compute_end(result),
        "compute_runways": _compute_runways(result),
        "sites": _sites(result),
        "site_losses": [site_loss.as_data(loss) for loss in result.site_losses],
        "pool_tiers": _pool_tiers(result),
        "volume_tiering": _volume_tiering(result),
        "events_count": dict(sorted(Counter(e.kind for e in result.events).items())),
        # Each resource's bytes held at the end of each day from the start: what
        # `capacity backtest` scores against the history collected since.
        "daily_used_bytes": {ref: [int(n) for n in result.resources[ref].used]
                             for ref in sorted(result.resources)},
        # and what each offered at the end of each day (orders and failures move it)
        "daily_capacity_bytes": {ref: [int(n) for n in result.resources[ref].capacity]
                                 for ref in sorted(result.resources)},
    }


# -- tables, described once ------------------------------------------------------------------

def _amount(x: float) -> str:
    """Whole amounts as such; cents only when there are some, so sums add up on the page."""
    return f"{x:,.0f}" if float(round(x, 2)).is_integer() else f"{x:,.2f}"


def _money(x: float, currency: str) -> str:
    return f"{_amount(x)} {currency}"


def _delta(x: float) -> str:
    return ("+" if x >= 0 else "-") + _amount(abs(x))


def _pct(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio * 100:.0f}%"


def _kw(watts: float) -> str:
    return f"{watts / 1000:.1f} kW"


def runway_cell(date: str | None, days: int | None, level: str = "critical") -> Cell:
    """``2027-03-01 (412 d)``, coloured when within a year; or 'beyond horizon'."""
    if date is None or days is None:
        return Cell("beyond horizon", "dim")
    tone: Tone = ("crit" if level != "warning" else "warn") if days <= SOON_DAYS else ""
    return Cell(f"{date} ({days} d)", tone)


def _fill_cell(r: dict[str, Any]) -> Cell:
    fill = r["fill_ratio"]
    tone: Tone = ("" if fill is None else "crit" if fill >= r["critical_ratio"] else
                  "warn" if fill >= r["warning_ratio"] else "")
    return Cell(_pct(fill), tone)


def _runway_grid(s: dict[str, Any]) -> Grid:
    return _levels_grid(s, s["runways"], "Storage runway", with_fill=True)


def _unbought_grid(s: dict[str, Any]) -> Grid:
    if s["runways_unbought"] in (None, s["runways"]):  # not played, or nothing was bought
        return Grid("", [])
    return _levels_grid(s, s["runways_unbought"], "Storage runway if nothing is bought",
                        with_fill=False)


def _levels_grid(s: dict[str, Any], runways: list[dict[str, Any]], title: str, *,
                 with_fill: bool) -> Grid:
    start = {r["resource"]: r for r in s["resources_start"]}
    end = {r["resource"]: r for r in s["resources_end"]}
    by_ref: dict[str, dict[str, dict[str, Any]]] = {}
    for row in runways:
        by_ref.setdefault(row["resource"], {})[row["level"]] = row
    fills = ["fill now", "fill at end"] if with_fill else []
    grid = Grid(title, ["resource", "site", *fills, *(f"{lv} at" for lv in LEVELS)], left=2,
                empty="no storage resources")
    # storage only: the simulator also reports 'CLUSTER:vcpu' runways, shown under compute
    for ref in sorted(start):
        levels = by_ref.get(ref, {})
        cells = [Cell(ref), Cell(start[ref]["site"])]
        if with_fill:
            cells += [_fill_cell(start[ref]), _fill_cell(end[ref])]
        for level in LEVELS:
            rw = levels.get(level)
            cells.append(runway_cell(rw["date"], rw["days_from_start"], level) if rw
                         else Cell("-", "dim"))
        grid.rows.append(cells)
    return grid


def _orders_grid(s: dict[str, Any]) -> Grid:
    grid = Grid("Procurement plan", ["what", "rule", "resource", "units", "order date",
                                     "install date", "adds", "rack units", "power", "cost"],
                left=3, empty="no orders within the horizon")
    for o in s["orders"]:
        adds = _size(o["capacity_bytes"]) if o["capacity_bytes"] else "slots"
        grid.rows.append([Cell(o["unit"]), Cell(o["rule"]), Cell(o["resource"]),
                          Cell(str(o["units"])), Cell(o["ordered"]), Cell(o["installed"]),
                          Cell(adds), Cell(f"{o['rack_units']} U"), Cell(_kw(o["power_w"])),
                          Cell(_money(o["cost"], s["currency"]))])
    return grid


OPEX = ("support", "licences", "power")
"""The running costs of ``sim.costs``, in the order the cost table shows them."""


def _cost_grid(s: dict[str, Any]) -> Grid:
    count, units = Counter[str](), Counter[str]()
    for o in s["orders"]:
        count[o["ordered"][:4]] += 1
        units[o["ordered"][:4]] += o["units"]
    grid = Grid("Cost per year (capex by order date, refreshes included; opex: support,"
                " licences and power)",
                ["year", "orders", "units", "capex", *OPEX, "total"])
    money = s["currency"]
    opex = s["opex_per_year"]

    def row(label: str, orders: int, n: int, capex: float, run: dict[str, float],
            tone: Tone = "") -> list[Cell]:
        # Running costs are estimates: whole amounts on screen (to the cent in the JSON).
        shown = [round(run.get(k, 0.0)) for k in OPEX]
        return [Cell(label, tone), Cell(str(orders), tone), Cell(str(n), tone),
                Cell(_money(capex, money), tone),
                *(Cell(_money(v, money), tone) for v in shown),
                Cell(_money(capex + sum(shown), money), tone)]

    for year in sorted(set(s["cost_per_year"]) | set(opex)):
        grid.rows.append(row(year, count[year], units[year], s["cost_per_year"].get(year, 0.0),
                             opex.get(year, {})))
    if grid.rows:
        totals = {k: math.fsum(c.get(k, 0.0) for c in opex.values()) for k in OPEX}
        grid.rows.append(row("total", len(s["orders"]), units.total(), s["total_cost"], totals,
                             "bold"))
    return grid


def _compute_grid(s: dict[str, Any]) -> Grid:
    runway = {(r["cluster"], r["metric"]): r for r in s["compute_runways"]}
    grid = Grid("Compute runway (demand / usable after N+k at the end)",
                ["cluster", "site", "vCPU", "RAM", "GPUs", "vCPU short", "RAM short",
                 "GPUs short"], left=2)
    for c in s["compute_end"]:
        cells = [Cell(c["cluster"]), Cell(c["site"]),
                 Cell(f"{c['vcpu_demand']} / {c['vcpu']}"),
                 Cell(f"{_ram(c['ram_demand_bytes'])} / {_ram(c['ram_bytes'])}"),
                 Cell(f"{c['gpu_demand']} / {c['gpus']}")]
        for metric, _, _ in COMPUTE_METRICS:
            rw = runway[(c["cluster"], metric)]
            cells.append(runway_cell(rw["date"], rw["days_from_start"]))
        grid.rows.append(cells)
    return grid


def _budget_cells(start: float, end: float, budget: float, over: bool, text: Any) -> list[Cell]:
    return [Cell(text(start)), Cell(text(end), "crit" if over else ""),
            Cell(text(budget) if budget else "no budget", "" if budget else "dim")]


def _sites_grid(s: dict[str, Any]) -> Grid:
    grid = Grid("Sites: rack space and power", ["site", "rack units now", "at end", "budget",
                                                "power now", "at end", "budget", "status"])
    for site in s["sites"]:
        over = [what for what, flag in (("rack units", site["rack_units_over_budget"]),
                                        ("power", site["power_over_budget"])) if flag]
        grid.rows.append([
            Cell(site["site"]),
            *_budget_cells(site["rack_units_start"], site["rack_units_end"],
                           site["rack_units_budget"], site["rack_units_over_budget"],
                           lambda u: f"{u} U"),
            *_budget_cells(site["power_w_start"], site["power_w_end"], site["power_budget_w"],
                           site["power_over_budget"], _kw),
            _site_status(over, site["orders_blocked"])])
    return grid


def _site_status(over: list[str], blocked: int) -> Cell:
    said = (["OVER BUDGET: " + ", ".join(over)] if over else []) + (
        [f"{blocked} ORDER(S) BLOCKED"] if blocked else [])
    return Cell("; ".join(said), "crit") if said else Cell("ok")


def verdict_line(s: dict[str, Any]) -> Cell:
    """One line on whether the plan holds, first: a plan that loses data or cannot buy
    what it needs is not a plan, whatever the tables below say."""
    v = s["verdict"]
    if v["holds"]:
        return Cell("plan holds: all data placed, every order placed", "bold")
    said = []
    if v["failed_from"]:
        refused = [f"{u['owner']} {_size(u['bytes'])} refused" for u in s["unplaced"]
                   if u["kind"] == "refused"]
        short = [f"{u['owner']} up to {_size(u['bytes'])} short" for u in s["unplaced"]
                 if u["kind"] == "short"]
        said.append(f"PLAN FAILS from {v['failed_from']}: data does not fit ("
                    + ", ".join(refused + short) + ")")
    if v["orders_blocked"]:
        why = "; ".join(r["reason"] for r in v["blocked_reasons"][:3])
        more = (f"; and {len(v['blocked_reasons']) - 3} more reasons"
                if len(v["blocked_reasons"]) > 3 else "")
        said.append(f"INFEASIBLE from {v['blocked_from']}: {v['orders_blocked']} order(s)"
                    f" blocked: {why}{more}")
    return Cell("; ".join(said), "crit")


def _migrations_grid(s: dict[str, Any]) -> Grid:
    grid = Grid("Migrations", ["wave", "to", "volume", "started", "done", "days",
                               "temporary servers", "copies started after"], left=2)
    for m in s["migrations"]:
        servers = "-"
        if m["servers_on"]:
            servers = (f"on {m['servers_on']}, released {m['servers_released']}"
                       if m["servers_released"] else f"on {m['servers_on']}, still running")
        grid.rows.append([Cell(m["wave"]), Cell(m["to"]), Cell(_size(m["volume_bytes"])),
                          Cell(m["started"]),
                          Cell(m["done"]) if m["done"] else Cell("not by the end", "crit"),
                          Cell(str(m["days"]) if m["days"] else "-"), Cell(servers),
                          Cell(", ".join(m["copies_started"]) or "-")])
    return grid


def _pool_tiers_grid(s: dict[str, Any]) -> Grid:
    grid = Grid("HDT pools tier by tier (volumes' tiering policies)",
                ["pool", "tier", "used at start", "used at end", "tier capacity", "fill"],
                left=2)
    for t in s["pool_tiers"]:
        grid.rows.append([Cell(t["pool"]), Cell(t["tier"]), Cell(_size(t["used_bytes_start"])),
                          Cell(_size(t["used_bytes_end"])),
                          Cell(_size(t["capacity_bytes_end"])), Cell(_pct(t["fill_ratio_end"]))])
    return grid


def _volume_tiering_grid(s: dict[str, Any]) -> Grid:
    grid = Grid("Tiering policies set on volumes", ["date", "pool", "volume", "tiering policy",
                                                   "rule"], left=5)
    grid.rows.extend([Cell(c["date"]), Cell(c["pool"]), Cell(c["volume"]),
                      Cell(level_text(c["tier_level"])), Cell(c["rule"])]
                     for c in s["volume_tiering"])
    return grid


def _events_grid(s: dict[str, Any]) -> Grid:
    grid = Grid("Events", ["kind", "count"], empty="no events")
    grid.rows.extend([Cell(kind), Cell(str(n))] for kind, n in s["events_count"].items())
    return grid


def summary_grids(s: dict[str, Any]) -> list[Grid]:
    """The tables of a run, from its ``summary``; a table with nothing to show is left out
    unless it has something to say instead (its ``empty`` text)."""
    losses = [g for loss in s["site_losses"] for g in site_loss.grids(loss)]
    grids = [_runway_grid(s), _unbought_grid(s), _orders_grid(s), _cost_grid(s),
             _compute_grid(s), _sites_grid(s), _migrations_grid(s), *losses,
             _pool_tiers_grid(s), _volume_tiering_grid(s), _events_grid(s)]
    return [g for g in grids if g.rows or g.empty]


def run_line(s: dict[str, Any]) -> str:
    scenarios = ", ".join(s["scenarios"]) or "none"
    return (f"{s['inventory']}  scenarios: {scenarios}  seed {s['seed']}"
            f"  {s['start']} to {s['end']} ({s['days']} days)")


# -- rich ------------------------------------------------------------------------------------

def print_summary(result: SimResult, console: Console) -> None:
    """The run as tables (decimal units: 1 TB = 10^12 bytes)."""
    s = summary(result)
    console.print(Text(run_line(s), style="bold"))
    for line in (verdict_line(s), *(site_loss.headline(loss) for loss in s["site_losses"])):
        console.print(Text(line.text, style=RICH_STYLE[line.tone]))
    console.print(Text(f"{UNITS_LINE}; runway dates are when a resource first reaches the"
                       " level", style="dim"))
    print_grids(summary_grids(s), console)


# -- compare ---------------------------------------------------------------------------------

def ordered_names(results: dict[str, SimResult]) -> list[str]:
    """Baseline first, then the others in the order given."""
    return sorted(results, key=lambda name: name != BASELINE)


def _compare_run(name: str, result: SimResult) -> dict[str, Any]:
    s = summary(result)
    levels = {(r["resource"], r["level"]): r for r in s["runways"]}
    orders = Counter(o["resource"] for o in s["orders"])
    units = Counter[str]()
    for o in s["orders"]:
        units[o["resource"]] += o["units"]
    # runway refs include 'CLUSTER:vcpu'; order refs include arrays (drive boxes add slots)
    refs = sorted({r["resource"] for r in s["runways"]} | set(result.resources) | set(orders))
    resources = []
    for ref in refs:
        row: dict[str, Any] = {"resource": ref}
        for level in ("critical", "full"):
            rw = levels.get((ref, level))
            # None: the run does not watch this level here, which is not 'beyond horizon'
            row[level] = {k: rw[k] for k in ("date", "days_from_start", "beyond_horizon")
                          } if rw else None
        row["orders"], row["units"] = orders[ref], units[ref]
        resources.append(row)
    sites = [{k: site[k] for k in ("site", "rack_units_end", "rack_units_budget", "power_w_end",
                                   "power_budget_w", "rack_units_over_budget",
                                   "power_over_budget")} for site in s["sites"]]
    return {"name": name, **{k: s[k] for k in ("inventory", "scenarios", "seed", "start", "end",
                                               "days", "currency")},
            "orders": len(s["orders"]), "units": sum(units.values()),
            "verdict": s["verdict"], "total_cost": s["total_cost"],
            "total_cost_of_ownership": s["total_cost_of_ownership"],
            "cost_per_year": s["cost_per_year"], "resources": resources, "sites": sites}


def compare_summary(results: dict[str, SimResult]) -> dict[str, Any]:
    """Runs side by side, baseline first: ``runs`` is a list so the column order survives any
    JSON reader."""
    names = ordered_names(results)
    return {"baseline": names[0] if names else None,
            "runs": [_compare_run(name, results[name]) for name in names]}


NONE = Cell("-", "dim")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def bought(units: int, orders: int) -> str:
    """``5 units in 2 orders``: what was bought, not only how often."""
    return f"{_plural(units, 'unit')} in {_plural(orders, 'order')}"


def _row_of(run: dict[str, Any], key: str, field_: str, name: str) -> dict[str, Any] | None:
    return next((row for row in run[key] if row[field_] == name), None)


def _runway_of(row: dict[str, Any] | None, level: str) -> Cell:
    rw = row[level] if row else None
    return runway_cell(rw["date"], rw["days_from_start"], level) if rw else NONE


def _compare_resource_rows(runs: list[dict[str, Any]]) -> list[list[Cell]]:
    rows = []
    for ref in sorted({row["resource"] for r in runs for row in r["resources"]}):
        found = [_row_of(r, "resources", "resource", ref) for r in runs]
        rows.append([Cell(f"{ref} critical"), *(_runway_of(f, "critical") for f in found)])
        rows.append([Cell(f"{ref} full"), *(_runway_of(f, "full") for f in found)])
        rows.append([Cell(f"{ref} bought"), *(Cell(bought(f["units"], f["orders"]))
                                              if f and f["orders"] else NONE for f in found)])
    # a row of nothing (a cluster's vCPU has no critical level, a pool no orders) is noise
    return [row for row in rows if any(c != NONE for c in row[1:])]


def _compare_site_rows(runs: list[dict[str, Any]]) -> list[list[Cell]]:
    rows = []
    for site in sorted({row["site"] for r in runs for row in r["sites"]}):
        found = [_row_of(r, "sites", "site", site) for r in runs]
        for label, value, budget, over, text in (
                ("rack units", "rack_units_end", "rack_units_budget", "rack_units_over_budget",
                 lambda u: f"{u} U"),
                ("power", "power_w_end", "power_budget_w", "power_over_budget", _kw)):
            rows.append([Cell(f"{site} {label} at end"), *(NONE if f is None else Cell(
                f"{text(f[value])} / {text(f[budget]) if f[budget] else 'no budget'}",
                "crit" if f[over] else "") for f in found)])
    return rows


def _plan_cell(v: dict[str, Any]) -> Cell:
    """Whether the run's plan holds: a cheaper plan that fails is no saving."""
    if v["holds"]:
        return Cell("holds")
    said = ([f"FAILS from {v['failed_from']}"] if v["failed_from"] else []) + (
        [f"INFEASIBLE from {v['blocked_from']}"] if v["orders_blocked"] else [])
    return Cell("; ".join(said), "crit")


def compare_grid(c: dict[str, Any]) -> Grid:
    """The comparison as one table: a column per run, baseline first, the cost difference to
    it in brackets."""
    runs = c["runs"]
    if not runs:
        return Grid("Scenarios compared", [], empty="nothing to compare")
    base, tco = runs[0]["total_cost"], runs[0]["total_cost_of_ownership"]
    return Grid("Scenarios compared", ["", *(r["name"] for r in runs)], rows=[
        [Cell("plan", "bold"), *(_plan_cell(r["verdict"]) for r in runs)],
        *_compare_resource_rows(runs),
        [Cell("bought", "bold"), *(Cell(bought(r["units"], r["orders"]), "bold")
                                   for r in runs)],
        [Cell("total cost", "bold"), *(
            Cell(_money(r["total_cost"], r["currency"])
                 + (f" ({_delta(_num(r['total_cost'] - base))})" if i else ""), "bold")
            for i, r in enumerate(runs))],
        [Cell("total cost of ownership", "bold"), *(
            Cell(_money(round(r["total_cost_of_ownership"]), r["currency"])
                 + (f" ({_delta(round(r['total_cost_of_ownership'] - tco))})" if i else ""),
                 "bold")
            for i, r in enumerate(runs))],
        *_compare_site_rows(runs)])


def print_compare(results: dict[str, SimResult], console: Console) -> None:
    """Scenarios side by side, baseline in the first column."""
    console.print(Text(f"{UNITS_LINE}; cost in brackets is the difference to the first"
                       " column", style="dim"))
    print_grids([compare_grid(compare_summary(results))], console)
