"""The charts of one run's report, as inline SVG text: storage used against capacity, compute
demand against usable, and each site's rack units and power.

A chart function returns ``None`` when there is nothing to draw (a site with no equipment
and no budget), so the page can say so in words rather than show an empty frame.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes

from capacity.report.chart_base import (
    COLOURS,
    FIGSIZE,
    STEP,
    Ids,
    date_axis,
    dates,
    figure,
    last_day,
    legend_right,
    line,
    mark_orders,
    sample_indices,
    size_scale,
    step_indices,
    style,
    svg,
    take,
    value_axis,
)
from capacity.sim.results import ComputeSeries, Order, ResourceSeries, SiteUse, Watermarks
from capacity.units import format_ratio

COMPUTE_SIZE = (8.0, 2.8)
SITE_SIZE = (8.0, 2.4)


def _levels(ax: Axes, ids: Ids, x: np.ndarray, y: np.ndarray,
            levels: Sequence[tuple[str, float]]) -> None:
    """Threshold lines: the usable or capacity step line times each level's ratio."""
    for level, ratio in levels:
        line(ax, ids, x, y * ratio, COLOURS[level], f"{level} {format_ratio(ratio)}",
             STEP[level], 0.9, step=True)


def _watermark_title(ref: str, watermarks: Sequence[Watermarks]) -> str:
    if not watermarks:
        return ""
    tier = watermarks[0].tier
    if tier != ref:  # the policy is named on the source's own chart
        return f"; mirrors {tier}"
    return "; tier policy " + ", ".join(dict.fromkeys(w.policy for w in watermarks))


def resource_chart(series: ResourceSeries, start: dt.date, orders: Sequence[Order]
                   ) -> str | None:
    """Used against capacity (a step line), the warning and critical lines (capacity x
    ratio), the watermarks of a tier policy that drains it, and its order and install
    dates.  None when it never held or offered a byte."""
    top = max([*series.used, *series.capacity, 0])
    if top <= 0:
        return None
    n = len(series.used)
    end = last_day(start, n)
    scale, unit = size_scale(top)
    salt = f"resource:{series.ref}"
    with style(salt):
        fig = figure(FIGSIZE, legend=True)
        ax = fig.subplots()
        ids = Ids(salt)
        ids.tag(ax, "plot")
        cap_i = step_indices(series.capacity)
        cap_x, cap_y = dates(start, cap_i), take(series.capacity, cap_i, scale)
        line(ax, ids, cap_x, cap_y, COLOURS["capacity"], "capacity", linewidth=1.2, step=True)
        _levels(ax, ids, cap_x, cap_y, (("critical", series.critical),
                                        ("warning", series.warning)))
        for high, low in dict.fromkeys((w.high, w.low) for w in series.watermarks):
            line(ax, ids, cap_x, cap_y * high, COLOURS["watermark"],
                 f"tier high {format_ratio(high)}", "--", 0.9, step=True)
            line(ax, ids, cap_x, cap_y * low, COLOURS["watermark"],
                 f"tier low {format_ratio(low)}", ":", 1.4, step=True)
        used_i = sample_indices(n)
        line(ax, ids, dates(start, used_i), take(series.used, used_i, scale), COLOURS["used"],
             "used")
        mark_orders(ax, ids, [o for o in orders if o.resource == series.ref], start, end)
        ax.set_title(f"{series.ref} ({series.kind}, site {series.site})"
                     f"{_watermark_title(series.ref, series.watermarks)}", loc="left")
        value_axis(ax, top / scale, unit)
        date_axis(ax, start, end)
        legend_right(fig, ax.get_legend_handles_labels()[0])
        return svg(fig)


def compute_panels(series: ComputeSeries) -> list[tuple[str, Sequence[int], Sequence[int],
                                                       float]]:
    """(axis label with unit, demand, usable, scale) of each panel: vCPU, RAM in binary
    units (as it is bought and quoted), and GPUs when the cluster has or is asked for any."""
    scale, unit = size_scale(max([*series.ram, *series.ram_demand, 1]), binary=True)
    panels: list[tuple[str, Sequence[int], Sequence[int], float]] = [
        ("vCPU", series.vcpu_demand, series.vcpu, 1.0),
        (f"RAM ({unit})", series.ram_demand, series.ram, scale)]
    if any(series.gpus) or any(series.gpu_demand):
        panels.append(("GPUs", series.gpu_demand, series.gpus, 1.0))
    return panels


