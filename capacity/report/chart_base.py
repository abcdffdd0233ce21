"""What every chart of a report shares: sampling, units, axes, markers and SVG output.

Each chart is its own ``Figure`` (no pyplot: no global figure state, no GUI backend) saved
as SVG with text kept as ``<text>`` (small, searchable), no metadata and a hash salt of its
own, so the same data gives the same bytes and two charts on one page never share an id.
Series are thinned before plotting so that a ten-year run stays a small page.

Every plot area and every data mark carries an id ending ``-plot-N`` / ``-mark-N``: the
only ids kept in the page, so that a reader (and the browser test) can find what was drawn.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import matplotlib
import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.dates import (
    ConciseDateFormatter,
    DateLocator,
    DayLocator,
    MonthLocator,
    YearLocator,
    date2num,
)
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.typing import LineStyleType

from capacity.sim.results import Order

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
"""Characters of a name that fit in the legend beside an 8-inch chart."""
RIGHT_PAD = 0.015
"""Room right of the last day, as a share of the run: a step on the last day shows."""
TOP_PAD = 1.08
"""Room above the highest value: a line at the top does not hide in the frame."""
ZERO_LIFT = 0.02
"""The axis starts this share of its height below zero: a line at zero clears the frame."""
ORDER_ROW = 0.05
"""Height of a row of order markers under zero, as a share of the axis above zero."""
COLOURS = {"used": "C0", "capacity": "black", "warning": "#d89000", "critical": "#c62828",
           "order": "#7b1fa2", "install": "#2e7d32", "watermark": "#00838f"}
STEP: dict[str, LineStyleType] = {"warning": "-.", "critical": "-.", "watermark": ":"}


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


def dates(start: dt.date, indices: list[int]) -> np.ndarray:
    return np.datetime64(start, "D") + np.asarray(indices, dtype="timedelta64[D]")


def take(values: Sequence[int | float], indices: list[int], scale: float = 1.0) -> np.ndarray:
    return np.asarray([values[i] for i in indices], dtype=float) / scale


def size_scale(largest: float, binary: bool = False) -> tuple[float, str]:
    """The unit that shows ``largest`` bytes as a number from 1 to under 1000 (1024)."""
    base, units = (1024, IEC_UNITS) if binary else (1000, SI_UNITS)
    power = 0
    while power < len(units) - 1 and largest >= base ** (power + 1):
        power += 1
    return float(base**power), units[power]


def last_day(start: dt.date, days: int) -> dt.date:
    return start + dt.timedelta(days=max(days - 1, 0))


def short(text: str, width: int = LEGEND_WIDTH) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


# -- figure plumbing -------------------------------------------------------------------------

@contextmanager
def style(salt: str) -> Iterator[None]:
    """Settings for one chart; ``text.parse_math`` off so a '$' in a name stays a '$'."""
    with matplotlib.rc_context({
            "svg.fonttype": "none", "svg.hashsalt": f"capacity:{salt}",
            "text.parse_math": False, "font.size": 8, "axes.titlesize": 9,
            "axes.grid": True, "grid.alpha": 0.3, "legend.fontsize": 7,
            "legend.frameon": False, "path.simplify": True,
            # a fixed title height: finding one measures every tick label (a third of the time)
            "axes.titley": 1.0}):
        yield


def figure(size: tuple[float, float], legend: bool = False, wspace: float = 0.25) -> Figure:
    """Fixed margins rather than a layout engine: the charts all look alike, and constrained
    layout would cost a whole extra draw per chart (half the time of a report).  With a
    legend, the right fifth is the legend's: it never sits over the data."""
    fig = Figure(figsize=size)
    fig.subplots_adjust(left=0.08, right=0.79 if legend else 0.98, bottom=0.12, top=0.88,
                        wspace=wspace)
    return fig


@dataclass
class Ids:
    """Ids for one chart's plot areas and marks, unique on a page: a digest of the chart's
    salt (which names it) and a counter."""

    salt: str
    count: int = field(default=0)

    def tag(self, artist: Artist, kind: str = "mark") -> None:
        digest = hashlib.sha1(self.salt.encode()).hexdigest()[:10]
        artist.set_gid(f"c{digest}-{kind}-{self.count}")
        self.count += 1


