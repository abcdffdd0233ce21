"""Every command line in the README and docs/ is run: those that need only the bundled files
as a reader would type them, the tier schedule of docs/tiering.md against the test sshd, the
array commands against the VSP contract server, `capacity collect` against all three of its
live sources (the test sshd, a real Prometheus scraping a real node_exporter, the contract
server), and all of them through the CLI's own parser first, so a wrong argument in the
docs fails here."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from capacity.cli.app import app
from tests.arrays.conftest import vsp, vsp_pki  # noqa: F401 - fixtures of collect's runner
from tests.history.conftest import exporter_of_filesystems  # noqa: F401 - the same
from tests.observe.conftest import prometheus  # noqa: F401 - the same
from tests.prometheus import Daemon, PrometheusServer
from tests.sshd import SshServer
from tests.tiering.pacs_tree import inventory_file, make_roots, make_study, snapshot
from tests.vsp_contract import ContractServer

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COMMAND = re.compile(r"(?:^|[\s'&;]|/bin/)(capacity\s+[a-z][^&|;#'\\>\n]*)")


def doc_commands() -> list[tuple[str, str]]:
    """(doc, command) for every `capacity ...` in a fenced block of any kind (sh, ini,
    cron): each step of an `&&` chain, without comments, redirections or the shell's quotes."""
    found = []
    for doc in DOCS:
        for block in re.findall(r"```[a-z]*\n(.*?)```", doc.read_text(encoding="utf-8"), re.S):
            text = block.replace("\\\n", " ")
            for line in text.splitlines():
                for command in COMMAND.findall(re.sub(r"(^|\s)#.*", "", line)):
                    found.append((doc.name, " ".join(command.split())))
    return found


def parse(argv: list[str]) -> None:
    """Find the subcommand and parse its arguments as the CLI would, running nothing; a
    usage error raises (typer's own click, whose classes are its business: duck-typed)."""
    command = typer.main.get_command(app)
    ctx = command.make_context("capacity", argv[:1], resilient_parsing=True)
    while hasattr(command, "get_command"):  # a group: the next word names a command in it
        name, argv = argv[0], argv[1:]
        sub = command.get_command(ctx, name)
        if sub is None:
            raise UsageError(f"no command {name!r}")
        command = sub
        ctx = command.make_context(name, argv[:1] if hasattr(command, "get_command")
                                   else argv, parent=ctx)


class UsageError(Exception):
    pass


def _is_usage_error(exc: BaseException) -> bool:
    return any(c.__name__ == "UsageError" for c in type(exc).__mro__)


COMMANDS = doc_commands()


def test_the_docs_show_commands() -> None:
    docs = {doc for doc, _ in COMMANDS}
    assert {"README.md", "tiering.md", "archive.md", "cli.md", "simulation.md"} <= docs
    assert len(COMMANDS) > 25


@pytest.mark.parametrize(("doc", "command"), COMMANDS, ids=[f"{d}: {c}" for d, c in COMMANDS])
def test_every_documented_command_parses(doc: str, command: str) -> None:
    argv = shlex.split(command)[1:]
    try:
        parse(argv)
    except Exception as exc:
        if not _is_usage_error(exc):
            raise
        pytest.fail(f"{doc}: `{command}`: {exc}")


@pytest.mark.parametrize("wrong", [["tier", "resume", "/etc/estate.yaml"], ["nope"],
                                   ["simulate", "--yearz", "1"], ["tier", "nope"]])
def test_the_parser_check_catches_wrong_lines(wrong: list[str]) -> None:
    with pytest.raises(Exception) as caught:
        parse(wrong)
    assert _is_usage_error(caught.value)


def _runs_alone(command: str) -> bool:
    """Lines that need nothing but the bundled files (tier commands need hosts, collect
    hosts, Prometheus and arrays: below)."""
    return not command.startswith(("capacity tier", "capacity exporter", "capacity schedule",
                                    "capacity array", "capacity collect"))


@pytest.mark.parametrize(("doc", "command"), [c for c in COMMANDS if _runs_alone(c[1])],
                         ids=[f"{d}: {c}" for d, c in COMMANDS if _runs_alone(c)])
def test_every_documented_command_runs(doc: str, command: str, tmp_path: Path) -> None:
    """In a fresh folder holding the bundled inventories and scenarios, as after a clone."""
    for folder in ("inventories", "scenarios"):
        (tmp_path / folder).symlink_to(ROOT / folder)
    python = shlex.quote(sys.executable)
    env = dict(os.environ)
    if _reads_history(command):
        env["CAPACITY_STATE"] = str(_history_inputs(tmp_path))
    run = subprocess.run(f"{python} -m {command}", shell=True, cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=False, timeout=600)
    assert "Traceback" not in run.stderr, (doc, command, run.stderr)
    # validate --strict exits 2 on the bundled example's (true) warnings, and dr-check 1 on
    # its (true) finding that the PACS clusters cannot carry both halves; nothing else may.
    allowed = {0, 2} if "--strict" in command else {1} if "dr-check" in command else {0}
    assert run.returncode in allowed, (doc, command, run.stdout[-2000:], run.stderr[-2000:])


