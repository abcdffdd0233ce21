"""The simulator gives volumes their tiering policies by the policy's rules, on the days
the rules say, and keeps each HDT tier's bytes as the placement rules say."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from capacity.load import load_inventory
from capacity.report.simulation import summary
from capacity.sim import simulate
from tests.volumes.lab import TIB, write_lab

TB = 10**12
SSD_DATA = 2 * 7 * 3.84 * TB   # two 7D+1P groups of 3.84 TB drives
NLSAS_DATA = 4 * 14 * 18 * TB  # four 14D+2P groups of 18 TB drives


def run(tmp_path: Path, **lab: Any) -> dict[str, Any]:
    inv = load_inventory(write_lab(tmp_path, **lab))
    return summary(simulate(inv, years=1, procurement=False))


def test_volumes_get_their_level_on_the_days_the_rule_says(tmp_path: Path) -> None:
    s = run(tmp_path)
    changes = [(c["date"], c["volume"], c["tier_level"]) for c in s["volume_tiering"]]
    # 2019's era is long past 90 days at the first run; 2026's closes on 2026-12-31 and is
    # 90 days old on 2027-03-31.
    assert changes == [("2026-11-01", "pacs-archive-2019", 5),
                       ("2027-03-31", "pacs-archive-2026", 5)]
    assert dt.date(2026, 12, 31) + dt.timedelta(days=90) == dt.date(2027, 3, 31)


def _tiers(s: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["tier"]: t for t in s["pool_tiers"] if t["pool"] == "g900-lab/pacs-hdt"}


def _expected(s: dict[str, Any], at_level5: float) -> tuple[float, float]:
    pool = next(r for r in s["resources_end"] if r["resource"] == "g900-lab/pacs-hdt")
    ssd = pool["capacity_bytes"] * SSD_DATA / (SSD_DATA + NLSAS_DATA)
    rest = pool["used_bytes"] - at_level5        # every other page is at All: top down
    return min(ssd, rest), at_level5 + max(0.0, rest - ssd)


def test_tiers_hold_what_the_levels_say(tmp_path: Path) -> None:
    s = run(tmp_path)
    tiers = _tiers(s)
    ssd, nlsas = _expected(s, 50 * TIB)  # both eras at Level5 by the end
    assert abs(tiers["ssd"]["used_bytes_end"] - ssd) <= 2
    assert abs(tiers["nlsas"]["used_bytes_end"] - nlsas) <= 2
    pool = next(r for r in s["resources_end"] if r["resource"] == "g900-lab/pacs-hdt")
    assert abs(tiers["ssd"]["used_bytes_end"] + tiers["nlsas"]["used_bytes_end"]
               - pool["used_bytes"]) <= 2
    # Both eras' pages are on the bottom tier, none on the top one.
    for era in ("pacs-archive-2019", "pacs-archive-2026"):
        assert tiers["ssd"]["volumes_bytes_end"][era] == 0
    assert tiers["nlsas"]["volumes_bytes_end"] == {"pacs-archive-2019": 30 * TIB,
                                                   "pacs-archive-2026": 20 * TIB}
    # At the start, the 2026 era (still written, at All) has its share of the top tier:
    # its bytes times the top tier's over everything at All.
    at_all = tiers["ssd"]["used_bytes_start"] + tiers["nlsas"]["used_bytes_start"] - 30 * TIB
    share = tiers["ssd"]["used_bytes_start"] / at_all
    assert abs(tiers["ssd"]["volumes_bytes_start"]["pacs-archive-2026"] - share * 20 * TIB) <= 2


def test_without_a_relocate_rule_pages_move_at_the_next_cycle(tmp_path: Path) -> None:
    from capacity.sim import simulate as play

    inv = load_inventory(write_lab(tmp_path, relocate=False))
    result = play(inv, years=1, procurement=False)
    era = result.pool_tiers["g900-lab/pacs-hdt"].volumes["pacs-archive-2026"]
    day = (dt.date(2027, 3, 31) - inv.as_of).days
    # The 2026 era's 20 TiB are all on the bottom tier the day after the run set its level.
    assert era[0][day] > 0 and era[1][day] < 20 * TIB
    assert (era[0][day + 1], era[1][day + 1]) == (0, 20 * TIB)
    with_relocation = play(load_inventory(write_lab(tmp_path)), years=1, procurement=False)
    moved = with_relocation.pool_tiers["g900-lab/pacs-hdt"].volumes["pacs-archive-2026"]
    assert moved[0][day - 1] > 0 and (moved[0][day], moved[1][day]) == (0, 20 * TIB)


def test_a_volume_at_its_level_already_is_left_alone(tmp_path: Path) -> None:
    path = write_lab(tmp_path)
    text = path.read_text().replace("last_write: 2019-12-31}",
                                    "last_write: 2019-12-31, tier_level: 5}")
    path.write_text(text)
    s = summary(simulate(load_inventory(path), years=1, procurement=False))
    assert [c["volume"] for c in s["volume_tiering"]] == ["pacs-archive-2026"]
