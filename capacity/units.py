"""Units, parsed once at the edge.

Inside the program bytes are ``int``, ratios are ``float`` (0.7 for 70%), durations are
whole days (``int``) and dates are ``datetime.date``.  Sizes accept SI (``TB`` = 10**12)
and IEC (``TiB`` = 2**40) suffixes and are shown with an explicit unit.

Durations use calendar-average lengths so that ``1y`` is 365 days, ``1mo`` is 30 days
and ``1w`` is 7 days: capacity plans count days, not calendar months.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal, InvalidOperation
from typing import TypeVar

SI = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "PB": 10**15,
      "EB": 10**18}
IEC = {"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40, "PIB": 2**50, "EIB": 2**60}
SIZE_FACTORS = {**SI, **IEC}

DAYS = {"d": 1, "w": 7, "mo": 30, "y": 365}
DURATION_WORDS = {"day": "d", "days": "d", "week": "w", "weeks": "w", "month": "mo",
                  "months": "mo", "year": "y", "years": "y", "m": "mo", "yr": "y"}
SECONDS = {"s": 1, "min": 60, "h": 3600, "d": 86400}

_NUMBER = r"(?P<num>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_SIZE_RE = re.compile(rf"^\s*{_NUMBER}\s*(?P<unit>[A-Za-z]*)\s*$")
_DURATION_RE = re.compile(rf"^\s*{_NUMBER}\s*(?P<unit>[A-Za-z]+)\s*$")
_RATE_RE = re.compile(r"^\s*(?P<amount>[^/]+?)\s*/\s*(?P<per>[A-Za-z]+)\s*$")


class UnitError(ValueError):
    """A value that does not parse; the message says what was expected."""


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the regexes admit only numbers
        raise UnitError(f"not a number: {text!r}") from exc


def parse_size(value: object) -> int:
    """``"7.68TB"`` -> 7_680_000_000_000; ``"1.5TiB"``; a bare int is bytes."""
    if isinstance(value, bool):
        raise UnitError("expected a size such as '7.68TB' or '1.5TiB', got a boolean")
    if isinstance(value, int):
        if value < 0:
            raise UnitError(f"a size cannot be negative: {value}")
        return _at_most(value, MAX_SIZE, value, "a size (at most 1 ZiB)")
    if isinstance(value, float):
        raise UnitError(f"a size needs a unit, such as '{value}TB'; bare numbers are bytes and"
                        " must be whole")
    if not isinstance(value, str):
        raise UnitError(f"expected a size such as '7.68TB', got {type(value).__name__}")
    text = value.strip()
    if text.startswith("-"):
        raise UnitError(f"a size cannot be negative: {value!r}")
    match = _SIZE_RE.match(text)
    unit = match.group("unit").upper() if match else None
    if not match or unit not in SIZE_FACTORS:
        raise UnitError(f"not a size: {value!r} (use a number and a unit: B, KB, MB, GB, TB, PB,"
                        " KiB, MiB, GiB, TiB, PiB)")
    exact = _decimal(match.group("num")) * SIZE_FACTORS[unit]
    if exact != exact.to_integral_value():
        raise UnitError(f"{value!r} is not a whole number of bytes")
    return _at_most(int(exact), MAX_SIZE, value, "a size (at most 1 ZiB)")


def format_size(n: int, binary: bool = False, precision: int = 2) -> str:
    """Human form with an explicit unit: ``format_size(10**15) == '1 PB'``."""
    if n < 0:
        return "-" + format_size(-n, binary, precision)
    base, units = (1024, ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]) if binary else (
        1000, ["B", "KB", "MB", "GB", "TB", "PB", "EB"])
    value = float(n)
    for unit in units:
        if value < base or unit == units[-1]:
            text = f"{value:.{precision}f}".rstrip("0").rstrip(".")
            return f"{text} {unit}"
        value /= base
    raise AssertionError("unreachable")


_N = TypeVar("_N", int, float)

MAX_GROWTH = 10.0
"""1000% a year: past that a growth figure is a typo, and compounding it overflows."""
MAX_SIZE = 2**70
"""1 ZiB: far beyond any estate; larger sizes are typos that would overflow float sums."""
MAX_RATE = 10**12
"""1 TB/s: more than any link or array delivers."""
MAX_DAYS = 300 * 365
"""As long as the span of dates the model accepts (1900 to 2200)."""
MAX_SECONDS = 366 * 86_400
"""Timeouts and window lengths: a year at most."""


def _at_most(number: _N, limit: float, value: object, what: str) -> _N:
    if number > limit:
        raise UnitError(f"{what} is too large: {value!r}")
    return number


def _finite(number: float, value: object) -> float:
    if not math.isfinite(number):
        raise UnitError(f"not a finite number: {value!r}")
    return number


def parse_ratio(value: object) -> float:
    """``"30%"`` -> 0.3; a bare number is a fraction (0.3) and must lie in [0, 1]."""
    if isinstance(value, bool):
        raise UnitError("expected a percentage such as '30%', got a boolean")
    if isinstance(value, int | float):
        _finite(value, value)
        if not 0 <= value <= 1:
            raise UnitError(f"a bare ratio must lie between 0 and 1 (or write '{value}%'):"
                            f" {value}")
        return float(value)
    if isinstance(value, str) and value.strip().endswith("%"):
        number = value.strip()[:-1].strip()
        try:
            pct = float(number)
        except ValueError:
            raise UnitError(f"not a percentage: {value!r}") from None
        if _finite(pct, value) < 0:
            raise UnitError(f"a percentage cannot be negative: {value!r}")
        return pct / 100
    raise UnitError(f"expected a percentage such as '30%', got {value!r}")


def format_ratio(r: float) -> str:
    return f"{r * 100:.4g}%"


class Years(int):
    """A duration given in whole years: as a number, 365 days a year (for comparing,
    sorting and showing), but it ends on the same calendar date so many years on, as
    medical-records law counts (``days_before``)."""

    years: int

    def __new__(cls, years: int) -> Years:
        self = super().__new__(cls, years * DAYS["y"])
        self.years = years
        return self

    def __reduce__(self) -> tuple[type[Years], tuple[int]]:  # copies keep the years
        return Years, (self.years,)

    def days_before(self, day: dt.date) -> int:
        """Days back from ``day`` to the same date ``years`` earlier (29 February goes to
        the 28th in a year without one)."""
        year = day.year - self.years
        try:
            then = day.replace(year=year)
        except ValueError:
            then = dt.date(year, 2, 28)
        return (day - then).days


    def after(self, day: dt.date) -> dt.date:
        """The same date ``years`` later; 29 February ends on 1 March in a year without one,
        so that a duration from ``day`` has run out exactly when :meth:`days_before` says
        ``day`` lies that far back."""
        year = day.year + self.years
        try:
            return day.replace(year=year)
        except ValueError:
            return dt.date(year, 3, 1)


def days_on(duration: int, day: dt.date) -> int:
    """A duration in days as it stands on ``day``: calendar years count their leap days."""
    return duration.days_before(day) if isinstance(duration, Years) else duration


def ends_on(duration: int, start: dt.date) -> dt.date:
    """The first day on which ``duration`` from ``start`` has run out: the day an Object
    Lock's retention ends, and the first day :func:`days_on` lets a unit of that date
    expire."""
    return duration.after(start) if isinstance(duration, Years) else (
        start + dt.timedelta(days=duration))


def parse_days(value: object) -> int:
    """``"90d"``, ``"12w"``, ``"6mo"``, ``"5y"`` -> whole days; a bare int is days."""
    if isinstance(value, bool):
        raise UnitError("expected a duration such as '90d', got a boolean")
    if isinstance(value, int):
        if value < 0:
            raise UnitError(f"a duration cannot be negative: {value}")
        return _at_most(value, MAX_DAYS, value, "a duration (at most 300y)")
    if not isinstance(value, str):
        raise UnitError(f"expected a duration such as '90d', '12w', '6mo' or '5y', got {value!r}")
    if value.strip().startswith("-"):
        raise UnitError(f"a duration cannot be negative: {value!r}")
    match = _DURATION_RE.match(value)
    unit = match.group("unit").lower() if match else ""
    unit = DURATION_WORDS.get(unit, unit)
    if not match or unit not in DAYS:
        raise UnitError(f"not a duration: {value!r} (use d, w, mo or y, such as '90d' or '5y')")
    number = _decimal(match.group("num"))
    days = number * DAYS[unit]
    if days != days.to_integral_value():
        raise UnitError(f"{value!r} is not a whole number of days")
    _at_most(int(days), MAX_DAYS, value, "a duration (at most 300y)")
    if unit == "y" and number == number.to_integral_value():
        return Years(int(number))
    return int(days)


def format_days(days: int) -> str:
    for unit in ("y", "w"):
        if days and days % DAYS[unit] == 0:
            return f"{days // DAYS[unit]}{unit}"
    return f"{days}d"


def parse_seconds(value: object) -> float:
    """Short durations for timeouts and windows: ``"30s"``, ``"5min"``, ``"2h"``."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        seconds = _finite(float(value), value)
        return _at_most(seconds, MAX_SECONDS, value, "a duration (at most a year)")
    if isinstance(value, str):
        match = _DURATION_RE.match(value)
        if match and match.group("unit").lower() in SECONDS:
            seconds = float(match.group("num")) * SECONDS[match.group("unit").lower()]
            return _at_most(_finite(seconds, value), MAX_SECONDS, value,
                            "a duration (at most a year)")
    raise UnitError(f"expected a duration such as '30s', '5min' or '2h', got {value!r}")


