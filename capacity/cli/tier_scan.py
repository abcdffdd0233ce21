"""``capacity tier scan`` and ``capacity tier du``: fill the catalogue from the hosts, and
say what it holds per host, tier and unit."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from capacity.cli.common import (
    Format,
    FormatOption,
    InventoryArg,
    console,
    console_err,
    open_inventory,
    print_json,
    shown,
)
from capacity.cli.tier_options import (
    HostOption,
    StateOption,
    TrustOption,
    check_known,
    state_dir,
)
from capacity.errors import JobFailed
from capacity.tiering.catalog import Catalogue

if TYPE_CHECKING:
    from capacity.model import Inventory
    from capacity.tiering.scan import HostOutcome, Progress
    from capacity.tiering.usage import Usage
from capacity.units import format_size

# --------------------------------------------------------------------------- shared


def _hosts(inv: Inventory, wanted: list[str] | None) -> list[str]:
    if not inv.hosts:
        raise typer.BadParameter("the inventory names no hosts", param_hint="INVENTORY")
    check_known("host", wanted, inv.hosts)
    return list(dict.fromkeys(wanted)) if wanted else list(inv.hosts)


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="seconds")


def _size(n: int) -> str:
    return format_size(n, precision=1)


# --------------------------------------------------------------------------- scan


def scan_report(outcomes: list[HostOutcome], catalogue: Path) -> dict[str, Any]:
    """What ``tier scan`` prints, as plain data (sizes in bytes)."""
    return {
        "catalogue": str(catalogue),
        "ok": all(o.ok for o in outcomes),
        "hosts": [{
            "host": o.host, "ok": o.ok,
            "error": str(o.error) if o.error is not None else None,
            "tiers": [{
                "tier": t.tier, "root": t.root, "ok": t.error is None,
                "files": t.result.files if t.result else None,
                "bytes": t.result.bytes if t.result else None,
                "dirs": t.result.dirs if t.result else None,
                "links": t.result.links if t.result else None,
                "removed": t.result.removed if t.result else None,
                "full": t.result.full if t.result else None,
                "listed_dirs": t.result.listed if t.result else None,
                "seconds": round(t.result.seconds, 3) if t.result else None,
                "entries_per_second": round(t.result.entries_per_second) if t.result else None,
                "error": str(t.error) if t.error is not None else None,
            } for t in o.tiers],
        } for o in outcomes],
    }


def _print_scan(report: dict[str, Any]) -> None:
    table = Table(title="Scan (sizes in decimal units: 1 GB = 10^9 bytes)",
                  title_justify="left")
    for col in ("host", "tier", "files", "size", "removed", "seconds", "entries/s", "status"):
        table.add_column(col, justify="left" if col in ("host", "tier", "status")
                         else "right", no_wrap=True)
    for h in report["hosts"]:
        if h["error"] is not None:
            table.add_row(h["host"], "-", *[""] * 5, "[red]unreachable[/red]")
        for t in h["tiers"]:
            if t["error"] is not None:
                table.add_row(h["host"], t["tier"], *[""] * 5, "[red]failed[/red]")
                continue
            table.add_row(h["host"], t["tier"], f"{t['files']:,}", _size(t["bytes"]),
                          f"{t['removed']:,}", f"{t['seconds']:.1f}",
                          f"{t['entries_per_second']:,}", "[green]ok[/green]")
    console.print(table)
    for h in report["hosts"]:
        errors = [h["error"]] if h["error"] is not None else []
        errors += [t["error"] for t in h["tiers"] if t["error"] is not None]
        for error in errors:
            console_err.print(Text.assemble(("error ", "red"), f"{h['host']}: {error}"),
                              soft_wrap=True)


@contextlib.contextmanager
def _progress(live: bool) -> Iterator[Progress | None]:
    """On a terminal, one status line of entries catalogued so far per host and tier."""
    if not live:
        yield None
        return
    seen: dict[str, int] = {}
    with console_err.status("connecting") as status:

        def show(host: str, tier: str, written: int) -> None:
            seen[f"{host}/{tier}"] = written
            status.update("scanning " + ", ".join(f"{k} {n:,}" for k, n in seen.items()))

        yield show


def scan(
    inventory: InventoryArg = None,
    host: HostOption = None,
    state: StateOption = None,
    fmt: FormatOption = Format.table,
    trust_new_host_keys: TrustOption = False,
    workers: Annotated[int, typer.Option(
        "--workers", min=1, help="Hosts scanned at once.")] = 4,
    full: Annotated[bool, typer.Option(
        "--full", help="List every entry, even where the last scan is recent (by default a"
        " rescan lists only the folders whose mtime changed, and a full scan runs once a"
        " week).")] = False,
) -> None:
    """Walk the hosts' tier roots into the catalogue; a rescan replaces what changed.

    Each tier is one streaming find on the host itself; hosts are scanned in parallel.  A
    rescan lists again only the folders whose mtime changed since the last scan (PACS files
    are written once), and every tier gets a full scan at least once a week.  Exits 1 if
    any host or tier failed: the catalogue keeps that tier's previous scan."""
    from capacity.tiering import hosts
    from capacity.tiering.scan import scan_hosts

    inv = open_inventory(inventory)
    names = _hosts(inv, host)
    path = state_dir(state).catalogue
    connect = (functools.partial(hosts.connect, trust_on_first_use=True)
               if trust_new_host_keys else hosts.connect)
    with _progress(live=fmt is Format.table and console_err.is_terminal) as progress:
        outcomes = scan_hosts(inv, names, path, connect=connect, workers=workers,
                              progress=progress, full=True if full else None)
    report = scan_report(outcomes, path)
    if fmt is Format.json:
        print_json(report)
    else:
        _print_scan(report)
    if not report["ok"]:
        raise JobFailed()  # the report says which host or tier