def svg(fig: Figure) -> str:
    """The figure as an ``<svg>`` element for inlining (no XML prolog or DOCTYPE)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata=NO_METADATA)
    text = buf.getvalue()
    return _drop_unused_ids(text[text.index("<svg"):].strip()) + "\n"


_ID = re.compile(r' id="([^"]*)"')
_REF = re.compile(r'#([^")\s]+)')
_KEPT = re.compile(r"c[0-9a-f]{10}-(?:plot|mark)-\d+")


def _drop_unused_ids(text: str) -> str:
    """matplotlib names every group (``line2d_1``, ``axes_1`` ...) the same way in every
    figure: inlined side by side these ids would clash, and nothing refers to them."""
    used = set(_REF.findall(text))
    return _ID.sub(lambda m: m.group(0) if m.group(1) in used or _KEPT.fullmatch(m.group(1))
                   else "", text)


# -- axes ------------------------------------------------------------------------------------

def date_locator(days: float, maxticks: int) -> DateLocator:
    """Whole years, months or days, as many as fit: a fixed choice rather than
    ``AutoDateLocator``, which warns on some spans (four or five years in a narrow panel)."""
    years, months = days / 365.25, days / 30.44
    if years >= 3:
        base = next((b for b in (1, 2, 5, 10, 20, 50) if years / b <= maxticks - 1), 100)
        return YearLocator(base)
    if months >= 3:
        step = next((m for m in (1, 2, 3, 6) if months / m <= maxticks - 1), 12)
        return MonthLocator(bymonth=range(1, 13, step))
    return DayLocator(interval=next((d for d in (1, 2, 7, 14) if days / d <= maxticks - 1), 28))


def date_axis(ax: Axes, start: dt.date, end: dt.date, maxticks: int = 10) -> None:
    """From the first day to the end of the last, plus a little room on the right."""
    days = (end - start).days + 1
    locator = date_locator(days, maxticks)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.set_xlim(float(date2num(start)), float(date2num(start)) + days * (1 + RIGHT_PAD))


def value_axis(ax: Axes, top: float, label: str, rows: int = 0) -> float:
    """From zero (a little below it, so a line at zero shows) to a little above ``top``,
    with ``rows`` strips of ``ORDER_ROW`` under zero for markers; returns the top."""
    high = top * TOP_PAD if top > 0 else 1.0
    below = ZERO_LIFT * (3 if rows else 1) + rows * ORDER_ROW  # a gap above and below rows
    ax.set_ylim(-high * below, high)
    ax.set_yticks([t for t in ax.get_yticks() if 0 <= t <= high])  # none under zero
    ax.set_ylabel(label)
    return high


def order_row(high: float, row: int) -> float:
    """The height of marker row ``row`` under zero, on an axis that ``value_axis`` set."""
    return -high * (2 * ZERO_LIFT + ORDER_ROW * (row + 0.5))


def extend_step(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A step series (values at the end of each day) held through its last day."""
    if len(x) == 0:
        return x, y
    return np.append(x, x[-1] + np.timedelta64(1, "D")), np.append(y, y[-1])


def line(ax: Axes, ids: Ids, x: np.ndarray, y: np.ndarray, color: str, label: str,
         linestyle: LineStyleType = "-", linewidth: float = 1.5, step: bool = False) -> Line2D:
    """One data line, tagged; a step line (values at the end of each day) is held through
    its last day."""
    if step:
        x, y = extend_step(x, y)
    (drawn,) = ax.plot(x, y, drawstyle="steps-post" if step else "default", color=color,
                       linestyle=linestyle, linewidth=linewidth, label=short(label))
    ids.tag(drawn)
    return drawn


def mark_orders(ax: Axes, ids: Ids, orders: Sequence[Order], start: dt.date, end: dt.date,
                label: bool = True) -> None:
    """Dotted lines at order dates, dashed at install dates; one collection each."""
    styles: tuple[tuple[str, LineStyleType], ...] = (("ordered", ":"), ("installed", "--"))
    for attr, linestyle in styles:
        days = sorted({getattr(o, attr) for o in orders if start <= getattr(o, attr) <= end})
        if days:
            name = "order" if attr == "ordered" else "install"
            lines = ax.vlines(date2num(days), 0, 1, transform=ax.get_xaxis_transform(),
                              colors=COLOURS[name], linestyles=linestyle, linewidth=0.9,
                              label=name if label else "_nolegend_")
            ids.tag(lines)


def legend_right(fig: Figure, handles: Sequence[Artist]) -> None:
    """One legend for the whole figure, in the margin right of the plots."""
    fig.legend(handles=list(handles), loc="upper left", bbox_to_anchor=(0.8, 0.88),
               borderaxespad=0)


def handle(label: str, color: str, linestyle: LineStyleType = "-",
           linewidth: float = 1.5) -> Line2D:
    """A legend entry that is not itself drawn."""
    return Line2D([], [], color=color, linestyle=linestyle, linewidth=linewidth, label=label)
