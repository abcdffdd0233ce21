"""``capacity tier apply | resume | status``: executing a plan, safely."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from capacity.cli.common import (
    Format,
    FormatOption,
    console,
    console_err,
    print_json,
    shown,
)
from capacity.cli.tier_options import (
    AllowDeleteOption,
    IgnoreWindowsOption,
    PlanInventoryOption,
    StateOption,
    TrustOption,
    state_dir,
)
from capacity.errors import BadInput, JobFailed
from capacity.tiering import journal as J
from capacity.tiering.status import journal_units, status_report
from capacity.units import format_size

if TYPE_CHECKING:
    from collections.abc import Sequence

    from capacity.model import Inventory
    from capacity.tiering.apply import HostReport, Options
    from capacity.tiering.journal import UnitRow
    from capacity.tiering.planfile import Plan, PlannedUnit
    from capacity.tiering.state import StateDir
    from capacity.transports import HostKeyTrusted


def _say_trusted(key: HostKeyTrusted) -> None:
    console_err.print(shown(f"warning: {key}"))


def _print_reports(reports: list[HostReport], fmt: Format) -> None:
    if fmt is Format.json:
        print_json({"hosts": [r.__dict__ for r in reports]})
        return
    table = Table(title="Apply", title_justify="left")
    for col in ("host", "done", "bytes", "skipped", "kept both", "failed", "seconds", "note"):
        table.add_column(col, justify="left" if col in ("host", "note") else "right")
    for r in reports:
        table.add_row(r.host, str(r.done), format_size(r.bytes), str(r.skipped),
                      str(r.kept_both), str(r.failed), f"{r.seconds:.1f}",
                      shown(r.stopped or ""))
    console.print(table)


def _check(reports: list[HostReport]) -> None:
    if any(r.failed or r.kept_both for r in reports):
        raise JobFailed()  # the table says which units and hosts


def apply_command(
    plan_file: Annotated[Path, typer.Argument(help="Plan written by `capacity tier plan"
                                                    " --out`.")],
    inventory: PlanInventoryOption = None,
    state: StateOption = None,
    allow_delete: AllowDeleteOption = False,
    ignore_windows: IgnoreWindowsOption = False,
    trust: TrustOption = False,
    fmt: FormatOption = Format.table,
) -> None:
    """Execute exactly this plan: every unit journaled, verified, resumable, idempotent."""
    from capacity.load import load_inventory
    from capacity.problems import InputError, Position, Problem
    from capacity.tiering import binding
    from capacity.tiering.apply import Options
    from capacity.tiering.runs import forget_moved

    where = state_dir(state)
    plan = binding.read_plan(plan_file, where)
    inv = load_inventory(inventory or Path(plan.inventory))
    refused = binding.refusals(plan, inv)
    if refused:
        raise InputError([Problem(Position(str(plan_file), 1, 1), field, why)
                          for field, why in refused])
    options = Options(allow_delete=allow_delete, respect_windows=not ignore_windows)
    reports = _run(inv, plan.units, where, trust, options, plan, str(plan_file))
    forget_moved(where, plan)
    _print_reports(reports, fmt)
    _check(reports)


def _run(inv: Inventory, units: Sequence[PlannedUnit | UnitRow], where: StateDir, trust: bool,
         options: Options, plan: Plan | None = None, plan_name: str = "") -> list[HostReport]:
    """The units on hosts by the engine, those on arrays through their REST API: ``plan``'s,
    or (None) the unfinished ones, as resume takes them."""
    from capacity.model.policy.language import ARRAY_ACTIONS
    from capacity.tiering.runs import run_hosts

    on_arrays = sorted({u.host for u in units if u.action in ARRAY_ACTIONS})
    hosts = sorted({u.host for u in units if u.action not in ARRAY_ACTIONS})
    reports = run_hosts(inv, hosts, where, trust, options, lambda engine: engine.recover()
                        if plan is None else engine.run_plan(plan, plan_name), _say_trusted)
    if on_arrays:
        from capacity.tiering.volumes import run_arrays

        reports += run_arrays(inv, on_arrays, where, options, plan, plan_name)
    return reports


def resume_command(
    inventory: PlanInventoryOption = None,
    state: StateOption = None,
    allow_delete: AllowDeleteOption = False,
    ignore_windows: IgnoreWindowsOption = False,
    trust: TrustOption = False,
    fmt: FormatOption = Format.table,
) -> None:
    """Finish or roll back every unit an interrupted apply left unfinished."""
    where = state_dir(state)
    rows = journal_units(where.journal, unfinished=True)
    if not rows:
        if fmt is Format.json:
            print_json({"hosts": []})
        else:
            console.print("nothing to resume")
        return
    recorded = next((r.detail["inventory"] for r in rows if r.detail.get("inventory")), None)
    if inventory is None and recorded is None:
        raise BadInput("the journal does not say which inventory its units came from: pass"
                       " --inventory")
    from capacity.load import load_inventory
    from capacity.tiering.apply import Options

    inv = load_inventory(inventory or Path(str(recorded)))
    options = Options(allow_delete=allow_delete, respect_windows=not ignore_windows)
    reports = _run(inv, rows, where, trust, options)
    _print_reports(reports, fmt)
    _check(reports)


def recall_command(
    units: Annotated[list[str], typer.Argument(
        metavar="UNIT...", help="Units to bring back, as paths below the bucket tier's root"
        " (2019/03/STUDY), each with its manifest in the archive.")],
    inventory: Annotated[Path, typer.Option(
        "--inventory", "-i", help="Inventory holding the host and its tiers.")],
    host: Annotated[str, typer.Option("--host", metavar="NAME",
                                      help="The host whose tiers these are.")],
    source: Annotated[str, typer.Option("--from", metavar="TIER",
                                        help="The bucket tier the units are in.")],
    target: Annotated[str, typer.Option("--to", metavar="TIER",
                                        help="The file tier to bring them back to.")],
    state: StateOption = None,
    ignore_windows: IgnoreWindowsOption = False,
    trust: TrustOption = False,
    fmt: FormatOption = Format.table,
) -> None:
    """Bring archived units back to a file tier, verified against their manifests; the
    archive keeps its copy.  Never writes over anything; resume finishes one cut short."""
    from capacity.load import load_inventory
    from capacity.tiering.apply import Options
    from capacity.tiering.runs import run_hosts

    inv = load_inventory(inventory)
    spec = inv.hosts.get(host)
    if spec is None:
        raise BadInput(f"no host {host!r} in {inventory}")
    for tier, bucket in ((source, True), (target, False)):
        found = spec.tiers.get(tier)
        if found is None or (found.bucket is not None) != bucket:
            kind = "a bucket tier" if bucket else "a file tier"
            raise BadInput(f"--{'from' if bucket else 'to'} {tier!r}: host {host!r} has no"
                           f" such tier, or it is not {kind}")

    def work(engine: Any) -> HostReport:
        try:
            report: HostReport = engine.recall([(source, target, u.strip("/")) for u in units],
                                               inventory=str(inventory.resolve()))
        except ValueError as exc:  # a unit that is not in the archive: named wrongly
            raise BadInput(str(exc)) from None
        return report

    options = Options(respect_windows=not ignore_windows)
    reports = run_hosts(inv, [host], state_dir(state), trust, options, work, _say_trusted)
    _print_reports(reports, fmt)
    _check(reports)


def status_command(state: StateOption = None, fmt: FormatOption = Format.table,
                   failures: Annotated[int, typer.Option(help="Failures to list.")] = 20,
                   ) -> None:
    """Progress of applies from the journal: units by state, bytes, rates, failures."""
    report = status_report(journal_units(state_dir(state).journal))
    if fmt is Format.json:
        print_json(report)
        return
    table = Table(title="Tier status", title_justify="left")
    for col in ("host", "units", "done", "pending", "in progress", "skipped", "kept both",
                "failed", "moved", "rate"):
        table.add_column(col, justify="left" if col == "host" else "right")
    for h in report["hosts"]:
        rate = h["bytes_per_second"]
        table.add_row(h["host"], str(h["units"]), str(h["states"].get(J.DONE, 0)),
                      str(h["states"].get(J.PENDING, 0)), str(h["in_progress"]),
                      str(h["states"].get(J.SKIPPED, 0)), str(h["states"].get(J.KEPT_BOTH, 0)),
                      str(h["states"].get(J.FAILED, 0)), format_size(h["done_bytes"]),
                      f"{format_size(round(rate))}/s" if rate else "-")
    console.print(table)
    for f in report["failures"][:failures]:
        console.print(Text.assemble((f["state"], "red"), " ", shown(
            f"{f['host']}:{f['unit']} ({f['rule']}): {f['error']}")), highlight=False)


def register(app: typer.Typer) -> None:
    app.command("apply")(apply_command)
    app.command("resume")(resume_command)
    app.command("status")(status_command)
    app.command("recall")(recall_command)

