"""Charts of a run as inline SVG text, made with matplotlib and deterministic.

Each chart is its own ``Figure`` (no pyplot: no global figure state, no GUI backend) saved
as SVG with text kept as ``<text>`` (small, searchable), no metadata and a hash salt of its
own, so the same data gives the same bytes and two charts on one page never share an id.
Series are thinned before plotting so that a ten-year run stays a small page.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from capacity.sim.results import ComputeSeries, Order, ResourceSeries, SimResult, SiteUse
from capacity.units import format_ratio

FIGSIZE = (8.0, 3.0)
DAILY_UP_TO = 730
"""Up to two years every day is plotted; beyond, every week."""
MAX_POINTS = 600
"""Past this many points a series is thinned further: a chart is 8 inches wide."""
SI_UNITS = ("B", "KB", "MB", "GB", "TB", "PB", "EB")
IEC_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
NO_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}
"""No timestamp (determinism) and no Dublin Core block with its URLs."""
LEGEND_WIDTH = 22
"""Characters of a scenario name that fit in the legend beside an 8-inch chart."""
COLOURS = {"used": "C0", "capacity": "black", "warning": "#d89000", "critical": "#c62828",
           "order": "#7b1fa2", "install": "#2e7d32"}


# -- sampling --------------------------------------------------------------------------------

def sample_indices(n: int) -> list[int]:
    """Days to plot of a smooth series: every day up to two years, then weekly, then coarser
    so no series has more than about MAX_POINTS; the first and last day always."""
    if n <= 0:
        return []
    stride = max(1 if n <= DAILY_UP_TO else 7, math.ceil(n / MAX_POINTS))
    indices = list(range(0, n, stride))
    if indices[-1] != n - 1:
        indices.append(n - 1)
    return indices


def step_indices(values: Sequence[int | float]) -> list[int]:
    """Days to plot of a step series (drawn steps-post): where it changes, plus both ends.
    Exact with few points; a series that moves every day falls back to sampling."""
    n = len(values)
    if n == 0:
        return []
    changes = [0, *(i for i in range(1, n) if values[i] != values[i - 1])]
    if changes[-1] != n - 1:
        changes.append(n - 1)
    return changes if len(changes) <= 2 * MAX_POINTS else sample_indices(n)


def _dates(start: dt.date, indices: list[int]) -> np.ndarray:
    return np.datetime64(start, "D") + np.asarray(indices, dtype="timedelta64[D]")


def _take(values: Sequence[int | float], indices: list[int], scale: float = 1.0) -> np.ndarray:
    return np.asarray([values[i] for i in indices], dtype=float) / scale


def size_scale(largest: float, binary: bool = False) -> tuple[float, str]:
    """The unit that shows ``largest`` bytes as a number from 1 to under 1000 (1024)."""
    base, units = (1024, IEC_UNITS) if binary else (1000, SI_UNITS)
    power = 0
    while power < len(units) - 1 and largest >= base ** (power + 1):
        power += 1
    return float(base**power), units[power]


# -- figure plumbing -------------------------------------------------------------------------

@contextmanager
def _style(salt: str) -> Iterator[None]:
    """Settings for one chart; ``text.parse_math`` off so a '$' in a name stays a '$'."""
    with matplotlib.rc_context({
            "svg.fonttype": "none", "svg.hashsalt": f"capacity:{salt}",
            "text.parse_math": False, "font.size": 8, "axes.titlesize": 9,
            "axes.grid": True, "grid.alpha": 0.3, "legend.fontsize": 7,
            "legend.frameon": False, "path.simplify": True,
            # a fixed title height: finding one measures every tick label (a third of the time)
            "axes.titley": 1.0}):
        yield


def _figure(size: tuple[float, float], legend: bool = False) -> Figure:
    """Fixed margins rather than a layout engine: the charts all look alike, and constrained
    layout would cost a whole extra draw per chart (half the time of a report)."""
    fig = Figure(figsize=size)
    fig.subplots_adjust(left=0.07, right=0.80 if legend else 0.98, bottom=0.12, top=0.9,
                        wspace=0.25)
    return fig


def _svg(fig: Figure) -> str:
    """The figure as an ``<svg>`` element for inlining (no XML prolog or DOCTYPE)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata=NO_METADATA)
    text = buf.getvalue()
    return _drop_unused_ids(text[text.index("<svg"):].strip()) + "\n"


