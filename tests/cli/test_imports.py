"""Commands load only what they use: no charting library for a command that draws no chart,
no SSH library for one that reaches no host (they cost most of a short command's time)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "inventories" / "medical-center.yaml")
HEAVY = ("matplotlib", "numpy", "paramiko", "pandas", "statsmodels")
MODEL = ("capacity.model", "capacity.sim", "capacity.checks", "yaml")


def probe(modules: tuple[str, ...]) -> str:
    """A script running the CLI with its arguments, then naming which ``modules`` it
    loaded on its last stderr line."""
    return ("import runpy, sys\n"
            "sys.argv = ['capacity', *sys.argv[1:]]\n"
            "try:\n"
            "    runpy.run_module('capacity', run_name='__main__')\n"
            "except SystemExit:\n"
            "    pass\n"
            f"print('loaded:', *[m for m in {modules!r} if m in sys.modules],"
            " file=sys.stderr)\n")


PROBE = probe(HEAVY)


def loaded(*argv: str, modules: tuple[str, ...] = HEAVY) -> set[str]:
    run = subprocess.run([sys.executable, "-c", probe(modules), *argv], capture_output=True,
                         text=True, check=False, cwd=ROOT, timeout=300)
    line = next(x for x in reversed(run.stderr.splitlines()) if x.startswith("loaded:"))
    return set(line.split()[1:])


@pytest.mark.parametrize("argv", [
    ["validate", EXAMPLE], ["show", EXAMPLE, "--format", "json"],
    ["simulate", EXAMPLE, "--years", "0.1", "--format", "json"],
    ["dr-check", EXAMPLE, "--format", "json"]])
def test_a_command_that_draws_nothing_and_reaches_no_host_loads_neither(argv) -> None:
    assert loaded(*argv) == set()


@pytest.mark.parametrize("argv", [["--help"], ["tier", "--help"], ["simulate", "--help"],
                                  ["tier", "apply", "--help"], ["collect", "--help"],
                                  ["forecast", "--help"], ["backtest", "--help"]])
def test_help_loads_not_even_the_model(argv: list[str]) -> None:
    """Help reads the commands' signatures only: the model (its pydantic classes), the
    simulator and the YAML parser are imported by the commands that use them, inside."""
    assert loaded(*argv, modules=HEAVY + MODEL) == set()


def test_writing_a_report_loads_the_charting_library(tmp_path: Path) -> None:
    assert {"matplotlib", "numpy"} <= loaded("simulate", EXAMPLE, "--years", "0.1", "--out",
                                             str(tmp_path))
