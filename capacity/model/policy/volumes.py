"""Policies on arrays: which volumes a run gives a tiering policy, and where an HDT pool
then keeps their pages.  The planner hands :func:`candidates` the volumes as the array
reports them; the simulator, as its own run left them; both decide with the same rules
(:func:`capacity.model.policy.decide`).

Tiering policies, as Hitachi documents them ("Tiering policy levels", SVOS 8.1 Volume
Management, Tiered Storage): All(0) uses every tier; Level1 the top tier, its overflow going
down; Level3 the middle tier, its overflow going to the top; Level5 the bottom tier, its
overflow going up; Level2 tiers 1 and 2, Level4 tiers 2 and 3, each once the levels on
single tiers are placed.  In a two-tier pool Levels 2-4 are All and Level5 is tier 2; in a
one-tier pool every level is All.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from capacity.model.estate import TierLevel
from capacity.model.policy.decide import Candidate
from capacity.model.policy.language import Policy

_THREE_TIERS: dict[TierLevel, tuple[int, ...]] = {
    1: (0, 1, 2), 3: (1, 0, 2), 5: (2, 1, 0), 2: (0, 1, 2), 4: (1, 2, 0), "all": (0, 1, 2)}
"""Level -> the order in which its pages take the tiers of a three-tier pool, overflow
included."""
_TWO_TIERS: dict[TierLevel, tuple[int, ...]] = {1: (0, 1), 5: (1, 0)}
PLACEMENT_ORDER: tuple[TierLevel, ...] = (1, 3, 5, 2, 4, "all")
"""Levels on one tier are placed first, then those over two, then All."""


def tier_order(level: TierLevel, tiers: int) -> tuple[int, ...]:
    """The tiers (0: the top) that pages of ``level`` take, first choice first."""
    if tiers == 3:
        return _THREE_TIERS[level]
    if tiers == 2:
        return _TWO_TIERS.get(level, (0, 1))
    return tuple(range(tiers))


def place(capacities: Sequence[float], loads: Sequence[tuple[TierLevel, float]]
          ) -> list[list[float]]:
    """Bytes of each load on each tier (top first) of a pool whose tiers offer
    ``capacities`` when its volumes hold ``loads`` (level, bytes): each level in
    :data:`PLACEMENT_ORDER` fills its tiers in its order, and what finds no room (a pool
    over full) stays on its first tier; loads of one level share its tiers pro rata (the
    array ranks pages by their heat, which a plan does not know)."""
    per_level: dict[TierLevel, float] = {}
    for level, nbytes in loads:
        per_level[level] = per_level.get(level, 0.0) + max(0.0, nbytes)
    used = [0.0] * len(capacities)
    level_used: dict[TierLevel, list[float]] = {}
    for level in PLACEMENT_ORDER:
        left = per_level.get(level, 0.0)
        mine = level_used[level] = [0.0] * len(capacities)
        order = tier_order(level, len(capacities))
        for tier in order:
            took = min(max(0.0, capacities[tier] - used[tier]), left)
            used[tier] += took
            mine[tier] += took
            left -= took
        if left > 0 and order:
            used[order[0]] += left
            mine[order[0]] += left
    return [[part * max(0.0, nbytes) / per_level[level] if per_level[level] else 0.0
             for part in level_used[level]] for level, nbytes in loads]


def tier_totals(placed: Sequence[Sequence[float]], tiers: int) -> list[float]:
    """Bytes on each tier, from :func:`place`."""
    return [sum(load[i] for load in placed) for i in range(tiers)]


@dataclass(frozen=True)
class VolumeState:
    """A volume as a run finds it."""

    label: str
    used: float
    last_write: dt.date | None
    """None: still written (its age is 0)."""
    tier_level: TierLevel | int
    """A custom policy (6-31) as its number: no rule's level."""
    blocked: str | None = None
    """Why it cannot be set (the array reports it elsewhere, not on HDT)."""


def age_days(volume: VolumeState, today: dt.date) -> float:
    if volume.last_write is None:
        return 0.0
    return float(max(0, (today - volume.last_write).days))


def candidates(policy: Policy, pool: str, volumes: Iterable[VolumeState],
               today: dt.date) -> list[Candidate]:
    """The volumes of ``pool`` a run of ``policy`` may set: those whose rule (the first
    whose selection matches) gives another tiering policy than they have.  A volume already
    at its rule's level is done, not a candidate."""
    found = []
    for v in volumes:
        age = age_days(v, today)
        rule = policy.first_rule(pool, v.label, v.used, age)
        if rule is None or (rule.tier_level == v.tier_level and v.blocked is None):
            continue
        found.append(Candidate(pool, v.label, v.used, age, blocked=v.blocked, ref=v))
    return found


def relocations(policy: Policy) -> Mapping[str, str]:
    """Pool -> start or stop: what the policy's relocate rules do each run (the last rule
    for a pool wins, as it runs last)."""
    return {r.source: r.relocation for r in policy.rules
            if r.action == "relocate" and r.relocation is not None}


def level_text(level: TierLevel | int) -> str:
    """All(0) or Level5(5), as Hitachi's documents write them (custom ones too)."""
    return "All(0)" if level in ("all", 0) else f"Level{level}({level})"


def api_level(level: TierLevel) -> int:
    """The ``tierLevel`` the REST API takes: 0 for All."""
    return 0 if level == "all" else level


def parse_level(text: str) -> TierLevel:
    """The plan's and the API's text of a level ('all', '0'-'5') as a level."""
    if text in ("all", "0"):
        return "all"
    number = int(text)
    if not 1 <= number <= 5:
        raise ValueError(f"tiering policy {text!r} is not All or Level1-5")
    return number  # type: ignore[return-value]
