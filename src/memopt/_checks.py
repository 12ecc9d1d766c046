"""Argument checks shared by the library: one wording for every error message."""

from __future__ import annotations

import math
from numbers import Integral, Real


def integer(name: str, value, *, minimum: int = 1) -> int:
    """``value`` as an int if it is an integer >= ``minimum``: TypeError if it is not an
    integer (bools are not), ValueError if it is too small."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        kind = {1: "a positive integer", 0: "a non-negative integer"}.get(minimum, f"an integer >= {minimum}")
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return int(value)


def real(name: str, value, *, minimum: float = 0.0, strict: bool = True) -> float:
    """``value`` as a float if it is a finite real number > ``minimum`` (>= if not ``strict``):
    TypeError if it is not a real number (bools are not), ValueError if it is out of range."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < minimum or (strict and value == minimum):
        raise ValueError(f"{name} must be finite and {'>' if strict else '>='} {minimum:g}, got {value:g}")
    return value
