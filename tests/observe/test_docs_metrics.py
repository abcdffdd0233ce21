"""docs/operations.md's table of metrics is the exporter's: every metric served by a scrape
of the bundled example (it has arrays and hosts; with a journal, a runs ledger and an audit
log, so the tier metrics are there too) or of the HDT lab of tests/volumes (its pool tiers)
has its row, and every row is served."""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.observe.estate import write_tiered_state
from tests.observe.scrape import samples
from tests.observe.test_tier_metrics import write_journal
from tests.prometheus import exporter
from tests.volumes.lab import write_lab

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def test_the_docs_table_lists_every_metric_served(tmp_path: Path) -> None:
    state = tmp_path / "state"
    write_journal(state / "journal.sqlite")
    write_tiered_state(state, time.time())
    with exporter(["--state", str(state)], tmp_path) as running:
        served = {name for name, _ in samples(running.scrape())}
    with exporter([str(write_lab(tmp_path))], tmp_path) as running:
        served |= {name for name, _ in samples(running.scrape())}
    rows = re.findall(r"^\| `(capacity_[a-z_]+)` \|", DOC.read_text(encoding="utf-8"), re.M)
    assert len(rows) == len(set(rows))
    assert set(rows) == served
