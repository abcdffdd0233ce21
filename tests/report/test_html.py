"""The HTML reports: one chart per resource, cluster and site, self-contained, escaped,
small and quick for a ten-year run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from capacity.report.chart_base import sample_indices, step_indices
from capacity.report.files import write_outputs
from capacity.report.html import render_compare, render_report

from .conftest import make_result


@pytest.fixture(scope="module")
def page() -> str:
    """The report of the hand-built run, rendered once for the tests that only read it."""
    return render_report(make_result())


EXTERNAL = re.compile(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def test_one_chart_per_resource_cluster_and_site(page: str) -> None:
    # 2 resources + 1 cluster + 2 sites
    assert page.count("<svg") == 5
    assert page.count("</svg>") == 5
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page


def test_report_is_self_contained(page: str) -> None:
    assert not EXTERNAL.search(page)
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    assert "url(http" not in page and "@import" not in page
    # inlined side by side, the charts may not share an element id
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids))


def test_report_has_parameters_runway_and_plan(page: str) -> None:
    for text in ("<h1>Capacity simulation: test-estate</h1>", "growth-high, tiering",
                 "Storage runway", "2026-05-31 (150 d)", "Procurement plan", "expand-pool",
                 "OVER BUDGET: power"):
        assert text in page, text


def test_names_are_escaped_in_tables_and_charts() -> None:
    page = render_report(make_result(names=("A/<b>&", "B/objects")))
    assert "<b>&" not in page
    assert "A/&lt;b&gt;&amp;" in page
    assert page.count("<svg") == 5


def test_names_with_dollars_are_not_read_as_mathematics() -> None:
    page = render_report(make_result(names=("A/$x$_1", "B/objects")))
    assert "A/$x$_1" in page


def test_two_renders_are_identical(page: str) -> None:
    assert render_report(make_result()) == page


def test_ten_year_report_of_ten_resources_is_small(tmp_path: Path) -> None:
    # (How fast it renders is for a benchmark: a timed test fails on a loaded machine.)
    big = make_result(days=3650, names=tuple(f"S{i % 2}/pool{i}" for i in range(10)))
    write_outputs(big, tmp_path)
    html = tmp_path / "report.html"
    assert html.stat().st_size < 2_000_000
    assert html.read_text(encoding="utf-8").count("<svg") == 10 + 1 + 2


def test_compare_overlays_each_resource_with_the_baseline_first() -> None:
    results = {"high": make_result(seed=1, names=("A/pool1", "B/objects", "C/new")),
               "baseline": make_result(seed=2)}
    page = render_compare(results)
    assert page.count("<svg") == 3 + 1  # the union of resources, and the one cluster
    assert not EXTERNAL.search(page) and "<script" not in page
    assert page.index("<th>baseline</th>") < page.index("<th>high</th>")
    chart = page[page.index("<svg"):page.index("</svg>")]
    assert chart.index(">baseline</text>") < chart.index(">high</text>")


def test_sampling_keeps_series_short_and_exact_at_the_ends() -> None:
    assert sample_indices(400) == list(range(400))  # under two years: every day
    weekly = sample_indices(3650)
    assert weekly[:3] == [0, 7, 14] and weekly[-1] == 3649 and len(weekly) <= 600
    assert len(sample_indices(20 * 365)) <= 601
    assert sample_indices(0) == []
    assert step_indices([5, 5, 5, 9, 9, 4]) == [0, 3, 5]
    assert step_indices([1] * 10) == [0, 9]
