"""The timers fire exactly when the policy's runs start, as ``run_times`` (the simulator's
and the planner's one rule) says: the OnCalendar expression read by systemd itself
(``systemd-analyze calendar --iterations``) and the cron fields read by a small cron
evaluator of this test's own, over eight weeks of days, for schedules of every kind (every
N hours from ``at``, every N days, by default when the windows open).  Schedules of N days
that no calendar holds fire daily and are gated by ``due``: the gated firings are the runs."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import os
import re
import subprocess

import pytest

from capacity.model.policy.language import Schedule, Window
from capacity.model.policy.windows import OpenHours, run_times
from capacity.schedule.calendar import Calendar, around, calendar, due
from tests.schedule.tools import need

START = dt.date(2026, 3, 1)  # before a DST change elsewhere; the test runs in UTC
DAYS = 56
EVERY = ["1h", "2h", "3h", "4h", "6h", "8h", "12h", "24h", "2d", "3d", "7d", "14d"]
AT = [None, "00:00", "02:15", "22:05", "23:59"]
WINDOWS = [[], ["22:00-06:00"], ["01:30-04:00", "20:00-23:00"], ["07:45-18:00"]]
CASES = list(itertools.product(EVERY, AT, WINDOWS))


def _schedule(every: str, at: str | None) -> Schedule:
    return Schedule.model_validate({"every": every, **({"at": at} if at else {})})


def _hours(windows: list[str]) -> OpenHours:
    return OpenHours.of([Window.model_validate(w) for w in windows])


def expected(schedule: Schedule, hours: OpenHours) -> list[dt.datetime]:
    return [t for i in range(DAYS) for t in run_times(schedule, hours,
                                                       START + dt.timedelta(days=i))]


ELAPSE = re.compile(r"^\s*(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)"
                    r" UTC$", re.M)


@functools.cache
def systemd_firings(expression: str, iterations: int) -> list[dt.datetime]:
    tool = need("systemd-analyze", "systemd")
    base = dt.datetime.combine(START, dt.time()) - dt.timedelta(seconds=1)
    run = subprocess.run([tool, "calendar", f"--iterations={iterations}",
                          f"--base-time={base:%Y-%m-%d %H:%M:%S} UTC", expression],
                         capture_output=True, text=True, check=False, timeout=60,
                         env={**os.environ, "TZ": "UTC", "SYSTEMD_COLORS": "0"})
    assert run.returncode == 0, run.stderr
    found = [dt.datetime.fromisoformat(t) for t in ELAPSE.findall(run.stdout)]
    assert len(found) == iterations, run.stdout
    return found


def _within(firings: list[dt.datetime]) -> list[dt.datetime]:
    end = dt.datetime.combine(START + dt.timedelta(days=DAYS), dt.time())
    return [f for f in firings if f < end]


def _gated(cal: Calendar, schedule: Schedule, hours: OpenHours,
           firings: list[dt.datetime]) -> list[dt.datetime]:
    return [f for f in firings if due(schedule, hours, f)] if cal.gated else firings


@pytest.mark.parametrize(("every", "at", "windows"), CASES)
def test_the_timer_fires_when_run_times_says(every: str, at: str | None,
                                             windows: list[str]) -> None:
    schedule, hours = _schedule(every, at), _hours(windows)
    cal = calendar(schedule, hours)
    per_day = len(cal.times) if cal.weekday is None else 1
    days = DAYS if cal.weekday is None else DAYS // 7
    firings = _within(systemd_firings(cal.on_calendar(), per_day * days + 1))
    assert _gated(cal, schedule, hours, firings) == expected(schedule, hours)


# -- cron, read by an evaluator of the test's own --------------------------------------------

def _field(text: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        spec, _, step = part.partition("/")
        if spec == "*":
            first, last = low, high
        elif "-" in spec:
            first, last = map(int, spec.split("-"))
        else:
            first = last = int(spec)
        values.update(range(first, last + 1, int(step or 1)))
    return values


def cron_firings(fields: str) -> list[dt.datetime]:
    """What cron(8) runs over the test's days: minute, hour, day of month, month, day of
    week (0 and 7 Sunday); when both day fields are restricted, either matching is enough."""
    minute, hour, dom, month, dow = fields.split()
    minutes, hours_ = _field(minute, 0, 59), _field(hour, 0, 23)
    doms, months = _field(dom, 1, 31), _field(month, 1, 12)
    dows = {d % 7 for d in _field(dow, 0, 7)}
    found = []
    for i in range(DAYS):
        day = START + dt.timedelta(days=i)
        by_dom, by_dow = day.day in doms, day.isoweekday() % 7 in dows
        both = dom != "*" and dow != "*"
        fits = (by_dom or by_dow) if both else (by_dom and by_dow)
        if fits and day.month in months:
            found += [dt.datetime.combine(day, dt.time(h, m))
                      for h in sorted(hours_) for m in sorted(minutes)]
    return found


@pytest.mark.parametrize(("every", "at", "windows"), CASES)
def test_the_cron_line_fires_when_run_times_says(every: str, at: str | None,
                                                 windows: list[str]) -> None:
    schedule, hours = _schedule(every, at), _hours(windows)
    cal = calendar(schedule, hours)
    assert _gated(cal, schedule, hours, cron_firings(cal.cron())) == expected(schedule, hours)


def test_the_calendars_read_as_expected() -> None:
    night = _hours(["22:00-06:00"])
    assert calendar(None, night).on_calendar() == "*-*-* 22:00:00"
    assert calendar(None, _hours([])).cron() == "0 0 * * *"
    assert calendar(_schedule("6h", "01:30"), night).on_calendar() == "*-*-* 01,07,13,19:30:00"
    assert calendar(_schedule("1h", "00:10"), night).cron() == "10 * * * *"
    weekly = calendar(_schedule("7d", None), night)
    assert weekly.on_calendar() == "Sun *-*-* 22:00:00" and weekly.cron() == "0 22 * * 0"
    assert not weekly.gated and calendar(_schedule("3d", None), night).gated


@pytest.mark.parametrize("every", ["2d", "3d", "14d"])
def test_a_late_run_counts_for_the_firing_it_catches_up(every: str) -> None:
    """``Persistent=`` starts a run missed while the machine was off at boot, up to a day
    later (the next firing): it is due exactly when the missed firing was a run."""
    schedule, hours = _schedule(every, "23:30"), _hours([])
    cal = calendar(schedule, hours)
    runs = set(expected(schedule, hours))
    for i in range(DAYS - 1):
        firing = dt.datetime.combine(START + dt.timedelta(days=i), cal.times[0])
        for late in (dt.timedelta(0), dt.timedelta(minutes=31), dt.timedelta(hours=23)):
            assert due(schedule, hours, firing + late) is (firing in runs), (firing, late)


DST_ZONE = "Europe/Berlin"  # clocks forward 2027-03-28 02:00, back 2027-10-31 03:00


@pytest.mark.parametrize("first", [dt.date(2027, 3, 26), dt.date(2027, 10, 29)])
@pytest.mark.parametrize(("every", "at"), [("24h", "02:30"), ("1h", None), ("6h", "00:30"),
                                           ("24h", "22:00")])
def test_the_last_and_next_scheduled_runs_are_the_timers_across_a_clock_change(
        monkeypatch: pytest.MonkeyPatch, first: dt.date, every: str, at: str | None) -> None:
    """What the exporter says of the last and next scheduled run (``around``), hour by hour
    over four days around each change of clocks, against the elapses of the timer's own
    calendar as systemd reads it in the same zone: a run at a time the clocks skip does not
    happen (no "missed run" for it), a time they repeat runs once."""
    import time

    tool = need("systemd-analyze", "systemd")
    schedule, hours = _schedule(every, at), _hours([])
    monkeypatch.setenv("TZ", DST_ZONE)
    time.tzset()
    try:
        base = dt.datetime.combine(first - dt.timedelta(days=2), dt.time())
        run = subprocess.run([tool, "calendar", "--iterations=200",
                              f"--base-time={base:%Y-%m-%d %H:%M:%S}",
                              calendar(schedule, hours).on_calendar()],
                             capture_output=True, text=True, check=False, timeout=60,
                             env={**os.environ, "TZ": DST_ZONE, "SYSTEMD_COLORS": "0"})
        assert run.returncode == 0, run.stderr
        elapses = [dt.datetime.fromisoformat(t).replace(tzinfo=dt.UTC).timestamp()
                   for t in re.findall(r"\(in UTC\): \w{3} (\S+ \S+) UTC", run.stdout)]
        assert len(elapses) == 200
        now = dt.datetime.combine(first, dt.time(0, 10))
        while now < dt.datetime.combine(first + dt.timedelta(days=4), dt.time()):
            if dt.datetime.fromtimestamp(now.timestamp()) == now:  # a time the clocks show
                before, after = around(schedule, hours, now)
                at_now = now.timestamp()
                assert before.timestamp() == max(e for e in elapses if e <= at_now), now
                assert after.timestamp() == min(e for e in elapses if e > at_now), now
            now += dt.timedelta(minutes=40)
    finally:
        monkeypatch.undo()
        time.tzset()
