"""The rules on the tier runs' schedule, the tiers' watermarks and the refused expiries
(capacity/observe/alerts.py), through ``promtool test rules``: time() is the evaluation
time, from 0; each series is shaped as the exporter serves it (docs/operations.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.observe.test_alerts import alert, rules_file, series
from tests.prometheus import promtool

HOUR = 3600
MISSED = ("No capacity tier run began since then, and none was going on: is its timer"
          " enabled (systemctl list-timers 'capacity-tier-*'), was the machine off?")
ABOVE = ("Its runs do not bring it down: their caps, windows, bandwidth or failures hold"
         " them back, or nothing on it is old enough (capacity tier plan says why).")
REFUSED = ("A planned deletion met a hold, the retention or the archive's Object Lock at"
           " apply time, and nothing was deleted: the audit log's refused lines say which"
           " unit and why.")


def schedule_series() -> list[dict[str, str]]:
    """Policy ``life`` runs hourly (from 0: at 0, 3600, 7200 ...) on four hosts:

    - ``ontime`` ran at 0+10s, 3600+10s and 7200+10s;
    - ``missed`` ran at 0+10s, and not at 3600;
    - ``long`` began at 10s and is still going (no end): it covers the run at 3600
      (systemd does not start a service that is still running), not the one at 7200;
    - ``across`` began at 10s and ended at 3700: it was going on at 3600, and none began
      at 7200.
    """
    out = []
    for host in ("ontime", "missed", "long", "across"):
        labels = {"policy": "life", "host": host}
        out += [series("capacity_tier_schedule_interval_seconds", "3600x140", **labels),
                series("capacity_tier_schedule_last_timestamp_seconds",
                       "0x59 3600x59 7200x20", **labels)]
    start, end = "capacity_tier_runs_last_start_timestamp_seconds", (
        "capacity_tier_runs_last_end_timestamp_seconds")
    out += [series(start, "10x60 3610x59 7210x19", policy="life", host="ontime"),
            series(end, "300x60 3900x59 7500x19", policy="life", host="ontime"),
            series(start, "10x140", policy="life", host="missed"),
            series(end, "300x140", policy="life", host="missed"),
            series(start, "10x140", policy="life", host="long"),
            series(start, "10x140", policy="life", host="across"),
            series(end, "200x60 3700x79", policy="life", host="across")]
    return out


def watermark_series() -> list[dict[str, str]]:
    """Policy ``life``, hourly, measured by its runs at 0 and 3600 (their start):

    - ``hot`` on ``pacs1``: above at both, since 0;
    - ``cool`` on ``pacs2``: above at 0, its next run not measured yet (the scan goes on);
    - ``warm`` on ``pacs3``: above at 0, at or below at 3600 (no since any more).
    """
    since = "capacity_tier_above_high_watermark_since_timestamp_seconds"
    measured = "capacity_tier_fill_timestamp_seconds"
    out = [series("capacity_tier_schedule_interval_seconds", "3600x140", policy="life",
                  host=h) for h in ("pacs1", "pacs2", "pacs3")]
    out += [series(since, "0x140", policy="life", host="pacs1", tier="hot"),
            series(measured, "0x59 3600x80", policy="life", host="pacs1", tier="hot"),
            series(since, "0x140", policy="life", host="pacs2", tier="cool"),
            series(measured, "0x140", policy="life", host="pacs2", tier="cool"),
            series(since, "0x59 stale", policy="life", host="pacs3", tier="warm"),
            series(measured, "0x59 3600x80", policy="life", host="pacs3", tier="warm")]
    return out


def refusal_series() -> list[dict[str, str]]:
    """A hold refused an expiry on pacs1 at 10 minutes; nothing else was refused."""
    refused = "capacity_tier_refused_total"
    return [series(refused, "0x10 1x130", policy="life", host="pacs1", reason="hold"),
            series(refused, "0x140", policy="life", host="pacs1", reason="retention"),
            series(refused, "0x140", policy="life", host="pacs2", reason="hold")]


def rule_tests() -> dict[str, Any]:
    def missed(host: str, ago: str) -> dict[str, Any]:
        return alert({"severity": "warning", "policy": "life", "host": host},
                     f"life did not run on {host} when scheduled, {ago} ago", MISSED)

    hot = alert({"severity": "warning", "policy": "life", "host": "pacs1", "tier": "hot"},
                "tier hot of pacs1 has been above the high watermark of life for 1h 1m 0s",
                ABOVE)
    refused = alert({"severity": "warning", "policy": "life", "host": "pacs1",
                     "reason": "hold"}, "life on pacs1: an expiry was refused (hold)", REFUSED)
    checks = [
        # 10 minutes after the run due at 3600: within the grace of 15 minutes
        (HOUR + 600, "CapacityTierRunMissed", []),
        # 17 minutes after: only the host whose run did not start, and none was going on
        (HOUR + 1020, "CapacityTierRunMissed", [missed("missed", "17m 0s")]),
        # 17 minutes after the run due at 7200: a run going on covers one scheduled run,
        # not two
        (2 * HOUR + 1020, "CapacityTierRunMissed", [missed("across", "17m 0s"),
                                                     missed("long", "17m 0s"),
                                                     missed("missed", "17m 0s")]),
        # above for 50 minutes: less than the interval
        (50 * 60, "CapacityTierAboveHighWatermark", []),
        # above for 61 minutes, at two runs' measurements: fires; the tier whose second
        # measurement is not in does not, nor the one that came down
        (61 * 60, "CapacityTierAboveHighWatermark", [hot]),
        (5 * 60, "CapacityTierExpiryRefused", []),
        (20 * 60, "CapacityTierExpiryRefused", [refused]),
        # an hour after the refusal: no more
        (75 * 60, "CapacityTierExpiryRefused", []),
    ]
    return {"rule_files": ["capacity-rules.yml"], "evaluation_interval": "1m",
            "tests": [{"interval": "1m",
                       "input_series": [*schedule_series(), *watermark_series(),
                                        *refusal_series()],
                       "alert_rule_test": [
                           {"eval_time": f"{at}s", "alertname": name, "exp_alerts": alerts}
                           for at, name, alerts in checks]}]}


def test_the_schedule_rules_fire_when_they_should(tmp_path: Path,
                                                  promtool_installed: None) -> None:
    rules_file(tmp_path)
    tests = tmp_path / "capacity-rules.test.yml"
    tests.write_text(yaml.safe_dump(rule_tests(), sort_keys=False), encoding="utf-8")
    run = promtool("test", "rules", str(tests))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout
