"""Multiscale problems and the methods of the multiscale chapter against independent references:
direct solves (numpy.linalg), SciPy's minimiser, CG and finite differences, the closed form of
the Chebyshev iteration, the convergence theorems of GD and Nesterov's method, and the
Big-Step-Little-Step schedule; bad input raises clearly."""

import dataclasses
import json
import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import approx_fprime, minimize
from scipy.sparse.linalg import cg as scipy_cg

from memopt.experiments import multiscale as experiment
from memopt.fitting import power_law_exponent
from memopt.optim.first_order import (
    big_step_little_step,
    bsls_schedule,
    chebyshev_iteration,
    conjugate_gradients,
    default_little_steps,
    nesterov_accelerated,
    nesterov_distance_steps,
    plain_gradient_descent,
)
from memopt.problems.multiscale import (
    ClusteredQuadratic,
    cluster_scales,
    clustered_quadratic,
    logistic_pieces,
    random_basis,
)


def quadratic_with_spectrum(eigenvalues, scales, seed=0, rotate=True):
    """A quadratic with exactly these eigenvalues (scales as given), in a random basis or not."""
    eigenvalues = np.asarray(eigenvalues, dtype=float)
    rng = np.random.default_rng(seed)
    basis = random_basis(eigenvalues.size, rng) if rotate else np.eye(eigenvalues.size)
    blocks = [basis[:, [i]] for i in range(eigenvalues.size)]
    return ClusteredQuadratic(eigenvalues, basis, rng.standard_normal(eigenvalues.size), scales, blocks)


def chebyshev_polynomial(k, t):
    t = np.asarray(t, dtype=float)
    inside = np.abs(t) <= 1
    out = np.empty_like(t)
    out[inside] = np.cos(k * np.arccos(t[inside]))
    out[~inside] = np.sign(t[~inside]) ** k * np.cosh(k * np.arccosh(np.abs(t[~inside])))
    return out


@pytest.fixture(scope="module")
def two_clusters():
    return clustered_quadratic(1e4, clusters=2, cluster_dim=6, seed=1)


@pytest.fixture(scope="module")
def pieces():
    return logistic_pieces(1e3, pieces=2, piece_dim=4, samples=40, seed=2)


# -- problems ----------------------------------------------------------------------------------
def test_cluster_scales_are_geometric_and_separated():
    scales = cluster_scales(1e6, 3, 2.0)
    assert scales[0][0] == 1.0 and scales[-1][1] == pytest.approx(1e-6)
    for top, bottom in scales:
        assert top / bottom == pytest.approx(2.0)
    ratios = [scales[i][0] / scales[i + 1][0] for i in range(2)]
    assert ratios[0] == pytest.approx(ratios[1]) == pytest.approx(math.sqrt(1e6 / 2))
    assert all(scales[i][1] >= scales[i + 1][0] for i in range(2))
    assert cluster_scales(8.0, 3, 2.0)[1] == pytest.approx((0.5, 0.25))  # touching, not overlapping


def test_clustered_quadratic_has_the_requested_spectrum_and_blocks(two_clusters):
    q = two_clusters
    expected = np.concatenate([np.linspace(mu, top, 6) for top, mu in q.scales])
    np.testing.assert_allclose(np.linalg.eigvalsh(q.matrix), np.sort(expected), rtol=1e-10, atol=1e-14)
    assert q.kappa == pytest.approx(1e4) and q.L == 1.0
    for (top, mu), u in zip(q.scales, q.blocks):
        np.testing.assert_allclose(u.T @ u, np.eye(6), atol=1e-12)
        inner = u.T @ q.matrix @ u
        np.testing.assert_allclose(q.matrix @ u, u @ inner, atol=1e-12)  # an invariant subspace
        assert np.all(np.linalg.eigvalsh(inner) >= mu * (1 - 1e-9))
        assert np.all(np.linalg.eigvalsh(inner) <= top * (1 + 1e-9))
    np.testing.assert_allclose(q.blocks[0].T @ q.blocks[1], 0, atol=1e-12)


def test_quadratic_oracle_against_a_direct_solve_and_finite_differences(two_clusters):
    q = two_clusters
    np.testing.assert_allclose(np.linalg.solve(q.matrix, q.b), q.minimizer, rtol=1e-8)
    x = np.random.default_rng(3).standard_normal(q.dimension)
    np.testing.assert_allclose(q.gradient(x), approx_fprime(x, q.value, 1e-7), atol=1e-6)
    assert q.value(q.minimizer) == 0.0 and q.minimum == 0.0
    np.testing.assert_array_equal(q.hessian(x), q.matrix)


