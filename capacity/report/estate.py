"""`capacity show`: the estate's capacity today, as data (JSON) and as tables."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from capacity.model import Inventory
from capacity.report import UNITS_LINE
from capacity.sizing import Level, size_estate
from capacity.units import format_size

LEVELS: tuple[Level, ...] = ("warning", "critical")


def _compute_demand(inv: Inventory) -> dict[str, dict[str, int]]:
    demand = {name: {"vcpu": 0, "ram_bytes": 0, "gpus": 0} for name in inv.clusters}
    for wl in inv.workloads.values():
        if wl.compute is not None:
            d = demand[wl.compute.cluster]
            d["vcpu"] += wl.compute.vcpu
            d["ram_bytes"] += wl.compute.ram
            d["gpus"] += wl.compute.gpus
    return demand


def estate_report(inv: Inventory) -> dict[str, Any]:
    """Everything `show` says, as plain data: sizes in integer bytes, power in watts."""
    sized = size_estate(inv)
    demand = _compute_demand(inv)
    resources = []
    for r in sized.resources:
        resources.append({
            "ref": r.ref, "kind": r.kind, "site": r.site,
            "raw_bytes": r.raw, "usable_bytes": r.usable, "effective_bytes": r.effective,
            "used_bytes": r.used, "free_bytes": r.free, "fill_ratio": round(r.fill, 6),
            "thresholds": {level: {"ratio": getattr(r.thresholds, level),
                                   "headroom_bytes": r.headroom(level)} for level in LEVELS},
        })
    arrays = []
    for a in sized.arrays.values():
        arrays.append({
            "name": a.name, "site": a.site, "model": a.model, "drives": a.drives,
            "slots": a.slots, "max_drives": a.max_drives, "rack_units": a.rack_units,
            "power_w": round(a.power_w, 1),
            "pools": [{
                # raw is every drive, spares included, as for the resource
                "ref": p.ref, "raw_bytes": p.raw + p.spare_raw, "spare_raw_bytes": p.spare_raw,
                "after_raid_bytes": p.after_raid, "capacity_bytes": p.capacity,
                "effective_bytes": p.effective,
                "tiers": [{"name": t.name, "drive": t.drive, "drives": t.drives,
                           "spares": t.spares, "raw_bytes": t.raw + t.spare_raw,
                           "spare_raw_bytes": t.spare_raw, "data_bytes": t.data}
                          for t in p.tiers],
            } for p in a.pools.values()],
        })
    clusters = []
    for c in sized.clusters.values():
        d = demand[c.name]
        clusters.append({
            "name": c.name, "site": c.site, "nodes": c.nodes,
            "storage_policy": inv.clusters[c.name].storage_policy,
            "raw_bytes": c.raw, "reserve_raw_bytes": c.reserve_raw,
            "protected_bytes": c.protected, "usable_bytes": c.usable,
            "rack_units": c.rack_units, "power_w": round(c.power_w, 1),
            "compute": {"vcpu": c.vcpu, "vcpu_demand": d["vcpu"],
                        "ram_bytes": c.ram, "ram_demand_bytes": d["ram_bytes"],
                        "gpus": c.gpus, "gpus_demand": d["gpus"]},
        })
    sites = [{
        "name": name, "role": inv.sites[name].role,
        "rack_units": fp.rack_units, "rack_units_budget": fp.rack_units_budget,
        "power_w": round(fp.power_w, 1), "power_budget_w": round(fp.power_budget_w, 1),
    } for name, fp in sized.sites.items()]
    return {"inventory": inv.name, "as_of": inv.as_of, "sites": sites,
            "resources": resources, "arrays": arrays, "clusters": clusters}


def _size(n: int) -> str:
    return format_size(n, precision=1)


def _ram(n: int) -> str:
    """RAM is bought and quoted in binary units (GiB, TiB), as ``simulate`` shows it."""
    return format_size(n, binary=True, precision=1)


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def print_estate(report: dict[str, Any], console: Console) -> None:
    """Render ``estate_report`` as tables (storage in decimal units, RAM in binary)."""
    console.print(f"[bold]{report['inventory']}[/bold]  as of {report['as_of']}")
    console.print(f"[dim]{UNITS_LINE}[/dim]")

    storage = Table(title="Storage", title_justify="left")
    for col in ("resource", "site", "raw", "usable", "effective", "used", "fill",
                "to warning", "to critical"):
        storage.add_column(col, justify="left" if col in ("resource", "site") else "right")
    for r in report["resources"]:
        fill = r["fill_ratio"]
        style = ("red" if fill >= r["thresholds"]["critical"]["ratio"] else
                 "yellow" if fill >= r["thresholds"]["warning"]["ratio"] else "")
        storage.add_row(
            r["ref"], r["site"], _size(r["raw_bytes"]), _size(r["usable_bytes"]),
            _size(r["effective_bytes"]), _size(r["used_bytes"]),
            f"[{style}]{fill * 100:.0f}%[/{style}]" if style else f"{fill * 100:.0f}%",
            _size(r["thresholds"]["warning"]["headroom_bytes"]),
            _size(r["thresholds"]["critical"]["headroom_bytes"]))
    console.print(storage)

    tiers = Table(title="Array tiers", title_justify="left")
    for col in ("array / pool / tier", "drive", "drives", "spares", "raw", "after RAID"):
        tiers.add_column(col, justify="left" if col in ("array / pool / tier", "drive")
                         else "right")
    for a in report["arrays"]:
        for p in a["pools"]:
            for t in p["tiers"]:
                tiers.add_row(f"{p['ref']}/{t['name']}", t["drive"], str(t["drives"]),
                              str(t["spares"]), _size(t["raw_bytes"]), _size(t["data_bytes"]))
        tiers.add_row(f"[dim]{a['name']} ({a['model']})[/dim]", "",
                      f"[dim]{a['drives']}/{a['slots']} slots[/dim]", "", "", "")
    if report["arrays"]:
        console.print(tiers)

    compute = Table(title="Compute (usable after N+k and controller VMs)", title_justify="left")
    for col in ("cluster", "nodes", "policy", "vCPU", "RAM", "GPUs"):
        compute.add_column(col, justify="left" if col in ("cluster", "policy") else "right")
    for c in report["clusters"]:
        m = c["compute"]
        compute.add_row(
            c["name"], str(c["nodes"]), c["storage_policy"],
            f"{m['vcpu_demand']}/{m['vcpu']} ({_pct(m['vcpu_demand'], m['vcpu'])})",
            f"{_ram(m['ram_demand_bytes'])}/{_ram(m['ram_bytes'])}"
            f" ({_pct(m['ram_demand_bytes'], m['ram_bytes'])})",
            f"{m['gpus_demand']}/{m['gpus']}")
    if report["clusters"]:
        console.print(compute)

    sites = Table(title="Sites: rack space and power", title_justify="left")
    for col in ("site", "role", "rack units", "power"):
        sites.add_column(col, justify="left" if col in ("site", "role") else "right")
    for s in report["sites"]:
        budget = s["power_budget_w"]
        sites.add_row(
            s["name"], s["role"], f"{s['rack_units']}/{s['rack_units_budget']} U",
            f"{s['power_w'] / 1000:.1f}/{budget / 1000:.1f} kW" if budget
            else f"{s['power_w'] / 1000:.1f} kW (no budget)")
    console.print(sites)
