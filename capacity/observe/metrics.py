"""What the exporter says, as Prometheus metric families: pure functions of what the tool
already computes, so a metric means exactly what the command that computes it says.

- the estate today: ``capacity show``'s report (``capacity.report.estate.estate_report``);
- runways and orders: ``capacity simulate``'s summary (``capacity.report.simulation.summary``,
  what ``simulate --format json`` prints), with and without purchases;
- tier runs: the apply journal's units (``capacity.tiering.status.journal_units``).

Names follow the Prometheus conventions: base units as suffixes (``_bytes``, ``_seconds``,
``_ratio``, counters ``_total``), so a runway of days is given in seconds (days x 86,400) and
dates as Unix timestamps (``_timestamp_seconds``, the day's midnight UTC); dimensions are
labels.  A level not reached within the simulated horizon is ``+Inf`` (seconds, and as a
timestamp), so ``capacity_runway_seconds < 180 * 86400`` needs no special case.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from capacity.schedule.ledger import OUTCOMES as LEDGER_OUTCOMES
from capacity.schedule.ledger import Ledger
from capacity.tiering import journal as J
from capacity.tiering.audit import REFUSALS
from capacity.tiering.journal import UnitRow

if TYPE_CHECKING:
    from capacity.model import Inventory
    from capacity.model.policy import OpenHours, Schedule
    from capacity.observe.logs import Refusals
    from capacity.sim.procurement import LeadTime

NS = "capacity"
INF = math.inf
DAY = 86400

RUN_GAP_SECONDS = 600.0
"""Units of one host and policy belong to one run while each starts less than this after
the run's last unit ended: an apply takes its units back to back, and scheduled runs are
far apart (docs/operations.md)."""

OUTCOMES = ("ok", "failed", "unfinished")
"""A run's outcome: every unit done or skipped; some unit failed or was kept in both places;
some unit not in a final state (the run is going on, or stopped short: resume takes it up)."""

MOVED = ("move", "recall")
"""Actions whose done units' bytes went from one tier to another."""

PURCHASES = {"planned": "runways", "none": "runways_unbought"}
"""The ``purchases`` label: the run as planned (the purchasing desk buying), or buying
nothing; and the summary's key for each."""


def timestamp(day: str | dt.date | None) -> float:
    """A date (ISO 8601 or a date) as the Unix time of its midnight UTC; None: +Inf."""
    if day is None:
        return INF
    if isinstance(day, str):
        day = dt.date.fromisoformat(day)
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()


def _gauge(name: str, doc: str, labels: Sequence[str], unit: str = "") -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{NS}_{name}", doc, labels=list(labels), unit=unit)


# -- the estate today ------------------------------------------------------------------------

RESOURCE = ("resource", "kind", "site")


def estate_families(report: dict[str, Any],
                    host_tiers: Iterable[tuple[str, str, str]] = ()) -> list[Metric]:
    """Capacity, used and free bytes of every pool, cluster and object store, as ``capacity
    show`` reports them, its thresholds, each pool tier's data bytes, and which resource
    each host tier lives on (``host_tiers``: (host, tier, resource))."""
    sizes = {
        "capacity": ("effective_bytes", "Bytes the resource can hold (effective capacity:"
                     " after RAID or storage policy, reserves and data reduction)."),
        "used": ("used_bytes", "Bytes the resource holds (the inventory's stored data and"
                 " copies)."),
        "free": ("free_bytes", "Bytes the resource can still take: capacity less used."),
        "raw": ("raw_bytes", "Raw bytes of every drive of the resource, spares included."),
        "usable": ("usable_bytes", "Bytes after RAID or storage policy and reserves, before"
                   " data reduction."),
    }
    families = []
    for metric, (key, doc) in sizes.items():
        family = _gauge(f"resource_{metric}_bytes", doc, RESOURCE, "bytes")
        for r in report["resources"]:
            family.add_metric([r["ref"], r["kind"], r["site"]], r[key])
        families.append(family)
    ratio = _gauge("resource_threshold_ratio", "Fill level of a threshold of the resource"
                   " (a share of its capacity).", ("resource", "level"), "ratio")
    for r in report["resources"]:
        for level, threshold in r["thresholds"].items():
            ratio.add_metric([r["ref"], level], threshold["ratio"])
    tiers = _gauge("pool_tier_data_bytes", "Data bytes of a tier of an array pool (its"
                   " parity groups after RAID).", ("resource", "tier", "drive"), "bytes")
    for array in report["arrays"]:
        for pool in array["pools"]:
            for tier in pool["tiers"]:
                tiers.add_metric([pool["ref"], tier["name"], tier["drive"]], tier["data_bytes"])
    info = _gauge("host_tier_info", "1 for each tier of a host, with the resource it lives on"
                  " (empty when the inventory does not say).", ("host", "tier", "resource"))
    for host, tier, resource in host_tiers:
        info.add_metric([host, tier, resource], 1)
    return [*families, ratio, tiers, info]


