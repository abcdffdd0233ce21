"""``capacity tier run``: one scheduled run of a policy (resume, scan, plan, apply) over the
test sshd, as its timer starts it, and the metrics it leaves for node_exporter."""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from capacity.schedule.ledger import Ledger
from tests.schedule.tools import need
from tests.sshd import SshServer
from tests.tiering.pacs_tree import inventory_file, make_roots, make_study, snapshot


def run(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "capacity", *argv], cwd=cwd,
                          capture_output=True, text=True, check=False, timeout=600)


def samples(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(path.read_text(encoding="utf-8"))
            for s in f.samples}


MOVE_ONLY = {"rules": [{"name": "to-warm", "from": "hot", "to": "warm",
                        "select": {"older_than": "180d"}}]}


def studies(tmp_path: Path, n: int = 3) -> dict[str, Path]:
    roots = make_roots(tmp_path)
    rng = random.Random(5)
    for i in range(n):
        make_study(roots["hot"], f"2025/0{i + 1}/STUDY-{i}", 2, 1500, rng, age_days=400)
    return roots


def test_a_run_moves_the_studies_and_writes_its_metrics(tmp_path: Path,
                                                         sshd: SshServer) -> None:
    roots = studies(tmp_path)
    before = snapshot(roots["hot"])
    inventory = inventory_file(tmp_path, sshd, roots, MOVE_ONLY)
    metrics = tmp_path / "textfile"
    metrics.mkdir()
    done = run("tier", "run", str(inventory), "--policy", "life", "--state",
               str(tmp_path / "state"), "--textfile-dir", str(metrics), "--format", "json",
               cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert snapshot(roots["warm"]) == before
    result = json.loads(done.stdout)
    assert result["exit_status"] == 0 and list(result["steps"]) == ["resume", "scan", "plan",
                                                                    "apply"]
    assert result["steps"]["plan"]["units"] == 3
    assert [h["done"] for h in result["steps"]["apply"]["hosts"]] == [3]
    assert sorted(p.name for p in metrics.iterdir()) == ["capacity-tier-life.prom"]
    found = samples(metrics / "capacity-tier-life.prom")
    life = (("policy", "life"),)
    assert found[("capacity_tier_run_exit_status", life)] == 0
    assert found[("capacity_tier_run_outcome", (("outcome", "ok"), *life))] == 1
    assert found[("capacity_tier_run_outcome", (("outcome", "failed"), *life))] == 0
    assert found[("capacity_tier_run_planned_units", life)] == 3
    assert found[("capacity_tier_run_units", (("host", "pacs1"), *life, ("state", "done")))] == 3
    assert found[("capacity_tier_run_done_bytes", (("host", "pacs1"), *life))] == sum(
        p.stat().st_size for p in roots["warm"].rglob("*") if p.is_file())
    end = found[("capacity_tier_run_end_timestamp_seconds", life)]
    assert found[("capacity_tier_run_last_success_timestamp_seconds", life)] == end
    assert abs(end - dt.datetime.now().timestamp()) < 120

    again = run("tier", "run", str(inventory), "--policy", "life", "--state",
                str(tmp_path / "state"), "--textfile-dir", str(metrics), cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 units" in again.stdout
    assert samples(metrics / "capacity-tier-life.prom")[
        ("capacity_tier_run_planned_units", life)] == 0


def test_a_failed_run_says_so_and_keeps_the_last_success(tmp_path: Path,
                                                         sshd: SshServer) -> None:
    roots = studies(tmp_path, 1)
    inventory = inventory_file(tmp_path, sshd, roots, MOVE_ONLY)
    metrics = tmp_path / "textfile"
    metrics.mkdir()
    state = tmp_path / "state"
    assert run("tier", "run", str(inventory), "--policy", "life", "--state", str(state),
               "--textfile-dir", str(metrics), cwd=tmp_path).returncode == 0
    life = (("policy", "life"),)
    first = samples(metrics / "capacity-tier-life.prom")[
        ("capacity_tier_run_last_success_timestamp_seconds", life)]
    # The host now refuses the key: the scan step fails, and the run with it.
    text = inventory.read_text(encoding="utf-8").replace(str(sshd.port), "1")
    inventory.write_text(text, encoding="utf-8")
    failed = run("tier", "run", str(inventory), "--policy", "life", "--state", str(state),
                 "--textfile-dir", str(metrics), cwd=tmp_path)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "scan: failed on pacs1" in failed.stdout
    found = samples(metrics / "capacity-tier-life.prom")
    assert found[("capacity_tier_run_exit_status", life)] == 1
    assert found[("capacity_tier_run_outcome", (("outcome", "failed"), *life))] == 1
    assert found[("capacity_tier_run_last_success_timestamp_seconds", life)] == first
    assert [p.name for p in metrics.iterdir()] == ["capacity-tier-life.prom"]  # no temp left
    # the runs ledger the exporter reads: both runs began and ended, the second failed
    ledger = Ledger()
    for line in (state / "runs.jsonl").read_text(encoding="utf-8").splitlines():
        ledger.add(json.loads(line))
    runs = ledger.runs[("life", "pacs1")]
    assert runs.runs == {"ok": 1, "failed": 1, "refused": 0}
    assert runs.last_end is not None and runs.last_end >= runs.last_start


def test_bad_input_is_refused_before_anything_runs(tmp_path: Path, sshd: SshServer) -> None:
    roots = studies(tmp_path, 1)
    inventory = inventory_file(tmp_path, sshd, roots, MOVE_ONLY)
    for argv, word in ((["--policy", "nope"], "no policy named 'nope'"),
                       (["--policy", "life", "--host", "other"], "does not run on"),
                       (["--policy", "life", "--textfile-dir", str(tmp_path / "no")],
                        "no such folder"),
                       (["--policy", "life", "--pushgateway", "http://u:secret@pg:9091"],
                        "no credentials")):
        refused = run("tier", "run", str(inventory), *argv, "--state", str(tmp_path / "s"),
                      cwd=tmp_path)
        assert refused.returncode == 2 and word in refused.stderr, (argv, refused.stderr)
    assert not (tmp_path / "s").exists()


def test_a_run_not_due_does_nothing(tmp_path: Path, sshd: SshServer) -> None:
    """Every 2 days: the daily timer's run on the day between finds nothing due."""
    roots = studies(tmp_path, 1)
    fired = dt.datetime.now() - dt.timedelta(minutes=5)  # the daily timer's last firing
    at = fired.strftime("%H:%M")
    inventory = inventory_file(tmp_path, sshd, roots,
                               policy={**MOVE_ONLY, "schedule": {"every": "2d", "at": at}})
    metrics = tmp_path / "textfile"
    metrics.mkdir()
    result = run("tier", "run", str(inventory), "--policy", "life", "--scheduled",
                 "--state", str(tmp_path / "state"), "--textfile-dir", str(metrics),
                 "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    due = fired.date().toordinal() % 2 == 0  # run_times: every 2d runs on even ordinals
    assert json.loads(result.stdout)["due"] is due
    assert bool(list(metrics.iterdir())) is due
    assert any(p.is_file() for p in roots["hot"].rglob("*")) is not due


def test_the_metrics_file_passes_promtool(tmp_path: Path, sshd: SshServer) -> None:
    promtool = need("promtool", "prometheus")
    roots = studies(tmp_path, 1)
    inventory = inventory_file(tmp_path, sshd, roots, MOVE_ONLY)
    metrics = tmp_path / "textfile"
    metrics.mkdir()
    assert run("tier", "run", str(inventory), "--policy", "life", "--state",
               str(tmp_path / "state"), "--textfile-dir", str(metrics),
               cwd=tmp_path).returncode == 0
    text = (metrics / "capacity-tier-life.prom").read_text(encoding="utf-8")
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                             text=True, check=False, timeout=60)
    assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout + checked.stderr
