"""A real Prometheus (Debian's package, started by the ``prometheus`` fixture on loopback)
scrapes the exporter; the test reads the values back through Prometheus's HTTP API, as a
dashboard or an alert would: the estate's bytes as worked out by hand, the runways as
``capacity simulate --format json`` has them, the tier runs as the journal has them."""

from __future__ import annotations

import math
from pathlib import Path

from capacity.tiering import journal as J
from tests.observe.estate import CAPACITY, USED, write_inventory
from tests.observe.test_exporter import DAY, simulate_json
from tests.observe.test_tier_metrics import T1, UNITS, write_journal
from tests.prometheus import PrometheusServer, exporter
from tests.sshd import SshServer


def by(result: list[dict], *keys: str) -> dict[tuple[str, ...], float]:  # type: ignore[type-arg]
    return {tuple(r["labels"].get(k, "") for k in keys): r["value"] for r in result}


def test_prometheus_scrapes_the_exporter(tmp_path: Path, prometheus: PrometheusServer) -> None:
    inventory = write_inventory(tmp_path)
    expected = simulate_json(inventory)
    state = tmp_path / "state"
    write_journal(state / "journal.sqlite")
    job = f"capacity-{tmp_path.name}"
    with exporter([str(inventory), "--state", str(state)], tmp_path) as running:
        prometheus.scrape(job, running.address)
        up = prometheus.wait_for(f'up{{job="{job}"}} == 1')
        assert up[0]["labels"]["instance"] == running.address
        sel = f'job="{job}"'
        prometheus.wait_for(f"capacity_resource_capacity_bytes{{{sel}}}")

        capacity = by(prometheus.query(f"capacity_resource_capacity_bytes{{{sel}}}"),
                      "resource")
        used = by(prometheus.query(f"capacity_resource_used_bytes{{{sel}}}"), "resource")
        free = by(prometheus.query(f"capacity_resource_free_bytes{{{sel}}}"), "resource")
        assert capacity == {(r,): float(v) for r, v in CAPACITY.items()}
        assert used == {(r,): float(v) for r, v in USED.items()}
        assert free == {(r,): float(CAPACITY[r] - USED[r]) for r in CAPACITY}

        runways = by(prometheus.query(f"capacity_runway_seconds{{{sel}}}"), "resource",
                     "level", "purchases")
        want = {(r["resource"], r["level"], purchases): (
                    math.inf if r["beyond_horizon"] else float(r["days_from_start"] * DAY))
                for purchases, key in (("planned", "runways"), ("none", "runways_unbought"))
                for r in expected[key]}
        assert runways == want
        # As an alert would ask: what runs out within a year if nothing is bought?
        soon = prometheus.query(f'capacity_runway_seconds{{{sel},purchases="none",'
                                f'level="full"}} < 365 * 86400')
        assert {r["labels"]["resource"] for r in soon} == {
            r["resource"] for r in expected["runways_unbought"]
            if r["level"] == "full" and not r["beyond_horizon"]
            and r["days_from_start"] < 365}

        done = by(prometheus.query(f'sum by (host, policy) (capacity_tier_units{{{sel},'
                                   f'state="done"}})'), "host", "policy")
        assert done == {("pacs1", "life"): 4.0, ("pacs1", "archive"): 1.0,
                        ("pacs2", "life"): 1.0, ("pacs1", ""): 1.0}
        assert sum(done.values()) == len([u for u in UNITS if u[5] == J.DONE])
        failed = prometheus.query(f'capacity_tier_last_run_outcome{{{sel},outcome="failed"}}'
                                  " == 1")
        assert [(r["labels"]["host"], r["labels"]["policy"]) for r in failed] == [
            ("pacs1", "archive")]
        start = by(prometheus.query(
            f"capacity_tier_last_run_start_timestamp_seconds{{{sel}}}"), "host", "policy")
        assert start[("pacs1", "life")] == T1


def test_prometheus_evaluates_the_alert_rules_over_the_exporter(
        tmp_path: Path, prometheus: PrometheusServer) -> None:
    """The rules that depend on no date: the journal's failed run fires at once; the plan
    that fails (the test estate's cluster fills) waits its hour, pending."""
    inventory = write_inventory(tmp_path)
    assert simulate_json(inventory)["verdict"]["holds"] is False
    state = tmp_path / "state"
    write_journal(state / "journal.sqlite")
    job = f"capacity-{tmp_path.name}"
    with exporter([str(inventory), "--state", str(state)], tmp_path) as running:
        prometheus.scrape(job, running.address)
        firing = prometheus.wait_for(
            f'ALERTS{{job="{job}",alertname="CapacityTierRunFailed",alertstate="firing"}}')
        assert [(a["labels"]["host"], a["labels"]["policy"]) for a in firing] == [
            ("pacs1", "archive")]
        pending = prometheus.wait_for(
            f'ALERTS{{job="{job}",alertname="CapacityPlanFails"}}')
        assert [a["labels"]["alertstate"] for a in pending] == ["pending"]
        assert not prometheus.query(f'ALERTS{{job="{job}",alertname="CapacityAboveCritical"}}')
        assert not prometheus.query(
            f'ALERTS{{job="{job}",alertname="CapacityExporterRefreshFailing"}}')


def test_a_tier_run_that_fails_before_any_unit_fires_its_alert(
        tmp_path: Path, prometheus: PrometheusServer, sshd: SshServer) -> None:
    """``capacity tier run`` whose scan cannot reach the host journals no unit, so the
    journal's rule (CapacityTierRunFailed) cannot see it; its runs ledger counts it, and
    CapacityTierRunEndedInError fires over the exporter's ``capacity_tier_runs_total``."""
    from tests.schedule.test_tier_run import MOVE_ONLY, run
    from tests.tiering.pacs_tree import inventory_file, make_roots

    inventory = inventory_file(tmp_path, sshd, make_roots(tmp_path), MOVE_ONLY,
                               host={"port": 1})  # nothing listens there
    state = tmp_path / "state"
    job = f"capacity-runs-{tmp_path.name}"
    with exporter([str(inventory), "--state", str(state), "--journal-refresh", "1"],
                  tmp_path) as running:
        prometheus.scrape(job, running.address)
        sel = f'job="{job}",policy="life",host="pacs1"'
        prometheus.wait_for(f'capacity_tier_runs_total{{{sel},outcome="failed"}} == 0')
        failed = run("tier", "run", str(inventory), "--policy", "life", "--state",
                     str(state), cwd=tmp_path)
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "scan: failed on pacs1" in failed.stdout
        firing = prometheus.wait_for(f'ALERTS{{job="{job}",alertstate="firing",'
                                     'alertname="CapacityTierRunEndedInError"}')
        assert [(a["labels"]["policy"], a["labels"]["host"], a["labels"]["outcome"])
                for a in firing] == [("life", "pacs1", "failed")]
        assert not prometheus.query(f'capacity_tier_last_run_outcome{{job="{job}"}}')
        assert not prometheus.query(
            f'ALERTS{{job="{job}",alertname="CapacityTierRunFailed"}}')
