"""An HDT pool with volumes of closed archive eras and a policy on its array, for the
simulator's and the executor's tests."""

from __future__ import annotations

from pathlib import Path

TIB = 2**40

LAB = """\
name: Lab
as_of: 2026-11-01
sites:
  lab: {{role: primary, racks: {{count: 2, units: 42, power_kw: 20}}}}
workloads:
  pacs:
    lands_on: g900-lab/pacs-hdt
    stored: 120TB
    stored_ages: {{youngest: 0d, oldest: 1y}}
    retention: 10y
arrays:
  g900-lab:
    site: lab
    model: vsp-g900
    drive_boxes: 8
    rest: {{endpoint: "{endpoint}"{ca}}}
    pools:
      pacs-hdt:
        pool_id: 0
        type: HDT
        tiers:
          - name: ssd
            parity_groups: [{{drive: sas-ssd-3.84tb, raid: 7D+1P, count: 2}}]
          - name: nlsas
            parity_groups: [{{drive: nl-sas-18tb, raid: 14D+2P, count: 4}}]
        volumes:
          pacs-archive-2019: {{ldev: 0x200, used: 30TiB, last_write: 2019-12-31}}
          pacs-archive-2026: {{ldev: 0x202, used: 20TiB, last_write: 2026-12-31}}
      vm:
        pool_id: 1
        tiers:
          - name: sas
            parity_groups: [{{drive: sas-10k-2.4tb, raid: 6D+2P, count: 1}}]
policies:
  archive-era:
    arrays: [g900-lab]
    schedule: {{every: 24h, at: "22:00"}}
    pacing: {{windows: ["22:00-06:00"]}}
    rules:
      - name: old-eras-down
        action: tiering
        from: pacs-hdt
        tier_level: 5
        select: {{older_than: 90d, paths: ["pacs-archive-*"]}}
{extra}"""

RELOCATE = """\
      - {name: relocate-now, action: relocate, from: pacs-hdt, relocation: start}
"""


def write_lab(folder: Path, *, endpoint: str = "https://g900-lab.hospital.example",
              ca: Path | None = None, relocate: bool = True, extra: str = "") -> Path:
    path = folder / "lab.yaml"
    path.write_text(LAB.format(endpoint=endpoint, ca=f', ca_bundle: "{ca}"' if ca else "",
                               extra=(RELOCATE if relocate else "") + extra),
                    encoding="utf-8")
    return path
