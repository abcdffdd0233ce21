"""The typer application; each command group lives in its own module."""

from __future__ import annotations

import sys

import typer

from capacity.cli import inventory_commands
from capacity.cli.common import console_err, print_problems
from capacity.yamlpos import InputError

app = typer.Typer(
    name="capacity",
    help="Capacity planning and storage-tier management from one declarative inventory.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
inventory_commands.register(app)


def main() -> None:
    """Console entry point: bad input exits 2 with every problem listed, never a traceback."""
    try:
        code = app(standalone_mode=False)
    except InputError as exc:
        print_problems(exc.problems)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        console_err.print("aborted")
        sys.exit(1)
    except Exception as exc:  # click's own usage errors and the like
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    sys.exit(code if isinstance(code, int) else 0)
