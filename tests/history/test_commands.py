"""``capacity forecast``, ``backtest`` and ``simulate --calibrate`` through the CLI, on
histories of known growth written with ``History.record``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from .histories import END, GB, TB, linear, process, write

ROOT = Path(__file__).resolve().parents[2]
CLINIC = str(ROOT / "inventories" / "small-clinic.yaml")
CAPACITY = 11_520_000_000_000  # hci's effective bytes (the inventory's header)


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "capacity", *argv], capture_output=True,
                          text=True, check=False, cwd=ROOT, timeout=600)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def as_json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def slope(values: list[int]) -> float:
    return float(np.polyfit(np.arange(len(values)), np.array(values, dtype=float), 1)[0])


def test_a_calibrated_simulation_recovers_the_known_growth(tmp_path: Path) -> None:
    """The issue's done criterion: the clinic's cluster grows 20 GB a day by its history
    (its inventory's drivers make about 2 GB); calibrated, the simulation grows so."""
    write(tmp_path, "hci", process(120, linear(8.0 * TB, 20 * GB, 120), noise=30 * GB,
                                   seed=8, gap_every=11))
    data = as_json(run("simulate", CLINIC, "--calibrate", "--state", str(tmp_path),
                       "--years", "0.25", "--no-procurement", "--format", "json"))
    assert data["start"] == "2026-12-01"
    used = data["daily_used_bytes"]["hci"]
    assert slope(used) == pytest.approx(20 * GB, rel=0.03)
    start = next(r for r in data["resources_start"] if r["resource"] == "hci")
    assert start["used_bytes"] == pytest.approx(8.0 * TB, rel=0.005)
    (cal,) = data["calibration"]["resources"]
    assert cal["inventory_bytes"] == 7_500_000_000_000
    assert cal["history_growth_bytes_per_day"] == pytest.approx(20 * GB, rel=0.02)
    # net growth, not ingest: 2.08 GB lands a day, and the oldest of the 7.5 TB stored over
    # ten years' retention leaves (about 1.5 GB a day)
    net = cal["simulated_growth_bytes_per_day"]
    assert 0.3 * GB < net < 2.08 * GB
    # what leaves is old data, not scaled: k x 2.08 GB - (2.08 GB - net) = 20 GB
    assert cal["scale"] == pytest.approx((20 * GB + 2.08 * GB - net) / (2.08 * GB), rel=0.03)
    assert cal["calibrated_growth_bytes_per_day"] == pytest.approx(20 * GB, rel=0.01)


def test_the_table_says_where_inventory_and_history_disagree(tmp_path: Path) -> None:
    write(tmp_path, "hci", process(60, linear(8.0 * TB, 20 * GB, 60), seed=1))
    done = run("simulate", CLINIC, "--calibrate", "--state", str(tmp_path), "--years", "0.1")
    assert done.returncode == 0, done.stderr
    assert "hci: the inventory says 7.50 TB stored, the history 8.00 TB on 2026-11-30" \
        " (+6.7%)" in done.stdout
    assert "growth: the inventory gives 0.00 TB/day, the history 0.02 TB/day" in done.stdout
    assert "Storage runway" in done.stdout


def test_calibration_never_fills_past_capacity_nor_below_zero(tmp_path: Path) -> None:
    write(tmp_path, "hci", process(60, linear(13 * TB, 20 * GB, 60), seed=1))
    data = as_json(run("simulate", CLINIC, "--calibrate", "--state", str(tmp_path),
                       "--years", "0.1", "--no-procurement", "--format", "json"))
    start = next(r for r in data["resources_start"] if r["resource"] == "hci")
    assert start["used_bytes"] <= start["capacity_bytes"] == CAPACITY
    assert max(data["daily_used_bytes"]["hci"]) <= CAPACITY
    assert any("more than its capacity" in n for n in data["calibration"]["resources"][0]
               ["notes"])
    shrinking = tmp_path / "shrinking"
    write(shrinking, "hci", process(60, linear(0.2 * TB, -20 * GB, 60), seed=1))
    data = as_json(run("simulate", CLINIC, "--calibrate", "--state", str(shrinking),
                       "--years", "0.1", "--no-procurement", "--format", "json"))
    assert data["calibration"]["resources"][0]["scale"] == 0
    assert min(data["daily_used_bytes"]["hci"]) >= 0


def test_forecast_json_shows_the_backtest(tmp_path: Path) -> None:
    write(tmp_path, "hci", process(120, linear(8.0 * TB, 20 * GB, 120), noise=30 * GB,
                                   seed=8), capacity=CAPACITY)
    data = as_json(run("forecast", CLINIC, "--state", str(tmp_path), "--format", "json",
                       "--days", "200"))
    (row,) = data["resources"]
    assert row["resource"] == "hci" and row["horizon_days"] == 30
    assert [c["model"] for c in row["candidates"]] == ["linear", "holt", "damped", "weekly",
                                                       "yearly"]
    assert len(row["origins"]) == 3 and row["last_day"] == END.isoformat()
    low, high = row["growth_interval_bytes_per_day"]
    assert low <= 20 * GB <= high
    assert all(type(p["used_bytes"]) is int for p in row["forecast"])
    # 11.52 TB less 8 TB at 20 GB a day: 176 days on
    assert row["full_on"][:7] == "2027-05"


@pytest.mark.parametrize(("argv", "message"), [
    (["forecast", CLINIC], "no usage history at"),
    (["forecast", CLINIC, "--resource", "nope"], "no readings of 'nope'"),
])
def test_forecast_refuses_what_it_cannot_read(tmp_path: Path, argv: list[str],
                                              message: str) -> None:
    if "--resource" in argv:
        write(tmp_path, "hci", process(60, linear(8.0 * TB, 20 * GB, 60)))
    done = run(*argv, "--state", str(tmp_path / "state" if "--resource" not in argv
                                     else tmp_path))
    assert done.returncode == 2 and message in done.stderr


def test_forecast_of_too_short_a_history_fails(tmp_path: Path) -> None:
    write(tmp_path, "hci", process(20, linear(8.0 * TB, 20 * GB, 20)))
    done = run("forecast", CLINIC, "--state", str(tmp_path))
    assert done.returncode == 1 and "not forecast: 20 days of readings" in done.stdout


def test_backtest_scores_a_saved_run_against_the_history(tmp_path: Path) -> None:
    saved = tmp_path / "run.json"
    saved.write_text(run("simulate", CLINIC, "--years", "0.2", "--format", "json").stdout,
                     encoding="utf-8")
    simulated = json.loads(saved.read_text(encoding="utf-8"))["daily_used_bytes"]["hci"]
    # what really happened from the run's start (2026-11-01): 10% more than it said
    days = [(d, 1.1 * simulated[i]) for i, (d, _) in enumerate(
        process(30, lambda i: 0, end=END))]
    write(tmp_path, "hci", days)
    data = as_json(run("backtest", str(saved), "--state", str(tmp_path), "--format", "json"))
    (row,) = data["resources"]
    assert row["days"] == 30 and row["first_day"] == "2026-11-01"
    assert row["mape"] == pytest.approx(1 / 11, rel=1e-3)  # |s - 1.1 s| / 1.1 s
    assert row["bias_bytes"] < 0  # the run said less than was collected
    actual = [v for _, v in days]
    mae = sum(abs(a - s) for a, s in zip(actual, simulated, strict=False)) / 30
    naive = sum(abs(actual[i + 1] - actual[i]) for i in range(29)) / 29
    assert row["mase"] == pytest.approx(mae / naive, rel=1e-6)


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not JSON"),
    ('{"units": []}', "not the output of `capacity simulate --format json`"),
    ('{"start": "2026-11-01", "daily_used_bytes": {"hci": [1.5]}}', "whole bytes"),
    ('{"start": "soon", "daily_used_bytes": {}}', "not an ISO 8601 date"),
])
def test_backtest_refuses_a_foreign_file(tmp_path: Path, content: str, message: str) -> None:
    write(tmp_path, "hci", process(30, linear(8.0 * TB, 20 * GB, 30)))
    bad = tmp_path / "bad.json"
    bad.write_text(content, encoding="utf-8")
    done = run("backtest", str(bad), "--state", str(tmp_path))
    assert done.returncode == 2 and message in done.stderr, done.stderr