def test_logistic_pieces_oracle_minimiser_and_constants(pieces):
    p = pieces
    x = np.random.default_rng(4).standard_normal(p.dimension)
    np.testing.assert_allclose(p.gradient(x), approx_fprime(x, p.value, 1e-7), atol=1e-6)
    np.testing.assert_allclose(p.hessian(x), approx_fprime(x, p.gradient, 1e-7), atol=1e-6)
    ref = minimize(p.value, np.zeros(p.dimension), jac=p.gradient, hess=p.hessian, method="trust-exact",
                   options={"gtol": 1e-13})
    np.testing.assert_allclose(p.minimizer, ref.x, atol=1e-7)
    assert p.minimum == pytest.approx(ref.fun, rel=1e-12)
    assert p.L == pytest.approx(1.0) and p.mu == pytest.approx(1e-3) and p.kappa == pytest.approx(1e3)
    # Each piece's curvature, seen through its block, stays inside its scale (L_i, mu_i).
    for point in np.random.default_rng(5).standard_normal((5, p.dimension)) * 3:
        h = p.hessian(point)
        for (top, mu), u in zip(p.scales, p.blocks):
            eig = np.linalg.eigvalsh(u.T @ h @ u)
            assert eig.min() >= mu * (1 - 1e-9) and eig.max() <= top * (1 + 1e-9)
        np.testing.assert_allclose(p.blocks[0].T @ h @ p.blocks[1], 0, atol=1e-12)  # no interaction


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: cluster_scales(5.0, 3, 2.0), ValueError, "kappa must be >= cluster_condition"),
        (lambda: cluster_scales(1e3, 0, 2.0), ValueError, "clusters must be a positive integer"),
        (lambda: cluster_scales(1e3, 2, 0.5), ValueError, "cluster_condition must be finite and >= 1"),
        (lambda: cluster_scales(float("nan"), 2, 2.0), ValueError, "kappa must be finite"),
        (lambda: cluster_scales("big", 2, 2.0), TypeError, "kappa must be a real number"),
        (lambda: clustered_quadratic(1e3, 2, cluster_dim=0), ValueError, "cluster_dim"),
        (lambda: logistic_pieces(1e3, pieces=1), ValueError, "pieces must be >= 2"),
        (lambda: logistic_pieces(2.0, pieces=2), ValueError, "too small to separate"),
        (lambda: logistic_pieces(1e3, mu=0.0), ValueError, "mu must be > 0"),
    ],
)
def test_problems_reject_bad_parameters(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_problems_reject_bad_points(two_clusters, pieces):
    for problem in (two_clusters, pieces):
        with pytest.raises(ValueError, match="x must have shape"):
            problem.gradient(np.zeros(problem.dimension + 1))
        with pytest.raises(ValueError, match="NaN"):
            problem.value(np.full(problem.dimension, np.nan))
        with pytest.raises(TypeError, match="real numbers"):
            problem.gradient(np.array(["a"] * problem.dimension))


# -- gradient descent, Nesterov, Chebyshev: their theorems -------------------------------------
def test_gd_contracts_as_its_theorem_says_and_reaches_the_solve(two_clusters):
    """||x_k - x*||^2 <= ((kappa-1)/(kappa+1))^k ||x_0 - x*||^2 for h = 1/L (Nesterov 2004, 2.1.15)."""
    q = clustered_quadratic(50.0, 2, 5, seed=6)
    run = plain_gradient_descent(q, np.zeros(q.dimension), tol=1e-8)
    bound = ((q.kappa - 1) / (q.kappa + 1)) ** (run.evaluations / 2)
    assert np.all(run.distances <= bound * (1 + 1e-12))
    np.testing.assert_allclose(run.x, np.linalg.solve(q.matrix, q.b), atol=1e-7 * np.linalg.norm(q.minimizer))
    assert run.reached and run.evaluations_to_tol == run.evaluations[-1]
    assert run.state_floats == 2 * q.dimension


@pytest.mark.parametrize("make", [lambda: clustered_quadratic(400.0, 2, 5, seed=7),
                                  lambda: logistic_pieces(400.0, 2, 4, samples=40, seed=8)])
def test_nesterov_obeys_its_theorem(make):
    """f(x_k) - f* <= (1 - 1/sqrt(kappa))^k (f(x_0) - f* + mu/2 ||x_0 - x*||^2)
    (Nesterov 2004, theorem 2.2.3, scheme 2.2.19), for every k."""
    p = make()
    x0 = np.zeros(p.dimension)
    start = p.value(x0) - p.minimum + p.mu / 2 * np.sum((x0 - p.minimizer) ** 2)
    for k in range(1, 120, 7):
        run = nesterov_accelerated(p, x0, tol=1e-15, max_evaluations=k)
        assert run.evaluations[-1] == k
        assert p.value(run.x) - p.minimum <= (1 - 1 / math.sqrt(p.kappa)) ** k * start * (1 + 1e-9) + 1e-15
    full = nesterov_accelerated(p, x0, tol=1e-9)
    np.testing.assert_allclose(full.x, p.minimizer, atol=1e-8 * np.linalg.norm(p.minimizer))


def test_chebyshev_iterates_are_the_chebyshev_polynomial_of_the_matrix():
    """e_k = T_k((theta - A)/delta) e_0 / T_k(theta/delta) (Saad 2003, section 12.3)."""
    eigenvalues = np.array([0.01, 0.013, 0.2, 0.5, 0.77, 1.0])
    q = quadratic_with_spectrum(eigenvalues, [(1.0, 0.01)], seed=9)
    theta, delta = 0.505, 0.495
    x0 = np.zeros(6)
    coefficients = q.basis.T @ (x0 - q.minimizer)
    for k in range(1, 40):
        run = chebyshev_iteration(q, x0, tol=1e-15, max_evaluations=k)
        factors = chebyshev_polynomial(k, (theta - eigenvalues) / delta)
        factors /= chebyshev_polynomial(k, [theta / delta])[0]
        expected = q.minimizer + q.basis @ (factors * coefficients)
        np.testing.assert_allclose(run.x, expected, atol=1e-10)


def test_chebyshev_meets_its_worst_case_exactly_at_the_ends_of_the_spectrum():
    q = quadratic_with_spectrum([0.001, 0.3, 1.0], [(1.0, 0.001)], seed=10)
    x0 = q.minimizer + q.basis[:, 0]  # the error along the eigenvector of mu
    kappa = 1000.0
    for k in (5, 20, 60):
        run = chebyshev_iteration(q, x0, tol=1e-15, max_evaluations=k)
        worst = 1 / math.cosh(k * math.acosh((kappa + 1) / (kappa - 1)))
        assert run.distances[-1] == pytest.approx(worst, rel=1e-8)


@settings(max_examples=40, deadline=None)
@given(st.floats(1.0, 6.0), st.integers(1, 200), st.integers(0, 10_000))
def test_chebyshev_worst_case_bound_holds_for_any_spectrum(log_kappa, k, seed):
    rng = np.random.default_rng(seed)
    kappa = 10**log_kappa
    eigenvalues = np.concatenate([[1 / kappa, 1.0], 10 ** rng.uniform(-log_kappa, 0, 8)])
    q = quadratic_with_spectrum(eigenvalues, [(1.0, 1 / kappa)], seed=seed)
    run = chebyshev_iteration(q, np.zeros(eigenvalues.size), tol=1e-15, max_evaluations=k)
    bound = 1 / math.cosh(k * math.acosh((kappa + 1) / (kappa - 1)))
    assert run.distances[-1] <= bound * (1 + 1e-6) + 1e-12


# -- conjugate gradients ----------------------------------------------------------------------
def test_cg_matches_scipys_iterates_and_the_direct_solve(two_clusters):
    q = two_clusters
    x0 = np.zeros(q.dimension)
    for k in range(1, 8):
        ours = conjugate_gradients(q, x0, tol=1e-15, max_evaluations=k + 1)
        theirs, _ = scipy_cg(q.matrix, q.b, x0=x0, rtol=1e-300, atol=0.0, maxiter=k)
        np.testing.assert_allclose(ours.x, theirs, rtol=1e-8, atol=1e-10)
    exact = conjugate_gradients(q, x0, tol=1e-10)
    np.testing.assert_allclose(exact.x, np.linalg.solve(q.matrix, q.b), atol=1e-9 * np.linalg.norm(q.minimizer))
    assert exact.state_floats == 4 * q.dimension


def test_cg_is_exact_after_as_many_steps_as_distinct_eigenvalues():
    eigenvalues = np.repeat([1.0, 0.1, 0.001], 5)  # d = 15, three distinct eigenvalues
    q = quadratic_with_spectrum(eigenvalues, [(1.0, 0.001)], seed=11)
    run = conjugate_gradients(q, np.zeros(15), tol=1e-10)
    assert run.evaluations_to_tol <= 1 + 3


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 30), st.floats(0.0, 1.0), st.integers(0, 10_000))
def test_cg_solves_any_well_conditioned_system_in_at_most_d_steps(d, log_kappa, seed):
    """Finite termination is a property of exact arithmetic: in floating point the Krylov
    basis loses orthogonality, and with d distinct eigenvalues spread over more than a decade
    or two CG needs more than d steps (the chapter shows it). Here kappa <= 10."""
    eigenvalues = np.logspace(-log_kappa, 0, d)
    q = quadratic_with_spectrum(eigenvalues, [(1.0, eigenvalues[0])], seed=seed)
    run = conjugate_gradients(q, np.zeros(d), tol=1e-9)
    assert run.reached and run.evaluations_to_tol <= 1 + d


