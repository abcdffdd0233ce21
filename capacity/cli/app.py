"""The typer application; each command group lives in its own module."""

from __future__ import annotations

import sqlite3
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from capacity.cli import (
    array_commands,
    catalog_commands,
    collect_commands,
    forecast_commands,
    inventory_commands,
    observe_commands,
    schedule_commands,
    sim_commands,
    tier_commands,
)
from capacity.cli.common import inventory_warnings_printed, printable
from capacity.errors import BadInput, CapacityError

DAMAGED = ("capacity: a state database (catalogue or journal) is damaged: {}; move it aside:"
           " a catalogue is made again by `capacity tier scan`, a journal's story is in the"
           " audit log")


class _ErrorsMapped(TyperGroup):
    """The one place errors become exit codes: a :class:`CapacityError` out of any command
    prints its lines on stderr and exits with its code (2 bad input, 1 a failed job).  Here
    rather than in ``main``, so the app invoked any other way (tests) exits the same."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except sqlite3.DatabaseError as exc:  # damage found past a state file's first page
            raise _exit(BadInput(DAMAGED.format(exc))) from None
        except CapacityError as exc:
            raise _exit(exc) from None


def _exit(error: CapacityError) -> typer.Exit:
    for line in error.lines():
        print(printable(line), file=sys.stderr)
    return typer.Exit(error.exit_status)


app = typer.Typer(
    name="capacity",
    cls=_ErrorsMapped,
    help="Capacity planning and storage-tier management from one declarative inventory.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # markdown: help paragraphs reflow to the terminal (in "rich" mode a docstring's own line
    # breaks stay, and cut sentences in the command list)
    rich_markup_mode="markdown",
)
sim_commands.register(app)
inventory_commands.register(app)
catalog_commands.register(app)
tier_commands.register(app)
array_commands.register(app)
observe_commands.register(app)
schedule_commands.register(app)
collect_commands.register(app)
forecast_commands.register(app)


def main() -> None:
    """Console entry point.  Usage errors exit 2 (click's own handling); the tool's errors
    exit as :class:`_ErrorsMapped` says, never with a traceback."""
    with inventory_warnings_printed():
        app()
