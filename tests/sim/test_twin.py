"""The twin's machinery: the shared daily clock and the recorder's exact level bounds."""

from __future__ import annotations

import math

import simpy
from hypothesis import example, given
from hypothesis import strategies as st

from capacity.sim.recorder import LEAST_BYTES, least_used_at
from capacity.sim.twin import Clock

ratios = st.floats(min_value=0.0, max_value=1.0)
capacities = st.floats(min_value=1.0, max_value=1e18)


@given(ratios, capacities)
@example(5e-324, 1e18)  # a subnormal quotient: many floats divide to it (a linear walk hung)
def test_level_bound_is_the_least_bytes_used_at_the_ratio(ratio: float, capacity: float) -> None:
    """The bound is at the level by the fill ratio as floating point divides it, and the
    float just below it is not (unless it is no data at all)."""
    bound = least_used_at(ratio, capacity)
    assert bound > 0
    assert bound / capacity >= ratio
    below = math.nextafter(bound, 0)
    assert below <= 0 or below / capacity < ratio


@given(ratios, capacities, st.floats(min_value=0.0, max_value=2e18))
def test_level_by_bound_agrees_with_the_fill_ratio(ratio: float, capacity: float,
                                                   used: float) -> None:
    at_level = used > 0 and used / capacity >= ratio
    assert at_level == (used >= least_used_at(ratio, capacity))


def test_without_capacity_any_data_is_at_every_level() -> None:
    assert least_used_at(0.8, 0.0) == LEAST_BYTES


def test_clock_resumes_its_sharers_daily_in_order_and_stops_after_them() -> None:
    env = simpy.Environment()
    seen: list[tuple[float, str]] = []
    clocks: list[Clock] = []

    def actor(name: str, days: int):
        yield env.timeout(0.5)
        if not clocks:
            clocks.append(Clock(env))
        clock = clocks[0]
        for _ in range(days):
            day = yield clock
            seen.append((env.now, name, day))

    env.process(actor("a", 3))
    env.process(actor("b", 5))
    env.run(until=100)
    assert seen == [(d + 0.5, n, d) for d in (1, 2, 3) for n in "ab"] + \
        [(d + 0.5, "b", d) for d in (4, 5)]
    # Day 6 fired with nobody waiting, and the clock set itself no further (while it ticks,
    # it is pending again as soon as it fires).
    assert clocks[0].processed
