"""``capacity exporter``: the metrics of :mod:`capacity.observe.metrics` over HTTP.

The expensive work happens off the scrape: the inventory is read and the simulation run once
at start and again every ``refresh`` seconds, the journal read every ``journal_refresh``
seconds, each in the exporter's own thread; a scrape only writes out the families the last
refresh made.  A refresh that fails (an inventory edited into a mistake, a damaged
journal) keeps the last good figures, says so on stderr and in
``capacity_exporter_refresh_failing``, and is tried again at its next turn.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from capacity.errors import BadInput, JobFailed
from capacity.observe import metrics
from capacity.observe.logs import Refusals, StateLogs
from capacity.schedule.ledger import Ledger

SOURCES = ("inventory", "journal")
"""What a refresh reads: the inventory (the estate and its simulation), the journal."""


@dataclass(frozen=True)
class Sources:
    """Where the figures come from, and the simulation's settings (as ``simulate``'s)."""

    inventory: Path
    scenarios: tuple[Path, ...] = ()
    years: float = 5
    start: dt.date | None = None
    seed: int = 0
    journal: Path | None = None
    """The apply journal; None, or a file not there (yet): no tier metrics."""
    audit: Path | None = None
    """The audit log, for the refusals; None: none counted."""
    runs: Path | None = None
    """The runs ledger of ``capacity tier run``; None: no ``capacity_tier_runs_*``."""

    @classmethod
    def in_state(cls, inventory: Path, state: Path, **settings: Any) -> Sources:
        """The sources of a state folder: its journal, audit log and runs ledger."""
        from capacity.tiering.state import StateDir

        where = StateDir(state)
        return cls(inventory=inventory, journal=where.journal, audit=where.audit,
                   runs=where.runs, **settings)


@dataclass
class _Status:
    last_success: float | None = None
    duration: float = 0.0
    errors: int = 0
    failing: bool = False


def inventory_families(sources: Sources) -> list[Metric]:
    """The estate today and its simulation: as ``capacity show`` and ``capacity simulate
    --format json`` compute them (the same functions)."""
    return inventory_state(sources)[0]


def inventory_state(sources: Sources) -> tuple[list[Metric], list[metrics.Scheduled]]:
    """:func:`inventory_families`, and every policy's schedule on each of its hosts."""
    from capacity.load import load_inventory, load_with_scenarios
    from capacity.report.estate import estate_report
    from capacity.report.simulation import summary
    from capacity.sim import simulate
    from capacity.sim.procurement import lead_time_factor, lead_times

    today = load_inventory(sources.inventory)
    host_tiers = [(host, tier, t.storage or "") for host, h in today.hosts.items()
                  for tier, t in h.tiers.items()]
    inv, loaded = load_with_scenarios(sources.inventory, list(sources.scenarios))
    result = simulate(inv, loaded, years=sources.years, start=sources.start, seed=sources.seed,
                      procurement=True, unbought=True)
    return ([*metrics.estate_families(estate_report(today), host_tiers),
             *metrics.simulation_families(summary(result)),
             *metrics.procurement_families(lead_times(inv, lead_time_factor(loaded)))],
            metrics.scheduled(today))


def journal_families(sources: Sources) -> list[Metric]:
    from capacity.tiering.status import journal_units

    if sources.journal is None or not sources.journal.exists():
        return []  # never applied here (yet); opening it would make one
    return metrics.journal_families(journal_units(sources.journal))


