"""In-context regression, Iterative Newton, gradient descent and one layer of linear
self-attention against independent references: numpy.linalg.pinv/lstsq/matrix_power, the
closed forms of both iterations on the eigenvalues, finite differences, Monte Carlo over prompts,
SciPy's scalar minimiser; numerical edges (ill-conditioning, singular S, float32, huge scales);
bad input raises clearly."""

import json

import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar

from memopt.experiments import icl_newton as experiment
from memopt.nets.linear_attention import (
    LinearSelfAttention,
    best_scalar_step,
    embed,
    empirical_loss,
    optimal_preconditioner,
    population_loss,
    preconditioned_gd_step,
    train_population,
    wishart_square,
)
from memopt.optim.newton import (
    best_fixed_step,
    gd_error_theory,
    iterative_newton,
    least_squares_gd,
    newton_alpha,
    newton_error_theory,
    newton_pseudo_inverse,
    newton_residual_theory,
)
from memopt.problems.icl import (
    covariance_with_spectrum,
    icl_tasks,
    log_uniform_spectrum,
    random_orthonormal,
    two_cluster_spectrum,
)


def spd_with_spectrum(eigenvalues, seed=0):
    rng = np.random.default_rng(seed)
    basis = random_orthonormal(len(eigenvalues), rng)
    matrix = (basis * np.asarray(eigenvalues, float)) @ basis.T
    return (matrix + matrix.T) / 2


@pytest.fixture(scope="module")
def tasks():
    return icl_tasks(32, seed=3)


# -- the tasks ---------------------------------------------------------------------------------
def test_covariance_has_the_papers_spectrum_in_a_random_basis():
    eigenvalues = two_cluster_spectrum(20, 100.0)
    assert sorted(eigenvalues) == [1.0] * 10 + [100.0] * 10
    covariance = covariance_with_spectrum(eigenvalues, np.random.default_rng(0))
    np.testing.assert_allclose(np.linalg.eigvalsh(covariance), np.sort(eigenvalues), rtol=1e-12)
    assert np.linalg.cond(covariance) == pytest.approx(100.0, rel=1e-10)
    assert np.abs(covariance - np.diag(np.diag(covariance))).max() > 1  # not axis-aligned
    basis = random_orthonormal(20, np.random.default_rng(1))
    np.testing.assert_allclose(basis.T @ basis, np.eye(20), atol=1e-13)
    spread = log_uniform_spectrum(20, 100.0)
    assert spread.max() / spread.min() == pytest.approx(100.0) and np.unique(spread).size == 20


def test_tasks_are_noiseless_reproducible_and_drawn_from_sigma():
    a, b = icl_tasks(64, seed=7), icl_tasks(64, seed=7)
    np.testing.assert_array_equal(a.features, b.features)
    assert not np.array_equal(a.features, icl_tasks(64, seed=8).features)
    np.testing.assert_allclose(a.targets, np.einsum("tnd,td->tn", a.features, a.weights), rtol=1e-13)
    np.testing.assert_allclose(a.query_targets, np.einsum("td,td->t", a.queries, a.weights), rtol=1e-13)
    assert a.features.shape == (64, 40, 20) and a.gram.shape == (64, 20, 20)
    # The same seed with another spectrum shares the Gaussian draws: X Sigma^(-1/2) agrees.
    c = icl_tasks(64, seed=7, spectrum="log_uniform")
    white_a = a.features @ np.linalg.inv(np.linalg.cholesky(a.covariance)).T
    white_c = c.features @ np.linalg.inv(np.linalg.cholesky(c.covariance)).T
    np.testing.assert_allclose(white_a, white_c, atol=1e-9)
    many = icl_tasks(2000, seed=0)
    sample = np.einsum("tni,tnj->ij", many.features, many.features) / (2000 * 40)
    assert np.linalg.norm(sample - many.covariance) / np.linalg.norm(many.covariance) < 0.02


def test_least_squares_recovers_the_hidden_weights(tasks):
    np.testing.assert_allclose(tasks.least_squares(), tasks.weights, atol=1e-9)
    np.testing.assert_allclose(tasks.moment, np.einsum("tnd,tn->td", tasks.features, tasks.targets))


