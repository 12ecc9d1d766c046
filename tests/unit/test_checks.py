"""The shared argument checks: what they accept, and which error names what they refuse."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from memopt._checks import integer, real


@given(st.integers(1, 10**12))
def test_integer_returns_python_ints_for_every_integer_type(value):
    for kind in (int, np.int64, np.uint32 if value < 2**32 else np.int64):
        checked = integer("n", kind(value))
        assert checked == value and type(checked) is int


@pytest.mark.parametrize("value, minimum, error, match", [
    (0, 1, ValueError, "n must be a positive integer, got 0"),
    (-1, 0, ValueError, "n must be a non-negative integer, got -1"),
    (2, 3, ValueError, "n must be an integer >= 3, got 2"),
    (True, 0, TypeError, "n must be an integer, got bool"),
    (2.0, 1, TypeError, "n must be an integer, got float"),
    ("3", 1, TypeError, "n must be an integer, got str"),
    (None, 1, TypeError, "n must be an integer, got NoneType"),
])
def test_integer_refuses_with_the_right_error(value, minimum, error, match):
    with pytest.raises(error, match=f"^{match}$"):
        integer("n", value, minimum=minimum)


def test_integer_accepts_its_minimum():
    assert integer("n", 0, minimum=0) == 0 and integer("n", 1) == 1 and integer("n", 3, minimum=3) == 3


@given(st.floats(min_value=5e-324, max_value=1e308))
def test_real_returns_floats_for_every_positive_finite_number(value):
    kinds = (float, np.float64) + ((np.float32,) if 1.2e-38 < value < 3.4e38 else ())
    for kind in kinds:
        checked = real("x", kind(value))
        assert checked == float(kind(value)) and type(checked) is float


@pytest.mark.parametrize("value, kwargs, error, match", [
    (0.0, {}, ValueError, "x must be finite and > 0, got 0"),
    (-1e-300, {"strict": False}, ValueError, "x must be finite and >= 0, got -1e-300"),
    (0.5, {"minimum": 1.0, "strict": False}, ValueError, "x must be finite and >= 1, got 0.5"),
    (math.nan, {}, ValueError, "x must be finite and > 0, got nan"),
    (math.inf, {}, ValueError, "x must be finite and > 0, got inf"),
    (True, {}, TypeError, "x must be a real number, got bool"),
    ("1", {}, TypeError, "x must be a real number, got str"),
    (1 + 0j, {}, TypeError, "x must be a real number, got complex"),
])
def test_real_refuses_with_the_right_error(value, kwargs, error, match):
    with pytest.raises(error, match=f"^{match}$"):
        real("x", value, **kwargs)


def test_real_bounds_are_strict_only_when_asked():
    assert real("x", 0.0, strict=False) == 0.0 and real("x", 1, minimum=1.0, strict=False) == 1.0
    with pytest.raises(ValueError):
        real("x", 1.0, minimum=1.0)
