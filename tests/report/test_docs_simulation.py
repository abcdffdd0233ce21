"""Every command line docs/simulation.md shows is run as shown (an ``--out`` folder moved
into a temporary one): it succeeds (dr-check finds what it documents), prints no warning
of matplotlib's, and says that it fell back to the bundled example at most once."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "simulation.md"


def doc_commands() -> list[str]:
    """`capacity ...` in inline code (line breaks inside it are spaces) and ``$ capacity``
    lines of code blocks (a trailing ``# comment`` dropped)."""
    text = DOC.read_text(encoding="utf-8")
    found = [" ".join(m.split()) for m in re.findall(r"`(capacity [a-z][^`]*)`", text)]
    found += [line[2:].split("#")[0].strip() for line in text.splitlines()
              if line.startswith("$ capacity")]
    return list(dict.fromkeys(found))


def test_the_doc_shows_what_the_report_tests_cover() -> None:
    commands = doc_commands()
    assert "capacity simulate --years 10 --out report" in commands
    assert any(c.startswith("capacity compare -s scenarios/genomics.yaml") for c in commands)


@pytest.mark.parametrize("command", doc_commands())
def test_doc_command_runs_as_shown(command: str, tmp_path: Path) -> None:
    args = shlex.split(command)[1:]
    if "--out" in args:
        at = args.index("--out") + 1
        args[at] = str(tmp_path / args[at])
    run = subprocess.run([sys.executable, "-m", "capacity", *args], cwd=ROOT,
                         capture_output=True, text=True, check=False, timeout=300)
    # dr-check exits 1 on the bundled example: its PACS clusters cannot carry both halves.
    assert run.returncode == (1 if args[0] == "dr-check" else 0), run.stderr
    assert "Traceback" not in run.stderr
    assert "UserWarning" not in run.stderr and "matplotlib" not in run.stderr, run.stderr
    assert run.stderr.count("no inventory given") <= 1
    if "--out" in args:
        written = Path(args[args.index("--out") + 1])
        assert (written / ("compare.html" if args[0] == "compare" else "report.html")).exists()
