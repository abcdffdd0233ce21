"""The systemd units and cron lines of an inventory's scheduled tier runs, as text.

Pure: an inventory and the options in, file names and contents out.  Each policy gets a
service that runs one command of the tool (``capacity tier run``: resume, scan, plan and
apply that policy) and a timer on the policy's calendar (:mod:`capacity.schedule.calendar`).
A policy on hosts whose windows open at different times (so its default run time differs
from host to host) gets a pair per host, each run on that host alone; the host lock keeps
runs that meet from stepping on each other.

Every file carries :data:`MARK` on its first line: ``install`` overwrites and ``remove``
deletes only files that do.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from capacity.errors import BadInput
from capacity.model import Inventory
from capacity.model.policy import effective
from capacity.schedule.calendar import Calendar, calendar

MARK = "# Written by `capacity schedule install`; `capacity schedule remove` removes it."
"""The first line of every file this tool writes: the sign that it may replace or remove
it."""

INVENTORY_LINE = "# inventory: "
"""The second line names the inventory the file was written for."""

PREFIX = "capacity-tier-"
"""Every unit's name begins so."""

CRON_FILE = "capacity-tier"
"""The file in /etc/cron.d (run-parts names: letters, digits, '-' and '_' only)."""


@dataclass(frozen=True, slots=True)
class Job:
    """One scheduled run: a policy, on all its hosts or arrays or on one host."""

    name: str
    """The units' name without suffix: ``capacity-tier-POLICY`` (``-HOST`` when split)."""
    policy: str
    targets: tuple[str, ...]
    """The hosts or arrays it runs on."""
    on_arrays: bool
    calendar: Calendar
    host: str | None = None
    """The one host it runs on (``--host``), when the policy's hosts run at different
    times; None: all of the policy's."""


@dataclass(frozen=True, slots=True)
class Options:
    """What every job's command and unit share."""

    command: tuple[str, ...]
    """How to start the tool: an absolute path first ('/usr/bin/python3', '-m', 'capacity')."""
    inventory: str
    """The inventory, as an absolute path."""
    state: str | None = None
    textfile_dir: str | None = None
    pushgateway: str | None = None
    allow_delete: bool = False
    user: bool = False
    """Units for the user's own manager (``systemctl --user``): no ``User=``."""
    run_as: str | None = None
    """``User=`` of a system unit (and the user field of a cron.d line)."""
    extra: tuple[str, ...] = field(default=())
    """More ``tier run`` options, as given."""


def jobs(inv: Inventory, policies: Sequence[str] | None = None) -> list[Job]:
    """The scheduled runs of the inventory's policies (or of the named ones), in order."""
    found: list[Job] = []
    for name, policy in inv.policies.items():
        if policies and name not in policies:
            continue
        if policy.on_arrays:
            found.append(Job(PREFIX + name, name, tuple(policy.arrays), True,
                             calendar(policy.schedule, effective(policy.pacing)[0])))
            continue
        per_host = {h: calendar(policy.schedule, effective(inv.hosts[h].pacing,
                                                           policy.pacing)[0])
                    for h in policy.hosts}
        if len(set(per_host.values())) == 1:
            found.append(Job(PREFIX + name, name, tuple(policy.hosts), False,
                             next(iter(per_host.values()))))
        else:
            found += [Job(f"{PREFIX}{name}-{h}", name, (h,), False, cal, host=h)
                      for h, cal in per_host.items()]
    names = [j.name for j in found]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise BadInput(f"two scheduled runs would be named {twice[0]!r} (a policy named as"
                       " another policy and one of its hosts): rename one policy")
    return found


def run_argv(job: Job, options: Options) -> list[str]:
    """The command a job's service (or cron line) runs."""
    argv = [*options.command, "tier", "run", options.inventory, "--policy", job.policy]
    if job.host is not None:
        argv += ["--host", job.host]
    if options.state is not None:
        argv += ["--state", options.state]
    if options.textfile_dir is not None:
        argv += ["--textfile-dir", options.textfile_dir]
    if options.pushgateway is not None:
        argv += ["--pushgateway", options.pushgateway]
    if options.allow_delete:
        argv.append("--allow-delete")
    if job.calendar.gated:
        argv.append("--scheduled")
    return [*argv, *options.extra]