# -- the simulation --------------------------------------------------------------------------

def simulation_families(summary: dict[str, Any]) -> list[Metric]:
    """Runways to each level with and without purchases, the next order of each resource,
    whether the plan holds, and the run's start and horizon, from a simulation summary."""
    start = _gauge("simulation_start_timestamp_seconds", "First day of the simulation (the"
                   " inventory's as_of unless --start): runway days count from it.", (),
                   "seconds")
    start.add_metric([], timestamp(summary["start"]))
    horizon = _gauge("simulation_horizon_seconds", "How long the simulation covers (its"
                     " days x 86,400).", (), "seconds")
    horizon.add_metric([], summary["days"] * DAY)
    holds = _gauge("simulation_plan_holds", "1 when the plan holds (all data placed, every"
                   " order placed), 0 when it fails or an order is blocked.", ())
    verdict = summary["verdict"]
    holds.add_metric([], 1 if verdict["holds"] else 0)
    blocked = _gauge("simulation_orders_blocked", "Orders the plan needed and could not place"
                     " (rack space, power, drive slots, max units).", ())
    blocked.add_metric([], verdict["orders_blocked"])

    labels = ("resource", "level", "purchases")
    days = _gauge("runway_seconds", "From the simulation's start to the day the resource"
                  " first reaches the level (simulate's days_from_start x 86,400; +Inf: not"
                  " within the horizon); 'CLUSTER:vcpu' and 'CLUSTER:ram' are a cluster's"
                  " compute.", labels, "seconds")
    when = _gauge("runway_timestamp_seconds", "The day the resource first reaches the level"
                  " (midnight UTC; +Inf: not within the horizon).", labels, "seconds")
    ratio = _gauge("runway_level_ratio", "The fill level the runway is measured to.",
                   ("resource", "level"), "ratio")
    for purchases, key in PURCHASES.items():
        for r in summary.get(key) or ():
            values = [r["resource"], r["level"], purchases]
            days.add_metric(values, INF if r["beyond_horizon"] else r["days_from_start"] * DAY)
            when.add_metric(values, timestamp(r["date"]))
            if purchases == "planned":
                ratio.add_metric([r["resource"], r["level"]], r["ratio"])

    labels = ("resource", "rule", "unit")
    order_day = _gauge("next_order_timestamp_seconds", "The day the resource's first order of"
                       " the simulation is placed (midnight UTC).", labels, "seconds")
    order_units = _gauge("next_order_units", "Units that order buys.", labels)
    order_bytes = _gauge("next_order_capacity_bytes", "Effective bytes that order adds (0 for"
                         " drive boxes, which add slots).", labels, "bytes")
    first: dict[str, dict[str, Any]] = {}
    for order in summary["orders"]:  # sorted by order date
        first.setdefault(order["resource"], order)
    for resource, order in sorted(first.items()):
        values = [resource, order["rule"], order["unit"]]
        order_day.add_metric(values, timestamp(order["ordered"]))
        order_units.add_metric(values, order["units"])
        order_bytes.add_metric(values, order["capacity_bytes"])
    return [start, horizon, holds, blocked, days, when, ratio, order_day, order_units,
            order_bytes, *pool_tier_families(summary)]


