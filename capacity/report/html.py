"""Self-contained HTML reports: one file that opens offline, with inline CSS and inline SVG.

Nothing is fetched (no script, stylesheet, font or image URL) and nothing varies between
runs (no timestamp), so a report can be archived, mailed and diffed.  Every piece of text
from the model goes through ``html.escape``.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from capacity.report.charts import compute_chart, resource_chart, site_chart
from capacity.report.compare_charts import compare_chart, compare_compute_chart
from capacity.report.grid import Cell, Grid
from capacity.report.simulation import (
    compare_grid,
    compare_summary,
    ordered_names,
    summary,
    summary_grids,
    verdict_line,
)
from capacity.sim.results import SimResult

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
       color: #212121; max-width: 72rem; margin: 1.5rem auto; padding: 0 1rem; }
h1 { font-size: 1.4rem; margin-bottom: .2rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
h3 { font-size: .95rem; margin: 1.2rem 0 .3rem; }
.note, .dim { color: #757575; }
.note { font-size: .85rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: .85rem; margin: .3rem 0 1rem; }
th, td { padding: .2rem .6rem; border-bottom: 1px solid #eee; text-align: right;
         white-space: nowrap; }
th { background: #f5f5f5; }
.l { text-align: left; }
.warn { color: #8a5a00; background: #fff4d6; }
.crit { color: #b71c1c; background: #fde8e8; font-weight: 600; }
.bold { font-weight: 600; }
figure { margin: .8rem 0; }
figure svg { max-width: 100%; height: auto; }
""".strip()


def _cell(tag: str, cell: Cell, left: bool) -> str:
    classes = " ".join(c for c in ("l" if left else "", cell.tone) if c)
    attr = f' class="{classes}"' if classes else ""
    return f"<{tag}{attr}>{escape(cell.text)}</{tag}>"


def _verdict(cell: Cell) -> str:
    """Whether the plan holds, above everything else."""
    return f'<p class="{cell.tone or "bold"}" id="verdict">{escape(cell.text)}</p>'


def table(grid: Grid) -> str:
    """A ``Grid`` as an HTML table under an ``h3``; its ``empty`` text when it has no rows."""
    title = f"<h3>{escape(grid.title)}</h3>"
    if not grid.rows:
        return f'{title}\n<p class="note">{escape(grid.empty)}</p>'
    head = "".join(_cell("th", Cell(c), i < grid.left) for i, c in enumerate(grid.columns))
    body = "\n".join(
        "<tr>" + "".join(_cell("td", c, i < grid.left) for i, c in enumerate(row)) + "</tr>"
        for row in grid.rows)
    return (f'{title}\n<div class="scroll"><table>\n<thead><tr>{head}</tr></thead>\n'
            f"<tbody>\n{body}\n</tbody></table></div>")


def _figures(charts: Iterable[tuple[str, str | None]], nothing: str) -> str:
    """Each chart in a ``figure``; what had nothing to draw is named once, in words, after
    them (``nothing`` says why), rather than shown as an empty frame."""
    drawn, empty = [], []
    for name, svg in charts:
        if svg is None:
            empty.append(name)
        else:
            drawn.append(f'<figure class="chart">\n{svg}</figure>')
    if empty:
        drawn.append(f'<p class="note">Not drawn, {escape(nothing)}: '
                     f"{escape(', '.join(empty))}.</p>")
    return "\n".join(drawn)


def page(title: str, parts: Iterable[str]) -> str:
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(title)}</title>\n<style>\n{CSS}\n</style>\n</head>\n<body>\n"
            f"<h1>{escape(title)}</h1>\n{body}\n</body>\n</html>\n")


UNITS_NOTE = ('<p class="note">Storage in decimal units as vendors quote it (1 TB = 10<sup>12'
              "</sup> bytes), RAM in binary units (1 TiB = 2<sup>40</sup> bytes). A runway"
              " date is the first day a resource reaches the level; coloured when within a"
              " year.</p>")


def _levels(result: SimResult, cluster: str) -> list[tuple[str, float]]:
    """A cluster's warning and critical levels, from its storage series (one set of
    thresholds per resource)."""
    s = result.resources.get(cluster)
    return [("critical", s.critical), ("warning", s.warning)] if s is not None else []


def render_report(result: SimResult) -> str:
    """The report of one run: parameters, tables, then a chart per resource, cluster, site."""
    s = summary(result)
    params = Grid("Run", ["parameter", "value"], [[Cell(k), Cell(v)] for k, v in (
        ("inventory", s["inventory"]), ("scenarios", ", ".join(s["scenarios"]) or "none"),
        ("seed", str(s["seed"])), ("start", s["start"]), ("end", s["end"]),
        ("days", str(s["days"])), ("currency", s["currency"]))], left=2)
    sites = sorted(set(result.sites_start) | set(result.sites_end))
    return page(f"Capacity simulation: {result.inventory}", [
        UNITS_NOTE, _verdict(verdict_line(s)), table(params),
        "<h2>Runway and plan</h2>", *(table(g) for g in summary_grids(s)),
        "<h2>Storage: used against capacity</h2>",
        _figures(((ref, resource_chart(result.resources[ref], result.start, result.orders))
                  for ref in sorted(result.resources)), "no capacity and no data"),
        *(["<h2>Compute: demand against usable</h2>", _figures(
            ((name, compute_chart(result.compute[name], result.start, result.orders,
                                  _levels(result, name)))
             for name in sorted(result.compute)), "no compute given or asked")]
          if result.compute else []),
        *(["<h2>Sites: rack units and power</h2>", _figures(
            ((name, site_chart(name, result.sites_start.get(name),
                               result.sites_end.get(name) or result.sites_start[name]))
             for name in sites), "no equipment and no budget")] if sites else []),
    ])


def render_compare(results: dict[str, SimResult]) -> str:
    """Runs side by side, baseline first, and one overlay chart per resource and cluster."""
    names = ordered_names(results)
    c = compare_summary(results)
    runs = Grid("Runs", ["run", "inventory", "scenarios", "seed", "start", "end"], [
        [Cell(r["name"]), Cell(r["inventory"]), Cell(", ".join(r["scenarios"]) or "none"),
         Cell(str(r["seed"])), Cell(r["start"]), Cell(r["end"])] for r in c["runs"]], left=4,
        empty="no runs")
    refs = sorted({ref for result in results.values() for ref in result.resources})
    clusters = sorted({name for result in results.values() for name in result.compute})
    inventories = ", ".join(sorted({r.inventory for r in results.values()}))
    return page(f"Capacity scenarios compared: {inventories}" if inventories else
                "Capacity scenarios compared", [
        UNITS_NOTE, table(runs), table(compare_grid(c)),
        "<h2>Storage: used and capacity per scenario</h2>",
        _figures(((ref, compare_chart(ref, results, names)) for ref in refs),
                 "no capacity and no data in any run"),
        *(["<h2>Compute: demand and usable per scenario</h2>", _figures(
            ((name, compare_compute_chart(name, results, names)) for name in clusters),
            "no compute given or asked in any run")] if clusters else []),
    ])