def test_cg_refuses_a_non_quadratic(pieces):
    with pytest.raises(TypeError, match="needs a quadratic"):
        conjugate_gradients(pieces, np.zeros(pieces.dimension))


# -- Big-Step-Little-Step ----------------------------------------------------------------------
def test_bsls_schedule_on_a_two_cluster_toy():
    """Level 1: steps 1/L_1, momentum from kappa_1, T_1 little steps; level 2: big steps 1/L_2."""
    scales = [(1.0, 0.25), (1e-3, 1e-4)]
    schedule = bsls_schedule(scales)
    assert schedule.step_sizes == (1.0, 1e3)
    assert schedule.momenta == pytest.approx(((1 - 0.5) / (1 + 0.5), (1 - math.sqrt(0.1)) / (1 + math.sqrt(0.1))))
    (t1,) = schedule.little_steps
    # T_1 is the least T for which Nesterov's bound at scale 1 undoes the blow-up 2 e L_1 / L_2.
    factor = 2 * math.e * 1.0 / 1e-3
    bound = lambda t: math.sqrt(4 + 1) * (1 - 1 / math.sqrt(4)) ** (t / 2)  # noqa: E731
    assert bound(t1) <= 1 / factor < bound(t1 - 1)
    assert default_little_steps(scales) == (t1,) == (nesterov_distance_steps(4.0, factor),)
    assert schedule.call_evaluations(1) == t1
    assert [schedule.evaluations_at(t) for t in range(3)] == [t1, 2 * t1 + 1, 3 * t1 + 2]


