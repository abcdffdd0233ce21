"""``capacity tier run``: one scheduled run of a policy, start to end, as its timer starts
it: resume what an interrupted apply left, scan the policy's hosts, plan the policy, apply
the plan; then write what the run did for Prometheus.

Each step is the command of its own name (``tier resume``, ``scan``, ``plan``, ``apply``),
called with ``--format json`` and read back, so a run does exactly what the documented
chain of commands does; the first step that fails ends the run (exit 1), as ``&&`` would.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from capacity.cli.common import Format, FormatOption, console, print_json, shown
from capacity.cli.tier_options import AllowDeleteOption, StateOption, state_dir
from capacity.errors import BadInput, CapacityError, JobFailed

if TYPE_CHECKING:
    from capacity.model import Inventory
    from capacity.schedule.runmetrics import HostFigures


TextfileDirOption = Annotated[Path | None, typer.Option(
    "--textfile-dir", metavar="DIR", show_default=False,
    help="When the run ends, write its capacity_tier_run_* metrics into this folder of"
    " node_exporter's textfile collector (one .prom file per policy, written whole).")]
PushgatewayOption = Annotated[str | None, typer.Option(
    "--pushgateway", metavar="URL", show_default=False,
    help="When the run ends, push its metrics to this Pushgateway (http://HOST:9091) instead"
    " (grouped by policy; no credentials in the address).")]


def _captured(step: Callable[..., None], **kwargs: Any) -> tuple[dict[str, Any], bool]:
    """Run a tier command with ``--format json``: what it printed, and whether it
    succeeded (a failed job prints its report, then raises)."""
    out = io.StringIO()
    ok = True
    with contextlib.redirect_stdout(out):
        try:
            step(fmt=Format.json, **kwargs)
        except JobFailed:
            ok = False
    text = out.getvalue()
    return (json.loads(text) if text.strip() else {}), ok


def _hours_of(inv: Inventory, policy: str, host: str | None) -> Any:
    from capacity.model.policy import effective

    spec = inv.policies[policy]
    if spec.on_arrays:
        return effective(spec.pacing)[0]
    return effective(inv.hosts[host or spec.hosts[0]].pacing, spec.pacing)[0]


def _fills(inv: Inventory, policy: str, plan_file: Path | None,
           started: float) -> list[dict[str, Any]]:
    """The fills the run's plan measured of the tiers the policy's watermarks judge (the
    sources of its move rules), with the high watermark: for the ledger.  None when the
    plan was not made (the file is an earlier run's)."""
    spec = inv.policies[policy]
    if (spec.trigger is None or plan_file is None or not plan_file.exists()
            or plan_file.stat().st_mtime < started - 1):
        return []
    sources = {r.source for r in spec.rules if r.action == "move"}
    try:
        usage = json.loads(plan_file.read_text(encoding="utf-8")).get("usage", [])
    except (OSError, ValueError):
        return []
    return [{"host": u["host"], "tier": u["tier"], "fill_ratio": u["fill_ratio"],
             "high_ratio": spec.trigger.high} for u in usage if u["tier"] in sources]


def _figures(apply: dict[str, Any]) -> list[HostFigures]:
    from capacity.schedule.runmetrics import HostFigures

    return [HostFigures(h["host"], h.get("done", 0), h.get("skipped", 0),
                        h.get("kept_both", 0), h.get("failed", 0), h.get("bytes", 0))
            for h in apply.get("hosts", [])]


def run_command(
    inventory: Annotated[Path, typer.Argument(help="Inventory holding the policy.")],
    policy: Annotated[str, typer.Option("--policy", metavar="NAME",
                                        help="The policy to run.")],
    host: Annotated[str | None, typer.Option(
        "--host", metavar="NAME", show_default=False,
        help="Only this host of the policy (default: all its hosts or arrays).")] = None,
    state: StateOption = None,
    allow_delete: AllowDeleteOption = False,
    scheduled: Annotated[bool, typer.Option(
        "--scheduled", help="As a daily timer starts it: do nothing (exit 0) unless the"
        " timer's last firing is one of the policy's runs (a schedule of every N days, which"
        " no calendar holds).")] = False,
    textfile_dir: TextfileDirOption = None,
    pushgateway: PushgatewayOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Run a policy once, as its timer does: resume, scan its hosts, plan, apply.  Exits 0
    when every unit is done or skipped, 1 when a step or unit failed, 2 for bad input; once
    the run has begun, its metrics are written (or pushed) whatever its outcome."""
    from capacity.cli import tier_apply, tier_plan, tier_scan
    from capacity.load import load_inventory
    from capacity.schedule import ledger, runmetrics
    from capacity.schedule.calendar import due

    if textfile_dir is not None and not textfile_dir.is_dir():
        raise BadInput(f"no such folder: {textfile_dir}", field="--textfile-dir")
    if pushgateway is not None:
        pushgateway = runmetrics.check_pushgateway(pushgateway)
    inventory = inventory.absolute()
    inv = load_inventory(inventory)
    spec = inv.policies.get(policy)
    if spec is None:
        raise BadInput(f"no policy named {policy!r} in the inventory (known:"
                       f" {', '.join(inv.policies) or 'none'})", field="--policy")
    if host is not None and host not in (*spec.hosts, *spec.arrays):
        raise BadInput(f"policy {policy!r} does not run on {host!r}", field="--host")
    if scheduled and not due(spec.schedule, _hours_of(inv, policy, host), dt.datetime.now()):
        _say(fmt, {"policy": policy, "due": False})
        return
    where = state_dir(state)
    started = time.time()
    hosts = [host] if host is not None else list(spec.hosts or spec.arrays)
    ledger.started(where.runs, policy, hosts, started)
    plan_file: Path | None = None
    steps: dict[str, Any] = {}
    status = 0
    planned: dict[str, Any] = {}
    report: dict[str, Any] = {}
    try:
        steps["resume"], ok = _captured(tier_apply.resume_command, inventory=inventory,
                                        state=where.root, allow_delete=allow_delete)
        if ok and spec.hosts:
            steps["scan"], ok = _captured(tier_scan.scan, inventory=inventory, host=hosts,
                                          state=where.root)
        if ok:
            plans = where.root / "plans"
            plans.mkdir(parents=True, exist_ok=True)
            plan_file = plans / f"{Path(runmetrics.file_name(policy, host)).stem}.json"
            made, ok = _captured(tier_plan.plan, inventory=inventory, policy=[policy],
                                 host=[host] if host is not None else None, state=where.root,
                                 out=plan_file)
            planned = made.get("totals", {})
            steps["plan"] = {"file": str(plan_file), **planned}
            if ok and planned.get("units"):
                report, ok = _captured(tier_apply.apply_command, plan_file=plan_file,
                                       inventory=inventory, state=where.root,
                                       allow_delete=allow_delete)
                steps["apply"] = report
        status = 0 if ok else 1
    except BaseException as exc:  # recorded, and raised on to the app's error mapping
        status = (exc.exit_status if isinstance(exc, CapacityError)
                  else 2 if isinstance(exc, sqlite3.DatabaseError) else 1)
        raise
    finally:
        ledger.ended(where.runs, policy, hosts, started, time.time(), status,
                     _fills(inv, policy, plan_file, started))
        figures = runmetrics.RunFigures(
            policy, started, time.time(), status, host, planned.get("units", 0),
            planned.get("bytes", 0), _figures(report))
        pushed = _report(figures, textfile_dir, pushgateway)
        if status in (0, 1):
            _say(fmt, {"policy": policy, "host": host, "due": True, "exit_status": status,
                       "steps": steps, "metrics": pushed})
    if status:
        raise JobFailed()
    if pushed.startswith("failed"):
        raise JobFailed(f"capacity tier run: the metrics were not written: {pushed}")


def _report(figures: Any, textfile_dir: Path | None, pushgateway: str | None) -> str:
    """Write or push the run's metrics: where they went ('' when nowhere was given), or
    why they did not ('failed: ...'), never raising: the run's own outcome comes first."""
    from capacity.schedule import runmetrics

    try:
        if pushgateway is not None:
            runmetrics.push(pushgateway, figures)
            return pushgateway
        if textfile_dir is not None:
            path = textfile_dir / runmetrics.file_name(figures.policy, figures.host)
            if not figures.exit_status:
                figures = _with(figures, last_success=figures.end)
            else:
                figures = _with(figures, last_success=runmetrics.last_success(
                    path, figures.policy))
            return str(runmetrics.write_textfile(textfile_dir, figures))
    except OSError as exc:
        print(f"capacity tier run: metrics not written: {exc}", file=sys.stderr)
        return f"failed: {exc}"
    return ""


def _with(figures: Any, **changes: Any) -> Any:
    import dataclasses

    return dataclasses.replace(figures, **changes)


def _say(fmt: Format, result: dict[str, Any]) -> None:
    if fmt is Format.json:
        print_json(result)
        return
    if not result["due"]:
        console.print(f"policy {result['policy']}: no run due now (its schedule's days)")
        return
    steps = result["steps"]
    for name, step in steps.items():
        console.print(shown(f"{name}: {_summary(name, step)}"))
    console.print(shown(f"policy {result['policy']}: "
                        + ("ok" if result["exit_status"] == 0 else "failed")
                        + (f"; metrics: {result['metrics']}" if result["metrics"] else "")))


def _summary(name: str, step: dict[str, Any]) -> str:
    from capacity.units import format_size

    if name == "plan":
        return (f"{step.get('units', 0)} units, {format_size(step.get('bytes', 0))}"
                f" ({step['file']})")
    if name == "scan":
        bad = [h["host"] for h in step.get("hosts", []) if not h["ok"]]
        return "ok" if not bad else f"failed on {', '.join(bad)}"
    hosts = step.get("hosts", [])
    if not hosts:
        return "nothing to do"
    return "; ".join(f"{h['host']}: {h['done']} done, {h['failed']} failed,"
                     f" {h['kept_both']} kept both, {h['skipped']} skipped"
                     + (f" ({h['stopped']})" if h.get("stopped") else "") for h in hosts)


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)
