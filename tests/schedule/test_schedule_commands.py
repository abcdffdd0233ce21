"""``capacity schedule install | show | remove`` into a folder (``--dir``: the system's
own units are never touched): units systemd itself verifies (``systemd-analyze verify``,
the system's and a user's manager), commands that systemd and cron read back as the argv
they were made of even through hostile paths, and that run the policy for real over the
test sshd; files never written over or removed unless this tool wrote them."""

from __future__ import annotations

import json
import os
import random
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from capacity.errors import BadInput
from capacity.schedule.calendar import Calendar
from capacity.schedule.units import (
    MARK,
    Job,
    Options,
    cron_word,
    exec_line,
    run_argv,
    systemd_word,
)
from tests.schedule.tools import need
from tests.sshd import SshServer
from tests.tiering.pacs_tree import inventory_file, make_roots, make_study, snapshot
from tests.volumes.lab import write_lab

HOSTILE = "we ird \"dq\" 'sq' %h $HOME ${X} \\back ;&|*?`x` é"
ODD_EXECUTABLE = "we ird %h $HOME ${X} ;&|*?`x` é"
"""systemd refuses an executable path holding quotes or backslashes: the rest is fair."""
MOVE_ONLY = {"rules": [{"name": "to-warm", "from": "hot", "to": "warm",
                        "select": {"older_than": "180d"}}]}


def capacity(*argv: str, cwd: Path, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "capacity", *argv], cwd=cwd,
                          capture_output=True, text=True, check=False, timeout=300,
                          env=env)


def verify(files: list[Path], *, user: bool = False, runtime: Path | None = None) -> None:
    tool = need("systemd-analyze", "systemd")
    env = {**os.environ, "SYSTEMD_COLORS": "0"}
    if runtime is not None:
        runtime.mkdir(mode=0o700, exist_ok=True)
        env["XDG_RUNTIME_DIR"] = str(runtime)
    run = subprocess.run([tool, *(["--user"] if user else []), "verify", *map(str, files)],
                         capture_output=True, text=True, check=False, timeout=120, env=env)
    assert run.returncode == 0 and not run.stderr.strip() and not run.stdout.strip(), (
        run.stdout + run.stderr)


def systemd_argv(value: str) -> list[str]:
    """A command line as systemd.service(5) reads it: words split at white space, "..."
    and '...' quoting with C escapes, then %% and $$ for a lone % and $, but $ stays as it
    is in the executable (the test's own reading, to hold the generator to the documented
    rules)."""
    escapes = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", " ": " "}
    words, word, quote, i, started = [], "", None, 0, False
    while i < len(value):
        c = value[i]
        if c == "\\":
            word += escapes[value[i + 1]]
            i += 2
            started = True
            continue
        if quote is not None:
            if c == quote:
                quote = None
            else:
                word += c
        elif c in "\"'":
            quote, started = c, True
        elif c.isspace():
            if started:
                words.append(word)
            word, started = "", False
        else:
            word += c
            started = True
        i += 1
    assert quote is None
    if started:
        words.append(word)
    for w in words:
        assert "%" not in w.replace("%%", ""), w
    for w in words[1:]:
        assert "$" not in w.replace("$$", ""), w
    return [w.replace("%%", "%") if i == 0 else w.replace("%%", "%").replace("$$", "$")
            for i, w in enumerate(words)]


def cron_shell(command: str) -> str:
    """What cron(8) hands /bin/sh: a backslash-escaped % becomes %, a lone % ends the
    command (none of ours has one)."""
    out, i = "", 0
    while i < len(command):
        if command.startswith("\\%", i):
            out, i = out + "%", i + 2
            continue
        assert command[i] != "%", command
        out, i = out + command[i], i + 1
    return out


def hostile_setup(tmp_path: Path, sshd: SshServer) -> tuple[Path, Path, dict[str, Path]]:
    """Studies to move, and an inventory, state folder and interpreter at hostile paths
    (the interpreter a link to this one, so systemd-analyze finds it executable)."""
    odd = tmp_path / HOSTILE
    odd.mkdir()
    roots = make_roots(tmp_path)
    rng = random.Random(3)
    for i in range(2):
        make_study(roots["hot"], f"2025/0{i + 1}/STUDY-{i}", 2, 1200, rng, age_days=400)
    inventory = inventory_file(tmp_path, sshd, roots, MOVE_ONLY)
    moved = odd / "estate.yaml"
    inventory.rename(moved)
    (tmp_path / ODD_EXECUTABLE).mkdir()
    python = tmp_path / ODD_EXECUTABLE / "python3"
    python.symlink_to(sys.executable)
    return moved, python, roots


