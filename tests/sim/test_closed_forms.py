"""The twin against independent maths: closed forms worked out by hand, not earlier output."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from capacity.sim import simulate
from tests.sim.conftest import TB, base


def test_compound_growth_matches_the_geometric_series(make) -> None:
    """Daily ingest r0 * (1+g)^(d/365) for d = 0..t-1 sums to r0 * (q^t - 1) / (q - 1) with
    q = (1+g)^(1/365); plus what was stored at the start."""
    r0, g, stored = 0.2 * TB, 0.15, 20 * TB
    inv = make(base(object_stores={"o": {"site": "s", "raw": "2PB"}},
                    workloads={"w": {"lands_on": "o", "stored": stored,
                                     "per_year": f"{r0 * 365 / TB}TB", "growth": "15%/y"}}))
    result = simulate(inv, years=3)
    used = result.resources["o"].used
    q = (1 + g) ** (1 / 365)
    for t in (1, 100, 365, 1000):
        expected = stored + r0 * (q**t - 1) / (q - 1)
        assert used[t - 1] == pytest.approx(expected, rel=1e-3)


def test_constant_rate_without_growth(make) -> None:
    inv = make(base(workloads={"w": {"lands_on": "a/p", "per_year": "36.5TB"}}))
    used = simulate(inv, years=1).resources["a/p"].used
    # 36.5 TB a year is exactly 0.1 TB a day; at the end of day d, d + 1 days have landed.
    for d in (0, 9, 364):
        assert used[d] == pytest.approx((d + 1) * 0.1 * TB, rel=1e-9)


def test_linear_growth_runway_to_the_day(make) -> None:
    """Capacity 140 TB (2 x 7D+1P x 10 TB); warning 70% = 98 TB, critical 80% = 112 TB.
    From 50 TB at 0.1 TB a day, used at the end of day d is 50 + 0.1 (d + 1): it reaches 98 TB
    at d + 1 = 480, i.e. day 479; 112 TB at day 619; 140 TB at day 899."""
    inv = make(base(workloads={"w": {"lands_on": "a/p", "stored": "50TB",
                                     "per_year": "36.5TB"}}))
    result = simulate(inv, years=3)
    start = dt.date(2027, 1, 1)
    for level, day in (("warning", 479), ("critical", 619), ("full", 899)):
        runway = result.runway("a/p", level)
        assert runway.days == day, level
        assert runway.date == start + dt.timedelta(days=day)


def test_beyond_horizon_when_it_never_fills(make) -> None:
    inv = make(base(workloads={"w": {"lands_on": "a/p", "stored": "10TB"}}))
    result = simulate(inv, years=1)
    assert result.runway("a/p", "warning").date is None


def test_data_leaves_exactly_when_its_retention_ends(make) -> None:
    """0.1 TB a day kept 30 days: at the end of day d the store holds min(d + 1, 30) days."""
    inv = make(base(workloads={"w": {"lands_on": "a/p", "per_year": "36.5TB",
                                     "retention": "30d"}}))
    used = simulate(inv, years=0.25).resources["a/p"].used
    for d in (0, 28, 29, 30, 31, 80):
        assert used[d] == pytest.approx(min(d + 1, 30) * 0.1 * TB, rel=1e-9), d


def test_workload_start_date_and_ramp(make) -> None:
    """Starts on day 10 and ramps linearly over 4 days: 1/4, 2/4, 3/4, then full."""
    inv = make(base(workloads={"w": {"lands_on": "a/p", "per_year": "36.5TB",
                                     "start": "2027-01-11", "ramp": "4d"}}))
    used = simulate(inv, years=0.1).resources["a/p"].used
    daily = 0.1 * TB
    assert used[9] == 0
    assert used[10] == pytest.approx(daily / 4)
    assert used[13] == pytest.approx(daily * (1 + 2 + 3 + 4) / 4)
    assert used[14] - used[13] == pytest.approx(daily)


def two_sites(**replication: object) -> dict:
    """The base estate, a constant workload on a/p, and the same pool 'b/p' at a DR site,
    the target of ``replication``."""
    data = base(workloads={"w": {"lands_on": "a/p", "stored": "20TB", "per_year": "36.5TB"}})
    data["sites"]["dr"] = {"role": "dr", "racks": {"count": 1, "units": 42}}
    data["arrays"]["b"] = {"site": "dr", "model": "arr", "pools": {"p": data["arrays"]["a"]
                                                                      ["pools"]["p"]}}
    data["replications"] = {"r": {"source": "a/p", "target": "b/p", **replication}}
    return data


@pytest.mark.parametrize("replication", [{"kind": "gad"}, {"kind": "sync"},
                                         {"kind": "async", "lag": 0}])
def test_mirrors_hold_the_same_data_at_both_ends(make, replication) -> None:
    result = simulate(make(two_sites(**replication)), years=0.5)
    assert result.resources["b/p"].used == result.resources["a/p"].used


def test_async_copy_trails_its_source_by_the_lag(make) -> None:
    """With a 3-day lag, the copy on day d is what the source held on day d - 3 (and
    nothing before the first copy is 3 days old: day 0's copy is day 0's data)."""
    result = simulate(make(two_sites(kind="async", lag="3d")), years=0.5)
    source, copy = result.resources["a/p"].used, result.resources["b/p"].used
    assert copy[:3] == [source[0]] * 3
    assert copy[3:] == source[:-3]
    assert copy[100] < source[100]


def test_backup_keeps_changes_for_its_retention(make) -> None:
    """A backup of 100 TB with 1% daily change kept 30 days: 100 x (1 + 0.01 x 30) = 130 TB."""
    data = base(workloads={"w": {"lands_on": "a/p", "stored": "100TB"}},
                object_stores={"o": {"site": "s", "raw": "1PB"}},
                replications={"b": {"kind": "backup", "source": "a/p", "target": "o",
                                    "retention": "30d", "change_rate": "1%"}})
    result = simulate(make(data), years=0.1)
    assert result.resources["o"].used[5] == pytest.approx(130 * TB, rel=1e-9)


def test_migration_takes_the_computed_number_of_days(make) -> None:
    """100 TB at 1 GB/s in an 8-hour window: 28.8 TB a day, so ceil(100 / 28.8) = 4 days;
    20 TB of staging on the object store is released when it ends."""
    from capacity.model.scenario import Scenario

    data = base(object_stores={"o": {"site": "s", "raw": "1PB"}},
                workloads={"w": {"lands_on": "a/p", "stored": "1TB"}})
    scenario = Scenario.model_validate({"name": "m", "events": [{
        "on": "2027-01-11", "action": "migrate", "name": "legacy", "volume": "100TB",
        "to": "a/p", "bandwidth": "1GB/s", "windows": ["22:00-06:00"], "staging": "20TB",
        "staging_on": "o"}]})
    result = simulate(make(data), [scenario], years=0.2)
    per_day = 1e9 * 8 * 3600
    days = math.ceil(100 * TB / per_day)
    assert days == 4
    end = next(e for e in result.events if e.kind == "migration-end")
    assert end.data["days"] == days
    assert end.date == dt.date(2027, 1, 11) + dt.timedelta(days=days - 1)
    used = result.resources["a/p"].used
    assert used[10] == pytest.approx(1 * TB + per_day)
    assert used[13] == pytest.approx(101 * TB)
    staging = result.resources["o"].used
    assert staging[9] == 0 and staging[10] == 20 * TB and staging[14] == 0


def test_a_full_store_refuses_new_data_and_the_plan_fails_from_that_day(make) -> None:
    """140 TB holding 130 TB, 1 TB a day, nothing bought: day d holds 130 + (d + 1) TB, so
    day 9 fills it exactly and from day 10 each day's 1 TB is refused; the store never
    holds more than its capacity."""
    inv = make(base(workloads={"w": {"lands_on": "a/p", "stored": "130TB",
                                     "per_year": "365TB"}}))
    result = simulate(inv, years=0.1)  # 36 days
    used = result.resources["a/p"].used
    assert used[8] == 139 * TB and used[9] == 140 * TB
    assert max(used) == 140 * TB
    refused = result.unplaced["w"]
    assert refused[:10] == [0] * 10 and refused[10:] == [TB] * (result.days - 10)
    assert result.failed_from == result.start + dt.timedelta(days=10)
    said = [e for e in result.events if e.kind == "data-refused"]
    assert [(e.date, e.resource) for e in said] == [(result.failed_from, "a/p")]


def test_retention_in_years_is_calendar_years(make) -> None:
    """From 2026-01-01, 0.1 TB a day kept 5 years: the first day's data leaves on
    2031-01-01 (day 1,826; 2028 has a 29 February), not after 1,825 days.  So on day 1,825
    the store holds 1,826 days of data, and from day 1,826 on it holds 1,826 days too (one
    day leaves as one lands)."""
    data = base(object_stores={"o": {"site": "s", "raw": "2PB"}},
                workloads={"w": {"lands_on": "o", "per_year": "36.5TB", "retention": "5y"}})
    data["as_of"] = "2026-01-01"
    used = simulate(make(data), years=5.2).resources["o"].used
    assert dt.date(2026, 1, 1) + dt.timedelta(days=1826) == dt.date(2031, 1, 1)
    assert used[1824] == 1825 * TB // 10 and used[1825] == 1826 * TB // 10
    assert used[1826] == used[1827] == 1826 * TB // 10


def test_an_immutable_backup_of_a_write_once_tier_keeps_what_moved_on(make) -> None:
    """Hot keeps 30 days of 0.1 TB (3 TB) and moves each older day on to the archive.  A
    backup of hot with 'new-data' changes is the full copy (3 TB) and nothing for changes;
    immutable for 30 days, it also keeps the 30 days of studies that moved on: 6 TB."""
    from tests.sim.test_tiering import tiered

    for immutable, held in ((False, 3 * TB), (True, 6 * TB)):
        data = tiered()
        data["replications"] = {"b": {"kind": "backup", "source": "a/p", "target": "o",
                                      "retention": "30d", "change_rate": "new-data",
                                      "immutable": immutable}}
        result = simulate(make(data), years=0.3)
        hot, archive = result.resources["a/p"].used, result.resources["o"].used
        assert hot[80] == 3 * TB
        assert archive[80] - (81 * TB // 10 - hot[80]) == held  # the archive: moved + backup


def test_a_copy_that_starts_later_holds_nothing_before(make) -> None:
    """A GAD pair and a backup that start on day 50: the target holds nothing of the
    source before, and from that day the source's data (the mirror) or its full copy."""
    data = two_sites(kind="gad", start="2027-02-20")
    result = simulate(make(data), years=0.3)
    a, b = result.resources["a/p"].used, result.resources["b/p"].used
    assert (dt.date(2027, 2, 20) - result.start).days == 50
    assert b[49] == 0 and b[50] == a[50] and b[80] == a[80]
    assert [e.kind for e in result.events if e.kind == "copy-start"] == ["copy-start"]
