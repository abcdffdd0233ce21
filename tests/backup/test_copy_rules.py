"""Copy rules in the one set of rules: a unit is backed up by its first copy rule and moved
or expired by its first other rule; copies act first and leave their unit in place; a unit
its copy target holds already is not copied again."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from capacity.model.policy import Candidate, Policy, TierState, decide

TODAY = dt.date(2026, 6, 1)


def policy(**extra: object) -> Policy:
    return Policy.model_validate({
        "hosts": ["pacs1"], "retention": "10y", "lock": {"mode": "compliance"},
        "rules": [
            {"name": "archive", "from": "hot", "to": "archive", "select": {"older_than": "2y"}},
            {"name": "backup", "action": "copy", "from": "hot", "to": "backup",
             "select": {"older_than": "7d"}},
        ], **extra})


def unit(path: str, age: float, *, copy: bool = False, copied_to: tuple[str, ...] = ()
         ) -> Candidate:
    return Candidate("hot", path, 100.0, age, copy=copy, copied_to=copied_to)


def both(path: str, age: float, copied_to: tuple[str, ...] = ()) -> list[Candidate]:
    return [unit(path, age), unit(path, age, copy=True, copied_to=copied_to)]


def test_an_old_unit_is_copied_then_moved_in_one_run() -> None:
    run = decide(policy(), {}, [*both("old", 800), *both("week", 10), *both("new", 1)], TODAY)
    assert [(d.rule.name, d.candidate.path) for d in run.taken] == [
        ("backup", "old"), ("backup", "week"), ("archive", "old")]


def test_a_unit_backed_up_already_is_not_copied_again_nor_listed() -> None:
    run = decide(policy(), {}, [*both("old", 800, ("backup",)), *both("week", 10)], TODAY)
    assert [(d.rule.name, d.candidate.path) for d in run.taken] == [
        ("backup", "week"), ("archive", "old")]
    assert run.left == []


def test_a_copy_takes_nothing_off_its_source_and_counts_against_the_caps() -> None:
    watermarked = policy(trigger={"high": 0.5, "low": 0.4}, caps={"count": 2})
    tiers = {"hot": TierState(used=900.0, total=1000.0)}
    run = decide(watermarked, tiers, [*both("a", 800), *both("b", 900), *both("c", 700)],
                 TODAY)
    # Two units per run: the copies of the two oldest come first; the moves wait.
    assert [(d.rule.name, d.candidate.path) for d in run.taken] == [
        ("backup", "b"), ("backup", "a")]
    assert {d.limit for d in run.left} == {"cap"}


def test_a_copy_rule_needs_a_lock_and_a_target() -> None:
    with pytest.raises(ValidationError, match="immutable backup"):
        Policy.model_validate({"hosts": ["h"], "rules": [
            {"name": "b", "action": "copy", "from": "hot", "to": "backup"}]})
    with pytest.raises(ValidationError, match="needs 'to'"):
        Policy.model_validate({"hosts": ["h"], "retention": "1y", "lock": {
            "mode": "compliance"}, "rules": [{"name": "b", "action": "copy", "from": "hot"}]})
