"""One policy, one truth: the divergences between the simulator and the tier engine that
issue 11 reproduced, each held to the behaviour docs/tiering.md defines.  The planner's side
is ``policy.decide`` itself (tiering/planner.py calls nothing else)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from capacity.model import Policy
from capacity.model.policy import (
    Candidate,
    Drain,
    OpenHours,
    TierState,
    Window,
    daily_run_spans,
    decide,
    effective,
    peak_held,
    run_spans,
    run_times,
)
from capacity.sim import simulate
from tests.sim.conftest import TB
from tests.sim.test_tiering import tiered

HOT = 140 * TB  # the test pool: exactly 140 TB
TODAY = dt.date(2027, 1, 1)


def policy(**fields: object) -> Policy:
    return Policy.model_validate({"hosts": ["h"], "rules": [
        {"name": "age-out", "from": "hot", "to": "arch", "select": {"older_than": "30d"}}],
        **fields})


def old_data(tb: float, age: float = 400, unit: float = 0.1 * TB) -> Candidate:
    return Candidate("hot", None, unit, age, count=round(tb * TB / unit))


def test_a_run_drains_only_when_it_finds_the_tier_above_high(make) -> None:
    """High 85%, low 50%, caps 10 TB a run: the run that finds hot above high moves 10 TB;
    the next, finding it below high, moves nothing, though it is far above low.  So hot saws
    between high and high minus a run's cap, as the real engine's runs make it: it does not
    sit at a watermark."""
    rules = {"trigger": {"high": "85%", "low": "50%"}, "caps": {"bytes": "10TB"}}
    first = decide(policy(**rules), {"hot": TierState(120 * TB, HOT)}, [old_data(120)], TODAY)
    assert first.bytes_taken() == pytest.approx(10 * TB)
    second = decide(policy(**rules), {"hot": TierState(110 * TB, HOT)}, [old_data(110)], TODAY)
    assert second.bytes_taken() == 0
    assert "<= high 85%: no move needed" in second.left[0].reason

    data = tiered(**rules)
    data["workloads"]["w"].update(stored="120TB", stored_ages={"youngest": "100d",
                                                               "oldest": "600d"})
    result = simulate(make(data), years=1)
    hot = result.resources["a/p"].used
    drops = [hot[d - 1] + 0.1 * TB - hot[d] for d in range(1, len(hot))]
    moves = [d for d, drop in enumerate(drops, start=1) if drop > 1e9]
    assert moves, "hot never drained"
    assert all(drops[d - 1] == pytest.approx(10 * TB, rel=1e-3) for d in moves)
    # Each drain starts from above high and the next waits until hot is above high again.
    for a, b in itertools.pairwise(moves):
        assert b - a > 1
        assert hot[b - 1] > 0.85 * HOT - 0.1 * TB
    assert min(hot[moves[0]:]) >= 0.85 * HOT - 10.2 * TB  # never near low (50%)
    assert max(hot) <= 0.85 * HOT + 0.2 * TB


def test_first_match_wins_in_the_simulator_too() -> None:
    """Move hot -> archive after 30 days, then expire hot after 60, trigger 90%: a unit of
    70 days is the move rule's (it matches first); with hot below 90% nothing moves, and the
    expire rule never gets it."""
    p = policy(trigger={"high": "90%", "low": "80%"}, rules=[
        {"name": "age-out", "from": "hot", "to": "arch", "select": {"older_than": "30d"}},
        {"name": "drop", "action": "expire", "from": "hot", "select": {"older_than": "60d"}}])
    run = decide(p, {"hot": TierState(15 * TB, HOT)}, [old_data(6, age=70)], TODAY)
    assert run.taken == []
    assert {d.rule.name for d in run.left} == {"age-out"}


def test_first_match_wins_in_a_simulation(make) -> None:
    data = tiered(trigger={"high": "90%", "low": "80%"})
    data["policies"]["life"]["rules"].append(
        {"name": "drop", "action": "expire", "from": "hot", "select": {"older_than": "60d"}})
    result = simulate(make(data), years=0.5)
    hot = result.resources["a/p"].used
    assert hot[150] == pytest.approx(151 * 0.1 * TB)  # nothing expired, nothing moved


def test_windows_intersect() -> None:
    """Host 22:00-06:00 and policy 01:00-03:00: a run may work 01:00-03:00 only; at 23:00
    it may not start (apply used to take the union)."""
    host = [Window.model_validate("22:00-06:00")]
    mine = [Window.model_validate("01:00-03:00")]
    hours = OpenHours.of(host, mine)
    assert not hours.open_at(dt.time(23, 0)) and hours.open_at(dt.time(1, 30))
    assert hours.hours == 2 and hours.text() == "01:00-03:00"
    assert hours.seconds_open_from(dt.time(2, 0)) == 3600
    assert OpenHours.of(host, []).hours == 8  # no windows: no restriction


def test_bandwidth_applies_without_a_window(make) -> None:
    """0.5 MB/s and no windows: a daily run may copy 0.5 MB/s x 24 h = 43.2 GB (the
    simulator used to ignore a bandwidth without a window)."""
    result = simulate(make(tiered(pacing={"bandwidth": "0.5MB/s"})), years=0.3)
    arch = result.resources["o"].used
    assert arch[40] - arch[39] == pytest.approx(43.2e9, rel=1e-9)


def test_host_and_policy_windows_both_bound_the_simulated_run(make) -> None:
    data = tiered(pacing={"windows": ["01:00-03:00"], "bandwidth": "0.5MB/s"})
    data["hosts"]["h"]["pacing"] = {"windows": ["02:00-06:00"]}
    result = simulate(make(data), years=0.3)
    arch = result.resources["o"].used
    assert arch[40] - arch[39] == pytest.approx(1.8e9, rel=1e-9)  # 02:00-03:00 only


def test_settings_the_simulator_ignored() -> None:
    """``order: largest``, ``caps.count``, caps on expiry: decided once, for both."""
    big = Candidate("hot", None, 2 * TB, 100, count=3)
    small = Candidate("hot", None, 0.5 * TB, 500, count=10)
    largest = decide(policy(order="largest", caps={"count": 4}),
                     {"hot": TierState(100 * TB, HOT)}, [small, big], TODAY)
    assert [(d.candidate.unit_bytes, d.units) for d in largest.taken] == [(2 * TB, 3),
                                                                         (0.5 * TB, 1)]
    expiring = policy(rules=[{"name": "drop", "action": "expire", "from": "hot"}],
                      caps={"bytes": "1TB"})
    run = decide(expiring, {}, [small], TODAY)
    assert run.bytes_taken("expire") == pytest.approx(1 * TB)


def test_the_target_guard_is_the_planners_too() -> None:
    """A move never takes its target past the target's critical threshold."""
    run = decide(policy(), {"hot": TierState(100 * TB, HOT),
                            "arch": TierState(79 * TB, 100 * TB, critical=0.8)},
                 [old_data(5)], TODAY)
    assert run.bytes_taken() == pytest.approx(1 * TB)
    assert "critical 80%" in run.left[0].reason and run.left[0].limit == "target"


