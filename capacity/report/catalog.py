"""`capacity catalog` and docs/catalog.md: the hardware catalogue as data, tables and Markdown.

The JSON form (``catalog_report``) is the one source; tables and Markdown render it through
``FIGURES``, which says for every figure its JSON key, its heading and the unit it is shown in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console, JustifyMethod
from rich.markup import escape
from rich.table import Table

from capacity.model.hardware import ArrayModel, Catalog, DriveType, NodeModel, Sourced

KINDS = ("drives", "arrays", "nodes")
TITLES = {"drives": "Drive types", "arrays": "Array models", "nodes": "HCI node models"}
ONE = {"drives": "drive type", "arrays": "array model", "nodes": "node model"}
# Where an inventory names an entry of each kind.
NAMED_BY = {"drives": "`drive:` of a parity group or cluster", "arrays": "`model:` of an array",
            "nodes": "`node_model:` of a cluster"}
PROVENANCE = ("source", "assumed", "overridden")


def _sourced(entry: Sourced) -> dict[str, Any]:
    return {"source": entry.source, "assumed": entry.assumed,
            "overridden": list(entry.overridden)}


def _drive(d: DriveType) -> dict[str, Any]:
    return {"kind": d.kind, "capacity_bytes": d.capacity, "afr_ratio": round(d.afr, 6),
            "rebuild_bytes_per_second": round(d.rebuild_rate), "power_w": d.power_w,
            **_sourced(d)}


def _array(a: ArrayModel) -> dict[str, Any]:
    box = a.drive_box
    return {"family": a.family, "controllers": a.controllers, "cores": a.cores,
            "cache_bytes": a.cache, "controller_slots": a.controller_slots,
            "drive_box": {"slots": box.slots, "rack_units": box.rack_units,
                          "power_w": box.power_w},
            "max_drive_boxes": a.max_drive_boxes, "max_drives": a.max_drives,
            "rack_units": a.rack_units, "power_w": a.power_w,
            "raid_layouts": list(a.raid_layouts), "page_size_bytes": a.page_size,
            "pool_overhead_bytes": a.pool_overhead, **_sourced(a)}


def _node(n: NodeModel) -> dict[str, Any]:
    return {"family": n.family, "cores": n.cores, "ram_bytes": n.ram, "gpus": n.gpus,
            "drive_bays": n.drive_bays, "rack_units": n.rack_units, "power_w": n.power_w,
            **_sourced(n)}


def catalog_report(catalog: Catalog, kind: str | None = None, name: str | None = None
                   ) -> dict[str, dict[str, dict[str, Any]]]:
    """Kind -> name -> entry, in file order: sizes in integer bytes, rates in bytes per second,
    power in watts, ratios as fractions.  ``kind`` and ``name`` narrow it to one kind or entry
    (the caller checks they exist)."""
    entries = {"drives": {k: _drive(v) for k, v in catalog.drives.items()},
               "arrays": {k: _array(v) for k, v in catalog.arrays.items()},
               "nodes": {k: _node(v) for k, v in catalog.nodes.items()}}
    if kind is not None:
        entries = {kind: entries[kind]}
    if kind is not None and name is not None:
        entries = {kind: {name: entries[kind][name]}}
    return entries


def _number(value: float, places: int = 3) -> str:
    """Up to ``places`` decimals, none trailing, thousands separated: 2500.0 -> '2,500'."""
    return f"{value:,.{places}f}".rstrip("0").rstrip(".")


def _scaled(factor: float) -> Callable[[Any], str]:
    return lambda value: _number(value / factor)


@dataclass(frozen=True)
class Figure:
    """One figure of an entry as a person reads it."""

    key: str
    """JSON key in the entry; ``drive_box.slots`` is nested."""
    label: str
    unit: str = ""
    """The unit the figure is shown in (the JSON keeps bytes, bytes/s, watts, fractions)."""
    show: Callable[[Any], str] = str
    align: JustifyMethod = "right"
    """Numbers line up on the right; words (kind, family) on the left."""
    listed: bool = True
    """Shown in the kind's table on the terminal (every figure is in the entry view and docs)."""
    short: str = ""
    """A shorter label for the terminal table, which must fit 140 columns."""

    def heading(self, short: bool = False) -> str:
        return f"{(short and self.short) or self.label} {self.unit}".strip()

    def text(self, entry: dict[str, Any]) -> str:
        value: Any = entry
        for part in self.key.split("."):
            value = value[part]
        return "-" if value is None else self.show(value)