_ID = re.compile(r' id="([^"]*)"')
_REF = re.compile(r'#([^")\s]+)')


def _drop_unused_ids(svg: str) -> str:
    """matplotlib names every group (``line2d_1``, ``axes_1`` ...) the same way in every
    figure: inlined side by side these ids would clash, and nothing refers to them."""
    used = set(_REF.findall(svg))
    return _ID.sub(lambda m: m.group(0) if m.group(1) in used else "", svg)


def _date_axis(ax: Axes, start: dt.date, end: dt.date, maxticks: int = 10) -> None:
    locator = AutoDateLocator(maxticks=maxticks)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    # a one-day run would give equal limits, which matplotlib warns about and widens oddly
    ax.set_xlim(np.datetime64(start, "D"), np.datetime64(max(end, start + dt.timedelta(1)), "D"))


def _mark_orders(ax: Axes, orders: Sequence[Order], start: dt.date, end: dt.date) -> None:
    """Dotted lines at order dates, dashed at install dates; one collection each."""
    for attr, style in (("ordered", ":"), ("installed", "--")):
        days = sorted({getattr(o, attr) for o in orders if start <= getattr(o, attr) <= end})
        if days:
            label = "order" if attr == "ordered" else "install"
            ax.vlines(np.asarray(days, dtype="datetime64[D]"), 0, 1,
                      transform=ax.get_xaxis_transform(), colors=COLOURS[label],
                      linestyles=style, linewidth=0.9, label=label)


def _legend_right(ax: Axes) -> None:
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


# -- charts ----------------------------------------------------------------------------------

def resource_chart(series: ResourceSeries, start: dt.date, orders: Sequence[Order]) -> str:
    """Used against capacity (a step line), the warning and critical lines (capacity x ratio),
    and the resource's order and install dates."""
    n = len(series.used)
    end = start + dt.timedelta(days=max(n - 1, 0))
    scale, unit = size_scale(max([*series.used, *series.capacity, 1]))
    used_i, cap_i = sample_indices(n), step_indices(series.capacity)
    with _style(f"resource:{series.ref}"):
        fig = _figure(FIGSIZE, legend=True)
        ax = fig.subplots()
        cap_x, cap_y = _dates(start, cap_i), _take(series.capacity, cap_i, scale)
        ax.plot(cap_x, cap_y, drawstyle="steps-post", color=COLOURS["capacity"],
                linewidth=1.2, label="capacity")
        for level, ratio in (("critical", series.critical), ("warning", series.warning)):
            ax.plot(cap_x, cap_y * ratio, drawstyle="steps-post", color=COLOURS[level],
                    linewidth=0.9, linestyle="-.", label=f"{level} {format_ratio(ratio)}")
        ax.plot(_dates(start, used_i), _take(series.used, used_i, scale), color=COLOURS["used"],
                linewidth=1.5, label="used")
        _mark_orders(ax, [o for o in orders if o.resource == series.ref], start, end)
        ax.set_title(f"{series.ref} ({series.kind}, site {series.site})", loc="left")
        ax.set_ylabel(unit)
        ax.set_ylim(bottom=0)
        _date_axis(ax, start, end)
        _legend_right(ax)
        return _svg(fig)


def _compute_panel(ax: Axes, start: dt.date, title: str, demand: Sequence[int],
                   usable: Sequence[int], scale: float = 1.0) -> None:
    for label, values, colour in (("usable", usable, COLOURS["capacity"]),
                                  ("demand", demand, COLOURS["used"])):
        idx = step_indices(values)
        ax.plot(_dates(start, idx), _take(values, idx, scale), drawstyle="steps-post",
                color=colour, linewidth=1.2, label=label)
    ax.set_title(title, loc="left")
    ax.set_ylim(bottom=0)
    end = start + dt.timedelta(days=max(len(demand) - 1, 0))
    _date_axis(ax, start, end, maxticks=4)  # a third of the width: fewer labels fit


