"""``capacity validate``, ``show`` and ``schema``: reading the declarative model."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from capacity.cli.common import (
    Format,
    FormatOption,
    InventoryArg,
    console,
    inventory_path,
    open_inventory,
    print_json,
    print_problems,
    print_warnings,
)
from capacity.errors import BadInput

if TYPE_CHECKING:
    from capacity.problems import Problem


def validate(
    files: Annotated[list[Path] | None, typer.Argument(
        help="Inventory files, each checked on its own with its includes (default: the"
             " bundled example).", show_default=False)] = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Fail (exit 2) on warnings too: what is valid but silently does"
        " nothing.")] = False,
    fmt: FormatOption = Format.table,
) -> None:
    """Check inventories: YAML, types, units, references and physical limits; warn about
    what silently does nothing."""
    from capacity.load import load
    from capacity.problems import InputError

    paths = files or [inventory_path(None)]
    found: list[tuple[list[Problem], list[Problem]]] = []
    for path in paths:
        try:
            found.append(([], load(path).warnings))
        except InputError as exc:
            found.append((exc.problems, []))
    results = [{"file": str(path), "ok": not problems and not (strict and warned),
                "problems": _as_json(problems), "warnings": _as_json(warned)}
               for path, (problems, warned) in zip(paths, found, strict=True)]
    if fmt is Format.json:
        print_json({"ok": all(r["ok"] for r in results), "files": results})
    else:
        for path, result, (problems, warned) in zip(paths, results, found, strict=True):
            if result["ok"]:
                count = f" ({len(warned)} warning{'s' if len(warned) > 1 else ''})" if (
                    warned) else ""
                console.print(f"[green]ok[/green] {path}{count}")
            print_problems(problems)
            print_warnings(warned)
    if not all(r["ok"] for r in results):
        raise BadInput()  # every problem is printed above


def _as_json(problems: list[Problem]) -> list[dict[str, object]]:
    return [{"file": p.position.file, "line": p.position.line, "col": p.position.col,
             "field": p.field, "message": p.message} for p in problems]


class SchemaOf(enum.StrEnum):
    inventory = "inventory"
    scenario = "scenario"


def schema(
    of: Annotated[SchemaOf, typer.Option("--of", help="Which file's schema.")] =
        SchemaOf.inventory,
    markdown: Annotated[bool, typer.Option(
        "--markdown", help="Print the field reference (docs/inventory.md or docs/scenarios.md)"
        " instead.")] = False,
) -> None:
    """Print the JSON Schema of inventories (or scenarios), for editors and other tools."""
    from capacity.report import schema_doc

    if markdown:
        text = (schema_doc.scenario_markdown() if of is SchemaOf.scenario
                else schema_doc.inventory_markdown())
    else:
        text = schema_doc.schema_json(of.value)
    print(text, end="")


def show(inventory: InventoryArg = None, fmt: FormatOption = Format.table) -> None:
    """Capacity of every site, cluster, array, pool and tier: raw, usable, effective, used,
    free and headroom to each threshold; rack units and power against each site's budget."""
    from capacity.report import estate

    inv = open_inventory(inventory)
    report = estate.estate_report(inv)
    if fmt is Format.json:
        print_json(report)
    else:
        estate.print_estate(report, console)


def register(app: typer.Typer) -> None:
    app.command()(validate)
    app.command()(show)
    app.command()(schema)
