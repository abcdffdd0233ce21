"""``capacity exporter``: the estate, its runways and the tier runs as Prometheus metrics."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Annotated

import typer

from capacity.cli.common import InventoryArg, inventory_path
from capacity.cli.sim_commands import ScenarioOption, SeedOption, StartOption, YearsOption
from capacity.cli.tier_options import StateOption, state_dir
from capacity.units import EARLIEST_DATE, LATEST_DATE

ListenOption = Annotated[str, typer.Option(
    "--listen", metavar="HOST:PORT", help="Address to serve /metrics on ([::1]:9464 for"
    " IPv6; port 0: any free one). Loopback unless told otherwise.")]
RefreshOption = Annotated[float, typer.Option(
    "--refresh", min=1, metavar="SECONDS", help="Read the inventory and run the simulation"
    " again this often (it runs once at start).")]
JournalRefreshOption = Annotated[float, typer.Option(
    "--journal-refresh", min=1, metavar="SECONDS", help="Read the apply journal again this"
    " often.")]


def exporter_command(
    inventory: InventoryArg = None,
    listen: ListenOption = "127.0.0.1:9464",
    scenario: ScenarioOption = None,
    years: YearsOption = 5,
    start: StartOption = None,
    seed: SeedOption = 0,
    state: StateOption = None,
    refresh: RefreshOption = 3600,
    journal_refresh: JournalRefreshOption = 60,
) -> None:
    """Serve Prometheus metrics: capacity, used and free bytes per resource, the runways to
    each threshold with and without purchases and each resource's next order (from a
    simulation run at start and every --refresh seconds), and the tier runs of the apply
    journal (units by state, bytes moved, each host's and policy's last run).  Runs until
    stopped (SIGTERM or Ctrl-C)."""
    from capacity.observe.exporter import Exporter, Sources, parse_listen, serve

    host, port = parse_listen(listen)
    if start is not None and not EARLIEST_DATE <= start.date() <= LATEST_DATE:
        raise typer.BadParameter(f"{start.date()} is outside the years a plan can cover"
                                 f" ({EARLIEST_DATE.year} to {LATEST_DATE.year})",
                                 param_hint="--start")
    sources = Sources.in_state(inventory_path(inventory), state_dir(state).root,
                               scenarios=tuple(scenario or ()), years=years,
                               start=start.date() if start else None, seed=seed)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    exporter = Exporter(sources, refresh=refresh, journal_refresh=journal_refresh)
    serve(exporter, host, port, stop,
          lambda url: print(f"capacity exporter: serving {url}", file=sys.stderr, flush=True))


def register(app: typer.Typer) -> None:
    app.command("exporter")(exporter_command)
