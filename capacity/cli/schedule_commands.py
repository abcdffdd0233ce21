"""``capacity schedule install | show | remove``: systemd timers (or cron lines) that start
each policy's tier runs (``capacity tier run``) on the policy's schedule."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from capacity.cli.common import Format, FormatOption, console, print_json, shown
from capacity.cli.tier_options import AllowDeleteOption, PolicyOption, check_known
from capacity.errors import BadInput, JobFailed

if TYPE_CHECKING:
    from capacity.schedule.install import Changes
    from capacity.schedule.units import Job, Options

schedule_app = typer.Typer(
    name="schedule", no_args_is_help=True,
    help="Install, show or remove the systemd timers (or cron lines) that run each policy's"
         " tier runs on its schedule.")

SYSTEM_UNITS = Path("/etc/systemd/system")
CRON_DIR = Path("/etc/cron.d")
NODE_EXPORTER_TEXTFILES = Path("/var/lib/prometheus/node-exporter")
"""Debian's prometheus-node-exporter reads its textfile collector's files here."""

InventoryArg = Annotated[Path, typer.Argument(help="Inventory holding the policies.")]
UserOption = Annotated[bool, typer.Option(
    "--user", help="Units for your own systemd manager (~/.config/systemd/user, `systemctl"
    " --user`), or crontab lines (no user field) with --cron.")]
CronOption = Annotated[bool, typer.Option(
    "--cron", help="Cron lines instead of systemd units (/etc/cron.d/capacity-tier).")]
DirOption = Annotated[Path | None, typer.Option(
    "--dir", metavar="DIR", show_default=False,
    help="Write into this folder instead (/etc/systemd/system, ~/.config/systemd/user or"
    " /etc/cron.d); systemctl is then left alone.")]
StateOption = Annotated[Path | None, typer.Option(
    "--state", show_default=False, help="The runs' state folder (default $CAPACITY_STATE if"
    " set now, else the running user's ~/.local/state/capacity).")]
TextfileOption = Annotated[Path | None, typer.Option(
    "--textfile-dir", metavar="DIR", show_default=False,
    help="node_exporter's textfile folder the runs write their metrics into (default"
    " /var/lib/prometheus/node-exporter when it exists).")]
PushOption = Annotated[str | None, typer.Option(
    "--pushgateway", metavar="URL", show_default=False,
    help="Push the runs' metrics to this Pushgateway instead.")]
RunAsOption = Annotated[str | None, typer.Option(
    "--run-as", metavar="USER", show_default=False,
    help="The user system units and cron lines run as (default: you).")]
SystemctlOption = Annotated[bool | None, typer.Option(
    "--systemctl/--no-systemctl", show_default=False,
    help="Reload systemd and enable (or disable) the timers (default: unless --dir or"
    " --cron).")]


def _invoking_user() -> str:
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name


def _options(inventory: Path, user: bool, state: Path | None, textfile_dir: Path | None,
             pushgateway: str | None, allow_delete: bool, run_as: str | None) -> Options:
    from capacity.schedule.runmetrics import check_pushgateway
    from capacity.schedule.units import Options

    if user and run_as is not None:
        raise BadInput("--run-as is for system units: a user's own units run as that user",
                       field="--run-as")
    if pushgateway is not None:
        pushgateway = check_pushgateway(pushgateway)
        textfile_dir = None
    elif textfile_dir is None:
        textfile_dir = NODE_EXPORTER_TEXTFILES if (
            not user and NODE_EXPORTER_TEXTFILES.is_dir()) else None
    elif not textfile_dir.is_dir():
        raise BadInput(f"no such folder: {textfile_dir}", field="--textfile-dir")
    if state is None and os.environ.get("CAPACITY_STATE"):
        state = Path(os.environ["CAPACITY_STATE"])
    return Options(
        command=(sys.executable, "-m", "capacity"), inventory=str(inventory.absolute()),
        state=str(state.absolute()) if state is not None else None,
        textfile_dir=str(textfile_dir.absolute()) if textfile_dir is not None else None,
        pushgateway=pushgateway, allow_delete=allow_delete, user=user,
        run_as=None if user else (run_as or _invoking_user()))


def _jobs(inventory: Path, policy: list[str] | None) -> list[Job]:
    from capacity.load import load_inventory
    from capacity.schedule.units import jobs

    inv = load_inventory(inventory)
    check_known("policy", policy, inv.policies)
    return jobs(inv, policy)


def _folder(given: Path | None, user: bool, cron: bool) -> Path:
    if given is not None:
        return given
    if cron:
        return CRON_DIR
    if user:
        config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return Path(config) / "systemd" / "user"
    return SYSTEM_UNITS


def _files(jobs: list[Job], options: Options, cron: bool) -> dict[str, str]:
    from capacity.schedule.units import CRON_FILE, cron_lines, unit_files

    return {CRON_FILE: cron_lines(jobs, options)} if cron else unit_files(jobs, options)


def _systemctl(user: bool, *args: str) -> None:
    argv = ["systemctl", *(["--user"] if user else []), *args]
    if shutil.which("systemctl") is None:
        raise JobFailed(f"no systemctl here: run `{' '.join(argv)}` where systemd runs")
    run = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    if run.returncode:
        raise JobFailed(f"`{' '.join(argv)}` failed: {run.stderr.strip()}")


def _timers(names: list[str]) -> list[str]:
    return [n for n in names if n.endswith(".timer")]


def show(
    inventory: InventoryArg,
    policy: PolicyOption = None,
    user: UserOption = False,
    cron: CronOption = False,
    state: StateOption = None,
    textfile_dir: TextfileOption = None,
    pushgateway: PushOption = None,
    allow_delete: AllowDeleteOption = False,
    run_as: RunAsOption = None,
    folder: DirOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Print the units (or cron lines) `install` would write, each policy's calendar and the
    command its runs start.  Changes nothing."""
    options = _options(inventory, user, state, textfile_dir, pushgateway, allow_delete,
                       run_as)
    jobs = _jobs(inventory, policy)
    where = _folder(folder, user, cron)
    files = _files(jobs, options, cron)
    if fmt is Format.json:
        from capacity.schedule.units import CRON_FILE, cron_lines, run_argv, unit_files

        print_json({
            "folder": str(where), "inventory": options.inventory,
            "jobs": [{"name": j.name, "policy": j.policy, "host": j.host,
                      "on": "arrays" if j.on_arrays else "hosts", "targets": list(j.targets),
                      "on_calendar": j.calendar.on_calendar(), "cron": j.calendar.cron(),
                      "daily_then_checked": j.calendar.gated,
                      "command": run_argv(j, options)} for j in jobs],
            "units": unit_files(jobs, options),
            "cron": {"file": CRON_FILE, "text": cron_lines(jobs, options)}})
        return
    for name, text in files.items():
        console.print(shown(f"# {where / name}"))
        print(text)


