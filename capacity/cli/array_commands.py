"""``capacity array show`` and ``capacity array import``: a block array's live pools, over its
REST API, beside the inventory (see docs/arrays.md)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from capacity.cli.common import Format, FormatOption, console, inventory_path, print_json, shown
from capacity.errors import BadInput

if TYPE_CHECKING:
    from capacity.model import Array, Inventory
    from capacity.transports.vsp import ArrayState

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The array, as the inventory"
                                        " names it under `arrays:`.", show_default=False)]
InventoryOption = Annotated[Path | None, typer.Option(
    "--inventory", "-i", show_default=False,
    help="Inventory file (default: the bundled example).")]
CredentialsOption = Annotated[Path | None, typer.Option(
    "--credentials", show_default=False,
    help="File holding USER:PASSWORD, mode 0600 (default: CAPACITY_VSP_USER and"
         " CAPACITY_VSP_PASSWORD, or the file CAPACITY_VSP_CREDENTIALS names).")]
CaOption = Annotated[Path | None, typer.Option(
    "--ca-bundle", show_default=False,
    help="PEM file of the CA that signed the array's certificate (default: the array's"
         " rest.ca_bundle, else the system's CAs).")]
TimeoutOption = Annotated[float, typer.Option(
    "--timeout", min=1, help="Seconds to wait for each answer of the array.")]

array_app = typer.Typer(name="array", no_args_is_help=True,
                        help="Block arrays over their REST API: live pools beside the"
                             " inventory, and inventory fragments from what they report.")


def _located(path: Path, name: str) -> dict[str, object]:
    """Where ``arrays.NAME`` is written, for a message at FILE:LINE:COL."""
    from capacity.load import read_tree

    try:
        where = read_tree(path).where(("arrays", name))
    except Exception:  # the position is a courtesy; the inventory itself loaded fine
        return {"file": str(path)}
    return {"file": where.file, "line": where.line, "col": where.col}


def _array(inventory: Path | None, name: str) -> tuple[Path, Inventory, Array]:
    from capacity.checks import _missing
    from capacity.load import load_inventory

    path = inventory_path(inventory)
    inv = load_inventory(path)
    if name not in inv.arrays:
        raise BadInput(_missing("array", name, inv.arrays), file=str(path), field="arrays")
    array = inv.arrays[name]
    if array.rest is None:
        raise BadInput("no REST endpoint: give the array `rest: {endpoint:"
                       " https://HOST[:PORT]}` (docs/arrays.md)", field=f"arrays.{name}",
                       **_located(path, name))  # type: ignore[arg-type]
    return path, inv, array


def _read(array: Array, credentials: Path | None, ca_bundle: Path | None,
          timeout: float) -> ArrayState:
    from capacity.transports import vsp

    assert array.rest is not None
    creds = vsp.credentials(credentials)
    bundle = ca_bundle or (Path(array.rest.ca_bundle) if array.rest.ca_bundle else None)
    with vsp.VspClient(array.rest.endpoint, creds, ca_bundle=bundle, timeout=timeout,
                       storage_device_id=array.rest.storage_device_id) as client:
        return client.read()


def _tib(size: int | None) -> str:
    return "" if size is None else f"{size / 2**40:,.1f} TiB"


def _pct(ratio: float | None) -> str:
    return "" if ratio is None else f"{ratio * 100:.0f}%"


@array_app.command("show")
def show(name: NameArg, inventory: InventoryOption = None,
         credentials: CredentialsOption = None, ca_bundle: CaOption = None,
         timeout: TimeoutOption = 30.0, fmt: FormatOption = Format.table) -> None:
    """The array's pools as it reports them (capacity, used, thresholds, parity groups per
    tier) beside what the inventory declares, with every difference named."""
    from rich.table import Table

    from capacity import arrays

    _, inv, array = _array(inventory, name)
    view = arrays.compare(name, inv, _read(array, credentials, ca_bundle, timeout))
    if fmt is Format.json:
        print_json(arrays.view_json(view))
        return
    table = Table(title=f"{name} at {view.endpoint}", title_justify="left")
    for column in ("pool", "id", "type", "capacity", "used", "inventory used", "warning",
                   "depletion", "tier", "parity groups (inventory)"):
        table.add_column(column, justify="right" if column in ("id", "capacity") else "left")
    for pool in view.pools:
        live = pool.live
        tiers = [f"{t.number}{' ' + t.declared_name if t.declared_name else ''}:"
                 f" {len(t.live_groups)} ({t.declared_groups})" for t in pool.tiers]
        table.add_row(
            shown(pool.name), str(live.pool_id) if live else "-", live.type if live else "-",
            _tib(live.total_bytes) if live else "-", _pct(live.used_ratio) if live else "-",
            _pct(pool.inventory_used_ratio) or "-", _pct(live.warning_ratio) if live else "-",
            _pct(live.depletion_ratio) if live else "-", str(len(pool.tiers)),
            ", ".join(tiers) or "-")
    console.print(table)
    if view.drift:
        console.print("[bold]Drift[/bold] (the array, against the inventory):")
        for line in view.drift:
            console.print(shown(f"  {line}"))
    else:
        console.print("No drift: the array matches the inventory.")


@array_app.command("import")
def import_(name: NameArg, inventory: InventoryOption = None,
            credentials: CredentialsOption = None, ca_bundle: CaOption = None,
            timeout: TimeoutOption = 30.0,
            out: Annotated[Path | None, typer.Option(
                "--out", "-o", show_default=False,
                help="Write the fragment here (default: standard output).")] = None) -> None:
    """An inventory fragment (`arrays: {NAME: ...}`) written from what the array reports:
    pools, tiers, parity groups (drives matched to the catalogue) and thresholds; site,
    model, REST endpoint and support kept from the inventory.  Keep the array in a file of
    its own, included by the inventory, and import writes it afresh."""
    import yaml

    from capacity import arrays

    _, inv, array = _array(inventory, name)
    state = _read(array, credentials, ca_bundle, timeout)
    data, notes = arrays.fragment(name, array, state, inv.catalog)
    header = [f"Imported by `capacity array import {name}` from {state.endpoint} on"
              f" {dt.date.today().isoformat()}: pools, tiers, parity groups and thresholds"
              " as the array reports them; site, model, drive boxes, REST endpoint and"
              " support from the inventory.", "Drives matched to the catalogue by class and"
              " capacity per data drive:", *(f"  {note}" for note in notes)]
    text = "".join(f"# {line}\n" for line in header) + yaml.safe_dump(
        data, sort_keys=False, allow_unicode=True)
    if out is None:
        print(text, end="")
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {shown(str(out))}")


def register(app: typer.Typer) -> None:
    app.add_typer(array_app)
