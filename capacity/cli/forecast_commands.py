"""``capacity forecast`` and ``capacity backtest``, and the history behind ``simulate
--calibrate``: what the estate really held, fitted, scored and fed to the simulation.

statsmodels, pandas and numpy are imported inside the commands that use them: ``capacity
--help`` and the other commands never load them."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from capacity.cli.common import Format, FormatOption, InventoryArg, console, print_json
from capacity.cli.tier_options import StateOption, state_dir
from capacity.errors import BadInput, JobFailed

if TYPE_CHECKING:
    from capacity.history.calibrate import Calibrated
    from capacity.history.store import Reading

ResourceOption = Annotated[list[str] | None, typer.Option(
    "--resource", "-r", metavar="NAME", show_default=False,
    help="Only this resource (repeat for several; default: every one in the history).")]


def read_history(state: Path | None, resources: list[str] | None = None
                 ) -> dict[str, list[Reading]]:
    """The readings of each resource (those asked, else all), oldest first; bad input when
    there is no history, or no readings of a resource asked for."""
    from capacity.history.store import History

    path = state_dir(state).history
    if not path.is_file():
        raise BadInput(f"no usage history at {path}: collect it first (`capacity collect`),"
                       " or name its state folder with --state or $CAPACITY_STATE")
    with History(path) as history:
        known = history.resources()
        unknown = [r for r in resources or () if r not in known]
        if unknown:
            raise BadInput(f"no readings of {', '.join(map(repr, unknown))} in {path}"
                           f" (it holds: {', '.join(known) or 'nothing'})", field="--resource")
        return {r: history.series(r) for r in (resources or known)}


def _tb(n: float) -> str:
    return f"{n / 1e12:,.2f} TB"


# -- forecast -------------------------------------------------------------------------------

def forecast_command(
    inventory: InventoryArg = None,
    resource: ResourceOption = None,
    horizon: Annotated[int, typer.Option(
        help="Days each backtest origin forecasts (and is scored on).", min=1,
        max=3650)] = 30,
    origins: Annotated[int, typer.Option(help="Backtest origins, the latest first.",
                                         min=1, max=100)] = 5,
    days: Annotated[int, typer.Option(help="Days to forecast past the last reading.",
                                      min=1, max=3650)] = 90,
    state: StateOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Forecast each resource's use from its collected history: fit a linear trend, Holt's
    and the damped trend, and seasonal models where the history is long enough; choose by
    MASE in a rolling-origin backtest, and show it.  Exit 1 when no resource has enough
    history."""
    from capacity.history.forecast import DailySeries, NotEnoughHistory, as_data, forecast

    capacities = _capacities(inventory)
    rows = []
    for ref, readings in read_history(state, resource).items():
        row: dict[str, Any] = {"resource": ref}
        if not readings:
            rows.append({**row, "error": "no readings"})
            continue
        series = DailySeries.from_days([(r.day, r.used_bytes) for r in readings])
        try:
            fitted = forecast(series, horizon=horizon, origins=origins, days=days)
        except NotEnoughHistory as exc:
            rows.append({**row, "error": str(exc)})
            continue
        data = as_data(fitted)
        capacity = readings[-1].capacity_bytes or capacities.get(ref)
        data["capacity_bytes"] = capacity
        data["full_on"] = _full_on(fitted, capacity)
        rows.append({**row, **data})
    if fmt is Format.json:
        print_json({"horizon_days": horizon, "resources": rows})
    else:
        _print_forecasts(rows)
    if not any("error" not in r for r in rows):
        raise JobFailed("")


def _capacities(inventory: Path | None) -> dict[str, int]:
    """Effective capacity per resource of the inventory, when one is given."""
    if inventory is None:
        return {}
    from capacity.cli.common import open_inventory
    from capacity.sizing import size_estate

    return {r.ref: r.effective for r in size_estate(open_inventory(inventory)).resources}


def _full_on(fitted: Any, capacity: int | None) -> str | None:
    if not capacity:
        return None
    for i, value in enumerate(fitted.fit.mean):
        if value >= capacity:
            return (fitted.series.end + dt.timedelta(days=i + 1)).isoformat()
    return None


