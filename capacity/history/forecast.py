"""Forecast a resource's daily used bytes from its history, choosing the model by backtest.

Pure functions on a daily series: no database, no printing.  The models are statsmodels'
(imported here, so only the commands that forecast load it): a linear trend (OLS on the
day number), Holt's additive trend and the damped additive trend (``ETSModel``), a weekly
seasonal trend (``ETSModel``, additive season of 7 days) once the history holds
``SEASON_CYCLES`` weeks, and a yearly one (OLS on the day number and two Fourier pairs of
the year) once it holds two years.

**Gaps.** A day without a reading is a gap.  The linear and yearly models fit the days that
have readings only.  The exponential-smoothing models need a value each day, so they see
gaps filled by straight lines between the readings either side; no filled day is ever
scored: a backtest's errors, and the MASE scale, count only days with real readings.

**Backtest.** Rolling origin: at each origin the candidate is fitted to the days before it
and forecasts the next ``horizon`` days; its MASE at that origin is its mean absolute error
over the days of that window with readings, divided by the mean absolute one-day change of
the training days (pairs of consecutive days both read: the in-sample naive forecast's
error, Hyndman and Koehler 2006).  A candidate's MASE is the mean over the origins.  The
origins are the last days that leave ``horizon`` days after them, ``horizon`` days apart
(so the windows do not overlap), as many as ``origins`` asks and ``MIN_TRAIN`` lets.  A
candidate that cannot be fitted at every origin (the yearly one, before two years) is not
scored, so every MASE shown is over the same origins.
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

SEASON_CYCLES = 4
"""Weekly seasonality is tried once the training days hold this many weeks."""
MIN_TRAIN = 7 * SEASON_CYCLES
"""Fewest days before an origin (and readings among them): enough for every candidate but
the yearly one, so that they are scored on the same origins."""
YEAR = 365.25
ALPHA = 0.05
"""Intervals are 95%."""

Floats = npt.NDArray[np.float64]


class NotEnoughHistory(ValueError):
    """Too few days for the asked horizon and origins (the message says how many)."""


@dataclass(frozen=True)
class DailySeries:
    """One value a day from ``start`` (index i is ``start + i`` days); None is a gap."""

    start: date
    values: tuple[float | None, ...]

    @classmethod
    def from_days(cls, days: Sequence[tuple[date, float]]) -> DailySeries:
        """From (day, value) pairs in any order; days not given are gaps."""
        if not days:
            raise NotEnoughHistory("no readings")
        first = min(d for d, _ in days)
        last = max(d for d, _ in days)
        values: list[float | None] = [None] * ((last - first).days + 1)
        for d, v in days:
            values[(d - first).days] = float(v)
        return cls(first, tuple(values))

    @property
    def end(self) -> date:
        return self.start + timedelta(days=len(self.values) - 1)

    @property
    def readings(self) -> int:
        return sum(v is not None for v in self.values)

    def day(self, index: int) -> date:
        return self.start + timedelta(days=index)


@dataclass(frozen=True)
class Fit:
    """A model fitted to days ``0 .. n-1``: its forecast of days ``n .. n+steps-1``."""

    mean: Floats
    low: Floats
    high: Floats
    growth: float
    """Bytes a day: a linear model's slope; else the forecast's mean daily change over its
    whole weeks (from its last day back), the interval from 400 simulated paths."""
    growth_low: float
    growth_high: float


@dataclass(frozen=True)
class Candidate:
    name: str
    description: str
    min_days: int
    fit: Callable[[Floats, Floats, int], Fit]
    """(days with readings, their values, steps) -> Fit; days are indices from 0."""


@dataclass(frozen=True)
class Score:
    model: str
    mase: float | None
    """None: not scored (``why``)."""
    per_origin: tuple[float, ...]
    why: str = ""


@dataclass(frozen=True)
class Forecast:
    series: DailySeries
    horizon: int
    origins: tuple[date, ...]
    scores: tuple[Score, ...]
    chosen: str
    days: int
    """Days forecast past the last reading."""
    fit: Fit


# -- the models ---------------------------------------------------------------------------

def _ols(t: Floats, y: Floats, steps: int, *, yearly: bool) -> Fit:
    import statsmodels.api as sm

    def design(days: Floats) -> Floats:
        cols = [days]
        if yearly:
            for k in (1, 2):
                w = 2 * math.pi * k * days / YEAR
                cols += [np.sin(w), np.cos(w)]
        return np.asarray(sm.add_constant(np.column_stack(cols), has_constant="add"))

    result = sm.OLS(y, design(t)).fit()
    n = int(t[-1]) + 1
    ahead = np.arange(n, n + steps, dtype=float)
    frame = result.get_prediction(design(ahead)).summary_frame(alpha=ALPHA)
    low, high = result.conf_int(alpha=ALPHA)[1]
    return Fit(frame["mean"].to_numpy(), frame["obs_ci_lower"].to_numpy(),
               frame["obs_ci_upper"].to_numpy(), float(result.params[1]), float(low),
               float(high))


def _filled(t: Floats, y: Floats) -> Floats:
    """Every day from 0 to the last reading: gaps as straight lines between readings."""
    return np.interp(np.arange(int(t[-1]) + 1, dtype=float), t, y)


def _ets(t: Floats, y: Floats, steps: int, *, damped: bool, season: int | None) -> Fit:
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    full = _filled(t, y)
    # ETS on bytes (1e14) strains the optimiser: fit on a unit scale, answer in bytes
    offset, scale = float(full[0]), float(np.std(full)) or 1.0
    endog = pd.Series((full - offset) / scale)
    model = ETSModel(endog, error="add", trend="add", damped_trend=damped,
                     seasonal="add" if season else None, seasonal_periods=season)
    result = model.fit(disp=False)
    n = len(full)
    frame = result.get_prediction(start=n, end=n + steps - 1).summary_frame(alpha=ALPHA)
    mean = frame["mean"].to_numpy() * scale + offset
    paths = result.simulate(steps, anchor="end", repetitions=400,
                            rng=np.random.default_rng(0)).to_numpy() * scale + offset
    # growth over whole weeks of the forecast, so a weekly season does not bias it
    span = 7 * ((steps - 1) // 7)
    if span:
        growth = (float(mean[-1]) - float(mean[-1 - span])) / span
        growths = (paths[-1] - paths[-1 - span]) / span
    else:
        last = float(result.fittedvalues.iloc[-1]) * scale + offset
        growth = (float(mean[-1]) - last) / steps
        growths = (paths[-1] - last) / steps
    return Fit(mean, frame["pi_lower"].to_numpy() * scale + offset,
               frame["pi_upper"].to_numpy() * scale + offset, growth,
               float(np.quantile(growths, ALPHA / 2)), float(np.quantile(growths, 1 - ALPHA / 2)))


CANDIDATES: tuple[Candidate, ...] = (
    Candidate("linear", "linear trend (OLS on the day)", 2,
              lambda t, y, s: _ols(t, y, s, yearly=False)),
    Candidate("holt", "additive trend (ETS A,A,N)", 2,
              lambda t, y, s: _ets(t, y, s, damped=False, season=None)),
    Candidate("damped", "damped additive trend (ETS A,Ad,N)", 2,
              lambda t, y, s: _ets(t, y, s, damped=True, season=None)),
    Candidate("weekly", "additive trend and weekly season (ETS A,A,A m=7)",
              7 * SEASON_CYCLES, lambda t, y, s: _ets(t, y, s, damped=False, season=7)),
    Candidate("yearly", "linear trend and yearly season (OLS, two Fourier pairs)", 2 * 365,
              lambda t, y, s: _ols(t, y, s, yearly=True)),
)
"""In order of simplicity: a tie in MASE goes to the earlier."""


# -- the backtest -------------------------------------------------------------------------

def _observed(series: DailySeries, until: int) -> tuple[Floats, Floats]:
    """(day indices, values) of the readings before day ``until``."""
    pairs = [(i, v) for i, v in enumerate(series.values[:until]) if v is not None]
    return (np.array([i for i, _ in pairs], dtype=float),
            np.array([v for _, v in pairs], dtype=float))


def naive_scale(values: Sequence[float | None]) -> float:
    """Mean absolute change between consecutive days both read (the MASE denominator)."""
    steps = [abs(b - a) for a, b in itertools.pairwise(values)
             if a is not None and b is not None]
    return math.fsum(steps) / len(steps) if steps else 0.0


def origin_days(series: DailySeries, horizon: int, origins: int) -> list[int]:
    """The origins (day indices, oldest first): see the module's docstring."""
    n = len(series.values)
    found: list[int] = []
    o = n - horizon
    while len(found) < origins and o >= MIN_TRAIN:
        train = series.values[:o]
        window = series.values[o:o + horizon]
        if sum(v is not None for v in train) >= MIN_TRAIN and any(
                v is not None for v in window):
            found.append(o)
        o -= horizon
    return sorted(found)


