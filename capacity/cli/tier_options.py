"""The options the ``tier`` commands share, each defined once so that every command spells,
documents and defaults it alike (``--format`` and the inventory argument are every
command's: capacity.cli.common)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer

from capacity.errors import BadInput
from capacity.tiering.state import StateDir, default_state_dir

StateOption = Annotated[Path | None, typer.Option(
    "--state", help="Folder of the engine's catalogue, journal, audit log and locks"
    " (default $CAPACITY_STATE or ~/.local/state/capacity).", show_default=False)]
HostOption = Annotated[list[str] | None, typer.Option(
    "--host", metavar="NAME", show_default=False,
    help="Only this host of the inventory (repeat for several; default: every host).")]
PolicyOption = Annotated[list[str] | None, typer.Option(
    "--policy", metavar="NAME", show_default=False,
    help="Only this policy (repeat for several; default: all).")]
TrustOption = Annotated[bool, typer.Option(
    "--trust-new-host-keys", help="Accept a host whose key is not yet in known_hosts, and"
    " record it there (trust on first use); a changed key is always refused.")]
PlanInventoryOption = Annotated[Path | None, typer.Option(
    "--inventory", "-i", show_default=False,
    help="Inventory (default: the one the plan, or the journal's units, came from).")]
AllowDeleteOption = Annotated[bool, typer.Option(
    "--allow-delete", help="Let expire rules delete data (never held or retained).")]
IgnoreWindowsOption = Annotated[bool, typer.Option(
    "--ignore-windows", help="Run outside the policies' time windows.")]


def state_dir(path: Path | None) -> StateDir:
    """The --state folder, else the default one."""
    return StateDir(path or default_state_dir())


def check_known(kind: str, given: list[str] | None, known: Iterable[str]) -> None:
    """Every name given with ``--host``, ``--policy`` or ``--site`` is one of the
    inventory's."""
    known = list(known)
    unknown = [n for n in given or () if n not in known]
    if unknown:
        raise BadInput(f"no {kind} named {', '.join(map(repr, unknown))} in the inventory"
                       f" (known: {', '.join(known) or 'none'})", field=f"--{kind}")
