"""`capacity simulate` and `capacity compare` as a user runs them."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "inventories" / "medical-center.yaml"
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


def capacity(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "capacity", *args], capture_output=True,
                          text=True, check=False, cwd=cwd)


def test_simulate_with_no_arguments_runs_the_example_for_five_years() -> None:
    run = capacity("simulate")
    assert run.returncode == 0, run.stderr
    assert "bundled example" in run.stderr
    assert "(1825 days)" in run.stdout
    for heading in ("Storage runway", "Procurement plan", "Sites"):
        assert heading in run.stdout


def test_summary_json_is_byte_identical_for_the_same_seed(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        run = capacity("simulate", str(EXAMPLE), "--years", "3", "--seed", "7", "--out",
                       str(out), "--scenario", str(ROOT / "scenarios" / "genomics.yaml"))
        assert run.returncode == 0, run.stderr
    assert (a / "summary.json").read_bytes() == (b / "summary.json").read_bytes()
    assert (a / "timeseries.csv").read_bytes() == (b / "timeseries.csv").read_bytes()


def test_out_dir_has_every_file_and_they_agree(tmp_path: Path) -> None:
    run = capacity("simulate", str(EXAMPLE), "--years", "2", "--out", str(tmp_path),
                   "--format", "json")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary == json.loads((tmp_path / "summary.json").read_text())
    for name in ("timeseries.csv", "events.csv", "orders.csv", "report.html"):
        assert (tmp_path / name).stat().st_size > 0
    with (tmp_path / "timeseries.csv").open() as f:
        rows = list(csv.DictReader(f))
    resources = {r["resource"] for r in rows}
    assert len(rows) == summary["days"] * len(resources)
    with (tmp_path / "orders.csv").open() as f:
        assert len(list(csv.DictReader(f))) == len(summary["orders"])
    html = (tmp_path / "report.html").read_text()
    assert "<svg" in html and "src=\"http" not in html


def test_every_shipped_scenario_runs() -> None:
    assert len(SCENARIOS) >= 7
    for scenario in SCENARIOS:
        run = capacity("simulate", str(EXAMPLE), "--years", "1", "--scenario", str(scenario),
                       "--format", "json")
        assert run.returncode == 0, (scenario.name, run.stderr)
        assert json.loads(run.stdout)["scenarios"]


def test_scenarios_compose_in_order() -> None:
    one = capacity("simulate", str(EXAMPLE), "--years", "3", "--format", "json", "-s",
                   str(ROOT / "scenarios" / "genomics.yaml"))
    two = capacity("simulate", str(EXAMPLE), "--years", "3", "--format", "json", "-s",
                   str(ROOT / "scenarios" / "genomics.yaml"), "-s",
                   str(ROOT / "scenarios" / "lead-time-doubles.yaml"))
    a, b = json.loads(one.stdout), json.loads(two.stdout)
    assert b["scenarios"] == ["genomics", "lead-time-doubles"]
    lead = {(o["ordered"], o["installed"]) for o in a["orders"]}
    doubled = {(o["ordered"], o["installed"]) for o in b["orders"]}
    assert lead != doubled


def test_compare_has_the_baseline_first(tmp_path: Path) -> None:
    run = capacity("compare", str(EXAMPLE), "--years", "2", "-s",
                   str(ROOT / "scenarios" / "node-failure.yaml"), "--format", "json",
                   "--out", str(tmp_path))
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    names = [r["name"] for r in data["runs"]]
    assert names[0] == "baseline" and "node-failure" in names
    assert (tmp_path / "compare.html").exists()


def test_bad_scenario_points_into_the_scenario_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nevents:\n  - on: 2027-01-01\n    action: fail_node\n"
                   "    cluster: pacs-mian\n  - on: 2027-02-01\n    action: set_growth\n"
                   "    workload: pacs-images\n    growht: 5%/y\n")
    run = capacity("simulate", str(EXAMPLE), "-s", str(bad))
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert f"{bad}:9:5: events[1].growht: unknown key 'growht'; did you mean 'growth'?" \
        in run.stderr
    bad.write_text("name: bad\nevents:\n  - on: 2027-01-01\n    action: fail_node\n"
                   "    cluster: pacs-mian\n")
    run = capacity("simulate", str(EXAMPLE), "-s", str(bad))
    assert run.returncode == 2
    assert f"{bad}:5:14: events[0].cluster: no cluster named 'pacs-mian'; did you mean" \
        in run.stderr


def test_scenario_changes_are_checked_at_their_place(tmp_path: Path) -> None:
    bad = tmp_path / "change.yaml"
    bad.write_text("name: c\nchanges:\n  workloads:\n    pacs-images:\n      growth: lots\n")
    run = capacity("simulate", str(EXAMPLE), "-s", str(bad))
    assert run.returncode == 2
    assert f"{bad}:5:15: workloads.pacs-images.growth:" in run.stderr


def test_no_procurement_buys_nothing_and_its_runways_are_the_unbought_ones() -> None:
    """Every run also plays the estate buying nothing: with --no-procurement the run is
    that one, so its runways and the unbought runways are the same, and the table of
    unbought runways is not printed twice; without it, the desk's orders move runways out."""
    run = capacity("simulate", str(EXAMPLE), "--years", "3", "--no-procurement",
                   "--format", "json")
    assert run.returncode == 0, run.stderr
    bare = json.loads(run.stdout)
    assert bare["orders"] == [] and bare["runways"] == bare["runways_unbought"]
    bought = json.loads(capacity("simulate", str(EXAMPLE), "--years", "3", "--format",
                                 "json").stdout)
    assert bought["orders"] and bought["runways_unbought"] == bare["runways"]
    assert bought["runways"] != bare["runways"]
    table = capacity("simulate", str(EXAMPLE), "--years", "3", "--no-procurement").stdout
    assert "Storage runway if nothing is bought" not in table
    assert "Storage runway if nothing is bought" in capacity("simulate", str(EXAMPLE),
                                                             "--years", "3").stdout


