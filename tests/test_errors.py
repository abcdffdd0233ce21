"""The error tree: each class's exit code, and the one format of a located message."""

from __future__ import annotations

import pytest

from capacity.errors import BadInput, CapacityError, HostTrouble, JobFailed, located
from capacity.tiering.lock import LockHeld
from capacity.tiering.scan import ScanError
from capacity.transports import CommandFailed, ConnectionLost, NotFound, TransportError
from capacity.transports.base import CommandResult
from capacity.yamlpos import InputError, Position, Problem


@pytest.mark.parametrize(("error", "code"), [
    (CapacityError("x"), 1),
    (JobFailed("x"), 1),
    (HostTrouble("x"), 1),
    (BadInput("x"), 2),
    (InputError([Problem(Position("f.yaml", 1, 1), "", "x")]), 2),
    (TransportError("x"), 1),
    (NotFound("x: gone", path="x"), 1),
    (ConnectionLost("h: cannot connect"), 1),
    (LockHeld("host h is locked"), 1),
    (CommandFailed(CommandResult(("false",), 3, b"", b"")), 1),  # not the command's 3
    (ScanError("h/t (/r): failed", host="h", tier="t", root="/r"), 1),
], ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v))
def test_each_class_has_its_exit_status(error: CapacityError, code: int) -> None:
    assert isinstance(error, CapacityError)
    assert error.exit_status == code


def test_library_errors_keep_their_old_bases() -> None:
    """Handlers written against the standard classes still catch them."""
    assert isinstance(NotFound("x"), FileNotFoundError)
    assert isinstance(LockHeld("x"), RuntimeError)
    assert isinstance(ScanError("x", host="h", tier="t", root="/r"), RuntimeError)
    assert isinstance(HostTrouble("x"), JobFailed)


@pytest.mark.parametrize(("error", "text"), [
    (BadInput("not a size", file="inv.yaml", line=3, col=7, field="tiers.hot.size"),
     "inv.yaml:3:7: tiers.hot.size: not a size"),
    (BadInput("not a size", file="inv.yaml", line=3, col=7), "inv.yaml:3:7: not a size"),
    (BadInput("cannot read", file="plan.json", line=1), "plan.json:1: cannot read"),
    (BadInput("cannot read", file="plan.json"), "plan.json: cannot read"),
    (BadInput("not an ISO 8601 date-time: 'x'", field="--now"),
     "--now: not an ISO 8601 date-time: 'x'"),
    (BadInput("pass --inventory"), "pass --inventory"),
])
def test_bad_input_is_file_line_col_field_message(error: BadInput, text: str) -> None:
    assert str(error) == text
    assert error.lines() == [text]


def test_a_problem_prints_in_the_same_format() -> None:
    problem = Problem(Position("inv.yaml", 3, 7), "tiers.hot.size", "not a size")
    assert str(problem) == located("inv.yaml:3:7", "tiers.hot.size", "not a size")
    assert str(problem) == "inv.yaml:3:7: tiers.hot.size: not a size"
    assert str(Problem(Position("inv.yaml", 1, 1), "", "empty")) == "inv.yaml:1:1: empty"


def test_input_error_is_one_line_per_problem_in_file_order() -> None:
    error = InputError([Problem(Position("b.yaml", 1, 1), "", "second file"),
                        Problem(Position("a.yaml", 9, 2), "x", "later line"),
                        Problem(Position("a.yaml", 2, 5), "y", "first")])
    assert error.lines() == ["a.yaml:2:5: y: first", "a.yaml:9:2: x: later line",
                             "b.yaml:1:1: second file"]
    assert str(error) == "\n".join(error.lines())


def test_a_single_problem_carries_its_parts() -> None:
    error = InputError([Problem(Position("inv.yaml", 4, 3), "hosts.a", "unknown tier")])
    assert (error.file, error.line, error.col, error.field, error.message) == (
        "inv.yaml", 4, 3, "hosts.a", "unknown tier")
    assert error.lines() == ["inv.yaml:4:3: hosts.a: unknown tier"]


@pytest.mark.parametrize("error", [JobFailed(), BadInput(), InputError([])],
                         ids=lambda e: type(e).__name__)
def test_an_error_reported_already_prints_nothing(error: CapacityError) -> None:
    assert error.lines() == []


def test_a_message_of_several_lines_prints_each() -> None:
    assert JobFailed("one\ntwo").lines() == ["one", "two"]