STREAM_LINE = ("pacs-lifecycle (e1090-main/pacs-hot + g900-main/pacs-warm + hcp-main): the"
               " inventory gives")


@pytest.mark.parametrize(("images", "app", "stored"), [(1.1, 1.15, 1.09), (1.0, 1.0, 1.0),
                                                       (0.8, 1.15, 1.09)])
def test_the_pacs_stream_recovers_the_known_images_a_day(tmp_path: Path, images: float,
                                                          app: float, stored: float) -> None:
    """The bundled example's own simulation with the PACS taking ``images`` times the
    inventory's studies a day is the history: calibrated over its three tiers, the stream's
    factor is that, and the calibrated five years (orders and all) never fill a resource
    past what it offers that day, nor hold less than nothing."""
    from .histories import example_history

    example_history(tmp_path / "state", images=images, app=app, stored=stored)
    data = as_json(run("simulate", "--calibrate", "--state", str(tmp_path / "state"),
                       "--format", "json"))
    (stream,) = data["calibration"]["streams"]
    assert stream["resources"] == ["e1090-main/pacs-hot", "g900-main/pacs-warm", "hcp-main"]
    assert stream["workloads"] == ["pacs-images"]
    assert stream["scale"] == pytest.approx(images, rel=0.03)
    assert stream["calibrated_growth_bytes_per_day"] == pytest.approx(
        stream["history_growth_bytes_per_day"], rel=0.02)
    assert data["verdict"]["holds"], data["verdict"]
    for ref, used in data["daily_used_bytes"].items():
        offered = data["daily_capacity_bytes"][ref]
        assert len(used) == len(offered) == data["days"]
        assert min(used) >= 0, ref
        assert all(u <= c for u, c in zip(used, offered, strict=True)), ref
    if images == 1.1:  # the docs' worked example, as the table says it
        done = run("simulate", "--calibrate", "--state", str(tmp_path / "state"), "--years",
                   "0.1")
        assert STREAM_LINE in done.stdout.replace("\n", "")
        assert "pacs-images' daily volume x 1.0" in done.stdout.replace("\n", "")
