"""The charts, one by one: what they leave out, where their axes run, what they label."""

from __future__ import annotations

import dataclasses
import datetime as dt
import warnings

import pytest
from matplotlib.dates import num2date
from matplotlib.figure import Figure

from capacity.report.chart_base import ZERO_LIFT, date_axis, date_locator, value_axis
from capacity.report.charts import compute_chart, resource_chart, site_chart
from capacity.report.compare_charts import compare_chart, compare_compute_chart
from capacity.report.html import render_compare, render_report
from capacity.sim.results import ResourceSeries, SiteUse, Watermarks

from .conftest import START, make_result


def _ticks(days: int, maxticks: int) -> list[dt.date]:
    """The major ticks a run of ``days`` gets, inside the axis."""
    ax = Figure().subplots()
    date_axis(ax, START, START + dt.timedelta(days=days - 1), maxticks)
    low, high = ax.get_xlim()
    return [num2date(t).date() for t in ax.xaxis.get_major_locator()() if low <= t <= high]


def test_date_ticks_are_whole_years_or_months() -> None:
    # 2026-01-01 + 5 years: every year fits in ten ticks, every other year in four
    assert _ticks(1826, 10) == [dt.date(y, 1, 1) for y in range(2026, 2032)]
    assert _ticks(1826, 4) == [dt.date(2026, 1, 1), dt.date(2028, 1, 1), dt.date(2030, 1, 1)]
    # one year in four ticks: every six months (the next new year falls in the room after
    # the last day)
    assert _ticks(365, 4) == [dt.date(2026, 1, 1), dt.date(2026, 7, 1), dt.date(2027, 1, 1)]
    assert _ticks(1, 4) == [START, START + dt.timedelta(days=1)]


@pytest.mark.parametrize("days", [1, 30, 365, 1095, 1461, 1826, 7305])
def test_no_run_length_makes_a_chart_warn(days: int) -> None:
    """AutoDateLocator warned on four- and five-year runs in the narrow compute panels."""
    result = make_result(days=days)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        render_report(result)
        render_compare({"baseline": result, "other": make_result(days=days, seed=3)})
    assert date_locator(days, 4) is not None


def test_the_axis_shows_a_line_at_zero_and_the_top() -> None:
    ax = Figure().subplots()
    assert value_axis(ax, 100.0, "TB") == pytest.approx(108.0)
    low, high = ax.get_ylim()
    assert low == pytest.approx(-ZERO_LIFT * 108) and high == pytest.approx(108)
    assert min(ax.get_yticks()) == 0  # no tick under zero
    assert ax.get_ylabel() == "TB"


def test_the_last_day_has_room_on_the_right() -> None:
    ax = Figure().subplots()
    end = START + dt.timedelta(days=99)
    date_axis(ax, START, end)
    assert num2date(ax.get_xlim()[1]).date() > end + dt.timedelta(days=1)


def test_nothing_to_draw_gives_no_chart() -> None:
    empty = ResourceSeries("x/p", "pool", "A", [0] * 10, [0] * 10, 0.7, 0.85)
    assert resource_chart(empty, START, []) is None
    assert site_chart("S", SiteUse("S", 0, 0, 0.0, 0.0), SiteUse("S", 0, 0, 0.0, 0.0)) is None
    # a budget alone is something to hold equipment against
    assert site_chart("S", None, SiteUse("S", 0, 42, 0.0, 0.0)) is not None
    result = make_result()
    idle = dataclasses.replace(result.compute["hci1"], vcpu_demand=[0] * 400, vcpu=[0] * 400,
                               ram_demand=[0] * 400, ram=[0] * 400, gpu_demand=[0] * 400,
                               gpus=[0] * 400)
    assert compute_chart(idle, START) is None


def test_site_bars_say_their_values() -> None:
    svg = site_chart("B", SiteUse("B", 0, 42, 0.0, 5000.0), SiteUse("B", 0, 42, 0.0, 5000.0))
    assert svg is not None
    for text in (">0 U<", ">42 U<", ">0.0 kW<", ">5.0 kW<"):
        assert text in svg, text


def test_watermarks_are_drawn_where_a_tier_policy_drains() -> None:
    result = make_result()
    plain = result.resources["A/pool1"]
    governed = dataclasses.replace(plain, watermarks=(Watermarks("life", 0.85, 0.75,
                                                                 "A/pool1"),))
    mirror = dataclasses.replace(plain, ref="C/pool1", watermarks=(Watermarks(
        "life", 0.85, 0.75, "A/pool1"),))
    assert "tier low" not in (resource_chart(plain, START, []) or "")
    svg = resource_chart(governed, START, []) or ""
    assert ">tier high 85%<" in svg and ">tier low 75%<" in svg
    assert "tier policy life" in svg
    assert "mirrors A/pool1" in (resource_chart(mirror, START, []) or "")


def test_compute_chart_has_units_thresholds_and_orders() -> None:
    result = make_result()
    # RAM up to 1024 GiB = 1 TiB: the panel is in TiB
    svg = compute_chart(result.compute["hci1"], START, result.orders,
                        [("critical", 0.85), ("warning", 0.7)]) or ""
    for text in (">vCPU<", ">RAM (TiB)<", ">GPUs<", ">critical 85%<", ">warning 70%<",
                 ">usable<", ">demand<"):
        assert text in svg, text


def test_compare_names_a_run_that_repeats_another() -> None:
    same = {"baseline": make_result(), "copy": make_result(), "other": make_result(days=300)}
    svg = compare_chart("A/pool1", same, ["baseline", "copy", "other"]) or ""
    assert "(same as baseline)" in svg
    assert svg.count("(same as") == 1  # 'other' is a run of its own
    svg = compare_compute_chart("hci1", same, ["baseline", "copy", "other"]) or ""
    assert "(same as baseline)" in svg and ">order<" in svg


def test_compare_leaves_out_what_no_run_has() -> None:
    result = make_result()
    zero = ResourceSeries("Z/p", "pool", "A", [0] * 400, [0] * 400, 0.7, 0.85)
    result.resources["Z/p"] = zero
    page = render_compare({"baseline": result})
    assert "Not drawn, no capacity and no data in any run: Z/p." in page
    assert compare_chart("missing", {"baseline": result}, ["baseline"]) is None
