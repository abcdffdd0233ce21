"""When a policy's timer fires, as a systemd calendar and as a cron line.

The instants come from the one rule there is, :func:`capacity.model.policy.windows.run_times`
(every N hours from ``at``, or every N days; by default when the windows open): the times
of day of a run day, and which days are run days.  Every day and a week of days (``7d``:
one weekday) are calendars systemd and cron can hold.  Other cycles of whole days (``2d``,
``14d``) count days from an epoch, which neither can: their timer fires daily at the run's
time and the run itself goes on only on the schedule's days (``tier run --scheduled``:
:func:`due`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from capacity.model.policy.language import Schedule
from capacity.model.policy.windows import OpenHours, run_times

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
"""systemd's weekday names, Monday first (``date.weekday()``)."""

_ANY_DAY = dt.date(2026, 1, 5)
"""A Monday to look for run days from (any day would do: the cycle is what counts)."""


@dataclass(frozen=True, slots=True)
class Calendar:
    """A daily timer: the times of day it fires, on every day or on one weekday."""

    times: tuple[dt.time, ...]
    """Times of day, in order (local time, as the windows and the timer count it)."""
    weekday: int | None = None
    """Fire only on this weekday (0 Monday ... 6 Sunday); None: every day."""
    gated: bool = False
    """The schedule runs every N days, which no calendar holds: the timer fires daily and
    the run goes on only on the schedule's days (:func:`due`)."""

    @property
    def minute(self) -> int:
        """The minute of the hour of every firing: runs are whole hours apart."""
        return self.times[0].minute

    def on_calendar(self) -> str:
        """systemd's ``OnCalendar=`` expression ('Sun *-*-* 22:00:00')."""
        day = f"{WEEKDAYS[self.weekday]} " if self.weekday is not None else ""
        hours = "*" if len(self.times) == 24 else ",".join(f"{t.hour:02d}" for t in self.times)
        return f"{day}*-*-* {hours}:{self.minute:02d}:00"

    def cron(self) -> str:
        """The cron schedule fields: minute, hour, day of month, month, day of week."""
        dow = "*" if self.weekday is None else str((self.weekday + 1) % 7)  # cron: 0 Sunday
        hours = "*" if len(self.times) == 24 else ",".join(str(t.hour) for t in self.times)
        return f"{self.minute} {hours} * * {dow}"


def _cycle(schedule: Schedule | None) -> int:
    """Days in the schedule's cycle: 1 for runs every day (or several times a day)."""
    every = schedule.every if schedule else 86400
    return max(1, int(every // 86400))


def calendar(schedule: Schedule | None, hours: OpenHours) -> Calendar:
    """The timer of a policy's runs under these open hours (a host's and the policy's
    windows): the times of its run days and which days those are, read off
    :func:`run_times`."""
    days = _cycle(schedule)
    run_days = [d for d in (_ANY_DAY + dt.timedelta(days=i) for i in range(days))
                if run_times(schedule, hours, d)]
    if len(run_days) != 1:  # a schedule makes one run day a cycle
        raise AssertionError(f"{len(run_days)} run days in a cycle of {days}")
    times = tuple(sorted(t.time() for t in run_times(schedule, hours, run_days[0])))
    if len({t.minute for t in times}) != 1 or any(t.second for t in times):
        raise AssertionError(f"runs not whole hours apart: {times}")
    if days == 1:
        return Calendar(times)
    if days == 7:
        return Calendar(times, weekday=run_days[0].weekday())
    return Calendar(times, gated=True)


def due(schedule: Schedule | None, hours: OpenHours, now: dt.datetime) -> bool:
    """Whether the timer's last firing at or before ``now`` (naive local time) is one of the
    schedule's runs: what a run started by the timer of a gated calendar asks.  A run the
    timer starts late (after the machine was down: ``Persistent=``) still counts for its
    firing, so a run day's run is not lost to a reboot across midnight."""
    cal = calendar(schedule, hours)
    firings = [dt.datetime.combine(now.date() - dt.timedelta(days=back), t)
               for back in range(8) for t in cal.times]
    firings = [f for f in firings if f <= now
               and (cal.weekday is None or f.weekday() == cal.weekday)]
    if not firings:
        return False
    last = max(firings)
    return last in run_times(schedule, hours, last.date())


def around(schedule: Schedule | None, hours: OpenHours, now: dt.datetime
           ) -> tuple[dt.datetime, dt.datetime]:
    """The schedule's last run at or before ``now`` (naive local time) and its next one
    after, by :func:`run_times` (every cycle has a run day, so a cycle and a day either
    way finds both), as the timer fires them across a change of clocks: a time the clocks
    skip (spring forward) has no run, a time they repeat (fall back) one, the first, as
    systemd does.  What the exporter's ``capacity_tier_schedule_*_timestamp_seconds``
    say."""
    span = _cycle(schedule) + 1
    times = [t for back in range(-span, span + 1)
             for t in run_times(schedule, hours, now.date() + dt.timedelta(days=back))
             if _exists(t)]
    return max(t for t in times if t <= now), min(t for t in times if t > now)


def _exists(local: dt.datetime) -> bool:
    """Whether the clocks of this machine's time zone show ``local`` (naive) at all."""
    return dt.datetime.fromtimestamp(local.timestamp()) == local