def test_bsls_takes_little_steps_then_a_big_step_in_the_lectures_pattern():
    q = clustered_quadratic(1e3, 2, 4, seed=12)
    run = big_step_little_step(q, np.zeros(q.dimension), tol=1e-6, record_steps=True)
    (t1,) = bsls_schedule(q.scales).little_steps
    little, big = 1 / q.scales[0][0], 1 / q.scales[1][0]
    outer = (run.evaluations_to_tol - t1) // (t1 + 1)
    assert outer >= 2 and run.evaluations_to_tol == bsls_schedule(q.scales).evaluations_at(outer)
    expected = ([little] * t1 + [big]) * outer + [little] * t1
    np.testing.assert_allclose(run.step_sizes, expected)


def test_too_few_little_steps_diverge_and_the_run_says_so():
    """Two little steps cannot undo a blow-up of L_1/L_2 = 500: the large scale's error grows."""
    q = clustered_quadratic(1e3, 2, 4, seed=12)
    run = big_step_little_step(q, np.zeros(q.dimension), little_steps=(2,), max_evaluations=10**5)
    assert not run.reached and run.distances[-1] > 1e50 and run.evaluations[-1] < 10**5


def test_bsls_solves_two_eigenvalues_with_one_little_one_big_one_little_step():
    """The lecture's picture: eigenvalues 1 and 1/kappa. A little step 1/L_1 solves the large
    direction, a big step 1/L_2 the small one (and blows up the large one), a little step
    repairs it: exact after three gradient evaluations."""
    kappa = 1e6
    q = quadratic_with_spectrum([1.0, 1.0, 1 / kappa, 1 / kappa], [(1.0, 1.0), (1 / kappa, 1 / kappa)], seed=13)
    assert bsls_schedule(q.scales).little_steps == (1,)
    run = big_step_little_step(q, np.zeros(4), tol=1e-9)
    assert run.evaluations_to_tol == 3
    np.testing.assert_allclose(run.x, np.linalg.solve(q.matrix, q.b), atol=1e-9)


