"""The Grafana dashboard of capacity/observe/dashboard.py: valid JSON as ``python3 -m
capacity.observe.dashboard`` writes it, in Grafana's shape (each panel with a title, the
Prometheus datasource variable, targets with queries, a Grafana unit; ids unique, no two
panels overlapping on the 24-column grid), naming only metrics the exporter serves; and
every panel's every query, Grafana's variables given values, evaluated by a real Prometheus
scraping the exporter (its HTTP API), returns data for an estate, journal, runs ledger and
audit log where that data exists."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from capacity.observe.dashboard import dashboard
from tests.observe.estate import TIERED, write_inventory, write_tiered_state
from tests.observe.scrape import samples
from tests.observe.test_tier_metrics import write_journal
from tests.prometheus import PrometheusServer, exporter
from tests.volumes.lab import write_lab

UNITS = {"bytes", "percentunit", "s", "dateTimeAsIso", "none", "Bps"}
"""Grafana unit ids the panels may use."""


def shipped() -> dict[str, Any]:
    """As an operator writes it out."""
    run = subprocess.run([sys.executable, "-m", "capacity.observe.dashboard"],
                         capture_output=True, text=True, check=True, timeout=60)
    data = json.loads(run.stdout)
    assert data == dashboard()
    return data  # type: ignore[no-any-return]


def queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in board["panels"] for t in p["targets"]]


def test_the_dashboard_is_grafana_json(tmp_path: Path) -> None:
    board = shipped()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["job"]["datasource"]["uid"] == "${datasource}"
    panels = board["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    assert len({p["title"] for p in panels}) == len(panels)
    cells: dict[tuple[int, int], str] = {}
    for p in panels:
        assert p["title"] and p["type"] in {"timeseries", "stat", "bargauge"}
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert p["fieldConfig"]["defaults"]["unit"] in UNITS, p["title"]
        assert p["targets"], p["title"]
        assert len({t["refId"] for t in p["targets"]}) == len(p["targets"])
        for t in p["targets"]:
            assert t["expr"] and t["datasource"] == p["datasource"]
            assert 'job=~"$job"' in t["expr"], t["expr"]
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24 and g["w"] > 0 and g["h"] > 0
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = p["title"]


def substituted(expr: str, job: str) -> str:
    """As Grafana sends it: the job variable and the range variables given values."""
    return (expr.replace("$job", job).replace("$__rate_interval", "1m")
            .replace("$__range", "1h"))


def test_every_panel_query_returns_data(tmp_path: Path, prometheus: PrometheusServer) -> None:
    state = tmp_path / "state"
    write_journal(state / "journal.sqlite")
    write_tiered_state(state, time.time())
    lab = tmp_path / "lab"
    lab.mkdir()
    job = f"capacity-dash-{tmp_path.name}"
    board = shipped()
    with exporter([str(write_inventory(tmp_path, TIERED)), "--state", str(state)],
                  tmp_path) as tiered, exporter([str(write_lab(lab))], lab) as pools:
        served = {name for running in (tiered, pools)
                  for name, _ in samples(running.scrape())}
        named = {m for _, expr in queries(board)
                 for m in re.findall(r"\bcapacity_[a-z_]+", expr)}
        assert named <= served, named - served
        # one job, two targets: the estate with hosts and a journal, and the HDT lab
        targets = prometheus.root / "targets" / f"{job}.json"
        targets.with_suffix(".tmp").write_text(json.dumps(
            [{"targets": [tiered.address, pools.address], "labels": {"job": job}}]))
        targets.with_suffix(".tmp").rename(targets)
        prometheus.wait_for(f'count(up{{job="{job}"}} == 1) == 2')
        # a few scrapes, so rates and increases have two samples
        prometheus.wait_for(f'count_over_time(up{{job="{job}"}}[1m]) >= 3')
        for title, expr in queries(board):
            result = prometheus.wait_for(substituted(expr, job), timeout=30)
            assert result, (title, expr)
            assert all(r["labels"].get("job", job) == job for r in result), (title, result)
