"""report.html and compare.html in a real browser (headless Chromium): each page loads with
no request but its own, draws a non-blank screenshot, and every chart draws marks inside its
plot area; in the compare report every run's colour shows in every chart, so identical runs
do not hide each other.  Rendering prints no warning."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
from matplotlib.colors import to_rgb

from capacity.load import load
from capacity.report.files import write_compare, write_outputs
from capacity.sim import simulate
from capacity.sim.results import SimResult

from .browser import HOST, charts_in, harness, ink, near, pixels, plot_areas, proxy, render

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "inventories" / "medical-center.yaml"
CLINIC = ROOT / "inventories" / "small-clinic.yaml"
COMPARED = ("genomics", "lead-time-doubles")
EXTERNAL = re.compile(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?https?:""",
                      re.IGNORECASE)
MIN_INK = 40
"""Pixels of ink a plot area must hold: a line across a 400-pixel plot has hundreds."""


def _run(inventory: Path, scenarios: tuple[str, ...] = ()) -> SimResult:
    loaded = load(inventory, [ROOT / "scenarios" / f"{s}.yaml" for s in scenarios])
    return simulate(loaded.inventory, loaded.scenarios, years=5)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The three pages to look at, written as the CLI writes them, with every warning an
    error while they render (matplotlib's date locator used to warn sixteen times)."""
    out = tmp_path_factory.mktemp("pages")
    example, clinic = _run(EXAMPLE), _run(CLINIC)
    compared = {"baseline": example, **{s: _run(EXAMPLE, (s,)) for s in COMPARED}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_outputs(example, out / "example")
        write_outputs(clinic, out / "clinic")
        write_compare(compared, out / "compare")
    return {"/example.html": (out / "example" / "report.html").read_text(encoding="utf-8"),
            "/clinic.html": (out / "clinic" / "report.html").read_text(encoding="utf-8"),
            "/compare.html": (out / "compare" / "compare.html").read_text(encoding="utf-8")}


def _check_page(html: str, path: str, tmp_path: Path) -> None:
    """Load the page through the recording proxy, then its charts alone in a harness page
    that places them where each plot area can be found in the screenshot."""
    assert not EXTERNAL.search(html) and "<script" not in html.lower()
    with proxy() as via:
        via.pages[path] = html.encode("utf-8")
        dom = render(via, path, tmp_path / "page.png", 1400, 3000)
        # the browser asks for /favicon.ico on its own; the page asks for nothing
        assert set(via.requests_to(HOST)) <= {path, "/favicon.ico"}
        assert via.requests_to(HOST).count(path) == 1
        # what Chromium fetches for itself (updates, sign-in) goes elsewhere: a page can only
        # fetch what it names, and it names no host
        for host in via.other_hosts():
            assert host not in html, host
        screenshot = pixels(tmp_path / "page.png")
        assert screenshot.shape[:2] == (3000, 1400)
        assert ink(screenshot).mean() > 0.005  # text, tables and charts: not a blank page

        charts = charts_in(dom)
        assert len(charts) == html.count("<svg") > 0
        for chart in charts:
            assert chart.plots, chart
            for plot in chart.plots:
                assert plot.marks > 0, plot.id

        page, places, width, height = harness(charts)
        via.pages["/charts.html"] = page.encode("utf-8")
        render(via, "/charts.html", tmp_path / "charts.png", width, height)
    shot = pixels(tmp_path / "charts.png")
    for chart, place in zip(charts, places, strict=True):
        for plot_id, rows, cols in plot_areas(chart, place):
            assert ink(shot[rows, cols]).sum() >= MIN_INK, (path, plot_id)


@pytest.mark.parametrize("path", ["/example.html", "/clinic.html", "/compare.html"])
def test_page_renders_offline_and_every_chart_draws(pages: dict[str, str], path: str,
                                                   tmp_path: Path) -> None:
    _check_page(pages[path], path, tmp_path)


def test_every_run_shows_in_every_compare_chart(pages: dict[str, str], tmp_path: Path) -> None:
    """Genomics leaves most resources as the baseline has them: its lines are drawn dotted
    over the baseline's, so both colours show, in every storage and compute chart."""
    html = pages["/compare.html"]
    assert "(same as baseline)" in html
    charts = charts_in(html)
    with proxy() as via:
        page, places, width, height = harness(charts)
        via.pages["/charts.html"] = page.encode("utf-8")
        render(via, "/charts.html", tmp_path / "charts.png", width, height)
    shot = pixels(tmp_path / "charts.png")
    colours: dict[str, tuple[int, int, int]] = {}
    for i in range(len(COMPARED) + 1):
        r, g, b = (round(255 * v) for v in to_rgb(f"C{i}"))
        colours[f"C{i}"] = (r, g, b)
    for chart, place in zip(charts, places, strict=True):
        for plot_id, rows, cols in plot_areas(chart, place):
            area = shot[rows, cols]
            area = area[:int(len(area) * 0.75)]  # above the rows of order triangles
            for name, rgb in colours.items():
                assert near(area, rgb) >= 10, (plot_id, name)


def test_a_site_with_nothing_is_said_in_words_not_drawn(pages: dict[str, str]) -> None:
    """The example's hospitals a and c have no equipment and no budget."""
    html = pages["/example.html"]
    assert "Not drawn, no equipment and no budget: hospital-a, hospital-c." in html
    assert "site hospital-a" not in html and "site hospital-b" in html

