"""Replication: copies that consume capacity at their target.

- ``gad`` and ``sync``: the target holds the source's data at all times (GAD consumes pool
  capacity at both sites).
- ``async``: the target holds what the source held ``lag`` days ago.
- ``backup``: one full copy plus each day's changes for the retention; an immutable backup
  also keeps data the source deleted until the copies holding it reach their retention.

As in sizing, a replication copies what workloads wrote to its source, not other copies.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator

import simpy

from capacity.sim.twin import REPLICATION, Twin


def replication(twin: Twin, name: str) -> Generator[simpy.Event, int, None]:
    rep = twin.inventory.replications[name]
    source = twin.stores[rep.source]
    copies = twin.stores[rep.target].copies
    kind, immutable, changes = rep.kind, rep.immutable, 1 + rep.change_rate * rep.retention
    earlier: deque[float] = deque(maxlen=rep.lag + 1)
    deleted: deque[float] = deque(maxlen=rep.retention + 1)  # source's expired total by day
    yield twin.env.timeout(REPLICATION)
    clock = twin.clock()
    while True:
        held = source.own
        if kind == "async":
            earlier.append(held)
            held = earlier[0]
        elif kind == "backup":
            deleted.append(source.expired)
            locked = source.expired - deleted[0] if immutable else 0.0
            held = held * changes + locked
        copies[name] = held
        yield clock.tomorrow()
