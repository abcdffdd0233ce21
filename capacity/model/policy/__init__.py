"""Tier and lifecycle policies: the language (``language``), and the rules of a run that the
planner and the simulator both apply (``decide``, ``windows``), and what they leave on a
tier looking ahead (``forecast``)."""

from capacity.model.policy.decide import (
    Candidate,
    Decision,
    RunDecision,
    TierState,
    budget,
    decide,
    may_act,
    paced,
)
from capacity.model.policy.forecast import Drain, peak_held
from capacity.model.policy.language import (
    BRAKE_MIN_TRIES,
    Caps,
    ErrorBrake,
    Grouping,
    Hold,
    LockTerms,
    ObjectLock,
    Pacing,
    Policy,
    Rule,
    Schedule,
    Selection,
    Watermarks,
    Window,
    WindowText,
)
from capacity.model.policy.windows import (
    OpenHours,
    daily_run_spans,
    effective,
    hours_per_day,
    run_spans,
    run_times,
)

__all__ = [
    "BRAKE_MIN_TRIES",
    "Candidate",
    "Caps",
    "Decision",
    "Drain",
    "ErrorBrake",
    "Grouping",
    "Hold",
    "LockTerms",
    "ObjectLock",
    "OpenHours",
    "Pacing",
    "Policy",
    "Rule",
    "RunDecision",
    "Schedule",
    "Selection",
    "TierState",
    "Watermarks",
    "Window",
    "WindowText",
    "budget",
    "daily_run_spans",
    "decide",
    "effective",
    "hours_per_day",
    "may_act",
    "paced",
    "peak_held",
    "run_spans",
    "run_times",
]
