"""Simulation results built by hand, so every expected value in the tests can be worked out
from the numbers written here rather than from the code under test."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from capacity.sim.results import (
    ComputeSeries,
    Event,
    Order,
    ResourceSeries,
    Runway,
    SimResult,
    SiteUse,
)

TB = 10**12
GiB = 2**30
START = dt.date(2026, 1, 1)


def _series(ref: str, kind: str, site: str, days: int, base_tb: int, step: int) -> ResourceSeries:
    """Used grows by ``step`` GB a day from ``base_tb``; capacity doubles on day 200."""
    used = [base_tb * TB + i * step * 10**9 for i in range(days)]
    capacity = [2 * base_tb * TB if i < 200 else 4 * base_tb * TB for i in range(days)]
    return ResourceSeries(ref, kind, site, used, capacity, warning=0.7, critical=0.85)


def make_result(days: int = 400, names: tuple[str, ...] = ("A/pool1", "B/objects"),
                seed: int = 7) -> SimResult:
    """``days`` days from 2026-01-01; resources alternate between sites A and B."""
    resources = {name: _series(name, "pool" if i % 2 == 0 else "object_store",
                               "A" if i % 2 == 0 else "B", days, 100 + 10 * i, 300 + i)
                 for i, name in enumerate(names)}
    compute = {"hci1": ComputeSeries(
        "hci1", "A", vcpu_demand=[100 + i // 50 for i in range(days)], vcpu=[160] * days,
        ram_demand=[(512 + i) * GiB for i in range(days)], ram=[1024 * GiB] * days,
        gpu_demand=[1 if i < 300 else 3 for i in range(days)], gpus=[2] * days)}
    first, second = names[0], names[1 % len(names)]
    orders = [
        # listed out of date order on purpose: outputs must sort them
        Order("grow-objects", second, "node", 2, dt.date(2027, 1, 10), dt.date(2027, 3, 15),
              80_000.25, 150 * TB, 2, 450.0),
        Order("expand-pool", first, "drive-pack", 16, dt.date(2026, 5, 1), dt.date(2026, 7, 20),
              120_000.5, 100 * TB, 4, 800.0),
    ]
    events = [
        Event(dt.date(2026, 7, 20), "install", first, "16 x drive-pack in service",
              {"capacity_bytes": 100 * TB, "order": {"placed": dt.date(2026, 5, 1)}}),
        Event(dt.date(2026, 5, 1), "order", first, "ordered 16 x drive-pack", {"units": 16}),
        Event(dt.date(2026, 3, 2), "threshold", second, "warning reached", {"ratio": 0.7}),
        Event(dt.date(2026, 9, 9), "threshold", first, 'critical, "quoted", a,b', {}),
    ]
    runways = []
    for i, name in enumerate(names):
        # the first resource reaches warning and critical, the others only warning; none full
        for level, ratio, day in (("warning", 0.7, 60 + i), ("critical", 0.85, 150 if i == 0
                                                              else None), ("full", 1.0, None)):
            date = START + dt.timedelta(days=day) if day is not None else None
            runways.append(Runway(name, level, ratio, date, day))  # type: ignore[arg-type]
    # as the simulator does: compute runs out at 'full', reported as CLUSTER:vcpu / :ram
    runways += [Runway("hci1:vcpu", "full", 1.0, None, None),
                Runway("hci1:ram", "full", 1.0, None, None)]
    sites_start = {"A": SiteUse("A", 40, 84, 9_000.0, 20_000.0),
                   "B": SiteUse("B", 20, 42, 7_000.0, 8_000.0)}
    sites_end = {"A": SiteUse("A", 44, 84, 9_800.0, 20_000.0),
                 "B": SiteUse("B", 22, 42, 8_450.0, 8_000.0)}
    return SimResult(inventory="test-estate", scenarios=["growth-high", "tiering"], seed=seed,
                     start=START, days=days, resources=resources, compute=compute,
                     orders=orders, events=events, runways=runways, sites_start=sites_start,
                     sites_end=sites_end, currency="EUR")


@pytest.fixture
def result() -> SimResult:
    return make_result()


@pytest.fixture
def result_factory() -> Callable[..., SimResult]:
    return make_result
