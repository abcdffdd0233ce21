"""Object stores: usable = raw x protection efficiency (10+4 erasure coding keeps 10/14,
two copies keep 1/2), computed exactly and floored."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from capacity.model import Inventory, Protection, Thresholds
from capacity.sizing.common import lookup


@dataclass(frozen=True)
class ObjectStoreSizing:
    name: str
    site: str
    raw: int
    usable: int
    rack_units: int
    power_w: float
    thresholds: Thresholds


def protection_efficiency(protection: Protection) -> Fraction:
    """Usable share of raw, as an exact fraction."""
    if protection.copies is not None:
        return Fraction(1, protection.copies)
    assert protection.data is not None and protection.parity is not None  # model guarantees
    return Fraction(protection.data, protection.data + protection.parity)


def size_object_store(inventory: Inventory, name: str) -> ObjectStoreSizing:
    store = lookup(inventory.object_stores, name, "object store")
    return ObjectStoreSizing(
        name=name, site=store.site, raw=store.raw,
        usable=math.floor(store.raw * protection_efficiency(store.protection)),
        rack_units=store.rack_units, power_w=store.power_w, thresholds=store.thresholds)
