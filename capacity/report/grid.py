"""Tables described once, as plain text with a tone per cell: rich draws them on the
terminal (here) and ``html`` in reports, so the two cannot disagree."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rich.console import Console
from rich.table import Table
from rich.text import Text

from capacity.units import format_size

Tone = Literal["", "warn", "crit", "dim", "bold"]


@dataclass(frozen=True)
class Cell:
    text: str
    tone: Tone = ""


@dataclass(frozen=True)
class Grid:
    """A table as plain text: rich and HTML draw the same rows."""

    title: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    left: int = 1
    """How many leading columns are text (left-aligned); the rest are numbers."""
    empty: str = ""
    """What to say instead of the table when it has no rows."""


def size_text(n: int) -> str:
    """Storage in a table: decimal units, as vendors quote it."""
    return format_size(n, precision=1)


def ram_text(n: int) -> str:
    """RAM is bought and quoted in binary units (GiB, TiB)."""
    return format_size(n, binary=True, precision=1)


RICH_STYLE: dict[str, str] = {"": "", "warn": "yellow", "crit": "bold red", "dim": "dim",
                              "bold": "bold"}


def rich_table(grid: Grid) -> Table:
    table = Table(title=grid.title, title_justify="left")
    for i, col in enumerate(grid.columns):
        table.add_column(col, justify="left" if i < grid.left else "right")
    for row in grid.rows:
        # Text, not markup: a resource called "[red]" must print as itself
        table.add_row(*(Text(c.text, style=RICH_STYLE[c.tone]) for c in row))
    return table


def print_grids(grids: list[Grid], console: Console) -> None:
    for grid in grids:
        if grid.rows:
            console.print(rich_table(grid))
        else:
            console.print(Text(f"{grid.title}: {grid.empty}", style="dim"))


