"""``capacity array show`` and ``capacity array import``: a block array's live pools, over its
REST API, beside the inventory (see docs/arrays.md)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from capacity.cli.common import Format, FormatOption, console, inventory_path, print_json, shown
from capacity.errors import BadInput

if TYPE_CHECKING:
    from capacity.model import Array, Inventory
    from capacity.model.estate import ArrayRest
    from capacity.transports.vsp import ArrayState

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The array, as the inventory"
                                        " names it under `arrays:`.", show_default=False)]
NewNameArg = Annotated[str, typer.Argument(
    metavar="NAME", show_default=False,
    help="The array, as the inventory names it under `arrays:`, or is to name it (a new"
         " array: give --endpoint, --site and --model).")]
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


def _inventory(inventory: Path | None) -> tuple[Path, Inventory]:
    from capacity.load import load_inventory

    path = inventory_path(inventory)
    return path, load_inventory(path)


def _array(inventory: Path | None, name: str) -> tuple[Path, Inventory, Array]:
    from capacity.checks import _missing

    path, inv = _inventory(inventory)
    if name not in inv.arrays:
        raise BadInput(_missing("array", name, inv.arrays), file=str(path), field="arrays")
    array = inv.arrays[name]
    _rest(path, name, array)
    return path, inv, array


def _rest(path: Path, name: str, array: Array) -> ArrayRest:
    if array.rest is None:
        raise BadInput("no REST endpoint: give the array `rest: {endpoint:"
                       " https://HOST[:PORT]}` (docs/arrays.md), or give --endpoint",
                       field=f"arrays.{name}", **_located(path, name))  # type: ignore[arg-type]
    return array.rest


def _read(rest: ArrayRest, credentials: Path | None, ca_bundle: Path | None,
          timeout: float) -> ArrayState:
    from capacity.transports import vsp

    creds = vsp.credentials(credentials)
    bundle = ca_bundle or (Path(rest.ca_bundle) if rest.ca_bundle else None)
    with vsp.VspClient(rest.endpoint, creds, ca_bundle=bundle, timeout=timeout,
                       storage_device_id=rest.storage_device_id) as client:
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

    path, inv, array = _array(inventory, name)
    view = arrays.compare(name, inv, _read(_rest(path, name, array), credentials, ca_bundle,
                                           timeout))
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


EndpointOption = Annotated[str | None, typer.Option(
    "--endpoint", show_default=False,
    help="https://HOST[:PORT] of the array's REST server (443 on the array, 23451 on a"
         " Configuration Manager server): needed for an array not yet in the inventory;"
         " for one that is, replaces its rest.endpoint.")]
DeviceOption = Annotated[str | None, typer.Option(
    "--storage-device-id", show_default=False,
    help="The array's storageDeviceId behind a Configuration Manager server (886000 + the"
         " serial for a G900, 938000 + the serial for an E1090).")]
SiteOption = Annotated[str | None, typer.Option(
    "--site", show_default=False,
    help="The site the array stands in, one of the inventory's `sites:` (needed for an"
         " array not yet in the inventory).")]
ModelOption = Annotated[str | None, typer.Option(
    "--model", show_default=False,
    help="The array's model in the hardware catalogue: vsp-g900, vsp-e1090 ... (needed for"
         " an array not yet in the inventory).")]


@array_app.command("import")
def import_(name: NewNameArg, inventory: InventoryOption = None,
            credentials: CredentialsOption = None, ca_bundle: CaOption = None,
            timeout: TimeoutOption = 30.0, endpoint: EndpointOption = None,
            storage_device_id: DeviceOption = None, site: SiteOption = None,
            model: ModelOption = None,
            out: Annotated[Path | None, typer.Option(
                "--out", "-o", show_default=False,
                help="Write the fragment here (default: standard output).")] = None) -> None:
    """An inventory fragment (`arrays: {NAME: ...}`) written from what the array reports:
    pools, tiers, parity groups (drives matched to the catalogue) and thresholds; site,
    model, REST endpoint and support kept from the inventory.  Keep the array in a file of
    its own, included by the inventory, and import writes it afresh.  An array not yet in
    the inventory is imported with --endpoint, --site and --model (and --ca-bundle,
    --storage-device-id where needed), which go into the fragment."""
    import yaml

    from capacity import arrays
    from capacity.checks import _missing
    from capacity.model.estate import ArrayRest

    path, inv = _inventory(inventory)
    array = inv.arrays.get(name)
    if array is None and endpoint is None:
        raise BadInput(_missing("array", name, inv.arrays) + "; to import an array not yet"
                       " in the inventory, give --endpoint, --site and --model",
                       file=str(path), field="arrays")
    if array is None and (site is None or model is None):
        missing = " and ".join(o for o, v in (("--site", site), ("--model", model)) if v is None)
        raise BadInput(f"array {name!r} is not in the inventory: give {missing} too",
                       field=missing.split()[0])
    if array is None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name):
        raise BadInput(f"{name!r} cannot name an array: letters, digits, '.', '_' and '-',"
                       " starting with a letter or digit, at most 64", field="NAME")
    if site is not None and site not in inv.sites:
        raise BadInput(_missing("site", site, inv.sites), field="--site")
    if model is not None and model not in inv.catalog.arrays:
        raise BadInput(_missing("array model", model, inv.catalog.arrays), field="--model")
    if endpoint is not None and not endpoint.startswith("https://"):
        raise BadInput(f"the REST endpoint is https://HOST[:PORT], not {endpoint!r}: TLS is"
                       " always used", field="--endpoint")
    if array is None:
        assert endpoint is not None
        rest = ArrayRest(endpoint=endpoint, storage_device_id=storage_device_id,
                         ca_bundle=None if ca_bundle is None else str(ca_bundle.resolve()))
    else:
        old = _rest(path, name, array) if endpoint is None else array.rest
        rest = ArrayRest(
            endpoint=endpoint or (old.endpoint if old else ""),
            storage_device_id=storage_device_id or (old.storage_device_id if old else None),
            ca_bundle=old.ca_bundle if old else (
                None if ca_bundle is None else str(ca_bundle.resolve())))
    state = _read(rest, credentials, ca_bundle, timeout)
    data, notes = arrays.fragment(name, array, state, inv.catalog, site=site, model=model,
                                  rest=rest.model_dump(mode="json", exclude_none=True))
    kept = ("site, model, drive boxes, REST endpoint and support from the inventory"
            if array is not None else "site, model and REST endpoint as given, drive boxes"
            " as many as the drives need")
    header = [f"Imported by `capacity array import {name}` from {state.endpoint} on"
              f" {dt.date.today().isoformat()}: pools, tiers, parity groups and thresholds"
              f" as the array reports them; {kept}.", "Drives matched to the catalogue by"
              " class and capacity per data drive:", *(f"  {note}" for note in notes)]
    text = "".join(f"# {line}\n" for line in header) + yaml.safe_dump(
        data, sort_keys=False, allow_unicode=True)
    if out is None:
        print(text, end="")
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {shown(str(out))}")


def register(app: typer.Typer) -> None:
    app.add_typer(array_app)