@pytest.mark.parametrize("clusters", [2, 3])
def test_bsls_reaches_the_direct_solve_with_o_dm_floats(clusters):
    q = clustered_quadratic(1e5, clusters, 5, seed=14)
    run = big_step_little_step(q, np.zeros(q.dimension), tol=1e-9)
    np.testing.assert_allclose(run.x, np.linalg.solve(q.matrix, q.b), atol=1e-8 * np.linalg.norm(q.minimizer))
    assert run.state_floats == (3 * clusters + 1) * q.dimension  # three vectors a level, one gradient


def test_bsls_reaches_the_minimiser_of_non_quadratic_pieces(pieces):
    run = big_step_little_step(pieces, np.zeros(pieces.dimension), tol=1e-9)
    ref = minimize(pieces.value, np.zeros(pieces.dimension), jac=pieces.gradient, hess=pieces.hessian,
                   method="trust-exact", options={"gtol": 1e-13})
    np.testing.assert_allclose(run.x, ref.x, atol=1e-8)


def test_bsls_does_not_depend_on_the_unknown_basis():
    """On a quadratic every method here is a polynomial in A applied to the error, so BSLS
    run in a random basis and in the eigenbasis must agree in eigen-coordinates."""
    eigenvalues = np.concatenate([np.linspace(0.5, 1.0, 4), np.linspace(5e-6, 1e-5, 4)])
    scales = [(1.0, 0.5), (1e-5, 5e-6)]
    rotated = quadratic_with_spectrum(eigenvalues, scales, seed=15)
    plain = ClusteredQuadratic(eigenvalues, np.eye(8), rotated.basis.T @ rotated.minimizer, scales,
                               [np.eye(8)[:, :4], np.eye(8)[:, 4:]])
    a = big_step_little_step(rotated, np.zeros(8), tol=1e-8)
    b = big_step_little_step(plain, np.zeros(8), tol=1e-8)
    assert a.evaluations_to_tol == b.evaluations_to_tol
    np.testing.assert_allclose(rotated.basis.T @ a.x, b.x, atol=1e-10)


def test_bsls_beats_nesterov_when_the_scales_are_far_apart():
    q = clustered_quadratic(1e6, 2, 5, seed=16)
    x0 = np.zeros(q.dimension)
    assert (big_step_little_step(q, x0).evaluations_to_tol
            < nesterov_accelerated(q, x0).evaluations_to_tol / 10)


@settings(max_examples=25, deadline=None)
@given(st.floats(1.0, 8.0), st.floats(1.0, 4.0), st.integers(0, 10_000))
def test_bsls_needs_no_more_than_its_schedule_predicts(log_kappa, cluster_condition, seed):
    kappa = max(10**log_kappa, cluster_condition**2)
    q = clustered_quadratic(kappa, 2, 4, cluster_condition, seed=seed)
    run = big_step_little_step(q, np.zeros(q.dimension), tol=1e-6)
    assert run.reached
    assert run.evaluations_to_tol <= experiment.predicted_evaluations("BSLS", q.scales, 1e-6)


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "scales, little_steps, error, match",
    [
        ([(1.0, 0.5)], None, ValueError, "at least two scales"),
        ([(1.0, 0.5), (0.8, 0.1)], None, ValueError, "ordered and separated"),
        ([(1.0, 2.0), (0.1, 0.05)], None, ValueError, "0 < mu_i <= L_i"),
        ([(1.0, 0.5), (0.1, float("nan"))], None, ValueError, "0 < mu_i <= L_i"),
        ([(1.0, 0.5), ("a", 0.1)], None, TypeError, "pairs of real numbers"),
        ([(1.0, 0.5), (0.1, 0.05)], (0,), ValueError, "positive integers"),
        ([(1.0, 0.5), (0.1, 0.05)], (2, 2), ValueError, "1 positive integers"),
        ([(1.0, 0.5), (0.1, 0.05)], (2.5,), ValueError, "positive integers"),
    ],
)
def test_bsls_schedule_rejects_bad_scales(scales, little_steps, error, match):
    with pytest.raises(error, match=match):
        bsls_schedule(scales, little_steps)


@pytest.mark.parametrize("method", [plain_gradient_descent, nesterov_accelerated, chebyshev_iteration,
                                    conjugate_gradients, big_step_little_step])