def parse_byte_rate(value: object) -> float:
    """``"200MB/s"`` -> bytes per second; ``"10TB/d"`` is converted from per day; a bare
    number is bytes per second."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return _at_most(_finite(float(value), value), MAX_RATE, value, "a rate (at most 1TB/s)")
    if isinstance(value, str):
        match = _RATE_RE.match(value)
        if match and match.group("per").lower() in SECONDS:
            per = SECONDS[match.group("per").lower()]
            rate = parse_size(match.group("amount")) / per
            return _at_most(rate, MAX_RATE, value, "a rate (at most 1TB/s)")
    raise UnitError(f"expected a rate such as '200MB/s' or '10TB/d', got {value!r}")


def format_byte_rate(bytes_per_second: float) -> str:
    return format_size(round(bytes_per_second)) + "/s"


def parse_growth(value: object) -> float:
    """Compound growth per year: ``"12%/y"`` or ``"12%"`` -> 0.12; ``"1%/mo"`` is annualised;
    a bare number is the yearly fraction (0.12).  At most :data:`MAX_GROWTH` a year."""
    growth = _yearly_growth(value)
    if growth > MAX_GROWTH:
        raise UnitError(f"growth above {MAX_GROWTH:.0%}/y is not a plan: {value!r}")
    return growth


def _yearly_growth(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if _finite(value, value) <= -1:
            raise UnitError(f"growth cannot shrink data below nothing: {value}")
        return float(value)
    if isinstance(value, str) and "/" in value:
        match = _RATE_RE.match(value)
        if not match:
            raise UnitError(f"expected a growth rate such as '12%/y', got {value!r}")
        per = DURATION_WORDS.get(match.group("per").lower(), match.group("per").lower())
        if per not in DAYS:
            raise UnitError(f"growth is per d, w, mo or y, got {value!r}")
        ratio = parse_ratio(match.group("amount"))
        if ratio > MAX_GROWTH:
            raise UnitError(f"growth above {MAX_GROWTH:.0%}/y is not a plan: {value!r}")
        try:
            return (1 + ratio) ** (DAYS["y"] / DAYS[per]) - 1
        except OverflowError:
            raise UnitError(f"growth above {MAX_GROWTH:.0%}/y is not a plan: {value!r}"
                            ) from None
    if isinstance(value, str):
        return parse_ratio(value)
    raise UnitError(f"expected a growth rate such as '12%/y', got {value!r}")


EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(2200, 12, 31)
"""Plans run at most 50 years past any date; past 2200 the calendar arithmetic runs out."""


def parse_date(value: object) -> dt.date:
    """ISO 8601 dates (``2026-03-01``) from 1900 to 2200; YAML hands most of them over
    already parsed."""
    date = _date(value)
    if not EARLIEST_DATE <= date <= LATEST_DATE:
        raise UnitError(f"{date.isoformat()} is outside the years a plan can cover"
                        f" ({EARLIEST_DATE.year} to {LATEST_DATE.year})")
    return date


def _date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise UnitError(f"expected a date such as 2026-03-01, got {value!r}")


def parse_clock(value: str) -> dt.time:
    """``"22:00"`` -> time(22, 0)."""
    try:
        hours, minutes = value.strip().split(":")
        return dt.time(int(hours), int(minutes))
    except (ValueError, AttributeError):
        raise UnitError(f"expected a time of day such as 22:00, got {value!r}") from None
