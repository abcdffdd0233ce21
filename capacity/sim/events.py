"""Scenario events that change demand or configuration on their date: a workload starts or
changes, nodes are added or removed.  Failures and migrations have their own modules."""

from __future__ import annotations

from collections.abc import Generator

import simpy

from capacity.model.scenario import (
    AddNodes,
    AddWorkload,
    ScaleDemand,
    ScenarioEvent,
    SetCompression,
    SetGrowth,
)
from capacity.sim.twin import EVENTS, Twin, WorkloadState
from capacity.sim.workloads import workload


def change(twin: Twin, event: ScenarioEvent, day: int) -> Generator[simpy.Event, None, None]:
    yield twin.env.timeout(day + EVENTS - twin.env.now)
    match event:
        case AddWorkload(name=name, workload=wl):
            if wl.start is None:
                wl = wl.model_copy(update={"start": twin.date()})
            twin.add_workload(WorkloadState.of(name, wl, twin.start))
            twin.env.process(workload(twin, name))
            twin.note("workload-added", wl.lands_on, f"{name} starts {wl.start}")
        case SetGrowth(workload=name, growth=growth):
            twin.workloads[name].set_growth(twin.day, growth)
            twin.reconfigured += 1  # what it asks moves: judgements of it are stale
            twin.note("growth-changed", name, f"growth now {growth:.1%} a year")
        case SetCompression(workload=name, compression=ratio, modality=modality):
            twin.workloads[name].set_compression(ratio, modality)
            twin.reconfigured += 1
            twin.note("compression-changed", name, f"compression now {ratio}:1"
                      + (f" for {modality}" if modality else ""))
        case ScaleDemand(workload=name, factor=factor):
            twin.workloads[name].scale *= factor
            twin.reconfigured += 1
            twin.note("demand-scaled", name, f"daily volume x {factor}")
        case AddNodes(cluster=name, count=count):
            cluster = twin.clusters[name]
            twin.clusters[name] = cluster.model_copy(
                update={"nodes": max(1, cluster.nodes + count)})
            twin.refresh_capacity(name)
            twin.note("nodes-changed", name, f"{count:+d} node(s): {cluster.nodes + count}")
