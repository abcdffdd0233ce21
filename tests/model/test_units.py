"""Units parse once, at the edge: exact values, clear refusals, and round trips."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capacity import units


@pytest.mark.parametrize(("text", "expected"), [
    ("7.68TB", 7_680_000_000_000),
    ("1.5TiB", 1_649_267_441_664),  # 1.5 * 2**40
    ("500GB", 500 * 10**9),
    ("2PB", 2 * 10**15),
    ("42MiB", 42 * 1_048_576),
    ("  3 tb ", 3 * 10**12),  # case and spaces are forgiven
    ("1024", 1024),
    (0, 0),
    (123, 123),
])
def test_sizes(text: object, expected: int) -> None:
    assert units.parse_size(text) == expected


@pytest.mark.parametrize("bad", ["-3TB", "3 furlongs", "1.5", "TB", "1.2.3GB", "0.5B", 1.5,
                                 True, -1, None, "1e3GB"])
def test_bad_sizes_are_refused(bad: object) -> None:
    with pytest.raises(units.UnitError):
        units.parse_size(bad)


@pytest.mark.parametrize(("text", "days"), [("90d", 90), ("12w", 84), ("6mo", 180),
                                            ("5y", 1825), ("10 years", 3650), (30, 30),
                                            ("2y", 730)])
def test_durations(text: object, days: int) -> None:
    assert units.parse_days(text) == days


@pytest.mark.parametrize("bad", ["-5d", "5 fortnights", "1.5d", "d", True, 2.5])
def test_bad_durations_are_refused(bad: object) -> None:
    with pytest.raises(units.UnitError):
        units.parse_days(bad)


def test_ratios_and_rates() -> None:
    assert units.parse_ratio("30%") == pytest.approx(0.30)
    assert units.parse_ratio(0.3) == 0.3
    assert units.parse_byte_rate("200MB/s") == 200e6
    assert units.parse_byte_rate("8.64TB/d") == pytest.approx(1e8)  # 8.64e12 / 86400
    assert units.parse_growth("12%/y") == pytest.approx(0.12)
    # 1% a month compounds to 1.01**12 - 1 a year
    assert units.parse_growth("1%/mo") == pytest.approx(1.01 ** (365 / 30) - 1)
    assert units.parse_date("2026-03-01") == dt.date(2026, 3, 1)
    for bad in ("150%x", 1.5, "-3%"):
        with pytest.raises(units.UnitError):
            units.parse_ratio(bad)
    with pytest.raises(units.UnitError):
        units.parse_byte_rate("200MB")
    with pytest.raises(units.UnitError):
        units.parse_date("2026-13-01")


def test_format_size_names_the_unit() -> None:
    assert units.format_size(10**15) == "1 PB"
    assert units.format_size(1_649_267_441_664, binary=True) == "1.5 TiB"
    assert units.format_size(999) == "999 B"
    assert units.format_days(1825) == "5y"
    assert units.format_days(84) == "12w"
    assert units.format_days(10) == "10d"


SUFFIXES = st.sampled_from(sorted(units.SIZE_FACTORS))


@given(st.integers(min_value=0, max_value=10**6), SUFFIXES)
def test_size_text_round_trip(n: int, unit: str) -> None:
    """Whole numbers with any unit parse to exactly n * factor, up to 1 ZiB; above, refused."""
    exact = n * units.SIZE_FACTORS[unit]
    if exact <= 2**70:
        assert units.parse_size(f"{n}{unit}") == exact
    else:
        with pytest.raises(units.UnitError, match="too large"):
            units.parse_size(f"{n}{unit}")


@pytest.mark.parametrize(("parse", "text"), [
    (units.parse_size, 2**70 + 1), (units.parse_byte_rate, "1000000PB/s"),
    (units.parse_byte_rate, 10**13), (units.parse_days, "301y"), (units.parse_days, 10**9),
    (units.parse_seconds, "400d"), (units.parse_seconds, 10**100)])
def test_absurd_magnitudes_are_refused(parse: Any, text: object) -> None:
    with pytest.raises(units.UnitError, match="too large"):
        parse(text)


@given(st.integers(min_value=0, max_value=2**62))
def test_format_then_parse_is_close(n: int) -> None:
    """format_size rounds to 2 decimals of its unit: parsing it back is within 0.5%."""
    for binary in (False, True):
        text = units.format_size(n, binary=binary).replace(" ", "")
        try:
            back = units.parse_size(text)
        except units.UnitError:  # "1.01KiB" is not a whole number of bytes
            continue
        assert abs(back - n) <= max(1, n * 0.005)


@given(st.integers(min_value=0, max_value=100_000))
def test_days_round_trip(days: int) -> None:
    assert units.parse_days(units.format_days(days)) == days


@given(st.integers(min_value=0, max_value=10_000))
def test_percent_round_trip(basis_points: int) -> None:
    ratio = basis_points / 10_000
    assert units.parse_ratio(units.format_ratio(ratio)) == pytest.approx(ratio)


def test_bare_numbers_are_base_units() -> None:
    assert units.parse_byte_rate(2.5e9) == 2.5e9
    assert units.parse_growth(0.12) == 0.12
    with pytest.raises(units.UnitError):
        units.parse_byte_rate(-1)


def test_years_are_calendar_years() -> None:
    """Medical-records law counts calendar years: data written on 2026-01-01 kept 5 years
    leaves on 2031-01-01, 1,826 days later (2028 has a 29 February), not after 1,825."""
    import copy
    import datetime as dt

    from capacity.units import Years, days_on, parse_days

    five = parse_days("5y")
    assert isinstance(five, Years) and five == 1825 and five.years == 5
    assert days_on(five, dt.date(2031, 1, 1)) == 1826
    assert days_on(five, dt.date(2027, 1, 1)) == 1826  # 2024-01-01 to 2027-01-01
    assert days_on(parse_days("1y"), dt.date(2028, 2, 29)) == 366  # from 2027-02-28
    assert days_on(parse_days("90d"), dt.date(2031, 1, 1)) == 90
    assert not isinstance(parse_days("0.2y"), Years) and parse_days("0.2y") == 73
    assert copy.deepcopy(five).years == 5


def test_a_retention_in_years_stays_in_years_in_the_model() -> None:
    from capacity.model import Policy
    from capacity.units import Years

    policy = Policy.model_validate({"hosts": ["h"], "retention": "10y", "rules": [
        {"name": "drop", "action": "expire", "from": "arch", "select": {"older_than": "10y"}}]})
    assert isinstance(policy.retention, Years) and policy.retention.years == 10
    assert isinstance(policy.model_copy().retention, Years)
