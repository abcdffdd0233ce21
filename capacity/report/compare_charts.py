"""The charts of the compare report: one resource, or one cluster's compute, in every run.

Colour says the run, line style what is drawn (used or demand solid, capacity or usable
dashed, the critical level dash-dot); orders are triangles under zero, a row per run.  A
line that an earlier run already drew would hide it or hide under it: it is drawn dotted on
top, so both colours show, and a run that draws nothing of its own says in the legend whose
lines it shares.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from matplotlib.axes import Axes
from matplotlib.dates import date2num
from matplotlib.lines import Line2D
from matplotlib.typing import LineStyleType

from capacity.report.chart_base import (
    FIGSIZE,
    STEP,
    Ids,
    date_axis,
    dates,
    figure,
    handle,
    legend_right,
    line,
    order_row,
    sample_indices,
    short,
    size_scale,
    step_indices,
    style,
    svg,
    take,
    value_axis,
)
from capacity.report.charts import COMPUTE_SIZE, compute_panels
from capacity.report.simulation import COMPUTE_METRICS
from capacity.sim.results import Order, SimResult

DOT, GAP = 1.5, 3.0


def same(k: int) -> LineStyleType:
    """The dots of the ``k``-th run to repeat a line (from 1): gaps wide enough for the line
    underneath to show, and each repeat's dots between the ones before."""
    return ((k - 1) * DOT, (DOT, GAP))


def colour(names: Sequence[str], name: str) -> str:
    """A run's colour, fixed by its place among all runs (the same on every chart)."""
    return f"C{names.index(name) % 10}"


def _orders_of(result: SimResult, ref: str) -> list[Order]:
    return [o for o in result.orders if o.resource == ref]


@dataclass
class Drawn:
    """The lines a chart has drawn so far, by kind and panel: a line equal to one of them
    is drawn dotted, and a run all of whose lines were drawn before is named as sharing."""

    lines: dict[tuple[str, int], list[tuple[str, Sequence[int] | np.ndarray]]] = field(
        default_factory=dict)
    owners: dict[str, set[str | None]] = field(default_factory=dict)

    def earlier(self, run: str, kind: str, panel: int, values: Sequence[int] | np.ndarray
                ) -> int:
        """How many earlier runs drew ``values`` as this kind of line; records it."""
        seen = self.lines.setdefault((kind, panel), [])
        others = [name for name, v in seen if np.array_equal(v, values)]
        seen.append((run, values))
        self.owners.setdefault(run, set()).add(others[0] if others else None)
        return len(others)

    def style(self, run: str, kind: str, panel: int, values: Sequence[int] | np.ndarray,
              own: LineStyleType) -> LineStyleType:
        """``own`` for a line no earlier run drew, else dots between theirs."""
        k = self.earlier(run, kind, panel, values)
        return same(k) if k else own

    def shared_with(self, run: str) -> str | None:
        """The one earlier run every line of ``run`` repeats, if there is one."""
        owners = self.owners.get(run, {None})
        return next(iter(owners)) if len(owners) == 1 else None


def _order_marks(ax: Axes, ids: Ids, high: float, row: int, orders: Sequence[Order],
                 colour_: str) -> None:
    """One triangle per order date, in the run's own row under zero."""
    days = sorted({o.ordered for o in orders})
    if days:
        (marks,) = ax.plot(date2num(days), [order_row(high, row)] * len(days),
                           linestyle="none", marker="^", markersize=4, color=colour_)
        ids.tag(marks)


def _legend(names: Sequence[str], present: Sequence[str], drawn: Drawn,
            what: Sequence[tuple[str, LineStyleType]]) -> list[Line2D]:
    runs = []
    for name in present:
        other = drawn.shared_with(name)
        runs.append(handle(short(name), colour(names, name)) if other is None else handle(
            f"{short(name)}\n(same as {short(other, 14)})", colour(names, name), same(1)))
    orders = handle("order", "grey", "none")
    orders.set_marker("^")
    return [*runs, *(handle(label, "grey", ls, 1.2) for label, ls in what), orders]


def _run_axis(ax: Axes, results: Sequence[SimResult], maxticks: int) -> None:
    date_axis(ax, min(r.start for r in results), max(r.end for r in results), maxticks)