def procurement_families(leads: Iterable[LeadTime]) -> list[Metric]:
    """The lead time of each procurement rule the purchasing desk reviews, for the resource
    it grows (the name its runways carry), as the simulation waits for its orders
    (:func:`capacity.sim.procurement.lead_times`)."""
    lead = _gauge("procurement_lead_time_seconds", "Time from ordering a unit of the rule to"
                  " its capacity in service (its lead_time, the scenarios' factor applied;"
                  " days x 86,400).", ("resource", "rule", "unit"), "seconds")
    for item in sorted(leads):
        lead.add_metric([item.resource, item.rule, item.unit], item.days * DAY)
    return [lead]


def pool_tier_families(summary: dict[str, Any]) -> list[Metric]:
    """Capacity, used and free bytes of each tier of an HDT pool with declared volumes, as
    the simulation places the pool's pages at its start (``pool_tiers``)."""
    labels = ("resource", "tier")
    what = {"capacity": "Bytes the tier of an HDT pool offers (its share of the pool's"
                        " capacity)",
            "used": "Bytes the simulation places on the tier of an HDT pool at its start (by"
                    " the volumes' tiering policies)",
            "free": "Capacity less used of the tier of an HDT pool"}
    families = {k: _gauge(f"pool_tier_{k}_bytes", f"{doc}.", labels, "bytes")
                for k, doc in what.items()}
    for t in summary.get("pool_tiers") or ():
        values = [t["pool"], t["tier"]]
        families["capacity"].add_metric(values, t["capacity_bytes_start"])
        families["used"].add_metric(values, t["used_bytes_start"])
        families["free"].add_metric(values, t["capacity_bytes_start"] - t["used_bytes_start"])
    return list(families.values())


# -- tier runs, from the journal -------------------------------------------------------------

@dataclass
class TierRun:
    """Units of one host and policy taken one after another, as one apply (with the resume
    before it) takes them."""

    host: str
    policy: str
    start: float
    end: float
    states: dict[str, int] = field(default_factory=dict)

    @property
    def outcome(self) -> str:
        if self.states.get(J.FAILED) or self.states.get(J.KEPT_BOTH):
            return "failed"
        if any(n for state, n in self.states.items() if state not in J.FINAL):
            return "unfinished"
        return "ok"

    @property
    def duration(self) -> float:
        return self.end - self.start


def _span(row: UnitRow) -> tuple[float, float]:
    """When a unit's work began (entered, if no step was taken) and last changed."""
    begun = row.started if row.started is not None else row.updated
    return begun, max(begun, row.finished or row.updated)


def last_runs(rows: Iterable[UnitRow], gap: float = RUN_GAP_SECONDS
              ) -> dict[tuple[str, str], TierRun]:
    """The last run of each (host, policy).  Its units, in the order they began: a unit
    that begins more than ``gap`` seconds after the run so far ended starts a new run."""
    by_key: dict[tuple[str, str], list[UnitRow]] = {}
    for row in rows:
        by_key.setdefault((row.host, row.policy), []).append(row)
    runs = {}
    for key, units in by_key.items():
        run: TierRun | None = None
        for row in sorted(units, key=lambda r: _span(r)):
            begun, ended = _span(row)
            if run is None or begun > run.end + gap:
                run = TierRun(key[0], key[1], begun, ended)
            run.end = max(run.end, ended)
            run.states[row.state] = run.states.get(row.state, 0) + 1
        assert run is not None
        runs[key] = run
    return runs


STATES = (J.PENDING, J.CHECKING, J.COPYING, J.VERIFYING, J.RENAMING, J.FINISHING, J.DELETING,
          J.DONE, J.SKIPPED, J.FAILED, J.KEPT_BOTH)
"""The states always given (0 when none); any other state a unit is in is given too."""


