#!/usr/bin/env python3
"""Simulator speed: the bundled example for 10 years at daily resolution, and how the cost
grows with the number of resources (1x, 10x, 50x a synthetic estate).

Baselines, measured in the same run: a bare SimPy loop with the same number of processes
ticking daily for the same days (each its own timeout, SimPy's idiom), doing no work, in
turns with the example; and the same actors ticking the way the tool's do (those at one
moment of the day share one timeout, ``capacity.sim.twin.Clock``), also doing no work.  The
ratios say how much of the time is our model and how much SimPy's event machinery.

Also timed in the same turns: the example as ``capacity simulate`` plays it, twice (as
planned, and buying nothing for the runways without purchases).

Run: python3 benchmarks/sim_speed.py [--repeat N] [--scales 1,10,50]
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import simpy

# Measure this checkout, not whichever one an editable install happens to point at.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from capacity.load import load_inventory  # noqa: E402
from capacity.model import Inventory  # noqa: E402
from capacity.sim import simulate  # noqa: E402
from capacity.sim.twin import INGEST, PROCUREMENT, RECORD, REPLICATION, TIERING, Clock  # noqa: E402

YEARS = 10
DAYS = 365 * YEARS
SCALES = (1, 10, 50)
"""Copies of a two-slice synthetic estate (10 storage resources a copy)."""


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timed_in_turns(calls: list[Callable[[], object]], repeat: int) -> list[list[float]]:
    """Wall times of ``repeat`` calls of each, in seconds, taken in turns after one call of
    each to warm up: on a shared machine they all then see the same load."""
    for call in calls:
        call()
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(repeat):
        for call, taken in zip(calls, times, strict=True):
            start = time.perf_counter()
            call()
            taken.append(time.perf_counter() - start)
    return times


def bare_simpy(processes: int, days: int) -> None:
    env = simpy.Environment()

    def tick():
        while True:
            yield env.timeout(1)

    for _ in range(processes):
        env.process(tick())
    env.run(until=days)


def shared_simpy(groups: list[tuple[float, int]], days: int) -> None:
    """The same processes ticking the way the tool's do, doing no work: those that act at
    one moment of the day share one timeout a day (the tool's own ``Clock``)."""
    env = simpy.Environment()
    clocks: dict[float, Clock] = {}

    def actor(moment: float):
        yield env.timeout(moment)
        clock = clocks.get(moment) or clocks.setdefault(moment, Clock(env))
        while True:
            yield clock.tick()

    for moment, count in groups:
        for _ in range(count):
            env.process(actor(moment))
    env.run(until=days)


def unit(i: int) -> dict[str, Any]:
    """One synthetic slice of an estate: a hot pool, a warm pool (GAD to a DR pool), an
    object store, an HCI cluster, two workloads, a tier policy and procurement rules."""
    pg = [{"drive": "nvme-ssd-7.68tb", "raid": "6D+2P", "count": 3}]
    nl = [{"drive": "nl-sas-20tb", "raid": "14D+2P", "count": 2}]
    return {
        "arrays": {
            f"hot{i}": {"site": "main", "model": "vsp-e1090",
                        "pools": {"p": {"tiers": [{"name": "nvme", "parity_groups": pg}]}}},
            f"warm{i}": {"site": "main", "model": "vsp-g900", "drive_boxes": 4,
                         "pools": {"p": {"tiers": [{"name": "nl", "parity_groups": nl}]}}},
            f"dr{i}": {"site": "dr", "model": "vsp-g900", "drive_boxes": 4,
                       "pools": {"p": {"tiers": [{"name": "nl", "parity_groups": nl}]}}},
        },
        "object_stores": {f"obj{i}": {"site": "main", "raw": "2PB",
                                      "protection": {"data": 10, "parity": 4}}},
        "clusters": {f"hci{i}": {"site": "main", "node_model": "ucp-hc-v121f", "nodes": 6,
                                 "drives": {"drive": "nvme-ssd-7.68tb", "count": 8}}},
        "replications": {f"gad{i}": {"kind": "gad", "source": f"warm{i}/p",
                                     "target": f"dr{i}/p"}},
        "workloads": {
            f"img{i}": {"lands_on": f"hot{i}/p", "stored": "80TB", "per_year": "150TB",
                        "growth": "12%/y", "retention": "10y", "policy": f"life{i}"},
            f"vm{i}": {"lands_on": f"hci{i}", "stored": "40TB", "per_year": "10TB",
                       "compute": {"cluster": f"hci{i}", "vcpu": 200, "ram": "1TiB"}},
        },
        "hosts": {f"h{i}": {"address": "127.0.0.1", "tiers": {
            "hot": {"path": "/hot", "storage": f"hot{i}/p"},
            "warm": {"path": "/warm", "storage": f"warm{i}/p"},
            "arch": {"path": "/arch", "storage": f"obj{i}"}}}},
        "policies": {f"life{i}": {"hosts": [f"h{i}"], "trigger": {"high": "85%", "low": "75%"},
                                  "pacing": {"windows": ["22:00-06:00"],
                                             "bandwidth": "500MB/s"},
                                  "rules": [
            {"name": "warm", "from": "hot", "to": "warm", "select": {"older_than": "180d"}},
            {"name": "arch", "from": "warm", "to": "arch", "select": {"older_than": "3y"}}]}},
        "procurement": {
            f"hot-pg{i}": {"resource": f"hot{i}/p/nvme", "unit": "parity-group",
                           "lead_time": "8w", "unit_cost": 28000},
            f"warm-pg{i}": {"resource": f"warm{i}/p/nl", "unit": "parity-group",
                            "lead_time": "8w", "unit_cost": 12000},
            f"dr-pg{i}": {"resource": f"dr{i}/p/nl", "unit": "parity-group",
                          "lead_time": "8w", "unit_cost": 12000},
            f"node{i}": {"resource": f"hci{i}", "unit": "node", "lead_time": "10w",
                         "unit_cost": 48000},
            f"raw{i}": {"resource": f"obj{i}", "unit": "raw", "capacity": "1PB",
                        "lead_time": "12w", "unit_cost": 150000},
        },
    }


def estate_data(units: int) -> dict[str, Any]:
    """``units`` slices as one inventory, with the racks and drive boxes that the loader's
    checks ask for (``benchmarks/startup_speed.py`` loads it from YAML)."""
    data: dict[str, Any] = {"name": f"synthetic x{units}", "as_of": "2026-11-01",
                            "sites": {"main": {"role": "primary", "racks": {"count": 30 * units}},
                                      "dr": {"role": "dr", "racks": {"count": 20 * units}}}}
    for i in range(units):
        for section, entries in unit(i).items():
            data.setdefault(section, {}).update(entries)
        data["arrays"][f"hot{i}"]["drive_boxes"] = 2
    return data


def estate(units: int, catalog: dict[str, Any]) -> Inventory:
    return Inventory.model_validate({**estate_data(units), "catalog": catalog})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--scales", default=",".join(map(str, SCALES)),
                        help="copies of the synthetic estate to time, comma-separated"
                        " (empty: none)")
    args = parser.parse_args()
    scale_list = [int(s) for s in args.scales.split(",") if s.strip()]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores,"
          f" Python {platform.python_version()}")

    example = load_inventory(ROOT / "inventories" / "medical-center.yaml")
    processes = (len(example.workloads) + len(example.policies) + len(example.replications)
                 + 2)  # workloads, tiering, replication, desk, recorder
    copies = sum(1 for r in example.replications.values() if r.kind == "backup" or r.lag)
    groups = [(INGEST, len(example.workloads)), (TIERING, len(example.policies)),
              (REPLICATION, copies), (PROCUREMENT, 1), (RECORD, 1)]
    runs, floors, shared, both = timed_in_turns([
        lambda: simulate(example, years=YEARS),
        lambda: bare_simpy(processes, DAYS),
        lambda: shared_simpy(groups, DAYS),
        lambda: simulate(example, years=YEARS, unbought=True)], args.repeat)
    ours, floor = statistics.median(runs), statistics.median(floors)
    tick = statistics.median(shared)
    print(f"example, {YEARS} years daily: {ours * 1000:.0f} ms median of {args.repeat}"
          f" (best {min(runs) * 1000:.0f} ms; target 200 ms); bare SimPy with {processes}"
          f" processes: {floor * 1000:.0f} ms; ratio {ours / floor:.1f}x")
    print(f"  against the same actors sharing a timeout per moment of the day, as the tool's"
          f" do ({sum(n for _, n in groups)} processes): {tick * 1000:.0f} ms;"
          f" ratio {ours / tick:.1f}x")
    print(f"  as the command plays it (as planned and buying nothing):"
          f" {statistics.median(both) * 1000:.0f} ms")

    catalog = example.model_dump(mode="json", by_alias=True)["catalog"]
    scales = {scale: estate(2 * scale, copy.deepcopy(catalog)) for scale in scale_list}
    # In rounds, each scale once a round: a change in the machine's load then falls on all
    # of them rather than on one.
    times: dict[int, list[float]] = {scale: [] for scale in scales}
    for _ in range(max(3, args.repeat // 2)):
        for scale, inv in scales.items():
            times[scale].append(timed(lambda inv=inv: simulate(inv, years=YEARS), 1))
    base = None
    for scale, inv in scales.items():
        resources = len(inv.resource_names())
        seconds = statistics.median(times[scale])
        per = seconds / (resources * DAYS) * 1e6
        base = base or seconds
        print(f"{scale:>2}x: {resources:>3} resources, {seconds * 1000:7.0f} ms,"
              f" {per:.2f} us per resource-day, {seconds / base:5.1f}x the 1x time")


if __name__ == "__main__":
    main()
