"""The files a run leaves behind: CSV for spreadsheets, JSON for programs, HTML for people.

Every writer is deterministic: the same result gives byte-identical files (rows in a fixed
order, floats to 6 places, ``\\n`` line ends, no timestamps).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import enum
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from capacity.report.simulation import compare_summary, sorted_orders, summary
from capacity.sim.results import SimResult

TIMESERIES_COLUMNS = ("date", "resource", "kind", "site", "used_bytes", "capacity_bytes",
                      "fill_ratio", "warning_ratio", "critical_ratio")
COMPUTE_COLUMNS = ("date", "cluster", "vcpu_demand", "vcpu", "ram_demand_bytes", "ram_bytes",
                   "gpu_demand", "gpus")
EVENTS_COLUMNS = ("date", "kind", "resource", "message", "data")
ORDERS_COLUMNS = ("rule", "resource", "unit", "units", "ordered", "installed", "cost",
                  "capacity_bytes", "rack_units", "power_w", "why")


def _float(x: float) -> str:
    """Plain decimal, at most 6 places, no exponent (spreadsheets read it as typed)."""
    text = f"{round(float(x), 6) + 0.0:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def _encode(value: Any) -> Any:
    """Event data is free-form: encode what a simulator is likely to put there, and fall back
    to text rather than fail a long run at the last step."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def dumps_json(data: Any) -> str:
    """Indented JSON, keys in the order given (``summary`` already sorts), newline-terminated."""
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False, default=_encode) + "\n"


def _compact_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_encode)


def _check_lengths(result: SimResult) -> None:
    """A series shorter or longer than the run is a simulator bug: say so, by name."""
    for ref, s in result.resources.items():
        for name in ("used", "capacity"):
            if len(getattr(s, name)) != result.days:
                raise ValueError(f"resource {ref}: {name} has {len(getattr(s, name))} days,"
                                 f" the run {result.days}")
    for ref, c in result.compute.items():
        for name in ("vcpu_demand", "vcpu", "ram_demand", "ram", "gpu_demand", "gpus"):
            if len(getattr(c, name)) != result.days:
                raise ValueError(f"cluster {ref}: {name} has {len(getattr(c, name))} days,"
                                 f" the run {result.days}")


def timeseries_rows(result: SimResult) -> Iterator[tuple[str, ...]]:
    """One row per day per resource, day-major, resources by name."""
    series = [result.resources[ref] for ref in sorted(result.resources)]
    fixed = [(s.ref, s.kind, s.site, _float(s.warning), _float(s.critical)) for s in series]
    for day in range(result.days):
        date = result.date(day).isoformat()
        for s, (ref, kind, site, warning, critical) in zip(series, fixed, strict=True):
            used, cap = int(s.used[day]), int(s.capacity[day])
            fill = _float(used / cap) if cap > 0 else ""  # no capacity: undefined, not 0
            yield date, ref, kind, site, str(used), str(cap), fill, warning, critical


def compute_rows(result: SimResult) -> Iterator[tuple[str, ...]]:
    """One row per day per cluster, day-major, clusters by name."""
    series = [result.compute[name] for name in sorted(result.compute)]
    for day in range(result.days):
        date = result.date(day).isoformat()
        for c in series:
            yield (date, c.cluster, *(str(int(v[day])) for v in (
                c.vcpu_demand, c.vcpu, c.ram_demand, c.ram, c.gpu_demand, c.gpus)))


def event_rows(result: SimResult) -> Iterator[tuple[str, ...]]:
    """By date; within a day in the simulator's order, which is the order things happened."""
    for e in sorted(result.events, key=lambda e: e.date):
        yield e.date.isoformat(), e.kind, e.resource, e.message, _compact_json(e.data)


def order_rows(result: SimResult) -> Iterator[tuple[str, ...]]:
    for o in sorted_orders(result.orders):
        yield (o.rule, o.resource, o.unit, str(int(o.units)), o.ordered.isoformat(),
               o.installed.isoformat(), _float(o.cost), str(int(o.capacity)),
               str(int(o.rack_units)), _float(o.power_w), o.why)


def _write_csv(path: Path, columns: Iterable[str], rows: Iterable[Iterable[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    return path


def _write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


def write_outputs(result: SimResult, out_dir: Path) -> list[Path]:
    """Write a run's files into ``out_dir`` (created if needed) and return their paths."""
    from capacity.report.html import render_report  # matplotlib: only to draw charts

    _check_lengths(result)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        _write_csv(out_dir / "timeseries.csv", TIMESERIES_COLUMNS, timeseries_rows(result)),
        _write_csv(out_dir / "compute.csv", COMPUTE_COLUMNS, compute_rows(result)),
        _write_csv(out_dir / "events.csv", EVENTS_COLUMNS, event_rows(result)),
        _write_csv(out_dir / "orders.csv", ORDERS_COLUMNS, order_rows(result)),
        _write_text(out_dir / "summary.json", dumps_json(summary(result))),
        _write_text(out_dir / "report.html", render_report(result)),
    ]


def write_compare(results: dict[str, SimResult], out_dir: Path) -> list[Path]:
    """Write compare.json and compare.html into ``out_dir`` and return their paths."""
    from capacity.report.html import render_compare

    for result in results.values():
        _check_lengths(result)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        _write_text(out_dir / "compare.json", dumps_json(compare_summary(results))),
        _write_text(out_dir / "compare.html", render_compare(results)),
    ]