def test_hostile_paths_come_back_whole_through_systemd_and_cron() -> None:
    words = [f"/opt/{ODD_EXECUTABLE}/python3", HOSTILE, "a%b", "$x", "100%", "back\\%slash"]
    assert systemd_argv(exec_line(words)) == words
    for bad in ('/opt/"q"/python3', "/opt/'q'/python3", "/opt/back\\slash/python3"):
        with pytest.raises(BadInput, match="executable"):
            exec_line([bad])
    cron = " ".join(cron_word(w) for w in words)
    assert shlex.split(cron_shell(cron)) == words
    for bad in ("new\nline", "", "bell\a", "tab\there"):
        with pytest.raises(BadInput):
            systemd_word(bad)
    with pytest.raises(BadInput):
        cron_word("new\nline")


def test_the_installed_units_verify_and_their_command_runs_the_policy(
        tmp_path: Path, sshd: SshServer) -> None:
    inventory, _python, roots = hostile_setup(tmp_path, sshd)
    before = snapshot(roots["hot"])
    units, state, metrics = tmp_path / "units", tmp_path / HOSTILE / "state", tmp_path / "prom"
    units.mkdir()
    metrics.mkdir()
    done = capacity("schedule", "install", str(inventory), "--dir", str(units), "--state",
                    str(state), "--textfile-dir", str(metrics), "--format", "json",
                    cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    names = ["capacity-tier-life.service", "capacity-tier-life.timer"]
    assert json.loads(done.stdout)["written"] == names
    verify([units / n for n in names])
    service = (units / names[0]).read_text(encoding="utf-8")
    assert service.startswith(MARK + "\n")
    assert re.search(r"^User=\S+$", service, re.M)
    argv = systemd_argv(re.search(r"^ExecStart=(.*)$", service, re.M).group(1))
    assert argv == [sys.executable, "-m", "capacity", "tier", "run", str(inventory),
                    "--policy", "life", "--state", str(state), "--textfile-dir",
                    str(metrics)]
    timer = (units / names[1]).read_text(encoding="utf-8")
    assert "OnCalendar=*-*-* 00:00:00\n" in timer and "Persistent=true\n" in timer

    # The unit's command, exactly as systemd would start it, runs the policy.
    run = subprocess.run(argv, cwd="/", capture_output=True, text=True, check=False,
                         timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert snapshot(roots["warm"]) == before
    assert (metrics / "capacity-tier-life.prom").is_file()


def test_a_unit_through_a_hostile_interpreter_path_verifies(tmp_path: Path,
                                                            sshd: SshServer) -> None:
    """systemd finds the interpreter at its hostile path (it checks it is executable), so
    it read the first word back whole."""
    inventory, python, _roots = hostile_setup(tmp_path, sshd)
    job = Job("capacity-tier-life", "life", ("pacs1",), False, Calendar((), None))
    options = Options(command=(str(python), "-m", "capacity"), inventory=str(inventory))
    from capacity.schedule.units import service

    folder = tmp_path / "units"
    folder.mkdir()
    text = service(job, options)
    (folder / "capacity-tier-life.service").write_text(text, encoding="utf-8")
    verify([folder / "capacity-tier-life.service"])
    line = re.search(r"^ExecStart=(.*)$", text, re.M).group(1)
    assert systemd_argv(line) == run_argv(job, options)
    (folder / "capacity-tier-life.service").write_text(
        text.replace("python3", "python4"), encoding="utf-8")
    with pytest.raises(AssertionError, match="not executable"):
        verify([folder / "capacity-tier-life.service"])


def test_the_cron_line_runs_the_policy(tmp_path: Path, sshd: SshServer) -> None:
    inventory, _python, roots = hostile_setup(tmp_path, sshd)
    before = snapshot(roots["hot"])
    folder, state = tmp_path / "cron.d", tmp_path / HOSTILE / "state"
    folder.mkdir()
    done = capacity("schedule", "install", str(inventory), "--cron", "--dir", str(folder),
                    "--state", str(state), "--run-as", "nobody", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = (folder / "capacity-tier").read_text(encoding="utf-8").splitlines()
    assert lines[0] == MARK and lines[1] == f"# inventory: {inventory}"
    minute, hour, dom, month, dow, user, command = lines[2].split(None, 6)
    assert (minute, hour, dom, month, dow, user) == ("0", "0", "*", "*", "*", "nobody")
    run = subprocess.run(["/bin/sh", "-c", cron_shell(command)], cwd="/", capture_output=True,
                         text=True, check=False, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert snapshot(roots["warm"]) == before


def _two_hosts(tmp_path: Path, sshd: SshServer) -> Path:
    """A policy on two hosts whose windows open at different times: a pair of units each."""
    inventory = inventory_file(tmp_path, sshd, make_roots(tmp_path), MOVE_ONLY)
    data = yaml.safe_load(inventory.read_text(encoding="utf-8"))
    data["hosts"]["pacs1"]["pacing"] = {"windows": ["22:00-06:00"]}
    data["hosts"]["pacs2"] = {**data["hosts"]["pacs1"], "pacing": {"windows": ["20:00-23:00"]}}
    data["policies"]["life"]["hosts"] = ["pacs1", "pacs2"]
    data["policies"]["weekly"] = {**MOVE_ONLY, "hosts": ["pacs1"],
                                  "schedule": {"every": "7d", "at": "03:15"}}
    data["policies"]["every3"] = {**MOVE_ONLY, "hosts": ["pacs2"],
                                  "schedule": {"every": "3d"}}
    inventory.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return inventory


def test_show_says_what_install_writes(tmp_path: Path, sshd: SshServer) -> None:
    inventory = _two_hosts(tmp_path, sshd)
    shown = capacity("schedule", "show", str(inventory), "--format", "json", "--pushgateway",
                     "http://127.0.0.1:9091", "--allow-delete", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    jobs = {j["name"]: j for j in data["jobs"]}
    assert list(jobs) == ["capacity-tier-life-pacs1", "capacity-tier-life-pacs2",
                          "capacity-tier-weekly", "capacity-tier-every3"]
    assert jobs["capacity-tier-life-pacs1"]["on_calendar"] == "*-*-* 22:00:00"
    assert jobs["capacity-tier-life-pacs2"]["cron"] == "0 20 * * *"
    assert jobs["capacity-tier-life-pacs2"]["command"][-6:] == [
        "life", "--host", "pacs2", "--pushgateway", "http://127.0.0.1:9091", "--allow-delete"]
    assert jobs["capacity-tier-weekly"]["on_calendar"] == "Sun *-*-* 03:15:00"
    assert jobs["capacity-tier-every3"]["daily_then_checked"] is True
    assert jobs["capacity-tier-every3"]["command"][-1] == "--scheduled"
    units = tmp_path / "units"
    units.mkdir()
    installed = capacity("schedule", "install", str(inventory), "--dir", str(units),
                         "--pushgateway", "http://127.0.0.1:9091", "--allow-delete",
                         cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    assert {p.name: p.read_text(encoding="utf-8") for p in units.iterdir()} == data["units"]
    verify(sorted(units.iterdir()))
    text = capacity("schedule", "show", str(inventory), "--cron", "--user", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    lines = [x for x in text.stdout.splitlines() if x and not x.startswith("#")]
    assert [x.split()[:6] for x in lines] == [
        ["0", "22", "*", "*", "*", sys.executable], ["0", "20", "*", "*", "*", sys.executable],
        ["15", "3", "*", "*", "0", sys.executable], ["0", "20", "*", "*", "*", sys.executable]]


def test_user_units_verify_under_a_user_manager(tmp_path: Path, sshd: SshServer) -> None:
    inventory = _two_hosts(tmp_path, sshd)
    units = tmp_path / "user-units"
    units.mkdir()
    done = capacity("schedule", "install", str(inventory), "--user", "--dir", str(units),
                    cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    files = sorted(units.iterdir())
    assert len(files) == 8
    assert not any(re.search(r"^(User|After|Wants)=", p.read_text(encoding="utf-8"), re.M)
                   for p in files)
    verify(files, user=True, runtime=tmp_path / "runtime")


def test_install_and_remove_touch_only_their_own_files(tmp_path: Path,
                                                       sshd: SshServer) -> None:
    inventory = _two_hosts(tmp_path, sshd)
    units = tmp_path / "units"
    units.mkdir()
    foreign = units / "capacity-tier-weekly.timer"
    foreign.write_text("[Timer]\nOnCalendar=daily\n", encoding="utf-8")
    stranger = units / "other.service"
    stranger.write_text("[Service]\nExecStart=/bin/true\n", encoding="utf-8")

    def install(path: Path = inventory) -> subprocess.CompletedProcess[str]:
        return capacity("schedule", "install", str(path), "--dir", str(units), "--format",
                        "json", cwd=tmp_path)

    refused = install()
    assert refused.returncode == 2 and "was not written by" in refused.stderr
    assert sorted(p.name for p in units.iterdir()) == [foreign.name, stranger.name]
    foreign.unlink()
    first = install()
    assert first.returncode == 0, first.stderr
    assert len(json.loads(first.stdout)["written"]) == 8
    again = json.loads(install().stdout)
    assert again["written"] == [] and len(again["unchanged"]) == 8

    # A policy gone: its units go at the next install; the others stay.
    data = yaml.safe_load(inventory.read_text(encoding="utf-8"))
    del data["policies"]["weekly"]
    inventory.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    third = json.loads(install().stdout)
    assert third["removed"] == ["capacity-tier-weekly.service", "capacity-tier-weekly.timer"]

    # Another inventory's install may not take this one's units.
    other = tmp_path / "other.yaml"
    other.write_text(inventory.read_text(encoding="utf-8"), encoding="utf-8")
    clash = install(other)
    assert clash.returncode == 2 and "written for another inventory" in clash.stderr

    removed = capacity("schedule", "remove", str(other), "--dir", str(units), "--format",
                       "json", cwd=tmp_path)
    assert json.loads(removed.stdout)["removed"] == []
    removed = capacity("schedule", "remove", str(inventory), "--dir", str(units), "--format",
                       "json", cwd=tmp_path)
    assert removed.returncode == 0 and len(json.loads(removed.stdout)["removed"]) == 6
    assert sorted(p.name for p in units.iterdir()) == [stranger.name]


def test_bad_options_are_refused(tmp_path: Path, sshd: SshServer) -> None:
    inventory = _two_hosts(tmp_path, sshd)
    for argv, words in (
            (["install", "--user", "--cron"], "crontab"),
            (["show", "--user", "--run-as", "root"], "--run-as"),
            (["show", "--policy", "nope"], "no policy named 'nope'"),
            (["show", "--pushgateway", "http://u:p@pg:9091"], "no credentials"),
            (["install", "--dir", str(tmp_path / "none")], "no such folder"),
            (["show", "--textfile-dir", str(tmp_path / "none")], "no such folder")):
        run = capacity("schedule", argv[0], str(inventory), *argv[1:], cwd=tmp_path)
        assert run.returncode == 2 and words in run.stderr, (argv, run.stderr)


def test_a_policy_on_arrays_gets_its_units(tmp_path: Path) -> None:
    lab = write_lab(tmp_path)
    units = tmp_path / "units"
    units.mkdir()
    done = capacity("schedule", "install", str(lab), "--dir", str(units), "--state",
                    str(tmp_path / "state"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    timer = (units / "capacity-tier-archive-era.timer").read_text(encoding="utf-8")
    assert "OnCalendar=*-*-* 22:00:00" in timer
    service = (units / "capacity-tier-archive-era.service").read_text(encoding="utf-8")
    assert "on arrays g900-lab" in service
    verify(sorted(units.iterdir()))


def test_install_and_remove_drive_systemctl_in_order(tmp_path: Path, sshd: SshServer) -> None:
    """With --systemctl (the default without --dir), a stand-in systemctl on PATH records
    what it is asked: reload, then enable the timers; disable them before removing."""
    inventory = _two_hosts(tmp_path, sshd)
    bin_dir, log = tmp_path / "bin", tmp_path / "systemctl.log"
    bin_dir.mkdir()
    fake = bin_dir / "systemctl"
    fake.write_text(f"#!/bin/sh\necho \"$*\" >> {shlex.quote(str(log))}\n", encoding="utf-8")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    units = tmp_path / "units"
    units.mkdir()
    timers = ["capacity-tier-life-pacs1.timer", "capacity-tier-life-pacs2.timer",
              "capacity-tier-weekly.timer", "capacity-tier-every3.timer"]
    done = capacity("schedule", "install", str(inventory), "--dir", str(units), "--systemctl",
                    "--user", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert log.read_text(encoding="utf-8").splitlines() == [
        "--user daemon-reload", "--user enable --now " + " ".join(timers)]
    log.unlink()
    gone = capacity("schedule", "remove", str(inventory), "--dir", str(units), "--systemctl",
                    "--user", cwd=tmp_path, env=env)
    assert gone.returncode == 0, gone.stderr
    assert log.read_text(encoding="utf-8").splitlines() == [
        "--user disable --now " + " ".join(sorted(timers)), "--user daemon-reload"]
    assert list(units.iterdir()) == []
    fake.write_text("#!/bin/sh\necho 'Failed to connect to bus' >&2\nexit 1\n",
                    encoding="utf-8")
    failed = capacity("schedule", "install", str(inventory), "--dir", str(units),
                      "--systemctl", cwd=tmp_path, env=env)
    assert failed.returncode == 1 and "Failed to connect to bus" in failed.stderr
