"""Headless Chromium for the report tests: pages served through a recording proxy, so every
request the browser makes is seen; screenshots decoded with matplotlib; the DOM the browser
built read back for the charts' plot areas and marks.

Chromium is Debian's ``chromium`` package.  Without it the tests fail (they never skip):
the reports' promise is that they render in a real browser, offline.
"""

from __future__ import annotations

import http.server
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

HOST = "report.test"
"""The pages' origin: a name no resolver knows, reachable only through the proxy."""
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--disable-default-apps", "--disable-domain-reliability",
    "--no-default-browser-check", "--no-pings", "--hide-scrollbars",
    "--force-device-scale-factor=1", "--disable-features=NetworkTimeServiceQuerying,"
    "OptimizationHints,MediaRouter,Translate,AutofillServerCommunication")


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed (Debian: apt-get install chromium); the"
                    " report tests render the pages in it")
    return found


@dataclass
class Proxy:
    """An HTTP proxy on 127.0.0.1 that serves ``pages`` for HOST and records every request
    (method, host, path); anything else gets 404, and HTTPS tunnels are refused."""

    pages: dict[str, bytes] = field(default_factory=dict)
    seen: list[tuple[str, str, str]] = field(default_factory=list)
    port: int = 0

    def requests_to(self, host: str) -> list[str]:
        return [path for _, h, path in self.seen if h == host]

    def other_hosts(self) -> set[str]:
        return {h for _, h, _ in self.seen if h != HOST}


@contextmanager
def proxy() -> Iterator[Proxy]:
    state = Proxy()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            # through a proxy the request line carries the whole URL
            rest = self.path.split("://", 1)[-1]
            host, _, path = rest.partition("/")
            state.seen.append(("GET", host, "/" + path))
            body = state.pages.get("/" + path) if host == HOST else None
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def do_CONNECT(self) -> None:
            state.seen.append(("CONNECT", self.path.rsplit(":", 1)[0], ""))
            self.send_response(403)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def render(via: Proxy, path: str, png: Path, width: int, height: int) -> str:
    """Load ``http://HOST{path}`` through the proxy; write a screenshot; return the DOM."""
    with tempfile.TemporaryDirectory() as profile:
        run = subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}",
             f"--proxy-server=http://127.0.0.1:{via.port}", "--proxy-bypass-list=<-loopback>",
             f"--window-size={width},{height}", f"--screenshot={png}", "--dump-dom",
             f"http://{HOST}{path}"],
            capture_output=True, text=True, timeout=180, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    assert png.exists(), run.stderr[-2000:]
    return run.stdout


def pixels(png: Path) -> np.ndarray:
    """The screenshot as an (h, w, 3) array of 0-255 integers."""
    image = imread(png)
    return np.rint(image[..., :3] * 255).astype(int)


def ink(area: np.ndarray) -> np.ndarray:
    """Pixels that something was drawn in: dark, or coloured (not white, not the pale grey
    of grid lines)."""
    luminance = area.mean(axis=2)
    saturation = area.max(axis=2) - area.min(axis=2)
    return (luminance < 200) | (saturation > 40)


def near(area: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 40) -> int:
    """How many pixels are within ``tolerance`` of the colour ``rgb``."""
    return int((np.abs(area - np.asarray(rgb)).max(axis=2) <= tolerance).sum())


# -- charts in the DOM -----------------------------------------------------------------------

@dataclass
class Plot:
    id: str
    rect: tuple[float, float, float, float] | None = None
    """x0, y0, x1, y1 in the SVG's own units: the first path of the plot group (its
    background), as matplotlib writes it."""
    marks: int = 0
    """Mark groups inside it that hold a path of two points or more, or a placed marker."""


@dataclass
class Chart:
    width: float = 0.0
    height: float = 0.0
    plots: list[Plot] = field(default_factory=list)
    source: list[str] = field(default_factory=list)