def test_prediction_error_is_the_expected_query_error(tasks):
    estimates = tasks.weights + np.random.default_rng(0).standard_normal(tasks.weights.shape)
    error = estimates - tasks.weights
    direct = np.sqrt(np.einsum("ti,ij,tj->t", error, tasks.covariance, error)
                     / np.einsum("ti,ij,tj->t", tasks.weights, tasks.covariance, tasks.weights))
    np.testing.assert_allclose(tasks.prediction_error(estimates), direct, rtol=1e-12)
    stacked = np.stack([estimates, tasks.weights])
    np.testing.assert_allclose(tasks.prediction_error(stacked)[0], direct, rtol=1e-12)
    assert np.all(tasks.prediction_error(stacked)[1] == 0)
    # Monte Carlo over fresh queries x ~ N(0, Sigma), for one task.
    queries = np.random.default_rng(1).multivariate_normal(np.zeros(20), tasks.covariance, 200_000)
    ratio = np.mean((queries @ error[0]) ** 2) / np.mean((queries @ tasks.weights[0]) ** 2)
    assert np.sqrt(ratio) == pytest.approx(direct[0], rel=0.02)


# -- Iterative Newton ----------------------------------------------------------------------------
def test_alpha_rules_against_numpy_norms():
    s = spd_with_spectrum([5.0, 2.0, 0.5, 0.1])
    square = s @ s.T
    assert newton_alpha(s, "frobenius")[0] == pytest.approx(1 / np.linalg.norm(square, "fro"), rel=1e-13)
    assert newton_alpha(s, "paper")[0] == pytest.approx(2 / np.linalg.norm(square, 2), rel=1e-13)
    assert newton_alpha(s, "optimal")[0] == pytest.approx(2 / (25 + 0.01), rel=1e-12)
    assert newton_alpha(s, 0.01)[0] == 0.01
    # Frobenius lies strictly inside the interval of convergence (0, 2/||SS^T||_2).
    assert 0 < newton_alpha(s, "frobenius")[0] < newton_alpha(s, "paper")[0]


def test_newton_converges_to_numpy_pinv(tasks):
    inverse = newton_pseudo_inverse(tasks.gram, steps=40)
    reference = np.linalg.pinv(tasks.gram)
    relative = np.linalg.norm(inverse - reference, axis=(1, 2)) / np.linalg.norm(reference, axis=(1, 2))
    assert relative.max() < 1e-10
    run = iterative_newton(tasks.gram, tasks.moment, steps=40)
    np.testing.assert_allclose(run.estimates[-1], tasks.least_squares(), atol=1e-9)
    seventh = newton_pseudo_inverse(tasks.gram, steps=7)
    np.testing.assert_allclose(run.estimates[7], np.einsum("tij,tj->ti", seventh, tasks.moment), rtol=1e-12)


def test_newton_converges_to_the_pseudo_inverse_of_a_singular_matrix():
    x = np.random.default_rng(2).standard_normal((6, 10))  # n < d: S has rank 6
    s = x.T @ x
    # Rounding leaves ~1e-16 in the null space, where m_{k+1} = 2 m_k: stop a few squarings
    # after the range has converged (log2(1/(alpha lambda_min+^2)) + 6 steps), not 50 later.
    values = np.linalg.eigvalsh(s)[-6:]
    steps = int(np.ceil(np.log2(1 / (newton_alpha(s)[0] * values[0] ** 2)))) + 6
    inverse = newton_pseudo_inverse(s, steps=steps)[0]
    np.testing.assert_allclose(inverse, np.linalg.pinv(s), atol=1e-9 * np.linalg.norm(np.linalg.pinv(s)))
    # GD from zero also stays in the row space and reaches the minimum-norm solution.
    y = x @ np.random.default_rng(3).standard_normal(10)
    run = least_squares_gd(s, x.T @ y, iterations=20_000)
    np.testing.assert_allclose(run.estimate[0], np.linalg.lstsq(x, y, rcond=None)[0], atol=1e-8)


