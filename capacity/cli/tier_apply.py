"""``capacity tier apply | resume | status``: executing a plan, safely."""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from capacity.cli.common import (
    Format,
    FormatOption,
    StateOption,
    console,
    console_err,
    print_json,
    shown,
    state_dir,
)
from capacity.errors import BadInput, JobFailed
from capacity.load import load_inventory
from capacity.model import Inventory
from capacity.tiering import binding
from capacity.tiering import journal as J
from capacity.tiering.apply import Engine, HostReport, Options
from capacity.tiering.audit import AuditLog
from capacity.tiering.catalog import Catalogue
from capacity.tiering.hosts import connect
from capacity.tiering.journal import Journal
from capacity.tiering.lock import LockHeld, host_lock
from capacity.tiering.planfile import Plan
from capacity.tiering.state import StateDir
from capacity.transports import HostKeyTrusted, TransportError
from capacity.units import format_size
from capacity.yamlpos import InputError, Position, Problem

InventoryOption = Annotated[Path | None, typer.Option(
    "--inventory", "-i", help="Inventory (default: the one the plan was made from).",
    show_default=False)]
TrustOption = Annotated[bool, typer.Option(
    "--trust-new-host-keys", help="Record unknown host keys (trust on first use); a changed"
    " key is refused all the same.")]


def _bad_input(path: Path, message: str) -> InputError:
    return InputError([Problem(Position(str(path), 1, 1), "", message)])


def _read_plan(path: Path, state: StateDir) -> Plan:
    """The plan, if this state folder's key sealed it; nothing else is read from it first."""
    try:
        text = path.read_text(encoding="utf-8")
        if not binding.sealed_ok(text, binding.plan_key(state)):
            raise _bad_input(path, "not sealed with the plan key of the state folder"
                             f" {state.root} (edited since it was planned, or planned with"
                             " another --state): re-plan")
        return Plan.from_json(text)
    except OSError as exc:
        raise _bad_input(path, f"cannot read: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
        raise _bad_input(path, f"not a plan file: {exc}") from None


def _run_hosts(inventory: Inventory, hosts: list[str], state: StateDir, trust: bool,
               options: Options, work: Callable[[Engine], HostReport]) -> list[HostReport]:
    """Run ``work(engine)`` on each host under its lock; a failing host does not stop the
    others."""
    reports = []
    journal = Journal(state.journal)
    audit = AuditLog(state.audit)
    try:
        for name in hosts:
            if name not in inventory.hosts:
                reports.append(HostReport(name, failed=1, stopped="not in the inventory"))
                continue
            try:
                with _host_keys_reported(audit, name):
                    transport = connect(inventory.hosts[name], trust_on_first_use=trust)
                    with host_lock(transport, name, state.locks, inventory.hosts[name].lock):
                        engine = Engine(inventory, name, transport, journal, audit, options)
                        reports.append(work(engine))
            except (TransportError, LockHeld) as exc:
                reports.append(HostReport(name, stopped=f"{type(exc).__name__}: {exc}"
                                          " (run `capacity tier resume` when it is back)",
                                          failed=1))
    finally:
        journal.close()
        audit.close()
    return reports


@contextlib.contextmanager
def _host_keys_reported(audit: AuditLog, host: str) -> Iterator[None]:
    """Every host key trusted on first use is said on stderr and written to the audit log."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", HostKeyTrusted)
        try:
            yield
        finally:
            for w in caught:
                if isinstance(w.message, HostKeyTrusted):
                    key = w.message
                    console_err.print(shown(f"warning: {key}"))
                    audit.write(host=host, step="host-key-trusted", key_type=key.key_type,
                                fingerprint=key.fingerprint, known_hosts=key.known_hosts)
                else:
                    warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def _forget_moved(state: StateDir, plan: Plan) -> None:
    """Entries the engine moved or deleted leave the catalogue until the next scan."""
    journal = Journal(state.journal)
    try:
        done = {u.id: u for u in plan.units if (row := journal.get(u.id)) and
                row.state == J.DONE}
    finally:
        journal.close()
    if not done or not state.catalogue.exists():
        return
    with Catalogue(state.catalogue) as catalogue:
        for unit in done.values():
            catalogue.forget(unit.host, unit.source, [f.path for f in unit.files])


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
    inventory: InventoryOption = None,
    state: StateOption = None,
    allow_delete: Annotated[bool, typer.Option(
        "--allow-delete", help="Let expire rules delete data (never held or retained).")]
        = False,
    ignore_windows: Annotated[bool, typer.Option(
        "--ignore-windows", help="Run outside the policies' time windows.")] = False,
    trust: TrustOption = False,
    fmt: FormatOption = Format.table,
) -> None:
    """Execute exactly this plan: every unit journaled, verified, resumable, idempotent."""
    where = state_dir(state)
    plan = _read_plan(plan_file, where)
    inv = load_inventory(inventory or Path(plan.inventory))
    refused = binding.refusals(plan, inv)
    if refused:
        raise InputError([Problem(Position(str(plan_file), 1, 1), field, why)
                          for field, why in refused])
    hosts = sorted({u.host for u in plan.units})
    options = Options(allow_delete=allow_delete, respect_windows=not ignore_windows)
    reports = _run_hosts(inv, hosts, where, trust, options,
                         lambda engine: engine.run_plan(plan, str(plan_file)))
    _forget_moved(where, plan)
    _print_reports(reports, fmt)
    _check(reports)


def resume_command(
    inventory: InventoryOption = None,
    state: StateOption = None,
    allow_delete: Annotated[bool, typer.Option(
        "--allow-delete", help="Let expire rules delete data (never held or retained).")]
        = False,
    ignore_windows: Annotated[bool, typer.Option(
        "--ignore-windows", help="Run outside the policies' time windows.")] = False,
    trust: TrustOption = False,
    fmt: FormatOption = Format.table,
) -> None:
    """Finish or roll back every unit an interrupted apply left unfinished."""
    where = state_dir(state)
    journal = Journal(where.journal)
    try:
        rows = list(journal.units(unfinished=True))
    finally:
        journal.close()
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
    inv = load_inventory(inventory or Path(str(recorded)))
    hosts = sorted({r.host for r in rows})
    options = Options(allow_delete=allow_delete, respect_windows=not ignore_windows)
    reports = _run_hosts(inv, hosts, where, trust, options, lambda engine: engine.recover())
    _print_reports(reports, fmt)
    _check(reports)


def status_command(state: StateOption = None, fmt: FormatOption = Format.table,
                   failures: Annotated[int, typer.Option(help="Failures to list.")] = 20,
                   ) -> None:
    """Progress of applies from the journal: units by state, bytes, rates, failures."""
    where = state_dir(state)
    journal = Journal(where.journal)
    try:
        rows = list(journal.units())
    finally:
        journal.close()
    report = status_report(rows)
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


def status_report(rows: list[J.UnitRow]) -> dict[str, Any]:
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


def register(app: typer.Typer) -> None:
    app.command("apply")(apply_command)
    app.command("resume")(resume_command)
    app.command("status")(status_command)

