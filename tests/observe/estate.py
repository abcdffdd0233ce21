"""The estate the exporter's tests serve: small enough to size by hand.

- cluster ``hci``: 3 nodes x 4 x 3.84 TB = 46.08 TB raw; N+1 keeps 2/3 (30.72 TB), mirroring
  halves it (15.36 TB), 25% slack leaves 75%: 11.52 TB effective;
- object store ``archive``: 140 TB raw, erasure coding 10+4 keeps 10/14: 100 TB;
- used: ``clinic-pacs`` stores 7.5 TB on hci; ``images`` 60 TB on the archive, where the
  backup of hci (``change_rate: new-data``: one full copy) adds 7.5 TB: 67.5 TB.

The archive grows 0.2 TB a day with no growth rate and buys 28 TB of raw at a time, so the
simulation has runways with and without purchases and orders to show.
"""

from __future__ import annotations

from pathlib import Path

TB = 10**12
CAPACITY = {"hci": 46_080 * 10**9 * 2 // 3 // 2 * 3 // 4, "archive": 140 * TB * 10 // 14}
USED = {"hci": 7_500 * 10**9, "archive": 60 * TB + 7_500 * 10**9}

INVENTORY = """\
name: Exporter test estate
as_of: 2026-11-01
currency: USD
sites:
  main: {role: primary, racks: {count: 2, units: 42, power_kw: 20}}
clusters:
  hci:
    site: main
    node_model: ucp-hc-v121f
    nodes: 3
    drives: {drive: nvme-ssd-3.84tb, count: 4}
    storage_policy: mirror-ftt1
object_stores:
  archive:
    site: main
    raw: 140TB
    protection: {data: 10, parity: 4}
    rack_units: 4
    power_w: 900
workloads:
  clinic-pacs:
    lands_on: hci
    stored: 7.5TB
    stored_ages: {oldest: 2y}
    per_year: 1TB
    retention: 10y
  images:
    lands_on: archive
    stored: 60TB
    stored_ages: {oldest: 3y}
    per_year: 73TB
    retention: 10y
replications:
  hci-backup:
    kind: backup
    source: hci
    target: archive
    retention: 30d
    change_rate: new-data
procurement:
  archive-raw:
    resource: archive
    unit: raw
    capacity: 28TB
    lead_time: 4w
    unit_cost: 20000
"""


def write_inventory(folder: Path, text: str = INVENTORY) -> Path:
    path = folder / "estate.yaml"
    path.write_text(text, encoding="utf-8")
    return path
