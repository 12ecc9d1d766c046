"""The logistic GLM against independent references: direct formulas, finite differences,
SciPy's minimiser, scikit-learn, and edge cases (huge logits, ill-conditioning, float32)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import central_difference
from scipy.optimize import minimize

from memopt.problems import LogisticGLM, planted_logistic, sklearn_optimum
from memopt.problems.logistic import log1p_exp, sigmoid


@pytest.fixture
def problem():
    return planted_logistic(40, 5, mu=0.3, seed=1)


def naive_value(problem, x):
    a, y = problem.features, problem.labels
    return np.mean(np.log(1 + np.exp(-y * (a @ x)))) + problem.mu / 2 * x @ x




def test_value_matches_the_formula(problem):
    x = np.random.default_rng(0).standard_normal(5)
    assert problem.value(x) == pytest.approx(naive_value(problem, x), rel=1e-14)


def test_gradient_matches_finite_differences(problem):
    x = np.random.default_rng(1).standard_normal(5)
    np.testing.assert_allclose(problem.gradient(x), central_difference(problem.value, x), atol=1e-8)


def test_sample_gradients_match_finite_differences_of_each_term(problem):
    x = np.random.default_rng(2).standard_normal(5)
    a, y, mu = problem.features, problem.labels, problem.mu
    indices = np.array([0, 7, 7, 39])
    grads = problem.sample_gradients(x, indices)
    for row, i in zip(grads, indices):
        term = lambda z, i=i: np.log1p(np.exp(-y[i] * a[i] @ z)) + mu / 2 * z @ z  # noqa: E731
        np.testing.assert_allclose(row, central_difference(term, x), atol=1e-8)


def test_sample_gradients_average_to_the_gradient(problem):
    x = np.random.default_rng(3).standard_normal((3, 5))
    every = np.tile(np.arange(problem.n_samples), (3, 1))
    np.testing.assert_allclose(problem.sample_gradients(x, every).mean(axis=1), problem.gradient(x), atol=1e-14)
    np.testing.assert_allclose(problem.batch_gradient(x, every), problem.gradient(x), atol=1e-14)


def test_loss_derivatives_give_the_sample_gradients(problem):
    x = np.random.default_rng(4).standard_normal(5)
    s = problem.loss_derivatives(x)
    expected = s[:, None] * problem.features + problem.mu * x
    np.testing.assert_allclose(problem.sample_gradients(x, np.arange(40)), expected, atol=1e-15)


def test_batched_points_equal_single_points(problem):
    xs = np.random.default_rng(5).standard_normal((4, 5))
    np.testing.assert_allclose(problem.value(xs), [problem.value(x) for x in xs], rtol=1e-14)
    np.testing.assert_allclose(problem.gradient(xs), [problem.gradient(x) for x in xs], atol=1e-15)
    np.testing.assert_allclose(problem.second_moment(xs), [problem.second_moment(x) for x in xs], rtol=1e-13)


def test_second_moment_is_the_mean_squared_sample_gradient(problem):
    x = np.random.default_rng(6).standard_normal(5)
    grads = problem.sample_gradients(x, np.arange(problem.n_samples))
    assert problem.second_moment(x) == pytest.approx(np.mean(np.sum(grads**2, axis=1)), rel=1e-13)


def test_hessian_matches_finite_differences_of_the_gradient(problem):
    x = np.random.default_rng(7).standard_normal(5)
    fd = np.stack([central_difference(lambda z, j=j: problem.gradient(z)[j], x) for j in range(5)])
    np.testing.assert_allclose(problem.hessian(x), fd, atol=1e-7)


def test_smoothness_constants(problem):
    a = problem.features
    assert problem.L == pytest.approx(np.linalg.eigvalsh(a.T @ a)[-1] / (4 * 40) + 0.3, rel=1e-12)
    # The Hessian's largest eigenvalue never exceeds L and reaches it at x = 0 (sigma'(0) = 1/4).
    assert np.linalg.eigvalsh(problem.hessian(np.zeros(5)))[-1] == pytest.approx(problem.L, rel=1e-12)
    for x in np.random.default_rng(8).standard_normal((5, 5)):
        assert np.linalg.eigvalsh(problem.hessian(x))[-1] <= problem.L * (1 + 1e-12)
    # Each f_i's Hessian at 0 is a_i a_i^T / 4 + mu I, whose top eigenvalue is L_i.
    np.testing.assert_allclose(problem.sample_lipschitz, np.sum(a**2, axis=1) / 4 + 0.3, rtol=1e-14)
    assert problem.L_max == pytest.approx(problem.sample_lipschitz.max())


def test_minimize_agrees_with_scipy(problem):
    ours = problem.minimize()
    ref = minimize(problem.value, np.zeros(5), jac=problem.gradient, method="BFGS", options={"gtol": 1e-12})
    assert ours.gradient_norm < 1e-12
    assert ours.value == pytest.approx(ref.fun, rel=1e-12)
    np.testing.assert_allclose(ours.x, ref.x, atol=1e-7)


@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg"])
def test_minimize_agrees_with_scikit_learn(problem, solver):
    ours = problem.minimize()
    theirs = sklearn_optimum(problem, solver=solver, tol=1e-12)
    assert abs(ours.value - theirs.value) <= 1e-10 * ours.value
    np.testing.assert_allclose(ours.x, theirs.x, atol=1e-6)


def test_minimize_handles_ill_conditioned_features():
    rng = np.random.default_rng(9)
    features = rng.standard_normal((60, 6)) * np.logspace(-3, 3, 6)  # column scales over 1e6
    labels = np.where(rng.random(60) < 0.5, 1.0, -1.0)
    problem = LogisticGLM(features, labels, mu=1e-3)
    ours = problem.minimize()
    ref = minimize(problem.value, np.zeros(6), jac=problem.gradient, hess=problem.hessian,
                   method="trust-exact", options={"gtol": 1e-13})
    assert ours.value == pytest.approx(ref.fun, rel=1e-10)


def test_minimize_needs_strong_convexity_and_reports_non_convergence(problem):
    features = np.array([[1.0], [2.0], [-1.0], [-3.0]])  # separable: f decreases forever
    with pytest.raises(ValueError, match="mu > 0"):
        LogisticGLM(features, np.array([1.0, 1.0, -1.0, -1.0]), mu=0.0).minimize()
    with pytest.raises(RuntimeError, match="did not reach"):
        problem.minimize(tol=1e-30, max_steps=1)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=-1e300, max_value=1e300))
def test_log1p_exp_and_sigmoid_are_stable_for_huge_logits(t):
    value, s = log1p_exp(np.float64(t)), sigmoid(np.float64(t))
    assert np.isfinite(value) and np.isfinite(s)
    assert max(t, 0.0) <= value <= max(t, 0.0) + np.log(2) + 1e-12 * abs(t)
    assert 0.0 <= s <= 1.0
    assert s + sigmoid(np.float64(-t)) == pytest.approx(1.0, abs=1e-15)


@settings(max_examples=50, deadline=None)
@given(st.floats(min_value=1e3, max_value=1e150), st.integers(0, 2**32 - 1))
def test_oracle_is_finite_and_exact_at_huge_logits(scale, seed):
    problem = planted_logistic(30, 4, mu=0.5, seed=seed % 1000)
    x = np.random.default_rng(seed).standard_normal(4) * scale
    z = problem.margins(x)
    # log(1 + e^-z) written per sign of z with the standard library: max(-z, 0) + log1p(e^-|z|).
    losses = [max(-t, 0.0) + math.log1p(math.exp(-abs(t))) for t in z]
    expected = math.fsum(losses) / len(losses) + 0.25 * x @ x
    assert problem.value(x) == pytest.approx(expected, rel=1e-12)
    assert np.all(np.isfinite(problem.gradient(x)))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_float32_problem_tracks_float64(seed):
    p64 = planted_logistic(50, 6, mu=0.1, seed=seed)
    p32 = planted_logistic(50, 6, mu=0.1, seed=seed, dtype=np.float32)
    x = np.random.default_rng(seed).standard_normal(6)
    assert p32.value(x).dtype == np.float32 and p32.gradient(x).dtype == np.float32
    assert float(p32.value(x)) == pytest.approx(float(p64.value(x)), rel=1e-5)
    np.testing.assert_allclose(p32.gradient(x), p64.gradient(x), rtol=1e-4, atol=1e-5)
    assert p32.minimize().value == pytest.approx(p64.minimize().value, rel=1e-6)


def test_planted_data_is_reproducible_and_well_formed():
    a, b = planted_logistic(seed=3), planted_logistic(seed=3)
    np.testing.assert_array_equal(a.features, b.features)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.features.shape == (200, 10) and set(np.unique(a.labels)) == {-1.0, 1.0}
    assert not np.array_equal(a.labels, planted_logistic(seed=4).labels)


@pytest.mark.parametrize(
    "features, labels, mu, error, match",
    [
        (np.ones((3, 2)), np.ones(4), 1.0, ValueError, "labels must have shape"),
        (np.ones(3), np.ones(3), 1.0, ValueError, "2-D"),
        (np.array([[np.nan, 1.0]]), np.ones(1), 1.0, ValueError, "NaN"),
        (np.ones((2, 2)), np.array([1.0, 0.0]), 1.0, ValueError, "-1 or \\+1"),
        (np.ones((2, 2)), np.ones(2), -0.1, ValueError, "mu must be"),
        (np.ones((2, 2)), np.ones(2), np.nan, ValueError, "mu must be"),
        (np.array([["a", "b"]]), np.ones(1), 1.0, TypeError, "real numbers"),
    ],
)
def test_bad_data_is_rejected(features, labels, mu, error, match):
    with pytest.raises(error, match=match):
        LogisticGLM(features, labels, mu)


def test_bad_points_and_indices_are_rejected(problem):
    with pytest.raises(ValueError, match="x must have shape"):
        problem.value(np.ones(4))
    with pytest.raises(ValueError, match="NaN"):
        problem.gradient(np.array([np.nan, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match="indices must lie"):
        problem.sample_gradients(np.zeros(5), np.array([40]))
    with pytest.raises(TypeError, match="integers"):
        problem.sample_gradients(np.zeros(5), np.array([0.5]))
    with pytest.raises(ValueError, match="indices must have shape"):
        problem.sample_gradients(np.zeros((2, 5)), np.array([0, 1]))
    with pytest.raises(ValueError):
        planted_logistic(0, 3)
    with pytest.raises(ValueError, match="mu > 0"):
        sklearn_optimum(planted_logistic(20, 2, mu=0.0))
