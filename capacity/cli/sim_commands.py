"""``capacity simulate``, ``compare`` and ``dr-check``: the estate played forward."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from capacity.cli.common import (
    Format,
    FormatOption,
    InventoryArg,
    console,
    inventory_path,
    print_json,
)
from capacity.cli.tier_options import StateOption, check_known
from capacity.units import EARLIEST_DATE, LATEST_DATE

if TYPE_CHECKING:
    from capacity.sim import SimResult

ScenarioOption = Annotated[list[Path] | None, typer.Option(
    "--scenario", "-s", help="Scenario file; repeat to apply several, in order.",
    show_default=False)]
YearsOption = Annotated[float, typer.Option(help="Years to simulate.", min=0.01, max=50)]
StartOption = Annotated[dt.datetime | None, typer.Option(
    formats=["%Y-%m-%d"], help="First day (default: the inventory's as_of).",
    show_default=False)]
SeedOption = Annotated[int, typer.Option(help="Random seed (drive failures).")]
OutOption = Annotated[Path | None, typer.Option(
    help="Write CSV, JSON and a self-contained HTML report into this folder.",
    show_default=False)]


NoProcurementOption = Annotated[bool, typer.Option(
    "--no-procurement", help="Buy nothing: the runways as the estate stands.")]


def _run(inventory: Path, scenarios: list[Path], years: float,
         start: dt.datetime | None, seed: int, *, procurement: bool = True,
         unbought: bool = False) -> SimResult:
    if start is not None and not EARLIEST_DATE <= start.date() <= LATEST_DATE:
        raise typer.BadParameter(f"{start.date()} is outside the years a plan can cover"
                                 f" ({EARLIEST_DATE.year} to {LATEST_DATE.year})",
                                 param_hint="--start")
    from capacity.load import load_with_scenarios
    from capacity.sim import simulate

    inv, loaded = load_with_scenarios(inventory, list(scenarios))
    with console.status("simulating ...", spinner="dots"):
        return simulate(inv, loaded, years=years, start=start.date() if start else None,
                        seed=seed, procurement=procurement, unbought=unbought)


def _emit(fmt: Format, written: list[Path], data: Callable[[], Any],
          table: Callable[[], None]) -> None:
    """JSON on stdout, or the tables with a line naming the files written."""
    if fmt is Format.json:
        print_json(data())
        return
    if written:
        console.print(f"[dim]wrote {', '.join(str(p) for p in written)}[/dim]")
    table()


def simulate_command(
    inventory: InventoryArg = None,
    scenario: ScenarioOption = None,
    years: YearsOption = 5,
    start: StartOption = None,
    seed: SeedOption = 0,
    out: OutOption = None,
    fmt: FormatOption = Format.table,
    no_procurement: NoProcurementOption = False,
    calibrate: Annotated[bool, typer.Option(
        "--calibrate", help="Start from the usage history (in --state) instead of the"
        " inventory's figures: each resource with enough history starts the day after its"
        " last reading with what it held, its workloads' volume scaled to the growth it"
        " showed; says where the two disagree.")] = False,
    state: StateOption = None,
) -> None:
    """Simulate growth, tiering, failures and procurement: runway dates, what to order and
    when, rack space and power; and the runways if nothing is bought."""
    from capacity.report import files, simulation

    if not calibrate:
        result = _run(inventory_path(inventory), scenario or [], years, start, seed,
                      procurement=not no_procurement, unbought=True)
        written = files.write_outputs(result, out) if out is not None else []
        _emit(fmt, written, lambda: simulation.summary(result),
              lambda: simulation.print_summary(result, console))
        return
    from capacity.cli import forecast_commands as fc
    from capacity.sim import simulate

    if start is not None:
        raise typer.BadParameter("a calibrated run starts the day after the last reading",
                                 param_hint="--start")
    cal, loaded = fc.calibrated(inventory_path(inventory), scenario or [], state)
    with console.status("simulating ...", spinner="dots"):
        result = simulate(cal.inventory, loaded, years=years, start=cal.start, seed=seed,
                          procurement=not no_procurement, unbought=True)
    written = files.write_outputs(result, out) if out is not None else []

    def table() -> None:
        console.print("\n".join(fc.calibration_lines(cal)), markup=False, highlight=False)
        simulation.print_summary(result, console)

    _emit(fmt, written, lambda: {**simulation.summary(result),
                                 "calibration": fc.calibration_data(cal)}, table)


def compare_command(
    inventory: InventoryArg = None,
    scenario: Annotated[list[Path], typer.Option(
        "--scenario", "-s", help="Scenario to compare with the baseline; repeat for more."
        " Join files with '+' to stack them in one column (a.yaml+b.yaml).")] = ...,  # type: ignore[assignment]
    years: YearsOption = 5,
    start: StartOption = None,
    seed: SeedOption = 0,
    out: OutOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Compare scenarios side by side with the baseline: runways, orders, cost, racks, power."""
    from capacity.report import files, simulation

    path = inventory_path(inventory)  # once: it says so when it falls back to the example
    results = {"baseline": _run(path, [], years, start, seed)}
    for spec in scenario:
        parts = [Path(p) for p in str(spec).split("+")]
        result = _run(path, parts, years, start, seed)
        results[" + ".join(result.scenarios)] = result
    written = files.write_compare(results, out) if out is not None else []
    _emit(fmt, written, lambda: simulation.compare_summary(results),
          lambda: simulation.print_compare(results, console))


def dr_check_command(
    inventory: InventoryArg = None,
    at: Annotated[dt.datetime | None, typer.Option(
        "--at", formats=["%Y-%m-%d"], help="The day the site is lost (default: the"
        " inventory's as_of); the estate is played forward to it, buying as planned.",
        show_default=False)] = None,
    site: Annotated[list[str] | None, typer.Option(
        "--site", help="The site to lose; repeat for more (default: each site with"
        " storage, one at a time).", show_default=False)] = None,
    days: Annotated[int, typer.Option(help="Days the site stays down.", min=1,
                                      max=3650)] = 30,
    seed: SeedOption = 0,
    no_procurement: NoProcurementOption = False,
    fmt: FormatOption = Format.table,
) -> None:
    """Lose a site: does the rest carry its workloads, through their copies and on their
    clusters, and at RTO 0?  Exit 1 when some workload is not carried."""
    from capacity.load import load_inventory
    from capacity.report import site_loss
    from capacity.report.grid import RICH_STYLE, print_grids
    from capacity.sim import dr_check

    inv = load_inventory(inventory_path(inventory))
    check_known("site", site, inv.sites)
    day = at.date() if at is not None else inv.as_of
    if not inv.as_of <= day <= LATEST_DATE:
        raise typer.BadParameter(f"{day} is not between the inventory's as_of date"
                                 f" {inv.as_of} and {LATEST_DATE}", param_hint="--at")
    with console.status("playing the estate forward ...", spinner="dots"):
        losses = [site_loss.as_data(loss) for loss in dr_check(
            inv, at=day, sites=site, days=days, seed=seed, procurement=not no_procurement)]
    if fmt is Format.json:
        print_json({"inventory": inv.name, "at": day.isoformat(), "days": days,
                    "holds": all(loss["holds"] for loss in losses), "site_losses": losses})
    else:
        for loss in losses:
            line = site_loss.headline(loss)
            console.print(Text(line.text, style=RICH_STYLE[line.tone]))
            print_grids(site_loss.grids(loss), console)
    if not all(loss["holds"] for loss in losses):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate_command)
    app.command("compare")(compare_command)
    app.command("dr-check")(dr_check_command)