def _reads_history(command: str) -> bool:
    return command.startswith(("capacity forecast", "capacity backtest")) or (
        "--calibrate" in command)


def _history_inputs(folder: Path) -> Path:
    """What `capacity collect` would have gathered for the bundled example up to 2026-11-30
    (tests/history/histories.py: the example's own simulation with known differences), and
    the plan saved on its as_of date (the docs' `capacity simulate --format json >
    plan-2026-11.json`); the state folder."""
    from tests.history.histories import example_history

    example_history(folder / "state")
    saved = subprocess.run([sys.executable, "-m", "capacity", "simulate", "--years", "0.2",
                            "--format", "json"], cwd=folder, capture_output=True, text=True,
                           check=True, timeout=600)
    (folder / "plan-2026-11.json").write_text(saved.stdout, encoding="utf-8")
    return folder / "state"


ARRAY_COMMANDS = [c for c in COMMANDS if c[1].startswith("capacity array")]


def test_the_docs_show_array_commands() -> None:
    assert {"arrays.md"} <= {doc for doc, _ in ARRAY_COMMANDS}


@pytest.mark.parametrize(("doc", "command"), ARRAY_COMMANDS,
                         ids=[f"{d}: {c}" for d, c in ARRAY_COMMANDS])
def test_every_documented_array_command_runs(doc: str, command: str, tmp_path: Path) -> None:
    """Against the contract server of the documented VSP API (tests/vsp_contract.py), the
    inventory and credentials file of the docs' paths made in a temporary folder."""
    from tests.arrays.test_array_commands import ARRAY, HEAD
    from tests.pki import make_pki
    from tests.vsp_contract import PASSWORD, USER, serve

    with serve(make_pki(tmp_path)) as contract:
        estate = tmp_path / "estate.yaml"
        estate.write_text((HEAD + ARRAY.format(endpoint=contract.endpoint, ca=contract.pki.ca))
                          .replace("g900-lab", "g900-main"), encoding="utf-8")
        creds = tmp_path / "vsp.credentials"
        creds.write_text(f"{USER}:{PASSWORD}\n", encoding="utf-8")
        creds.chmod(0o600)
        (tmp_path / "arrays").mkdir()
        argv = [str(estate) if a == "/etc/capacity/estate.yaml" else str(creds)
                if a == "/etc/capacity/vsp.credentials" else a.replace("/etc/capacity", str(
                    tmp_path)) for a in shlex.split(command)[1:]]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAPACITY_VSP")}
        env.update({"CAPACITY_VSP_USER": USER, "CAPACITY_VSP_PASSWORD": PASSWORD})
        run = subprocess.run([sys.executable, "-m", "capacity", *argv], cwd=tmp_path,
                             env=env, capture_output=True, text=True, check=False,
                             timeout=120)
        assert run.returncode == 0, (doc, command, run.stdout[-2000:], run.stderr[-2000:])
        assert contract.state.open_sessions == 0


COLLECT_COMMANDS = [c for c in COMMANDS if c[1].startswith("capacity collect")]


def test_the_docs_show_collect_commands() -> None:
    assert len([c for c in COLLECT_COMMANDS if c[0] == "operations.md"]) >= 3


@pytest.mark.parametrize(("doc", "command"), COLLECT_COMMANDS,
                         ids=[f"{d}: {c}" for d, c in COLLECT_COMMANDS])