# Storage capacities in decimal TB as data sheets print them; memory (cache, RAM, HDP pages)
# in GiB or MiB, as it is built and as Hitachi means its "MB" there.
FIGURES: dict[str, tuple[Figure, ...]] = {
    "drives": (
        Figure("kind", "kind", align="left"),
        Figure("capacity_bytes", "capacity", "TB", _scaled(10**12)),
        Figure("afr_ratio", "AFR", "%", _scaled(0.01)),
        Figure("rebuild_bytes_per_second", "rebuild", "MB/s", _scaled(10**6)),
        Figure("power_w", "power", "W", _number),
    ),
    "arrays": (
        Figure("family", "family", align="left"),
        Figure("controllers", "controllers", listed=False),
        Figure("cores", "cores"),
        Figure("cache_bytes", "cache", "GiB", _scaled(2**30)),
        Figure("controller_slots", "controller slots", listed=False),
        Figure("drive_box.slots", "drive box slots", short="box slots"),
        Figure("drive_box.rack_units", "drive box", "U", listed=False),
        Figure("drive_box.power_w", "drive box power", "W", _number, listed=False),
        Figure("max_drive_boxes", "max drive boxes", short="max boxes"),
        Figure("max_drives", "max drives"),
        Figure("rack_units", "controller chassis", "U", short="chassis"),
        Figure("power_w", "controller chassis power", "W", _number, short="chassis"),
        Figure("raid_layouts", "RAID layouts", show=", ".join, listed=False),
        Figure("page_size_bytes", "HDP page", "MiB", _scaled(2**20), listed=False),
        Figure("pool_overhead_bytes", "pool overhead", "MiB", _scaled(2**20), listed=False),
    ),
    "nodes": (
        Figure("family", "family", align="left"),
        Figure("cores", "cores"),
        Figure("ram_bytes", "RAM", "GiB", _scaled(2**30)),
        Figure("gpus", "GPUs"),
        Figure("drive_bays", "drive bays"),
        Figure("rack_units", "rack", "U"),
        Figure("power_w", "power", "W", _number),
    ),
}

UNITS_NOTE = ("TB = 10^12 bytes (drive capacities as data sheets print them), GiB = 2^30 bytes"
              " (memory), MB/s = 10^6 bytes/s, W = watts, U = rack units")


