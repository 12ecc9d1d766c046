"""Streaming regression: the sample stream and each method against independent references
(numpy.linalg.lstsq, per-step projections written out, exact moments of Gaussian rows checked
statistically), edge cases (dependent rows, ill-conditioning, huge and tiny scales, float32),
and bad input."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import digamma

from memopt.experiments import regression_memory
from memopt.optim.stream_runs import run_methods
from memopt.optim.streaming import ExactLeastSquares, Kaczmarz, StreamingSGD, WindowProjection
from memopt.optim.streaming_theory import (
    expected_projection_error,
    kaczmarz_direction_moments,
    predicted_projection_samples,
    projection_log_decrement,
    projection_log_decrements,
    sgd_contraction,
    sgd_mean_square_samples,
)
from memopt.problems.regression import GaussianRegression, paper_noise_bound


def lstsq(a, b):
    return np.linalg.lstsq(a, b, rcond=None)[0]


def feed(method, a, b):
    """One trial: rows a (k, d), labels b (k,)."""
    method.consume(a[None], b[None])
    return method


def random_system(seed, k, d, noise=0.0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((k, d))
    x = rng.standard_normal(d)
    return a, a @ x + noise * rng.standard_normal(k), x


# -- the stream --------------------------------------------------------------------------------
def test_stream_follows_the_papers_model():
    problem = GaussianRegression(30)
    assert problem.noise == paper_noise_bound(30) == 2.0**-6
    stream = problem.stream([0, 1, 2])
    rows, labels = stream.draw(500)
    assert rows.shape == (3, 500, 30) and labels.shape == (3, 500)
    np.testing.assert_allclose(np.linalg.norm(stream.targets, axis=1), 1.0, rtol=1e-15)
    noise = labels - np.einsum("rcd,rd->rc", rows, stream.targets)
    assert np.abs(noise).max() <= problem.noise
    assert np.abs(noise).max() > 0.9 * problem.noise  # uniform on the whole interval


def test_stream_is_reproducible_per_trial_and_chunking_does_not_matter():
    problem = GaussianRegression(6, kappa=5.0, noise_bound=1e-3)
    whole = problem.stream([4, 7]).draw(40)
    stream = problem.stream([7])
    parts = [stream.draw(15), stream.draw(25)]
    np.testing.assert_array_equal(np.concatenate([p[0] for p in parts], axis=1)[0], whole[0][1])
    np.testing.assert_array_equal(np.concatenate([p[1] for p in parts], axis=1)[0], whole[1][1])
    assert stream.samples_drawn == 40


def test_covariance_has_the_chosen_condition_number_in_an_orthonormal_basis():
    problem = GaussianRegression(7, kappa=50.0, basis_seed=3)
    basis = problem.basis
    np.testing.assert_allclose(basis.T @ basis, np.eye(7), atol=1e-13)
    eigenvalues = np.linalg.eigvalsh(problem.covariance)
    assert eigenvalues.max() / eigenvalues.min() == pytest.approx(50.0, rel=1e-10)
    np.testing.assert_array_equal(problem.eigenvalues, [1, 1, 1, 1, 0.02, 0.02, 0.02])
    assert not np.allclose(basis, np.eye(7))
    np.testing.assert_array_equal(GaussianRegression(7, random_basis=False).basis, np.eye(7))


def test_rows_have_the_covariance_statistically():
    problem = GaussianRegression(4, kappa=9.0, noise_bound=0.0, basis_seed=1)
    rows, labels = problem.stream([11]).draw(200_000)
    empirical = rows[0].T @ rows[0] / rows.shape[1]
    sigma = problem.covariance
    # Standard error of an entry of the sample covariance: sqrt((S_ii S_jj + S_ij^2) / n).
    se = np.sqrt((np.outer(np.diag(sigma), np.diag(sigma)) + sigma**2) / rows.shape[1])
    assert np.all(np.abs(empirical - sigma) < 5 * se)


@settings(max_examples=40, deadline=None)
@given(d=st.integers(2, 40), log_kappa=st.floats(0, 6), seed=st.integers(0, 1000))
def test_spread_spectrum_has_exact_log_uniform_eigenvalues(d, log_kappa, seed):
    """Eigenvalues kappa^(j/(d-1)), j = 0..d-1, written out here (not the library's geomspace),
    read back from the covariance by an eigensolver."""
    kappa = 10.0**log_kappa
    problem = GaussianRegression(d, kappa=kappa, basis_seed=seed, spectrum="log_uniform")
    expected = np.array([kappa ** (j / (d - 1)) for j in range(d)])
    np.testing.assert_allclose(np.sort(problem.eigenvalues), expected, rtol=1e-12)
    np.testing.assert_allclose(np.linalg.eigvalsh(problem.covariance), expected, rtol=1e-9, atol=1e-12 * kappa)
    ratios = np.diff(np.log(np.sort(problem.eigenvalues)))
    np.testing.assert_allclose(ratios, math.log(kappa) / (d - 1), atol=1e-12)


def test_spread_rows_have_the_covariance_statistically():
    problem = GaussianRegression(4, kappa=1000.0, noise_bound=0.0, basis_seed=2, spectrum="log_uniform")
    np.testing.assert_allclose(problem.eigenvalues, [1000, 100, 10, 1], rtol=1e-13)
    rows, _ = problem.stream([3]).draw(200_000)
    empirical = rows[0].T @ rows[0] / rows.shape[1]
    sigma = problem.covariance
    se = np.sqrt((np.outer(np.diag(sigma), np.diag(sigma)) + sigma**2) / rows.shape[1])
    assert np.all(np.abs(empirical - sigma) < 5 * se)
    two = GaussianRegression(4, kappa=1000.0, basis_seed=2)
    np.testing.assert_array_equal(two.basis, problem.basis)  # same basis, other spectrum
    with pytest.raises(ValueError, match="spectrum must be one of"):
        GaussianRegression(4, spectrum="spread")


def test_noiseless_stream_is_consistent():
    stream = GaussianRegression(5, noise_bound=0.0).stream([0])
    rows, labels = stream.draw(10)
    np.testing.assert_allclose(labels[0], rows[0] @ stream.targets[0], rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("kwargs, error", [
    (dict(dimension=0), ValueError), (dict(dimension=2.5), TypeError), (dict(dimension=True), TypeError),
    (dict(dimension=3, kappa=0.5), ValueError), (dict(dimension=3, kappa=math.nan), ValueError),
    (dict(dimension=3, kappa=math.inf), ValueError), (dict(dimension=3, kappa="10"), TypeError),
    (dict(dimension=3, noise_bound=-1e-3), ValueError), (dict(dimension=3, noise_bound=math.nan), ValueError),
    (dict(dimension=3, basis_seed=-1), ValueError),
])
def test_bad_problems_are_refused(kwargs, error):
    with pytest.raises(error):
        GaussianRegression(**kwargs)


def test_bad_streams_are_refused():
    problem = GaussianRegression(3)
    with pytest.raises(ValueError, match="seeds"):
        problem.stream([])
    with pytest.raises(ValueError, match="seeds"):
        problem.stream([-1])
    with pytest.raises(ValueError, match="count"):
        problem.stream([0]).draw(0)


# -- exact least squares -------------------------------------------------------------------------
@pytest.mark.parametrize("k", [1, 5, 8, 9, 30])
def test_exact_least_squares_matches_lstsq(k):
    a, b, _ = random_system(k, k, 8, noise=1e-3)
    method = feed(ExactLeastSquares(8), a, b)
    np.testing.assert_allclose(method.estimate()[0], lstsq(a, b), rtol=1e-9, atol=1e-10)
    assert bool(method.determined[0]) == (k >= 8)


def test_exact_least_squares_is_exact_after_d_noiseless_samples():
    a, b, x = random_system(0, 12, 12)
    method = ExactLeastSquares(12)
    for i in range(11):
        method.update(a[None, i], b[None, i])
        assert np.isnan(method.tracked_estimate()).all()
    method.update(a[None, 11], b[None, 11])
    np.testing.assert_allclose(method.tracked_estimate()[0], x, rtol=1e-10)


def test_exact_least_squares_drops_dependent_rows():
    """Five equations of rank three do not determine x; the dependent ones are dropped (as
    Gaussian elimination drops a zero row) and later samples complete the system."""
    a, b, x = random_system(1, 9, 5)
    a[3], b[3] = 2 * a[1], 2 * b[1]
    a[4], b[4] = a[0] + a[2], b[0] + b[2]
    method = ExactLeastSquares(5)
    feed(method, a[:5], b[:5])
    assert not method.determined[0] and method.stored[0] == 3
    np.testing.assert_allclose(method.estimate()[0], lstsq(a[:5], b[:5]), rtol=1e-10)  # minimum norm
    feed(method, a[5:], b[5:])
    assert method.determined[0]
    np.testing.assert_allclose(method.estimate()[0], x, rtol=1e-10)
    np.testing.assert_allclose(method.estimate()[0], lstsq(a, b), rtol=1e-10)


def test_exact_least_squares_trials_can_be_determined_at_different_samples():
    """Batched trials are independent: one trial with a repeated row is determined one sample
    later than the other, and both then match lstsq of their own samples."""
    a, b, _ = random_system(9, 2 * 9, 5, noise=0.05)
    a, b = a.reshape(2, 9, 5), b.reshape(2, 9)
    a[1, 2], b[1, 2] = a[1, 0], b[1, 0]
    method = ExactLeastSquares(5, trials=2)
    method.consume(a[:, :5], b[:, :5])
    np.testing.assert_array_equal(method.determined, [True, False])
    method.consume(a[:, 5:], b[:, 5:])
    np.testing.assert_allclose(method.estimate()[0], lstsq(a[0], b[0]), rtol=1e-9)
    kept = np.delete(np.arange(9), 2)  # the repeated row was dropped before the system was solved
    np.testing.assert_allclose(method.estimate()[1], lstsq(a[1, kept], b[1, kept]), rtol=1e-9)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), log_scale=st.floats(0, 6), extra=st.integers(0, 10))
def test_exact_least_squares_on_ill_conditioned_rows(seed, log_scale, extra):
    """Columns scaled over up to six decades (condition number up to ~1e6 of the rows)."""
    d = 6
    a, b, _ = random_system(seed, d + extra, d, noise=1e-2)
    a = a * np.logspace(0, -log_scale, d)
    reference = lstsq(a, b)
    estimate = feed(ExactLeastSquares(d), a, b).estimate()[0]
    cond = np.linalg.cond(a)
    scale = max(1, np.abs(reference).max())
    np.testing.assert_allclose(estimate, reference, rtol=0, atol=1e-13 * cond**2 * scale)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), log_scale=st.floats(-100, 100))
def test_every_method_is_invariant_to_scaling_a_sample(seed, log_scale):
    """(c a, c b) is the same equation as (a, b): the projections and the exact solution do not
    change for c from 1e-100 to 1e100 (no overflow or underflow of ||c a||^2)."""
    a, b, _ = random_system(seed, 7, 5, noise=0.1)
    c = 10.0**log_scale
    for make in (lambda: ExactLeastSquares(5), lambda: Kaczmarz(5), lambda: WindowProjection(5, 3)):
        plain, scaled = feed(make(), a, b).estimate(), feed(make(), c * a, c * b).estimate()
        np.testing.assert_allclose(scaled, plain, rtol=1e-9, atol=1e-12)


def test_float32_rows_give_the_float64_result_of_the_same_values():
    a, b, _ = random_system(2, 10, 4, noise=0.1)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    for make in (lambda: ExactLeastSquares(4), lambda: Kaczmarz(4), lambda: WindowProjection(4, 2)):
        low = feed(make(), a32, b32).estimate()
        assert low.dtype == np.float64
        high = feed(make(), a32.astype(float), b32.astype(float)).estimate()
        np.testing.assert_allclose(low, high, rtol=1e-14)


# -- Kaczmarz, the window family and SGD ---------------------------------------------------------
def test_window_projection_is_the_projection_onto_every_sample_while_the_window_holds_them():
    a, b, _ = random_system(3, 6, 9, noise=0.5)
    x0 = np.random.default_rng(0).standard_normal(9)
    for k in range(1, 7):
        method = feed(WindowProjection(9, 6, x0=x0), a[:k], b[:k])
        projection = x0 + lstsq(a[:k], b[:k] - a[:k] @ x0)
        np.testing.assert_allclose(method.estimate()[0], projection, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("window", [1, 2, 3, 7])
def test_window_projection_step_by_step_against_lstsq(window):
    """Each step is x <- x + the minimum-norm solution of A_w dx = b_w - A_w x over the last
    ``window`` samples; 60 samples make the ring buffer wrap around and H be recomputed. The
    method works with the Gram matrix of the window, so its rounding error scales like the
    square of the windows' condition numbers (and persists while a window's rows stay)."""
    a, b, _ = random_system(window, 60, 7, noise=0.3)
    method, x, worst = WindowProjection(7, window), np.zeros(7), 1.0
    for i in range(60):
        method.update(a[None, i], b[None, i])
        rows, labels = a[max(0, i - window + 1):i + 1], b[max(0, i - window + 1):i + 1]
        x = x + lstsq(rows, labels - rows @ x)
        worst = max(worst, np.linalg.cond(rows) ** 2)
        np.testing.assert_allclose(method.x[0], x, rtol=1e-9, atol=1e-15 * worst * np.abs(x).max())
        np.testing.assert_allclose(rows @ method.x[0], labels, rtol=1e-9, atol=1e-10)


def test_kaczmarz_is_the_window_of_one():
    a, b, _ = random_system(4, 50, 6, noise=0.2)
    np.testing.assert_allclose(feed(Kaczmarz(6), a, b).x, feed(WindowProjection(6, 1), a, b).x, rtol=1e-13)


def test_kaczmarz_and_sgd_converge_to_the_least_squares_solution_of_a_consistent_system():
    a, b, x = random_system(5, 30, 5)
    cycles = np.tile(np.arange(30), 60)
    np.testing.assert_allclose(feed(Kaczmarz(5), a[cycles], b[cycles]).x[0], lstsq(a, b), rtol=1e-10)
    sgd = feed(StreamingSGD(5, step=0.5 / (a * a).sum(axis=1).max()), a[cycles], b[cycles])
    np.testing.assert_allclose(sgd.x[0], lstsq(a, b), rtol=1e-6)


def test_sgd_matches_the_textbook_loop():
    a, b, _ = random_system(6, 20, 3, noise=0.1)
    x = np.array([1.0, -1.0, 0.5])
    method = feed(StreamingSGD(3, step=0.05, x0=x), a, b)
    for row, label in zip(a, b):
        x = x - 0.05 * (row @ x - label) * row
    np.testing.assert_allclose(method.x[0], x, rtol=1e-13)


def test_window_projection_skips_a_row_in_the_span_of_its_window():
    a, b, _ = random_system(8, 3, 6, noise=0.1)
    method = feed(WindowProjection(6, 4), a, b)
    before = method.x.copy()
    method.update((a[0] - 2 * a[2])[None], np.array([5.0]))  # dependent: no new direction
    np.testing.assert_array_equal(method.x, before)
    np.testing.assert_array_equal(method.rows[0, :3], a)  # and the window keeps its rows


def test_the_window_with_m_equal_d_is_exact_after_d_samples():
    a, b, x = random_system(7, 10, 10)
    np.testing.assert_allclose(feed(WindowProjection(10, 10), a, b).x[0], x, rtol=1e-9)


def test_memory_is_counted_from_the_state():
    d = 20
    assert ExactLeastSquares(d).memory_floats == d * d + d
    assert Kaczmarz(d).memory_floats == d and StreamingSGD(d, 0.1).memory_floats == d
    for m in (1, 5, 20):
        method = WindowProjection(d, m, trials=3)
        assert method.memory_floats == (m - 1) * (d + m - 1) + d
        assert method.memory_bits == 64 * method.memory_floats


# -- expected contractions on isotropic rows, checked statistically -----------------------------
def one_step_ratios(method, d, trials, seed, warmup=0):
    """||e||^2 after / before one sample, per trial, after ``warmup`` samples."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((trials, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    for _ in range(warmup):
        rows = rng.standard_normal((trials, d))
        method.update(rows, (rows * x).sum(axis=1))
    before = ((method.estimate() - x) ** 2).sum(axis=1)
    rows = rng.standard_normal((trials, d))
    method.update(rows, (rows * x).sum(axis=1))
    return ((method.estimate() - x) ** 2).sum(axis=1) / before


