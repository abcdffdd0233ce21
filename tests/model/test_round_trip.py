"""A loaded inventory dumped to JSON and validated again is the same inventory: every unit
type accepts its own canonical form (bytes, fractions, days)."""

from __future__ import annotations

from pathlib import Path

import pytest

from capacity.load import load_inventory
from capacity.model import Inventory

EXAMPLES = sorted((Path(__file__).parents[2] / "inventories").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_dump_and_validate_again(path: Path) -> None:
    inventory = load_inventory(path)
    again = Inventory.model_validate(inventory.model_dump(mode="json", by_alias=True))
    assert again == inventory
