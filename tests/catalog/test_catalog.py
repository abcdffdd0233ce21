"""The built-in hardware catalogue (capacity/catalog/*.yaml): every entry validates against its
model, says where its figures come from, and the published figures are the ones DOMAIN.md
records."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

import capacity
from capacity.model.hardware import ArrayModel, DriveType, NodeModel, RaidLayout

CATALOG_DIR = Path(capacity.__file__).parent / "catalog"
MODELS: dict[str, type[BaseModel]] = {"drives": DriveType, "arrays": ArrayModel,
                                      "nodes": NodeModel}
TB = 10**12
PB = 10**15
GiB = 2**30


def raw_entries(section: str) -> dict[str, Any]:
    data = yaml.safe_load((CATALOG_DIR / f"{section}.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{section}.yaml must be a mapping of name -> entry"
    return data


def drives() -> dict[str, DriveType]:
    return {name: DriveType.model_validate(e) for name, e in raw_entries("drives").items()}


def arrays() -> dict[str, ArrayModel]:
    return {name: ArrayModel.model_validate(e) for name, e in raw_entries("arrays").items()}


def nodes() -> dict[str, NodeModel]:
    return {name: NodeModel.model_validate(e) for name, e in raw_entries("nodes").items()}


ENTRIES = [(section, name) for section in MODELS for name in raw_entries(section)]


# --- every entry --------------------------------------------------------------------------

@pytest.mark.parametrize(("section", "name"), ENTRIES)
def test_entry_validates(section: str, name: str) -> None:
    entry = MODELS[section].model_validate(raw_entries(section)[name])
    assert not entry.overridden, "the built-in catalogue overrides nothing"


@pytest.mark.parametrize(("section", "name"), ENTRIES)
def test_entry_has_provenance(section: str, name: str) -> None:
    raw = raw_entries(section)[name]
    assert raw.get("source") or raw.get("assumed") is True


@pytest.mark.parametrize(("section", "name"), ENTRIES)
def test_entry_name_is_an_identifier(section: str, name: str) -> None:
    assert re.fullmatch(r"[a-z0-9][a-z0-9.-]*", name), name


def _entry_blocks(section: str) -> dict[str, str]:
    """Each top-level entry's text with the comment lines just above it."""
    blocks: dict[str, str] = {}
    pending: list[str] = []
    current: str | None = None
    for line in (CATALOG_DIR / f"{section}.yaml").read_text(encoding="utf-8").splitlines():
        key = re.match(r"^([A-Za-z0-9][^:\s]*):", line)
        if key:
            current = key.group(1)
            blocks[current] = "\n".join([*pending, line])
            pending = []
        elif line.startswith("#") or not line.strip():
            pending = [*pending, line] if line.strip() else []
        elif current is not None:
            blocks[current] += "\n" + line
    return blocks


@pytest.mark.parametrize(("section", "name"), ENTRIES)
def test_assumed_entry_says_why_in_a_comment(section: str, name: str) -> None:
    if raw_entries(section)[name].get("assumed"):
        assert "#" in _entry_blocks(section)[name], f"{name}: no comment on its assumptions"


# --- drives -------------------------------------------------------------------------------

EXPECTED_DRIVES = {
    "nvme-ssd": ["1.92TB", "3.84TB", "7.68TB", "15.36TB", "30.72TB"],
    "sas-ssd": ["1.92TB", "3.84TB", "7.68TB"],
    "sas-10k": ["1.2TB", "2.4TB"],
    "nl-sas": ["8TB", "12TB", "14TB", "18TB", "20TB"],
}


def test_drive_line_up() -> None:
    expected = {f"{kind}-{size.lower()}" for kind, sizes in EXPECTED_DRIVES.items()
                for size in sizes}
    assert set(drives()) == expected


@pytest.mark.parametrize("name", list(raw_entries("drives")))
def test_drive_name_matches_kind_and_capacity(name: str) -> None:
    drive = drives()[name]
    size = f"{drive.capacity / TB:g}tb"
    assert name == f"{drive.kind}-{size}"


def test_hdd_afr_is_backblaze_like() -> None:
    for name, drive in drives().items():
        if drive.kind == "nl-sas":
            assert 0.005 <= drive.afr <= 0.02, name  # Backblaze: 0.5-2% per model
            assert "Backblaze" in (drive.source or "")


def test_ssd_afr_below_one_percent() -> None:
    for name, drive in drives().items():
        if drive.kind in ("nvme-ssd", "sas-ssd"):
            assert 0 < drive.afr < 0.01, name


