"""Legacy migration waves: a fixed volume copied onto a resource at a bounded daily rate
(bandwidth x the hours its windows are open, or a plain daily volume), holding temporary
staging space until the last byte has landed."""

from __future__ import annotations

from collections.abc import Generator

import simpy

from capacity.model import Workload
from capacity.model.scenario import Migrate
from capacity.sim.twin import MIGRATION, Twin, WorkloadState
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
    servers = _start_servers(twin, wave)
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
        staging.drop_copy(key)
    twin.note("migration-end", wave.to, f"{wave.name}: done in {twin.day - first + 1} days",
              wave=wave.name, days=twin.day - first + 1)
    twin.wave_end(wave.name).succeed(twin.day)  # copies waiting for it start tomorrow
    if servers is not None:
        yield clock.tick()  # they work through the last day, and go the next
        _release_servers(twin, wave, servers)


def _start_servers(twin: Twin, wave: Migrate) -> tuple[WorkloadState, int] | None:
    """The wave's temporary servers, from today: their compute is asked of their cluster
    (as a workload's is) and their storage held there."""
    if wave.servers is None:
        return None
    name = f"servers:{wave.name}"
    # Trusted: the scenario's fields were checked; a workload with no data of its own.
    model = Workload.model_construct(lands_on=wave.servers.cluster, compute=wave.servers,
                                     start=twin.date())
    state = WorkloadState.of(name, model, twin.start)
    twin.add_workload(state)
    cluster = twin.stores[wave.servers.cluster]
    kept = cluster.hold(wave.servers_storage)
    twin.refuse(name, cluster.ref, wave.servers_storage - kept,
                f"storage of the servers of {wave.name}")
    twin.note("servers-start", cluster.ref, f"{wave.name}: temporary servers start",
              wave=wave.name)
    return state, kept


def _release_servers(twin: Twin, wave: Migrate, servers: tuple[WorkloadState, int]) -> None:
    """The day after the last byte is placed: the servers go, and so do their compute and
    storage."""
    assert wave.servers is not None
    state, kept = servers
    state.end_day = twin.day - 1  # today they are gone
    twin.reconfigured += 1
    twin.stores[wave.servers.cluster].own -= kept
    twin.note("servers-released", wave.servers.cluster,
              f"{wave.name}: temporary servers released", wave=wave.name)
