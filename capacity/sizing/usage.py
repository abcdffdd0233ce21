"""Bytes stored on each storage resource on the inventory's ``as_of`` date.

- A workload's ``stored`` bytes sit on the resource it ``lands_on``.
- A replication adds to its target what it copies of its source: ``gad``, ``sync`` and
  ``async`` a full copy, so a GAD pair's data is counted at both sites (the source holds
  it as a workload, the target as the copy); ``backup`` one full copy plus each day's
  changes for the retention: ``floor(source x (1 + change_rate x retention_days))``; of a
  write-once source (``change_rate: new-data``) the full copy alone, since what changes is
  only what is written, which the copy already holds.
- Replications chain one level only: a replication copies what workloads wrote to its
  source, never the copies other replications put there.  A copy of a copy must be declared
  as its own replication from the original source.  For the same reason a GAD pair whose
  workloads write at both ends needs a replication in each direction.
"""

from __future__ import annotations

import functools
from fractions import Fraction

from capacity.model import Inventory, Replication
from capacity.sizing.common import exact


def used_by_resource(inventory: Inventory) -> dict[str, int]:
    """Bytes stored, keyed by resource ref in ``Inventory.resource_names()`` order."""
    used = dict.fromkeys(inventory.resource_names(), 0)
    for name, workload in inventory.workloads.items():
        used[_resource(inventory, workload.lands_on, f"workload {name!r}")] += workload.stored
    from_workloads = dict(used)  # what replications copy: no copies of copies
    for name, replication in inventory.replications.items():
        if replication.start is not None and replication.start > inventory.as_of:
            continue  # not there yet
        source = _resource(inventory, replication.source, f"replication {name!r} source")
        target = _resource(inventory, replication.target, f"replication {name!r} target")
        used[target] += copy_size(replication, from_workloads[source])
    return used


def copy_size(replication: Replication, source_bytes: int) -> int:
    """What a replication keeps at its target for ``source_bytes`` at its source."""
    if replication.kind == "backup" and replication.change_rate != "new-data":
        held = _held_per_byte(replication.change_rate, replication.retention)
        return source_bytes * held.numerator // held.denominator  # floored, exactly
    return source_bytes


@functools.lru_cache(maxsize=256)
def _held_per_byte(change_rate: float, retention: int) -> Fraction:
    """A backup's bytes per source byte: one full copy and ``retention`` days of changes
    (the simulator asks every day, so it is worked out once)."""
    return 1 + exact(change_rate) * retention


def _resource(inventory: Inventory, ref: str, where: str) -> str:
    resource = inventory.resource(ref)
    if resource is None:
        known = ", ".join(inventory.resource_names()) or "none"
        raise ValueError(f"{where}: no storage resource named {ref!r} (known: {known})")
    return resource.ref
