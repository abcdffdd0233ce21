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


TIERED = INVENTORY + """\
hosts:
  pacs1:
    address: 127.0.0.1
    user: capacity
    tiers:
      hot: {path: /pacs/hot, storage: hci}
      warm: {path: /pacs/warm, storage: archive}
policies:
  life:
    hosts: [pacs1]
    unit: {depth: 3}
    trigger: {high: 80%, low: 70%}
    schedule: {every: 6h, at: "01:00"}
    retention: 5y
    holds:
      - {paths: ["2019/*"], reason: Litigation 2026-001}
    rules:
      - {name: to-warm, from: hot, to: warm, select: {older_than: 180d}}
      - {name: expire, action: expire, from: warm, select: {older_than: 5y}}
"""
"""The estate with a host (its tiers on ``hci`` and ``archive``) and a policy that moves
above a watermark, every six hours, and expires past its retention outside a hold."""


def write_tiered_state(state: Path, now: float) -> None:
    """What ``capacity tier run`` and ``apply`` leave in the state folder, written with
    their own calls: the runs ledger of two runs of ``life`` on pacs1 six hours apart, both
    finding ``hot`` at 85% (above its 80%), and an audit log with an expiry a hold
    refused."""
    from capacity.schedule import ledger
    from capacity.tiering.audit import AuditLog

    runs = state / "runs.jsonl"
    for start in (now - 6 * 3600 - 600, now - 600):
        ledger.started(runs, "life", ["pacs1"], start)
        ledger.ended(runs, "life", ["pacs1"], start, start + 120, 0,
                     [{"host": "pacs1", "tier": "hot", "fill_ratio": 0.85,
                       "high_ratio": 0.8}])
    audit = AuditLog(state / "audit.jsonl")
    try:
        audit.write(host="pacs1", policy="life", unit_id="x1", unit="2019/01/S1",
                    rule="expire", action="expire", step="skipped", refused="hold",
                    error="held: Litigation 2026-001, at apply time: nothing was deleted")
        audit.write(host="pacs1", policy="life", unit_id="x2", unit="2020/01/S2",
                    rule="to-warm", action="move", step="done")
    finally:
        audit.close()
