"""The progress of applies, from the journal: units by state per host, bytes moved, rate,
and the units that failed or were kept in both places."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from capacity.tiering import journal as J
from capacity.tiering.journal import Journal


def journal_units(path: Path, *, unfinished: bool = False) -> list[J.UnitRow]:
    """Every unit of the journal at ``path`` (or those an apply left unfinished), read at
    once so the journal is closed again before anything else happens."""
    journal = Journal(path)
    try:
        return list(journal.units(unfinished=unfinished))
    finally:
        journal.close()


def status_report(rows: list[J.UnitRow]) -> dict[str, Any]:
    """Per host (sorted): units, units per state, in progress, bytes done and planned, the
    first start and last finish of a done unit (local ISO 8601) and the rate between them;
    and every failed or kept-both unit with its error."""
    hosts: dict[str, dict[str, Any]] = {}
    for r in rows:
        h = hosts.setdefault(r.host, {"host": r.host, "units": 0, "states": {},
                                      "in_progress": 0, "done_bytes": 0, "planned_bytes": 0,
                                      "first_started": None, "last_finished": None})
        h["units"] += 1
        h["states"][r.state] = h["states"].get(r.state, 0) + 1
        h["planned_bytes"] += r.bytes
        if r.state not in J.FINAL and r.state != J.PENDING:
            h["in_progress"] += 1
        if r.state == J.DONE:
            h["done_bytes"] += r.bytes
            if r.started:
                h["first_started"] = min(filter(None, (h["first_started"], r.started)))
            if r.finished:
                h["last_finished"] = max(filter(None, (h["last_finished"], r.finished)))
    out = []
    for h in hosts.values():
        span = (h["last_finished"] or 0) - (h["first_started"] or 0)
        h["bytes_per_second"] = h["done_bytes"] / span if span > 0 else 0.0
        for key in ("first_started", "last_finished"):
            h[key] = (time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(h[key]))
                      if h[key] else None)
        out.append(h)
    failures = [{"host": r.host, "unit": r.unit, "rule": r.rule, "state": r.state,
                 "error": r.error} for r in rows if r.state in (J.FAILED, J.KEPT_BOTH)]
    return {"hosts": sorted(out, key=lambda h: h["host"]), "failures": failures}
