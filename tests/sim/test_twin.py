"""The twin's machinery: the shared daily clock and the recorder's exact level bounds."""

from __future__ import annotations

import math
from collections.abc import Generator

import simpy
from hypothesis import example, given
from hypothesis import strategies as st

from capacity.sim import _waiting_on_ticks
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


def test_an_actor_that_yields_its_clock_waits_on_the_clock_s_ticks() -> None:
    """The tier policy's actor yields its clock itself for now (goes with the bridge)."""
    env = simpy.Environment()
    days: list[int] = []

    def actor(clock: Clock) -> Generator[simpy.Event | Clock, int, None]:
        for _ in range(3):
            days.append((yield clock))

    def at_once() -> Generator[simpy.Event | Clock, int, None]:
        return
        yield  # a generator that ends before it yields (a policy with nothing to move)

    env.process(_waiting_on_ticks(actor(Clock(env))))
    env.process(_waiting_on_ticks(at_once()))
    env.run(until=10)
    assert days == [1, 2, 3]