def within(samples, expected, sigmas=5):
    return abs(samples.mean() - expected) < sigmas * samples.std() / np.sqrt(samples.size)


@pytest.mark.parametrize("d", [5, 40])
def test_kaczmarz_contracts_by_one_minus_one_over_d_in_expectation(d):
    ratios = one_step_ratios(Kaczmarz(d, trials=100_000), d, 100_000, seed=d)
    assert within(ratios, 1 - 1 / d)
    assert within(np.log(ratios), -projection_log_decrement(d))


def test_kaczmarz_contraction_compounds_over_steps():
    d, trials = 8, 50_000
    ratios = one_step_ratios(Kaczmarz(d, trials=trials), d, trials, seed=1, warmup=4)
    assert within(ratios, 1 - 1 / d)  # the rate does not depend on the error's history
    rng = np.random.default_rng(2)
    x = rng.standard_normal((trials, d)) / np.sqrt(d)
    method = Kaczmarz(d, trials=trials)
    for _ in range(6):
        rows = rng.standard_normal((trials, d))
        method.update(rows, (rows * x).sum(axis=1))
    shrink = ((method.x - x) ** 2).sum(axis=1) / (x**2).sum(axis=1)
    assert within(shrink, (1 - 1 / d) ** 6)


def test_window_projection_contracts_as_in_a_subspace_of_dimension_d_minus_m_plus_1():
    d, m, trials = 12, 5, 40_000
    ratios = one_step_ratios(WindowProjection(d, m, trials=trials), d, trials, seed=3, warmup=m - 1)
    assert within(ratios, 1 - 1 / (d - m + 1))
    assert within(np.log(ratios), -projection_log_decrement(d - m + 1))