def compute_chart(series: ComputeSeries, start: dt.date, orders: Sequence[Order] = (),
                  levels: Sequence[tuple[str, float]] = ()) -> str | None:
    """vCPU, RAM and GPUs: demand against usable after N+k, the cluster's threshold
    ``levels`` of usable, and the dates its nodes were ordered and installed.  None when the
    cluster neither gives nor is asked anything."""
    panels = compute_panels(series)
    if not any(any(demand) or any(usable) for _, demand, usable, _ in panels):
        return None
    end = last_day(start, len(series.vcpu))
    mine = [o for o in orders if o.resource == series.cluster]
    salt = f"compute:{series.cluster}"
    with style(salt):
        fig = figure(COMPUTE_SIZE, legend=True, wspace=0.45)
        axes = fig.subplots(1, len(panels))
        ids = Ids(salt)
        for i, (ax, (label, demand, usable, scale)) in enumerate(zip(axes, panels,
                                                                    strict=True)):
            ids.tag(ax, "plot")
            use_i, dem_i = step_indices(usable), step_indices(demand)
            use_x, use_y = dates(start, use_i), take(usable, use_i, scale)
            line(ax, ids, use_x, use_y, COLOURS["capacity"], "usable", linewidth=1.2,
                 step=True)
            _levels(ax, ids, use_x, use_y, levels)
            line(ax, ids, dates(start, dem_i), take(demand, dem_i, scale), COLOURS["used"],
                 "demand", step=True)
            mark_orders(ax, ids, mine, start, end, label=i == 0)
            value_axis(ax, max([*use_y, *take(demand, dem_i, scale), 0]), label)
            date_axis(ax, start, end, maxticks=4)  # a third of the width: fewer labels fit
        fig.suptitle(f"{series.cluster} (cluster, site {series.site}): demand against usable"
                     " after N+k", x=0.08, y=0.98, ha="left", fontsize=9)
        legend_right(fig, axes[0].get_legend_handles_labels()[0])
        return svg(fig)


def site_has_anything(start: SiteUse | None, end: SiteUse) -> bool:
    """Equipment at either end of the run, or a budget to hold it against."""
    values = [end.rack_units, end.power_w, end.rack_units_budget, end.power_budget_w]
    if start is not None:
        values += [start.rack_units, start.power_w]
    return any(v > 0 for v in values)


def site_chart(site: str, start: SiteUse | None, end: SiteUse) -> str | None:
    """Rack units and power: now, at the end and the budget, each bar labelled with its
    value (a bar of zero shows as its label); the end bar red when over budget.  None when
    the site has no equipment and no budget."""
    if not site_has_anything(start, end):
        return None
    salt = f"site:{site}"
    with style(salt):
        fig = figure(SITE_SIZE)
        axes = fig.subplots(1, 2)
        ids = Ids(salt)
        for ax, title, now, then, budget, unit, digits in (
                (axes[0], "rack units", start.rack_units if start else 0, end.rack_units,
                 end.rack_units_budget, "U", 0),
                (axes[1], "power", (start.power_w if start else 0.0) / 1000,
                 end.power_w / 1000, end.power_budget_w / 1000, "kW", 1)):
            ids.tag(ax, "plot")
            over = budget > 0 and then > budget
            bars = ax.bar(["now", "at end", "budget" if budget else "no budget"],
                          [now, then, budget],
                          color=["#90a4ae", COLOURS["critical"] if over else COLOURS["used"],
                                 "#cfd8dc"])
            for bar in bars:
                ids.tag(bar)
            # no label on a missing budget: its bar says "no budget"
            ax.bar_label(bars, labels=[f"{v:.{digits}f} {unit}" if v or i < 2 else ""
                                       for i, v in enumerate((now, then, budget))],
                         padding=2, fontsize=7)
            ax.set_title(f"site {site}: {title}" if ax is axes[0] else title, loc="left")
            ax.grid(axis="x", visible=False)
            value_axis(ax, max(now, then, budget) * 1.1, unit)  # room for the labels
        return svg(fig)
