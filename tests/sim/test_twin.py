"""The twin's machinery: the shared daily clock and the recorder's level bytes."""

from __future__ import annotations

import math
from collections.abc import Generator

import simpy
from hypothesis import given
from hypothesis import strategies as st

from capacity.sim.recorder import level_bytes
from capacity.sim.twin import Clock, Cohorts

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


# A workload's cohorts against the plainest model of them: a list of (birth, bytes) pairs,
# kept in birth order, summed afresh for every question.
operations = st.lists(st.one_of(
    st.tuples(st.just("add"), st.integers(-60, 60), st.integers(1, 10**15)),
    st.tuples(st.just("older"), st.integers(-60, 60), st.integers(0, 3 * 10**15)),
    st.tuples(st.just("since"), st.integers(-60, 60), st.just(0))), max_size=60)


@given(operations, st.lists(st.tuples(st.integers(-70, 70), st.integers(-70, 70)),
                            min_size=1, max_size=8))
def test_cohorts_sum_every_window_as_a_plain_list_does(ops: list[tuple[str, int, int]],
                                                      windows: list[tuple[int, int]]) -> None:
    cohorts, plain = Cohorts(), []
    for op, day, nbytes in ops:
        if op == "add":
            cohorts.add(day, nbytes)
            same = [i for i, (b, _) in enumerate(plain) if b == day]
            if plain and plain[-1][0] == day:
                plain[-1] = (day, plain[-1][1] + nbytes)
            else:  # after any cohort born the same day
                at = max([i + 1 for i, (b, _) in enumerate(plain) if b <= day] or [0])
                assert not same or at == same[-1] + 1
                plain.insert(at, (day, nbytes))
        elif op == "older":
            taken, left = [], nbytes
            while plain and left > 0 and plain[0][0] <= day:
                birth, size = plain[0]
                part = min(size, left)
                taken.append((birth, part))
                left -= part
                plain[0] = (birth, size - part)
                if plain[0][1] == 0:
                    plain.pop(0)
            assert cohorts.take_older(day, nbytes) == taken
        else:
            taken = [(b, n) for b, n in plain if b >= day]
            plain = [(b, n) for b, n in plain if b < day]
            assert cohorts.take_since(day) == taken
        assert list(zip(cohorts.births, cohorts.sizes, strict=True)) == plain
        assert cohorts.total() == sum(n for _, n in plain)
        for after, until in windows:
            assert cohorts.born_between(after, until) == sum(
                n for b, n in plain if after < b <= until)
