"""Tier and lifecycle policies: the language (``language``), and the rules of a run that the
planner and the simulator both apply (``decide``, ``windows``)."""

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
from capacity.model.policy.language import (
    BRAKE_MIN_TRIES,
    Caps,
    ErrorBrake,
    Grouping,
    Hold,
    Pacing,
    Policy,
    Rule,
    Schedule,
    Selection,
    Watermarks,
    Window,
    WindowText,
)
from capacity.model.policy.windows import OpenHours, effective, hours_per_day, run_times

__all__ = [
    "BRAKE_MIN_TRIES",
    "Candidate",
    "Caps",
    "Decision",
    "ErrorBrake",
    "Grouping",
    "Hold",
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
    "decide",
    "effective",
    "hours_per_day",
    "may_act",
    "paced",
    "run_times",
]