# --------------------------------------------------------------------------- du


def _usage_json(u: Usage) -> dict[str, Any]:
    return {"files": u.files, "bytes": u.bytes, "links": u.links,
            "oldest_mtime": _iso(u.oldest), "newest_mtime": _iso(u.newest)}


def du_report(inv: Inventory, catalogue: Catalogue, names: list[str], tiers: list[str] | None,
              depth: int | None, top: int) -> dict[str, Any]:
    """What ``tier du`` prints, as plain data: per tier its totals and its largest units."""
    from capacity.tiering.usage import Usage, by_tier, by_unit, unit_depth

    found = []
    for name in names:
        unit_level = unit_depth(inv, name) if depth is None else depth
        for tier, spec in inv.hosts[name].tiers.items():
            if tiers and tier not in tiers:
                continue
            units = by_unit(catalogue.files(name, tier), unit_level)
            total = by_tier(units).get((name, tier), Usage(name, tier, None))
            last = catalogue.last_scan(name, tier)
            found.append({
                "host": name, "tier": tier, "root": spec.path, "depth": unit_level,
                "scanned": _iso(last.finished) if last else None,
                **_usage_json(total),
                "unit_count": len(units),
                "units": [{"unit": u.unit or "", **_usage_json(u)}
                          for u in (units[:top] if top else units)],
            })
    return {"catalogue": str(catalogue.path), "tiers": found}


def _print_du(report: dict[str, Any]) -> None:
    def day(iso: str | None) -> str:
        return iso[:10] if iso else "-"

    tiers = Table(title="Usage by tier (decimal units: 1 GB = 10^9 bytes; dates UTC)",
                  title_justify="left")
    for col in ("host", "tier", "root", "files", "size", "links", "units", "oldest",
                "newest", "scanned"):
        tiers.add_column(col, justify="left" if col in ("host", "tier", "root") else "right",
                         no_wrap=col != "root", overflow="fold")
    for t in report["tiers"]:
        scanned = t["scanned"].replace("T", " ")[:16] if t["scanned"] else "[yellow]never[/]"
        tiers.add_row(t["host"], t["tier"], shown(t["root"]), f"{t['files']:,}",
                      _size(t["bytes"]), f"{t['links']:,}", f"{t['unit_count']:,}",
                      day(t["oldest_mtime"]), day(t["newest_mtime"]), scanned)
    console.print(tiers)
    for t in report["tiers"]:
        if not t["units"]:
            continue
        units = Table(title=f"Largest units of {t['host']}/{t['tier']} (depth {t['depth']})",
                      title_justify="left")
        for col in ("unit", "files", "size", "oldest", "newest"):
            units.add_column(col, justify="left" if col == "unit" else "right",
                             no_wrap=col != "unit", overflow="fold")
        for u in t["units"]:
            units.add_row(shown(u["unit"]), f"{u['files']:,}", _size(u["bytes"]),
                          day(u["oldest_mtime"]), day(u["newest_mtime"]))
        more = t["unit_count"] - len(t["units"])
        if more:
            units.caption = (f"and {more:,} more unit{'s' if more > 1 else ''}"
                             " (--top 0 shows all)")
            units.caption_justify = "left"
        console.print(units)


def du(
    inventory: InventoryArg = None,
    host: HostOption = None,
    tier: Annotated[list[str] | None, typer.Option(
        "--tier", help="Tier name (repeat for several; default: every tier).",
        show_default=False)] = None,
    depth: Annotated[int | None, typer.Option(
        "--depth", min=0, help="Directory depth below the tier root that makes a unit (0:"
        " each file).  Default: the depth of the first policy naming the host, else 1.",
        show_default=False)] = None,
    top: Annotated[int, typer.Option(
        "--top", min=0, help="Largest units listed per tier (0: all).")] = 10,
    state: StateOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Usage per host, tier and unit, from the catalogue.

    Files, bytes, oldest and newest modification time, as of each tier's last scan."""
    inv = open_inventory(inventory)
    names = _hosts(inv, host)
    known = {t for n in names for t in inv.hosts[n].tiers}
    unknown = [t for t in tier or [] if t not in known]
    if unknown:
        raise typer.BadParameter(f"unknown tier {', '.join(unknown)}; the hosts have"
                                 f" {', '.join(sorted(known))}", param_hint="--tier")
    path = state_dir(state).catalogue
    if not path.exists():
        raise JobFailed(f"no catalogue at {path}: run `capacity tier scan` first")
    with Catalogue(path) as catalogue:
        report = du_report(inv, catalogue, names, tier, depth, top)
    if fmt is Format.json:
        print_json(report)
    else:
        _print_du(report)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``capacity tier``."""
    app.command()(scan)
    app.command()(du)
