"""docs/operations.md's "Scheduling" names every metric a run writes, and no other."""

from __future__ import annotations

import re
from pathlib import Path

from capacity.schedule import runmetrics
from capacity.schedule.runmetrics import HostFigures, RunFigures

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def test_the_docs_name_every_run_metric() -> None:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("### The metrics of a run"):text.index("### How scheduling")]
    named = set(re.findall(r"`(capacity_tier_run_[a-z_]+)", section))
    run = RunFigures("p", 0.0, 1.0, 0, None, 1, 1, [HostFigures("h", done=1)], last_success=1.0)
    written = {s.name for f in runmetrics.registry(run).collect() for s in f.samples}
    assert named == written