def backtest(series: DailySeries, candidate: Candidate, origins: Sequence[int],
             horizon: int) -> Score:
    errors = []
    for o in origins:
        t, y = _observed(series, o)
        if int(t[-1]) + 1 - int(t[0]) < candidate.min_days:
            return Score(candidate.name, None, (), f"needs {candidate.min_days} days before"
                         f" each origin")
        scale = naive_scale(series.values[:o])
        if scale == 0:
            return Score(candidate.name, None, (), "the history does not change")
        steps = o + horizon - int(t[-1]) - 1
        fit = _quiet(functools.partial(candidate.fit, t, y, steps))
        ahead = fit.mean[len(fit.mean) - horizon:]
        actual = series.values[o:o + horizon]
        abs_errors = [abs(a - f) for a, f in zip(actual, ahead, strict=False) if a is not None]
        errors.append(math.fsum(abs_errors) / len(abs_errors) / scale)
    return Score(candidate.name, math.fsum(errors) / len(errors), tuple(errors))


def _quiet(fit: Callable[[], Fit]) -> Fit:
    """statsmodels warns of convergence on flat or short series; the backtest judges."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fit()


def forecast(series: DailySeries, *, horizon: int = 30, origins: int = 5,
             days: int = 90, candidates: Sequence[Candidate] = CANDIDATES) -> Forecast:
    """Backtest every candidate, choose the lowest MASE, refit it on the whole history and
    forecast ``days`` past its last day."""
    if horizon < 1 or origins < 1 or days < 1:
        raise ValueError("horizon, origins and days are at least 1")
    found = origin_days(series, horizon, origins)
    if not found:
        raise NotEnoughHistory(
            f"{series.readings} days of readings from {series.start} to {series.end}: a"
            f" backtest over {horizon} days needs at least {MIN_TRAIN + horizon} days,"
            f" {MIN_TRAIN} of them read before the last {horizon}")
    scores = tuple(backtest(series, c, found, horizon) for c in candidates)
    scored = [s for s in scores if s.mase is not None and math.isfinite(s.mase)]
    if not scored:
        raise NotEnoughHistory(f"no model could be scored: {scores[0].why}")
    best = min(scored, key=lambda s: s.mase or 0.0)  # min keeps the first of equals
    chosen = next(c for c in candidates if c.name == best.model)
    t, y = _observed(series, len(series.values))
    return Forecast(series, horizon, tuple(series.day(o) for o in found), scores, chosen.name,
                    days, _quiet(functools.partial(chosen.fit, t, y, days)))


def as_data(f: Forecast, every: int = 7) -> dict[str, Any]:
    """JSON-ready: integer bytes, ISO dates; the forecast every ``every`` days and on its
    last; usage never below zero."""
    steps = sorted({*range(every - 1, f.days, every), f.days - 1})
    descriptions = {c.name: c.description for c in CANDIDATES}
    return {
        "first_day": f.series.start.isoformat(),
        "last_day": f.series.end.isoformat(),
        "readings": f.series.readings,
        "missing_days": len(f.series.values) - f.series.readings,
        "horizon_days": f.horizon,
        "origins": [d.isoformat() for d in f.origins],
        "candidates": [{"model": s.model, "description": descriptions.get(s.model, s.model),
                        "mase": None if s.mase is None else round(s.mase, 6),
                        "mase_per_origin": [round(x, 6) for x in s.per_origin],
                        "why_not_scored": s.why or None} for s in f.scores],
        "chosen": f.chosen,
        "growth_bytes_per_day": round(f.fit.growth),
        "growth_interval_bytes_per_day": [round(f.fit.growth_low), round(f.fit.growth_high)],
        "forecast": [{"date": (f.series.end + timedelta(days=i + 1)).isoformat(),
                      "used_bytes": max(0, round(float(f.fit.mean[i]))),
                      "low_bytes": max(0, round(float(f.fit.low[i]))),
                      "high_bytes": max(0, round(float(f.fit.high[i])))} for i in steps],
    }
