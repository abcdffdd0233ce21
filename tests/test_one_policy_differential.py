"""The simulator and the tier engine apply one policy: a differential test.

Hypothesis builds a policy (move age, trigger, caps, an expiry with retention), a study
size and a daily intake.  The same estate then runs twice for the same days:

- in the simulator (``capacity.sim.simulate``), as cohorts on a 140 TB pool and an object
  store;
- on real files: a local tier tree, one study a folder, the planner (``make_plan``) and
  the engine (``Engine`` with the local transport) run once a day with a fake clock, new
  studies written between runs as the simulator lands them.

The real tree is the simulated estate scaled down by ``SCALE`` (a 4 TB study is a 4 kB
file; tier sizes and byte caps scale with it): every rule compares ratios or counts units,
so the decisions are the same.  After each run the fill of each tier agrees within one
study.  ``DIFFERENTIAL_CASES`` sets how many cases run (default CI-friendly).
"""

from __future__ import annotations

import datetime as dt
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capacity.model import Inventory
from capacity.sim import simulate
from capacity.tiering.apply import Engine, Options
from capacity.tiering.audit import AuditLog
from capacity.tiering.journal import Journal
from capacity.tiering.planner import make_plan
from capacity.tiering.records import FileRecord, TierUsage
from capacity.transports.local import LocalTransport
from tests.sim.conftest import base

SCALE = 10**9
"""Simulated bytes per real byte."""
DAYS = 8
START = dt.date(2027, 1, 1)
CASES = int(os.environ.get("DIFFERENTIAL_CASES", "20"))


@st.composite
def situations(draw: st.DrawFn) -> dict[str, Any]:
    study = draw(st.integers(1, 4)) * 1000  # real bytes: 1-4 TB simulated
    policy: dict[str, Any] = {
        "hosts": ["h"], "unit": {"depth": 1},
        "order": draw(st.sampled_from(["oldest", "largest"])),
        "rules": [{"name": "age-out", "from": "hot", "to": "warm",
                   "select": {"older_than": f"{draw(st.integers(0, 4))}d"}}]}
    if draw(st.booleans()):
        high = draw(st.integers(5, 60))
        policy["trigger"] = {"high": f"{high}%", "low": f"{draw(st.integers(1, high))}%"}
    caps: dict[str, Any] = {}
    if draw(st.booleans()):
        caps["count"] = draw(st.integers(1, 4))
    if draw(st.booleans()):
        caps["bytes"] = draw(st.integers(1, 6)) * study + draw(st.sampled_from([0, study // 2]))
    if draw(st.booleans()):
        policy["rules"].append({"name": "drop", "action": "expire", "from": "warm",
                                "select": {"older_than": f"{draw(st.integers(1, 6))}d"}})
        policy["retention"] = f"{draw(st.integers(0, 6))}d"
    return {"study": study, "per_day": draw(st.integers(1, 3)), "policy": policy,
            "caps": caps}


def estate(case: dict[str, Any], scale: int, roots: dict[str, Path]) -> Inventory:
    """The estate, with sizes in simulated bytes (``scale`` SCALE) or real ones (1)."""
    policy = {**case["policy"], "caps": {
        k: (v * scale if k == "bytes" else v) for k, v in case["caps"].items()}}
    data = base(object_stores={"o": {"site": "s", "raw": "200TB"}},
                workloads={"w": {"lands_on": "a/p", "policy": "life", "drivers": [
                    {"modality": "CT", "studies_per_day": case["per_day"],
                     "study_size": case["study"] * SCALE}]}},
                hosts={"h": {"address": "127.0.0.1", "tiers": {
                    "hot": {"path": str(roots["hot"]), "storage": "a/p"},
                    "warm": {"path": str(roots["warm"]), "storage": "o"}}}},
                policies={"life": policy})
    data["as_of"] = START.isoformat()
    return Inventory.model_validate(data)


def records(root: Path, tier: str) -> list[FileRecord]:
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".capacity")]
        for name in files:
            path = Path(folder) / name
            st_ = path.lstat()
            found.append(FileRecord("h", tier, str(path.relative_to(root)), st_.st_size,
                                    st_.st_mtime, st_.st_atime, st_.st_ino, "f"))
    return found


def _fixed(moment: dt.datetime) -> Callable[[], dt.datetime]:
    return lambda: moment


def used(root: Path) -> int:
    return sum(r.size for r in records(root, ""))


@settings(max_examples=CASES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=situations())
def test_the_simulator_and_the_engine_agree(case: dict[str, Any],
                                            tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = tmp_path_factory.mktemp("diff")
    roots = {"hot": tmp / "hot", "warm": tmp / "warm"}
    for root in roots.values():
        root.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        simulated = simulate(estate(case, SCALE, roots), years=DAYS / 365 + 0.01)
    hot_sim, warm_sim = simulated.resources["a/p"], simulated.resources["o"]
    totals = {"hot": hot_sim.capacity[0] / SCALE, "warm": warm_sim.capacity[0] / SCALE}
    inventory = estate(case, 1, roots)
    journal, audit = Journal(tmp / "journal.sqlite"), AuditLog(tmp / "audit.jsonl")
    study, n = case["study"], 0
    try:
        for day in range(DAYS):
            now = dt.datetime.combine(START + dt.timedelta(days=day), dt.time(0, 0),
                                      tzinfo=dt.UTC)
            for _ in range(case["per_day"]):  # today's studies, as the simulator lands them
                folder = roots["hot"] / f"STUDY-{n:04d}"
                folder.mkdir()
                (folder / "IM0.dcm").write_bytes(b"x" * study)
                os.utime(folder / "IM0.dcm", (now.timestamp() - 60, now.timestamp() - 60))
                n += 1
            usage = {("h", t): TierUsage("h", t, str(roots[t]), round(totals[t]),
                                         used(roots[t])) for t in roots}
            plan = make_plan(inventory, tmp / "inventory.yaml",
                             lambda host, tier: records(roots[tier], tier), usage, now)
            engine = Engine(inventory, "h", LocalTransport(), journal, audit,
                            Options(allow_delete=True, respect_windows=False,
                                    clock=_fixed(now)))
            report = engine.run_plan(plan, f"day-{day}")
            assert report.failed == 0 and report.kept_both == 0, report
            for tier, series in (("hot", hot_sim), ("warm", warm_sim)):
                real = used(roots[tier]) * SCALE
                assert abs(series.used[day] - real) <= study * SCALE * 1.001, (
                    day, tier, series.used[day] / SCALE, real / SCALE, plan.units,
                    plan.skipped)
    finally:
        journal.close()
