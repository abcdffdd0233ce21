"""When work may run: time windows, their intersection, and a policy's run schedule.

A host's windows and a policy's windows each list the daily times in which moves may run
(a list is the union of its windows; an empty list means any time).  A move runs only
inside every list that applies: their intersection.  Windows are written to the minute, so
the open time of a day is kept as the set of its open minutes, which makes intersection,
"is it open now" and "how long until it closes" exact and obvious.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

from capacity.model.policy.language import Pacing, Schedule, Window

MINUTES_PER_DAY = 24 * 60


def _minute(moment: dt.time) -> int:
    return moment.hour * 60 + moment.minute


def _open_minutes(window: Window) -> range | tuple[range, range]:
    start, end = _minute(window.start), _minute(window.end)
    if start == end:
        return range(MINUTES_PER_DAY)
    if start < end:
        return range(start, end)
    return range(start, MINUTES_PER_DAY), range(0, end)  # across midnight


@dataclass(frozen=True)
class OpenHours:
    """The minutes of a day in which work may run."""

    minutes: bytes = bytes([1]) * MINUTES_PER_DAY
    """One flag per minute of the day (index 0 is 00:00): 1 when open."""

    @classmethod
    def of(cls, *window_lists: Sequence[Window]) -> OpenHours:
        """The intersection of window lists, each the union of its windows (an empty list
        is always open)."""
        flags = bytearray([1]) * MINUTES_PER_DAY
        for windows in window_lists:
            if windows:
                union = bytearray(MINUTES_PER_DAY)
                for window in windows:
                    spans = _open_minutes(window)
                    for span in spans if isinstance(spans, tuple) else (spans,):
                        union[span.start:span.stop] = bytes([1]) * len(span)
                flags = bytearray(a & b for a, b in zip(flags, union, strict=True))
        return cls(bytes(flags))

    @cached_property
    def _open_run(self) -> tuple[int, ...]:
        """Minute m -> open minutes from m on without a break (0: closed; wraps midnight)."""
        runs = [0] * MINUTES_PER_DAY
        if self.always:
            return tuple([MINUTES_PER_DAY] * MINUTES_PER_DAY)
        # Walk backwards twice around the clock so stretches across midnight count whole.
        run = 0
        for m in range(2 * MINUTES_PER_DAY - 1, -1, -1):
            run = run + 1 if self.minutes[m % MINUTES_PER_DAY] else 0
            runs[m % MINUTES_PER_DAY] = run
        return tuple(runs)

    @property
    def always(self) -> bool:
        return all(self.minutes)

    @property
    def hours(self) -> float:
        """Open hours a day."""
        return sum(self.minutes) / 60

    def open_at(self, moment: dt.time) -> bool:
        return bool(self.minutes[_minute(moment)])

    def seconds_open_from(self, moment: dt.time) -> float:
        """How long work may go on from ``moment`` before the windows close (0 when they
        are closed now; a whole day when they never close)."""
        run = self._open_run[_minute(moment)]
        if not run:
            return 0.0
        return run * 60.0 - moment.second - moment.microsecond / 1e6

    @cached_property
    def opening(self) -> dt.time:
        """When the day's first open stretch begins (00:00 when always or never open)."""
        for m in range(MINUTES_PER_DAY):
            if self.minutes[m] and not self.minutes[m - 1]:
                return dt.time(m // 60, m % 60)
        return dt.time(0, 0)

    def text(self) -> str:
        """The open stretches as windows ('22:00-06:00'), or 'any time'."""
        if self.always:
            return "any time"
        if not any(self.minutes):
            return "never (the windows do not overlap)"
        stretches = []
        for m in range(MINUTES_PER_DAY):
            if self.minutes[m] and not self.minutes[m - 1]:
                stretches.append(f"{_clock(m)}-{_clock(m + self._open_run[m])}")
        return ", ".join(stretches)


def _clock(minute: int) -> str:
    minute %= MINUTES_PER_DAY
    return f"{minute // 60:02d}:{minute % 60:02d}"


def run_times(schedule: Schedule | None, hours: OpenHours, day: dt.date) -> list[dt.datetime]:
    """The instants of ``day`` at which a policy's run starts: its schedule (by default daily
    at the opening of its windows, or midnight without windows); runs a schedule puts
    outside the windows are kept, and find them closed, as the real timer would."""
    every = schedule.every if schedule else 86400
    at = schedule.at if schedule and schedule.at else hours.opening
    midnight = dt.datetime.combine(day, dt.time(0, 0))
    first = midnight + dt.timedelta(hours=at.hour, minutes=at.minute)
    if every >= 86400:
        days = int(every // 86400)
        return [first] if day.toordinal() % days == 0 else []
    times, step = [], dt.timedelta(seconds=every)
    moment = first - step * int((first - midnight) / step)  # earliest instant of the day
    while moment.date() == day:
        times.append(moment)
        moment += step
    return times


def run_spans(schedule: Schedule | None, hours: OpenHours,
              day: dt.date) -> list[tuple[dt.datetime, float]]:
    """Each run that starts on ``day`` and the seconds it may work: from its start until
    its windows close or the next run starts (tomorrow's first, for the day's last)."""
    times = run_times(schedule, hours, day)
    after = day + dt.timedelta(days=1)
    while times and not (later := run_times(schedule, hours, after)):
        after += dt.timedelta(days=1)
    spans = []
    for i, start in enumerate(times):
        following = times[i + 1] if i + 1 < len(times) else later[0]
        spans.append((start, min(hours.seconds_open_from(start.time()),
                                 (following - start).total_seconds())))
    return spans


def daily_run_spans(schedule: Schedule | None, hours: OpenHours
                    ) -> Callable[[dt.date], list[tuple[dt.datetime, float]]]:
    """``run_spans`` for day after day, as a simulation asks: a day's spans depend only on
    where the day falls in the schedule's cycle of whole days, so each is worked out once
    per day of the cycle and shifted to the day asked."""
    cycle = max(1, int((schedule.every if schedule else 86400) // 86400))
    made: dict[int, list[tuple[dt.timedelta, float]]] = {}

    def spans(day: dt.date) -> list[tuple[dt.datetime, float]]:
        midnight = dt.datetime(day.year, day.month, day.day)
        pattern = made.get(day.toordinal() % cycle)
        if pattern is None:
            pattern = made[day.toordinal() % cycle] = [
                (start - midnight, seconds) for start, seconds in run_spans(schedule, hours, day)]
        return [(midnight + offset, seconds) for offset, seconds in pattern]

    return spans


def hours_per_day(windows: Sequence[Window]) -> float:
    """Open hours a day of a list of windows (24 when there are none: always open);
    overlapping windows count once."""
    return OpenHours.of(windows).hours


def effective(*pacings: Pacing) -> tuple[OpenHours, float | None]:
    """The pacing a run works under when several apply (a host's and a policy's): open only
    inside every one's windows, at the lowest bandwidth limit any of them sets (None: no
    limit).  A bandwidth limit applies with or without windows."""
    hours = OpenHours.of(*(p.windows for p in pacings))
    limits = [p.bandwidth for p in pacings if p.bandwidth is not None]
    return hours, min(limits) if limits else None
