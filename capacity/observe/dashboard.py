"""A Grafana dashboard for the exporter's metrics, shipped with the package:
``python3 -m capacity.observe.dashboard > capacity-dashboard.json`` writes it out, to import
into Grafana (Dashboards, New, Import; docs/operations.md).

Its panels: capacity, used and free bytes per resource, the fill of each pool tier and host
tier against its watermark, the runways and next orders, the time left to order
(the runway to critical, buying nothing, less the lead time and the margin of the alert
``CapacityCriticalWithinLeadTime``) and the lead times, the tier runs (outcomes, bytes
moved, last run, duration, next scheduled run) and the refused expiries.  Every query asks
the Prometheus of the ``datasource`` variable, for the exporter's ``job`` (a variable of
the jobs that serve ``capacity_exporter_refresh_failing``).  The suite checks the JSON's
structure and evaluates every query against a real Prometheus scraping the exporter.
"""

from __future__ import annotations

import json
from typing import Any

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
JOB = 'job=~"$job"'
WIDTH = 24
"""Grafana's grid is 24 columns wide."""


def _sel(metric: str, *matchers: str) -> str:
    return f"{metric}{{{', '.join((JOB, *matchers))}}}"


PANELS: list[tuple[str, str, str, int, int, list[tuple[str, str]]]] = [
    # (title, type, unit, width, height, [(expr, legend)])
    ("Capacity per resource", "timeseries", "bytes", 8, 8,
     [(_sel("capacity_resource_capacity_bytes"), "{{resource}}")]),
    ("Used per resource", "timeseries", "bytes", 8, 8,
     [(_sel("capacity_resource_used_bytes"), "{{resource}}")]),
    ("Free per resource", "timeseries", "bytes", 8, 8,
     [(_sel("capacity_resource_free_bytes"), "{{resource}}")]),
    ("Fill per resource and its critical level", "timeseries", "percentunit", 8, 8,
     [(f"{_sel('capacity_resource_used_bytes')} / {_sel('capacity_resource_capacity_bytes')}",
       "{{resource}}"),
      (_sel("capacity_resource_threshold_ratio", 'level="critical"'),
       "{{resource}} critical")]),
    ("Pool tiers (HDT): used and capacity", "timeseries", "bytes", 8, 8,
     [(_sel("capacity_pool_tier_used_bytes"), "{{resource}} {{tier}} used"),
      (_sel("capacity_pool_tier_capacity_bytes"), "{{resource}} {{tier}} capacity")]),
    ("Host tiers: fill at the last run, and the high watermark", "timeseries", "percentunit",
     8, 8,
     [(_sel("capacity_tier_fill_ratio"), "{{host}} {{tier}} ({{policy}})"),
      (_sel("capacity_tier_high_watermark_ratio"), "{{host}} {{tier}} high ({{policy}})")]),
    ("Time left to each level, as planned", "bargauge", "s", 12, 8,
     [(_sel("capacity_runway_timestamp_seconds", 'purchases="planned"') + " - time()",
       "{{resource}} {{level}}")]),
    ("Time left to each level, buying nothing", "bargauge", "s", 12, 8,
     [(_sel("capacity_runway_timestamp_seconds", 'purchases="none"') + " - time()",
       "{{resource}} {{level}}")]),
    ("Time left to order: to critical buying nothing, less lead time and 30 days",
     "bargauge", "s", 12, 8,
     [(_sel("capacity_runway_timestamp_seconds", 'purchases="none"', 'level="critical"')
       + " - time() - on (resource) group_left min by (resource)"
       f" ({_sel('capacity_procurement_lead_time_seconds')}) - 30 * 86400",
       "{{resource}}")]),
    ("Procurement lead time per rule", "bargauge", "s", 12, 8,
     [(_sel("capacity_procurement_lead_time_seconds"), "{{resource}}: {{unit}} ({{rule}})")]),
    ("Next order per resource", "stat", "dateTimeAsIso", 12, 6,
     [(f"{_sel('capacity_next_order_timestamp_seconds')} * 1000",
       "{{resource}}: {{unit}} ({{rule}})")]),
    ("Capacity the next order adds", "stat", "bytes", 12, 6,
     [(_sel("capacity_next_order_capacity_bytes"), "{{resource}}: {{unit}}")]),
    ("Last tier run's outcome (journal)", "stat", "none", 8, 6,
     [(f"{_sel('capacity_tier_last_run_outcome')} == 1",
       "{{host}} {{policy}}: {{outcome}}")]),
    ("Tier runs by outcome, over the range", "stat", "none", 8, 6,
     [(f"increase({_sel('capacity_tier_runs_total')}[$__range])",
       "{{host}} {{policy}}: {{outcome}}")]),
    ("Bytes moved and expired", "timeseries", "Bps", 8, 6,
     [(f"rate({_sel('capacity_tier_moved_bytes_total')}[$__rate_interval])",
       "{{host}} {{policy}} {{action}}"),
      (f"rate({_sel('capacity_tier_expired_bytes_total')}[$__rate_interval])",
       "{{host}} {{policy}} expired")]),
    ("Last tier run began", "stat", "dateTimeAsIso", 8, 6,
     [(f"{_sel('capacity_tier_runs_last_start_timestamp_seconds')} * 1000",
       "{{host}} {{policy}} (tier run)"),
      (f"{_sel('capacity_tier_last_run_start_timestamp_seconds')} * 1000",
       "{{host}} {{policy}} (journal)")]),
    ("Last tier run's duration (journal)", "stat", "s", 8, 6,
     [(_sel("capacity_tier_last_run_duration_seconds"), "{{host}} {{policy}}")]),
    ("Next scheduled tier run", "stat", "dateTimeAsIso", 8, 6,
     [(f"{_sel('capacity_tier_schedule_next_timestamp_seconds')} * 1000",
       "{{host}} {{policy}}")]),
    ("Expiries refused, over the range", "stat", "none", 12, 6,
     [(f"increase({_sel('capacity_tier_refused_total')}[$__range])",
       "{{host}} {{policy}}: {{reason}}")]),
    ("Age of the exporter's figures", "stat", "s", 12, 6,
     [(f"time() - {_sel('capacity_exporter_refresh_timestamp_seconds')}", "{{source}}")]),
]


