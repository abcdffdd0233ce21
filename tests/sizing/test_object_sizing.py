"""Object store sizing: raw x protection efficiency."""

from __future__ import annotations

import pytest

from capacity.sizing import size_object_store

TB = 10**12


@pytest.mark.parametrize(("raw", "protection", "usable"), [
    # erasure coding 10+4 keeps 10/14: 1,400 TB x 10/14 = 1,000 TB
    ("1400TB", {"data": 10, "parity": 4}, 1_000 * TB),
    # 8+3 keeps 8/11: 1,100 TB x 8/11 = 800 TB
    ("1100TB", {"data": 8, "parity": 3}, 800 * TB),
    # 2 copies: 1,000 TB / 2 = 500 TB
    ("1000TB", {"copies": 2}, 500 * TB),
    # 3 copies: 10^15 / 3 = 333,333,333,333,333.3 -> 333,333,333,333,333 B
    ("1000TB", {"copies": 3}, 333_333_333_333_333),
])
def test_usable_is_raw_times_protection_efficiency(make_inventory, raw, protection, usable):
    inv = make_inventory(object_stores={"S": make_inventory.store(
        raw, protection=protection, rack_units=6, power_w=2000)})
    sized = size_object_store(inv, "S")
    assert sized.usable == usable
    assert (sized.rack_units, sized.power_w, sized.site) == (6, 2000, "A")


def test_one_copy_by_default(make_inventory):
    inv = make_inventory(object_stores={"S": make_inventory.store("1PB")})
    # default protection: one copy, usable == raw == 10^15 B
    assert size_object_store(inv, "S").usable == 10**15


def test_unknown_store(make_inventory):
    with pytest.raises(ValueError, match="no object store named 'S'"):
        size_object_store(make_inventory(), "S")
