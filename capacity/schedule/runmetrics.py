"""What a finished tier run did, as Prometheus metrics: for node_exporter's textfile
collector (a ``.prom`` file written whole: a temporary file renamed into place), or pushed
to a Pushgateway.

These are the run's own figures, as ``capacity tier run`` saw them, under
``capacity_tier_run_*``; the exporter's ``capacity_tier_last_run_*`` are the journal's, per
host (docs/operations.md).  Gauges, all: each file or push replaces the last run's, except
``capacity_tier_run_last_success_timestamp_seconds``, which a failed run carries over.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from capacity.errors import BadInput

NS = "capacity_tier_run"
OUTCOMES = ("ok", "failed", "refused")
"""Exit 0: every unit done or skipped (or nothing to do); 1: a step or a unit failed, or a
host could not be reached; 2: bad input (inventory, plan, state), nothing was done."""
STATES = ("done", "skipped", "kept-both", "failed")
LAST_SUCCESS = f"{NS}_last_success_timestamp_seconds"
PUSH_JOB = "capacity_tier_run"


@dataclass(frozen=True, slots=True)
class HostFigures:
    """What the run's apply did on one host or array."""

    host: str
    done: int = 0
    skipped: int = 0
    kept_both: int = 0
    failed: int = 0
    bytes: int = 0


@dataclass(frozen=True, slots=True)
class RunFigures:
    """One run of one policy (on all its hosts, or on ``host``)."""

    policy: str
    start: float
    """Unix time it began."""
    end: float
    exit_status: int
    host: str | None = None
    planned_units: int = 0
    planned_bytes: int = 0
    hosts: Sequence[HostFigures] = field(default=())
    last_success: float | None = None
    """When a run last succeeded: this one's end when it did, else the one carried over."""

    @property
    def outcome(self) -> str:
        return OUTCOMES[min(self.exit_status, 2)]


def registry(run: RunFigures) -> CollectorRegistry:
    """The run's metrics."""
    reg = CollectorRegistry(auto_describe=True)
    policy = {"policy": run.policy}

    def gauge(name: str, doc: str, value: float, extra: Sequence[str] = (),
              values: Sequence[tuple[Sequence[str], float]] = ()) -> None:
        g = Gauge(f"{NS}_{name}", doc, ["policy", *extra], registry=reg)
        if extra:
            for labels, v in values:
                g.labels(run.policy, *labels).set(v)
        else:
            g.labels(**policy).set(value)

    gauge("start_timestamp_seconds", "When the last tier run of the policy began.", run.start)
    gauge("end_timestamp_seconds", "When it ended.", run.end)
    gauge("duration_seconds", "How long it took.", max(0.0, run.end - run.start))
    gauge("exit_status", "Its exit status: 0 ok, 1 failed, 2 bad input.", run.exit_status)
    gauge("outcome", "1 for the last run's outcome (ok, failed, refused), 0 for the others.",
          0, ["outcome"], [((o,), float(o == run.outcome)) for o in OUTCOMES])
    gauge("planned_units", "Units its plan chose to move, expire or set.", run.planned_units)
    gauge("planned_bytes", "Bytes of those units.", run.planned_bytes)
    gauge("units", "Units its apply took per host (or array) and final state.", 0,
          ["host", "state"],
          [((h.host, s), float(getattr(h, s.replace("-", "_")))) for h in run.hosts
           for s in STATES])
    gauge("done_bytes", "Bytes of the units its apply finished per host (or array).", 0,
          ["host"], [((h.host,), float(h.bytes)) for h in run.hosts])
    if run.last_success is not None:
        gauge("last_success_timestamp_seconds", "When a tier run of the policy last ended"
              " with every unit done or skipped.", run.last_success)
    return reg


def text(run: RunFigures) -> str:
    """The metrics in the text exposition format."""
    return generate_latest(registry(run)).decode("utf-8")


def file_name(policy: str, host: str | None) -> str:
    """The run's file in the collector's folder (one per scheduled job)."""
    return f"capacity-tier-{policy}{'-' + host if host else ''}.prom"


def last_success(path: Path, policy: str) -> float | None:
    """The last success a previous run's file records, if any (an unreadable file: none)."""
    try:
        families = list(text_string_to_metric_families(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None
    for family in families:
        for sample in family.samples:
            if sample.name == LAST_SUCCESS and sample.labels.get("policy") == policy:
                return float(sample.value)
    return None


def write_textfile(folder: Path, run: RunFigures) -> Path:
    """Write the run's metrics into the textfile collector's folder, whole: a temporary file
    the collector ignores (not ``*.prom``), renamed over the last run's."""
    path = folder / file_name(run.policy, run.host)
    fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text(run))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def check_pushgateway(url: str) -> str:
    """A Pushgateway address fit for a unit: http(s), a host, no credentials in it."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(f"not a Pushgateway address: {url!r} (such as"
                       " http://pushgateway:9091)", field="--pushgateway")
    if parts.username is not None or parts.password is not None:
        raise BadInput("no credentials in the Pushgateway address: they would stand in the"
                       " unit and the process list", field="--pushgateway")
    return parts.geturl()


def push(url: str, run: RunFigures, timeout: float = 30.0) -> None:
    """Push the run's metrics, grouped by policy (and host).  A success replaces the group
    (PUT); a failure replaces only what it sets (POST), so the group keeps its last
    success."""
    from prometheus_client import push_to_gateway, pushadd_to_gateway

    key = {"policy": run.policy, "run_on": run.host or "all"}  # not "host": a label of its own
    send = push_to_gateway if run.exit_status == 0 else pushadd_to_gateway
    send(check_pushgateway(url), job=PUSH_JOB, registry=registry(run), grouping_key=key,
         timeout=timeout)
