"""The issue's done criterion end to end: a history *collected* by `capacity collect` (from
the VSP contract server, whose pool the test grows by a known amount a day, collected once
a "day" with `--day`) calibrates `capacity simulate`, which then grows the pool at that
rate.  The known rate is the truth; nothing is written into the history but by collect."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.history.test_collect import ARRAY, MIB, VSP_ENV, capacity, write_inventory
from tests.history.test_commands import as_json, slope
from tests.vsp_contract import ContractServer

DAYS = 21
RATE_MIB = 19_073  # MiB a day, 20.0 GB: ten times what the inventory's workload brings
LAST = dt.date(2026, 10, 31)


def test_a_simulation_calibrated_from_a_collected_history_recovers_its_growth(
        tmp_path: Path, vsp: ContractServer) -> None:
    inv = write_inventory(tmp_path / "inv.yaml", arrays={"g900-lab": {
        **ARRAY, "rest": {"endpoint": vsp.endpoint, "ca_bundle": str(vsp.pki.ca)}}},
        workloads={"vm-disks": {"lands_on": "g900-lab/vm", "stored": "5TB",
                                "per_year": "730GB"}})  # 2 GB a day by the inventory
    state = tmp_path / "state"
    pool = next(p for p in vsp.state.objects["pools"] if p["poolId"] == 1)
    total, first_used = pool["totalPoolCapacity"], 5_000_000  # MiB
    for i in range(DAYS):
        used = first_used + RATE_MIB * i
        with vsp.state.lock:
            pool["availableVolumeCapacity"] = total - used
            pool["usedCapacityRate"] = used * 100 // total
        day = LAST - dt.timedelta(days=DAYS - 1 - i)
        done = capacity("collect", str(inv), "--source", "array", "--day", day.isoformat(),
                        "--state", str(state), "--format", "json", env=VSP_ENV)
        assert done.returncode == 0, done.stderr
    data = as_json(capacity("simulate", str(inv), "--calibrate", "--state", str(state),
                            "--years", "0.2", "--no-procurement", "--format", "json"))
    assert data["start"] == (LAST + dt.timedelta(days=1)).isoformat()
    found = {c["resource"]: c for c in data["calibration"]["resources"]}
    cal = found["g900-lab/vm"]
    assert cal["readings"] == DAYS
    assert cal["history_growth_bytes_per_day"] == pytest.approx(RATE_MIB * MIB, rel=1e-6)
    used = data["daily_used_bytes"]["g900-lab/vm"]
    assert slope(used) == pytest.approx(RATE_MIB * MIB, rel=0.03)
    start = next(r for r in data["resources_start"] if r["resource"] == "g900-lab/vm")
    assert start["used_bytes"] == pytest.approx((first_used + RATE_MIB * DAYS) * MIB,
                                                rel=0.01)
