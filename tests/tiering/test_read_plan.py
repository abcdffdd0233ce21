"""capacity.tiering.binding.read_plan: a plan is read only when its state folder sealed it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from capacity.errors import BadInput
from capacity.tiering.binding import plan_key, read_plan, write_plan
from capacity.tiering.planfile import Plan
from capacity.tiering.state import StateDir


def _plan() -> Plan:
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    return Plan("inv.yaml", now, now, {"h": {"hot": "/srv/hot"}}, ())


def test_a_sealed_plan_reads_back(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    path = tmp_path / "plan.json"
    write_plan(_plan(), path, plan_key(state))
    assert read_plan(path, state) == _plan()


@pytest.mark.parametrize(("text", "words"), [
    (None, "cannot read: No such file or directory"),
    ("[]", "not a plan file: a plan is a JSON object"),
    ("{", "not a plan file: "),
    ('{"seal": "0"}', "not sealed with the plan key of the state folder"),
])
def test_anything_else_is_bad_input_at_the_plan(tmp_path: Path, text: str | None,
                                                words: str) -> None:
    path = tmp_path / "plan.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(BadInput) as info:
        read_plan(path, StateDir(tmp_path / "state"))
    assert str(info.value).startswith(f"{path}:1:1: {words}")
    assert info.value.exit_status == 2


def test_a_plan_sealed_by_another_state_folder_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    write_plan(_plan(), path, plan_key(StateDir(tmp_path / "one")))
    with pytest.raises(BadInput, match="edited since it was planned, or planned with another"):
        read_plan(path, StateDir(tmp_path / "two"))
