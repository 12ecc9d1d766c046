"""MEMOPT_PERTURB=ulp: a last-bit change of every drawn input, nothing when unset."""

import numpy as np
import pytest

from memopt import perturb
from memopt.problems import planted_logistic


def test_unset_returns_the_input_itself(monkeypatch):
    monkeypatch.delenv(perturb.VARIABLE, raising=False)
    x = np.linspace(0.1, 1, 7)
    assert perturb.inputs(x) is x


def test_ulp_moves_every_element_by_one_rounding_error(monkeypatch):
    monkeypatch.setenv(perturb.VARIABLE, "ulp")
    x = np.random.default_rng(0).standard_normal(1000)
    y = perturb.inputs(x)
    relative = (y - x) / x
    assert np.all(np.abs(relative) <= 2.0**-51)  # 2^-52 and the rounding of the product
    assert np.mean(y != x) > 0.9  # nearly every element changes by one unit in the last place
    assert np.array_equal(perturb.inputs(x), y)  # seeded by the array itself: repeatable


def test_integer_arrays_are_left_alone(monkeypatch):
    monkeypatch.setenv(perturb.VARIABLE, "ulp")
    labels = np.arange(5)
    assert perturb.inputs(labels) is labels


def test_an_unknown_mode_is_one_clear_error(monkeypatch):
    monkeypatch.setenv(perturb.VARIABLE, "bits")
    with pytest.raises(ValueError, match="MEMOPT_PERTURB must be unset or one of ulp"):
        perturb.inputs(np.ones(3))


def test_a_problem_drawn_under_the_switch_differs_in_the_last_bit_only(monkeypatch):
    monkeypatch.delenv(perturb.VARIABLE, raising=False)
    plain = planted_logistic(50, 4, seed=3)
    monkeypatch.setenv(perturb.VARIABLE, "ulp")
    moved = planted_logistic(50, 4, seed=3)
    assert not np.array_equal(plain.features, moved.features)
    np.testing.assert_allclose(moved.features, plain.features, rtol=2.0**-51, atol=0)
    np.testing.assert_array_equal(moved.labels, plain.labels)


def test_float32_inputs_move_by_a_float32_unit(monkeypatch):
    """A float64 last-bit change would be rounded away when float32 weights are made."""
    monkeypatch.setenv(perturb.VARIABLE, "ulp")
    x = np.random.default_rng(1).standard_normal(1000)
    moved = perturb.inputs(x, precision=np.float32).astype(np.float32)
    assert np.mean(moved != x.astype(np.float32)) > 0.5
    np.testing.assert_allclose(moved, x.astype(np.float32), rtol=2.0**-21, atol=0)