def _sources(entries: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Each distinct source text, numbered in order of first use."""
    numbers: dict[str, int] = {}
    for entry in entries.values():
        if entry["source"]:
            numbers.setdefault(entry["source"], len(numbers) + 1)
    return numbers


def _source_mark(entry: dict[str, Any], numbers: dict[str, int]) -> str:
    return f"[{numbers[entry['source']]}]" if entry["source"] else "-"


def print_catalog(report: dict[str, dict[str, dict[str, Any]]], console: Console,
                  origin: str) -> None:
    """One table per kind; a footnote under each gives its sources in full."""
    console.print(f"[bold]Hardware catalogue[/bold]: {escape(origin)}")
    console.print(f"[dim]Units: {UNITS_NOTE}.[/dim]")
    for kind, entries in report.items():
        figures = [f for f in FIGURES[kind] if f.listed]
        overrides = any(e["overridden"] for e in entries.values())
        table = Table(title=f"{TITLES[kind]} ({kind})", title_justify="left")
        table.add_column("name", no_wrap=True)
        for figure in figures:
            table.add_column(figure.heading(short=True), justify=figure.align)
        table.add_column("assumed")
        table.add_column("source")
        if overrides:
            table.add_column("overridden")
        numbers = _sources(entries)
        for name, entry in entries.items():
            row = [name, *(f.text(entry) for f in figures)]
            table.add_row(*map(escape, row),
                          "[yellow]yes[/yellow]" if entry["assumed"] else "no",
                          escape(_source_mark(entry, numbers)),
                          *([", ".join(entry["overridden"])] if overrides else []))
        console.print(table)
        for text, number in numbers.items():
            console.print(f"  [dim]\\[{number}][/dim] {escape(text)}", soft_wrap=True)
    console.print("[dim]One entry with every figure: capacity catalog KIND NAME[/dim]")


def print_entry(kind: str, name: str, entry: dict[str, Any], console: Console) -> None:
    """Every figure of one entry, with its unit, then where the figures come from."""
    table = Table(title=escape(f"{name} ({ONE[kind]})"), title_justify="left", show_header=False)
    table.add_column("figure")
    table.add_column("value")
    for figure in FIGURES[kind]:
        value = figure.text(entry)
        table.add_row(figure.label, escape(f"{value} {figure.unit}" if figure.unit and
                                           value != "-" else value))
    table.add_row("source", escape(entry["source"] or "-"))
    table.add_row("assumed", "[yellow]yes: some figures are stand-ins; check before buying[/yellow]"
                  if entry["assumed"] else "no")
    if entry["overridden"]:
        table.add_row("overridden", ", ".join(entry["overridden"]) + " (by the inventory)")
    console.print(table)


MARKDOWN_HEADER = """# Hardware catalogue

<!-- Generated by `capacity catalog --markdown`; do not edit. A test checks it is current. -->

The hardware an inventory can name without describing it: drive types, block array models and
hyper-converged node models, shipped as `capacity/catalog/*.yaml`. Every entry says where its
figures come from (`source`) or that some of them are stand-ins nobody has confirmed
(`assumed: true`); the comments in those YAML files name which figures are assumed and why.
Check assumed figures against a quote before relying on them for money.

See it on the terminal, one kind, or one entry with every figure and its source:

```sh
capacity catalog
capacity catalog drives
capacity catalog arrays vsp-e1090
capacity catalog drives nl-sas-18tb --format json
```

An inventory adds entries, or overrides any figure of a built-in entry field by field, under
its own `catalog:` section (see [inventory.md](inventory.md)):

```yaml
catalog:
  drives:
    nl-sas-20tb:
      afr: 1.2%
      source: our drive replacement log 2023-2025
```

`capacity catalog --inventory FILE` shows the catalogue that inventory sees, with the fields
it overrode:

```sh
capacity catalog drives --inventory inventories/medical-center.yaml
```

Units: {units}.
"""


def _md_cell(text: str) -> str:  # a pipe would end the table cell
    return text.replace("|", "\\|")


def _md_table(headings: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(headings) + " |", "|---" * len(headings) + "|",
            *("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows), ""]


def catalog_markdown(catalog: Catalog) -> str:
    """docs/catalog.md: per kind, the terminal's table, the remaining figures, the sources."""
    lines = [MARKDOWN_HEADER.replace("{units}", UNITS_NOTE)]
    for kind, entries in catalog_report(catalog).items():
        listed = [f for f in FIGURES[kind] if f.listed]
        rest = [f for f in FIGURES[kind] if not f.listed]
        numbers = _sources(entries)
        lines += [f"## {TITLES[kind]} (`{kind}`)", "", f"Named by the {NAMED_BY[kind]}.", ""]
        lines += _md_table(
            ["name", *(f.heading() for f in listed), "assumed", "source"],
            [[f"`{name}`", *(f.text(e) for f in listed), "yes" if e["assumed"] else "no",
              _source_mark(e, numbers)] for name, e in entries.items()])
        if rest:
            lines += _md_table(["name", *(f.heading() for f in rest)],
                               [[f"`{name}`", *(f.text(e) for f in rest)]
                                for name, e in entries.items()])
        if numbers:
            lines += ["Sources:", ""]
            lines += [f"- [{number}] {_md_cell(text)}" for text, number in numbers.items()]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
