"""Where an HDT pool keeps a volume's pages under each tiering policy, against Hitachi's
table ("Tiering policy levels", SVOS 8.1 Volume Management, Tiered Storage):

| policy  | 1 tier | 2 tiers | 3 tiers          |
| All(0)  | single | both    | all three        |
| Level1  | All    | tier 1  | tier 1           |
| Level2  | All    | All     | tiers 1 and 2    |
| Level3  | All    | All     | tier 2           |
| Level4  | All    | All     | tiers 2 and 3    |
| Level5  | All    | tier 2  | tier 3           |

with overflow: Level1 to the next lower tier, Level3 to the top tier, Level5 to the next
higher tier, Level2 and Level4 to the next lower tier once the single-tier levels are
placed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capacity.model.policy.volumes import PLACEMENT_ORDER, place, tier_totals

ROOMY = 1000.0

# The table, as the tiers (1-based) a small volume's pages land on; "All" fills top down.
TABLE = {
    1: {"all": [1], 1: [1], 2: [1], 3: [1], 4: [1], 5: [1]},
    2: {"all": [1], 1: [1], 2: [1], 3: [1], 4: [1], 5: [2]},
    3: {"all": [1], 1: [1], 2: [1], 3: [2], 4: [2], 5: [3]},
}


@pytest.mark.parametrize("tiers", [1, 2, 3])
@pytest.mark.parametrize("level", PLACEMENT_ORDER)
def test_a_small_volume_lands_where_the_table_says(tiers: int, level: object) -> None:
    used = place([ROOMY] * tiers, [(level, 10.0)])[0]  # type: ignore[list-item]
    expected = [10.0 if i + 1 in TABLE[tiers][level] else 0.0 for i in range(tiers)]  # type: ignore[index]
    assert used == expected


@pytest.mark.parametrize(("level", "full", "spill"), [
    (1, 0, 1),   # Level1: overflow to the next lower tier
    (3, 1, 0),   # Level3: overflow to the top tier
    (5, 2, 1),   # Level5: overflow to the next higher tier
    (2, 0, 1),   # Level2 over tiers 1 and 2: the top first
    (4, 1, 2),   # Level4 over tiers 2 and 3: the middle first
])
def test_overflow_goes_where_the_table_says(level: int, full: int, spill: int) -> None:
    caps = [100.0, 100.0, 100.0]
    used = place(caps, [(level, 130.0)])[0]  # type: ignore[list-item]
    assert used[full] == 100.0 and used[spill] == 30.0
    assert sum(used) == 130.0


def test_single_tier_levels_go_first_and_all_takes_what_is_left() -> None:
    # 80 at All and 50 at Level1 on a 60 / 200 pool: Level1 takes the top tier first, and
    # its overflow the next one down; All then finds no room on top.
    placed = place([60.0, 200.0], [("all", 80.0), (1, 50.0)])
    assert placed == [[10.0, 70.0], [50.0, 0.0]]
    # Level5's 150 fills the bottom tier (100) and spills up; All finds the top tier's rest.
    placed = place([60.0, 100.0], [(5, 150.0), ("all", 5.0)])
    assert tier_totals(placed, 2) == [55.0, 100.0] and placed[1] == [5.0, 0.0]


def test_volumes_of_one_level_share_its_tiers_pro_rata() -> None:
    placed = place([30.0, 100.0], [("all", 20.0), ("all", 40.0)])
    assert placed == [[10.0, 10.0], [20.0, 20.0]]


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=3),
       st.lists(st.tuples(st.sampled_from(PLACEMENT_ORDER), st.floats(0, 1e6)), max_size=6))
def test_placement_keeps_every_byte_and_overfills_only_a_full_pool(
        caps: list[float], loads: list[tuple[object, float]]) -> None:
    placed = place(caps, loads)  # type: ignore[arg-type]
    used = tier_totals(placed, len(caps))
    total = sum(b for _, b in loads)
    assert sum(used) == pytest.approx(total, rel=1e-9, abs=1e-6)
    for (_, nbytes), load in zip(loads, placed, strict=True):
        assert sum(load) == pytest.approx(nbytes, rel=1e-9, abs=1e-6)
    if total <= sum(caps):
        assert all(u <= c * (1 + 1e-9) + 1e-6 for u, c in zip(used, caps, strict=True))