def test_residual_is_squared_exactly_and_matches_its_formula(tasks):
    run = iterative_newton(tasks.gram, steps=30)
    identity = np.eye(20)
    m = newton_alpha(tasks.gram)[:, None, None] * tasks.gram
    for _ in range(5):  # I - M_{k+1} S = (I - M_k S)^2, the identity behind quadratic convergence
        residual = identity - m @ tasks.gram
        m = 2 * m - m @ tasks.gram @ m
        np.testing.assert_allclose(identity - m @ tasks.gram, residual @ residual, atol=1e-12)
    theory = newton_residual_theory(tasks.gram, "frobenius", 30)
    above = theory > 1e-8  # before rounding (~1e-13) takes over
    np.testing.assert_allclose(run.residual_norms[above], theory[above], rtol=1e-6)
    rho = run.residual_norms
    local = (rho[:-1] <= 0.5) & (rho[1:] > 1e-10)
    assert local.sum() > 30
    assert np.all(rho[1:][local] <= rho[:-1][local] ** 2 + 1e-12)  # rounding: ~1e-14 absolute


def test_newton_errors_match_their_exact_arithmetic_formula(tasks):
    run = iterative_newton(tasks.gram, tasks.moment, steps=30)
    measured = tasks.prediction_error(run.estimates)
    theory = newton_error_theory(tasks.gram, tasks.weights, steps=30, weight=tasks.covariance)
    above = theory > 1e-8
    np.testing.assert_allclose(measured[above], theory[above], rtol=1e-5)


def test_newton_error_falls_quadratically_in_the_local_phase(tasks):
    run = iterative_newton(tasks.gram, tasks.moment, steps=40)
    euclidean = (np.linalg.norm(run.estimates - tasks.weights, axis=-1)
                 / np.linalg.norm(tasks.weights, axis=-1))
    for task in range(tasks.n_tasks):
        keep = (run.residual_norms[:-1, task] <= 0.5) & (euclidean[1:, task] > 1e-10)
        before, after = euclidean[:-1, task][keep], euclidean[1:, task][keep]
        # w_k - w* = -E_k w* with E_{k+1} = E_k^2 symmetric: Cauchy-Schwarz gives r_{k+1} >= r_k^2,
        # and r_{k+1} <= ||E_k||_2 r_k (Euclidean norm; rounding adds ~1e-13).
        assert np.all(after >= before**2 * (1 - 1e-6) - 1e-13)
        assert np.all(after <= run.residual_norms[:-1, task][keep] * before * (1 + 1e-6) + 1e-13)
    # The order of convergence (slope of ln r_{k+1} on ln r_k) in both norms: about 2 for the
    # typical task; a task whose dominant eigendirection changes mid-phase fits lower.
    for errors in (euclidean, tasks.prediction_error(run.estimates)):
        orders = []
        for task in range(tasks.n_tasks):
            keep = (run.residual_norms[:-1, task] <= 0.5) & (errors[1:, task] > 1e-10)
            if keep.sum() >= 3:
                before, after = errors[:-1, task][keep], errors[1:, task][keep]
                orders.append(np.polyfit(np.log(before), np.log(after), 1)[0])
        assert len(orders) > tasks.n_tasks / 2
        assert np.median(orders) == pytest.approx(2, abs=0.15) and min(orders) > 1.2


def test_the_printed_alpha_leaves_the_top_eigendirection_unsolved():
    s = spd_with_spectrum([4.0, 2.0, 1.0, 0.5])
    run = iterative_newton(s, steps=30, alpha="paper")
    # e_0(lambda_max) = 1 - 2 = -1, then e_k = 1 for every k >= 1 (to rounding squared 2^k times).
    assert np.all(run.residual_norms[1:31] > 0.99)
    assert np.all(iterative_newton(s, steps=30, alpha="optimal").residual_norms[-1] < 1e-12)


@settings(max_examples=40, deadline=None)
@given(st.floats(min_value=0.0, max_value=6.0), st.integers(2, 12), st.integers(0, 10_000))
def test_newton_reaches_pinv_in_log_condition_steps(log_kappa, dim, seed):
    kappa = 10.0**log_kappa
    s = spd_with_spectrum(np.geomspace(1.0, 1 / kappa, dim), seed)
    # (1 - alpha lambda_min^2)^(2^k) <= 1/2 after log2(1/(alpha lambda_min^2)) steps; then
    # six more squarings give 2^-64: machine precision.
    alpha = newton_alpha(s, "optimal")[0]
    steps = int(np.ceil(np.log2(1 / (alpha * (1 / kappa) ** 2)))) + 7
    inverse = newton_pseudo_inverse(s, steps=steps, alpha="optimal")[0]
    reference = np.linalg.inv(s)
    assert np.linalg.norm(inverse - reference) <= 1e-9 * kappa * np.linalg.norm(reference)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([1e-100, 1e-20, 1.0, 1e20, 1e100]), st.integers(0, 1000))