def test_sgd_contraction_matches_the_fourth_moment_formula():
    d, trials, step = 10, 100_000, 0.07
    ratios = one_step_ratios(StreamingSGD(d, step, trials=trials), d, trials, seed=4)
    assert within(ratios, sgd_contraction(d, step))
    assert sgd_contraction(d, 1 / (d + 2)) == pytest.approx(1 - 1 / (d + 2))


# -- theory helpers ------------------------------------------------------------------------------
def test_log_decrement_closed_forms():
    assert projection_log_decrement(1) == math.inf
    assert projection_log_decrement(2) == pytest.approx(2 * math.log(2))  # psi(1) - psi(1/2)
    assert projection_log_decrement(200) == pytest.approx(digamma(100) - digamma(99.5))
    np.testing.assert_allclose(projection_log_decrements(10, 4, 6)[:4],
                               [projection_log_decrement(n) for n in (10, 9, 8, 7)])
    assert projection_log_decrements(10, 4, 6)[5] == projection_log_decrement(7)


def test_predicted_samples_at_the_corners():
    eps = 1e-8
    assert predicted_projection_samples(200, 200, eps) == 200
    kaczmarz = math.ceil(2 * math.log(1 / eps) / projection_log_decrement(50))
    assert predicted_projection_samples(50, 1, eps) == kaczmarz
    counts = [predicted_projection_samples(60, m, eps) for m in range(1, 61)]
    assert all(later <= earlier for earlier, later in zip(counts, counts[1:]))
    assert predicted_projection_samples(10, 3, 2.0) == 0  # already there
    error = expected_projection_error(30, 30, 30)
    assert error[-1] == 0 and np.all(np.diff(error) < 0)


