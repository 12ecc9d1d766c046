"""The power-law sparse logistic data of the adaptive chapter: frequencies, seeds, labels, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memopt.fitting import power_law_exponent
from memopt.problems import LogisticGLM, power_law_frequencies, power_law_logistic
from memopt.problems.logistic import sigmoid


def test_frequencies_are_the_power_law():
    q = power_law_frequencies(5, 2.0, top=0.5)
    np.testing.assert_allclose(q, 0.5 / np.array([1, 4, 9, 16, 25]))


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 200), st.floats(0.0, 4.0), st.floats(1e-3, 1.0))
def test_frequencies_decrease_from_top(n, exponent, top):
    q = power_law_frequencies(n, exponent, top)
    assert q.shape == (n,) and q[0] == pytest.approx(top)
    assert np.all(q > 0) and np.all(q <= top) and np.all(np.diff(q) <= 0)


def test_feature_counts_follow_the_power_law_within_sampling_error():
    n, exponent = 40_000, 1.2
    data = power_law_logistic(n, 30, exponent=exponent, top=0.8, seed=3)
    expected = n * data.frequencies
    sd = np.sqrt(n * data.frequencies * (1 - data.frequencies))
    # each count is Binomial(n, q_j): within 4.5 standard deviations for all 30 (p ~ 2e-4)
    assert np.all(np.abs(data.counts - expected) <= 4.5 * sd)
    # and the slope of ln count against ln j recovers the exponent
    assert power_law_exponent(np.arange(1, 31), data.counts) == pytest.approx(-exponent, abs=0.05)
    features = np.asarray(data.problem.features)
    assert set(np.unique(features)) <= {0.0, 1.0}


def test_labels_come_from_the_planted_weights():
    data = power_law_logistic(40_000, 10, seed=5)
    a, y = np.asarray(data.problem.features), np.asarray(data.problem.labels)
    probability = sigmoid(a @ data.planted)
    # E[(y + 1) / 2] = mean of sigma(<a_i, w>): within 4.5 standard errors
    positive = (y + 1) / 2
    assert abs(positive.mean() - probability.mean()) <= 4.5 * np.sqrt(0.25 / y.size)
    # rows with a larger planted margin are positive more often
    high = a @ data.planted > np.median(a @ data.planted)
    assert positive[high].mean() > positive[~high].mean() + 0.1


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data():
    one, two = power_law_logistic(500, 20, seed=7), power_law_logistic(500, 20, seed=7)
    np.testing.assert_array_equal(one.problem.features, two.problem.features)
    np.testing.assert_array_equal(one.problem.labels, two.problem.labels)
    np.testing.assert_array_equal(one.planted, two.planted)
    other = power_law_logistic(500, 20, seed=8)
    assert not np.array_equal(one.problem.features, other.problem.features)
    assert isinstance(one.problem, LogisticGLM) and one.problem.mu == pytest.approx(1e-3)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n_samples": 0}, ValueError, "n_samples must be a positive integer"),
    ({"n_samples": 10.5}, TypeError, "n_samples must be an integer"),
    ({"n_features": 0}, ValueError, "n_features must be a positive integer"),
    ({"exponent": -1.0}, ValueError, "exponent must be finite and >= 0"),
    ({"exponent": float("nan")}, ValueError, "exponent must be finite"),
    ({"top": 0.0}, ValueError, "top must be finite and > 0"),
    ({"top": 1.5}, ValueError, "top must be a probability"),
    ({"mu": -1.0}, ValueError, "mu must be finite and >= 0"),
    ({"weight_scale": 0.0}, ValueError, "weight_scale must be finite and > 0"),
    ({"seed": -1}, ValueError, "seed must be a non-negative integer"),
    ({"seed": "1"}, TypeError, "seed must be an integer"),
])
def test_bad_arguments_are_refused(kwargs, error, match):
    arguments = {"n_samples": 100, "n_features": 10} | kwargs
    with pytest.raises(error, match=match):
        power_law_logistic(**arguments)
