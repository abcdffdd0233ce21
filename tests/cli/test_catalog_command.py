"""`capacity catalog` as a user runs it: a real process; figures checked against the catalogue's
YAML files read here on their own, with hand-worked unit conversions."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from capacity.report.catalog import FIGURES, PROVENANCE

ROOT = Path(__file__).resolve().parents[2]
CATALOG_DIR = ROOT / "capacity" / "catalog"
KINDS = ("drives", "arrays", "nodes")
DECIMAL = {"MB": 10**6, "GB": 10**9, "TB": 10**12}
BINARY = {"MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


def capacity(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "capacity", *args], capture_output=True,
                          text=True, check=False, cwd=ROOT)


def raw(kind: str) -> dict[str, Any]:
    data = yaml.safe_load((CATALOG_DIR / f"{kind}.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def size(text: str) -> int:
    """'7.68TB' -> 7_680_000_000_000, '1.5TiB' -> 1.5 * 2**40: the data sheet's arithmetic."""
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]+)", text)
    assert match, text
    factor = {**DECIMAL, **BINARY}[match.group(2)]
    exact = Decimal(match.group(1)) * factor
    assert exact == int(exact)
    return int(exact)


@pytest.fixture(scope="module")
def everything() -> dict[str, Any]:
    run = capacity("catalog", "--format", "json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert isinstance(data, dict)
    return data


def test_json_lists_every_entry_of_every_file_in_file_order(everything: dict[str, Any]) -> None:
    assert list(everything) == list(KINDS)
    for kind in KINDS:
        assert list(everything[kind]) == list(raw(kind)), kind
        for name, entry in everything[kind].items():
            assert entry["source"] == raw(kind)[name].get("source"), name
            assert entry["assumed"] is raw(kind)[name].get("assumed", False), name
            assert entry["overridden"] == []


def test_drive_figures_are_integer_bytes_as_the_yaml_says(everything: dict[str, Any]) -> None:
    for name, y in raw("drives").items():
        entry = everything["drives"][name]
        rate = re.fullmatch(r"([0-9.]+)([MG]B)/s", y["rebuild_rate"])
        assert rate, y["rebuild_rate"]
        assert entry["kind"] == y["kind"]
        assert type(entry["capacity_bytes"]) is int
        assert entry["capacity_bytes"] == size(y["capacity"])
        assert entry["afr_ratio"] == pytest.approx(float(y["afr"].rstrip("%")) / 100)
        assert type(entry["rebuild_bytes_per_second"]) is int
        assert entry["rebuild_bytes_per_second"] == Decimal(rate.group(1)) * DECIMAL[
            rate.group(2)]
        assert entry["power_w"] == y["power_w"]
    # Worked by hand from the data sheet figures.
    assert everything["drives"]["nvme-ssd-7.68tb"]["capacity_bytes"] == 7_680_000_000_000
    assert everything["drives"]["nvme-ssd-7.68tb"]["rebuild_bytes_per_second"] == 2_500_000_000
    assert everything["drives"]["nl-sas-18tb"]["capacity_bytes"] == 18_000_000_000_000
    assert everything["drives"]["nl-sas-18tb"]["afr_ratio"] == 0.015


def test_array_and_node_figures(everything: dict[str, Any]) -> None:
    for name, y in raw("arrays").items():
        entry = everything["arrays"][name]
        assert entry["cache_bytes"] == (size(y["cache"]) if "cache" in y else None)
        assert entry["cores"] == y.get("cores")
        assert entry["drive_box"] == y["drive_box"]
        assert entry["raid_layouts"] == y["raid_layouts"]
        for key in ("family", "controller_slots", "max_drive_boxes", "max_drives",
                    "rack_units", "power_w"):
            assert entry[key] == y[key], (name, key)
    e1090 = everything["arrays"]["vsp-e1090"]
    assert e1090["cache_bytes"] == 1024 * 2**30 == 1_099_511_627_776
    # Hitachi's "42 MB" page and "4,200 MB" pool overhead mean MiB (the model's defaults).
    assert e1090["page_size_bytes"] == 44_040_192
    assert e1090["pool_overhead_bytes"] == 4_404_019_200
    for name, y in raw("nodes").items():
        entry = everything["nodes"][name]
        assert entry["ram_bytes"] == size(y["ram"])
        for key in ("family", "cores", "gpus", "drive_bays", "rack_units", "power_w"):
            assert entry[key] == y[key], (name, key)
    assert everything["nodes"]["ucp-hc-v225g"]["ram_bytes"] == 1_649_267_441_664  # 1.5 TiB


def test_the_tables_show_every_figure_the_json_has(everything: dict[str, Any]) -> None:
    def leaves(entry: dict[str, Any], prefix: str = "") -> set[str]:
        return {k for key, value in entry.items() for k in (
            leaves(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key})}

    for kind in KINDS:
        shown = {f.key for f in FIGURES[kind]} | set(PROVENANCE)
        for entry in everything[kind].values():
            assert leaves(entry) == shown, kind


def test_table_lists_all_three_kinds_in_human_units() -> None:
    run = capacity("catalog")
    assert run.returncode == 0, run.stderr
    for title in ("Drive types (drives)", "Array models (arrays)", "HCI node models (nodes)"):
        assert title in run.stdout
    for kind in KINDS:
        for name in raw(kind):
            assert name in run.stdout, name
    rows = {cells[0]: cells for line in run.stdout.splitlines()
            if len(cells := [c.strip() for c in line.strip("│┃ ").split("│")]) > 3}
    # name, kind, TB, AFR %, MB/s, W, assumed, source footnote
    assert rows["nvme-ssd-7.68tb"][:7] == ["nvme-ssd-7.68tb", "nvme-ssd", "7.68", "0.9",
                                           "2,500", "18", "yes"]
    assert rows["nl-sas-8tb"][:7] == ["nl-sas-8tb", "nl-sas", "8", "1.5", "105", "7.5", "yes"]
    # name, family, cores, RAM GiB, GPUs, bays, U, W, assumed, source (none given)
    assert rows["ucp-hc-v225g"] == ["ucp-hc-v225g", "UCP HC", "64", "1,536", "3", "24", "2",
                                    "1,600", "yes", "-"]
    footnote = rows["nl-sas-8tb"][7]
    assert f"  {footnote} {raw('drives')['nl-sas-8tb']['source']}" in run.stdout


def test_one_kind_shows_that_table_only() -> None:
    run = capacity("catalog", "arrays")
    assert run.returncode == 0, run.stderr
    assert "Array models" in run.stdout
    assert "Drive types" not in run.stdout and "HCI node models" not in run.stdout
    assert "vsp-e1090" in run.stdout and "nl-sas-18tb" not in run.stdout


def test_one_entry_shows_every_figure_with_its_unit_and_source() -> None:
    run = capacity("catalog", "arrays", "vsp-e1090")
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "vsp-e1090 (array model)" in out
    for shown in ("1,024 GiB", "24", "350 W", "1,800 W", "42 MiB", "4,200 MiB",
                  "2D+2D, 4D+4D, 3D+1P", "Vendor press (crn.pl, 3s.cz)", "check before buying"):
        assert shown in out, shown


def test_a_name_alone_finds_its_kind() -> None:
    run = capacity("catalog", "nl-sas-18tb", "--format", "json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["drives"]["nl-sas-18tb"]["capacity_bytes"] == 18 * 10**12
    table = capacity("catalog", "nl-sas-18tb")
    assert "nl-sas-18tb (drive type)" in table.stdout and "18 TB" in table.stdout


@pytest.mark.parametrize(("args", "message"), [
    (("drives", "nl-sas-18"), "no drive type named 'nl-sas-18'; did you mean 'nl-sas-18tb'?"),
    (("drivs",), "no catalogue kind or entry named 'drivs'; did you mean 'drives'?"),
    (("arrays", "vsp-e109"), "no array model named 'vsp-e109'; did you mean 'vsp-e1090'?"),
    (("array", "vsp-e1090"), "no catalogue kind named 'array'; did you mean 'arrays'?"),
    (("--markdown", "drives"), "--markdown prints the whole catalogue"),
])
def test_unknown_kind_or_name_exits_2_with_a_hint(args: tuple[str, ...], message: str) -> None:
    run = capacity("catalog", *args)
    assert run.returncode == 2
    assert message in run.stderr
    assert "Traceback" not in run.stderr and run.stdout == ""


def test_inventory_shows_its_own_entries_and_overrides(tmp_path: Path) -> None:
    inventory = tmp_path / "estate.yaml"
    inventory.write_text(
        f"include: [{ROOT / 'tests' / 'data' / 'good' / 'minimal.yaml'}]\n"
        "catalog:\n"
        "  drives:\n"
        "    nl-sas-18tb: {power_w: 7.1, source: supplier quote 2026-04}\n", encoding="utf-8")
    run = capacity("catalog", "drives", "--inventory", str(inventory), "--format", "json")
    assert run.returncode == 0, run.stderr
    drives = json.loads(run.stdout)["drives"]
    assert drives["nl-sas-18tb"]["power_w"] == 7.1
    assert drives["nl-sas-18tb"]["source"] == "supplier quote 2026-04"
    assert drives["nl-sas-18tb"]["overridden"] == ["power_w"]
    assert drives["nl-sas-18tb"]["capacity_bytes"] == 18 * 10**12  # kept from the built-in
    assert drives["test-nlsas"]["capacity_bytes"] == 10 * 10**12  # the inventory's own
    assert drives["nl-sas-8tb"]["overridden"] == []
    table = capacity("catalog", "drives", "-i", str(inventory))
    row = next(line for line in table.stdout.splitlines() if "nl-sas-18tb" in line)
    assert "7.1" in row and row.rstrip("│ ").endswith("power_w")


def test_bad_inventory_is_reported_at_its_position() -> None:
    run = capacity("catalog", "--inventory", str(ROOT / "tests/data/bad/wrong-type.yaml"))
    assert run.returncode == 2
    assert re.search(r"wrong-type\.yaml:\d+:\d+: clusters\.hci\.nodes", run.stderr), run.stderr
    assert "Traceback" not in run.stderr


def test_docs_catalog_md_is_current() -> None:
    run = capacity("catalog", "--markdown")
    assert run.returncode == 0, run.stderr
    assert (ROOT / "docs" / "catalog.md").read_text(encoding="utf-8") == run.stdout, (
        "docs/catalog.md is stale: run `capacity catalog --markdown > docs/catalog.md`")


def test_docs_catalog_md_rows_carry_the_yaml_figures() -> None:
    text = (ROOT / "docs" / "catalog.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| `nl-sas-18tb` |"))
    assert row.split(" | ")[1:7] == ["nl-sas", "18", "1.5", "105", "9", "yes"]
    row = next(line for line in text.splitlines() if line.startswith("| `vsp-g900` |"))
    assert row.split(" | ")[1:4] == ["VSP Gx00 (88-xx)", "-", "-"]  # no public cores, cache


def doc_command_lines() -> list[str]:
    """`capacity catalog ...` lines in the sh blocks of the README and docs/."""
    lines = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for block in re.findall(r"```sh\n(.*?)```", doc.read_text(encoding="utf-8"), re.S):
            lines += [line for line in block.splitlines()
                      if line.startswith("capacity catalog")]
    return lines


def test_doc_command_lines_run() -> None:
    lines = doc_command_lines()
    assert len(lines) >= 7, lines
    for line in lines:
        run = capacity(*line.split()[1:])
        assert run.returncode == 0, (line, run.stderr)
        if "json" in line:
            assert json.loads(run.stdout), line
