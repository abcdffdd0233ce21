"""Warnings: what a valid inventory or scenario says that silently does nothing.

Each case edits a small inventory that warns about nothing, and names the text the warning
must point at; the expected FILE:LINE:COL is found by searching the written file for that
text, not by asking the loader.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from capacity.lint import assumed_ages
from capacity.load import InventoryWarning, load, load_inventory, load_with_scenarios
from capacity.yamlpos import InputError

ROOT = Path(__file__).resolve().parents[2]

BASE = """\
name: Warnings test
as_of: 2026-11-01
sites:
  main:
    role: primary
    racks: {count: 4, units: 42, power_kw: 15}
  dr:
    role: dr
    racks: {count: 4, units: 42, power_kw: 15}
clusters:
  hci:
    site: main
    node_model: ucp-hc-v121f
    nodes: 4
    drives: {drive: nvme-ssd-3.84tb, count: 4}
arrays:
  arr:
    site: main
    model: vsp-e1090
    drive_boxes: 1
    pools:
      hot:
        tiers:
          - name: nvme
            parity_groups: [{drive: nvme-ssd-7.68tb, raid: 6D+2P, count: 2}]
object_stores:
  archive: {site: dr, raw: 2PB, protection: {data: 10, parity: 4}}
workloads:
  images:
    lands_on: arr/hot
    stored: 20TB
    stored_ages: {oldest: 180d}
    per_year: 30TB
    growth: 10%/y
    retention: 10y
    policy: lifecycle
  legacy:
    lands_on: archive
    stored: 100TB
hosts:
  store:
    address: 127.0.0.1
    tiers:
      hot: {path: /srv/hot, storage: arr/hot}
      archive: {path: /srv/archive, storage: archive}
policies:
  lifecycle:
    hosts: [store]
    rules:
      - {name: to-archive, from: hot, to: archive, select: {older_than: 180d}}
      - {name: expire, action: expire, from: archive, select: {older_than: 10y}}
    retention: 10y
procurement:
  hot-groups:
    resource: arr/hot/nvme
    unit: parity-group
    lead_time: 8w
    unit_cost: 28000