def journal_families(rows: Sequence[UnitRow], gap: float = RUN_GAP_SECONDS) -> list[Metric]:
    """Units by state, bytes moved and expired, and each host's and policy's last run: its
    start, duration, outcome and units by state.  A recall has no policy (label empty)."""
    units = _gauge("tier_units", "Units the apply journal holds, by state (done, skipped,"
                   " failed and kept-both are final; the others are in progress or left to"
                   " resume).", ("host", "policy", "action", "state"))
    counts: dict[tuple[str, str, str], dict[str, int]] = {}
    moved: dict[tuple[str, str, str], int] = {}
    expired: dict[tuple[str, str], int] = {}
    for r in rows:
        per = counts.setdefault((r.host, r.policy, r.action), dict.fromkeys(STATES, 0))
        per[r.state] = per.get(r.state, 0) + 1
        done = r.bytes if r.state == J.DONE else 0
        if r.action in MOVED:
            moved[(r.host, r.policy, r.action)] = moved.get((r.host, r.policy, r.action),
                                                            0) + done
        elif r.action == "expire":
            expired[(r.host, r.policy)] = expired.get((r.host, r.policy), 0) + done
    for (host, policy, action), per in sorted(counts.items()):
        for state, n in per.items():
            units.add_metric([host, policy, action, state], n)
    moved_total = CounterMetricFamily(f"{NS}_tier_moved_bytes", "Bytes of the units moved"
                                      " between tiers (done), by action: move or recall.",
                                      labels=["host", "policy", "action"], unit="bytes")
    for (host, policy, action), n in sorted(moved.items()):
        moved_total.add_metric([host, policy, action], n)
    expired_total = CounterMetricFamily(f"{NS}_tier_expired_bytes", "Bytes of the units"
                                        " expired (deleted at the end of their retention).",
                                        labels=["host", "policy"], unit="bytes")
    for (host, policy), n in sorted(expired.items()):
        expired_total.add_metric([host, policy], n)

    labels = ("host", "policy")
    start = _gauge("tier_last_run_start_timestamp_seconds", "When the last run of the host"
                   " and policy began (its first unit's first step).", labels, "seconds")
    duration = _gauge("tier_last_run_duration_seconds", "From the last run's first step to"
                      " its last unit's last change.", labels, "seconds")
    outcome = _gauge("tier_last_run_outcome", "1 for the last run's outcome: ok (every unit"
                     " done or skipped), failed (a unit failed or was kept in both places),"
                     " unfinished (a unit not in a final state); 0 for the others.",
                     (*labels, "outcome"))
    run_units = _gauge("tier_last_run_units", "Units of the last run, by state.",
                       (*labels, "state"))
    for (host, policy), run in sorted(last_runs(rows, gap).items()):
        start.add_metric([host, policy], run.start)
        duration.add_metric([host, policy], run.duration)
        for name in OUTCOMES:
            outcome.add_metric([host, policy, name], 1 if run.outcome == name else 0)
        for state, n in {**dict.fromkeys(STATES, 0), **run.states}.items():
            run_units.add_metric([host, policy, state], n)
    return [units, moved_total, expired_total, start, duration, outcome, run_units]


# -- schedules, the runs ledger and refusals -------------------------------------------------

@dataclass(frozen=True)
class Scheduled:
    """When a policy's runs start on one host (or array), as its timer has it, and the
    tiers its high watermark judges there."""

    policy: str
    host: str
    schedule: Schedule | None
    hours: OpenHours
    high: float | None = None
    tiers: tuple[str, ...] = ()
    expires: bool = False
    """The policy has an expire rule: its refusals are counted from 0."""


def scheduled(inventory: Inventory) -> list[Scheduled]:
    """Every policy's schedule on each of its hosts (the host's windows and the policy's) or
    arrays (the policy's), as ``capacity schedule install`` makes its timers."""
    from capacity.model.policy import effective

    found = []
    for name, policy in sorted(inventory.policies.items()):
        high = policy.trigger.high if policy.trigger is not None else None
        sources = tuple(sorted({r.source for r in policy.rules if r.action == "move"}))
        expires = any(r.action == "expire" for r in policy.rules)
        for host in policy.hosts:
            hours = effective(inventory.hosts[host].pacing, policy.pacing)[0]
            tiers = tuple(t for t in sources if t in inventory.hosts[host].tiers)
            found.append(Scheduled(name, host, policy.schedule, hours, high, tiers, expires))
        for array in policy.arrays:
            found.append(Scheduled(name, array, policy.schedule, effective(policy.pacing)[0]))
    return found


