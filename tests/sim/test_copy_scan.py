"""The copy rules' daily scan starts where the last run left off (``_Runs.copied_through``);
checked against the straightforward scan of every cohort each run (a second
implementation, below) over four years: the same results to the byte, through a bandwidth
that leaves a backlog, a backup store that fills, and old data migrated into the source."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from pathlib import Path

import pytest

from capacity.load import load_with_scenarios
from capacity.report.simulation import summary
from capacity.sim import simulate, tiering
from capacity.sim.twin import Cohorts, Store

LAB = Path(__file__).parents[1] / "backup" / "backup-lab.yaml"
PER_DAY = 36.5 * 10**12 / 365

MIGRATION = """name: old-studies
events:
  - on: 2027-03-01
    action: migrate
    name: old-pacs
    volume: 10TB
    to: e1090-main/pacs-hot
    workload: pacs
    age: 1y
    per_day: 1TB
"""


def _every_cohort(self: tiering._Runs, rule: str, target: Store, band: tiering._Band,
                  day: int, nbytes: int) -> None:
    copied = self.copied.setdefault((rule, band.workload), Cohorts())
    source: Cohorts = band.store.cohorts[band.workload]
    owed: dict[float, int] = defaultdict(int)
    for birth, size in zip(source.births, source.sizes, strict=True):
        if day - band.oldest < birth <= day - band.youngest:
            owed[birth] += size
    for birth, size in zip(copied.births, copied.sizes, strict=True):
        if birth in owed:
            owed[birth] -= size
    for birth in sorted(owed):
        part = min(owed[birth], nbytes)
        if part <= 0:
            continue
        placed = target.add(band.workload, birth, part)
        copied.add(birth, placed)
        nbytes -= placed
        if placed < part or nbytes <= 0:
            return


@pytest.mark.parametrize("edit, scenario", [
    pytest.param(None, None, id="as-is"),
    pytest.param(("    lock: {mode: compliance}\n",
                  "    lock: {mode: compliance}\n    pacing: {bandwidth: 1MB/s}\n"), None,
                 id="bandwidth-backlog"),
    pytest.param(("    raw: 2PB\n", "    raw: 120TB\n"), None, id="backup-fills"),
    pytest.param(None, MIGRATION, id="old-data-migrated"),
])
def test_the_resumed_scan_copies_what_the_full_scan_copies(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        edit: tuple[str, str] | None, scenario: str | None) -> None:
    text = LAB.read_text()
    if edit is not None:
        assert edit[0] in text
        text = text.replace(*edit)
    (tmp_path / "lab.yaml").write_text(text)
    scenarios = []
    if scenario is not None:
        (tmp_path / "scenario.yaml").write_text(scenario)
        scenarios = [tmp_path / "scenario.yaml"]
    inventory, loaded = load_with_scenarios(tmp_path / "lab.yaml", scenarios)

    def run() -> dict[str, object]:
        result = simulate(inventory, loaded, years=4, procurement=False)
        return summary(dataclasses.replace(result))

    fast = run()
    monkeypatch.setattr(tiering._Runs, "copy", _every_cohort)
    assert run() == fast
    end = {r["resource"]: r["used_bytes"] for r in fast["resources_end"]}
    if edit is None:  # all but the last seven days' data (ages 0-6) is backed up, once
        assert abs(end["hcp-backup"] - (end["e1090-main/pacs-hot"] - 7 * PER_DAY)) <= 10
    else:
        assert 0 < end["hcp-backup"] < end["e1090-main/pacs-hot"] - 7 * PER_DAY
