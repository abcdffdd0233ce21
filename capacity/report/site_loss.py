"""A site loss as data (JSON) and as tables: for ``capacity dr-check`` and for the site
failures of a ``simulate`` run."""

from __future__ import annotations

from typing import Any

from capacity.report.grid import Cell, Grid
from capacity.report.grid import ram_text as _ram
from capacity.report.grid import size_text as _size
from capacity.sim.results import Need, SiteLoss


def as_data(loss: SiteLoss) -> dict[str, Any]:
    """JSON-ready: sizes in integer bytes (``*_bytes``), dates ISO 8601."""
    return {
        "site": loss.site, "date": loss.date.isoformat(), "days": loss.days,
        "holds": loss.holds,
        "workloads": [{
            "workload": o.workload, "survives": o.survives, "available": o.available,
            "rto_zero": o.rto_zero, "rpo_days": o.rpo_days, "why": o.why,
            "writes_to": o.writes_to, "compute_to": o.compute_to,
            "storage_short_bytes": o.storage_short, "vcpu_short": o.vcpu_short,
            "ram_short_bytes": o.ram_short, "gpus_short": o.gpus_short,
        } for o in loss.outcomes],
        "stores": [{"resource": n.resource, "new_data_bytes": n.asked[0],
                    "free_bytes": n.offered[0], "short_bytes": n.short[0]}
                   for n in loss.stores],
        "clusters": [_cluster(n) for n in loss.clusters],
    }


def _cluster(n: Need) -> dict[str, Any]:
    (vcpu, ram, gpus), (has_vcpu, has_ram, has_gpus) = n.asked, n.offered
    short = n.short
    return {"cluster": n.resource, "vcpu_asked": vcpu, "vcpu": has_vcpu,
            "ram_asked_bytes": ram, "ram_bytes": has_ram, "gpus_asked": gpus,
            "gpus": has_gpus, "vcpu_short": short[0], "ram_short_bytes": short[1],
            "gpus_short": short[2], "more_nodes": n.more_nodes}


def headline(loss: dict[str, Any]) -> Cell:
    """One line: does the rest of the estate carry the site's work, and at RTO 0?"""
    where = f"{loss['site']} lost on {loss['date']} for {loss['days']} days"
    work = loss["workloads"]
    if not work:
        return Cell(f"{where}: nothing runs there", "dim")
    down = [w["workload"] for w in work if not w["survives"]]
    slow = [w["workload"] for w in work if w["survives"] and not w["rto_zero"]]
    if not down and not slow:
        return Cell(f"{where}: DR holds at RTO 0", "bold")
    said = [f"{len(down)} of {len(work)} workload(s) not carried ({', '.join(down)})"] if (
        down) else []
    if slow:
        said.append(f"not RTO 0: {', '.join(slow)}")
    return Cell(f"{where}: DR does not hold: " + "; ".join(said), "crit" if down else "warn")


def grids(loss: dict[str, Any]) -> list[Grid]:
    """Per workload how it carries on; per surviving store and cluster what it is asked."""
    work = Grid(f"Lost: {loss['site']} ({loss['date']}, {loss['days']} days)",
                ["workload", "carried", "RTO 0", "RPO", "data on", "compute on", "short",
                 "how"], left=8, empty="nothing runs there")
    for w in loss["workloads"]:
        short = [text for text, n in (
            (_size(w["storage_short_bytes"]), w["storage_short_bytes"]),
            (f"{w['vcpu_short']} vCPU", w["vcpu_short"]),
            (_ram(w["ram_short_bytes"]) + " RAM", w["ram_short_bytes"]),
            (f"{w['gpus_short']} GPUs", w["gpus_short"])) if n]
        carried = ("yes" if w["survives"] else "short" if w["available"] else "no")
        work.rows.append([
            Cell(w["workload"]), Cell(carried, "" if w["survives"] else "crit"),
            Cell("yes" if w["rto_zero"] else "no", "" if w["rto_zero"] else "warn"),
            Cell("-" if w["rpo_days"] is None else f"{w['rpo_days']} d"),
            Cell(w["writes_to"] or "-"), Cell(w["compute_to"] or "-"),
            Cell(", ".join(short) or "-", "crit" if short else ""), Cell(w["why"])])
    takes = Grid("Taking over", ["resource", "asked", "has", "short", "to carry it"], left=1)
    for s in loss["stores"]:
        takes.rows.append([
            Cell(s["resource"]), Cell(_size(s["new_data_bytes"]) + " new data"),
            Cell(_size(s["free_bytes"]) + " free"),
            Cell(_size(s["short_bytes"]) if s["short_bytes"] else "-",
                 "crit" if s["short_bytes"] else ""),
            Cell(f"{_size(s['short_bytes'])} more" if s["short_bytes"] else "-")])
    for c in loss["clusters"]:
        short = [text for text, n in ((f"{c['vcpu_short']} vCPU", c["vcpu_short"]),
                                      (_ram(c["ram_short_bytes"]) + " RAM",
                                       c["ram_short_bytes"]),
                                      (f"{c['gpus_short']} GPUs", c["gpus_short"])) if n]
        more = ("-" if not short else f"{c['more_nodes']} node(s) more"
                if c["more_nodes"] else "more than a cluster takes")
        takes.rows.append([
            Cell(c["cluster"]),
            Cell(f"{c['vcpu_asked']} vCPU, {_ram(c['ram_asked_bytes'])}, {c['gpus_asked']}"
                 " GPUs"),
            Cell(f"{c['vcpu']} vCPU, {_ram(c['ram_bytes'])}, {c['gpus']} GPUs"),
            Cell(", ".join(short) or "-", "crit" if short else ""), Cell(more)])
    return [work, takes] if work.rows else [work]


__all__ = ["as_data", "grids", "headline"]
