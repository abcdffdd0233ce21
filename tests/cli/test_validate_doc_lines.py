"""`capacity validate` as the README and docs/ show it, and the generated field reference
saying what fields mean in the inventory's own units."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from capacity.report import schema_doc

ROOT = Path(__file__).resolve().parents[2]


def doc_validate_lines() -> list[str]:
    """`capacity validate ...` lines of the sh blocks in the README and docs/ (comments cut)."""
    lines = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for block in re.findall(r"```sh\n(.*?)```", doc.read_text(encoding="utf-8"), re.S):
            lines += [line.split("#")[0].strip() for line in block.splitlines()
                      if line.startswith("capacity validate")]
    return lines


def test_doc_validate_lines_run() -> None:
    lines = doc_validate_lines()
    assert "capacity validate --strict inventories/*.yaml" in lines
    for line in lines:
        # Through a shell, as a reader runs it: the glob expands there.
        run = subprocess.run(f"{sys.executable} -m {line}", shell=True, capture_output=True,
                             text=True, check=False, cwd=ROOT)
        warned = ": warning: " in run.stderr
        assert "Traceback" not in run.stderr, line
        expected = 2 if "--strict" in line and warned else 0
        assert run.returncode == expected, (line, run.stderr)


def test_defaults_are_written_in_units() -> None:
    text = "\n".join(line for line in schema_doc.inventory_markdown().splitlines()
                     if line.startswith("| `"))
    assert "34359738368" not in text and "44040192" not in text
    assert "| `ram` | size | `32 GiB` | RAM reserved per node. |" in text  # 32 x 2^30
    assert "| `page_size` | size | `42 MiB` |" in text
    assert "| `pool_overhead` | size | `4200 MiB` |" in text
    assert "| `slack` | ratio | `25%` |" in text
    assert "| `safety_margin` | duration | `14d` |" in text
    assert "| `growth` | growth | `0%/y` |" in text
    assert "| `warning` | ratio | `70%` |" in text


def test_no_field_only_names_its_type() -> None:
    for text in (schema_doc.inventory_markdown(), schema_doc.scenario_markdown()):
        for row in (line for line in text.splitlines() if line.startswith("| `")):
            cells = [c.strip() for c in row.strip("|").split(" | ")]
            if len(cells) != 4:
                continue  # the warnings table
            meaning = cells[3]
            assert meaning, row
            assert not meaning.lower().startswith(("a size", "a percentage", "a duration",
                                                   "compound growth", "a transfer rate")), row


def test_the_reference_links_the_catalogue() -> None:
    assert "[the built-in hardware catalogue](catalog.md)" in schema_doc.inventory_markdown()