def test_methods_reject_bad_runs(two_clusters, method):
    d = two_clusters.dimension
    with pytest.raises(ValueError, match="tol must be"):
        method(two_clusters, np.zeros(d), tol=0.0)
    with pytest.raises(ValueError, match="tol must be"):
        method(two_clusters, np.zeros(d), tol=1.5)
    with pytest.raises(ValueError, match="max_evaluations"):
        method(two_clusters, np.zeros(d), max_evaluations=0)
    with pytest.raises(TypeError, match="max_evaluations"):
        method(two_clusters, np.zeros(d), max_evaluations=True)
    with pytest.raises(ValueError, match="x0 must have shape"):
        method(two_clusters, np.zeros(d + 1))
    with pytest.raises(ValueError, match="NaN"):
        method(two_clusters, np.full(d, np.inf))
    with pytest.raises(ValueError, match="already the minimizer"):
        method(two_clusters, two_clusters.minimizer.copy())
    with pytest.raises(TypeError, match="real numbers"):
        method(two_clusters, np.array(["x"] * d))
    with pytest.raises(TypeError, match="gradient"):
        method(object(), np.zeros(d))


def test_methods_reject_bad_constants(two_clusters):
    x0 = np.zeros(two_clusters.dimension)
    with pytest.raises(ValueError, match="mu <= L"):
        nesterov_accelerated(two_clusters, x0, L=1.0, mu=2.0)
    with pytest.raises(ValueError, match="L must be finite and > 0"):
        chebyshev_iteration(two_clusters, x0, L=-1.0)
    with pytest.raises(TypeError, match="mu must be a real number"):
        chebyshev_iteration(two_clusters, x0, mu="small")
    with pytest.raises(ValueError, match="step must be finite and > 0"):
        plain_gradient_descent(two_clusters, x0, step=0.0)
    with pytest.raises(ValueError, match="kappa must be >= 1"):
        nesterov_distance_steps(0.5, 10.0)


@settings(max_examples=15, deadline=None)
@given(st.integers(-300, 450), st.integers(0, 10_000))
def test_counts_do_not_depend_on_the_size_of_the_initial_error(log2_scale, seed):
    """On a quadratic with x* = 0 every method's iterates are homogeneous in x0, and scaling by
    a power of two is exact in floating point: from tiny (2^-300) to huge (2^450) starts, the
    relative distances and the counts must be exactly the same."""
    base = clustered_quadratic(1e3, 2, 4, seed=seed)
    q = ClusteredQuadratic(base.eigenvalues, base.basis, np.zeros(base.dimension), base.scales, base.blocks)
    direction = np.random.default_rng(seed).standard_normal(q.dimension)
    for method in (plain_gradient_descent, nesterov_accelerated, chebyshev_iteration,
                   conjugate_gradients, big_step_little_step):
        unit = method(q, direction, tol=1e-6)
        scaled = method(q, 2.0**log2_scale * direction, tol=1e-6)
        assert unit.reached and scaled.evaluations_to_tol == unit.evaluations_to_tol, method.__name__
        np.testing.assert_array_equal(scaled.distances, unit.distances)


def test_float32_and_integer_starts_are_accepted(two_clusters):
    q = two_clusters
    counts = {dtype: big_step_little_step(q, np.zeros(q.dimension, dtype=dtype)).evaluations_to_tol
              for dtype in (np.float64, np.float32, np.int64)}
    assert len(set(counts.values())) == 1


def test_a_run_that_runs_out_of_budget_reports_it(two_clusters):
    run = plain_gradient_descent(two_clusters, np.zeros(two_clusters.dimension), max_evaluations=50)
    assert not run.reached and run.evaluations_to_tol is None and run.evaluations[-1] == 50


# -- the chapter's experiment at a tiny scale --------------------------------------------------
TINY = experiment.Config(kappas=(10.0, 100.0, 1000.0), gd_max_kappa=1000.0, cluster_dim=3,
                         piece_samples=30, curves_kappa=100.0, instances=3, gd_instances=2,
                         rounding_perturbations=3)


@pytest.fixture(scope="module")
def result():
    return experiment.run(TINY)


def test_experiment_runs_every_method_where_it_applies(result):
    assert result.all_reached()
    for method in ("CG", "Chebyshev"):
        assert ("logistic pieces", method, 10.0, 0) not in result.runs
        assert ("2 clusters", method, 10.0, 0) in result.runs
    assert result.dimensions == {"2 clusters": 6, "3 clusters": 9, "logistic pieces": 6}
    np.testing.assert_allclose(result.bsls_floats_per_scale("3 clusters"), 10 / 3)
    assert result.bsls_floats_per_scale("3 clusters").size == 3 * 3  # every kappa and instance
    # GD on the first gd_instances instances only, every other method on all of them
    assert result.instances("2 clusters", "GD") == [0, 1]
    assert result.instances("2 clusters", "BSLS") == [0, 1, 2]
    assert result.counts_at("2 clusters", "BSLS", 100.0).shape == (3,)


