"""Legacy migration waves: a fixed volume copied onto a resource at a bounded daily rate
(bandwidth x the hours its windows are open, or a plain daily volume), holding temporary
staging space until the last byte has landed."""

from __future__ import annotations

from collections.abc import Generator

import simpy

from capacity.model.scenario import Migrate
from capacity.sim.twin import MIGRATION, Twin
from capacity.units import format_size


def migration(twin: Twin, wave: Migrate, day: int) -> Generator[simpy.Event, int, None]:
    yield twin.env.timeout(day + MIGRATION - twin.env.now)
    clock = twin.clock()
    target = twin.stores[wave.to]
    owner = wave.workload or f"migration:{wave.name}"
    if wave.workload and wave.to not in twin.workloads[wave.workload].extra_places:
        twin.workloads[wave.workload].extra_places.append(wave.to)
    staging = twin.stores[wave.staging_on] if wave.staging_on else None
    key = f"staging:{wave.name}"
    if staging is not None:
        kept = staging.keep_copy(key, wave.staging)
        twin.fall_short(f"migration:{wave.name}", staging.ref, wave.staging - kept,
                        f"staging for {wave.name}")
    first = twin.day
    per_day = round(wave.bytes_per_day)
    twin.note("migration-start", wave.to, f"{wave.name}: {format_size(wave.volume)} at up to"
              f" {format_size(per_day)} a day", wave=wave.name, volume_bytes=wave.volume)
    remaining = wave.volume
    while True:
        part = min(per_day, remaining)
        placed = target.add(owner, twin.day - wave.age, part)
        twin.scheduled.place_once(wave.to, placed)
        twin.scheduled.waves[wave.name].remaining -= placed
        # What does not fit stays on the legacy system, to be copied when there is room.
        if placed < part:  # short by what is still to copy
            twin.fall_short(f"migration:{wave.name}", wave.to, remaining - placed,
                            f"migration {wave.name}")
        remaining -= placed
        if remaining <= 0:
            break
        yield clock.tick()
    if staging is not None:
        staging.copies.pop(key, None)
    twin.note("migration-end", wave.to, f"{wave.name}: done in {twin.day - first + 1} days",
              wave=wave.name,
              days=twin.day - first + 1)