def compare_chart(ref: str, results: dict[str, SimResult], names: Sequence[str]
                  ) -> str | None:
    """One storage resource in every run that has it, in the order of ``names``.  None when
    no run has it, or it never holds or offers a byte."""
    present = [name for name in names if ref in results[name].resources]
    series = [results[name].resources[ref] for name in present]
    top = max([0, *(max([*s.used, *s.capacity, 0]) for s in series)])
    if top <= 0:
        return None
    scale, unit = size_scale(top)
    salt = f"compare:{ref}"
    with style(salt):
        fig = figure(FIGSIZE, legend=True)
        ax = fig.subplots()
        ids, drawn = Ids(salt), Drawn()
        ids.tag(ax, "plot")
        high = value_axis(ax, top / scale, unit, rows=len(present))
        for row, (name, s) in enumerate(zip(present, series, strict=True)):
            start, c = results[name].start, colour(names, name)
            used_i, cap_i = sample_indices(len(s.used)), step_indices(s.capacity)
            cap_x, cap_y = dates(start, cap_i), take(s.capacity, cap_i, scale)
            line(ax, ids, cap_x, cap_y, c, "capacity",
                 drawn.style(name, "capacity", 0, s.capacity, "--"), 1.0, step=True)
            critical = cap_y * s.critical
            if not drawn.earlier(name, "critical", 0, critical):  # once is enough
                line(ax, ids, cap_x, critical, c, "critical", STEP["critical"], 0.7, step=True)
            line(ax, ids, dates(start, used_i), take(s.used, used_i, scale), c, "used",
                 drawn.style(name, "used", 0, s.used, "-"), 1.6)
            orders = _orders_of(results[name], ref)
            drawn.earlier(name, "orders", 0, [date2num(o.ordered) for o in orders])
            _order_marks(ax, ids, high, row, orders, c)
        ax.set_title(ref, loc="left")
        _run_axis(ax, [results[name] for name in present], maxticks=10)
        legend_right(fig, _legend(names, present, drawn, (
            ("used", "-"), ("capacity", "--"), ("critical", STEP["critical"]))))
        return svg(fig)


def compare_compute_chart(cluster: str, results: dict[str, SimResult], names: Sequence[str]
                          ) -> str | None:
    """One cluster's vCPU, RAM and GPUs in every run that has it: demand solid, usable after
    N+k dashed, its critical level dash-dot.  None when no run has it, or no run gives or
    asks it anything."""
    present = [name for name in names if cluster in results[name].compute]
    computes = [results[name].compute[cluster] for name in present]
    panels_of = [compute_panels(c) for c in computes]
    if not any(any(d) or any(u) for panels in panels_of for _, d, u, _ in panels):
        return None
    # one set of panels for all runs: GPUs when any run has any, RAM in one unit
    ram_scale, ram_unit = size_scale(max(max([*c.ram, *c.ram_demand, 1]) for c in computes),
                                     binary=True)
    labels = ["vCPU", f"RAM ({ram_unit})", "GPUs"][:max(len(p) for p in panels_of)]
    scales = [1.0, ram_scale, 1.0]
    salt = f"compare-compute:{cluster}"
    with style(salt):
        fig = figure(COMPUTE_SIZE, legend=True, wspace=0.45)
        axes = fig.subplots(1, len(labels))
        ids, drawn = Ids(salt), Drawn()
        for p, (ax, label) in enumerate(zip(axes, labels, strict=True)):
            ids.tag(ax, "plot")
            demand_of, usable_of = COMPUTE_METRICS[p][1:]
            top = max(max([*getattr(c, demand_of), *getattr(c, usable_of), 0])
                      for c in computes) / scales[p]
            high = value_axis(ax, top, label, rows=len(present))
            for row, (name, c) in enumerate(zip(present, computes, strict=True)):
                result, col = results[name], colour(names, name)
                demand, usable = getattr(c, demand_of), getattr(c, usable_of)
                use_i, dem_i = step_indices(usable), step_indices(demand)
                use_x, use_y = dates(result.start, use_i), take(usable, use_i, scales[p])
                line(ax, ids, use_x, use_y, col, "usable",
                     drawn.style(name, "usable", p, usable, "--"), 1.0, step=True)
                own = result.resources.get(cluster)
                if own is not None and not drawn.earlier(name, "critical", p,
                                                         use_y * own.critical):
                    line(ax, ids, use_x, use_y * own.critical, col, "critical",
                         STEP["critical"], 0.7, step=True)
                line(ax, ids, dates(result.start, dem_i), take(demand, dem_i, scales[p]), col,
                     "demand", drawn.style(name, "demand", p, demand, "-"), 1.6, step=True)
                orders = _orders_of(result, cluster)
                drawn.earlier(name, "orders", p, [date2num(o.ordered) for o in orders])
                _order_marks(ax, ids, high, row, orders, col)
            _run_axis(ax, [results[name] for name in present], maxticks=4)
        fig.suptitle(f"{cluster}: compute demand against usable after N+k", x=0.08, y=0.98,
                     ha="left", fontsize=9)
        legend_right(fig, _legend(names, present, drawn, (
            ("demand", "-"), ("usable", "--"), ("critical", STEP["critical"]))))
        return svg(fig)