def test_newton_is_scale_invariant_at_huge_and_tiny_scales(scale, seed):
    s = spd_with_spectrum(np.geomspace(3.0, 0.01, 5), seed)
    np.testing.assert_allclose(newton_pseudo_inverse(scale * s, steps=40) * scale,
                               newton_pseudo_inverse(s, steps=40), rtol=1e-9)


def test_newton_in_float32_tracks_float64(tasks):
    inverse32 = newton_pseudo_inverse(tasks.gram.astype(np.float32), steps=40)
    assert inverse32.dtype == np.float32
    reference = np.linalg.pinv(tasks.gram)
    relative = np.linalg.norm(inverse32 - reference, axis=(1, 2)) / np.linalg.norm(reference, axis=(1, 2))
    # float32 rounding (6e-8) amplified by kappa(S) ~ 1e3: the error stays near 1e-4.
    assert np.median(relative) < 1e-3


def test_batched_runs_equal_single_runs(tasks):
    batch = iterative_newton(tasks.gram[:3], tasks.moment[:3], steps=12)
    for i in range(3):
        single = iterative_newton(tasks.gram[i], tasks.moment[i], steps=12)
        np.testing.assert_allclose(single.estimates[:, 0], batch.estimates[:, i], rtol=1e-12)


# -- gradient descent ---------------------------------------------------------------------------------
def test_best_fixed_step_is_the_minimax_step(tasks):
    values = np.linalg.eigvalsh(tasks.gram[:4])
    np.testing.assert_allclose(best_fixed_step(tasks.gram[:4]), 2 / (values[:, 0] + values[:, -1]),
                               rtol=1e-12)
    for lam, step in zip(values, best_fixed_step(tasks.gram[:4])):
        contraction = lambda eta, lam=lam: np.abs(1 - eta * lam).max()  # noqa: E731
        grid = np.linspace(0.5, 1.5, 2001) * step
        assert contraction(step) <= min(contraction(eta) for eta in grid) * (1 + 1e-12)
        kappa = lam[-1] / lam[0]
        assert contraction(step) == pytest.approx((kappa - 1) / (kappa + 1), rel=1e-10)


def test_gd_iterates_equal_the_closed_form(tasks):
    s, b = tasks.gram[0], tasks.moment[0]
    step = best_fixed_step(s)[0]
    for t in (0, 1, 2, 17, 150):
        run = least_squares_gd(s, b, iterations=t)
        # w_t = (I - (I - eta S)^t) S^{-1} X^T y from w_0 = 0
        closed = (np.eye(20) - np.linalg.matrix_power(np.eye(20) - step * s, t)) @ np.linalg.solve(s, b)
        np.testing.assert_allclose(run.estimate[0], closed, rtol=1e-8, atol=1e-10)
    long = least_squares_gd(tasks.gram, tasks.moment, iterations=60_000)
    np.testing.assert_allclose(long.estimate, tasks.least_squares(), atol=1e-8)


def test_gd_errors_match_their_formula_and_first_crossings_are_exact(tasks):
    times = np.arange(0, 301)
    levels = np.array([[0.5, 0.2, 0.1, 1e-3]] * tasks.n_tasks)
    run = least_squares_gd(tasks.gram, tasks.moment, iterations=300, error=tasks.prediction_error,
                           levels=levels, record_at=times, chunk=37)
    theory = gd_error_theory(tasks.gram, tasks.weights, times=times, weight=tasks.covariance)
    np.testing.assert_allclose(run.recorded_errors, theory, rtol=1e-8)
    below = run.recorded_errors[:, :, None] <= levels[None]
    brute = np.where(below.any(axis=0), below.argmax(axis=0), np.inf)
    np.testing.assert_array_equal(run.steps_to_reach, brute)
    same = least_squares_gd(tasks.gram, tasks.moment, iterations=300, error=tasks.prediction_error,
                            levels=levels, chunk=1)
    np.testing.assert_array_equal(same.steps_to_reach, run.steps_to_reach)


