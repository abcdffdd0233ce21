"""The CLI's one error edge: each error class out of a command becomes its message on
stderr and its exit code, without a traceback."""

from __future__ import annotations

import sqlite3

import pytest
import typer
from typer.testing import CliRunner

from capacity.cli.app import _ErrorsMapped, app
from capacity.errors import BadInput, CapacityError, HostTrouble, JobFailed
from capacity.tiering.lock import LockHeld
from capacity.transports import ConnectionLost
from capacity.yamlpos import InputError, Position, Problem


def _raising(error: BaseException) -> typer.Typer:
    probe = typer.Typer(cls=_ErrorsMapped)

    @probe.command()
    def fail() -> None:
        raise error

    @probe.command()
    def other() -> None:  # two commands: ``fail`` is a subcommand, as in the real app
        pass

    return probe


@pytest.mark.parametrize(("error", "code", "stderr"), [
    (BadInput("not an ISO 8601 date-time: 'x'", field="--now"), 2,
     "--now: not an ISO 8601 date-time: 'x'\n"),
    (InputError([Problem(Position("inv.yaml", 3, 7), "a.b", "bad"),
                 Problem(Position("inv.yaml", 1, 2), "", "worse")]), 2,
     "inv.yaml:1:2: worse\ninv.yaml:3:7: a.b: bad\n"),
    (JobFailed("no catalogue at /s/catalogue.sqlite"), 1,
     "no catalogue at /s/catalogue.sqlite\n"),
    (JobFailed(), 1, ""),
    (BadInput(), 2, ""),
    (HostTrouble("cannot measure h/hot (/srv): refused"), 1,
     "cannot measure h/hot (/srv): refused\n"),
    (ConnectionLost("h: cannot connect: refused"), 1, "h: cannot connect: refused\n"),
    (LockHeld("host h is locked by c pid 1"), 1, "host h is locked by c pid 1\n"),
], ids=lambda v: type(v).__name__ if isinstance(v, CapacityError) else None)
def test_each_error_exits_with_its_code_and_message(error: CapacityError, code: int,
                                                    stderr: str) -> None:
    run = CliRunner().invoke(_raising(error), ["fail"])
    assert (run.exit_code, run.stderr, run.stdout) == (code, stderr, "")
    assert run.exception is None or isinstance(run.exception, SystemExit)


def test_a_damaged_state_database_is_bad_input() -> None:
    run = CliRunner().invoke(_raising(sqlite3.DatabaseError("disk image is malformed")),
                             ["fail"])
    assert run.exit_code == 2
    assert run.stderr.startswith("capacity: a state database (catalogue or journal) is"
                                 " damaged: disk image is malformed; move it aside")


def test_host_text_in_a_message_cannot_drive_the_terminal() -> None:
    run = CliRunner().invoke(_raising(JobFailed("h: \x1b]0;owned\x07 \udcff")), ["fail"])
    assert run.stderr == "h: \\x1b]0;owned\\x07 \\xff\n"


def test_other_exceptions_are_not_swallowed() -> None:
    run = CliRunner().invoke(_raising(KeyError("bug")), ["fail"])
    assert isinstance(run.exception, KeyError)


def test_the_real_app_maps_bad_input() -> None:
    run = CliRunner().invoke(app, ["show", "no/such/inventory.yaml"])
    assert run.exit_code == 2
    assert "no/such/inventory.yaml:1:1: cannot read" in run.stderr
