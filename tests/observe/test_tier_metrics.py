"""Tier runs from the journal, as the exporter serves them: from a journal written with the
journal API (its times set by hand, so each run's start, duration and outcome are known),
and from a real ``tier scan``, ``plan`` and ``apply`` over the test sshd, whose units and
bytes are the studies the test made."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from capacity.observe.metrics import RUN_GAP_SECONDS, last_runs
from capacity.tiering import journal as J
from capacity.tiering.journal import Journal
from capacity.tiering.status import journal_units
from tests.observe.estate import write_inventory
from tests.observe.scrape import named, samples, value
from tests.prometheus import exporter, promtool
from tests.sshd import SshServer
from tests.tiering.pacs_tree import inventory_file, make_roots, make_study

NOW = time.time()
T0 = NOW - 2 * 86400  # the first run of pacs1/life, two days ago
T1 = NOW - 3600  # its last run, an hour ago

# (id, host, policy, action, bytes, state, started, finished)
UNITS = [
    ("u1", "pacs1", "life", "move", 1000, J.DONE, T0, T0 + 10),
    ("u2", "pacs1", "life", "move", 2000, J.DONE, T0 + 15, T0 + 40),
    ("u3", "pacs1", "life", "move", 500, J.FAILED, T0 + 50, T0 + 60),
    ("u4", "pacs1", "life", "move", 4000, J.DONE, T1, T1 + 100),
    ("u5", "pacs1", "life", "move", 300, J.SKIPPED, T1 + 120, T1 + 130),
    # within the gap of the unit before it: the same run
    ("u6", "pacs1", "life", "expire", 700, J.DONE, T1 + 130 + RUN_GAP_SECONDS - 1, T1 + 900),
    ("a1", "pacs1", "archive", "move", 9000, J.DONE, T1, T1 + 50),
    ("a2", "pacs1", "archive", "move", 800, J.KEPT_BOTH, T1 + 60, T1 + 70),
    ("p1", "pacs2", "life", "move", 100, J.DONE, T1 + 5, T1 + 6),
    ("p2", "pacs2", "life", "move", 200, J.COPYING, T1 + 7, None),
    ("r1", "pacs1", "", "recall", 5000, J.DONE, T0 + 100, T0 + 200),
]


def write_journal(path: Path) -> None:
    """The units through the journal's own calls, then their times as the story says."""
    journal = Journal(path)
    try:
        for uid, host, policy, action, nbytes, state, _started, _finished in UNITS:
            journal.add(uid, "/var/lib/capacity/plan.json", host, policy, "rule", action,
                        f"/hot/{uid}", None if action == "expire" else f"/warm/{uid}", uid,
                        nbytes, {})
            journal.set(uid, state)
    finally:
        journal.close()
    db = sqlite3.connect(path)
    with db:
        for uid, *_, started, finished in UNITS:
            db.execute("UPDATE units SET started = ?, finished = ?, updated = ? WHERE id = ?",
                       (started, finished, finished or started + 1, uid))
    db.close()


def test_runs_are_told_apart_by_the_gap_between_them(tmp_path: Path) -> None:
    write_journal(tmp_path / "journal.sqlite")
    runs = last_runs(journal_units(tmp_path / "journal.sqlite"))
    life = runs[("pacs1", "life")]
    assert (life.start, life.end) == (T1, T1 + 900)
    assert life.states == {J.DONE: 2, J.SKIPPED: 1} and life.outcome == "ok"
    assert runs[("pacs1", "archive")].outcome == "failed"
    assert runs[("pacs2", "life")].outcome == "unfinished"
    # One second more between two units and they are two runs.
    runs = last_runs(journal_units(tmp_path / "journal.sqlite"), gap=RUN_GAP_SECONDS - 2)
    assert runs[("pacs1", "life")].start == T1 + 130 + RUN_GAP_SECONDS - 1