# -- one layer of linear self-attention ---------------------------------------------------------------
@pytest.fixture(scope="module")
def small():
    """d = 3, n = 5: small enough for Monte Carlo over many prompts."""
    return icl_tasks(400_000, dim=3, n_examples=5, kappa=4.0, seed=11)


def test_forward_matches_the_layer_formula_and_predict(tasks):
    model = LinearSelfAttention.initial(20, scale=0.3, seed=1)
    out = model.forward(tasks.features[:4], tasks.targets[:4], tasks.queries[:4])
    for p in range(4):
        z = embed(tasks.features[p:p + 1], tasks.targets[p:p + 1], tasks.queries[p:p + 1], 20)[0]
        mask = np.diag(np.r_[np.ones(40), 0.0])
        expected = z + model.value @ z @ mask @ z.T @ model.key_query @ z / 40
        np.testing.assert_allclose(out[p], expected, rtol=1e-11, atol=1e-9)
    np.testing.assert_allclose(model.predict(tasks.features[:4], tasks.targets[:4], tasks.queries[:4]),
                               out[:, -1, -1], rtol=1e-10)


def _finite_difference(loss, model, name, index, h=1e-6):
    def shifted(delta):
        value, key_query = model.value.copy(), model.key_query.copy()
        (value if name == "value" else key_query)[index] += delta
        return loss(LinearSelfAttention(value, key_query))
    return (shifted(h) - shifted(-h)) / (2 * h)


@pytest.mark.parametrize("which", ["empirical", "population"])
def test_gradients_match_finite_differences(tasks, which):
    model = LinearSelfAttention.initial(20, scale=0.05, seed=2)
    if which == "empirical":
        data = (tasks.features, tasks.targets, tasks.queries, tasks.query_targets)

        def loss_and_grads(m):
            return empirical_loss(m, *data)
    else:
        def loss_and_grads(m):
            return population_loss(m, tasks.covariance, 40)
    _, grad_value, grad_key_query = loss_and_grads(model)
    rng = np.random.default_rng(0)
    for name, grad in (("value", grad_value), ("key_query", grad_key_query)):
        for index in [(20, 3), (20, 20), (0, 0), (7, 19), (20, 0), (5, 20)] + [tuple(rng.integers(0, 21, 2))]:
            fd = _finite_difference(lambda m: loss_and_grads(m)[0], model, name, index)
            assert grad[index] == pytest.approx(fd, rel=1e-5, abs=1e-6 * max(1.0, abs(fd)))


def test_population_loss_agrees_with_monte_carlo_over_prompts(small):
    model = LinearSelfAttention.initial(3, scale=0.4, seed=5)
    exact, _, _ = population_loss(model, small.covariance, 5)
    prediction = model.predict(small.features, small.targets, small.queries)
    squares = (prediction - small.query_targets) ** 2
    standard_error = squares.std() / np.sqrt(squares.size)
    assert abs(squares.mean() - exact) < 5 * standard_error
    np.testing.assert_allclose(wishart_square(small.covariance, 5),
                               np.mean(np.einsum("tij,tjk->tik", small.gram / 5, small.gram / 5), axis=0),
                               rtol=0.02)


