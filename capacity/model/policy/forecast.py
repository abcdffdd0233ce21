"""What a policy's triggered moves leave on a tier, looking ahead: the sawtooth's peak.

A run drains a tier only once it finds it above ``high``, and only what its rules may take
(data old enough, within the run's caps and the time its windows leave).  Between runs new
data comes on top.  So a drained tier saws: it climbs to just above ``high``, a run takes
it back down towards ``low``, and it climbs again.  Its peak, not the watermark it is
drained to, is what purchasing must plan for.  This module is the one place that says so;
the simulator's purchasing desk asks it before it buys.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from capacity.model.policy.decide import budget
from capacity.model.policy.language import Policy
from capacity.model.policy.windows import OpenHours, run_spans

DAY_SECONDS = 86400.0


@dataclass(frozen=True)
class Drain:
    """How a policy's runs drain a tier: only above ``high`` (a fill), a run every
    ``every_days``, each taking at most ``per_run`` bytes (None: no limit)."""

    high: float
    every_days: float
    per_run: float | None

    @classmethod
    def of(cls, policy: Policy, hours: OpenHours, bandwidth: float | None,
           unit_bytes: float) -> Drain:
        """The drain of ``policy`` under the pacing its runs work to (``effective``), for
        units of ``unit_bytes`` (what ``caps.count`` counts)."""
        assert policy.trigger is not None, "only a triggered policy drains to a watermark"
        every = policy.schedule.every if policy.schedule else DAY_SECONDS
        limits = [policy.caps.bytes,
                  policy.caps.count * unit_bytes if policy.caps.count is not None else None,
                  _copy_budget_per_run(policy, hours, bandwidth)]
        found = [x for x in limits if x is not None]
        return cls(policy.trigger.high, every / DAY_SECONDS, min(found) if found else None)

    def sharing(self, taken_per_day: float) -> Drain:
        """The drain left when rules earlier in the policy take ``taken_per_day`` of each
        run's budget first (a run spends its caps rule by rule, in order)."""
        if self.per_run is None or not taken_per_day:
            return self
        return Drain(self.high, self.every_days,
                     max(0.0, self.per_run - taken_per_day * self.every_days))

    def combined(self, other: Drain) -> Drain:
        """Two policies draining one tier: the first to act does so at the lower ``high``,
        the more often of the two, and their runs' takes add."""
        per_run = (None if self.per_run is None or other.per_run is None
                   else self.per_run + other.per_run)
        return Drain(min(self.high, other.high), min(self.every_days, other.every_days),
                     per_run)


def _copy_budget_per_run(policy: Policy, hours: OpenHours,
                         bandwidth: float | None) -> float | None:
    """Bytes one run may copy on an ordinary day: the mean of what ``budget`` gives each of
    the day's runs in the time it may work (``run_spans``)."""
    day = dt.date(2001, 1, 1)  # any day: a schedule of whole days starts on some day
    while not (spans := run_spans(policy.schedule, hours, day)):
        day += dt.timedelta(days=1)
    budgets = [budget(bandwidth, seconds) for _, seconds in spans]
    if any(b is None for b in budgets):
        return None
    return sum(b for b in budgets if b is not None) / len(budgets)


def peak_held(drain: Drain, total: float, unmovable: float, arriving_per_day: float,
              used: float, projected: float, horizon_days: float) -> float:
    """The most a tier of ``total`` bytes, holding ``used`` now, holds around
    ``horizon_days`` from now.  ``projected`` is what its recent trend says it will hold;
    the trend of a drained tier is net of what runs took off, so the tier would hold at
    least ``used`` plus what arrives (``arriving_per_day``) if nothing drained it.

    - A run acts only above ``high``, and cannot take what its rules do not take yet
      (``unmovable``: data too young to move at the horizon, and what nothing moves), so a
      run leaves the higher of the two; what arrives until the next run comes on top.
    - Runs take at most ``per_run`` each, so the tier holds at least that gross projection
      less what all the runs until then could take.
    - And never more than the gross projection: draining never adds."""
    gross = max(projected, used + arriving_per_day * horizon_days)
    floor = max(unmovable, drain.high * total) + arriving_per_day * drain.every_days
    if drain.per_run is not None:
        floor = max(floor, gross - drain.per_run * horizon_days / drain.every_days)
    return min(gross, floor)
