"""The CSV and JSON files of a run, read back with the csv and json modules and checked
against the hand-built series."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest

from capacity.report.files import write_compare, write_outputs
from capacity.sim.results import SimResult

from .conftest import TB, make_result

FILES = ["timeseries.csv", "compute.csv", "events.csv", "orders.csv", "summary.json",
         "report.html"]


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run's files, written once for the tests that only read them."""
    path = tmp_path_factory.mktemp("run")
    write_outputs(make_result(), path)
    return path


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_write_outputs_returns_the_files_it_wrote(tmp_path: Path, result: SimResult) -> None:
    paths = write_outputs(result, tmp_path / "new" / "dir")
    assert [p.name for p in paths] == FILES
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)


def test_timeseries_has_every_day_of_every_resource_with_its_values(
        out: Path, result: SimResult) -> None:
    rows = _read(out / "timeseries.csv")
    assert list(rows[0]) == ["date", "resource", "kind", "site", "used_bytes", "capacity_bytes",
                             "fill_ratio", "warning_ratio", "critical_ratio"]
    assert len(rows) == 400 * 2
    seen = set()
    for row in rows:
        day = (dt.date.fromisoformat(row["date"]) - dt.date(2026, 1, 1)).days
        series = result.resources[row["resource"]]
        seen.add((day, row["resource"]))
        assert (row["kind"], row["site"]) == (series.kind, series.site)
        assert row["used_bytes"] == str(series.used[day])  # plain integers, no formatting
        assert row["capacity_bytes"] == str(series.capacity[day])
        assert float(row["fill_ratio"]) == pytest.approx(
            series.used[day] / series.capacity[day], abs=1e-6)
        assert (float(row["warning_ratio"]), float(row["critical_ratio"])) == (0.7, 0.85)
    assert len(seen) == 800


def test_timeseries_values_worked_by_hand(out: Path, result: SimResult) -> None:
    rows = {(r["date"], r["resource"]): r for r in _read(out / "timeseries.csv")}
    # day 250 of A/pool1: 100 TB + 250 x 300 GB = 175 TB used, capacity doubled to 400 TB
    row = rows[("2026-09-08", "A/pool1")]
    assert int(row["used_bytes"]) == 175 * TB
    assert int(row["capacity_bytes"]) == 400 * TB
    assert row["fill_ratio"] == "0.4375"


def test_fill_ratio_is_blank_without_capacity(tmp_path: Path, result: SimResult) -> None:
    series = result.resources["B/objects"]
    empty = dataclasses.replace(series, capacity=[0] * 400)
    write_outputs(dataclasses.replace(result, resources={**result.resources,
                                                         "B/objects": empty}), tmp_path)
    rows = [r for r in _read(tmp_path / "timeseries.csv") if r["resource"] == "B/objects"]
    assert {r["fill_ratio"] for r in rows} == {""}
    summary = json.loads((tmp_path / "summary.json").read_text())
    end = {r["resource"]: r for r in summary["resources_end"]}
    assert end["B/objects"]["fill_ratio"] is None


def test_compute_csv_has_every_day_of_every_cluster(out: Path, result: SimResult) -> None:
    rows = _read(out / "compute.csv")
    assert list(rows[0]) == ["date", "cluster", "vcpu_demand", "vcpu", "ram_demand_bytes",
                             "ram_bytes", "gpu_demand", "gpus"]
    assert len(rows) == 400
    c = result.compute["hci1"]
    for day, row in enumerate(rows):
        assert row["date"] == (dt.date(2026, 1, 1) + dt.timedelta(days=day)).isoformat()
        assert [int(row[k]) for k in list(row)[2:]] == [
            c.vcpu_demand[day], c.vcpu[day], c.ram_demand[day], c.ram[day], c.gpu_demand[day],
            c.gpus[day]]


def test_events_csv_is_by_date_with_data_as_compact_json(out: Path) -> None:
    rows = _read(out / "events.csv")
    assert [r["date"] for r in rows] == ["2026-03-02", "2026-05-01", "2026-07-20", "2026-09-09"]
    install = rows[2]
    assert (install["kind"], install["resource"]) == ("install", "A/pool1")
    assert install["data"] == ('{"capacity_bytes":100000000000000,'
                               '"order":{"placed":"2026-05-01"}}')
    assert rows[3]["message"] == 'critical, "quoted", a,b'  # csv quoting round-trips
    assert rows[3]["data"] == "{}"


def test_orders_csv_is_by_order_date(out: Path) -> None:
    rows = _read(out / "orders.csv")
    assert [(r["rule"], r["ordered"], r["installed"]) for r in rows] == [
        ("expand-pool", "2026-05-01", "2026-07-20"), ("grow-objects", "2027-01-10", "2027-03-15")]
    assert rows[0]["units"] == "16"
    assert rows[0]["capacity_bytes"] == str(100 * TB)
    assert (rows[0]["cost"], rows[1]["cost"]) == ("120000.5", "80000.25")
    assert (rows[0]["rack_units"], rows[0]["power_w"]) == ("4", "800")


def test_two_writes_are_byte_identical(tmp_path: Path) -> None:
    # two separately built, equal results: nothing may depend on object identity or time
    write_outputs(make_result(), tmp_path / "a")
    write_outputs(make_result(), tmp_path / "b")
    for name in FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_a_series_of_the_wrong_length_is_refused(tmp_path: Path, result: SimResult) -> None:
    short = dataclasses.replace(result.resources["A/pool1"], used=[0] * 399)
    broken = dataclasses.replace(result, resources={**result.resources, "A/pool1": short})
    with pytest.raises(ValueError, match=r"A/pool1: used has 399 days, the run 400"):
        write_outputs(broken, tmp_path)


def test_write_compare_writes_json_and_html(tmp_path: Path) -> None:
    results = {"high": make_result(seed=1), "baseline": make_result(seed=2)}
    paths = write_compare(results, tmp_path)
    assert [p.name for p in paths] == ["compare.json", "compare.html"]
    data = json.loads(paths[0].read_text())
    assert [r["name"] for r in data["runs"]] == ["baseline", "high"]
    write_compare(results, tmp_path / "again")
    assert paths[0].read_bytes() == (tmp_path / "again" / "compare.json").read_bytes()
    assert paths[1].read_bytes() == (tmp_path / "again" / "compare.html").read_bytes()