def test_gamma_star_minimises_the_population_loss(small):
    sigma, n = small.covariance, 5
    gamma = optimal_preconditioner(sigma, n)
    np.testing.assert_allclose(gamma, sigma @ np.linalg.inv(wishart_square(sigma, n)), rtol=1e-12)
    best = LinearSelfAttention(np.zeros((4, 4)), np.zeros((4, 4)))
    best.value[3, 3] = 1.0
    best.key_query[:3, :3] = gamma.T
    loss, grad_value, grad_key_query = population_loss(best, sigma, n)
    assert max(np.abs(grad_value).max(), np.abs(grad_key_query).max()) < 1e-10
    rng = np.random.default_rng(0)
    for _ in range(20):
        other = LinearSelfAttention(best.value + 0.01 * rng.standard_normal((4, 4)),
                                    best.key_query + 0.01 * rng.standard_normal((4, 4)))
        assert population_loss(other, sigma, n)[0] >= loss
    # The best scalar step, against SciPy's scalar minimiser on the same loss.
    def scalar_loss(eta):
        scalar = LinearSelfAttention(best.value, best.key_query.copy())
        scalar.key_query[:3, :3] = eta * np.eye(3)
        return population_loss(scalar, sigma, n)[0]
    found = minimize_scalar(scalar_loss, bounds=(0, 10), method="bounded", options={"xatol": 1e-12}).x
    assert best_scalar_step(sigma, n) == pytest.approx(found, rel=1e-6)


def test_trained_layer_computes_one_preconditioned_gd_step(tasks):
    training = train_population(tasks.covariance, 40, seed=1)
    gamma = optimal_preconditioner(tasks.covariance, 40)
    model = training.model
    k, b, v, v0 = model.parts
    assert np.linalg.norm(model.preconditioner - gamma) / np.linalg.norm(gamma) < 1e-3
    assert np.linalg.norm(b) * abs(v0) < 1e-4 and np.linalg.norm(v) < 1e-3 * np.linalg.norm(k) * abs(v0)
    inputs = (tasks.features, tasks.targets, tasks.queries)
    ours, step = model.predict(*inputs), preconditioned_gd_step(*inputs, gamma)
    assert np.linalg.norm(ours - step) / np.linalg.norm(step) < 1e-2
    # One preconditioned step by hand: w_1 = Gamma X^T y / n, prediction <w_1, x_q>.
    by_hand = np.einsum("td,td->t", tasks.queries, tasks.moment @ gamma.T / 40)
    np.testing.assert_allclose(step, by_hand, rtol=1e-12)


# -- the experiment ---------------------------------------------------------------------------------
def test_experiment_runs_small_and_its_summary_is_json():
    config = experiment.Config(n_tasks=8, newton_steps=30, gd_iterations=2000, paper_gd_steps=2000,
                               paper_newton_steps=21)
    result = experiment.run(config)
    summary = experiment.summary(result)
    json.dumps(summary, allow_nan=False)
    assert 1.5 < summary["median_convergence_order"] < 2.5
    assert summary["attention"]["vs_preconditioned_step"] < 1e-2
    steps = result.main.median_steps_to_match()
    assert steps[0] <= steps[10] <= steps[20]
    for fig in experiment.figures(result).values():
        plt.close(fig)


@pytest.fixture(scope="module")
def small_result():
    config = experiment.Config(n_tasks=12, newton_steps=30, gd_iterations=2000, paper_gd_steps=2000,
                               paper_newton_steps=21, attention_restarts=2)
    return experiment.run(config)


def test_order_and_matching_estimates_are_statistics_over_the_tasks(small_result):
    result = small_result
    orders = result.convergence_orders()
    estimate = result.order_estimate()
    finite = orders[np.isfinite(orders)]
    half = 2 * finite.std(ddof=1) / np.sqrt(finite.size)
    assert estimate.value == pytest.approx(finite.mean())
    assert (estimate.low, estimate.high) == pytest.approx((finite.mean() - half, finite.mean() + half))
    assert f"over {finite.size} tasks" in estimate.method
    k = result.config.paper_newton_steps
    gd = result.gd_steps_matching_estimate(k)
    column = result.main.steps_to_match[:, k]
    assert (gd.value, gd.low, gd.high) == (result.gd_steps_matching(k), column.min(), column.max())
    t = result.config.paper_gd_steps
    per_task = result.newton_steps_to_reach_gd(t)
    assert np.median(per_task) == result.newton_steps_matching(t)
    assert result.newton_steps_matching_estimate(t).value == pytest.approx(per_task.mean())