"""


def edit(text: str, *changes: tuple[str, str]) -> str:
    for old, new in changes:
        assert text.count(old) == 1, f"{old!r} is not once in the text"
        text = text.replace(old, new)
    return text


def where(path: Path, needle: str, after: str = "") -> str:
    """FILE:LINE:COL of the first ``needle`` (after the first ``after``), by text search."""
    text = path.read_text()
    start = text.index(after) if after else 0
    at = text.index(needle, start)
    line = text.count("\n", 0, at) + 1
    col = at - (text.rfind("\n", 0, at) + 1) + 1
    return f"{path}:{line}:{col}"


def warned(path: Path, scenarios: tuple[Path, ...] = ()) -> list[tuple[str, str, str]]:
    return [(str(w.position), w.field, w.message) for w in load(path, scenarios).warnings]


def write(tmp_path: Path, text: str, name: str = "inv.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_base_inventory_warns_about_nothing(tmp_path: Path) -> None:
    assert warned(write(tmp_path, BASE)) == []


# (case, edits, text the warning points at (and the text to search after), field, message)
CASES = [
    ("growth without ingest: 50 TB at 20%/y stays 50 TB",
     [("    stored: 20TB\n    stored_ages: {oldest: 180d}\n    per_year: 30TB\n"
       "    growth: 10%/y\n", "    stored: 50TB\n    stored_ages: {oldest: 180d}\n"
       "    growth: 20%/y\n")],
     ("20%/y", ""), "workloads.images.growth",
     "growth applies to data that arrives, and this workload ingests nothing (no per_year,"
     " no drivers): its stored data stays as it is; give per_year or drivers"),
    ("stored without stored_ages, tier rules and retention act by age",
     [("    stored_ages: {oldest: 180d}\n", "")],
     ("20TB", ""), "workloads.images.stored",
     # Without stored_ages: from new up to the first move off arr/hot (to-archive, 180d).
     "no stored_ages: the simulator takes the 20 TB as 0d to 180d old, spread by month, and"
     " rules to-archive (180d), expire (10y) and the retention (10y) act on its age; give"
     " stored_ages as the data really is"),
    ("stored without stored_ages, only a retention acts by age",
     [("  legacy:\n    lands_on: archive\n    stored: 100TB\n",
       "  legacy:\n    lands_on: archive\n    stored: 100TB\n    retention: 7y\n")],
     ("100TB", ""), "workloads.legacy.stored",
     "no stored_ages: the simulator takes the 100 TB as 0d to 7y old, spread by month, and"
     " the retention (7y) acts on its age; give stored_ages as the data really is"),
    ("ramp without start",
     [("    retention: 10y\n    policy", "    ramp: 90d\n    retention: 10y\n    policy")],
     ("90d", ""), "workloads.images.ramp",
     "the ramp counts from start, and there is none: the workload runs at full volume from"
     " the first day; give start"),
    ("stored_ages without stored",
     [("    stored: 20TB\n", "")],
     ("stored_ages", ""), "workloads.images.stored_ages",
     "describes stored data, and the workload stores none"),
    ("policy that never acts on the workload",
     [("    lands_on: arr/hot\n", "    lands_on: hci\n")],
     ("lifecycle", "images:"), "workloads.images.policy",
     "policy 'lifecycle' never acts on this workload's data, which lands on hci: its rules"
     " take from archive, arr/hot"),
    ("policy whose hosts' tiers name no storage",
     [("      hot: {path: /srv/hot, storage: arr/hot}\n"
       "      archive: {path: /srv/archive, storage: archive}\n",
       "      hot: /srv/hot\n      archive: /srv/archive\n")],
     ("lifecycle", "images:"), "workloads.images.policy",
     "policy 'lifecycle' never acts on this workload's data, which lands on arr/hot: its"
     " hosts' tiers name no storage"),
    ("equal thresholds",
     [("      hot:\n        tiers:", "      hot:\n        thresholds: {warning: 80%, critical:"
       " 80%}\n        tiers:")],
     ("80%", ""), "arrays.arr.pools.hot.thresholds.warning",
     "equals the critical threshold (80%): it gives no notice before critical; set it"
     " lower"),
    ("a policy no workload names",
     [("    policy: lifecycle\n", "")],
     ("lifecycle", "policies:"), "policies.lifecycle",
     "no workload names this policy (a workload's 'policy'): the simulator moves and expires"
     " no data by it"),
    ("a trigger on a policy without move rules",
     [("      - {name: to-archive, from: hot, to: archive, select: {older_than: 180d}}\n"
       "      - {name: expire, action: expire, from: archive, select: {older_than: 10y}}\n",
       "      - {name: expire, action: expire, from: hot, select: {older_than: 10y}}\n"
       "    trigger: {high: 75%, low: 70%}\n")],
     ("trigger", ""), "policies.lifecycle.trigger",
     "starts and stops move rules, and the policy has none"),
    ("a high watermark past the critical threshold",
     [("    retention: 10y\nprocurement", "    retention: 10y\n    trigger: {high: 85%, low:"
       " 75%}\nprocurement")],
     ("85%", ""), "policies.lifecycle.trigger.high",
     "moves off arr/hot start only above 85%, at or past its critical threshold (80%): it"
     " reaches critical before tiering makes room; lower the watermarks or raise the"
     " thresholds"),
    ("a policy retention without expire rules (and a workload that expires sooner)",
     [("      - {name: expire, action: expire, from: archive, select: {older_than: 10y}}\n",
       ""), ("    retention: 10y\n    policy", "    retention: 5y\n    policy")],
     ("10y", "policies:"), "policies.lifecycle.retention",
     "holds back expire rules only, and the policy has none: nothing expires by it (a"
     " workload's own retention expires its data)"),
    ("a workload retention shorter than its policy's",
     [("      - {name: expire, action: expire, from: archive, select: {older_than: 10y}}\n",
       ""), ("    retention: 10y\n    policy", "    retention: 5y\n    policy")],
     ("5y", ""), "workloads.images.retention",
     "policy 'lifecycle' keeps data 10y (its retention), but this workload's data expires"
     " at 5y"),
    ("a retention shorter than the age a rule moves at",
     [("    retention: 10y\n    policy", "    retention: 90d\n    policy")],
     ("90d", ""), "workloads.images.retention",
     "data expires at 90d, before rule 'to-archive' takes it at 180d: the rule never acts"
     " on it"),
    ("a hold that lapsed before as_of",
     [("    retention: 10y\nprocurement", "    retention: 10y\n    holds:\n      - {paths:"
       " ['2018/*'], reason: claim 17, until: 2025-12-31}\nprocurement")],
     ("2025-12-31", ""), "policies.lifecycle.holds[0].until",
     "the hold lapsed on 2025-12-31, before the inventory's as_of (2026-11-01): it holds"
     " nothing"),
    ("a selection no unit can meet",
     [("select: {older_than: 180d}", "select: {older_than: 180d, larger_than: 1GB,"
       " smaller_than: 1GB}")],
     ("select", "to-archive"), "policies.lifecycle.rules[0].select",
     "selects no unit: no unit is larger than 1 GB and smaller than 1 GB"),
    ("an exclude of everything",
     [("select: {older_than: 180d}", "select: {older_than: 180d, exclude: ['*']}")],
     ("select", "to-archive"), "policies.lifecycle.rules[0].select",
     "selects no unit: an exclude pattern of '*' rules out every unit"),
    ("a rule an earlier rule always beats",
     [("      - {name: expire,", "      - {name: old-to-archive, from: hot, to: archive,"
       " select: {older_than: 1y}}\n      - {name: expire,")],
     ("{name: old-to-archive", ""), "policies.lifecycle.rules[1]",
     "never chooses a unit: rule 'to-archive' comes first, takes from 'hot' too and selects"
     " every unit this one does (the first matching rule wins)"),
    ("max_units 0",
     [("    unit_cost: 28000\n", "    unit_cost: 28000\n    max_units: 0\n")],
     ("0\n", "max_units: "), "procurement.hot-groups.max_units",
     "is 0: the rule never orders anything"),
    ("units_per_order 0",
     [("    unit_cost: 28000\n", "    unit_cost: 28000\n    units_per_order: 0\n")],
     ("0\n", "units_per_order: "), "procurement.hot-groups.units_per_order",
     "0 is taken as 1: each order is of whole units"),
    ("reorder_at 0",
     [("    unit_cost: 28000\n", "    unit_cost: 28000\n    reorder_at: 0%\n")],
     ("0%", "reorder_at: "), "procurement.hot-groups.reorder_at",
     "0% is read as unset: orders come at arr/hot's warning threshold (70%)"),
    ("reorder_at past critical",
     [("    unit_cost: 28000\n", "    unit_cost: 28000\n    reorder_at: 90%\n")],
     ("90%", ""), "procurement.hot-groups.reorder_at",
     "90% is at or past arr/hot's critical threshold (80%): orders come only once it is"
     " projected past critical"),
    ("reorder at the warning, under the high watermark",
     [("    retention: 10y\nprocurement", "    retention: 10y\n    trigger: {high: 75%, low: 60%}"
       "\nprocurement")],
     ("arr/hot/nvme", ""), "procurement.hot-groups.resource",
     "orders at 70%, at or below policy 'lifecycle''s high watermark (75%) on arr/hot: tiering"
     " keeps arr/hot near 75% full however much is bought, so every order fills up again;"
     " order above the high watermark, or lower the watermarks"),
    ("reorder_at under the high watermark",
     [("    retention: 10y\nprocurement", "    retention: 10y\n    trigger: {high: 75%, low: 60%}"
       "\nprocurement"), ("    unit_cost: 28000\n", "    unit_cost: 28000\n    reorder_at: 72%\n")],
     ("72%", ""), "procurement.hot-groups.reorder_at",
     "orders at 72%, at or below policy 'lifecycle''s high watermark (75%) on arr/hot: tiering"
     " keeps arr/hot near 75% full however much is bought, so every order fills up again;"
     " order above the high watermark, or lower the watermarks"),
    ("reorder_at beyond full",
     [("    unit_cost: 28000\n", "    unit_cost: 28000\n    reorder_at: 150%\n")],
     ("150%", ""), "procurement.hot-groups.reorder_at",
     "150% is beyond full: arr/hot is full before the rule orders"),
    ("capacity on a node rule",
     [("    unit_cost: 28000\n", "    unit_cost: 28000\n  hci-nodes: {resource: hci, unit:"
       " node, lead_time: 10w, unit_cost: 48000, capacity: 10TB}\n")],
     ("10TB", ""), "procurement.hci-nodes.capacity",
     "is read for 'raw' units only: what a node adds is worked out from the hardware"),
    ("a whole-array rule",
     [("    unit_cost: 28000\n", "    unit_cost: 28000\n  more-arrays: {resource: arr, unit:"
       " array, lead_time: 26w, unit_cost: 900000}\n")],
     ("array,", "more-arrays"), "procurement.more-arrays.unit",
     "the simulator never orders whole arrays (a new array is a planner's decision): the rule"
     " is never used"),
    ("a drive-box rule without parity groups to go with",
     [("    resource: arr/hot/nvme\n    unit: parity-group\n",
       "    resource: arr\n    unit: drive-box\n")],
     ("drive-box", ""), "procurement.hot-groups.unit",
     "drive boxes are bought only along with parity groups, and no parity-group rule expands"
     " arr: the rule never orders"),
    ("a drive-box rule on an array with all its boxes",
     [("name: Warnings test\n", "name: Warnings test\ncatalog:\n  arrays:\n    vsp-e1090:"
       " {max_drive_boxes: 1}\n"),
      ("    unit_cost: 28000\n", "    unit_cost: 28000\n  boxes: {resource: arr, unit:"
       " drive-box, lead_time: 8w, unit_cost: 15000}\n")],
     ("arr,", "boxes:"), "procurement.boxes.resource",
     "arr has all the drive slots a vsp-e1090 takes: the rule never orders"),
    ("a parity group that can never get slots",
     # One box of 24 slots (the controller has none): three 6D+2P groups fill them.
     [("raid: 6D+2P, count: 2", "raid: 6D+2P, count: 3")],
     ("arr/hot/nvme", ""), "procurement.hot-groups.resource",
     "a 6D+2P group needs 8 drive slots; arr has 0 free and no drive-box rule adds slots:"
     " the rule never orders"),
    ("a hold deeper than the units",
     [("    retention: 10y\nprocurement:", "    retention: 10y\n    unit: {depth: 1}\n"
       "    holds:\n      - paths: ['2014/1.2.3.*']\n        reason: case 1\nprocurement:")],
     ("'2014", "holds:"), "policies.lifecycle.holds[0].paths[0]",
     "'2014/1.2.3.*' names something inside a unit (units are 1 folder(s) deep): the hold"
     " keeps the whole unit that contains it"),
    ("a replication whose target has no room",
     # hci: 4 nodes x 4 x 3.84 TB = 61.44 TB raw; N+1 keeps 3/4, mirroring halves it and
     # 25% slack leaves 17.28 TB for a 20 TB copy.
     [("hosts:\n", "replications:\n  copy: {kind: async, source: arr/hot, target: hci}\n"
       "hosts:\n")],
     ("hci}", ""), "replications.copy.target",
     "the copy (20 TB) does not fit: with it hci would hold 20 TB in 17.28 TB effective on"
     " 2026-11-01"),
]


@pytest.mark.parametrize(("edits", "at", "field", "message"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_warning_is_reported_at_its_place(tmp_path: Path, edits: list[tuple[str, str]],
                                          at: tuple[str, str], field: str,
                                          message: str) -> None:
    path = write(tmp_path, edit(BASE, *edits))
    expected = (where(path, at[0], at[1]), field, message)
    assert expected in warned(path)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_each_case_warns_about_what_it_changed_only(tmp_path: Path,
                                                   case: tuple[Any, ...]) -> None:
    """No case sets off unrelated warnings (the expected ones are listed here)."""
    name, edits, _at, field, _message = case
    also = {"a policy retention without expire rules (and a workload that expires sooner)":
            {"workloads.images.retention"},
            "a workload retention shorter than its policy's": {"policies.lifecycle.retention"}}
    fields = {f for _, f, _ in warned(write(tmp_path, edit(BASE, *edits)))}
    assert fields == {field, *also.get(name, set())}


def test_retention_shorter_than_both_rules_warns_for_each(tmp_path: Path) -> None:
    path = write(tmp_path, edit(BASE, ("    retention: 10y\n    policy",
                                       "    retention: 90d\n    policy")))
    at = where(path, "90d")
    assert [(p, f) for p, f, _ in warned(path)] == [(at, "workloads.images.retention")] * 2
    assert "before rule 'expire' takes it at 10y" in warned(path)[0][2]


def test_warning_above_critical_stays_an_error(tmp_path: Path) -> None:
    """The recorder relies on ascending levels, so the model refuses this outright."""
    path = write(tmp_path, edit(BASE, ("      hot:\n        tiers:",
                                       "      hot:\n        thresholds: {warning: 90%,"
                                       " critical: 80%}\n        tiers:")))
    with pytest.raises(InputError) as caught:
        load(path)
    (problem,) = caught.value.problems
    assert (str(problem.position), problem.field) == (
        where(path, "thresholds"), "arrays.arr.pools.hot.thresholds")
    assert "warning <= critical" in problem.message


def test_assumed_ages_are_those_the_simulator_lays_down(tmp_path: Path) -> None:
    """A second implementation: the simulator's own backlog ages, on a twin of the
    inventory."""
    from capacity.sim import _build
    from capacity.sim.workloads import backlog_ages

    path = write(tmp_path, edit(BASE, ("    stored_ages: {oldest: 180d}\n", ""),
                                ("  legacy:\n    lands_on: archive\n",
                                 "  legacy:\n    lands_on: archive\n    retention: 7y\n")))
    inv = load(path).inventory
    twin = _build(inv, (), inv.as_of, 10, 0)
    for name, wl in inv.workloads.items():
        assert assumed_ages(inv, wl) == backlog_ages(twin, name)
    assert assumed_ages(inv, inv.workloads["images"]) == (0, 180)
    assert assumed_ages(inv, inv.workloads["legacy"]) == (0, 7 * 365)


# --- scenarios ------------------------------------------------------------------------

SCENARIO = """\
name: what if
events:
  - on: 2027-01-01
    action: set_growth
    workload: legacy
    growth: 20%/y
  - on: 2027-01-01
    action: scale_demand
    workload: legacy
    factor: 2
  - on: 2027-01-01
    action: set_compression
    workload: images
    compression: 2
  - on: 2027-02-01
    action: add_workload
    name: pathology
    workload:
      lands_on: arr/hot
      drivers: [{modality: SM, studies_per_day: 100, study_size: 2GB}]
      growth: 30%/y
      policy: lifecycle
  - on: 2027-03-01
    action: set_compression
    workload: pathology
    modality: CT
    compression: 2
  - on: 2027-03-01
    action: add_workload
    name: stray
    workload:
      lands_on: archive
      stored: 1TB
      growth: 5%/y