def test_kaczmarz_direction_moments_against_closed_form_and_monte_carlo():
    np.testing.assert_allclose(kaczmarz_direction_moments(np.ones(9)), 1 / 9, rtol=1e-8)
    eigenvalues = np.array([1, 1, 1, 0.1, 0.1, 0.01])
    moments = kaczmarz_direction_moments(eigenvalues)
    assert moments.sum() == pytest.approx(1.0, rel=1e-8)
    z = np.random.default_rng(0).standard_normal((400_000, 6)) * np.sqrt(eigenvalues)
    u2 = z**2 / (z**2).sum(axis=1, keepdims=True)
    se = u2.std(axis=0) / np.sqrt(u2.shape[0])
    assert np.all(np.abs(u2.mean(axis=0) - moments) < 5 * se)


# -- running on a stream ---------------------------------------------------------------------------
def test_run_methods_records_errors_and_first_passage():
    problem = GaussianRegression(10, noise_bound=0.0)
    runs = run_methods({"exact": ExactLeastSquares(10, 3), "kaczmarz": Kaczmarz(10, 3)},
                       problem.stream([0, 1, 2]), accuracy=1e-6, max_samples=5000, chunk=64)
    np.testing.assert_array_equal(runs["exact"].samples_to_accuracy, [10, 10, 10])
    assert np.isnan(runs["exact"].errors[:, :9]).all()
    kaczmarz = runs["kaczmarz"]
    first = kaczmarz.samples_to_accuracy.astype(int)
    for t in range(3):
        assert kaczmarz.errors[t, first[t] - 1] <= 1e-6 < kaczmarz.errors[t, first[t] - 2]
    assert kaczmarz.errors.shape[1] == first.max()  # the method stopped once every trial got there
    short = run_methods({"k": Kaczmarz(10, 3)}, problem.stream([0, 1, 2]), accuracy=1e-6, max_samples=20)
    assert np.isnan(short["k"].samples_to_accuracy).all()


