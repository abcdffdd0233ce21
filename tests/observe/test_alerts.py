"""The alert rules shipped in capacity/observe/alerts.py: valid (``promtool check rules``),
firing when and only when they should over series shaped as the exporter serves them
(``promtool test rules``: time() is the evaluation time, from 0), and naming only metrics
the exporter serves."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from capacity.observe.alerts import RULES
from tests.observe.estate import TIERED, write_inventory, write_tiered_state
from tests.observe.scrape import samples
from tests.observe.test_tier_metrics import write_journal
from tests.prometheus import exporter, promtool

DAY = 86400


def rules_file(folder: Path) -> Path:
    """As an operator writes it: ``python3 -m capacity.observe.alerts > FILE``."""
    path = folder / "capacity-rules.yml"
    run = subprocess.run([sys.executable, "-m", "capacity.observe.alerts"],
                         capture_output=True, text=True, check=True, timeout=60)
    path.write_text(run.stdout, encoding="utf-8")
    assert run.stdout == RULES
    return path


def test_the_rules_are_valid(tmp_path: Path, promtool_installed: None) -> None:
    checked = promtool("check", "rules", str(rules_file(tmp_path)))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 11 rules found" in checked.stdout


def series(name: str, values: str, **labels: str) -> dict[str, str]:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


def alert(labels: dict[str, str], summary: str, description: str) -> dict[str, Any]:
    return {"exp_labels": labels, "exp_annotations": {"summary": summary,
                                                      "description": description}}


FULL_SOON = ("capacity simulate --no-procurement: decide on the orders of the procurement plan"
             " (capacity simulate) before then.")
CRITICAL = ("Its shortest procurement lead time and a 30-day margin are longer than its"
            " runway: order now (capacity simulate shows the order), and keep the inventory"
            " current once the capacity is in service.")
ORDER = "The simulation places this order then; a negative time is overdue."
PLAN = ("Some data does not fit, or an order cannot be placed: capacity simulate says from"
        " when and why.")
TIER = "A unit failed or was kept in both places: capacity tier status lists them."
RUN_ERROR = ("failed (exit 1): a step failed, a host not reached at its scan included,"
             " before any unit was taken; refused (exit 2): bad input (the inventory, a stale"
             " plan). The run's output says which (journalctl -u 'capacity-tier-*').")
MARGIN = 30 * DAY
"""The margin of CapacityCriticalWithinLeadTime over the lead time."""
REFRESH = "Its figures are from the last refresh that worked; its log says why."


def rule_tests() -> dict[str, Any]:
    runway = "capacity_runway_timestamp_seconds"
    inputs = [
        # full in 100 days (from t=0) if nothing is bought; in a year; never
        series(runway, f"{100 * DAY}x120", resource="hci", level="full", purchases="none"),
        series(runway, f"{365 * DAY}x120", resource="big", level="full", purchases="none"),
        series(runway, "+Inf+0x120", resource="archive", level="full", purchases="none"),
        # critical, buying nothing, against the lead time (28 days) and the margin (30): a
        # second before them (from t=0, so earlier still at 61m: fires); a second after them
        # at 61m (does not); a resource with no procurement rule (hci: no lead time, does
        # not); one whose shortest of two lead times leaves room (does not); the same levels
        # as planned, and one beyond the horizon, are not this rule's
        series(runway, f"{28 * DAY + MARGIN - 1}x120", resource="soon", level="critical",
               purchases="none"),
        series(runway, f"{28 * DAY + MARGIN + 61 * 60 + 1}x120", resource="later",
               level="critical", purchases="none"),
        series(runway, f"{30 * DAY}x120", resource="hci", level="critical",
               purchases="none"),
        series(runway, f"{70 * DAY}x120", resource="two", level="critical", purchases="none"),
        series(runway, f"{DAY}x120", resource="soon", level="critical", purchases="planned"),
        series(runway, f"{30 * DAY}x120", resource="hci", level="critical",
               purchases="planned"),
        series(runway, "+Inf+0x120", resource="archive", level="critical", purchases="none"),
        *(series("capacity_procurement_lead_time_seconds", f"{days * DAY}x120",
                 resource=resource, rule=rule, unit=unit)
          for resource, rule, unit, days in (
              ("soon", "soon-raw", "raw", 28), ("later", "later-nodes", "node", 28),
              ("archive", "archive-raw", "raw", 28), ("two", "two-groups", "parity-group", 90),
              ("two", "two-bigger", "parity-group", 28))),
        series("capacity_next_order_timestamp_seconds", f"{10 * DAY}x120",
               resource="archive", rule="archive-raw", unit="raw"),
        series("capacity_next_order_timestamp_seconds", f"{20 * DAY}x120",
               resource="g900-main", rule="g900-main-box", unit="drive-box"),
        series("capacity_simulation_plan_holds", "0x120"),
        series("capacity_resource_used_bytes", "95x120", resource="hci", kind="cluster",
               site="main"),
        series("capacity_resource_capacity_bytes", "100x120", resource="hci", kind="cluster",
               site="main"),
        series("capacity_resource_used_bytes", "50x120", resource="archive",
               kind="object_store", site="main"),
        series("capacity_resource_capacity_bytes", "100x120", resource="archive",
               kind="object_store", site="main"),
        *(series("capacity_resource_threshold_ratio", f"{ratio}x120", resource=r, level=lv)
          for r in ("hci", "archive") for lv, ratio in (("warning", 0.8), ("critical", 0.9))),
        series("capacity_tier_last_run_outcome", "1x120", host="pacs1", policy="archive",
               outcome="failed"),
        series("capacity_tier_last_run_outcome", "0x120", host="pacs1", policy="life",
               outcome="failed"),
        series("capacity_tier_last_run_outcome", "1x120", host="pacs1", policy="life",
               outcome="ok"),
        # runs of capacity tier run: a failure at 30m (the scan did not reach the host),
        # a refusal at 50m on another host, runs that went well; each counted from 0
        series("capacity_tier_runs_total", "0x30 1x90", policy="life", host="pacs1",
               outcome="failed"),
        series("capacity_tier_runs_total", "0+1x120", policy="life", host="pacs1",
               outcome="ok"),
        series("capacity_tier_runs_total", "0x50 1x70", policy="life", host="pacs2",
               outcome="refused"),
        series("capacity_tier_runs_total", "0x120", policy="life", host="pacs2",
               outcome="failed"),
        series("capacity_exporter_refresh_failing", "1x120", source="inventory"),
        series("capacity_exporter_refresh_failing", "0x120", source="journal"),
    ]
    at_61m = 61 * 60
    hci_full = alert({"severity": "warning", "resource": "hci", "level": "full",
                      "purchases": "none"},
                     f"hci is full in {duration(100 * DAY - at_61m)} if nothing is bought",
                     FULL_SOON)
    soon_critical = alert({"severity": "critical", "resource": "soon", "level": "critical",
                           "purchases": "none"},
                          "soon reaches its critical level in"
                          f" {duration(28 * DAY + MARGIN - 1 - at_61m)} if nothing is bought:"
                          " sooner than an order can be in service, with 30 days to place it",
                          CRITICAL)
    order = alert({"severity": "warning", "resource": "archive", "rule": "archive-raw",
                   "unit": "raw"},
                  f"order raw for archive (archive-raw): due in {duration(10 * DAY - 60)}",
                  ORDER)
    checks = [
        (30 * 60, "CapacityFullWithoutOrders", []),  # pending: for 1h
        (at_61m, "CapacityFullWithoutOrders", [hci_full]),
        (30 * 60, "CapacityCriticalWithinLeadTime", []),  # pending: for 1h
        (at_61m, "CapacityCriticalWithinLeadTime", [soon_critical]),
        (60, "CapacityOrderDue", [order]),
        (30 * 60, "CapacityPlanFails", []),
        (at_61m, "CapacityPlanFails", [alert({"severity": "critical"},
                                             "the capacity plan does not hold", PLAN)]),
        (60, "CapacityAboveCritical", [alert(
            {"severity": "critical", "resource": "hci", "kind": "cluster", "site": "main"},
            "hci is 95% full, at or above its critical level", "As the inventory stands"
            " (capacity show).")]),
        (60, "CapacityTierRunFailed", [alert(
            {"severity": "warning", "host": "pacs1", "policy": "archive", "outcome": "failed"},
            "the last tier run of archive on pacs1 failed", TIER)]),
        (20 * 60, "CapacityTierRunEndedInError", []),
        (at_61m, "CapacityTierRunEndedInError", [
            alert({"severity": "warning", "policy": "life", "host": host, "outcome": outcome},
                  f"capacity tier run of life on {host} ended {outcome}", RUN_ERROR)
            for host, outcome in (("pacs1", "failed"), ("pacs2", "refused"))]),
        (95 * 60, "CapacityTierRunEndedInError", [
            alert({"severity": "warning", "policy": "life", "host": "pacs2",
                   "outcome": "refused"},
                  "capacity tier run of life on pacs2 ended refused", RUN_ERROR)]),
        (115 * 60, "CapacityTierRunEndedInError", []),  # an hour after each: resolved
        (10 * 60, "CapacityExporterRefreshFailing", []),
        (16 * 60, "CapacityExporterRefreshFailing", [alert(
            {"severity": "warning", "source": "inventory"},
            "the capacity exporter cannot read its inventory", REFRESH)]),
    ]
    return {"rule_files": ["capacity-rules.yml"], "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": inputs, "alert_rule_test": [
                {"eval_time": f"{at}s", "alertname": name, "exp_alerts": alerts}
                for at, name, alerts in checks], "promql_expr_test": [
                # the levels beyond the horizon are there, as +Inf, and fire nothing
                {"expr": f"count({runway} == +Inf)", "eval_time": f"{at_61m}s",
                 "exp_samples": [{"labels": "{}", "value": 2}]}]}]}


def duration(seconds: int) -> str:
    """Prometheus's humanizeDuration of whole seconds of a day or more."""
    days, rest = divmod(seconds, DAY)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days}d {hours}h {minutes}m {secs}s"


def test_the_rules_fire_when_they_should(tmp_path: Path, promtool_installed: None) -> None:
    rules_file(tmp_path)
    tests = tmp_path / "capacity-rules.test.yml"
    tests.write_text(yaml.safe_dump(rule_tests(), sort_keys=False), encoding="utf-8")
    run = promtool("test", "rules", str(tests))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


def test_the_rules_name_only_what_the_exporter_serves(tmp_path: Path) -> None:
    state = tmp_path / "state"
    write_journal(state / "journal.sqlite")
    write_tiered_state(state, time.time())
    with exporter([str(write_inventory(tmp_path, TIERED)), "--state", str(state)],
                  tmp_path) as running:
        served = {name for name, _ in samples(running.scrape())}
    groups = yaml.safe_load(RULES)["groups"]
    named = {m for g in groups for r in g["rules"]
             for m in re.findall(r"\bcapacity_[a-z_]+", r["expr"])}
    assert len(named) == 17
    assert named <= served, named - served
