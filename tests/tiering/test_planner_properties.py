"""The planner against a plain model of one triggered, capped move rule, over many random
study trees: the expected units are worked out here from the files alone."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from capacity.model import Host, Policy
from capacity.tiering.planner import plan_policy
from capacity.tiering.records import FileRecord, TierUsage

NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
DAY = 86400.0
TOTAL = 10_000
HOST = Host.model_validate({"address": "h", "tiers": {"hot": "/hot", "warm": "/warm"}})

study = st.lists(st.tuples(st.integers(0, 900), st.integers(1, 400)), min_size=1, max_size=3)
"""A study's files as (age in days, size)."""


def expected(studies: dict[str, list[tuple[int, int]]], used: int, high: float, low: float,
             cap_bytes: int | None, cap_count: int | None) -> list[str]:
    """Oldest study first (its age is its newest file's), while the tier is above low and
    the caps allow; nothing unless the tier is above high."""
    if used / TOTAL <= high:
        return []
    ages = {name: min(age for age, _ in files) for name, files in studies.items()}
    sizes = {name: sum(size for _, size in files) for name, files in studies.items()}
    eligible = sorted((n for n in studies if ages[n] >= 180), key=lambda n: (-ages[n], n))
    chosen: list[str] = []
    for name in eligible:
        if used / TOTAL <= low:
            break
        if cap_count is not None and len(chosen) >= cap_count:
            break
        if cap_bytes is not None and sum(sizes[c] for c in chosen) + sizes[name] > cap_bytes:
            break
        chosen.append(name)
        used -= sizes[name]
    return chosen


@settings(max_examples=300, deadline=None)
@given(studies=st.dictionaries(st.from_regex(r"S[0-9]{1,3}", fullmatch=True), study,
                               min_size=1, max_size=25),
       used=st.integers(0, TOTAL), high=st.integers(1, 100), low_gap=st.integers(0, 30),
       cap_bytes=st.none() | st.integers(0, 3000), cap_count=st.none() | st.integers(1, 10))
def test_planner_matches_the_model(studies: dict[str, list[tuple[int, int]]], used: int,
                                   high: int, low_gap: int, cap_bytes: int | None,
                                   cap_count: int | None) -> None:
    low = max(1, high - low_gap)
    policy = Policy.model_validate({
        "hosts": ["h"], "unit": {"depth": 2}, "order": "oldest",
        "rules": [{"name": "r", "from": "hot", "to": "warm", "select": {"older_than": "180d"}}],
        "trigger": {"high": f"{high}%", "low": f"{low}%"},
        "caps": {"bytes": cap_bytes, "count": cap_count}})
    records = [FileRecord("h", "hot", f"2025/{name}/f{i}", size, NOW.timestamp() - age * DAY,
                          NOW.timestamp() - age * DAY, i, "f")
               for name, files in studies.items() for i, (age, size) in enumerate(files)]
    usage = {"hot": TierUsage("h", "hot", "/hot", TOTAL, used)}
    planned, skipped = plan_policy("p", policy, "h", HOST, {"hot": records}, usage, NOW)

    want = expected(studies, used, high / 100, low / 100, cap_bytes, cap_count)
    assert [u.unit for u in planned] == [f"2025/{n}" for n in want]
    for unit in planned:  # whole studies, every file of them, nothing else
        name = unit.unit.split("/")[1]
        assert sorted((f.path, f.size) for f in unit.files) == sorted(
            (f"2025/{name}/f{i}", size) for i, (_, size) in enumerate(studies[name]))
    matched = {f"2025/{n}" for n, files in studies.items() if min(a for a, _ in files) >= 180}
    # Every study the rule matched is either planned or skipped with a reason, never both.
    assert {u.unit for u in planned} | {s.unit for s in skipped} == matched
    assert not {u.unit for u in planned} & {s.unit for s in skipped}
    assert all(s.reason for s in skipped)
