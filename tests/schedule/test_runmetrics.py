"""The metrics of a finished run: named as the Prometheus conventions and the exporter's
own names want (no clash with ``capacity_tier_last_run_*``), written whole into the
textfile collector's folder, and pushed to a Pushgateway (Debian's, on loopback, read back
as Prometheus would scrape it)."""

from __future__ import annotations

import json
import random
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from capacity.observe import metrics as exporter_metrics
from capacity.schedule import runmetrics
from capacity.schedule.runmetrics import HostFigures, RunFigures
from tests.prometheus import PUSHGATEWAY, Daemon, pushgateway
from tests.sshd import SshServer
from tests.tiering.pacs_tree import inventory_file, make_roots, make_study

RUN = RunFigures("life", 1_700_000_000.0, 1_700_000_090.5, 0, None, 4, 8000,
                 [HostFigures("pacs1", done=3, skipped=1, bytes=6000)])


def families(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found.setdefault(s.name, []).append((s.labels, s.value))
    return found


def test_the_names_follow_the_conventions_and_stay_clear_of_the_exporters() -> None:
    names = set(families(runmetrics.text(RUN)))
    assert all(n.startswith("capacity_tier_run_") for n in names)
    assert not any(n.endswith("_total") for n in names)  # gauges of the last run, all
    exporter = {f.name for f in exporter_metrics.journal_families([])}
    assert "capacity_tier_last_run_outcome" in exporter
    assert not any(e.startswith("capacity_tier_run_") for e in exporter)
    assert {"capacity_tier_run_duration_seconds", "capacity_tier_run_start_timestamp_seconds",
            "capacity_tier_run_done_bytes"} <= names
    assert "capacity_tier_run_last_success_timestamp_seconds" not in names  # none known
    found = families(runmetrics.text(RUN))
    assert found["capacity_tier_run_duration_seconds"] == [({"policy": "life"}, 90.5)]
    assert ({"policy": "life", "host": "pacs1", "state": "skipped"}, 1.0) in found[
        "capacity_tier_run_units"]


def test_the_textfile_is_written_whole_and_carries_the_last_success(tmp_path: Path) -> None:
    path = runmetrics.write_textfile(tmp_path, RUN)
    assert path.name == "capacity-tier-life.prom" and list(tmp_path.iterdir()) == [path]
    assert path.stat().st_mode & 0o777 == 0o644
    assert runmetrics.last_success(path, "life") is None  # none was given
    import dataclasses

    runmetrics.write_textfile(tmp_path, dataclasses.replace(RUN, last_success=RUN.end))
    assert runmetrics.last_success(path, "life") == RUN.end
    assert runmetrics.last_success(path, "other") is None
    (tmp_path / "damaged.prom").write_text("not { metrics", encoding="utf-8")
    assert runmetrics.last_success(tmp_path / "damaged.prom", "life") is None
    assert runmetrics.file_name("life", "pacs2") == "capacity-tier-life-pacs2.prom"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Daemon]:
    if shutil.which(PUSHGATEWAY) is None:
        pytest.fail(f"{PUSHGATEWAY} is not installed (scripts/test-all installs it)")
    with pushgateway(tmp_path) as running:
        yield running


def pushed(gateway: Daemon) -> dict[str, list[tuple[dict[str, str], float]]]:
    """What the Pushgateway serves to a scrape (its own push_time_seconds and
    push_failure_time_seconds aside)."""
    with urllib.request.urlopen(f"{gateway.url}/metrics", timeout=10) as answer:
        found = families(answer.read().decode("utf-8"))
    return {name: [(labels, value) for labels, value in samples
                   if labels.get("job") == "capacity_tier_run"]
            for name, samples in found.items() if name.startswith("capacity_")}


def test_a_success_replaces_the_group_and_a_failure_keeps_its_last_success(
        gateway: Daemon) -> None:
    import dataclasses

    group = {"instance": "", "job": "capacity_tier_run", "policy": "life", "run_on": "all"}
    runmetrics.push(gateway.url, dataclasses.replace(RUN, last_success=RUN.end))
    first = pushed(gateway)
    assert first["capacity_tier_run_last_success_timestamp_seconds"] == [(group, RUN.end)]
    assert ({**group, "outcome": "ok"}, 1.0) in first["capacity_tier_run_outcome"]
    runmetrics.push(gateway.url, dataclasses.replace(RUN, exit_status=1))
    second = pushed(gateway)
    # The failure's push replaced the figures it carries and kept the last success's time.
    assert second["capacity_tier_run_last_success_timestamp_seconds"] == [(group, RUN.end)]
    assert ({**group, "outcome": "failed"}, 1.0) in second["capacity_tier_run_outcome"]
    assert ({**group, "outcome": "ok"}, 0.0) in second["capacity_tier_run_outcome"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_run_pushes_its_metrics_and_fails_when_it_cannot(tmp_path: Path, sshd: SshServer,
                                                           gateway: Daemon) -> None:
    roots = make_roots(tmp_path)
    make_study(roots["hot"], "2025/01/STUDY", 2, 1000, random.Random(1), age_days=400)
    inventory = inventory_file(tmp_path, sshd, roots, {"rules": [
        {"name": "to-warm", "from": "hot", "to": "warm", "select": {"older_than": "180d"}}]})

    def run(url: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "capacity", "tier", "run", str(inventory),
                               "--policy", "life", "--state", str(tmp_path / "state"),
                               "--pushgateway", url, "--format", "json"], cwd=tmp_path,
                              capture_output=True, text=True, check=False, timeout=300)

    done = run(gateway.url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["metrics"] == gateway.url
    assert pushed(gateway)["capacity_tier_run_planned_units"] == [
        ({"instance": "", "job": "capacity_tier_run", "policy": "life", "run_on": "all"}, 1.0)]
    unreachable = run(f"http://127.0.0.1:{_free_port()}")
    assert unreachable.returncode == 1
    assert "metrics" in unreachable.stderr and "not written" in unreachable.stderr