def _print_forecasts(rows: list[dict[str, Any]]) -> None:
    from rich.text import Text

    from capacity.report.grid import Cell, Grid, print_grids

    for row in rows:
        if "error" in row:
            console.print(Text(f"{row['resource']}: not forecast: {row['error']}",
                               style="yellow"))
            continue
        console.print(Text(
            f"{row['resource']}: {row['readings']} days read from {row['first_day']} to"
            f" {row['last_day']} ({row['missing_days']} missing); backtest over"
            f" {row['horizon_days']} days from {len(row['origins'])} origins:"
            f" {', '.join(row['origins'])}", style="bold"))
        grid = Grid("", ["model", "MASE", "chosen"], [[
            Cell(c["model"] + ": " + c["description"]),
            Cell("-" if c["mase"] is None else f"{c['mase']:.3f}", "dim" if c["mase"] is None
                 else ""),
            Cell("chosen" if c["model"] == row["chosen"] else (c["why_not_scored"] or ""),
                 "bold" if c["model"] == row["chosen"] else "dim")]
            for c in row["candidates"]])
        print_grids([grid], console)
        low, high = row["growth_interval_bytes_per_day"]
        end = row["forecast"][-1]
        full = (f"; full ({_tb(row['capacity_bytes'])}) on {row['full_on']}" if row["full_on"]
                else f"; not full ({_tb(row['capacity_bytes'])}) by then"
                if row["capacity_bytes"] else "")
        console.print(f"growth {_tb(row['growth_bytes_per_day'])}/day (95%: {_tb(low)} to"
                      f" {_tb(high)}); on {end['date']} {_tb(end['used_bytes'])} (95%:"
                      f" {_tb(end['low_bytes'])} to {_tb(end['high_bytes'])}){full}")


# -- simulate --calibrate -------------------------------------------------------------------

def calibrated(inventory: Path, scenarios: list[Path], state: Path | None
               ) -> tuple[Calibrated, list[Any]]:
    """The inventory (with its scenarios) calibrated from the history in ``state``."""
    from capacity.history.calibrate import calibrate
    from capacity.load import load_with_scenarios

    inv, loaded = load_with_scenarios(inventory, list(scenarios))
    with console.status("calibrating from the history ...", spinner="dots"):
        result = calibrate(inv, read_history(state))
    if not result.calibrations:
        raise JobFailed("nothing to calibrate: " + ("; ".join(
            f"{ref}: {why}" for ref, why in result.skipped) or "the history is empty"))
    return result, loaded


def calibration_data(result: Calibrated) -> dict[str, Any]:
    return {
        "start": result.start.isoformat(),
        "resources": [{
            "resource": c.resource, "first_day": c.first_day.isoformat(),
            "last_day": c.last_day.isoformat(), "readings": c.readings,
            "inventory_bytes": c.inventory_bytes, "history_bytes": c.history_bytes,
            "start_bytes": c.start_bytes,
            "simulated_growth_bytes_per_day": round(c.simulated_growth),
            "history_growth_bytes_per_day": round(c.history_growth),
            "scale": None if c.scale is None else round(c.scale, 6),
            "calibrated_growth_bytes_per_day": round(c.calibrated_growth),
            "workloads": list(c.workloads), "notes": list(c.notes)}
            for c in result.calibrations],
        "streams": [{
            "policy": s.policy, "resources": list(s.resources),
            "first_day": s.first_day.isoformat(), "last_day": s.last_day.isoformat(),
            "readings": s.readings,
            "simulated_growth_bytes_per_day": round(s.simulated_growth),
            "history_growth_bytes_per_day": round(s.history_growth),
            "scale": None if s.scale is None else round(s.scale, 6),
            "calibrated_growth_bytes_per_day": round(s.calibrated_growth),
            "workloads": list(s.workloads), "notes": list(s.notes)}
            for s in result.streams],
        "skipped": [{"resource": r, "why": why} for r, why in result.skipped],
    }


def calibration_lines(result: Calibrated) -> list[str]:
    lines = [f"calibrated from the history: the run starts {result.start}, the day after"
             " the last reading"]
    for c in result.calibrations:
        if c.inventory_bytes:
            diff = f" ({(c.history_bytes - c.inventory_bytes) / c.inventory_bytes:+.1%})"
        else:
            diff = ""
        lines.append(f"{c.resource}: the inventory says {_tb(c.inventory_bytes)} stored, the"
                     f" history {_tb(c.history_bytes)} on {c.last_day}{diff}")
        lines.append(f"  growth: the inventory gives {_tb(c.simulated_growth)}/day, the"
                     f" history {_tb(c.history_growth)}/day ({c.first_day} to {c.last_day})"
                     + (f": its workloads' daily volume x {c.scale:.3f}, which plays"
                        f" {_tb(c.calibrated_growth)}/day" if c.scale is not None else ""))
        lines += [f"  {note}" for note in c.notes]
    for s in result.streams:
        names = " + ".join(s.resources)
        scaled = "' and ".join(s.workloads)
        lines.append(f"{s.policy} ({names}): the inventory gives {_tb(s.simulated_growth)}/day,"
                     f" the history {_tb(s.history_growth)}/day ({s.first_day} to"
                     f" {s.last_day}, {s.readings} days with every one read)"
                     + (f": {scaled}' daily volume x {s.scale:.3f}, which plays"
                        f" {_tb(s.calibrated_growth)}/day" if s.scale is not None else ""))
        lines += [f"  {note}" for note in s.notes]
    lines += [f"{ref}: not calibrated: {why}" for ref, why in result.skipped]
    return lines


