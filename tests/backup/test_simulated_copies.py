"""The simulator plays copy rules forward: what a copy rule selects lands on the backup
store as well, its source keeps it, and nothing is copied twice."""

from __future__ import annotations

from pathlib import Path

from capacity.load import load_inventory
from capacity.report.simulation import summary
from capacity.sim import simulate

LAB = Path(__file__).with_name("backup-lab.yaml")
TB = 10**12
PER_DAY = 36.5 * TB / 365


def _used(s: dict[str, object], when: str) -> dict[str, int]:
    return {r["resource"]: r["used_bytes"] for r in s[f"resources_{when}"]}  # type: ignore[index, attr-defined]


def test_the_backup_holds_everything_a_week_old_and_the_source_keeps_it() -> None:
    s = summary(simulate(load_inventory(LAB), years=2, procurement=False))
    end = _used(s, "end")
    hot, backup = end["e1090-main/pacs-hot"], end["hcp-backup"]
    assert hot == 50 * TB + 2 * 365 * PER_DAY  # nothing left the source (2 years, no leap day)
    # Everything but the last seven days' data (ages 0-6) is backed up, once.
    assert abs(backup - (hot - 7 * PER_DAY)) <= 7


def test_copies_go_with_the_workloads_retention(tmp_path: Path) -> None:
    path = tmp_path / "lab.yaml"
    path.write_text(LAB.read_text().replace("    retention: 10y\n    policy: backup",
                                            "    retention: 1y\n    policy: backup"))
    s = summary(simulate(load_inventory(path), years=2, procurement=False))
    end = _used(s, "end")
    hot, backup = end["e1090-main/pacs-hot"], end["hcp-backup"]
    assert abs(hot - 365 * PER_DAY) <= 365  # a year's data (ages 0 to 364 days)
    assert abs(backup - (hot - 7 * PER_DAY)) <= 365