def test_run_methods_feeds_every_method_the_same_samples():
    problem = GaussianRegression(6, noise_bound=0.0)
    together = run_methods({"a": Kaczmarz(6, 2), "b": WindowProjection(6, 1, 2)}, problem.stream([5, 6]),
                           accuracy=1e-9, max_samples=3000, chunk=100)
    # Kaczmarz runs compiled and the window method in NumPy: their iterates agree to rounding
    # (1e-16 absolute), which is a large relative difference once the errors are near 1e-10.
    np.testing.assert_allclose(together["a"].errors, together["b"].errors, rtol=1e-10, atol=1e-14)


# -- bad input ------------------------------------------------------------------------------------
def test_bad_method_arguments_are_refused():
    with pytest.raises(ValueError, match="window"):
        WindowProjection(5, 6)
    with pytest.raises(ValueError, match="window"):
        WindowProjection(5, 0)
    with pytest.raises(TypeError, match="window"):
        WindowProjection(5, 2.0)
    with pytest.raises(ValueError, match="step"):
        StreamingSGD(5, 0.0)
    with pytest.raises(ValueError, match="step"):
        StreamingSGD(5, math.nan)
    with pytest.raises(ValueError, match="trials"):
        Kaczmarz(5, trials=0)
    with pytest.raises(ValueError, match="dimension"):
        ExactLeastSquares(0)
    with pytest.raises(ValueError, match="x0"):
        Kaczmarz(3, x0=np.zeros(4))
    with pytest.raises(ValueError, match="x0"):
        Kaczmarz(3, x0=[0.0, math.nan, 0.0])