# -- backtest -------------------------------------------------------------------------------

def _saved_run(path: Path) -> tuple[dt.date, dict[str, list[int]]]:
    """The start day and daily used bytes of a saved ``simulate --format json``."""
    hint = ("save one with `capacity simulate --format json > FILE` (or --out DIR:"
            " summary.json)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read it: {exc}", file=str(path)) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"not JSON: {exc.msg}", file=str(path), line=exc.lineno,
                       col=exc.colno) from None
    if not isinstance(data, dict) or "daily_used_bytes" not in data or "start" not in data:
        raise BadInput("not the output of `capacity simulate --format json` (no start and"
                       f" daily_used_bytes): {hint}", file=str(path))
    try:
        start = dt.date.fromisoformat(data["start"])
    except (TypeError, ValueError):
        raise BadInput(f"start is not an ISO 8601 date: {data['start']!r}", file=str(path),
                       field="start") from None
    series = data["daily_used_bytes"]
    if not isinstance(series, dict) or not all(
            isinstance(k, str) and isinstance(v, list)
            and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in v)
            for k, v in series.items()):
        raise BadInput("daily_used_bytes is not a list of whole bytes per resource",
                       file=str(path), field="daily_used_bytes")
    return start, series


def backtest_command(
    run: Annotated[Path, typer.Argument(
        help="A saved `capacity simulate --format json` (or its summary.json).",
        show_default=False)],
    resource: ResourceOption = None,
    state: StateOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Score an earlier simulation's forecast against the history collected since: per
    resource (each the history has, or those asked) MAPE, MASE and bias over the days the
    history covers.  Exit 1 when no day of the run has a reading."""
    from capacity.history.forecast import naive_scale

    start, series = _saved_run(run)
    history = read_history(state)
    rows = []
    for ref in resource or sorted(r for r in series if r in history):
        if ref not in series:
            raise BadInput(f"no resource {ref!r} in {run} (it has: {', '.join(series)})",
                           field="--resource")
        simulated = series[ref]
        readings = [r for r in history.get(ref, ())
                    if 0 <= (r.day - start).days < len(simulated)]
        if not readings:
            rows.append({"resource": ref, "days": 0, "why": "no readings in the run's days"})
            continue
        pairs = [(r.used_bytes, simulated[(r.day - start).days]) for r in readings]
        errors = [f - a for a, f in pairs]
        actual: list[float | None] = [None] * len(simulated)
        for r in readings:
            actual[(r.day - start).days] = r.used_bytes
        scale = naive_scale(actual)
        mae = math.fsum(abs(e) for e in errors) / len(errors)
        nonzero = [(a, f) for a, f in pairs if a]
        rows.append({
            "resource": ref, "days": len(pairs), "first_day": readings[0].day.isoformat(),
            "last_day": readings[-1].day.isoformat(),
            "mape": round(math.fsum(abs(f - a) / a for a, f in nonzero) / len(nonzero), 6)
            if nonzero else None,
            "mase": round(mae / scale, 6) if scale else None,
            "mae_bytes": round(mae),
            "bias_bytes": round(math.fsum(errors) / len(errors)),
            "last_simulated_bytes": pairs[-1][1], "last_history_bytes": pairs[-1][0]})
    if fmt is Format.json:
        print_json({"run": str(run), "start": start.isoformat(), "resources": rows})
    else:
        _print_backtest(start, rows)
    if not any(r["days"] for r in rows):
        raise JobFailed("" if fmt is Format.json else
                        "no day of the run has a reading yet: nothing to score")


def _print_backtest(start: dt.date, rows: list[dict[str, Any]]) -> None:
    from capacity.report.grid import Cell, Grid, print_grids

    grid = Grid(f"The run from {start} against the history (bias: simulated less collected)",
                ["resource", "days", "from", "to", "MAPE", "MASE", "bias", "last simulated",
                 "last collected"],
                [[Cell(r["resource"]), Cell(str(r["days"])), Cell(r.get("first_day", "-")),
                  Cell(r.get("last_day", "-")),
                  Cell("-" if r.get("mape") is None else f"{r['mape']:.2%}"),
                  Cell("-" if r.get("mase") is None else f"{r['mase']:.2f}"),
                  Cell(_tb(r["bias_bytes"]) if r["days"] else "-"),
                  Cell(_tb(r["last_simulated_bytes"]) if r["days"] else "-"),
                  Cell(_tb(r["last_history_bytes"]) if r["days"] else r["why"], "" if r["days"]
                       else "dim")] for r in rows], left=4)
    print_grids([grid], console)


def register(app: typer.Typer) -> None:
    app.command("forecast")(forecast_command)
    app.command("backtest")(backtest_command)