def test_quadratic_regime_is_chosen_from_exact_arithmetic_and_fits_order_two(small_result):
    result, config = small_result, small_result.config
    tasks, alpha = result.main.tasks, result.main.newton.alpha
    # The slowest direction's error by hand: (1 - alpha lambda_min^2)^(2^k) u_min <u_min, w*> in the Sigma norm.
    values, vectors = np.linalg.eigh(tasks.gram)
    root = np.linalg.cholesky(tasks.covariance)
    for task in range(tasks.n_tasks):
        u = vectors[task][:, 0]
        size = abs(u @ tasks.weights[task]) * np.linalg.norm(u @ root) / np.linalg.norm(tasks.weights[task] @ root)
        factor = (1 - alpha[task] * values[task, 0] ** 2) ** (2.0 ** np.arange(config.newton_steps + 1))
        above = factor * size > 1e-150  # below, its square in the norm underflows
        np.testing.assert_allclose(result.slowest_direction_errors[above, task], (factor * size)[above], rtol=1e-9)
    dominance = result.dominance()
    assert np.nanmax(np.abs(dominance[-1] - 1)) < 1e-6 or np.all(np.isnan(dominance[-1]))
    regime = result.in_quadratic_regime()
    np.testing.assert_array_equal(regime, np.abs(dominance - 1) <= config.dominance_tolerance)
    orders = result.convergence_orders()
    for task in range(tasks.n_tasks):
        before, after = result.quadratic_pairs(task)
        local_before, _ = result.local_pairs(task)
        assert set(before.tolist()) <= set(local_before.tolist())  # a part of the local phase
        assert np.all(after >= config.error_floor)
        if before.size >= 2:
            assert orders[task] == pytest.approx(np.polyfit(np.log(before), np.log(after), 1)[0])
        else:
            assert np.isnan(orders[task])
    # Where one direction carries the error, r_{k+1} = C r_k^2 and the order is 2.
    assert np.nanmin(orders) > 1.9 and np.nanmax(orders) < 2.1
    earlier = result.local_phase_orders()
    assert np.isfinite(earlier).sum() >= np.isfinite(orders).sum()
    assert result.local_phase_order_estimate().value == pytest.approx(np.nanmean(earlier))
    start = result.quadratic_regime_start()
    assert np.all(start >= result.local_phase_start())


def test_per_task_fits_of_the_matching_curve(small_result):
    matching, floor = small_result.main, small_result.config.error_floor
    slopes, r2s = matching.task_fits(floor)
    ks = matching.fit_range(floor)
    assert slopes.shape == r2s.shape == (matching.tasks.n_tasks,)
    for task in range(matching.tasks.n_tasks):
        steps = matching.steps_to_match[task, ks]
        keep = np.isfinite(steps) & (steps >= 1)
        if keep.sum() < 3:
            assert np.isnan(slopes[task])
            continue
        slope, intercept = np.polyfit(ks[keep], np.log(steps[keep]), 1)
        assert slopes[task] == pytest.approx(slope)
        assert r2s[task] <= 1 + 1e-12
    assert matching.slope_estimate(floor).value == pytest.approx(np.nanmean(slopes))
    assert matching.r2_estimate(floor).value == pytest.approx(np.nanmean(r2s))
    # A task whose t(k) is exactly exponential has slope ln 2 and R^2 = 1.
    exact = experiment.Matching.__new__(experiment.Matching)
    exact.tasks = type("T", (), {"n_tasks": 1})()
    exact.gd = type("G", (), {"steps_to_reach": 3.0 * 2.0 ** np.arange(10)[None]})()
    exact.fit_range = lambda floor: np.arange(10)
    slope, r2 = exact.task_fits(1e-10)
    assert slope[0] == pytest.approx(np.log(2)) and r2[0] == pytest.approx(1.0)


def test_attention_is_trained_from_every_random_start(small_result):
    result = small_result
    assert len(result.attention_restarts) == result.config.attention_restarts == 2
    assert result.attention is result.attention_restarts[0]
    np.testing.assert_array_equal(result.restart_predictions[0], result.attention_predictions)
    differences = result.restart_differences()
    assert differences[0] == result.attention_vs_preconditioned()
    estimate = result.attention_difference_estimate()
    assert estimate.low >= 1e-4 and estimate.high == max(differences.max(), 1e-4)
    assert np.all(result.restart_preconditioner_errors() < 1e-2)
    # different starts, the same layer
    first, second = (t.model.preconditioner for t in result.attention_restarts)
    np.testing.assert_allclose(first, second, rtol=0, atol=1e-3 * np.abs(first).max())


