"""``capacity catalog``: the hardware catalogue an inventory can name, with every figure's
source or assumed mark."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from capacity.cli.common import Format, FormatOption, console, print_json
from capacity.errors import BadInput

if TYPE_CHECKING:
    from capacity.model.hardware import Catalog

KindArg = Annotated[str | None, typer.Argument(
    metavar="KIND", show_default=False,
    help="drives, arrays or nodes (default: all three); or an entry's name.")]
NameArg = Annotated[str | None, typer.Argument(
    metavar="NAME", show_default=False, help="One entry: every figure and its source.")]
InventoryOption = Annotated[Path | None, typer.Option(
    "--inventory", "-i", show_default=False,
    help="Show the catalogue this inventory sees: the built-in one plus its `catalog:`"
         " section.")]
MarkdownOption = Annotated[bool, typer.Option(
    "--markdown", help="Print the whole catalogue as Markdown (docs/catalog.md) instead.")]


def _usage_error(message: str) -> BadInput:
    return BadInput(f"capacity catalog: {message}")


def _resolve(cat: Catalog, kind: str | None, name: str | None) -> tuple[str | None, str | None]:
    """The kind and name asked for; a lone name finds its kind."""
    from capacity.checks import _missing
    from capacity.report import catalog as report

    if kind is None or kind in report.KINDS:
        if kind is not None and name is not None and name not in getattr(cat, kind):
            raise _usage_error(_missing(report.ONE[kind], name, getattr(cat, kind)))
        return kind, name
    if name is not None:
        raise _usage_error(_missing("catalogue kind", kind, report.KINDS))
    owners = [k for k in report.KINDS if kind in getattr(cat, k)]
    if not owners:
        every = [*report.KINDS, *(n for k in report.KINDS for n in getattr(cat, k))]
        raise _usage_error(_missing("catalogue kind or entry", kind, every))
    return owners[0], kind


def catalog(kind: KindArg = None, name: NameArg = None, inventory: InventoryOption = None,
            fmt: FormatOption = Format.table, markdown: MarkdownOption = False) -> None:
    """The hardware catalogue: drive types, array models and HCI node models, each figure with
    its source, assumed entries marked.  These are the names an inventory uses."""
    from capacity.load import builtin_catalog, load_inventory, validate
    from capacity.model.hardware import Catalog
    from capacity.report import catalog as report

    cat = (load_inventory(inventory).catalog if inventory is not None
           else validate(builtin_catalog(), Catalog))
    if markdown:
        if kind is not None or fmt is Format.json:
            raise _usage_error("--markdown prints the whole catalogue; drop KIND, NAME and"
                               " --format")
        print(report.catalog_markdown(cat), end="")
        return
    kind, name = _resolve(cat, kind, name)
    data = report.catalog_report(cat, kind, name)
    if fmt is Format.json:
        print_json(data)
    elif kind is not None and name is not None:
        report.print_entry(kind, name, data[kind][name], console)
    else:
        origin = (f"{inventory} (built-in plus its catalog: section)" if inventory is not None
                  else "built-in (capacity/catalog/*.yaml)")
        report.print_catalog(data, console, origin)


def register(app: typer.Typer) -> None:
    app.command()(catalog)