def test_instances_are_independent_draws_from_consecutive_seeds():
    a = experiment.make_problem(TINY, "2 clusters", 100.0, instance=0)
    b = experiment.make_problem(TINY, "2 clusters", 100.0, instance=1)
    again = clustered_quadratic(100.0, 2, TINY.cluster_dim, TINY.cluster_condition, seed=TINY.seed + 1)
    assert not np.allclose(a.minimizer, b.minimizer)
    np.testing.assert_array_equal(b.minimizer, again.minimizer)
    np.testing.assert_array_equal(b.basis, again.basis)


def test_exponent_estimates_are_means_over_the_instances(result):
    for method in ("GD", "Nesterov", "BSLS"):
        exponents = result.exponents("3 clusters", method)
        assert exponents.size == len(result.instances("3 clusters", method))
        for i, value in zip(result.instances("3 clusters", method), exponents):
            assert value == power_law_exponent(*result.counts("3 clusters", method, i))
        estimate = result.exponent_estimate("3 clusters", method)
        assert estimate.value == pytest.approx(exponents.mean())
        half = 2 * exponents.std(ddof=1) / math.sqrt(exponents.size)
        assert estimate.high - estimate.value == pytest.approx(half, abs=1e-12)
        assert f"over {exponents.size} instances" in estimate.method
    gap = result.exponent_gap_estimate("2 clusters", "Nesterov", "BSLS")
    expected = result.exponents("2 clusters", "Nesterov") - result.exponents("2 clusters", "BSLS")
    assert gap.value == pytest.approx(expected.mean())
    kappas, medians = result.median_counts("2 clusters", "Nesterov")
    np.testing.assert_array_equal(medians, [np.median(result.counts_at("2 clusters", "Nesterov", k))
                                            for k in kappas])


def test_last_bit_perturbation_changes_only_the_last_bit():
    q = clustered_quadratic(1e6, 2, 5, seed=3)
    p = experiment.perturbed_quadratic(q, np.random.default_rng(0))
    for new, old in ((p.basis, q.basis), (p.minimizer, q.minimizer)):
        relative = np.abs(new / old - 1)
        assert 0 < relative.max() <= 2.0**-51  # one rounding of x (1 +- 2^-52), and of the ratio
    np.testing.assert_array_equal(p.eigenvalues, q.eigenvalues)
    assert p.scales == q.scales


def test_cg_rounding_spread_is_the_worst_relative_range(result):
    counts = result.cg_perturbed["2 clusters"]
    assert counts.shape == (TINY.instances, 1 + TINY.rounding_perturbations) and counts.min() > 0
    assert counts[:, 0].tolist() == result.counts_at("2 clusters", "CG", TINY.kappas[-1]).tolist()
    fake = experiment.Result(TINY, cg_perturbed={"q": np.array([[50, 52, 51], [100, 100, 100]])})
    assert fake.cg_rounding_spread("q") == pytest.approx(2 / 52)


def test_bsls_count_is_the_schedule_product_times_the_big_steps(result):
    """count = (N + 1) prod (T_i + 1) - 1 for the N big steps taken, on every run."""
    for name in experiment.PROBLEMS:
        for i in result.instances(name, "BSLS"):
            for k in result.kappas(name, "BSLS", i):
                count = result.runs[name, "BSLS", k, i].evaluations_to_tol
                product = result.schedule_product(name, k, i)
                assert product == math.prod(t + 1 for t in result.little_steps(name, k, i))
                assert (count + 1) % product == 0
                outer = result.outer_steps(name, k, i)
                assert count == bsls_schedule(result.scales[name, k, i]).evaluations_at(outer)
                top, bottom = result.scales[name, k, i][-1]
                assert result.predicted_outer_steps(name, k, i) == nesterov_distance_steps(top / bottom, 1 / TINY.tol)
                predicted = experiment.predicted_evaluations("BSLS", result.scales[name, k, i], TINY.tol)
                assert predicted == (result.predicted_outer_steps(name, k, i) + 1) * product - 1


