"""Calibration of the bundled example from a history its own simulation made, with known
differences: the PACS application's VMs 15% faster, the PACS images 10% more a day and 9%
more stored.  Where growth follows what lands (the cluster) the factor is found; on the hot
tier, held at its watermark by its policy, the history says nothing of the ingest, and the
calibration says so rather than invent a factor."""

from __future__ import annotations

from pathlib import Path

import pytest

from capacity.bundled import EXAMPLE
from capacity.history.calibrate import calibrate
from capacity.history.store import History
from capacity.load import load_inventory

from .histories import EXAMPLE_RESOURCES, example_history


def test_the_example_is_calibrated_honestly(tmp_path: Path) -> None:
    with History(example_history(tmp_path)) as history:
        readings = {r: history.series(r) for r in history.resources()}
    result = calibrate(load_inventory(EXAMPLE), readings)
    found = {c.resource: c for c in result.calibrations}
    assert set(found) == set(EXAMPLE_RESOURCES)
    assert str(result.start) == "2026-12-01"
    assert found["pacs-main"].scale == pytest.approx(1.15, rel=0.03)
    hot = found["e1090-main/pacs-hot"]
    assert hot.scale is None and "does not follow what lands there" in hot.notes[0]
    assert hot.start_bytes == pytest.approx(hot.history_bytes, rel=0.01)  # its level, still
    assert found["g900-main/pacs-warm"].scale is None  # nothing new lands there
    images = result.inventory.workloads["pacs-images"]
    assert images.drivers == load_inventory(EXAMPLE).workloads["pacs-images"].drivers
