"""The runs ledger: what ``capacity tier run`` began and ended, one JSON line each, in
``runs.jsonl`` of the state folder (appended and fsynced as the audit log is), for the
exporter's ``capacity_tier_runs_*`` and ``capacity_tier_fill_*`` metrics.

The journal keeps units, so a run that found nothing to do (the tier below its watermark,
nothing old enough) leaves nothing there; the ledger keeps every run, so the exporter can
tell a run that did nothing from one that never started (docs/operations.md).

- ``{"event": "run-started", "policy", "hosts", "start"}`` once the run is due, before its
  first step;
- ``{"event": "run-ended", "policy", "hosts", "start", "end", "exit_status", "fills"}`` when
  it ends, whatever its outcome; ``fills`` are the tier fills its plan measured for the
  policy's watermarks: ``{"host", "tier", "fill_ratio", "high_ratio"}`` (the high
  watermark the plan judged them by).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capacity.tiering.audit import AuditLog

STARTED, ENDED = "run-started", "run-ended"
OUTCOMES = ("ok", "failed", "refused")
"""A run's outcome by its exit status (0, 1, 2), as ``capacity_tier_run_outcome``'s."""


def record(path: Path, **fields: Any) -> None:
    """Append one line to the ledger at ``path`` (made with its folder when missing)."""
    log = AuditLog(path)
    try:
        log.write(**fields)
    finally:
        log.close()


def started(path: Path, policy: str, hosts: Sequence[str], start: float) -> None:
    record(path, event=STARTED, policy=policy, hosts=list(hosts), start=start)


def ended(path: Path, policy: str, hosts: Sequence[str], start: float, end: float,
          exit_status: int, fills: Iterable[dict[str, Any]] = ()) -> None:
    record(path, event=ENDED, policy=policy, hosts=list(hosts), start=start, end=end,
           exit_status=exit_status, fills=list(fills))


@dataclass
class HostRuns:
    """What the ledger says of one policy's runs on one host."""

    last_start: float
    last_end: float | None = None
    """When the last run that began ended; None while it goes on (or if it died)."""
    runs: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))


@dataclass
class TierFill:
    """The last fill of one tier a run of one policy measured, and since when every run's
    measurement found it above the high watermark (None: the last one did not)."""

    fill: float
    high: float
    measured: float
    above_since: float | None


@dataclass
class Ledger:
    """The ledger read so far: fold it line by line (:meth:`add`)."""

    runs: dict[tuple[str, str], HostRuns] = field(default_factory=dict)
    """(policy, host) -> its runs."""
    fills: dict[tuple[str, str, str], TierFill] = field(default_factory=dict)
    """(policy, host, tier) -> its last measured fill."""

    def add(self, line: dict[str, Any]) -> None:
        event, policy = line.get("event"), str(line.get("policy", ""))
        try:
            start = float(line["start"])
            hosts = [str(h) for h in line["hosts"]]
        except (KeyError, TypeError, ValueError):
            return  # not a ledger line
        if event == STARTED:
            for host in hosts:
                known = self.runs.get((policy, host))
                if known is None:
                    self.runs[(policy, host)] = HostRuns(start)
                else:
                    known.last_start, known.last_end = start, None
        elif event == ENDED:
            end = float(line.get("end", start))
            outcome = OUTCOMES[min(max(int(line.get("exit_status", 1)), 0), 2)]
            for host in hosts:
                known = self.runs.setdefault((policy, host), HostRuns(start))
                if start >= known.last_start:
                    known.last_start, known.last_end = start, end
                known.runs[outcome] += 1
            for f in line.get("fills") or ():
                self._measured(policy, f, start)

    def _measured(self, policy: str, f: dict[str, Any], when: float) -> None:
        key = (policy, str(f["host"]), str(f["tier"]))
        fill, high = float(f["fill_ratio"]), float(f["high_ratio"])
        before = self.fills.get(key)
        since = None
        if fill > high:
            since = before.above_since if before and before.above_since is not None else when
        self.fills[key] = TierFill(fill, high, when, since)
