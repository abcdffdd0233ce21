"""``capacity collect``: what each resource really holds today, into the usage history
(docs/operations.md, "Collecting usage").  Thin: capacity.history.collect reads, the
history store writes."""

from __future__ import annotations

import enum
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from capacity.cli.common import (
    Format,
    FormatOption,
    InventoryArg,
    console,
    open_inventory,
    print_json,
    printable,
    shown,
)
from capacity.cli.tier_options import StateOption, TrustOption, state_dir
from capacity.errors import BadInput, JobFailed

if TYPE_CHECKING:
    from capacity.history.collect import Collected


class Source(enum.StrEnum):
    ssh = "ssh"
    catalogue = "catalogue"
    prometheus = "prometheus"
    array = "array"


SourceOption = Annotated[list[Source] | None, typer.Option(
    "--source", show_default=False,
    help="Only this source (repeat for several; default: every one the inventory and the"
         " state folder make possible).")]
DayOption = Annotated[str | None, typer.Option(
    "--day", metavar="YYYY-MM-DD", show_default=False,
    help="The day the readings are recorded for (default: today). A catalogue reading"
         " keeps the day of its scan.")]
CredentialsOption = Annotated[Path | None, typer.Option(
    "--credentials", show_default=False,
    help="The arrays' USER:PASSWORD file, mode 0600 (default: CAPACITY_VSP_USER and"
         " CAPACITY_VSP_PASSWORD, or the file CAPACITY_VSP_CREDENTIALS names).")]
TimeoutOption = Annotated[float, typer.Option(
    "--timeout", min=1, help="Seconds to wait for each answer of Prometheus or an array.")]


def _day(text: str | None) -> date:
    if text is None:
        return date.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadInput(f"{text!r} is not a date (YYYY-MM-DD)", field="--day") from None


def collect_command(
    inventory: InventoryArg = None,
    source: SourceOption = None,
    day: DayOption = None,
    state: StateOption = None,
    credentials: CredentialsOption = None,
    timeout: TimeoutOption = 30.0,
    trust_new_host_keys: TrustOption = False,
    fmt: FormatOption = Format.table,
) -> None:
    """Record what each resource really holds into the usage history (one row per
    resource per day; collecting again the same day replaces the day's rows): host tiers'
    file systems over SSH, the catalogue's bytes per tier, file systems from Prometheus,
    array pools over their REST API.  A source that cannot be read is named and makes the
    exit 1; what the others read is recorded all the same."""
    from capacity.history import collect
    from capacity.history.store import History

    when = _day(day)
    inv = open_inventory(inventory)
    folder = state_dir(state)
    sources = collect.choose(inv, folder.catalogue, [s.value for s in source or ()])
    creds = None
    if "array" in sources:
        from capacity.transports.vsp import credentials as array_credentials

        creds = array_credentials(credentials)
    with History(folder.history) as history:  # a damaged history is refused before reading
        got = collect.collect(inv, sources, when, catalogue=folder.catalogue,
                              credentials=creds, timeout=timeout,
                              trust_new_host_keys=trust_new_host_keys)
        history.record(got.readings)
    _report(got, sources, folder.history, fmt)
    if got.failures:
        status = max(f.exit_status for f in got.failures)
        raise BadInput("") if status == 2 else JobFailed("")


def _report(got: Collected, sources: list[str], history: Path, fmt: Format) -> None:
    if fmt is Format.json:
        print_json(_json(got, sources, history))
    else:
        from rich.table import Table

        table = Table(title=f"Recorded in {history} (decimal units: 1 GB = 10^9 bytes)",
                      title_justify="left")
        for column in ("resource", "day", "source", "used", "capacity", "read at"):
            table.add_column(column, justify="right" if column in ("used", "capacity")
                             else "left")
        for r in got.readings:
            table.add_row(shown(r.resource), r.day.isoformat(), r.source, _gb(r.used_bytes),
                          _gb(r.capacity_bytes), r.collected_at)
        console.print(table)
    for f in got.failures:  # a line each, unwrapped: logs and alerts grep them
        print(printable(f"capacity collect: {f.source}: not recorded: {f.what}: {f.message}"),
              file=sys.stderr)


def _gb(size: int | None) -> str:
    return "-" if size is None else f"{size / 1e9:,.3f} GB"


def _json(got: Collected, sources: list[str], history: Path) -> dict[str, Any]:
    return {
        "history": str(history),
        "sources": sources,
        "recorded": [{"resource": r.resource, "day": r.day, "source": r.source,
                      "used_bytes": r.used_bytes, "capacity_bytes": r.capacity_bytes,
                      "collected_at": r.collected_at} for r in got.readings],
        "failed": [{"source": f.source, "resources": f.what, "message": f.message}
                   for f in got.failures],
    }


def register(app: typer.Typer) -> None:
    app.command("collect")(collect_command)
