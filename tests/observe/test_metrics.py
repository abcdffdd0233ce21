"""The pure half of the exporter: dates as timestamps, a summary's edge cases, --listen."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from capacity.errors import BadInput
from capacity.observe.exporter import parse_listen
from capacity.observe.metrics import simulation_families, timestamp


def test_a_date_is_its_midnight_utc_and_none_is_inf() -> None:
    assert timestamp("1970-01-02") == 86400
    assert timestamp(dt.date(2026, 11, 1)) == 1_793_491_200
    assert timestamp(None) == math.inf


def summary(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "start": "2026-11-01", "days": 10,
        "verdict": {"holds": True, "orders_blocked": 0},
        "runways": [{"resource": "r", "level": "full", "ratio": 1.0, "date": "2026-11-05",
                     "days_from_start": 4, "beyond_horizon": False}],
        "runways_unbought": None, "orders": []}
    return {**base, **changes}


def values(families: list, name: str) -> list[tuple[dict[str, str], float]]:  # type: ignore[type-arg]
    return [(s.labels, s.value) for f in families for s in f.samples if s.name == name]


def test_a_run_without_the_unbought_play_or_orders_says_only_what_it_has() -> None:
    families = simulation_families(summary())
    assert values(families, "capacity_runway_seconds") == [
        ({"resource": "r", "level": "full", "purchases": "planned"}, 4 * 86400)]
    assert values(families, "capacity_next_order_timestamp_seconds") == []
    assert values(families, "capacity_simulation_plan_holds") == [({}, 1)]


def test_the_next_order_is_each_resource_s_first() -> None:
    orders = [{"resource": "a", "rule": "ra", "unit": "raw", "units": 1,
               "ordered": "2026-11-03", "capacity_bytes": 5},
              {"resource": "a", "rule": "ra2", "unit": "raw", "units": 2,
               "ordered": "2026-11-09", "capacity_bytes": 7},
              {"resource": "b", "rule": "rb", "unit": "drive-box", "units": 1,
               "ordered": "2026-11-04", "capacity_bytes": 0}]
    families = simulation_families(summary(orders=orders))
    assert values(families, "capacity_next_order_units") == [
        ({"resource": "a", "rule": "ra", "unit": "raw"}, 1),
        ({"resource": "b", "rule": "rb", "unit": "drive-box"}, 1)]


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:9464", ("127.0.0.1", 9464)), ("[::1]:0", ("::1", 0)),
    ("0.0.0.0:9464", ("0.0.0.0", 9464)), ("localhost:9464", ("localhost", 9464))])
def test_listen_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["9464", ":9464", "127.0.0.1:", "127.0.0.1:65536",
                                  "::1:9464", "[::g]:9464", "host:port"])
def test_listen_refuses_what_is_not_host_and_port(text: str) -> None:
    with pytest.raises(BadInput) as refused:
        parse_listen(text)
    assert refused.value.field == "--listen"


def test_a_state_the_exporter_does_not_know_is_counted_too() -> None:
    from capacity.observe.metrics import journal_families
    from capacity.tiering.journal import UnitRow

    row = UnitRow("v1", "plan", "g900", "eras", "down", "tiering", "/", None, "v1", 0,
                  "setting", {}, None, 100.0, 101.0, None)
    families = journal_families([row])
    assert ({"host": "g900", "policy": "eras", "action": "tiering", "state": "setting"},
            1) in values(families, "capacity_tier_units")
    assert ({"host": "g900", "policy": "eras", "state": "setting"}, 1) in values(
        families, "capacity_tier_last_run_units")
    assert ({"host": "g900", "policy": "eras", "outcome": "unfinished"}, 1) in values(
        families, "capacity_tier_last_run_outcome")
