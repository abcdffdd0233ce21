"""Policies on arrays, planned and applied through the array's REST API, against the
contract server of the documented API (tests/vsp_contract.py; not an array).  What the
server holds afterwards (its LDEVs' tierLevel, the requests it saw) is the truth the
tests read, not the tool's own report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.volumes.lab import TIB, write_lab
from tests.vsp_contract import PASSWORD, USER, ContractServer

ROOT = Path(__file__).resolve().parents[2]
NIGHT = "2026-11-02T22:30:00+00:00"


def capacity(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPACITY_VSP")}
    env.update({"CAPACITY_VSP_USER": USER, "CAPACITY_VSP_PASSWORD": PASSWORD})
    return subprocess.run([sys.executable, "-m", "capacity", *args], capture_output=True,
                          text=True, check=False, cwd=ROOT, env=env, timeout=120)


def lab(tmp_path: Path, vsp: ContractServer, **kw: Any) -> Path:
    # The 2026 era's volume, as the array would hold it, beside the example's 2019 one.
    vsp.state.objects["ldevs"].append({
        "ldevId": 0x202, "label": "pacs-archive-2026", "attributes": ["CVS", "HDT"],
        "status": "NML", "poolId": 0, "blockCapacity": 30 * TIB // 512,
        "numOfUsedBlock": 20 * TIB // 512, "isRelocationEnabled": True, "tierLevel": "all",
        "tierLevelForNewPageAllocation": "M", "emulationType": "OPEN-V-CVS"})
    return write_lab(tmp_path, endpoint=vsp.endpoint, ca=vsp.pki.ca, **kw)


def ldev(vsp: ContractServer, ldev_id: int) -> dict[str, Any]:
    return next(d for d in vsp.state.objects["ldevs"] if d["ldevId"] == ldev_id)


def changes(vsp: ContractServer) -> list[str]:
    """The requests that change the array (sessions aside)."""
    return [r for r in vsp.state.counts.requests
            if r.split()[0] in ("PATCH", "POST") and "/sessions" not in r]


def plan(tmp_path: Path, inv: Path, now: str = NIGHT) -> dict[str, Any]:
    done = capacity("tier", "plan", str(inv), "--state", str(tmp_path / "state"), "--now",
                    now, "--out", str(tmp_path / "plan.json"), "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def apply(tmp_path: Path, *more: str) -> subprocess.CompletedProcess[str]:
    return capacity("tier", "apply", str(tmp_path / "plan.json"), "--state",
                    str(tmp_path / "state"), "--format", "json", *more)


def test_plan_reads_the_array_and_changes_nothing(tmp_path: Path, vsp: ContractServer
                                                  ) -> None:
    found = plan(tmp_path, lab(tmp_path, vsp))
    units = [(u["action"], u["unit"], u["target"]) for u in found["units"]]
    # 2019's era is 672 days past its last write; 2026's is still written.
    assert units == [("tiering", "pacs-archive-2019", "5"),
                     ("relocate", "pacs-hdt", "start")]
    assert found["units"][0]["bytes"] == 31 * TIB  # what the array reports it uses
    assert changes(vsp) == []
    assert vsp.state.open_sessions == 0


def test_apply_sets_the_level_on_the_array_once(tmp_path: Path, vsp: ContractServer) -> None:
    plan(tmp_path, lab(tmp_path, vsp))
    done = apply(tmp_path, "--ignore-windows")
    assert done.returncode == 0, done.stderr
    assert ldev(vsp, 0x200)["tierLevel"] == "5"
    assert ldev(vsp, 0x202)["tierLevel"] == "all"
    assert changes(vsp) == ["PATCH /ConfigurationManager/v1/objects/ldevs/512",
                            "POST /ConfigurationManager/v1/objects/pools/0/actions/relocate"
                            "/invoke"]
    report = json.loads(done.stdout)["hosts"]
    assert [(r["host"], r["done"], r["failed"]) for r in report] == [("g900-lab", 2, 0)]
    audit = [json.loads(line) for line in (tmp_path / "state" / "audit.jsonl").read_text()
             .splitlines()] if (tmp_path / "state" / "audit.jsonl").exists() else []
    assert any(a.get("step") == "setting" and a.get("ldev") == 0x200 for a in audit)
    again = apply(tmp_path, "--ignore-windows")
    assert again.returncode == 0, again.stderr
    assert len(changes(vsp)) == 2  # applying a plan twice changes nothing
    assert vsp.state.open_sessions == 0


def test_apply_keeps_to_the_windows(tmp_path: Path, vsp: ContractServer) -> None:
    path = lab(tmp_path, vsp)
    text = path.read_text().replace('windows: ["22:00-06:00"]', 'windows: ["03:00-03:01"]')
    path.write_text(text)
    plan(tmp_path, path)
    done = apply(tmp_path)
    report = json.loads(done.stdout)["hosts"][0]
    assert report["done"] == 0 and "outside the time windows" in report["stopped"]
    assert changes(vsp) == [] and ldev(vsp, 0x200)["tierLevel"] == "all"


def test_a_failed_job_fails_the_unit_and_says_why(tmp_path: Path, vsp: ContractServer
                                                  ) -> None:
    plan(tmp_path, lab(tmp_path, vsp))
    vsp.state.job_fails = True
    done = apply(tmp_path, "--ignore-windows")
    assert done.returncode == 1
    status = json.loads(capacity("tier", "status", "--state", str(tmp_path / "state"),
                                 "--format", "json").stdout)
    failed = [f for f in status["failures"] if f["unit"] == "pacs-archive-2019"]
    assert failed and "ArrayJobFailed" in failed[0]["error"]
    assert ldev(vsp, 0x200)["tierLevel"] == "all"
    vsp.state.job_fails = False
    assert apply(tmp_path, "--ignore-windows").returncode == 0  # a failed unit tries again
    assert ldev(vsp, 0x200)["tierLevel"] == "5"


def test_resume_after_the_answer_was_lost_finishes_without_asking_twice(
        tmp_path: Path, vsp: ContractServer) -> None:
    plan(tmp_path, lab(tmp_path, vsp))
    # The array takes the PATCH's job, and the link drops before its answer.
    vsp.state.fault_match, vsp.state.reset_requests = "PATCH", 1
    cut = apply(tmp_path, "--ignore-windows")
    assert cut.returncode == 1
    assert "resume" in json.loads(cut.stdout)["hosts"][0]["stopped"]
    patches = [r for r in changes(vsp) if r.startswith("PATCH")]
    assert len(patches) == 1
    ldev(vsp, 0x200)["tierLevel"] = "5"  # the array ran the job meanwhile
    resumed = capacity("tier", "resume", "--state", str(tmp_path / "state"), "--format",
                       "json", "--ignore-windows")
    assert resumed.returncode == 0, resumed.stderr
    # The volume is at its level already: done, without asking the array again.
    assert [r for r in changes(vsp) if r.startswith("PATCH")] == patches
    status = json.loads(capacity("tier", "status", "--state", str(tmp_path / "state"),
                                 "--format", "json").stdout)
    assert status["failures"] == []
    assert status["hosts"][0]["states"] == {"done": 2}


def test_resume_asks_again_when_the_job_never_ran(tmp_path: Path, vsp: ContractServer
                                                  ) -> None:
    plan(tmp_path, lab(tmp_path, vsp))
    vsp.state.fault_match, vsp.state.reset_requests = "PATCH", 1
    assert apply(tmp_path, "--ignore-windows").returncode == 1
    ldev(vsp, 0x200)["tierLevel"] = "all"  # its job never ran
    before = len([r for r in changes(vsp) if r.startswith("PATCH")])
    resumed = capacity("tier", "resume", "--state", str(tmp_path / "state"), "--format",
                       "json", "--ignore-windows")
    assert resumed.returncode == 0, resumed.stderr
    assert ldev(vsp, 0x200)["tierLevel"] == "5"
    assert len([r for r in changes(vsp) if r.startswith("PATCH")]) == before + 1


def test_a_plan_is_refused_once_the_inventory_changed(tmp_path: Path, vsp: ContractServer
                                                      ) -> None:
    path = lab(tmp_path, vsp)
    plan(tmp_path, path)
    path.write_text(path.read_text().replace("last_write: 2019-12-31",
                                             "last_write: 2026-10-31"))
    done = apply(tmp_path, "--ignore-windows")
    assert done.returncode == 2 and "re-plan" in done.stderr
    assert changes(vsp) == []


def test_drift_between_array_and_inventory_is_skipped_with_its_reason(
        tmp_path: Path, vsp: ContractServer) -> None:
    path = lab(tmp_path, vsp)
    ldev(vsp, 0x200)["label"] = "vm-scratch"
    found = plan(tmp_path, path)
    assert [u["action"] for u in found["units"]] == ["relocate"]
    skipped = {s["unit"]: s["reason"] for s in found["skipped"]}
    assert "labelled 'vm-scratch'" in skipped["pacs-archive-2019"]