def test_bad_samples_are_refused():
    method = Kaczmarz(3, trials=2)
    with pytest.raises(ValueError, match="rows must have shape"):
        method.update(np.zeros((2, 4)), np.zeros(2))
    with pytest.raises(ValueError, match="labels must have shape"):
        method.update(np.zeros((2, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        method.update(np.array([[1.0, math.nan, 0.0], [0.0, 1.0, 0.0]]), np.zeros(2))
    with pytest.raises(ValueError, match="NaN"):
        method.consume(np.ones((2, 4, 3)), np.full((2, 4), math.inf))
    with pytest.raises(TypeError, match="rows must be real"):
        method.update(np.array([["a", "b", "c"]] * 2), np.zeros(2))
    assert method.samples_seen == 0


def test_bad_runs_are_refused():
    stream = GaussianRegression(4).stream([0, 1])
    with pytest.raises(ValueError, match="accuracy"):
        run_methods({"k": Kaczmarz(4, 2)}, stream, accuracy=0.0, max_samples=10)
    with pytest.raises(ValueError, match="max_samples"):
        run_methods({"k": Kaczmarz(4, 2)}, stream, accuracy=1e-3, max_samples=0)
    with pytest.raises(ValueError, match="trials"):
        run_methods({"k": Kaczmarz(4, 3)}, stream, accuracy=1e-3, max_samples=10)
    with pytest.raises(TypeError, match="StreamingMethod"):
        run_methods({"k": "kaczmarz"}, stream, accuracy=1e-3, max_samples=10)
    with pytest.raises(ValueError, match="at least one"):
        run_methods({}, stream, accuracy=1e-3, max_samples=10)


# -- the chapter's experiment at a toy scale --------------------------------------------------------
# d = 60: the paper's noise 2^(-12) sits well below the accuracy 1e-2.
TOY = regression_memory.Config(dimension=60, accuracy=1e-2, trials=4, windows=(3, 30, 60), window_trials=3,
                               kappa_dimension=6, kappas=(1, 10, 30), kappa_fit_from=10, kappa_trials=3,
                               spread_dimension=5, spread_kappas=(10, 100), spread_trials=3, spread_windows=(3,))


def test_the_experiment_runs_at_a_toy_scale():
    result = regression_memory.run(TOY)
    assert result.exact_median_samples() == 60
    assert result.exact_kappa_samples_over_d() == 1
    assert np.isfinite(result.kaczmarz_ratios()).all()
    assert result.window_mean_samples()[-1] == 60
    assert result.largest_window_increase() < 0
    assert 0 < result.kappa_fit()[0] < 2
    summary = json.loads(json.dumps(regression_memory.summary(result)))
    assert summary["dimension"] == 60 and len(summary["memory"]) == 6
    assert set(regression_memory.figures(result)) == {"error_curves", "memory_tradeoff", "kappa", "spread"}


@pytest.mark.parametrize("kwargs", [
    dict(accuracy=1.5), dict(windows=(8, 4)), dict(windows=(1, 4)), dict(windows=(4, 300)),
    dict(kappas=(0.5, 10)), dict(kappas=(1, 3), kappa_fit_from=10), dict(window_trials=64),
    dict(trials=1), dict(budget_factor=0.5),
])
def test_bad_configs_are_refused(kwargs):
    with pytest.raises(ValueError):
        regression_memory.Config(**kwargs)


def test_sgd_mean_square_samples_on_isotropic_rows_is_the_contraction_count():
    for d in (2, 10, 50):
        step = 1 / (d + 2)
        expected = math.ceil(2 * math.log(1e-4) / math.log(sgd_contraction(d, step)))
        assert sgd_mean_square_samples(np.ones(d), step, 1e-4) == expected


def test_sgd_mean_square_samples_against_the_recursion_written_out():
    """m_{k+1, j} = (1 - 2 s l_j + 2 s^2 l_j^2) m_{k, j} + s^2 l_j sum_i l_i m_{k, i}, in loops."""
    lam = [1.0, 3.0, 10.0, 40.0]
    step = 1 / (sum(lam) + 2 * max(lam))
    m, k = [0.25] * 4, 0
    while sum(m) > 1e-3**2:
        coupling = sum(li * mi for li, mi in zip(lam, m))
        m = [(1 - 2 * step * lj + 2 * step**2 * lj**2) * mj + step**2 * lj * coupling for lj, mj in zip(lam, m)]
        k += 1
    assert sgd_mean_square_samples(lam, step, 1e-3) == k
    assert sgd_mean_square_samples(lam, step, 2.0) == 0
    with pytest.raises(ValueError, match="too large"):
        sgd_mean_square_samples(lam, 1.0, 1e-3)
    with pytest.raises(ValueError, match="eigenvalues"):
        sgd_mean_square_samples([1.0, -1.0], 0.1, 1e-3)


def test_sgd_mean_square_matches_simulated_sgd_statistically():
    """The recursion's E ||e_k||^2 against the mean over 4000 SGD runs on Gaussian rows."""
    d, trials = 4, 4000
    lam = np.array([1.0, 4.0, 16.0, 64.0])
    step = 1 / (lam.sum() + 2 * lam.max())
    k = sgd_mean_square_samples(lam, step, 0.3)
    problem = GaussianRegression(d, kappa=64.0, noise_bound=0.0, spectrum="log_uniform", random_basis=False)
    np.testing.assert_allclose(np.sort(problem.eigenvalues), lam)
    stream = problem.stream(range(trials))
    method = StreamingSGD(d, step, trials)
    method.consume(*stream.draw(k - 1))
    before = ((method.estimate() - stream.targets) ** 2).sum(axis=1)
    method.consume(*stream.draw(1))
    after = ((method.estimate() - stream.targets) ** 2).sum(axis=1)
    # k is the first count with E ||e_k||^2 <= 0.09: the sample means bracket it within 5 s.e.
    se = lambda v: 5 * v.std(ddof=1) / math.sqrt(trials)  # noqa: E731
    assert after.mean() - se(after) <= 0.09 <= before.mean() + se(before)


def test_kaczmarz_direction_moments_resolve_a_wide_spread_spectrum():
    """Bug: on eigenvalues spread over [1, 1e4] quad warned of a divergent integral. The
    moments of u = a / ||a|| sum to E ||u||^2 = 1 exactly."""
    import warnings

    eigenvalues = np.geomspace(1e6, 1.0, 30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        moments = kaczmarz_direction_moments(eigenvalues)
    assert moments.sum() == pytest.approx(1.0, rel=1e-9)
    assert np.all(np.diff(moments) < 0)  # larger eigenvalue, larger share
