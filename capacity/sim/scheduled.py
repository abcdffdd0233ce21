"""Demand the purchasing desk knows is coming, apart from the trend: migration waves,
workloads and copies (replications) that start on a known day.

The desk projects organic growth from the trend of what a resource holds.  A one-off
migration, or the first full copy of a replication that starts during the run, is not
growth: its bytes are taken out of the history the trend is read from, and what is still
to come within the desk's horizon is added instead, so capacity is bought ahead by the
lead time and no more than the declared volume.  A workload with a
start date (in the inventory, or added by a scenario on its date) is counted from its
model before it starts; in its first ``TREND_DAYS`` the trend has seen only part of it,
and the rest is counted from the model too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the twin holds a ``Scheduled``: no import of it at run time
    from capacity.sim.twin import WorkloadState

TREND_DAYS = 30
"""The days the desk reads a trend over."""


@dataclass
class Wave:
    """A migration wave as the desk sees it."""

    to: str
    first_day: int
    per_day: int
    remaining: int
    """Bytes still to copy (the migration actor keeps it current)."""
    staging_on: str | None = None
    staging: int = 0


@dataclass
class Start:
    """A workload that starts on a known day."""

    state: WorkloadState
    first_day: int


@dataclass
class CopyStart:
    """A replication that starts on a known day: its first full copy lands on ``target``."""

    target: str
    first_day: int
    size: Callable[[], int]
    """What the first copy will hold, as the source stands now."""


@dataclass
class Scheduled:
    waves: dict[str, Wave] = field(default_factory=dict)
    starts: list[Start] = field(default_factory=list)
    copies: list[CopyStart] = field(default_factory=list)
    one_off: dict[str, int] = field(default_factory=dict)
    """Resource -> bytes placed on it so far that are not growth: what migrations copied,
    and the first full copy of a replication that started during the run."""
    one_off_history: dict[str, list[int]] = field(default_factory=dict)
    """Resource -> ``one_off`` at the end of each day (the recorder's tape)."""

    def place_once(self, ref: str, nbytes: int) -> None:
        self.one_off[ref] = self.one_off.get(ref, 0) + nbytes

    def one_off_refs(self) -> list[str]:
        """The resources one-off bytes can land on."""
        refs = [w.to for w in self.waves.values()] + [c.target for c in self.copies]
        return list(dict.fromkeys(refs))

    def trend(self, refs: set[str], history: Sequence[int]) -> float:
        """Bytes a day ``history`` grew over its last ``TREND_DAYS``, less the one-off bytes
        placed on ``refs`` meanwhile (never below zero)."""
        if len(history) < 2:
            return 0.0
        span = min(TREND_DAYS, len(history) - 1)
        grew = history[-1] - history[-1 - span]
        for ref in refs:
            placed = self.one_off_history.get(ref)
            if placed:
                grew -= placed[-1] - placed[-1 - span]
        return max(0.0, grew / span)

    def in_view(self, refs: set[str], day: int, horizon: int) -> float:
        """The first day from ``day`` on which known demand on ``refs`` is within the
        horizon (``day`` itself while it is; infinity when none is to come): the desk must
        not sleep past it, since the projection moves with every day of it."""
        first = math.inf
        for wave in self.waves.values():
            if wave.remaining > 0 and (wave.to in refs or wave.staging_on in refs):
                first = min(first, wave.first_day - horizon)
        for start in self.starts:
            if start.state.model.lands_on in refs and day < start.first_day + TREND_DAYS:
                first = min(first, start.first_day - horizon)
        for copy in self.copies:
            if copy.target in refs and day < copy.first_day:
                first = min(first, copy.first_day - horizon)
        return max(day, first)

    def ahead(self, refs: set[str], day: int, horizon: int) -> int:
        """Bytes known to arrive on ``refs`` over the next ``horizon`` days that the trend
        does not show."""
        total = 0
        last = day + horizon
        for wave in self.waves.values():
            if wave.remaining <= 0:
                continue
            if wave.to in refs:
                days = last - max(day + 1, wave.first_day) + 1
                total += min(wave.remaining, wave.per_day * max(0, days))
            if wave.staging_on in refs and wave.first_day > day and wave.first_day <= last:
                total += wave.staging
        for copy in self.copies:
            if copy.target in refs and day < copy.first_day <= last:
                total += copy.size()
        for start in self.starts:
            if start.state.model.lands_on not in refs or start.first_day > last:
                continue
            since = day - start.first_day
            if since < 0:  # not started: all it brings until the horizon
                total += sum(start.state.bytes_on(d) for d in range(start.first_day, last + 1))
            elif since < TREND_DAYS:  # started: the trend (to yesterday) has seen ``since`` days
                share = 1 - since / TREND_DAYS
                total += round(start.state.bytes_on(day) * horizon * share)
        return total


__all__ = ["TREND_DAYS", "CopyStart", "Scheduled", "Start", "Wave"]