# -- bad input ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: icl_tasks(0), ValueError, "n_tasks"),
        (lambda: icl_tasks(4, kappa=0.5), ValueError, "kappa"),
        (lambda: icl_tasks(4, kappa=float("nan")), ValueError, "kappa"),
        (lambda: icl_tasks(4, kappa="big"), TypeError, "kappa"),
        (lambda: icl_tasks(4, spectrum="flat"), ValueError, "spectrum"),
        (lambda: icl_tasks(4, seed=-1), ValueError, "seed"),
        (lambda: icl_tasks(4, dtype=np.int64), TypeError, "dtype"),
        (lambda: icl_tasks(4).prediction_error(np.zeros((3, 20))), ValueError, "estimates"),
        (lambda: covariance_with_spectrum([1.0, -1.0], np.random.default_rng(0)), ValueError, "eigenvalues"),
        (lambda: iterative_newton(np.ones((3, 4)), steps=2), ValueError, "gram"),
        (lambda: iterative_newton(np.array([[1.0, 2.0], [0.0, 1.0]]), steps=2), ValueError, "symmetric"),
        (lambda: iterative_newton(np.array([[np.nan, 0], [0, 1.0]]), steps=2), ValueError, "NaN"),
        (lambda: iterative_newton(np.eye(2).astype(complex), steps=2), TypeError, "real"),
        (lambda: iterative_newton(np.eye(2), steps=-1), ValueError, "steps"),
        (lambda: iterative_newton(np.eye(2), np.ones(3), steps=2), ValueError, "moment"),
        (lambda: iterative_newton(np.eye(2), steps=2, alpha="huge"), ValueError, "alpha"),
        (lambda: iterative_newton(np.eye(2), steps=2, alpha=-1.0), ValueError, "alpha"),
        (lambda: best_fixed_step(-np.eye(2)), ValueError, "semi-definite"),
        (lambda: least_squares_gd(np.eye(2), np.ones(2), iterations=3, step=0.0), ValueError, "step"),
        (lambda: least_squares_gd(np.eye(2), np.ones(2), iterations=3, step="1"), TypeError, "step"),
        (lambda: least_squares_gd(np.eye(2), np.ones(2), iterations=3, levels=np.ones((1, 2))), TypeError,
         "error"),
        (lambda: least_squares_gd(np.eye(2), np.ones(2), iterations=3, error=np.abs, record_at=[5]),
         ValueError, "record_at"),
        (lambda: population_loss(LinearSelfAttention.initial(2), np.eye(3), 5), ValueError, "covariance"),
        (lambda: optimal_preconditioner(np.diag([1.0, -1.0]), 5), ValueError, "positive definite"),
        (lambda: optimal_preconditioner(np.eye(2), 0), ValueError, "n must be"),
        (lambda: LinearSelfAttention(np.eye(3), np.eye(4)), ValueError, "d\\+1"),
        (lambda: LinearSelfAttention.initial(2).predict(np.ones((1, 5, 3)), np.ones((1, 5)), np.ones((1, 3))),
         ValueError, "features"),
        (lambda: LinearSelfAttention.initial(2).predict(np.ones((1, 5, 2)), np.ones((1, 4)), np.ones((1, 2))),
         ValueError, "targets"),
        (lambda: preconditioned_gd_step(np.ones((1, 5, 2)), np.ones((1, 5)), np.ones((1, 2)), np.eye(3)),
         ValueError, "preconditioner"),
        (lambda: experiment.Config(n_examples=10), ValueError, "n_examples"),
        (lambda: experiment.Config(alpha="fast"), ValueError, "alpha"),
        (lambda: experiment.Config(paper_gd_steps=10**6), ValueError, "paper_gd_steps"),
        (lambda: experiment.Config(error_floor=0.0), ValueError, "error_floor"),
        (lambda: experiment.Config(attention_restarts=1), ValueError, "attention_restarts"),
        (lambda: experiment.Config(dominance_tolerance=1.0), ValueError, "dominance_tolerance"),
    ],
)
def test_bad_input_is_rejected(call, error, match):
    with pytest.raises(error, match=match):
        call()
