"""The tool's errors, one tree: what went wrong says which exit code it earns.

Library code raises these (or its own classes that subclass them); the CLI maps them to a
message on stderr and an exit code in one place, ``capacity.cli.app``:

* :class:`BadInput`, exit 2: an inventory, a plan, an option value or a state file the tool
  refuses, before it does anything.  Printed as ``FILE:LINE:COL: field: message``, each part
  there when known.
* :class:`JobFailed`, exit 1: the job ran and did not succeed (a tier, a unit, a host).
* :class:`HostTrouble`, exit 1: a job failed because a host could not be reached, refused,
  or is locked by another apply.

An empty message prints nothing: the command has reported the failure already (a table of
what failed, every problem of ``validate``) and only the exit code is left to say.
"""

from __future__ import annotations

from typing import ClassVar


class CapacityError(Exception):
    """Base of the tool's errors."""

    # Not ``exit_code``: CommandFailed, a transport error, has one (the remote command's).
    exit_status: ClassVar[int] = 1

    def lines(self) -> list[str]:
        """What the CLI prints on stderr, a line each (nothing when reported already)."""
        text = str(self)
        return text.splitlines() if text else []


class BadInput(CapacityError):
    """Input the tool refuses; ``file``, ``line``, ``col`` and ``field`` say where, when
    known (``field`` is a dotted path in a file, or an option: ``--now``)."""

    exit_status = 2

    def __init__(self, message: str = "", *, file: str | None = None, line: int | None = None,
                 col: int | None = None, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.file, self.line, self.col, self.field = file, line, col, field

    @property
    def position(self) -> str:
        """``FILE:LINE:COL``, as much of it as is known ("" when no file is)."""
        if self.file is None:
            return ""
        return ":".join([self.file, *(str(n) for n in (self.line, self.col) if n is not None)])

    def __str__(self) -> str:
        return located(self.position, self.field, self.message)


class JobFailed(CapacityError):
    """The job ran and failed, in part or whole."""


class HostTrouble(JobFailed):
    """A host could not be reached, refused an operation, or is held by another apply."""


def located(position: str, field: str, message: str) -> str:
    """``POSITION: field: message``, leaving out the parts that are empty: the one format of
    every problem the tool reports (editors jump to the position)."""
    return ": ".join(part for part in (position, field, message) if part)