def test_show_and_simulate_start_from_the_same_figures() -> None:
    """`show` sizes the inventory as it stands; `simulate`'s "fill now" is the simulated
    estate on its first day before anything happens.  The two are made differently (sizing
    against laid-down cohorts and copies), and agree to the byte on every resource."""
    for inventory in (EXAMPLE, ROOT / "inventories" / "small-clinic.yaml"):
        shown = json.loads(capacity("show", str(inventory), "--format", "json").stdout)
        run = json.loads(capacity("simulate", str(inventory), "--years", "0.1",
                                  "--format", "json").stdout)
        start = {r["resource"]: (r["used_bytes"], r["capacity_bytes"])
                 for r in run["resources_start"]}
        assert start == {r["ref"]: (r["used_bytes"], r["effective_bytes"])
                         for r in shown["resources"]}


def test_raw_means_one_thing_in_show() -> None:
    """Raw is every drive installed, spares included: the example's hot pool has three
    6D+2P groups of 7.68 TB NVMe and one spare, 25 x 7.68 TB = 192 TB, in the storage
    table, the pool and its tier alike."""
    shown = json.loads(capacity("show", str(EXAMPLE), "--format", "json").stdout)
    resource = next(r for r in shown["resources"] if r["ref"] == "e1090-main/pacs-hot")
    pool = next(p for a in shown["arrays"] for p in a["pools"]
                if p["ref"] == "e1090-main/pacs-hot")
    assert resource["raw_bytes"] == pool["raw_bytes"] == 25 * 7_680 * 10**9
    assert sum(t["raw_bytes"] for t in pool["tiers"]) == pool["raw_bytes"]
    assert pool["spare_raw_bytes"] == 7_680 * 10**9


def test_dr_check_says_what_the_surviving_centre_lacks() -> None:
    """Lose main-dc on the as_of day.  pacs-dr (6 nodes of 64 cores, N+1, 4 cores for the
    controller VM, 2:1 overcommit) gives 5 x 60 x 2 = 600 vCPU and 5 x 2 = 10 GPUs; the PACS
    application's two halves ask 400 + 400 vCPU and 6 + 6 GPUs: 200 vCPU and 2 GPUs short.
    Two nodes more give 7 x 120 = 840 vCPU and 14 GPUs (and 7 x 1,504 GiB of RAM for the
    2 x 4.75 TiB): enough.  The general VMs restart from their replica: carried, not RTO 0;
    the GAD pools carry on at RTO 0."""
    run = capacity("dr-check", str(EXAMPLE), "--site", "main-dc", "--format", "json")
    assert run.returncode == 1, run.stderr  # DR does not hold
    report = json.loads(run.stdout)
    assert report["at"] == "2026-11-01" and report["holds"] is False
    (loss,) = report["site_losses"]
    work = {w["workload"]: w for w in loss["workloads"]}
    assert (work["pacs-app"]["vcpu_short"], work["pacs-app"]["gpus_short"]) == (200, 2)
    assert work["pacs-app"]["rto_zero"] and not work["pacs-app"]["survives"]
    assert work["vm-general"]["survives"] and not work["vm-general"]["rto_zero"]
    assert work["vm-general"]["compute_to"] == "vm-dr"
    assert work["vm-tier1"]["rto_zero"] and work["vm-tier1"]["writes_to"] == "e1090-dr/vm"
    pacs = next(c for c in loss["clusters"] if c["cluster"] == "pacs-dr")
    assert (pacs["vcpu"], pacs["vcpu_asked"], pacs["gpus"], pacs["more_nodes"]) == (
        600, 800, 10, 2)


def test_dr_check_refuses_an_unknown_site_or_a_date_before_the_inventory() -> None:
    run = capacity("dr-check", str(EXAMPLE), "--site", "mars")
    assert run.returncode == 2 and "mars" in run.stderr and "main-dc" in run.stderr
    assert "Traceback" not in run.stderr
    run = capacity("dr-check", str(EXAMPLE), "--at", "2020-01-01")
    assert run.returncode == 2 and "as_of" in run.stderr


def test_dr_check_tables_lead_with_the_answer() -> None:
    run = capacity("dr-check", str(EXAMPLE), "--site", "dr-dc")
    assert run.returncode == 1
    assert run.stdout.startswith("dr-dc lost on 2026-11-01 for 30 days: DR does not hold")
    assert "Taking over" in run.stdout and "node(s) more" in run.stdout