class Exporter(Collector):
    """The collector a registry asks on each scrape, and the thread that refreshes it."""

    def __init__(self, sources: Sources, *, refresh: float = 3600.0,
                 journal_refresh: float = 60.0, log: Callable[[str], None] | None = None):
        self.sources = sources
        self.every = {"inventory": refresh, "journal": journal_refresh}
        self.refreshers: dict[str, Callable[[Sources], list[Metric]]] = {
            "inventory": self._inventory, "journal": self._journal}
        self._logs = StateLogs.of(sources.audit or Path(os.devnull),
                                  sources.runs or Path(os.devnull))
        self._schedules: list[metrics.Scheduled] = []
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self._lock = threading.Lock()
        self._families: dict[str, list[Metric]] = {s: [] for s in SOURCES}
        self._status = {s: _Status() for s in SOURCES}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- refreshing ------------------------------------------------------------------------

    def _inventory(self, sources: Sources) -> list[Metric]:
        families, schedules = inventory_state(sources)
        with self._lock:
            self._schedules = schedules
        return families

    def _journal(self, sources: Sources) -> list[Metric]:
        """The journal's families, and the refusals of the audit log and the runs of the
        ledger read since the last refresh (the families of all read so far)."""
        families = journal_families(sources)
        refusals = self._logs.audit.read() if sources.audit else Refusals()
        ledger = self._logs.runs.read() if sources.runs else Ledger()
        with self._lock:
            schedules = list(self._schedules)
        return [*families, *metrics.refusal_families(refusals, schedules),
                *metrics.ledger_families(ledger, schedules)]

    def refresh(self, source: str, *, raise_errors: bool = False) -> bool:
        """Read ``source`` afresh; True when it worked.  A failure keeps the figures of the
        last refresh that worked (raised with ``raise_errors``: the first refresh at start)."""
        began = time.monotonic()
        try:
            families = self.refreshers[source](self.sources)
        except Exception as exc:
            with self._lock:
                status = self._status[source]
                status.errors += 1
                status.failing = True
            if raise_errors:
                raise
            lines = exc.lines() if isinstance(exc, BadInput) else [
                f"{type(exc).__name__}: {exc}"]
            for line in lines:
                self.log(f"capacity exporter: refreshing the {source} failed (the last"
                         f" figures stay): {line}")
            return False
        with self._lock:
            self._families[source] = families
            status = self._status[source]
            status.last_success = time.time()
            status.duration = time.monotonic() - began
            status.failing = False
        return True

    def start(self) -> None:
        """Refresh every source now (errors raised: the figures must exist before the first
        scrape), then on schedule in a thread of its own until :meth:`stop`."""
        for source in SOURCES:
            self.refresh(source, raise_errors=True)
        self._thread = threading.Thread(target=self._run, name="capacity-exporter-refresh",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        due = {s: time.monotonic() + self.every[s] for s in SOURCES}
        while not self._stop.wait(max(0.0, min(due.values()) - time.monotonic())):
            for source in SOURCES:
                if time.monotonic() >= due[source]:
                    self.refresh(source)
                    due[source] = time.monotonic() + self.every[source]

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    # -- a scrape --------------------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            families = [f for s in SOURCES for f in self._families[s]]
            status = {s: _Status(**vars(self._status[s])) for s in SOURCES}
            schedules = list(self._schedules)
        yield from families
        yield from metrics.schedule_families(schedules, dt.datetime.now())
        yield from _status_families(status)


def _status_families(status: dict[str, _Status]) -> list[Metric]:
    ns = metrics.NS
    last = GaugeMetricFamily(f"{ns}_exporter_refresh_timestamp_seconds", "When the source"
                             " was last read without error.", labels=["source"],
                             unit="seconds")
    took = GaugeMetricFamily(f"{ns}_exporter_refresh_duration_seconds", "How long that"
                             " refresh took (for the inventory: loading and simulating).",
                             labels=["source"], unit="seconds")
    failing = GaugeMetricFamily(f"{ns}_exporter_refresh_failing", "1 when the last try to"
                                " read the source failed (its figures are older ones).",
                                labels=["source"])
    errors = CounterMetricFamily(f"{ns}_exporter_refresh_errors", "Refreshes of the source"
                                 " that failed.", labels=["source"])
    for source, s in status.items():
        if s.last_success is not None:
            last.add_metric([source], s.last_success)
            took.add_metric([source], s.duration)
        failing.add_metric([source], 1 if s.failing else 0)
        errors.add_metric([source], s.errors)
    return [last, took, failing, errors]


# -- serving ---------------------------------------------------------------------------------

def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9464`` for IPv6) as a host and a port (0: any free one)."""
    host, sep, port = text.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    if bracketed:
        host = host[1:-1]
    problem = None
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        problem = "give HOST:PORT, e.g. 127.0.0.1:9464 or [::1]:9464"
    elif ":" in host and not bracketed:
        problem = "write an IPv6 address in brackets: [::1]:9464"
    elif ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            problem = f"{host!r} is not an IPv6 address"
    if problem:
        raise BadInput(f"{text!r}: {problem}", field="--listen")
    return host, int(port)


def serve(exporter: Exporter, host: str, port: int, stop: threading.Event,
          ready: Callable[[str], None]) -> None:
    """Serve ``exporter`` at ``host:port`` until ``stop`` is set; ``ready`` is told the URL
    once it listens.  The refresh thread runs meanwhile and is stopped with the server."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(exporter)
    exporter.start()
    try:
        server, thread = _listen(host, port, registry)
        try:
            bound = server.server_address[1]
            shown = f"[{host}]" if ":" in host else host
            ready(f"http://{shown}:{bound}/metrics")
            stop.wait()
        finally:
            server.shutdown()
            server.server_close()
            thread.join()
    finally:
        exporter.stop()


def _listen(host: str, port: int, registry: CollectorRegistry
            ) -> tuple[WSGIServer, threading.Thread]:
    from prometheus_client import start_http_server

    try:
        return start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise JobFailed(f"capacity exporter: cannot listen on {host}:{port}: {exc}") from None
