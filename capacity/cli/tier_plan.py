"""``capacity tier plan``: which units the policies would move or expire now, and why.

Reads the catalogue (never writes it), measures the fill of tiers whose move rules have a
watermark trigger (``statvfs`` over SSH: read-only), and writes a reviewable plan file that
``capacity tier apply`` executes.  Planning changes nothing anywhere.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from capacity import jsontext
from capacity.cli.common import (
    Format,
    FormatOption,
    InventoryArg,
    console,
    inventory_path,
    shown,
)
from capacity.cli.tier_options import (
    HostOption,
    PolicyOption,
    StateOption,
    TrustOption,
    check_known,
    state_dir,
)
from capacity.errors import BadInput
from capacity.tiering.catalog import Catalogue
from capacity.units import format_size

if TYPE_CHECKING:
    from capacity.model import Inventory
    from capacity.tiering.planfile import Plan
    from capacity.tiering.records import TierUsage


def _parse_now(text: str | None) -> dt.datetime:
    """The moment ages count from: --now (naive means UTC), else the clock, in UTC."""
    if text is None:
        return dt.datetime.now(dt.UTC).replace(microsecond=0)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(f"not an ISO 8601 date-time: {text!r}", field="--now") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def _make_plan(inv: Inventory, path: Path, catalogue_path: Path | None,
               usage: dict[tuple[str, str], TierUsage], moment: dt.datetime,
               scope: dict[str, Any]) -> Plan:
    from capacity.tiering import planner

    # ``created`` is the clock, truthfully: two plans differ only there.
    created = dt.datetime.now(dt.UTC).replace(microsecond=0)
    if catalogue_path is None:  # no rule in scope reads a tier
        return planner.make_plan(inv, str(path), lambda h, t: (), usage, moment,
                                 created=created, **scope)
    with Catalogue(catalogue_path) as catalogue:
        return planner.make_plan(inv, str(path), catalogue.files, usage, moment,
                                 created=created, **scope)


def plan(
    inventory: InventoryArg = None,
    host: HostOption = None,
    policy: PolicyOption = None,
    state: StateOption = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", metavar="PLAN.json", show_default=False,
        help="Write the plan file here, for review and `capacity tier apply`.")] = None,
    now: Annotated[str | None, typer.Option(
        "--now", metavar="ISO-DATETIME", show_default=False,
        help="Measure ages from this ISO 8601 moment (naive means UTC; default: the clock).",
    )] = None,
    offline: Annotated[bool, typer.Option(
        "--offline", help="Do not reach hosts to measure tier fill: move rules with a"
        " watermark trigger then plan nothing.")] = False,
    limit: Annotated[int, typer.Option(
        "--limit", min=0, help="Table rows of units (and of skipped units) to show; totals"
        " always count everything.")] = 50,
    fmt: FormatOption = Format.table,
    trust_new_host_keys: TrustOption = False,
) -> None:
    """Plan tier moves and expiry from the inventory's policies: which units (files or study
    directories) each rule chooses now, and why.  Changes nothing; `capacity tier apply`
    executes the plan file."""
    from capacity.load import load_inventory
    from capacity.tiering import binding, planner
    from capacity.tiering.measure import last_scans, measure_tiers

    path = inventory_path(inventory)
    inv = load_inventory(path)
    check_known("host", host, [*inv.hosts, *inv.arrays])
    check_known("policy", policy, inv.policies)
    moment = _parse_now(now)
    if out is not None and not out.parent.is_dir():
        raise BadInput(f"no such folder: {out.parent}", field="--out")
    scope: dict[str, Any] = {"policies": policy, "hosts": host}
    catalogue_path = state_dir(state).catalogue
    scans = last_scans(catalogue_path, inv, planner.source_tiers(inv, **scope))
    usage = {} if offline else measure_tiers(inv, planner.triggered_tiers(inv, **scope),
                                             trust_new_host_keys)
    result = _make_plan(inv, path, catalogue_path if scans else None, usage, moment, scope)
    result = dataclasses.replace(result, extra={"scans": scans, "offline": offline})
    arrays = None if host is None else [h for h in host if h in inv.arrays]
    array_policies: dict[str, Any] = {}
    if any(p.on_arrays for p in inv.policies.values()):
        result, array_policies = _plan_arrays(inv, result, moment, policy, arrays, offline)
    if out is not None:
        binding.write_plan(result, out, binding.plan_key(state_dir(state)))
    sums = planner.totals(result, {**{n: p for n, _h, p in planner.runs(inv, **scope)},
                                   **array_policies})
    if fmt is Format.json:
        _print_json({**json.loads(result.to_json()), "totals": sums})
    else:
        _print_tables(result, sums, limit)
        console.print(f"plan written to {escape(str(out))}" if out is not None
                      else "no --out given: plan not written")
        console.print("Planning changed nothing.")


def _plan_arrays(inv: Inventory, result: Plan, moment: dt.datetime, policies: list[str] | None,
                 arrays: list[str] | None, offline: bool) -> tuple[Plan, dict[str, Any]]:
    """The plan with what the policies on arrays would set, each array read once (through
    its REST API: read-only); with --offline, no array is read and they plan nothing."""
    from capacity.tiering import volumes

    runs = list(volumes.array_runs(inv, policies, arrays))
    if offline or not runs:
        return result, {n: p for n, _a, p in runs}
    states = volumes.read_arrays(inv, sorted({a for _n, a, _p in runs}))
    units, skipped = list(result.units), list(result.skipped)
    for name, state in states.items():
        more, left = volumes.plan_array(inv, name, state, moment, policies)
        units += more
        skipped += left
    return (dataclasses.replace(result, units=tuple(units), skipped=tuple(skipped)),
            {n: p for n, _a, p in runs})


# --------------------------------------------------------------------------- output


def _print_json(data: dict[str, Any]) -> None:
    # Paths may hold undecodable bytes (as surrogates): escaped, so the JSON stays UTF-8.
    print(jsontext.dumps(data, indent=2))


def _size(n: int) -> str:
    return format_size(n, precision=1)


def _table(title: str, columns: Iterable[str], left: Iterable[str]) -> Table:
    table = Table(title=title, title_justify="left")
    keep_left = set(left)
    for col in columns:
        table.add_column(col, justify="left" if col in keep_left else "right",
                         overflow="fold")
    return table


def _more(shown: int, total: int, what: str) -> None:
    if total > shown:
        console.print(f"[dim]... and {total - shown} more {what}: see --out or --format"
                      " json[/dim]")


def _print_tables(plan: Plan, sums: dict[str, Any], limit: int) -> None:
    console.print(f"[bold]Plan[/bold] at {plan.now.isoformat()}: {sums['units']} units,"
                  f" {_size(sums['bytes'])} to move or expire; {sums['skipped_units']}"
                  f" skipped ({_size(sums['skipped_bytes'])})  (1 TB = 10^12 bytes)")
    units = _table("Units", ("host", "rule", "action", "from -> to", "unit", "files", "size",
                             "age", "reason"),
                   ("host", "rule", "action", "from -> to", "unit", "reason"))
    for u in plan.units[:limit]:
        units.add_row(u.host, u.rule, u.action, _route(u.action, u.source, u.target),
                      shown(u.unit), str(len(u.files)), _size(u.bytes),
                      f"{int(u.age_days)}d", shown(u.reason))
    if plan.units:
        console.print(units)
        _more(min(limit, len(plan.units)), len(plan.units), "units")
    skipped = _table("Skipped", ("host", "rule", "unit", "size", "reason"),
                     ("host", "rule", "unit", "reason"))
    for s in plan.skipped[:limit]:
        skipped.add_row(s.host, s.rule, shown(s.unit), _size(s.bytes), shown(s.reason))
    if plan.skipped:
        console.print(skipped)
        _more(min(limit, len(plan.skipped)), len(plan.skipped), "skipped units")
    _print_totals(sums)


def _route(action: str | None, source: str, target: str | None) -> str:
    """What a unit or rule does, in a cell: tiers, or a pool's volumes or relocation."""
    if action == "tiering" and target is not None:
        from capacity.model.policy.volumes import level_text, parse_level

        return f"{source} volumes -> {level_text(parse_level(str(target)))}"
    if action == "relocate":
        return f"{source}: {target} relocation"
    return f"{source} -> {target or '(delete)'}"


def _print_totals(sums: dict[str, Any]) -> None:
    rules = _table("Totals per rule", ("policy", "rule", "action", "from -> to", "units",
                                       "size", "skipped", "skipped size"),
                   ("policy", "rule", "action", "from -> to"))
    for r in sums["rules"]:
        rules.add_row(r["policy"], r["rule"], r["action"] or "",
                      _route(r["action"], r["source"] or "?", r["target"]), str(r["units"]),
                      _size(r["bytes"]), str(r["skipped_units"]), _size(r["skipped_bytes"]))
    console.print(rules)
    tiers = _table("Totals per tier", ("host", "tier", "fill", "moves out", "moves in",
                                       "expired"), ("host", "tier"))
    for t in sums["tiers"]:
        fill = "-" if t["fill_ratio"] is None else f"{t['fill_ratio'] * 100:.1f}%"
        tiers.add_row(t["host"], t["tier"], fill,
                      f"{t['move_out_units']} / {_size(t['move_out_bytes'])}",
                      f"{t['move_in_units']} / {_size(t['move_in_bytes'])}",
                      f"{t['expire_units']} / {_size(t['expire_bytes'])}")
    if sums["tiers"]:
        console.print(tiers)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``capacity tier``."""
    app.command("plan")(plan)