def test_separated_kappas_and_the_product_exponent(result):
    # two clusters of condition 2: scales (1, 1/2), (2/kappa, 1/kappa), so mu_1 / L_2 = kappa / 4;
    # three: mu_1 / L_2 = mu_2 / L_3 = sqrt(kappa / 8)
    assert result.separation_at("2 clusters", 100.0) == pytest.approx(25.0)
    assert result.separation_at("3 clusters", 1000.0) == pytest.approx(math.sqrt(1000 / 8))
    assert result.separated_kappas("2 clusters").tolist() == [100.0, 1000.0]
    assert result.separated_kappas("3 clusters").tolist() == [1000.0]
    assert np.all(np.isnan(result.product_exponents("3 clusters")))  # one kappa: no slope
    for i in result.instances("2 clusters", "BSLS"):
        counts = [result.runs["2 clusters", "BSLS", k, i].evaluations_to_tol for k in (100.0, 1000.0)]
        predicted = [experiment.predicted_evaluations("BSLS", result.scales["2 clusters", k, i], TINY.tol)
                     for k in (100.0, 1000.0)]
        assert result.product_exponent("2 clusters", i) == pytest.approx(power_law_exponent(predicted, counts))
    estimate = result.product_exponent_estimate("2 clusters")
    assert estimate.value == pytest.approx(result.product_exponents("2 clusters").mean())
    assert "over 3 instances" in estimate.method
    ratios = result.product_ratios("2 clusters", 0)
    assert ratios.shape == (2,) and np.all((ratios > 0) & (ratios <= 1))
    for j, k in enumerate((100.0, 1000.0)):
        outer, top = result.outer_steps("2 clusters", k, 0), result.predicted_outer_steps("2 clusters", k, 0)
        product = result.schedule_product("2 clusters", k, 0)
        assert ratios[j] == pytest.approx(((outer + 1) * product - 1) / ((top + 1) * product - 1))
    largest = result.product_ratio_estimate("2 clusters")
    assert largest.high == max(result.product_ratios("2 clusters", i).max() for i in range(3))
    assert "range over 3 instances" in largest.method
    # a count that is exactly the predicted product has exponent 1
    fake = experiment.Result(TINY, runs=dict(result.runs), scales=dict(result.scales))
    for k in (100.0, 1000.0):
        scales = result.scales["2 clusters", k, 0]
        run = fake.runs["2 clusters", "BSLS", k, 0]
        exact = experiment.predicted_evaluations("BSLS", scales, TINY.tol)
        fake.runs["2 clusters", "BSLS", k, 0] = dataclasses.replace(run, evaluations_to_tol=exact)
    assert fake.product_exponent("2 clusters", 0) == pytest.approx(1.0)


def test_growth_exponent_and_predictions():
    kappas = np.array([10.0, 100.0, 1000.0])
    assert power_law_exponent(kappas, 7 * kappas**0.37) == pytest.approx(0.37)
    with pytest.raises(ValueError):
        power_law_exponent(kappas, [1, 0, 3])
    scales = cluster_scales(1e4, 2, 2.0)
    # GD needs about kappa ln(1/tol) / 1 ... within a factor 1 + 1/kappa of it.
    assert experiment.predicted_evaluations("GD", scales, 1e-6) == pytest.approx(1e4 * math.log(1e6), rel=1e-3)
    assert experiment.predicted_evaluations("Chebyshev", scales, 1e-6) == math.ceil(
        math.acosh(1e6) / math.acosh((1e4 + 1) / (1e4 - 1)))
    with pytest.raises(KeyError):
        experiment.predicted_evaluations("Newton", scales, 1e-6)


def test_experiment_figures_are_labelled_and_summary_is_json(result):
    for fig in experiment.figures(result).values():
        for ax in fig.axes:
            assert ax.get_xlabel() and ax.get_ylabel()
        plt.close(fig)
    summary = experiment.summary(result)
    json.dumps(summary)
    assert summary["problems"]["2 clusters"]["methods"]["GD"]["kappas"] == [10.0, 100.0, 1000.0]


@pytest.mark.parametrize(
    "changes, match",
    [({"kappas": (10.0, 100.0)}, "at least 3"), ({"kappas": (100.0, 10.0, 1000.0)}, "increasing"),
     ({"kappas": (5.0, 100.0, 1000.0), "curves_kappa": 100.0}, "cluster_condition"),
     ({"tol": 1.0}, "tol"), ({"curves_kappa": 7.0}, "curves_kappa"), ({"gd_max_kappa": 10.0}, "gd_max_kappa"),
     ({"instances": 2, "gd_instances": 3}, "gd_instances"), ({"gd_instances": 1}, "gd_instances"),
     ({"rounding_perturbations": -1}, "rounding_perturbations"), ({"separation": 0.5}, "separation")],
)
def test_config_rejects_bad_settings(changes, match):
    with pytest.raises(ValueError, match=match):
        experiment.Config(**changes)