def compute_chart(series: ComputeSeries, start: dt.date, orders: Sequence[Order] = ()) -> str:
    """vCPU and RAM demand against usable after N+k (and GPUs when the cluster has any)."""
    gpus = any(series.gpus) or any(series.gpu_demand)
    # RAM is bought and quoted in binary units
    scale, unit = size_scale(max([*series.ram, *series.ram_demand, 1]), binary=True)
    with _style(f"compute:{series.cluster}"):
        fig = _figure(FIGSIZE)
        axes = fig.subplots(1, 3 if gpus else 2)
        _compute_panel(axes[0], start, f"{series.cluster} vCPU", series.vcpu_demand,
                       series.vcpu)
        _compute_panel(axes[1], start, f"RAM ({unit})", series.ram_demand, series.ram, scale)
        if gpus:
            _compute_panel(axes[2], start, "GPUs", series.gpu_demand, series.gpus)
        end = start + dt.timedelta(days=max(len(series.vcpu) - 1, 0))
        _mark_orders(axes[0], [o for o in orders if o.resource == series.cluster], start, end)
        axes[0].legend(loc="lower left")
        return _svg(fig)


def site_chart(site: str, start: SiteUse | None, end: SiteUse) -> str:
    """Rack units and power: now, at the end and the budget; the end bar red when over."""
    with _style(f"site:{site}"):
        fig = _figure((8.0, 2.4))
        axes = fig.subplots(1, 2)
        for ax, title, now, then, budget in (
                (axes[0], "rack units (U)", start.rack_units if start else 0, end.rack_units,
                 end.rack_units_budget),
                (axes[1], "power (kW)", (start.power_w if start else 0.0) / 1000,
                 end.power_w / 1000, end.power_budget_w / 1000)):
            over = budget > 0 and then > budget
            ax.bar(["now", "at end", "budget" if budget else "no budget"], [now, then, budget],
                   color=["#90a4ae", COLOURS["critical"] if over else COLOURS["used"], "#cfd8dc"])
            ax.set_title(f"site {site}: {title}" if ax is axes[0] else title, loc="left")
            ax.grid(axis="x", visible=False)
        return _svg(fig)


def compare_chart(ref: str, results: dict[str, SimResult], names: Sequence[str]) -> str:
    """One resource in every run that has it: used solid, capacity a dashed step, one colour
    per scenario in the order of ``names``."""
    present = [name for name in names if ref in results[name].resources]
    series = [results[name].resources[ref] for name in present]
    scale, unit = size_scale(max([1, *(max([*s.used, *s.capacity, 0]) for s in series)]))
    with _style(f"compare:{ref}"):
        fig = _figure(FIGSIZE, legend=True)
        ax = fig.subplots()
        for i, (name, s) in enumerate(zip(present, series, strict=True)):
            result = results[name]
            used_i, cap_i = sample_indices(len(s.used)), step_indices(s.capacity)
            colour = f"C{i % 10}"
            ax.plot(_dates(result.start, cap_i), _take(s.capacity, cap_i, scale),
                    drawstyle="steps-post", color=colour, linestyle="--", linewidth=1.0)
            ax.plot(_dates(result.start, used_i), _take(s.used, used_i, scale), color=colour,
                    linewidth=1.5)
        ax.set_title(ref, loc="left")
        ax.set_ylabel(unit)
        ax.set_ylim(bottom=0)
        if present:
            first = min(results[name].start for name in present)
            last = max(results[name].end for name in present)
            _date_axis(ax, first, last)
            ax.legend(handles=_compare_legend(present), loc="upper left",
                      bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        return _svg(fig)


def _short(text: str, width: int = LEGEND_WIDTH) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _compare_legend(names: Sequence[str]) -> list[Line2D]:
    """Colour says the scenario, line style says used or capacity: two legends in one, and
    short enough to fit beside the chart (the tables carry full names)."""
    handles = [Line2D([], [], color=f"C{i % 10}", linewidth=1.5, label=_short(name))
               for i, name in enumerate(names)]
    return [*handles, Line2D([], [], color="grey", linewidth=1.5, label="used"),
            Line2D([], [], color="grey", linestyle="--", linewidth=1.0, label="capacity")]