def test_the_scrape_counts_the_journal_s_units_and_runs(tmp_path: Path,
                                                        promtool_installed: None) -> None:
    state = tmp_path / "state"
    write_journal(state / "journal.sqlite")
    with exporter([str(write_inventory(tmp_path)), "--state", str(state)],
                  tmp_path) as running:
        text = running.scrape()
    found = samples(text)

    units = named(found, "capacity_tier_units")
    for host, policy, action in {(u[1], u[2], u[3]) for u in UNITS}:
        mine = [u for u in UNITS if u[1:4] == (host, policy, action)]
        for state_name in (J.PENDING, J.COPYING, J.DONE, J.SKIPPED, J.FAILED, J.KEPT_BOTH):
            assert units[frozenset({"host": host, "policy": policy, "action": action,
                                    "state": state_name}.items())] == len(
                [u for u in mine if u[5] == state_name]), (host, policy, action, state_name)
    assert sum(units.values()) == len(UNITS)

    moved = named(found, "capacity_tier_moved_bytes_total")
    assert moved == {
        frozenset({"host": "pacs1", "policy": "life", "action": "move"}.items()): 1000 + 2000
        + 4000,
        frozenset({"host": "pacs1", "policy": "archive", "action": "move"}.items()): 9000,
        frozenset({"host": "pacs2", "policy": "life", "action": "move"}.items()): 100,
        frozenset({"host": "pacs1", "policy": "", "action": "recall"}.items()): 5000}
    assert value(found, "capacity_tier_expired_bytes_total", host="pacs1", policy="life") == 700

    last = {("pacs1", "life"): (T1, 900, "ok"), ("pacs1", "archive"): (T1, 70, "failed"),
            ("pacs2", "life"): (T1 + 5, 3, "unfinished"), ("pacs1", ""): (T0 + 100, 100, "ok")}
    assert len(named(found, "capacity_tier_last_run_start_timestamp_seconds")) == len(last)
    for (host, policy), (start, duration, outcome) in last.items():
        assert value(found, "capacity_tier_last_run_start_timestamp_seconds", host=host,
                     policy=policy) == start
        assert abs(value(found, "capacity_tier_last_run_duration_seconds", host=host,
                         policy=policy) - duration) < 1e-6
        for name in ("ok", "failed", "unfinished"):
            assert value(found, "capacity_tier_last_run_outcome", host=host, policy=policy,
                         outcome=name) == (1 if name == outcome else 0)
    assert value(found, "capacity_tier_last_run_units", host="pacs1", policy="life",
                 state=J.DONE) == 2  # u4 and u6: u1 and u2 were the run before
    checked = promtool("check", "metrics", stdin=text)
    assert checked.returncode == 0 and not checked.stdout + checked.stderr, (
        checked.stdout + checked.stderr)


def test_a_real_apply_s_units_and_bytes(tmp_path: Path, sshd: SshServer) -> None:
    roots = make_roots(tmp_path)
    rng = random.Random(15)
    sizes = {}
    for i, (files, size) in enumerate([(2, 3000), (3, 1500), (1, 70_000)]):
        make_study(roots["hot"], f"2025/0{i + 1}/STUDY-{i}", files, size, rng, age_days=400)
        sizes[f"STUDY-{i}"] = files * size
    inventory = inventory_file(tmp_path, sshd, roots)
    state = tmp_path / "state"
    env = {**os.environ, "CAPACITY_STATE": str(state)}

    def tier(*args: str) -> str:
        run = subprocess.run([sys.executable, "-m", "capacity", "tier", *args], env=env,
                             capture_output=True, text=True, check=False, timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
        return run.stdout

    tier("scan", str(inventory))
    tier("plan", str(inventory), "--out", str(tmp_path / "plan.json"))
    before = time.time()
    report = json.loads(tier("apply", str(tmp_path / "plan.json"), "--format", "json"))
    after = time.time()
    (host,) = report["hosts"]
    assert host["done"] == 3 and host["bytes"] == sum(sizes.values())
    assert sorted(p.name for p in roots["warm"].glob("*/*/*")) == sorted(sizes)

    with exporter([str(inventory), "--state", str(state)], tmp_path) as running:
        found = samples(running.scrape())
    labels = {"host": "pacs1", "policy": "life"}
    assert value(found, "capacity_tier_units", **labels, action="move", state=J.DONE) == 3
    assert sum(v for k, v in named(found, "capacity_tier_units").items()
               if ("state", J.DONE) not in k) == 0
    assert value(found, "capacity_tier_moved_bytes_total", **labels, action="move") == sum(
        sizes.values())
    start = value(found, "capacity_tier_last_run_start_timestamp_seconds", **labels)
    duration = value(found, "capacity_tier_last_run_duration_seconds", **labels)
    assert before <= start <= start + duration <= after
    assert value(found, "capacity_tier_last_run_outcome", **labels, outcome="ok") == 1
    assert value(found, "capacity_host_tier_info", host="pacs1", tier="hot", resource="") == 1


def test_a_journal_damaged_later_keeps_the_last_figures(tmp_path: Path) -> None:
    state = tmp_path / "state"
    journal = state / "journal.sqlite"
    write_journal(journal)
    with exporter([str(write_inventory(tmp_path)), "--state", str(state),
                   "--journal-refresh", "1"], tmp_path) as running:
        before = named(samples(running.scrape()), "capacity_tier_units")
        for leftover in state.glob("journal.sqlite-*"):
            leftover.unlink()
        journal.write_bytes(b"not a journal" * 1000)
        deadline = time.monotonic() + 30
        while value(found := samples(running.scrape()), "capacity_exporter_refresh_failing",
                    source="journal") != 1:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert named(found, "capacity_tier_units") == before
        assert value(found, "capacity_exporter_refresh_failing", source="inventory") == 0
    assert f"{journal}:1:1" in running.log.read_text(encoding="utf-8")
