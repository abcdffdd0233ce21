"""A run says which resources a triggered tier policy drains, so the report can draw the
watermarks where a flat line at the low one is the policy at work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from capacity.model import Inventory
from capacity.sim import simulate
from capacity.sim.results import Watermarks
from tests.sim.conftest import base
from tests.sim.test_tiering import tiered

Make = Callable[[dict[str, Any]], Inventory]


def test_a_triggered_policy_marks_its_source_tier_only(make: Make) -> None:
    result = simulate(make(tiered(trigger={"high": "50%", "low": "40%"})), years=0.1)
    assert result.resources["a/p"].watermarks == (Watermarks("life", 0.5, 0.4, "a/p"),)
    assert result.resources["o"].watermarks == ()  # the target is not drained


def test_no_trigger_no_watermarks(make: Make) -> None:
    result = simulate(make(tiered()), years=0.1)
    assert all(s.watermarks == () for s in result.resources.values())


def test_a_mirror_shows_the_watermarks_of_the_source_it_follows(make: Make) -> None:
    data = tiered(trigger={"high": "85%", "low": "75%"})
    data["sites"]["dr"] = {"role": "dr", "racks": {"count": 1, "units": 42}}
    data["arrays"]["b"] = base()["arrays"]["a"] | {"site": "dr"}
    data["replications"] = {"r": {"kind": "gad", "source": "a/p", "target": "b/p"}}
    result = simulate(make(data), years=0.1)
    assert result.resources["b/p"].watermarks == (Watermarks("life", 0.85, 0.75, "a/p"),)