def schedule_families(schedules: Sequence[Scheduled], now: dt.datetime) -> list[Metric]:
    """Each policy's run interval on each host, its last scheduled run at or before ``now``
    (naive local time, as timers count) and its next, and the high watermark of the tiers
    its trigger judges.  Worked out on each scrape: a few days of run times each."""
    from capacity.schedule.calendar import around

    labels = ("policy", "host")
    interval = _gauge("tier_schedule_interval_seconds", "Time between the policy's scheduled"
                      " runs on the host (its schedule's every).", labels, "seconds")
    last = _gauge("tier_schedule_last_timestamp_seconds", "When the policy's schedule last"
                  " started a run on the host (at or before now; local time, as its timer).",
                  labels, "seconds")
    upcoming = _gauge("tier_schedule_next_timestamp_seconds", "When the policy's schedule"
                      " next starts a run on the host.", labels, "seconds")
    high = _gauge("tier_high_watermark_ratio", "The fill above which the policy's move rules"
                  " act on the tier (its trigger's high watermark).", (*labels, "tier"),
                  "ratio")
    for s in schedules:
        before, after = around(s.schedule, s.hours, now)
        values = [s.policy, s.host]
        interval.add_metric(values, s.schedule.every if s.schedule else DAY)
        last.add_metric(values, before.timestamp())
        upcoming.add_metric(values, after.timestamp())
        if s.high is not None:
            for tier in s.tiers:
                high.add_metric([*values, tier], s.high)
    return [interval, last, upcoming, high]


def ledger_families(ledger: Ledger, schedules: Sequence[Scheduled] = ()) -> list[Metric]:
    """``capacity tier run``'s runs from the ledger: counted by outcome (0 for every policy
    and host of ``schedules`` not run yet, so the first run is an increase), the last one's
    start and end, and each tier's last measured fill and since when it has been above the
    high watermark."""
    labels = ("policy", "host")
    runs = CounterMetricFamily(f"{NS}_tier_runs", "Runs capacity tier run began and ended, by"
                               " outcome: ok (exit 0), failed (1), refused (2, bad input).",
                               labels=[*labels, "outcome"])
    start = _gauge("tier_runs_last_start_timestamp_seconds", "When capacity tier run last"
                   " began a run of the policy on the host (whatever it then found to do).",
                   labels, "seconds")
    end = _gauge("tier_runs_last_end_timestamp_seconds", "When that run ended (absent while"
                 " it goes on).", labels, "seconds")
    counts: dict[tuple[str, str], dict[str, int]] = {
        (s.policy, s.host): dict.fromkeys(LEDGER_OUTCOMES, 0) for s in schedules}
    for key, r in ledger.runs.items():
        counts[key] = {**counts.get(key, {}), **r.runs}
        start.add_metric(list(key), r.last_start)
        if r.last_end is not None:
            end.add_metric(list(key), r.last_end)
    for key, per in sorted(counts.items()):
        for outcome, n in per.items():
            runs.add_metric([*key, outcome], n)

    tier = (*labels, "tier")
    fill = _gauge("tier_fill_ratio", "The tier's fill as the last run of the policy measured"
                  " it for its watermarks (used over total of its filesystem).", tier, "ratio")
    measured = _gauge("tier_fill_timestamp_seconds", "When that run began.", tier, "seconds")
    since = _gauge("tier_above_high_watermark_since_timestamp_seconds", "Since when every run"
                   " of the policy found the tier above its high watermark: the first of them"
                   " began then (absent when the last run found it at or below).", tier,
                   "seconds")
    for (policy, host, name), f in sorted(ledger.fills.items()):
        fill.add_metric([policy, host, name], f.fill)
        measured.add_metric([policy, host, name], f.measured)
        if f.above_since is not None:
            since.add_metric([policy, host, name], f.above_since)
    return [runs, start, end, fill, measured, since]


def refusal_families(refusals: Refusals, schedules: Sequence[Scheduled] = ()) -> list[Metric]:
    """Units the engine refused to delete, by policy, host and reason (0 for every reason on
    every host of a policy that expires, so the first refusal is an increase)."""
    refused = CounterMetricFamily(f"{NS}_tier_refused", "Units an expiry was refused, at apply"
                                  " time: a hold reaches it, it is within the retention, or"
                                  " the archive's Object Lock keeps it (the audit log's"
                                  " refused lines).", labels=["policy", "host", "reason"])
    counts = {(s.policy, s.host, reason): 0 for s in schedules for reason in REFUSALS
              if s.expires}
    counts.update(refusals.counts)
    for key, n in sorted(counts.items()):
        refused.add_metric(list(key), n)
    return [refused]