# -- systemd ----------------------------------------------------------------------------------

_PLAIN = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")


def systemd_word(word: str, *, executable: bool = False) -> str:
    """One word of a unit's command line as systemd reads it back: specifiers (``%``)
    doubled, variables (``$``) doubled except in the executable (which systemd never
    expands), anything but plain characters in double quotes with C escapes.  Control
    characters have no place in a unit, and systemd refuses an executable path holding a
    quote or a backslash: refused."""
    if not word or any(ord(c) < 32 or ord(c) == 127 for c in word):
        raise BadInput(f"cannot put {word!r} into a unit's command line"
                       + (": it is empty" if not word else ": control characters"))
    if executable and any(c in word for c in "\\\"'"):
        raise BadInput(f"systemd refuses an executable path with quotes or backslashes:"
                       f" {word!r}")
    word = word.replace("%", "%%") if executable else word.replace("%", "%%").replace("$", "$$")
    if _PLAIN.fullmatch(word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def exec_line(argv: Sequence[str]) -> str:
    """A command as an ``ExecStart=`` value."""
    return " ".join(systemd_word(w, executable=i == 0) for i, w in enumerate(argv))


def _text(value: str) -> str:
    """A setting's free text (``Description=``): specifiers doubled, one line."""
    return " ".join(value.split()).replace("%", "%%")


def _header(options: Options) -> list[str]:
    return [MARK, INVENTORY_LINE + " ".join(options.inventory.split())]


def service(job: Job, options: Options) -> str:
    """The ``.service`` unit of a job: one oneshot run of the tool."""
    what = f"{'arrays' if job.on_arrays else 'hosts'} {', '.join(job.targets)}"
    lines = [*_header(options), "[Unit]",
             f"Description={_text(f'capacity: tier run of policy {job.policy} on {what}')}"]
    if not options.user:  # the user manager has no network-online.target
        lines += ["Wants=network-online.target", "After=network-online.target"]
    lines += ["", "[Service]", "Type=oneshot"]
    if not options.user and options.run_as is not None:
        lines.append(f"User={options.run_as}")
    lines += ["ExecStart=" + exec_line(run_argv(job, options)),
              # A run that moves files yields the disks and the processor to the PACS.
              "Nice=10", "IOSchedulingClass=best-effort", "IOSchedulingPriority=7"]
    return "\n".join(lines) + "\n"


def timer(job: Job, options: Options) -> str:
    """The ``.timer`` of a job: its calendar, caught up after the machine was off."""
    lines = [*_header(options), "[Unit]",
             f"Description={_text(f'capacity: tier runs of policy {job.policy}')}", "",
             "[Timer]", f"OnCalendar={job.calendar.on_calendar()}",
             "AccuracySec=1min", "Persistent=true", f"Unit={job.name}.service", "",
             "[Install]", "WantedBy=timers.target"]
    return "\n".join(lines) + "\n"


def unit_files(jobs_: Sequence[Job], options: Options) -> dict[str, str]:
    """File name -> content of every unit, a service and a timer per job."""
    files: dict[str, str] = {}
    for job in jobs_:
        files[f"{job.name}.service"] = service(job, options)
        files[f"{job.name}.timer"] = timer(job, options)
    return files


# -- cron -------------------------------------------------------------------------------------


def cron_word(word: str) -> str:
    """One word of a cron command: quoted for /bin/sh, and ``%`` (a newline to cron)
    escaped."""
    if any(ord(c) < 32 or ord(c) == 127 for c in word):
        raise BadInput(f"cannot put {word!r} into a cron line: control characters")
    return shlex.quote(word).replace("%", "\\%")


def cron_lines(jobs_: Sequence[Job], options: Options) -> str:
    """The cron lines of the jobs, with their header: /etc/cron.d's format (a user field)
    for the system, a crontab's (none) with ``options.user``."""
    user = "" if options.user else f" {options.run_as or 'root'}"
    lines = _header(options)
    for job in jobs_:
        command = " ".join(cron_word(w) for w in run_argv(job, options))
        lines.append(f"{job.calendar.cron()}{user} {command}")
    return "\n".join(lines) + "\n"