def dashboard() -> dict[str, Any]:
    """The dashboard as Grafana's JSON model: panels laid out left to right, top to
    bottom, on its 24-column grid."""
    panels, x, y, row_height = [], 0, 0, 0
    for number, (title, kind, unit, width, height, targets) in enumerate(PANELS, start=1):
        if x + width > WIDTH:
            x, y, row_height = 0, y + row_height, 0
        panels.append({
            "id": number, "type": kind, "title": title, "datasource": DATASOURCE,
            "gridPos": {"x": x, "y": y, "w": width, "h": height},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {"reduceOptions": {"calcs": ["lastNotNull"]}} if kind != "timeseries"
            else {"legend": {"displayMode": "list", "placement": "bottom"}},
            "targets": [{"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr,
                         "legendFormat": legend, "instant": kind != "timeseries",
                         "range": kind == "timeseries"}
                        for i, (expr, legend) in enumerate(targets)],
        })
        x, row_height = x + width, max(row_height, height)
    return {
        "uid": "capacity-pacs", "title": "capacity: PACS estate and tier runs",
        "tags": ["capacity", "prometheus"], "timezone": "browser", "editable": True,
        "schemaVersion": 39, "version": 1, "refresh": "1m",
        "time": {"from": "now-7d", "to": "now"},
        "templating": {"list": [
            {"name": "datasource", "label": "Prometheus", "type": "datasource",
             "query": "prometheus", "current": {}, "hide": 0},
            {"name": "job", "label": "Job", "type": "query", "datasource": DATASOURCE,
             "query": {"query": "label_values(capacity_exporter_refresh_failing, job)",
                       "refId": "job"},
             "definition": "label_values(capacity_exporter_refresh_failing, job)",
             "refresh": 1, "includeAll": True, "multi": True, "allValue": ".+",
             "current": {}, "hide": 0},
        ]},
        "panels": panels,
    }


def main() -> None:
    print(json.dumps(dashboard(), indent=2))


if __name__ == "__main__":
    main()
