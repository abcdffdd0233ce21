"""Tier policies played forward: the same policy objects the executor applies."""

from __future__ import annotations

import pytest

from capacity.sim import simulate
from tests.sim.conftest import TB, base


def tiered(**policy: object) -> dict:
    data = base(object_stores={"o": {"site": "s", "raw": "2PB"}},
                workloads={"w": {"lands_on": "a/p", "per_year": "36.5TB", "policy": "life"}},
                hosts={"h": {"address": "127.0.0.1", "tiers": {
                    "hot": {"path": "/hot", "storage": "a/p"},
                    "arch": {"path": "/arch", "storage": "o"}}}},
                policies={"life": {"hosts": ["h"], "rules": [
                    {"name": "age-out", "from": "hot", "to": "arch",
                     "select": {"older_than": "30d"}}], **policy}})
    return data


def test_data_moves_when_it_reaches_the_rule_age(make) -> None:
    """No trigger, no pacing: the hot tier keeps exactly the last 30 days (0.1 TB each)."""
    result = simulate(make(tiered()), years=0.5)
    hot, arch = result.resources["a/p"].used, result.resources["o"].used
    for d in (10, 29, 30, 100):
        assert hot[d] == pytest.approx(min(d + 1, 30) * 0.1 * TB)
        assert hot[d] + arch[d] == pytest.approx((d + 1) * 0.1 * TB)


def test_bandwidth_and_window_bound_the_daily_move(make) -> None:
    """0.5 MB/s for a 2-hour window lets 3.6 GB a day through: after 30 days the hot tier
    keeps growing by 0.1 TB - 3.6 GB a day."""
    result = simulate(make(tiered(pacing={"windows": ["01:00-03:00"],
                                          "bandwidth": "0.5MB/s"})), years=0.3)
    arch = result.resources["o"].used
    assert arch[40] - arch[39] == pytest.approx(3.6e9)


def test_watermarks_move_only_above_high_and_down_to_low(make) -> None:
    """Trigger 50% / 40% of 140 TB: nothing moves until hot passes 70 TB, then it drains to
    56 TB (data older than 30 days permitting) and waits again."""
    data = tiered(trigger={"high": "50%", "low": "40%"})
    data["workloads"]["w"]["stored"] = "60TB"
    data["workloads"]["w"]["stored_ages"] = {"youngest": "0d", "oldest": "600d"}
    result = simulate(make(data), years=0.5)
    hot, arch = result.resources["a/p"].used, result.resources["o"].used
    first_move = next(d for d, v in enumerate(arch) if v > 0)
    assert hot[first_move - 1] <= 70 * TB
    assert hot[first_move] == pytest.approx(56 * TB, rel=1e-6)
    assert all(v <= 70 * TB + 0.1 * TB for v in hot)


def test_expire_rule_honours_policy_retention(make) -> None:
    data = tiered(retention="60d")
    data["policies"]["life"]["rules"].append(
        {"name": "drop", "action": "expire", "from": "arch", "select": {"older_than": "10d"}})
    result = simulate(make(data), years=0.5)
    arch = result.resources["o"].used
    # Retention 60 days beats the rule's 10: the archive holds days 30..59 of age.
    assert arch[100] == pytest.approx(30 * 0.1 * TB)