class ChartReader(HTMLParser):
    """Every ``<svg>`` of a page: its size, its plot areas and the marks drawn in each."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.charts: list[Chart] = []
        self._stack: list[str] = []
        self._plot_depth: int | None = None
        self._mark_depth: int | None = None
        self._mark_drawn = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._element(tag, dict(attrs))
        if tag not in ("path", "use", "rect", "stop", "br", "meta", "img", "input"):
            self._stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._element(tag, dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag not in self._stack:
            return
        while self._stack:
            depth = len(self._stack)
            if self._mark_depth == depth:
                if self._mark_drawn:
                    self.charts[-1].plots[-1].marks += 1
                self._mark_depth = None
            if self._plot_depth == depth:
                self._plot_depth = None
            if self._stack.pop() == tag:
                break

    def _element(self, tag: str, attrs: dict[str, str | None]) -> None:
        gid = attrs.get("id") or ""
        if tag == "svg" and self._plot_depth is None and not self._stack.count("svg"):
            _, _, width, height = (float(v) for v in (attrs.get("viewbox") or "").split())
            self.charts.append(Chart(width, height))
        elif tag == "g" and "-plot-" in gid:
            self.charts[-1].plots.append(Plot(gid))
            self._plot_depth = len(self._stack) + 1
        elif tag == "g" and "-mark-" in gid and self._plot_depth is not None:
            self._mark_depth, self._mark_drawn = len(self._stack) + 1, False
        elif tag == "path" and self._plot_depth is not None:
            points = (attrs.get("d") or "").replace("M", " ").replace("L", " ").split()
            plot = self.charts[-1].plots[-1]
            if plot.rect is None and self._mark_depth is None:
                xs, ys = [float(v) for v in points[0:8:2]], [float(v) for v in points[1:8:2]]
                plot.rect = (min(xs), min(ys), max(xs), max(ys))
            elif self._mark_depth is not None and len(points) >= 4:
                self._mark_drawn = True
        elif tag == "use" and self._mark_depth is not None:
            self._mark_drawn = True


def charts_in(dom: str) -> list[Chart]:
    reader = ChartReader()
    reader.feed(dom)
    reader.close()
    sources = _svg_sources(dom)
    assert len(sources) == len(reader.charts)
    for chart, source in zip(reader.charts, sources, strict=True):
        chart.source = [source]
    return reader.charts


def _svg_sources(dom: str) -> list[str]:
    """The outermost ``<svg>...</svg>`` texts of the page, in order."""
    found, at = [], 0
    while (start := dom.find("<svg", at)) != -1:
        end = dom.index("</svg>", start) + len("</svg>")
        found.append(dom[start:end])
        at = end
    return found


SCALE = 4 / 3
"""CSS pixels per SVG unit (matplotlib writes points)."""
GAP = 16


def harness(charts: list[Chart]) -> tuple[str, list[tuple[int, int]], int, int]:
    """A page that stacks the charts at known places, one under the other at their natural
    size, so each plot area can be found in a screenshot: (html, top-left of each chart,
    page width, page height)."""
    places, top, parts = [], GAP, []
    width = int(max(c.width for c in charts) * SCALE) + 2 * GAP
    for chart in charts:
        places.append((GAP, top))
        w, h = chart.width * SCALE, chart.height * SCALE
        svg = chart.source[0].replace("<svg", f'<svg style="width:{w}px;height:{h}px;'
                                              'display:block"', 1)
        parts.append(f'<div style="position:absolute;left:{GAP}px;top:{top}px">{svg}</div>')
        top += int(h) + GAP
    page = ('<!DOCTYPE html><html><head><meta charset="utf-8"><style>body{margin:0;'
            'background:#fff}</style></head><body>' + "".join(parts) + "</body></html>")
    return page, places, width, top


def plot_areas(chart: Chart, place: tuple[int, int], inset: int = 3
               ) -> list[tuple[str, slice, slice]]:
    """Each plot of ``chart`` as (id, rows, columns) of the harness screenshot, shrunk by
    ``inset`` pixels so the frame is not counted."""
    areas = []
    for plot in chart.plots:
        assert plot.rect is not None, plot.id
        x0, y0, x1, y1 = (v * SCALE for v in plot.rect)
        areas.append((plot.id, slice(place[1] + int(y0) + inset, place[1] + int(y1) - inset),
                      slice(place[0] + int(x0) + inset, place[0] + int(x1) - inset)))
    return areas
