"""What every command shares: output format, JSON encoding, the default inventory."""

from __future__ import annotations

import datetime as dt
import enum
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from capacity import jsontext
from capacity.bundled import EXAMPLE

if TYPE_CHECKING:  # the model (pydantic) only for the commands that load an inventory
    from capacity.model import Inventory
    from capacity.problems import Problem

# Tables are wide: when piped (not a terminal) rich would assume 80 columns and wrap them.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
console_err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 140)


class Format(enum.StrEnum):
    table = "table"
    json = "json"


FormatOption = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
InventoryArg = Annotated[Path | None, typer.Argument(
    help="Inventory file (default: the bundled example).", show_default=False)]


def printable(text: str) -> str:
    """Text from a host (a file name, an error about one) fit for the terminal: bytes that
    are not UTF-8 as \\xNN, control characters (ESC, BEL, newlines: a name could retitle the
    window or erase the line a reviewer reads) as escapes."""
    safe = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in safe)


def shown(text: str) -> Text:
    """:func:`printable` text for rich, never read as markup."""
    return Text(printable(text))


def print_problems(problems: list[Problem]) -> None:
    """One problem a line, FILE:LINE:COL first, never wrapped, so editors can jump to it."""
    for problem in problems:
        print(problem, file=sys.stderr)


def warning_line(warning: Problem) -> str:
    """``FILE:LINE:COL: warning: field: message``: a problem's line, marked as a warning."""
    field = f"{warning.field}: " if warning.field else ""
    return f"{warning.position}: warning: {field}{warning.message}"


def print_warnings(found: list[Problem]) -> None:
    for warning in found:
        print(warning_line(warning), file=sys.stderr)


@contextmanager
def inventory_warnings_printed() -> Iterator[None]:
    """Print each InventoryWarning the loader issues, once (compare loads an inventory per
    column), as a one-line warning; every command that loads an inventory runs inside."""
    from capacity.problems import InventoryWarning

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: Any = None, line: str | None = None) -> None:
        if isinstance(message, InventoryWarning):
            print_warnings([message.problem])
        else:
            original(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        original = warnings.showwarning
        warnings.simplefilter("once", InventoryWarning)
        warnings.showwarning = show
        yield


def inventory_path(path: Path | None) -> Path:
    if path is not None:
        return path
    console_err.print(f"[dim]no inventory given: using the bundled example {EXAMPLE}[/dim]")
    return EXAMPLE


def open_inventory(path: Path | None) -> Inventory:
    from capacity.load import load_inventory

    return load_inventory(inventory_path(path))


def _encode(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def to_json(data: Any) -> str:
    """Stable JSON: sizes are integer bytes, dates ISO 8601, keys in the order given."""
    return jsontext.dumps(data, default=_encode, indent=2)


def print_json(data: Any) -> None:
    print(to_json(data))
