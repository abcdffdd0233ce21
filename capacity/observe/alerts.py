"""Prometheus alerting rules for the exporter's metrics, shipped with the package:
``python3 -m capacity.observe.alerts > /etc/prometheus/capacity-rules.yml`` writes them out
(docs/operations.md).  The suite checks them with ``promtool check rules`` and ``promtool
test rules``, and that every metric they name is one the exporter serves.

Every runway rule counts from now (``capacity_runway_timestamp_seconds - time()``), not
from the simulation's start, and ignores levels beyond the horizon (``+Inf``).

``CapacityCriticalWithinLeadTime`` holds the runway to the critical level, buying nothing,
against the shortest lead time of the resource's procurement rules (as the simulation waits
for an order: ``capacity_procurement_lead_time_seconds``) plus a margin of 30 days, a
constant in the rule (``30 * 86400``) that an operator changes in the rules file: the time
it takes to place an order once it is decided (quotes, approval, the purchase order),
which the lead time (order to capacity in service) does not hold.
"""

from __future__ import annotations

RULES = """\
groups:
  - name: capacity
    rules:
      - alert: CapacityFullWithoutOrders
        expr: >-
          capacity_runway_timestamp_seconds{purchases="none", level="full"} - time()
          < 180 * 86400
        for: 1h
        labels:
          severity: warning
        annotations:
          summary: >-
            {{ $labels.resource }} is full in {{ $value | humanizeDuration }} if nothing
            is bought
          description: >-
            capacity simulate --no-procurement: decide on the orders of the procurement
            plan (capacity simulate) before then.

      - alert: CapacityCriticalWithinLeadTime
        # The margin, 30 days (30 * 86400 below), is the time before an order is placed:
        # quotes, approval, the purchase order (docs/operations.md). Change it here.
        expr: >-
          capacity_runway_timestamp_seconds{purchases="none", level="critical"} - time()
          < on (resource) group_left
          min by (resource) (capacity_procurement_lead_time_seconds) + 30 * 86400
        for: 1h
        labels:
          severity: critical
        annotations:
          summary: >-
            {{ $labels.resource }} reaches its critical level in
            {{ $value | humanizeDuration }} if nothing is bought: sooner than an order
            can be in service, with 30 days to place it
          description: >-
            Its shortest procurement lead time and a 30-day margin are longer than its
            runway: order now (capacity simulate shows the order), and keep the inventory
            current once the capacity is in service.

      - alert: CapacityOrderDue
        expr: capacity_next_order_timestamp_seconds - time() < 14 * 86400
        labels:
          severity: warning
        annotations:
          summary: >-
            order {{ $labels.unit }} for {{ $labels.resource }} ({{ $labels.rule }}):
            due in {{ $value | humanizeDuration }}
          description: >-
            The simulation places this order then; a negative time is overdue.

      - alert: CapacityPlanFails
        expr: capacity_simulation_plan_holds == 0
        for: 1h
        labels:
          severity: critical
        annotations:
          summary: the capacity plan does not hold
          description: >-
            Some data does not fit, or an order cannot be placed: capacity simulate says
            from when and why.

      - alert: CapacityAboveCritical
        expr: >-
          capacity_resource_used_bytes / capacity_resource_capacity_bytes
          >= on (resource) group_left capacity_resource_threshold_ratio{level="critical"}
        labels:
          severity: critical
        annotations:
          summary: >-
            {{ $labels.resource }} is {{ $value | humanizePercentage }} full, at or
            above its critical level
          description: As the inventory stands (capacity show).

      - alert: CapacityTierRunFailed
        expr: capacity_tier_last_run_outcome{outcome="failed"} == 1
        labels:
          severity: warning
        annotations:
          summary: >-
            the last tier run of {{ $labels.policy }} on {{ $labels.host }} failed
          description: >-
            A unit failed or was kept in both places: capacity tier status lists them.

      - alert: CapacityTierRunEndedInError
        expr: increase(capacity_tier_runs_total{outcome=~"failed|refused"}[1h]) > 0
        labels:
          severity: warning
        annotations:
          summary: >-
            capacity tier run of {{ $labels.policy }} on {{ $labels.host }} ended
            {{ $labels.outcome }}
          description: >-
            failed (exit 1): a step failed, a host not reached at its scan included, before
            any unit was taken; refused (exit 2): bad input (the inventory, a stale plan).
            The run's output says which (journalctl -u 'capacity-tier-*').

      - alert: CapacityTierRunMissed
        expr: >-
          (time() - capacity_tier_schedule_last_timestamp_seconds > 900)
          and on (policy, host)
          (
            (
              capacity_tier_runs_last_start_timestamp_seconds
                < on (policy, host) capacity_tier_schedule_last_timestamp_seconds
              and on (policy, host)
              capacity_tier_runs_last_end_timestamp_seconds
                < on (policy, host) capacity_tier_schedule_last_timestamp_seconds
            )
            or on (policy, host)
            capacity_tier_runs_last_start_timestamp_seconds
              < on (policy, host) capacity_tier_schedule_last_timestamp_seconds
                - on (policy, host) capacity_tier_schedule_interval_seconds
          )
        labels:
          severity: warning
        annotations:
          summary: >-
            {{ $labels.policy }} did not run on {{ $labels.host }} when scheduled,
            {{ $value | humanizeDuration }} ago
          description: >-
            No capacity tier run began since then, and none was going on: is its timer
            enabled (systemctl list-timers 'capacity-tier-*'), was the machine off?

      - alert: CapacityTierAboveHighWatermark
        expr: >-
          (
            time() - capacity_tier_above_high_watermark_since_timestamp_seconds
            > on (policy, host) group_left capacity_tier_schedule_interval_seconds
          )
          and capacity_tier_fill_timestamp_seconds
            > capacity_tier_above_high_watermark_since_timestamp_seconds
        labels:
          severity: warning
        annotations:
          summary: >-
            tier {{ $labels.tier }} of {{ $labels.host }} has been above the high
            watermark of {{ $labels.policy }} for {{ $value | humanizeDuration }}
          description: >-
            Its runs do not bring it down: their caps, windows, bandwidth or failures
            hold them back, or nothing on it is old enough (capacity tier plan says why).

      - alert: CapacityTierExpiryRefused
        expr: increase(capacity_tier_refused_total[1h]) > 0
        labels:
          severity: warning
        annotations:
          summary: >-
            {{ $labels.policy }} on {{ $labels.host }}: an expiry was refused
            ({{ $labels.reason }})
          description: >-
            A planned deletion met a hold, the retention or the archive's Object Lock at
            apply time, and nothing was deleted: the audit log's refused lines say which
            unit and why.

      - alert: CapacityExporterRefreshFailing
        expr: capacity_exporter_refresh_failing == 1
        for: 15m
        labels:
          severity: warning
        annotations:
          summary: the capacity exporter cannot read its {{ $labels.source }}
          description: >-
            Its figures are from the last refresh that worked; its log says why.
"""


def main() -> None:
    print(RULES, end="")


if __name__ == "__main__":
    main()
