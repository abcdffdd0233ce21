"""The forecast against known processes: the chosen model finds the trend that made the
history, and the backtest's MASE is the textbook one, computed here independently."""

from __future__ import annotations

import math

import numpy as np
import pytest

from capacity.history.forecast import (
    CANDIDATES,
    DailySeries,
    NotEnoughHistory,
    backtest,
    forecast,
    origin_days,
)

from .histories import TB, damped, linear, process, weekly


def test_a_linear_trend_with_noise_is_recovered_within_the_interval() -> None:
    days = process(240, linear(300 * TB, 0.6 * TB, 240), noise=1.5 * TB, seed=11,
                   gap_every=17)
    f = forecast(DailySeries.from_days(days))
    assert f.chosen in {"linear", "holt"}
    assert f.fit.growth_low <= 0.6 * TB <= f.fit.growth_high
    assert f.fit.growth_high - f.fit.growth_low < 0.1 * TB
    assert len(f.origins) == 5 and f.horizon == 30
    assert f.series.readings == len(days) < len(f.series.values)  # the gaps are gaps


def test_a_damped_trend_is_told_from_a_straight_line() -> None:
    """Growth dying away (a tier filling up to where its policy holds it): a straight line
    overshoots, and the backtest says so."""
    days = process(300, damped(80 * TB, 1.0 * TB, 0.98), noise=0.1 * TB, seed=5)
    f = forecast(DailySeries.from_days(days))
    scores = {s.model: s.mase for s in f.scores}
    assert scores["damped"] is not None and scores["linear"] is not None
    assert scores["damped"] < scores["linear"]
    assert f.chosen in {"damped", "holt"}
    truth = 1.0 * TB * 0.98 ** 300  # the process's growth now: about 2 GB a day
    assert f.fit.growth_low <= truth <= f.fit.growth_high
    assert abs(f.fit.growth) < 0.05 * TB


def test_a_weekly_pattern_is_found() -> None:
    days = process(140, weekly(50 * TB, 0.3 * TB, 2 * TB), noise=0.1 * TB, seed=2)
    f = forecast(DailySeries.from_days(days))
    assert f.chosen == "weekly"
    scores = {s.model: s.mase for s in f.scores}
    assert scores["weekly"] < 0.5 * min(scores["linear"], scores["holt"])  # type: ignore[operator]
    assert f.fit.growth_low <= 0.3 * TB <= f.fit.growth_high


def test_a_seasonal_model_waits_for_enough_history() -> None:
    days = process(60, linear(10 * TB, 0.1 * TB, 60), noise=0.05 * TB, seed=1)
    scores = {s.model: s for s in forecast(DailySeries.from_days(days), horizon=10).scores}
    assert scores["yearly"].mase is None and "730 days" in scores["yearly"].why
    assert scores["weekly"].mase is not None


def _mase_by_the_definition(values: list[float | None], origins: list[int],
                            horizon: int) -> float:
    """Hyndman and Koehler's MASE per origin, a straight line fitted by least squares
    (numpy.polyfit) to the days read before it, averaged over the origins."""
    per_origin = []
    for o in origins:
        t = [i for i in range(o) if values[i] is not None]
        slope, intercept = np.polyfit(t, [values[i] for i in t], 1)
        naive = [abs(values[i + 1] - values[i]) for i in range(o - 1)  # type: ignore[operator]
                 if values[i] is not None and values[i + 1] is not None]
        errors = [abs(values[d] - (intercept + slope * d))  # type: ignore[operator]
                  for d in range(o, o + horizon) if values[d] is not None]
        per_origin.append((sum(errors) / len(errors)) / (sum(naive) / len(naive)))
    return sum(per_origin) / len(per_origin)


@pytest.mark.parametrize("seed", [3, 4])
def test_the_backtest_mase_is_the_definition(seed: int) -> None:
    days = process(150, linear(40 * TB, 0.2 * TB, 150), noise=0.4 * TB, seed=seed,
                   gap_every=9)
    series = DailySeries.from_days(days)
    origins = origin_days(series, 20, 4)
    assert origins == [150 - 20 * k for k in (4, 3, 2, 1)]
    linear_model = next(c for c in CANDIDATES if c.name == "linear")
    score = backtest(series, linear_model, origins, 20)
    assert score.mase == pytest.approx(_mase_by_the_definition(list(series.values), origins,
                                                               20), rel=1e-9)
    # and the forecast shows that same figure for it
    shown = next(s for s in forecast(series, horizon=20, origins=4).scores
                 if s.model == "linear")
    assert shown.mase == score.mase


def test_too_short_a_history_says_how_much_it_needs() -> None:
    days = process(20, linear(1 * TB, 0.01 * TB, 20))
    with pytest.raises(NotEnoughHistory, match="needs at least 58 days"):
        forecast(DailySeries.from_days(days))


def test_a_flat_history_is_not_scored_by_mase() -> None:
    days = process(80, lambda i: 5.0 * TB)
    with pytest.raises(NotEnoughHistory, match="does not change"):
        forecast(DailySeries.from_days(days))
    assert math.isclose(5.0 * TB, 5.0 * TB)