def test_rebuild_rates() -> None:
    by_kind: dict[str, set[float]] = {}
    for drive in drives().values():
        by_kind.setdefault(drive.kind, set()).add(drive.rebuild_rate)
    assert by_kind["nl-sas"] == {105e6}  # storagemath: 7,200 rpm at 30% load
    assert min(by_kind["sas-10k"]) > max(by_kind["nl-sas"])
    assert min(by_kind["sas-ssd"]) > max(by_kind["sas-10k"])
    assert min(by_kind["nvme-ssd"]) > max(by_kind["sas-ssd"])
    nvme_8tb = drives()["nvme-ssd-7.68tb"]
    assert nvme_8tb.capacity / nvme_8tb.rebuild_rate < 3600  # "NVMe 8 TB < 1 h"
    nl_8tb = drives()["nl-sas-8tb"]
    assert 19 * 3600 < nl_8tb.capacity / nl_8tb.rebuild_rate < 23 * 3600  # "8 TB in ~21 h"


def test_drive_power_is_marked_assumed() -> None:
    assert all(drive.assumed and drive.power_w > 0 for drive in drives().values())


# --- arrays -------------------------------------------------------------------------------

DOMAIN_LAYOUTS = ["2D+2D", "4D+4D", "3D+1P", "7D+1P", "6D+2P", "14D+2P"]


def test_array_line_up() -> None:
    assert {"vsp-e1090", "vsp-g900"} <= set(arrays())


def test_e1090_published_figures() -> None:
    e1090 = arrays()["vsp-e1090"]
    assert e1090.controllers == 2
    assert e1090.cores == 64
    assert e1090.cache == 1024 * GiB
    assert "crn.pl" in (e1090.source or "")


def test_e1090_takes_the_nvme_drive_boxes_its_design_allows() -> None:
    """NVMe does not cascade: at most 4 drive boxes of 24 on the controllers, which have no
    bays of their own (published for the E990, the same NVMe design): 96 drives, 2.95 PB
    raw of the largest NVMe drive."""
    e1090 = arrays()["vsp-e1090"]
    assert (e1090.controller_slots, e1090.max_drive_boxes, e1090.drive_box.slots) == (0, 4, 24)
    assert e1090.max_drives == 96
    largest_nvme = max(d.capacity for d in drives().values() if d.kind == "nvme-ssd")
    assert largest_nvme == 30_720_000_000_000
    assert e1090.max_drives * largest_nvme == 2_949_120 * 10**9


def test_e1090_raid_layouts() -> None:
    assert arrays()["vsp-e1090"].raid_layouts == [
        "2D+2D", "4D+4D", "3D+1P", "4D+1P", "6D+1P", "7D+1P", "6D+2P", "12D+2P", "14D+2P"]


def test_g900_is_marked_assumed() -> None:
    g900 = arrays()["vsp-g900"]
    assert g900.assumed
    assert "88-" in g900.family


@pytest.mark.parametrize("name", list(raw_entries("arrays")))
def test_array_layouts_parse(name: str) -> None:
    model = arrays()[name]
    layouts = [RaidLayout.parse(text) for text in model.raid_layouts]
    assert [str(layout) for layout in layouts] == model.raid_layouts, "write layouts canonically"
    assert set(DOMAIN_LAYOUTS) <= set(model.raid_layouts)
    assert "14D+2P" in model.raid_layouts


def test_domain_layout_efficiencies() -> None:
    # DOMAIN.md: RAID1 50%, 3D+1P 75%, 7D+1P 87.5%, 6D+2P 75%, 14D+2P 87.5%
    expected = {"2D+2D": 0.5, "4D+4D": 0.5, "3D+1P": 0.75, "7D+1P": 0.875, "6D+2P": 0.75,
                "14D+2P": 0.875}
    assert {t: RaidLayout.parse(t).efficiency for t in expected} == expected


@pytest.mark.parametrize("name", list(raw_entries("arrays")))
def test_array_slots_hold_max_drives(name: str) -> None:
    model = arrays()[name]
    slots = model.controller_slots + model.max_drive_boxes * model.drive_box.slots
    assert model.max_drives <= slots


# --- nodes --------------------------------------------------------------------------------

def test_node_line_up() -> None:
    found = nodes()
    assert len(found) >= 2
    assert {"ucp-hc-v121f", "ucp-hc-v225g"} <= set(found)
    assert all(node.assumed for node in found.values()), "UCP HC specs are not public here"


def test_node_shapes() -> None:
    v121f, v225g = nodes()["ucp-hc-v121f"], nodes()["ucp-hc-v225g"]
    assert (v121f.rack_units, v121f.drive_bays, v121f.gpus) == (1, 10, 0)
    assert (v225g.rack_units, v225g.drive_bays) == (2, 24)
    assert v225g.gpus > 0