def test_runs_start_on_the_schedule() -> None:
    hours, _ = effective(policy(pacing={"windows": ["22:00-06:00"]}).pacing)
    assert run_times(None, hours, TODAY) == [dt.datetime(2027, 1, 1, 22, 0)]
    every6 = policy(schedule={"every": "6h", "at": "01:00"}).schedule
    assert [t.hour for t in run_times(every6, hours, TODAY)] == [1, 7, 13, 19]
    weekly = policy(schedule={"every": "7d"}).schedule
    days = [TODAY + dt.timedelta(days=i) for i in range(14)]
    assert sum(bool(run_times(weekly, hours, d)) for d in days) == 2
    with pytest.raises(ValueError, match="whole hours"):
        policy(schedule={"every": "5h"})


def test_each_run_works_until_its_windows_close_or_the_next_run_starts() -> None:
    """Every 6 hours from the 22:00-06:00 window's opening: the runs of a day start at
    04:00, 10:00, 16:00 and 22:00; the 04:00 run has 2 hours of window left, the 10:00 and
    16:00 runs none, and the 22:00 run works until the next day's 04:00 run starts (6
    hours): 8 hours a day, the window's length."""
    rules = policy(pacing={"windows": ["22:00-06:00"]}, schedule={"every": "6h"})
    hours, _ = effective(rules.pacing)
    spans = run_spans(rules.schedule, hours, TODAY)
    assert [(t.hour, s / 3600) for t, s in spans] == [(4, 2), (10, 0), (16, 0), (22, 6)]
    weekly = policy(schedule={"every": "7d"}).schedule
    runs = [s for d in range(7) for _, s in run_spans(weekly, OpenHours.of(),
                                                      TODAY + dt.timedelta(days=d))]
    assert runs == [86400.0]  # one run a week, open all day: it works until midnight


@pytest.mark.parametrize("schedule", [None, {"every": "6h"}, {"every": "8h", "at": "03:30"},
                                      {"every": "7d"}, {"every": "3d", "at": "23:00"}])