def test_every_documented_collect_command_runs(doc: str, command: str, tmp_path: Path,
                                               sshd: SshServer,
                                               request: pytest.FixtureRequest) -> None:
    """With the docs' paths made in a temporary folder: an inventory whose host ``store`` is
    the test sshd (tiers ``hot`` and ``cold`` read over SSH, ``warm`` mapped to the
    node_exporter a real Prometheus scrapes) and whose array ``g900-main`` is the VSP
    contract server; the credentials file, and the state folder (``CAPACITY_STATE`` too, as
    a unit's environment has it, for lines without ``--state``).  Each line exits 0 and
    records exactly its sources' resources, the day it was told, the file systems' and the
    pools' own sizes."""
    from capacity.history.store import History
    from tests.history.test_collect import (
        ARRAY,
        MIB,
        mountpoint,
        ssh_host,
        tier_roots,
        used_and_size,
        write_inventory,
    )
    from tests.vsp_contract import PASSWORD, USER, example_objects

    # the fixtures of tests/arrays, tests/observe and tests/history, imported above
    contract: ContractServer = request.getfixturevalue("vsp")
    server: PrometheusServer = request.getfixturevalue("prometheus")
    node: Daemon = request.getfixturevalue("exporter_of_filesystems")
    roots = tier_roots(tmp_path)
    warm = tmp_path / "tiers" / "warm"
    warm.mkdir()
    target = node.address
    server.scrape(f"node-{target.rsplit(':', 1)[1]}", target)
    mount = mountpoint(warm)
    server.wait_for(f'node_filesystem_free_bytes{{instance="{target}",'
                        f'mountpoint="{mount}"}}')
    estate = write_inventory(
        tmp_path / "estate.yaml",
        hosts={"store": ssh_host(sshd, {**roots, "warm": warm})},
        arrays={"g900-main": {**ARRAY, "rest": {"endpoint": contract.endpoint,
                                                "ca_bundle": str(contract.pki.ca)}}},
        collect={"prometheus": {"url": server.url, "filesystems": [
            {"resource": "store:warm", "instance": target, "mountpoint": mount}]}})
    creds = tmp_path / "vsp.credentials"
    creds.write_text(f"{USER}:{PASSWORD}\n", encoding="utf-8")
    creds.chmod(0o600)
    state = tmp_path / "state"
    paths = {"/etc/capacity/estate.yaml": str(estate),
             "/etc/capacity/vsp.credentials": str(creds), "/var/lib/capacity": str(state)}
    argv = [paths.get(a, a) for a in shlex.split(command)[1:]]
    assert not [a for a in argv if a.startswith(("/etc/", "/var/"))], argv
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPACITY_")}
    env.update({"CAPACITY_STATE": str(state), "CAPACITY_VSP_CREDENTIALS": str(creds)})
    run = subprocess.run([sys.executable, "-m", "capacity", *argv], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=False, timeout=180)
    assert run.returncode == 0, (doc, command, run.stdout[-2000:], run.stderr[-2000:])

    sources = [argv[i + 1] for i, a in enumerate(argv) if a == "--source"] or [
        "ssh", "prometheus", "array"]  # all the inventory makes possible (no scan yet)
    day = argv[argv.index("--day") + 1] if "--day" in argv else dt.date.today().isoformat()
    pools = {p["poolName"]: p for p in example_objects()["pools"]}
    size = {  # capacity bytes: the file systems' sizes, the pools' totals
        "store:hot": ("ssh", used_and_size(roots["hot"])[1]),
        "store:cold": ("ssh", used_and_size(roots["cold"])[1]),
        "store:warm": ("prometheus", used_and_size(warm)[1]),
        "g900-main/pacs-hdt": ("array", pools["pacs-hdt"]["totalPoolCapacity"] * MIB),
        "g900-main/vm": ("array", pools["vm-hdp"]["totalPoolCapacity"] * MIB)}
    expected = {(resource, day, source, capacity)
                for resource, (source, capacity) in size.items() if source in sources}
    with History(state / "history.sqlite") as history:
        got = {(r, d, src, cap) for r, d, _used, cap, src, _at in history.db.execute(
            "SELECT * FROM usage")}
        used = {r: u for r, _d, u, *_ in history.db.execute("SELECT * FROM usage")}
    assert got == expected, (doc, command)
    if "array" in sources:  # the pool's total less what it has available, exactly
        assert used["g900-main/pacs-hdt"] == (pools["pacs-hdt"]["totalPoolCapacity"] - pools[
            "pacs-hdt"]["availableVolumeCapacity"]) * MIB
        assert contract.state.open_sessions == 0
    if "--format" in argv:
        printed = json.loads(run.stdout)
        assert printed["sources"] == sources and not printed["failed"]
        assert {(r["resource"], r["day"], r["source"], r["capacity_bytes"])
                for r in printed["recorded"]} == expected


def _schedule_chains() -> list[str]:
    """The schedule of docs/tiering.md: the systemd ExecStart and the cron line, each as the
    shell would run it."""
    text = (ROOT / "docs" / "tiering.md").read_text(encoding="utf-8")
    service = re.search(r"ExecStart=/bin/sh -c '(.*?)'\n", text.replace("\\\n", " "), re.S)
    cron = re.search(r"```cron\n\S+ \S+ \S+ \S+ \S+\s+\S+\s+(.*?)\n```", text, re.S)
    assert service and cron
    return [" ".join(service.group(1).split()), cron.group(1)]


@pytest.mark.parametrize("chain", _schedule_chains(), ids=["systemd", "cron"])
def test_the_documented_schedule_moves_the_studies(chain: str, tmp_path: Path,
                                                   sshd: SshServer) -> None:
    roots = make_roots(tmp_path)
    rng = random.Random(21)
    for i in range(3):
        make_study(roots["hot"], f"2025/0{i + 1}/STUDY-{i}", 2, 2000, rng, age_days=400)
    before = snapshot(roots["hot"])
    inventory = inventory_file(tmp_path, sshd, roots)
    state = tmp_path / "state"
    state.mkdir()
    shell = (chain.replace("/etc/capacity/estate.yaml", shlex.quote(str(inventory)))
             .replace("/var/lib/capacity", shlex.quote(str(state)))
             .replace("capacity tier", f"{shlex.quote(sys.executable)} -m capacity tier"))
    env = {**os.environ, "CAPACITY_STATE": str(state)}
    run = subprocess.run(["sh", "-c", shell], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=False, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert snapshot(roots["warm"]) == before
    assert not any(p.is_file() for p in roots["hot"].rglob("*"))