"""


def test_scenario_events_that_change_nothing(tmp_path: Path) -> None:
    inv = write(tmp_path, BASE)
    scenario = write(tmp_path, SCENARIO, "what-if.yaml")
    got = [(p, f, m) for p, f, m in warned(inv, (scenario,))]
    assert got == [
        (where(scenario, "legacy"), "events[0].workload",
         "'legacy' ingests nothing (no per_year, no drivers): set_growth changes nothing"),
        (where(scenario, "legacy", "scale_demand"), "events[1].workload",
         "'legacy' ingests nothing (no per_year, no drivers): scale_demand changes nothing"),
        (where(scenario, "images"), "events[2].workload",
         "'images' has no drivers: set_compression changes nothing"),
        (where(scenario, "CT"), "events[4].modality",
         "no driver of 'pathology' has modality 'CT' (it has: SM): nothing changes"),
        (where(scenario, "5%/y"), "events[5].workload.growth",
         "growth applies to data that arrives, and this workload ingests nothing (no"
         " per_year, no drivers): its stored data stays as it is; give per_year or drivers"),
    ]


def test_a_policy_named_only_by_a_scenario_workload_is_named(tmp_path: Path) -> None:
    inv = write(tmp_path, edit(BASE, ("    policy: lifecycle\n", "")))
    assert [f for _, f, _ in warned(inv)] == ["policies.lifecycle"]
    scenario = write(tmp_path, SCENARIO, "what-if.yaml")
    assert "policies.lifecycle" not in [f for _, f, _ in warned(inv, (scenario,))]


def test_scenario_changes_warn_at_the_scenario_file(tmp_path: Path) -> None:
    inv = write(tmp_path, BASE)
    scenario = write(tmp_path, "name: no ingest\nchanges:\n  workloads:\n    images:\n"
                               "      per_year: 0\n", "no-ingest.yaml")
    assert [(p, f) for p, f, _ in warned(inv, (scenario,))] == [
        (where(inv, "10%/y"), "workloads.images.growth")]
    scenario.write_text("name: faster\nchanges:\n  workloads:\n    legacy:\n"
                        "      growth: 20%/y\n")
    assert [(p, f) for p, f, _ in warned(inv, (scenario,))] == [
        (where(scenario, "20%/y"), "workloads.legacy.growth")]


# --- how callers get them -------------------------------------------------------------

def test_load_inventory_issues_them_as_python_warnings(tmp_path: Path) -> None:
    path = write(tmp_path, edit(BASE, ("    stored_ages: {oldest: 180d}\n", "")))
    with pytest.warns(InventoryWarning) as caught:
        inv = load_inventory(path)
    assert inv.name == "Warnings test"
    assert [str(w.message.problem.position) for w in caught  # type: ignore[union-attr]
            ] == [where(path, "20TB")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_with_scenarios(write(tmp_path, BASE, "clean.yaml"), [])  # nothing to issue


def capacity(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "capacity", *args], capture_output=True,
                          text=True, check=False, cwd=ROOT)


def test_validate_warns_exits_0_and_strict_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, edit(BASE, ("    retention: 10y\n    policy",
                                       "    ramp: 90d\n    retention: 10y\n    policy")))
    line = (f"{where(path, '90d')}: warning: workloads.images.ramp: the ramp counts from"
            " start, and there is none: the workload runs at full volume from the first day;"
            " give start")
    run = capacity("validate", str(path))
    assert (run.returncode, run.stdout, run.stderr) == (0, f"ok {path} (1 warning)\n",
                                                        line + "\n")
    run = capacity("validate", "--strict", str(path))
    assert (run.returncode, run.stdout, run.stderr) == (2, "", line + "\n")
    clean = write(tmp_path, BASE, "clean.yaml")
    run = capacity("validate", "--strict", str(clean))
    assert (run.returncode, run.stdout, run.stderr) == (0, f"ok {clean}\n", "")


def test_validate_json_lists_warnings_per_file(tmp_path: Path) -> None:
    path = write(tmp_path, edit(BASE, ("    unit_cost: 28000\n",
                                       "    unit_cost: 28000\n    max_units: 0\n")))
    line, col = map(int, where(path, "0\n", "max_units: ").split(":")[-2:])
    for flags, ok, code in (((), True, 0), (("--strict",), False, 2)):
        run = capacity("validate", *flags, str(path), "--format", "json")
        assert run.returncode == code
        report = json.loads(run.stdout)
        assert report["ok"] is ok
        (entry,) = report["files"]
        assert (entry["ok"], entry["problems"]) == (ok, [])
        assert entry["warnings"] == [{"file": str(path), "line": line, "col": col,
                                      "field": "procurement.hot-groups.max_units",
                                      "message": "is 0: the rule never orders anything"}]


def test_show_prints_the_warnings_once_and_succeeds(tmp_path: Path) -> None:
    path = write(tmp_path, edit(BASE, ("    stored_ages: {oldest: 180d}\n", "")))
    run = capacity("show", str(path), "--format", "json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["as_of"] == "2026-11-01"
    assert run.stderr.splitlines() == [
        f"{where(path, '20TB')}: warning: workloads.images.stored: no stored_ages: the"
        " simulator takes the 20 TB as 0d to 180d old, spread by month, and rules to-archive"
        " (180d), expire (10y) and the retention (10y) act on its age; give stored_ages as"
        " the data really is"]


def test_simulate_prints_the_warnings_once_and_succeeds(tmp_path: Path) -> None:
    path = write(tmp_path, edit(BASE, ("    per_year: 30TB\n", "    per_year: 30TB\n"
                                       "    ramp: 30d\n")))
    scenario = write(tmp_path, SCENARIO, "what-if.yaml")
    run = capacity("compare", str(path), "-s", str(scenario), "--years", "0.1",
                   "--format", "json")
    assert run.returncode == 0, run.stderr
    warning_lines = [x for x in run.stderr.splitlines() if ": warning: " in x]
    assert [x.split(": warning: ")[1].split(":")[0] for x in warning_lines] == [
        "workloads.images.ramp", "events[0].workload", "events[1].workload",
        "events[2].workload", "events[4].modality", "events[5].workload.growth"]


def test_only_the_copy_that_overfills_a_target_is_named(tmp_path: Path) -> None:
    """archive: 2 PB raw x 10/14 = 1.43 PB.  With 1.4 PB of its own, a 20 TB copy fits
    (1.42 PB); a 30-day backup of the same 20 TB at 1%/day then adds 20 x 1.3 = 26 TB."""
    path = write(tmp_path, edit(
        BASE, ("    stored: 100TB\n", "    stored: 1.4PB\n"),
        ("hosts:\n", "replications:\n  mirror: {kind: async, source: arr/hot, target: archive}\n"
         "  backup: {kind: backup, source: arr/hot, target: archive, retention: 30d,"
         " change_rate: 1%}\nhosts:\n")))
    assert warned(path) == [(where(path, "archive,", "backup:"), "replications.backup.target",
                             "the copy (26 TB) does not fit: with it archive would hold"
                             " 1.45 PB in 1.43 PB effective on 2026-11-01")]


def test_a_scenario_workload_starts_on_its_event_day(tmp_path: Path) -> None:
    """add_workload's start defaults to its 'on': a ramp there counts from that day."""
    inv = write(tmp_path, BASE)
    scenario = write(tmp_path, "name: go-live\nevents:\n  - on: 2027-02-01\n"
                               "    action: add_workload\n    name: pathology\n"
                               "    workload:\n      lands_on: arr/hot\n      per_year: 50TB\n"
                               "      ramp: 180d\n      policy: lifecycle\n", "go-live.yaml")
    assert warned(inv, (scenario,)) == []