def test_the_simulators_daily_spans_are_the_schedules_spans_day_by_day(schedule) -> None:
    """The simulator works out a day's runs once per day of the schedule's cycle: over four
    years, leap day and year ends included, it gets exactly what ``run_spans`` says for
    each day itself."""
    rules = policy(pacing={"windows": ["22:00-06:00", "12:00-13:15"]}, schedule=schedule)
    hours, _ = effective(rules.pacing)
    spans = daily_run_spans(rules.schedule, hours)
    days = [dt.date(2027, 12, 1) + dt.timedelta(days=i) for i in range(4 * 366)]
    assert [spans(d) for d in days] == [run_spans(rules.schedule, hours, d) for d in days]
    assert sum(len(spans(d)) for d in days) > 0


def test_a_drain_takes_what_the_tightest_limit_lets_a_run_take() -> None:
    """500 MB/s through an 8-hour window copies 14.4 TB a run; 50,000 studies of 40 MB are
    2 TB; 20 TB is the byte cap: the count cap wins.  Every 6 hours, the runs get 2, 0, 0
    and 6 hours: 3.6 TB a run on average."""
    pacing = {"windows": ["22:00-06:00"], "bandwidth": "500MB/s"}
    rules = policy(trigger={"high": "85%", "low": "75%"}, pacing=pacing,
                   caps={"bytes": "20TB", "count": 50000})
    hours, bandwidth = effective(rules.pacing)
    drain = Drain.of(rules, hours, bandwidth, 40e6)
    assert drain == Drain(0.85, 1.0, 50000 * 40e6)
    uncapped = policy(trigger={"high": "85%", "low": "75%"}, pacing=pacing)
    assert Drain.of(uncapped, hours, bandwidth, 40e6).per_run == pytest.approx(14.4 * TB)
    six = policy(trigger={"high": "85%", "low": "75%"}, pacing=pacing,
                 schedule={"every": "6h"})
    assert Drain.of(six, hours, bandwidth, 40e6) == Drain(0.85, 0.25, pytest.approx(3.6 * TB))
    assert Drain.of(policy(trigger={"high": "85%", "low": "75%"}), OpenHours.of(), None,
                    40e6).per_run is None


def test_the_sawtooth_peak_is_what_purchasing_plans_for() -> None:
    """A 100 TB tier, high 85%, daily runs, 1 TB arriving a day, 70 days ahead, holding 80
    TB now (gross projection 80 + 70 = 150 TB):

    - runs that keep up: it peaks at 85 TB + a day's 1 TB;
    - data too young to move at the horizon (90 TB) is the floor instead: 91 TB;
    - runs of at most 0.5 TB: 150 - 0.5 x 70 = 115 TB;
    - a trend above the arrivals (2 TB a day, 220 TB) is the gross projection: 220 - 35;
    - draining never adds: with 80 TB and nothing arriving, 80 TB."""
    keeps_up = Drain(0.85, 1.0, None)
    assert peak_held(keeps_up, 100 * TB, 10 * TB, TB, 80 * TB, 80 * TB, 70) == 86 * TB
    assert peak_held(keeps_up, 100 * TB, 90 * TB, TB, 80 * TB, 80 * TB, 70) == 91 * TB
    slow = Drain(0.85, 1.0, 0.5 * TB)
    assert peak_held(slow, 100 * TB, 10 * TB, TB, 80 * TB, 80 * TB, 70) == 115 * TB
    assert peak_held(slow, 100 * TB, 10 * TB, TB, 80 * TB, 220 * TB, 70) == 185 * TB
    assert peak_held(keeps_up, 100 * TB, 10 * TB, 0, 80 * TB, 80 * TB, 70) == 80 * TB


def test_a_retention_in_years_ends_on_the_calendar_date() -> None:
    """Retention 5y, a study last written on 2026-01-01: on 2030-12-31 it is 1,825 days old
    and still under retention (five calendar years end on 2031-01-01); on 2031-01-01, 1,826
    days old, it may go.  365-day years would have let it go a day early."""
    rules = Policy.model_validate({"hosts": ["h"], "retention": "5y", "rules": [
        {"name": "drop", "action": "expire", "from": "hot", "select": {"older_than": "1y"}}]})
    written = dt.date(2026, 1, 1)
    for today, allowed in ((dt.date(2030, 12, 31), False), (dt.date(2031, 1, 1), True)):
        age = (today - written).days
        study = Candidate("hot", "2026/01/s1", TB, age)
        run = decide(rules, {"hot": TierState(0, HOT)}, [study], today)
        assert bool(run.taken) is allowed, (today, run.left)
        assert rules.may_expire("2026/01/s1", [], age, today) is allowed
