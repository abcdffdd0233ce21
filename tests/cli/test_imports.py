"""Commands load only what they use: no charting library for a command that draws no chart,
no SSH library for one that reaches no host (they cost most of a short command's time)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "inventories" / "medical-center.yaml")
HEAVY = ("matplotlib", "numpy", "paramiko")
PROBE = ("import runpy, sys\n"
         "sys.argv = ['capacity', *sys.argv[1:]]\n"
         "try:\n"
         "    runpy.run_module('capacity', run_name='__main__')\n"
         "except SystemExit:\n"
         "    pass\n"
         f"print('loaded:', *[m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr)\n")


def loaded(*argv: str) -> set[str]:
    run = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True,
                         check=False, cwd=ROOT, timeout=300)
    line = next(x for x in reversed(run.stderr.splitlines()) if x.startswith("loaded:"))
    return set(line.split()[1:])


@pytest.mark.parametrize("argv", [
    ["--help"], ["validate", EXAMPLE], ["show", EXAMPLE, "--format", "json"],
    ["simulate", EXAMPLE, "--years", "0.1", "--format", "json"],
    ["dr-check", EXAMPLE, "--format", "json"]])
def test_a_command_that_draws_nothing_and_reaches_no_host_loads_neither(argv) -> None:
    assert loaded(*argv) == set()


def test_writing_a_report_loads_the_charting_library(tmp_path: Path) -> None:
    assert {"matplotlib", "numpy"} <= loaded("simulate", EXAMPLE, "--years", "0.1", "--out",
                                             str(tmp_path))