def install(
    inventory: InventoryArg,
    policy: PolicyOption = None,
    user: UserOption = False,
    cron: CronOption = False,
    state: StateOption = None,
    textfile_dir: TextfileOption = None,
    pushgateway: PushOption = None,
    allow_delete: AllowDeleteOption = False,
    run_as: RunAsOption = None,
    folder: DirOption = None,
    systemctl: SystemctlOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Write a service and a timer per policy (or the cron lines), replacing only files
    `install` wrote for this inventory and removing those of its policies that are gone;
    a file of anyone else's in the way stops it before it writes anything.  Then reload
    systemd and enable the timers (not with --dir)."""
    from capacity.schedule import install as files_io

    if cron and user:
        raise BadInput("a user's cron lines go into the user's crontab: `capacity schedule"
                       " show --cron --user` prints them for `crontab -e`", field="--cron")
    options = _options(inventory, user, state, textfile_dir, pushgateway, allow_delete,
                       run_as)
    jobs = _jobs(inventory, policy)
    where = _folder(folder, user, cron)
    if folder is None and user:
        where.mkdir(parents=True, exist_ok=True)
    files = _files(jobs, options, cron)
    from capacity.schedule.units import CRON_FILE

    changes = files_io.install(where, files, options.inventory,
                               (CRON_FILE,) if cron else (".service", ".timer"))
    if systemctl if systemctl is not None else folder is None and not cron:
        for stale in _timers(changes.removed):
            _systemctl(user, "disable", "--now", stale)
        _systemctl(user, "daemon-reload")
        _systemctl(user, "enable", "--now", *_timers(list(files)))
    _print_changes(where, changes, fmt)


def remove(
    inventory: Annotated[Path | None, typer.Argument(
        help="Only the files written for this inventory (default: every file `install`"
        " wrote there).", show_default=False)] = None,
    user: UserOption = False,
    cron: CronOption = False,
    folder: DirOption = None,
    systemctl: SystemctlOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Remove the units (or the cron file) `install` wrote, and nothing else: a file without
    its mark stays.  Disables the timers first (not with --dir)."""
    from capacity.schedule import install as files_io
    from capacity.schedule.units import CRON_FILE

    where = _folder(folder, user, cron)
    kinds = (CRON_FILE,) if cron else (".service", ".timer")
    wanted = str(inventory.absolute()) if inventory is not None else None
    if systemctl if systemctl is not None else folder is None and not cron:
        doomed = [p.name for p in sorted(where.glob("*.timer")) if p.is_file()
                  and files_io.owner(p) is not None and wanted in (None, files_io.owner(p))]
        if doomed:
            _systemctl(user, "disable", "--now", *doomed)
    changes = files_io.remove(where, wanted, kinds)
    if (systemctl if systemctl is not None else folder is None and not cron) and changes.removed:
        _systemctl(user, "daemon-reload")
    _print_changes(where, changes, fmt)


def _print_changes(where: Path, changes: Changes, fmt: Format) -> None:
    data: dict[str, Any] = {"folder": str(where), **changes.__dict__}
    if fmt is Format.json:
        print_json(data)
        return
    for key in ("written", "unchanged", "removed"):
        for name in data[key]:
            console.print(shown(f"{key}: {where / name}"))
    if not any(data[k] for k in ("written", "unchanged", "removed")):
        console.print(shown(f"nothing to do in {where}"))


def register(app: typer.Typer) -> None:
    schedule_app.command("show")(show)
    schedule_app.command("install")(install)
    schedule_app.command("remove")(remove)
    app.add_typer(schedule_app, name="schedule")
