"""Block array sizing against the published RAID and HDP rules (docs DOMAIN.md)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from capacity.sizing import size_array, size_pool

TB = 10**12
MiB = 2**20


@pytest.mark.parametrize(("raid", "groups", "drive", "drives", "raw", "data", "kept"), [
    # RAID6 14D+2P: 4 groups x 16 drives = 64 drives; 64 x 18 TB = 1152 TB raw;
    # 4 x 14 x 18 TB = 1008 TB of data; 1008 / 1152 = 7/8 = 87.5%
    ("14D+2P", 4, "nl18", 64, 1152 * TB, 1008 * TB, Fraction(7, 8)),
    # RAID5 7D+1P: 2 x 8 = 16 drives; 16 x 7.68 TB = 122.88 TB; 2 x 7 x 7.68 = 107.52 TB
    ("7D+1P", 2, "ssd768", 16, 122_880 * 10**9, 107_520 * 10**9, Fraction(7, 8)),
    # RAID5 3D+1P: 4 drives x 18 TB = 72 TB; 3 x 18 = 54 TB; 54 / 72 = 75%
    ("3D+1P", 1, "nl18", 4, 72 * TB, 54 * TB, Fraction(3, 4)),
    # RAID6 6D+2P: 8 drives x 18 TB = 144 TB; 6 x 18 = 108 TB; 108 / 144 = 75%
    ("6D+2P", 1, "nl18", 8, 144 * TB, 108 * TB, Fraction(3, 4)),
    # RAID1 2D+2D: 4 drives x 18 TB = 72 TB; 2 x 18 = 36 TB; 50%
    ("2D+2D", 1, "nl18", 4, 72 * TB, 36 * TB, Fraction(1, 2)),
    # RAID1 4D+4D: 3 x 8 = 24 drives; 24 x 18 = 432 TB; 3 x 4 x 18 = 216 TB; 50%
    ("4D+4D", 3, "nl18", 24, 432 * TB, 216 * TB, Fraction(1, 2)),
])
def test_raid_layout_keeps_its_data_share(make_inventory, raid, groups, drive, drives, raw,
                                          data, kept):
    inv = make_inventory(arrays={"ARR": make_inventory.pool_array(
        [{"drive": drive, "raid": raid, "count": groups}])})
    pool = size_pool(inv, "ARR", "P")
    (tier,) = pool.tiers
    assert (tier.drives, tier.raw, tier.data) == (drives, raw, data)
    assert (pool.raw, pool.after_raid) == (raw, data)
    assert Fraction(pool.after_raid, pool.raw) == kept


def test_hdp_capacity_of_a_1008_tb_pool(make_inventory):
    inv = make_inventory(arrays={"ARR": make_inventory.pool_array(
        [{"drive": "nl18", "raid": "14D+2P", "count": 4}])})
    # after RAID 1008 TB = 1,008,000,000,000,000 B; a page is 42 MiB = 44,040,192 B;
    # 1,008,000,000,000,000 / 44,040,192 = 22,888,183.4 -> 22,888,183 whole pages;
    # 22,888,183 x 42 MiB = 961,303,686 MiB; less 4,200 MiB = 961,299,486 MiB
    # = 961,299,486 x 1,048,576 B = 1,007,995,569,831,936 B
    assert size_pool(inv, "ARR", "P").capacity == 1_007_995_569_831_936


@pytest.mark.parametrize(("drive_mib", "capacity_mib"), [
    # 3D+1P of 14,000 MiB drives: 3 x 14,000 = 42,000 MiB = exactly 1,000 pages of 42 MiB;
    # 1,000 x 42 - 4,200 = 37,800 MiB
    (14_000, 37_800),
    # 14,010 MiB drives: 42,030 MiB = 1,000 pages + 30 MiB; the partial page is lost:
    # 1,000 x 42 - 4,200 = 37,800 MiB again
    (14_010, 37_800),
    # 14,014 MiB drives: 42,042 MiB = 1,001 whole pages; 1,001 x 42 - 4,200 = 37,842 MiB
    (14_014, 37_842),
    # 1,000 MiB drives: 3,000 MiB = 71 pages (2,982 MiB) < 4,200 MiB overhead -> 0, not negative
    (1_000, 0),
])
def test_hdp_pages_round_down_and_pay_the_pool_overhead(make_inventory, drive_mib,
                                                        capacity_mib):
    inv = make_inventory(
        catalog={"drives": {"d": make_inventory.drive(f"{drive_mib}MiB")}},
        arrays={"ARR": make_inventory.pool_array([{"drive": "d", "raid": "3D+1P"}])})
    assert size_pool(inv, "ARR", "P").capacity == capacity_mib * MiB


def test_spares_count_in_raw_but_hold_no_data(make_inventory):
    inv = make_inventory(arrays={"ARR": make_inventory.pool_array(
        [{"drive": "nl18", "raid": "14D+2P"}], spares=2)})
    pool = size_pool(inv, "ARR", "P")
    (tier,) = pool.tiers
    # 16 drives in the group x 18 TB = 288 TB; 2 spares x 18 TB = 36 TB; data 14 x 18 = 252 TB
    assert (tier.drive, tier.drives, tier.spares) == ("nl18", 16, 2)
    assert (pool.raw, pool.spare_raw, pool.after_raid) == (288 * TB, 36 * TB, 252 * TB)
    # the array holds 16 + 2 = 18 drives
    assert size_array(inv, "ARR").drives == 18


def test_hdt_pool_adds_its_tiers(make_inventory):
    tiers = [
        {"name": "ssd", "parity_groups": [{"drive": "ssd768", "raid": "7D+1P"}], "spares": 1},
        {"name": "nl", "parity_groups": [{"drive": "nl18", "raid": "14D+2P"}], "spares": 1},
    ]
    inv = make_inventory(arrays={"ARR": {"site": "A", "model": "vsp",
                                         "pools": {"P": {"type": "HDT", "tiers": tiers}}}})
    pool = size_pool(inv, "ARR", "P")
    # ssd: 8 x 7.68 = 61.44 TB raw, 7 x 7.68 = 53.76 TB data, spare 7.68 TB
    # nl:  16 x 18 = 288 TB raw, 14 x 18 = 252 TB data, spare 18 TB
    assert [t.data for t in pool.tiers] == [53_760 * 10**9, 252 * TB]
    assert pool.raw == 349_440 * 10**9  # 61.44 + 288 = 349.44 TB
    assert pool.spare_raw == 25_680 * 10**9  # 7.68 + 18 = 25.68 TB
    assert pool.after_raid == 305_760 * 10**9  # 53.76 + 252 = 305.76 TB


def test_data_reduction_pays_its_overhead_then_multiplies(make_inventory):
    inv = make_inventory(
        catalog={"drives": {"d": make_inventory.drive("14000MiB")}},
        arrays={"ARR": make_inventory.pool_array(
            [{"drive": "d", "raid": "3D+1P"}],
            data_reduction={"ratio": 1.5, "overhead": "10%"})})
    pool = size_pool(inv, "ARR", "P")
    # capacity 37,800 MiB (see above); x (1 - 10%) x 1.5 = 37,800 x 1.35 = 51,030 MiB
    assert pool.capacity == 37_800 * MiB
    assert pool.effective == 51_030 * MiB


def test_no_data_reduction_means_no_overhead(make_inventory):
    inv = make_inventory(
        catalog={"drives": {"d": make_inventory.drive("14000MiB")}},
        arrays={"ARR": make_inventory.pool_array(
            [{"drive": "d", "raid": "3D+1P"}],
            data_reduction={"ratio": 1.0, "overhead": "10%"})})
    # ratio 1:1 means reduction is off: effective == capacity == 37,800 MiB
    assert size_pool(inv, "ARR", "P").effective == 37_800 * MiB


def test_array_slots_rack_units_and_power(make_inventory):
    array = make_inventory.pool_array([{"drive": "nl18", "raid": "14D+2P"}], spares=2,
                                      drive_boxes=2)
    array["pools"]["Q"] = {"tiers": [{"name": "t1", "parity_groups": [
        {"drive": "ssd768", "raid": "7D+1P", "count": 2}]}]}
    sized = size_array(make_inventory(arrays={"ARR": array}), "ARR")
    # drives: 16 + 2 spares in P, 2 x 8 = 16 in Q -> 34
    assert sized.drives == 34
    # slots: 24 in the chassis + 2 boxes x 60 = 144 (below the 384 maximum)
    assert (sized.slots, sized.max_drives) == (144, 384)
    # rack units: 4 (chassis) + 2 x 4 (boxes) = 12
    assert sized.rack_units == 12
    # power: 1500 + 2 x 400 + 18 x 8 W (nl18) + 16 x 12 W (ssd768) = 1500 + 800 + 144 + 192
    assert sized.power_w == 2636
    assert set(sized.pools) == {"P", "Q"}
    assert sized.pools["Q"].ref == "ARR/Q"
    assert (sized.site, sized.model) == ("A", "vsp")


def test_slots_never_exceed_the_model_maximum(make_inventory):
    array = make_inventory.pool_array([{"drive": "nl18", "raid": "14D+2P"}], drive_boxes=8)
    # 24 + 8 x 60 = 504 slots of boxes, but the model takes at most 384 drives
    assert size_array(make_inventory(arrays={"ARR": array}), "ARR").slots == 384


def test_unknown_names_raise_value_errors(make_inventory):
    inv = make_inventory(arrays={"ARR": make_inventory.pool_array(
        [{"drive": "nl18", "raid": "14D+2P"}])})
    with pytest.raises(ValueError, match="no array named 'NOPE'"):
        size_array(inv, "NOPE")
    with pytest.raises(ValueError, match="no pool in array 'ARR' named 'X'"):
        size_pool(inv, "ARR", "X")
    bad_drive = make_inventory(arrays={"ARR": make_inventory.pool_array(
        [{"drive": "missing", "raid": "14D+2P"}])})
    with pytest.raises(ValueError, match="no drive type named 'missing'"):
        size_pool(bad_drive, "ARR", "P")
