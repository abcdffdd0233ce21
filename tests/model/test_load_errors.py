"""Bad inventories: every problem is reported at FILE:LINE:COL with its field path.

Each file in tests/data/bad/ states what it expects in its header:
``# expect: LINE:COL FIELD :: PART OF THE MESSAGE`` (``-`` for no field; a ``FILE:`` prefix
names another file, relative to the bad one).  The positions were found by searching the
file's text for the defect, not by running the loader.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from capacity.load import load_inventory
from capacity.yamlpos import InputError

BAD = Path(__file__).parent.parent / "data" / "bad"
EXPECT = re.compile(r"^# expect: (?:(?P<file>[^:\s]+):)?(?P<line>\d+):(?P<col>\d+) "
                    r"(?P<field>\S+) :: (?P<message>.+)$")


def expectations(path: Path) -> list[tuple[Path, int, int, str, str]]:
    found = []
    for line in path.read_text().splitlines():
        if m := EXPECT.match(line):
            file = (path.parent / m["file"]) if m["file"] else path
            field = "" if m["field"] == "-" else m["field"]
            found.append((file.resolve(), int(m["line"]), int(m["col"]), field, m["message"]))
    return found


CASES = sorted(BAD.glob("*.yaml"))


def test_there_are_many_bad_inventories() -> None:
    assert len(CASES) >= 15


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_bad_inventory_is_reported_at_its_place(path: Path) -> None:
    expected = expectations(path)
    assert expected, f"{path.name} has no '# expect:' line"
    with pytest.raises(InputError) as caught:
        load_inventory(path)
    got = [(Path(p.position.file).resolve(), p.position.line, p.position.col, p.field,
            p.message) for p in caught.value.problems]
    assert len(got) == len(expected), "\n".join(str(p) for p in caught.value.problems)
    for file, line, col, field, message in expected:
        assert any(g[:4] == (file, line, col, field) and message in g[4] for g in got), (
            f"expected {file.name}:{line}:{col}: {field}: ...{message}...\n got:\n"
            + "\n".join(str(p) for p in caught.value.problems))


def test_cli_prints_every_problem_and_exits_2_without_traceback() -> None:
    path = BAD / "many-problems.yaml"
    run = subprocess.run([sys.executable, "-m", "capacity", "validate", str(path)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith(str(path))]
    assert len(lines) == len(expectations(path))
    assert f"{path}:10:11: sites.main.role: 'primery' is not one of" in run.stderr


def test_cli_json_lists_problems_with_positions() -> None:
    import json

    path = BAD / "dangling-pool.yaml"
    run = subprocess.run([sys.executable, "-m", "capacity", "validate", str(path), "--format",
                          "json"], capture_output=True, text=True, check=False)
    assert run.returncode == 2
    report = json.loads(run.stdout)
    assert report["ok"] is False
    (problem,) = report["files"][0]["problems"]
    line, col, *_ = expectations(path)[0][1:]
    assert (problem["line"], problem["col"], problem["field"]) == (
        line, col, "workloads.pacs.lands_on")


@pytest.mark.parametrize(("line", "field"), [
    ("adjust: {lead_time_factor: 1e300}", "adjust.lead_time_factor"),
    ("adjust: {afr_factor: 0}", "adjust.afr_factor"),
    ("events: [{at: 2027-01-01, action: add_nodes, cluster: hci, count: 10000000000}]",
     "events[0].count")])
def test_scenario_magnitudes_are_bounded(tmp_path: Path, line: str, field: str) -> None:
    scenario = tmp_path / "absurd.yaml"
    scenario.write_text(f"name: absurd\n{line}\n")
    run = subprocess.run([sys.executable, "-m", "capacity", "simulate",
                          str(BAD.parent / "good" / "minimal.yaml"), "-s", str(scenario)],
                         capture_output=True, text=True, check=False, timeout=60)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert f"{scenario}:2:" in run.stderr and field in run.stderr, run.stderr
