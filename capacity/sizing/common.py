"""Exact arithmetic and lookups shared by the sizing modules.

Ratios arrive as floats (``0.1`` for 10%).  Multiplying a byte count by the float and
flooring can land one byte below the value a person works out by hand, because 0.1 is not
exact in binary; so each float is read back as the decimal it was written as
(``Fraction("0.1") == 1/10``) and all products are exact fractions, floored once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from typing import TypeVar

V = TypeVar("V")


def exact(value: float | int | Fraction) -> Fraction:
    """The decimal a float stands for: ``exact(0.1) == Fraction(1, 10)``."""
    if isinstance(value, Fraction | int):
        return Fraction(value)
    # repr() is the shortest decimal that reads back as the same float: the value as written.
    return Fraction(repr(value))


def floor_times(n: int, *factors: float | int | Fraction) -> int:
    """``floor(n * f1 * f2 ...)`` computed exactly, floored once at the end."""
    product = Fraction(n)
    for factor in factors:
        product *= exact(factor)
    return math.floor(product)


def lookup(mapping: Mapping[str, V], name: str, what: str) -> V:
    """``mapping[name]``, or a ValueError that says what was missing and what exists."""
    try:
        return mapping[name]
    except KeyError:
        known = ", ".join(sorted(mapping)) or "none"
        raise ValueError(f"no {what} named {name!r} (known: {known})") from None
