"""Hessian-vector products, extreme eigenvalues, filter-normalised directions and SAM, each
against an independent reference: closed-form Hessians (quadratics with a chosen spectrum, the
logistic loss), dense eigenvalues from NumPy, the definition of filter normalisation, and a
plain-Python transcription of the SAM paper's two-step update."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memopt.nets import QuadraticMLP
from memopt.nets.curvature import (
    extreme_eigenvalues,
    filter_normalised_direction,
    hessian_vector_product,
    network_gradient,
    top_eigenvalue,
)
from memopt.optim.adaptive import GradientStep, Momentum
from memopt.optim.sam import SAM
from memopt.problems import planted_logistic


def quadratic(spectrum, seed=0):
    """f(x) = x^T H x / 2 with H = Q diag(spectrum) Q^T for a random orthogonal Q."""
    p = len(spectrum)
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((p, p)))
    hessian = q @ np.diag(spectrum) @ q.T
    return hessian, (lambda x: hessian @ x)


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 12), st.integers(0, 1000))
def test_hvp_of_a_quadratic_is_exact(p, seed):
    rng = np.random.default_rng(seed)
    hessian, gradient = quadratic(rng.uniform(-3, 10, p), seed)
    theta, v = rng.standard_normal(p), rng.standard_normal(p)
    np.testing.assert_allclose(hessian_vector_product(gradient, theta, v), hessian @ v,
                               rtol=1e-7, atol=1e-7 * np.linalg.norm(hessian @ v))


def test_hvp_of_the_logistic_loss_matches_its_closed_form_hessian():
    problem = planted_logistic(100, 8, 0.1, seed=3)
    rng = np.random.default_rng(0)
    for _ in range(5):
        x, v = rng.standard_normal(8), rng.standard_normal(8)
        exact = problem.hessian(x) @ v
        np.testing.assert_allclose(hessian_vector_product(problem.gradient, x, v), exact, rtol=1e-6,
                                   atol=1e-8)


def test_zero_direction_and_bad_input():
    gradient = lambda x: 2 * x  # noqa: E731
    np.testing.assert_array_equal(hessian_vector_product(gradient, np.ones(3), np.zeros(3)), np.zeros(3))
    with pytest.raises(ValueError, match="v must be a flat vector of 3 values"):
        hessian_vector_product(gradient, np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="theta must be finite"):
        hessian_vector_product(gradient, np.array([1.0, np.nan]), np.ones(2))
    with pytest.raises(ValueError, match="step must be > 0"):
        hessian_vector_product(gradient, np.ones(3), np.ones(3), step=0.0)


@pytest.mark.parametrize("spectrum", [
    np.linspace(0.1, 5.0, 30),                       # positive definite, well separated
    np.r_[-8.0, np.linspace(0.0, 3.0, 19), 4.0],     # indefinite, the negative end larger
    np.geomspace(1e-4, 1e2, 25),                     # log-spread, as a trained network's
])
def test_extreme_eigenvalues_match_dense_ones(spectrum):
    hessian, gradient = quadratic(spectrum, seed=1)
    low, high = extreme_eigenvalues(gradient, np.zeros(len(spectrum)), tol=1e-10)
    dense = np.linalg.eigvalsh(hessian)
    assert low.value == pytest.approx(dense[0], rel=1e-6, abs=1e-8)
    assert high.value == pytest.approx(dense[-1], rel=1e-6)
    np.testing.assert_allclose(abs(high.vector @ np.linalg.eigh(hessian)[1][:, -1]), 1.0, rtol=1e-6)
    assert top_eigenvalue(gradient, np.zeros(len(spectrum)), tol=1e-10).value == pytest.approx(dense[-1], rel=1e-6)


def test_power_iteration_agrees_with_lanczos_near_a_minimum():
    spectrum = np.r_[np.linspace(0.0, 1.0, 20), 3.0]  # gap 3 : 1, so power iteration converges
    _, gradient = quadratic(spectrum, seed=2)
    power = top_eigenvalue(gradient, np.zeros(21), method="power", tol=1e-12)
    lanczos = top_eigenvalue(gradient, np.zeros(21), method="lanczos", tol=1e-12)
    assert power.value == pytest.approx(3.0, rel=1e-9)
    assert lanczos.value == pytest.approx(3.0, rel=1e-9)


def test_power_iteration_finds_the_largest_magnitude_and_says_so():
    _, gradient = quadratic(np.r_[-5.0, np.linspace(0, 1, 10)], seed=4)
    assert top_eigenvalue(gradient, np.zeros(11), method="power", tol=1e-12).value == pytest.approx(-5.0)
    assert top_eigenvalue(gradient, np.zeros(11), method="lanczos").value == pytest.approx(1.0)
    with pytest.raises(ValueError, match="method must be"):
        top_eigenvalue(gradient, np.zeros(11), method="qr")
    _, tied = quadratic(np.r_[-1.0, 1.0], seed=5)  # |lambda| tied: power iteration oscillates
    with pytest.raises(RuntimeError, match="did not converge"):
        top_eigenvalue(tied, np.zeros(2), method="power", max_products=50)


def test_network_hessian_is_symmetric_and_needs_float64():
    network = QuadraticMLP(7, width=6, seed=0, dtype=np.float64)
    rng = np.random.default_rng(0)
    inputs = rng.integers(0, 7, size=(20, 2))
    labels = rng.integers(0, 7, size=20)
    gradient = network_gradient(network, inputs, labels)
    theta = np.array(network.params.vector)
    u, v = rng.standard_normal(theta.size), rng.standard_normal(theta.size)
    uhv, vhu = u @ hessian_vector_product(gradient, theta, v), v @ hessian_vector_product(gradient, theta, u)
    assert uhv == pytest.approx(vhu, rel=1e-6, abs=1e-8)
    with pytest.raises(TypeError, match="float64 network"):
        network_gradient(QuadraticMLP(7, width=6, seed=0, dtype=np.float32), inputs, labels)


def test_filter_normalisation_gives_each_filter_the_weights_norm():
    network = QuadraticMLP(11, width=16, seed=0, dtype=np.float64)
    direction = filter_normalised_direction(network.params, np.random.default_rng(0))
    theta = np.array(network.params.vector)
    start = 0
    for name in network.params.names():
        shape = network.params.shape(name)
        size = math.prod(shape)
        d, w = direction[start:start + size].reshape(shape), theta[start:start + size].reshape(shape)
        if len(shape) == 2:
            np.testing.assert_allclose(np.linalg.norm(d, axis=0), np.linalg.norm(w, axis=0), rtol=1e-12)
        else:
            assert not d.any()
        start += size
    other = filter_normalised_direction(network.params, np.random.default_rng(1))
    cosine = direction @ other / (np.linalg.norm(direction) * np.linalg.norm(other))
    assert abs(cosine) < 5 / math.sqrt(theta.size)  # random directions are nearly orthogonal


def sam_transcription(hessian, x, eta, rho, steps):
    """Foret et al. (2021), algorithm 1 with SGD, in plain Python floats, on x^T H x / 2."""
    x = [float(v) for v in x]
    p = len(x)
    grad = lambda z: [sum(hessian[i][j] * z[j] for j in range(p)) for i in range(p)]  # noqa: E731
    for _ in range(steps):
        g = grad(x)
        norm = math.sqrt(sum(v * v for v in g))
        e = [rho * v / norm for v in g]
        g_sam = grad([x[i] + e[i] for i in range(p)])
        x = [x[i] - eta * g_sam[i] for i in range(p)]
    return x


def test_sam_with_sgd_is_the_papers_two_step_update():
    hessian, gradient = quadratic([0.5, 1.0, 4.0], seed=3)
    x = np.array([1.0, -2.0, 0.5])
    method = SAM(GradientStep(lr=0.1), rho=0.05)
    state = method.init(x)
    for _ in range(20):
        method.step(x, gradient, state)
    np.testing.assert_allclose(x, sam_transcription(hessian.tolist(), [1.0, -2.0, 0.5], 0.1, 0.05, 20),
                               rtol=1e-12, atol=1e-14)


def test_sam_with_rho_zero_is_its_base_and_bad_arguments_are_refused():
    _, gradient = quadratic([1.0, 2.0], seed=0)
    x, y = np.array([1.0, 1.0]), np.array([1.0, 1.0])
    sam, base = SAM(Momentum(lr=0.1, beta=0.5), rho=0.0), Momentum(lr=0.1, beta=0.5)
    s1, s2 = sam.init(x), base.init(y)
    for _ in range(5):
        sam.step(x, gradient, s1)
        base.step(y, gradient(y), s2)
    np.testing.assert_array_equal(x, y)
    with pytest.raises(ValueError, match="rho must be finite and >= 0"):
        SAM(GradientStep(), rho=-0.1)
    with pytest.raises(TypeError, match="base must be an update rule"):
        SAM(lambda x: x)
