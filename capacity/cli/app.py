"""The typer application; each command group lives in its own module."""

from __future__ import annotations

import sqlite3
import sys

import typer

from capacity.cli import catalog_commands, inventory_commands, sim_commands, tier_commands
from capacity.cli.common import inventory_warnings_printed, print_problems
from capacity.yamlpos import InputError

app = typer.Typer(
    name="capacity",
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


def main() -> None:
    """Console entry point.  Usage errors exit 2 (click's own handling); bad input exits 2
    with every problem listed, never a traceback."""
    try:
        with inventory_warnings_printed():
            app()
    except InputError as exc:
        print_problems(exc.problems)
        sys.exit(2)
    except sqlite3.DatabaseError as exc:  # damage found past a state file's first page
        print(f"capacity: a state database (catalogue or journal) is damaged: {exc}; move"
              " it aside: a catalogue is made again by `capacity tier scan`, a journal's"
              " story is in the audit log", file=sys.stderr)
        sys.exit(2)
