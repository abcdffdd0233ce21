"""capacity.tiering.measure: the scans a plan reads, and the fill of the tiers it measures."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from capacity.errors import HostTrouble, JobFailed
from capacity.load import load_inventory
from capacity.model import Inventory
from capacity.tiering.catalog import Catalogue
from capacity.tiering.measure import NotScanned, last_scans, measure_tiers
from tests.tiering.test_scan import _closed_port


@pytest.fixture
def inv(scan_write_inventory: Callable[..., Path]) -> Inventory:
    return load_inventory(scan_write_inventory({"h": {"address": "x", "tiers": {
        "hot": "/srv/hot", "warm": "/srv/warm", "cold": "/srv/cold"}}}))


def _scan(catalogue: Path, tier: str, root: str) -> None:
    with Catalogue(catalogue) as c:
        c.finish_scan(c.begin_scan("h", tier, root))


def test_no_tier_to_read_reads_nothing(tmp_path: Path, inv: Inventory) -> None:
    assert last_scans(tmp_path / "catalogue.sqlite", inv, []) == []
    assert not (tmp_path / "catalogue.sqlite").exists()


def test_no_catalogue_says_scan_first_and_creates_none(tmp_path: Path,
                                                       inv: Inventory) -> None:
    path = tmp_path / "catalogue.sqlite"
    with pytest.raises(NotScanned) as info:
        last_scans(path, inv, [("h", "hot")])
    assert str(info.value) == f"no catalogue at {path}: scan first: capacity tier scan"
    assert isinstance(info.value, JobFailed) and info.value.exit_status == 1
    assert not path.exists()


def test_every_tier_not_scanned_at_its_root_is_named(tmp_path: Path, inv: Inventory) -> None:
    path = tmp_path / "catalogue.sqlite"
    _scan(path, "hot", "/srv/hot")
    _scan(path, "warm", "/srv/old-warm")
    with pytest.raises(NotScanned) as info:
        last_scans(path, inv, [("h", "hot"), ("h", "warm"), ("h", "cold")])
    assert str(info.value) == (
        "h/warm was scanned at /srv/old-warm, but its root is now /srv/warm;"
        " h/cold was never scanned: scan first: capacity tier scan")


def test_the_last_finished_scan_of_each_tier(tmp_path: Path, inv: Inventory) -> None:
    path = tmp_path / "catalogue.sqlite"
    _scan(path, "hot", "/srv/hot")
    [found] = last_scans(path, inv, [("h", "hot")])
    assert (found["host"], found["tier"], found["root"], found["files"], found["bytes"]) == (
        "h", "hot", "/srv/hot", 0, 0)
    assert found["finished"].endswith("+00:00")


def test_fill_is_measured_over_the_hosts_transport(
        tmp_path: Path, scan_write_inventory: Callable[..., Path],
        scan_ssh_host: Callable[..., dict[str, Any]]) -> None:
    (tmp_path / "hot").mkdir()
    inv = load_inventory(scan_write_inventory({"up": scan_ssh_host({"hot": tmp_path / "hot"})}))
    usage = measure_tiers(inv, [("up", "hot")], trust=False)
    fill = usage[("up", "hot")]
    assert (fill.host, fill.tier, fill.root) == ("up", "hot", str(tmp_path / "hot"))
    assert 0 < fill.used <= fill.total


def test_a_host_that_cannot_be_measured_is_host_trouble(
        tmp_path: Path, scan_write_inventory: Callable[..., Path],
        scan_ssh_host: Callable[..., dict[str, Any]]) -> None:
    inv = load_inventory(scan_write_inventory({
        "down": scan_ssh_host({"hot": tmp_path / "hot"}, port=_closed_port())}))
    with pytest.raises(HostTrouble) as info:
        measure_tiers(inv, [("down", "hot")], trust=False)
    assert str(info.value).startswith("cannot measure down: ")
    assert str(info.value).endswith("; --offline plans without measuring (triggered move"
                                    " rules then plan nothing)")


def test_a_missing_root_names_its_tier(
        tmp_path: Path, scan_write_inventory: Callable[..., Path],
        scan_ssh_host: Callable[..., dict[str, Any]]) -> None:
    inv = load_inventory(scan_write_inventory({
        "up": scan_ssh_host({"gone": tmp_path / "gone"})}))
    where = re.escape(f"up/gone ({tmp_path}/gone)")
    with pytest.raises(HostTrouble, match=f"cannot measure {where}: "):
        measure_tiers(inv, [("up", "gone")], trust=False)
