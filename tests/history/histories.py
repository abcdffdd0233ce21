"""Usage histories from known processes, written with ``History.record`` as ``capacity
collect`` would write them: the truth the forecast and the calibration must find."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from capacity.history.store import History, Reading
from capacity.tiering.state import StateDir

TB = 10**12
GB = 10**9
END = dt.date(2026, 11, 30)


def process(days: int, value: Callable[[int], float], *, noise: float = 0.0, seed: int = 0,
            gap_every: int = 0, end: dt.date = END) -> list[tuple[dt.date, float]]:
    """``value(i)`` for day i of ``days`` ending on ``end``, plus seeded Gaussian noise of
    sd ``noise``; every ``gap_every``-th day left out (a collect that did not run)."""
    rng = np.random.default_rng(seed)
    start = end - dt.timedelta(days=days - 1)
    out = []
    for i in range(days):
        y = value(i) + (float(rng.normal(0, noise)) if noise else 0.0)
        if gap_every and i % gap_every == gap_every // 2:
            continue
        out.append((start + dt.timedelta(days=i), y))
    return out


def linear(level: float, per_day: float, days: int) -> Callable[[int], float]:
    """Ending at ``level`` on the last day, growing ``per_day``."""
    return lambda i: level - per_day * (days - 1 - i)


def damped(level: float, per_day: float, phi: float) -> Callable[[int], float]:
    """Growing ``per_day`` on day 0, each day's growth ``phi`` times the last."""
    return lambda i: level + per_day * phi * (1 - phi ** i) / (1 - phi)


def weekly(level: float, per_day: float, swing: float) -> Callable[[int], float]:
    """A trend with a weekly swing (weekend purges, Monday's backlog)."""
    week = (0.0, 0.6, 1.0, 0.8, 0.3, -1.0, -1.7)
    return lambda i: level + per_day * i + swing * week[i % 7]


def yearly(level: float, per_day: float, swing: float) -> Callable[[int], float]:
    return lambda i: level + per_day * i + swing * math.sin(2 * math.pi * i / 365.25)


def write(state: Path, resource: str, days: Iterable[tuple[dt.date, float]], *,
          capacity: int | None = None) -> Path:
    """The readings into the history of the state folder ``state``; its path."""
    path = StateDir(state).history
    with History(path) as history:
        history.record(Reading(resource, d, max(0, round(v)), capacity, "test",
                               f"{d.isoformat()}T23:00:00Z") for d, v in days)
    return path


EXAMPLE_RESOURCES = ("e1090-main/pacs-hot", "g900-main/pacs-warm", "hcp-main", "pacs-main")


def example_history(state: Path, days: int = 180, *, images: float = 1.1, app: float = 1.15,
                    stored: float = 1.09, resources: tuple[str, ...] = EXAMPLE_RESOURCES
                    ) -> Path:
    """What the bundled example's estate might really have held up to 2026-11-30: its own
    simulation with the PACS taking 10% more images a day than the inventory says (and the
    PACS application's VMs 15% more), 9% more of them already stored, with collection noise
    and a missed day now and then: the docs' worked example.  ``images``, ``app`` and
    ``stored`` set other truths (1.0 each: the inventory itself); only ``resources`` are
    written."""
    from capacity.bundled import EXAMPLE
    from capacity.load import load_inventory
    from capacity.sim import simulate

    inv = load_inventory(EXAMPLE)
    pacs = inv.workloads["pacs-images"]
    vms = inv.workloads["pacs-app"]
    truth = inv.model_copy(update={"workloads": {
        **inv.workloads,
        "pacs-images": pacs.model_copy(update={
            "stored": round(pacs.stored * stored),
            "drivers": [d.model_copy(update={"studies_per_day": d.studies_per_day * images})
                        for d in pacs.drivers]}),
        "pacs-app": vms.model_copy(update={"per_year": round(vms.per_year * app)})}})
    first = END - dt.timedelta(days=days - 1)
    played = simulate(truth, years=days / 365, start=first, procurement=False).resources
    path = StateDir(state).history
    for seed, ref in enumerate(EXAMPLE_RESOURCES):
        if ref not in resources:
            continue
        series = played[ref].used
        write(state, ref, process(days, lambda i, s=series: s[i], noise=0.0005 * series[-1],
                                  seed=seed, gap_every=13))
    return path
