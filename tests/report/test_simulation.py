"""summary.json / --format json and the tables, checked against the hand-built result."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console

from capacity.report.files import write_outputs
from capacity.report.simulation import compare_summary, print_compare, print_summary, summary
from capacity.sim.results import Order, SimResult

from .conftest import TB, GiB, make_result

DATE_KEYS = {"start", "end", "date", "ordered", "installed"}


def _walk(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    yield key, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v, key)


def _summary_file(tmp_path: Path, result: SimResult) -> dict[str, Any]:
    write_outputs(result, tmp_path)
    data: dict[str, Any] = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    return data


def test_summary_json_has_integer_bytes_and_iso_dates(tmp_path: Path,
                                                      result: SimResult) -> None:
    data = _summary_file(tmp_path, result)
    assert data == summary(result)  # the file is the function, nothing added or lost
    pairs = list(_walk(data))
    sizes = [v for k, v in pairs if k.endswith("_bytes") and not isinstance(v, dict | list)]
    assert len(sizes) >= 10
    assert all(type(v) is int for v in sizes)
    daily = data["daily_used_bytes"]  # a series a resource, a day each from the start
    assert set(daily) == set(result.resources)
    assert all(len(v) == data["days"] and all(type(n) is int for n in v)
               for v in daily.values())
    dates = [v for k, v in pairs if k in DATE_KEYS and v is not None]
    assert len(dates) >= 10
    assert all(dt.date.fromisoformat(v).isoformat() == v for v in dates)
    assert (data["start"], data["end"], data["days"]) == ("2026-01-01", "2027-02-04", 400)
    assert (data["inventory"], data["scenarios"], data["seed"]) == (
        "test-estate", ["growth-high", "tiering"], 7)


def test_runways_are_beyond_horizon_exactly_where_there_is_no_date(result: SimResult) -> None:
    runways = summary(result)["runways"]
    assert [(r["resource"], r["level"]) for r in runways] == [
        *((ref, level) for ref in ("A/pool1", "B/objects")
          for level in ("warning", "critical", "full")),
        ("hci1:ram", "full"), ("hci1:vcpu", "full")]
    for r in runways:
        assert r["beyond_horizon"] is (r["date"] is None)
        assert (r["days_from_start"] is None) is (r["date"] is None)
    critical = runways[1]
    assert critical == {"resource": "A/pool1", "level": "critical", "ratio": 0.85,
                        "date": "2026-05-31", "days_from_start": 150, "beyond_horizon": False}


def test_cost_per_year_sums_orders_by_the_year_they_are_placed(result: SimResult) -> None:
    third = Order("expand-pool", "A/pool1", "drive-pack", 8, dt.date(2026, 12, 31),
                  dt.date(2027, 2, 1), 60_000.125, 50 * TB, 2, 400.0)
    data = summary(dataclasses.replace(result, orders=[*result.orders, third]))
    # worked by hand: 2026 holds the May and the 31 December orders, 2027 the January one
    assert data["cost_per_year"] == {"2026": 120_000.5 + 60_000.125, "2027": 80_000.25}
    assert data["total_cost"] == 260_000.875
    assert [o["ordered"] for o in data["orders"]] == ["2026-05-01", "2026-12-31", "2027-01-10"]
    assert data["orders"][0] == {
        "rule": "expand-pool", "resource": "A/pool1", "unit": "drive-pack", "units": 16,
        "ordered": "2026-05-01", "installed": "2026-07-20", "cost": 120_000.5,
        "capacity_bytes": 100 * TB, "rack_units": 4, "power_w": 800.0, "why": ""}


def test_resources_and_compute_on_the_last_day(result: SimResult) -> None:
    data = summary(result)
    end = {r["resource"]: r for r in data["resources_end"]}
    # day 399 of A/pool1: 100 TB + 399 x 300 GB = 219.7 TB of 400 TB
    assert end["A/pool1"]["used_bytes"] == 219_700 * 10**9
    assert end["A/pool1"]["capacity_bytes"] == 400 * TB
    assert end["A/pool1"]["fill_ratio"] == round(219.7 / 400, 6)
    # B/objects: 110 TB + 399 x 301 GB = 230.099 TB of 440 TB
    assert end["B/objects"]["used_bytes"] == 230_099 * 10**9
    assert data["resources_start"][0]["fill_ratio"] == 0.5
    assert data["compute_end"] == [{
        "cluster": "hci1", "site": "A", "vcpu_demand": 107, "vcpu": 160,
        "ram_demand_bytes": 911 * GiB, "ram_bytes": 1024 * GiB, "gpu_demand": 3, "gpus": 2}]
    short = {r["metric"]: r for r in data["compute_runways"]}
    assert short["gpu"]["date"] == "2026-10-28" and short["gpu"]["days_from_start"] == 300
    assert short["vcpu"]["beyond_horizon"] and short["ram"]["beyond_horizon"]


def test_sites_and_events(result: SimResult) -> None:
    data = summary(result)
    sites = {s["site"]: s for s in data["sites"]}
    assert (sites["A"]["rack_units_start"], sites["A"]["rack_units_end"]) == (40, 44)
    assert not sites["A"]["power_over_budget"] and not sites["A"]["rack_units_over_budget"]
    assert sites["B"]["power_over_budget"]  # 8450 W against 8000 W
    assert data["events_count"] == {"install": 1, "order": 1, "threshold": 2}


def _text(width: int = 220) -> Console:
    return Console(record=True, width=width, highlight=False, color_system=None)


def test_print_summary_shows_runway_plan_and_budget(result: SimResult) -> None:
    console = _text()
    print_summary(result, console)
    out = console.export_text()
    for text in ("Storage runway", "2026-05-31 (150 d)", "beyond horizon", "Procurement plan",
                 "120,000.50 EUR", "200,000.75 EUR", "2026-07-20", "100 TB",
                 "Compute runway", "911 GiB / 1 TiB", "2026-10-28 (300 d)",
                 "OVER BUDGET: power", "8.4 kW"):
        assert text in out, text


def test_print_summary_prints_names_as_given_not_as_markup() -> None:
    odd = make_result(names=("[bold]x[/bold]", "B/objects"))
    console = _text()
    print_summary(odd, console)
    assert "[bold]x[/bold]" in console.export_text()


def test_compare_puts_the_baseline_first() -> None:
    results = {"growth-high": make_result(seed=1), "baseline": make_result(seed=2),
               "tiering": make_result(seed=3)}
    data = compare_summary(results)
    assert data["baseline"] == "baseline"
    assert [r["name"] for r in data["runs"]] == ["baseline", "growth-high", "tiering"]
    run = data["runs"][0]
    # two orders: 16 drive packs for the pool, 2 nodes for the object store
    assert (run["orders"], run["units"], run["total_cost"], run["seed"]) == (
        2, 18, 200_000.75, 2)
    pool = run["resources"][0]
    assert pool == {"resource": "A/pool1",
                    "critical": {"date": "2026-05-31", "days_from_start": 150,
                                 "beyond_horizon": False},
                    "full": {"date": None, "days_from_start": None, "beyond_horizon": True},
                    "orders": 1, "units": 16}
    assert {s["site"]: s["rack_units_end"] for s in run["sites"]} == {"A": 44, "B": 22}
    json.dumps(data, allow_nan=False)  # plain JSON, no dates or sets left


def test_compare_tells_an_unwatched_level_from_one_beyond_the_horizon() -> None:
    data = compare_summary({"baseline": make_result()})
    vcpu = next(r for r in data["runs"][0]["resources"] if r["resource"] == "hci1:vcpu")
    assert vcpu["critical"] is None  # clusters' compute has only a 'full' level
    assert vcpu["full"] == {"date": None, "days_from_start": None, "beyond_horizon": True}
    console = _text()
    print_compare({"baseline": make_result()}, console)
    out = console.export_text()
    assert "hci1:vcpu full" in out and "hci1:vcpu critical" not in out


def test_storage_runway_table_leaves_compute_runways_to_the_compute_table(
        result: SimResult) -> None:
    console = _text()
    print_summary(result, console)
    runway_table = console.export_text().split("Procurement plan")[0]
    assert "A/pool1" in runway_table and "hci1:vcpu" not in runway_table


def test_print_compare_columns_start_with_the_baseline() -> None:
    console = _text()
    print_compare({"zz": make_result(), "baseline": make_result()}, console)
    header = next(line for line in console.export_text().splitlines() if "baseline" in line)
    assert header.index("baseline") < header.index("zz")


def test_compare_counts_units_bought_not_only_orders() -> None:
    console = _text()
    print_compare({"baseline": make_result(), "other": make_result(seed=3)}, console)
    out = console.export_text()
    pool = next(line for line in out.splitlines() if "A/pool1 bought" in line)
    assert pool.count("16 units in 1 order") == 2
    objects = next(line for line in out.splitlines() if "B/objects bought" in line)
    assert objects.count("2 units in 1 order") == 2
    total = next(line for line in out.splitlines() if line.strip("│ ").startswith("bought"))
    assert total.count("18 units in 2 orders") == 2


def test_cost_per_year_counts_orders_and_units(result: SimResult) -> None:
    console = _text()
    print_summary(result, console)
    rows = console.export_text().split("Cost per year")[1].splitlines()
    cells = [line.replace("│", " ").split() for line in rows]
    # capex, support, licences, power, total: nothing runs up a cost here but the orders
    none = ["0", "EUR"] * 3
    assert ["2026", "1", "16", "120,000.50", "EUR", *none, "120,000.50", "EUR"] in cells
    assert ["2027", "1", "2", "80,000.25", "EUR", *none, "80,000.25", "EUR"] in cells
    assert ["total", "2", "18", "200,000.75", "EUR", *none, "200,000.75", "EUR"] in cells


def test_tables_state_one_units_convention(result: SimResult) -> None:
    """Storage decimal (TB), RAM binary (TiB), said above the tables of simulate and compare."""
    for compare in (False, True):
        console = _text()
        if compare:
            print_compare({"baseline": result}, console)
        else:
            print_summary(result, console)
        out = console.export_text()
        assert "storage in decimal units" in out and "RAM in binary units (1 TiB = 2^40" in out
