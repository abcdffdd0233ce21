"""Replication: copies that consume capacity at their target.

- ``gad`` and ``sync``: the target holds the source's data at every moment (GAD consumes
  pool capacity at both sites).  So does an ``async`` copy that trails by minutes (lag 0).
  These are live mirrors: the target follows the source as it changes, and no process
  copies them day by day.
- ``async`` with a lag: the target holds what the source held ``lag`` days ago.
- ``backup``: one full copy plus each day's changes for the retention; an immutable backup
  also keeps data the source deleted until the copies holding it reach their retention.

As in sizing, a replication copies what workloads wrote to its source, not other copies.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator

import simpy

from capacity.model import Replication
from capacity.sim.twin import REPLICATION, Twin
from capacity.sizing.usage import copy_size


def is_mirror(rep: Replication) -> bool:
    """The copy holds the source's data at every moment."""
    return rep.kind in ("gad", "sync") or (rep.kind == "async" and rep.lag == 0)


def started(twin: Twin, rep: Replication) -> bool:
    """The copy is there on the run's first day."""
    return rep.start_after is None and (rep.start is None or rep.start <= twin.start)


def start_day(twin: Twin, rep: Replication) -> int:
    return 0 if rep.start is None else max(0, (rep.start - twin.start).days)


def until_start(twin: Twin, rep: Replication) -> Generator[simpy.Event, int, None]:
    """Wait for the copy's first day, at the REPLICATION moment: its start date, or the day
    after the migration wave it waits for places its last byte (never, if none does)."""
    if rep.start_after is None:
        yield twin.env.timeout(start_day(twin, rep) + REPLICATION - twin.env.now)
        return
    last = yield twin.wave_end(rep.start_after)
    yield twin.env.timeout(last + 1 + REPLICATION - twin.env.now)


def _note_start(twin: Twin, name: str, rep: Replication) -> None:
    twin.note("copy-start", rep.target, f"{name} starts" + (
        f", {rep.start_after} being done" if rep.start_after else ""), replication=name,
        wave=rep.start_after)


def first_copy(twin: Twin, rep: Replication) -> Callable[[], int]:
    """What a copy's first full copy holds, asked when it is wanted."""
    source = twin.stores[rep.source]
    return lambda: copy_size(rep, source.own)


def mirror(twin: Twin, name: str) -> None:
    """Link a mirror's target to its source, from now on (its first full copy is the
    source's data, which the target then holds as it changes)."""
    rep = twin.inventory.replications[name]
    source, target = twin.stores[rep.source], twin.stores[rep.target]
    target.mirror(source)


def lay_down_copy(twin: Twin, name: str) -> None:
    """What a trailing copy or a backup holds on the start date (as sizing counts it)."""
    rep = twin.inventory.replications[name]
    held = copy_size(rep, twin.stores[rep.source].own)
    kept = twin.stores[rep.target].keep_copy(name, held)
    twin.fall_short(f"copy:{name}", rep.target, held - kept, f"the {rep.kind} copy {name}")


def mirror_from(twin: Twin, name: str) -> Generator[simpy.Event, int, None]:
    """A mirror that starts on a later day: linked then."""
    rep = twin.inventory.replications[name]
    yield from until_start(twin, rep)
    mirror(twin, name)
    twin.begun.add(name)
    twin.scheduled.place_once(rep.target, twin.stores[rep.source].own)
    _note_start(twin, name, rep)


def replication(twin: Twin, name: str) -> Generator[simpy.Event, int, None]:
    """Every day from its start, a trailing copy or a backup takes what the source holds
    now; an immutable backup also keeps what left the source (expired, or moved off to
    another tier) within its retention."""
    rep = twin.inventory.replications[name]
    source, target = twin.stores[rep.source], twin.stores[rep.target]
    kind, immutable = rep.kind, rep.immutable
    earlier: deque[int] = deque(maxlen=rep.lag + 1)
    deleted: deque[int] = deque(maxlen=rep.retention + 1)  # what left the source, by day
    yield from until_start(twin, rep)
    first = not started(twin, rep)  # its first full copy lands today
    twin.begun.add(name)
    if first:
        _note_start(twin, name, rep)
    clock = twin.clock()
    while True:
        if source.offline or target.offline:  # suspended while a site is down
            yield clock.tick()
            continue
        held = source.own
        if kind == "async":
            earlier.append(held)
            held = earlier[0]
        elif kind == "backup":
            gone = source.expired + source.moved_off
            deleted.append(gone)
            locked = gone - deleted[0] if immutable else 0
            held = copy_size(rep, held) + locked
        kept = target.keep_copy(name, held)
        if kept < held:
            twin.fall_short(f"copy:{name}", rep.target, held - kept, f"the {kind} copy {name}")
        if first:
            twin.scheduled.place_once(rep.target, kept)
            first = False
        yield clock.tick()
