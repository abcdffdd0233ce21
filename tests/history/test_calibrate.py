"""Calibration of the bundled example from a history its own simulation made, with known
differences: the PACS application's VMs 15% faster, the PACS images 10% more a day and 9%
more stored.  Where growth follows what lands (the cluster) the factor is found; on the hot
tier, held at its watermark by its policy, the history says nothing of the ingest: the
images are judged as the stream its tier policy makes (hot + warm + archive), and where the
history lacks a tier of it the calibration says so rather than invent a factor."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from capacity.bundled import EXAMPLE
from capacity.history.calibrate import calibrate, resource_history, streams
from capacity.history.store import History, Reading
from capacity.load import load_inventory

from .histories import EXAMPLE_RESOURCES, example_history

STREAM = ("e1090-main/pacs-hot", "g900-main/pacs-warm", "hcp-main")


def readings_of(path: Path) -> dict[str, list[Reading]]:
    with History(path) as history:
        return {r: history.series(r) for r in history.resources()}


def test_the_example_is_calibrated_honestly(tmp_path: Path) -> None:
    result = calibrate(load_inventory(EXAMPLE), readings_of(example_history(tmp_path)))
    found = {c.resource: c for c in result.calibrations}
    assert set(found) == set(EXAMPLE_RESOURCES)
    assert str(result.start) == "2026-12-01"
    assert found["pacs-main"].scale == pytest.approx(1.15, rel=0.03)
    hot = found["e1090-main/pacs-hot"]
    assert hot.scale is None and "calibrated with its stream pacs-lifecycle" in hot.notes[0]
    assert hot.start_bytes == pytest.approx(hot.history_bytes, rel=0.01)  # its level, still
    assert found["g900-main/pacs-warm"].scale is None  # nothing new lands there
    (stream,) = result.streams
    assert stream.policy == "pacs-lifecycle" and stream.resources == STREAM
    assert stream.workloads == ("pacs-images",)
    assert stream.scale == pytest.approx(1.10, rel=0.03)
    images = result.inventory.workloads["pacs-images"]
    inventory = load_inventory(EXAMPLE).workloads["pacs-images"]
    assert [d.studies_per_day for d in images.drivers] == pytest.approx(
        [d.studies_per_day * stream.scale for d in inventory.drivers])


def test_the_streams_are_the_policys_tiers_not_their_mirrors() -> None:
    (stream,) = streams(load_inventory(EXAMPLE))
    assert stream.resources == STREAM  # not e1090-dr/pacs-hot, g900-dr/pacs-warm, hcp-dr


def test_a_stream_without_history_of_every_tier_is_not_calibrated(tmp_path: Path) -> None:
    """Without the archive's readings the sum would miss what expires: the hot tier alone
    is judged, and refused as before."""
    path = example_history(tmp_path, resources=("e1090-main/pacs-hot", "g900-main/pacs-warm",
                                                "pacs-main"))
    result = calibrate(load_inventory(EXAMPLE), readings_of(path))
    assert result.streams == ()
    assert any(ref == "pacs-lifecycle" and "no usable history of hcp-main" in why
               for ref, why in result.skipped)
    hot = next(c for c in result.calibrations if c.resource == "e1090-main/pacs-hot")
    assert hot.scale is None and "does not follow what lands there" in hot.notes[0]


def _reading(ref: str, day: int, used: int) -> Reading:
    return Reading(ref, dt.date(2026, 11, 1) + dt.timedelta(days=day), used, None, "test",
                   "2026-11-01T23:00:00Z")


def test_a_host_tier_stands_for_its_storage_only_on_days_without_its_own_reading() -> None:
    inv = load_inventory(EXAMPLE)
    history = {
        "e1090-main/pacs-hot": [_reading("e1090-main/pacs-hot", d, 100) for d in range(10)],
        "pacs-store-01:hot": [_reading("pacs-store-01:hot", d, 90) for d in range(5, 20)],
        "pacs-store-01:hot:catalogue": [_reading("pacs-store-01:hot:catalogue", 3, 80)],
        "pacs-store-01:warm": [_reading("pacs-store-01:warm", d, 70) for d in range(20)],
        "nope:hot": [_reading("nope:hot", 1, 1)],
    }
    merged, notes, skipped = resource_history(inv, history)
    hot = merged["e1090-main/pacs-hot"]
    assert [r.used_bytes for r in hot] == [100] * 10 + [90] * 10  # never both on a day
    assert [r.day for r in hot] == sorted({r.day for r in hot})
    assert all(r.resource == "e1090-main/pacs-hot" for r in hot)
    assert "10 of its 20 readings are the file system of host tier pacs-store-01:hot" \
        in notes["e1090-main/pacs-hot"][0]
    assert [r.used_bytes for r in merged["g900-main/pacs-warm"]] == [70] * 20
    assert not any(":" in ref for ref in merged)
    why = dict(skipped)
    assert set(why) == {"pacs-store-01:hot:catalogue", "nope:hot"}
    assert "the catalogue counts the files the policies move" in why[
        "pacs-store-01:hot:catalogue"]
