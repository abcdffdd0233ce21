"""The twin's machinery: the shared daily clock and the recorder's level bytes."""

from __future__ import annotations

import math
from collections.abc import Generator

import simpy
from hypothesis import given
from hypothesis import strategies as st

from capacity.sim.recorder import level_bytes
from capacity.sim.twin import Clock

ratios = st.floats(min_value=0.0, max_value=1.0)


@given(ratios, st.integers(min_value=0, max_value=10**18))
def test_level_bytes_are_the_least_whole_bytes_used_at_the_level(ratio: float,
                                                                capacity: int) -> None:
    """At least one byte, at ratio x capacity or more, and one byte fewer is not."""
    bound = level_bytes(ratio, capacity)
    assert bound >= 1
    assert bound >= ratio * capacity
    assert bound == 1 or bound - 1 < ratio * capacity


def test_level_bytes() -> None:
    assert level_bytes(0.88, 100) == 88  # 88 of 100 bytes is 88% full
    assert level_bytes(0.88, 101) == 89  # 88.88 bytes: 89 reach it
    assert level_bytes(0.8, 0) == 1  # without capacity, any data is at every level
    assert level_bytes(0.0, 5) == 1  # and an empty store is at none


def test_clock_resumes_its_sharers_daily_in_the_order_they_asked() -> None:
    env = simpy.Environment()
    seen: list[tuple[float, str, int]] = []
    clocks: list[Clock] = []

    def actor(name: str, days: int) -> Generator[simpy.Event, int, None]:
        yield env.timeout(0.5)
        if not clocks:
            clocks.append(Clock(env))
        clock = clocks[0]
        for _ in range(days):
            day = yield clock.tick()
            seen.append((env.now, name, day))

    for name in "cab":
        env.process(actor(name, 3))
    env.run(until=10)
    assert seen == [(d + 0.5, n, d) for d in (1, 2, 3) for n in "cab"]


def test_clock_stops_once_nobody_asks() -> None:
    env = simpy.Environment()
    days: list[int] = []

    def actor(clock: Clock, last: int) -> Generator[simpy.Event, int, None]:
        while True:
            day = yield clock.tick()
            days.append(day)
            if day == last:
                return

    clock = Clock(env)
    env.process(actor(clock, 3))
    env.process(actor(clock, 5))
    while env.peek() < 100:
        env.step()
    assert days == [1, 1, 2, 2, 3, 3, 4, 5]
    assert env.peek() == math.inf  # nothing is left to happen: no tick was set after day 5
