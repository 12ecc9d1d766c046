"""The SGD chapter's experiment at a tiny scale: what it computes matches direct formulas."""

import json

import matplotlib.pyplot as plt
import numpy as np
import pytest

from memopt import cli
from memopt import claims
from memopt.experiments import sgd

TINY = sgd.Config(runs=4, iterations=400, constant_steps=(0.2, 0.05), batch_sizes=(1, 4), gd_iterations=10,
                  growing_max_batch=300, cv_draws=4000)


@pytest.fixture(scope="module")
def result():
    return sgd.run(TINY)


def test_runs_cover_every_setting(result):
    assert set(result.constant) == {0.2, 0.05} and set(result.batches) == {1, 4}
    assert result.decreasing.runs == 4 and result.gd.runs == 1
    assert result.step_pairs() == [(0.2, 0.05)]
    np.testing.assert_allclose(result.x0, np.ones(10))


def test_bounds_are_the_lectures_formulas(result):
    trace = result.constant[0.2]
    sigma_sq = (trace.second_moments).mean(axis=0).max()
    assert result.sigma_sq(trace) == pytest.approx(sigma_sq)
    assert result.floor_bound(0.2, trace) == pytest.approx(result.L * sigma_sq * 0.2 / (4 * result.mu))
    dec = result.decreasing
    assert result.decreasing_bound() == pytest.approx(
        result.L * dec.second_moments.mean(axis=0).max() / (2 * result.mu**2))
    k, scaled = result.decreasing_scaled_gap()
    assert k[0] == 1
    np.testing.assert_allclose(scaled, k * (dec.values.mean(axis=0)[dec.iterations >= 1] - result.f_star))


def test_window_bound_by_hand(result):
    trace = result.batches[4]
    window = trace.iterations >= TINY.floor_window * trace.iterations[-1]
    k = trace.iterations[window]
    gap0 = trace.values.mean(axis=0)[window][0] - result.f_star
    sigma0 = trace.batch_second_moment(4).mean(axis=0)[window].max()
    expected = np.mean((1 - 2 * 0.1 * result.mu) ** (k - k[0]) * gap0) + result.L * sigma0 * 0.1 / (4 * result.mu)
    assert result.window_bound(0.1, trace, 4) == pytest.approx(expected)


def test_figures_are_labelled_and_summary_is_json(result):
    for fig in sgd.figures(result).values():
        for ax in fig.axes:
            assert ax.get_xlabel() and ax.get_ylabel()
        plt.close(fig)
    summary = sgd.summary(result)
    json.dumps(summary)
    assert set(summary["batch_floors"]) == {"1", "4"}


@pytest.mark.parametrize(
    "changes, match",
    [({"mu": 0.0}, "mu must be > 0"), ({"constant_steps": (0.5,)}, r"\(0, 1/\(2 mu\)\)"),
     ({"batch_step": -0.1}, "constant steps"), ({"runs": 1}, "runs >= 2"),
     ({"momentum_effective_step": 0.07}, "one of the constant steps"),
     ({"momentum_betas": (0.5, 1.0)}, r"betas must lie in \(0, 1\)"),
     ({"growing_rhos": (1.0,)}, r"rho in \(0, 1\)"), ({"growing_initial": 0.5}, "B_0 >= 1"),
     ({"growing_step": 2.0}, r"\(0, 1/mu\]"), ({"cv_coordinate": 10}, "cv_coordinate")],
)
def test_config_rejects_settings_the_theorems_exclude(changes, match):
    with pytest.raises(ValueError, match=match):
        sgd.Config(**changes)


def test_cli_lists_and_runs_with_a_cache(tmp_path, monkeypatch, capsys):
    assert cli.main(["list"]) == 0
    assert "sgd" in capsys.readouterr().out
    monkeypatch.setitem(sgd.SCALES, "book", TINY)
    args = ["run", "sgd", "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"), "--quiet"]
    assert cli.main(args) == 0
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "summary.json", "constant_steps.png", "decreasing_step.png", "batches.png", "momentum.png",
        "control_variate.png", "growing_batch.png"}
    monkeypatch.setattr(sgd, "run", lambda *a, **k: pytest.fail("the cached result was not used"))
    assert cli.main(args) == 0


def test_cli_reports_bad_requests(capsys):
    assert cli.main(["run", "sgd", "--scale", "galactic", "--no-cache"]) == 2
    assert "scale must be one of" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["run", "no-such-experiment"])


@pytest.mark.skipif(__import__("memopt.backend").backend.gpu_available(), reason="this machine has a GPU")
def test_cli_refuses_a_missing_gpu(capsys):
    assert cli.main(["run", "sgd", "--device", "gpu", "--no-cache"]) == 2
    assert "no CUDA device" in capsys.readouterr().err


def test_floors_are_means_over_runs_with_their_error(result):
    trace = result.constant[0.05]
    window = trace.iterations >= TINY.floor_window * trace.iterations[-1]
    per_run = (trace.values[:, window] - result.f_star).mean(axis=1)
    np.testing.assert_allclose(result.run_floors(trace), per_run)
    estimate = result.floor_estimate(trace)
    assert estimate.value == pytest.approx(result.floor(trace))
    half = 2 * per_run.std(ddof=1) / np.sqrt(per_run.size)
    assert (estimate.low, estimate.high) == pytest.approx((per_run.mean() - half, per_run.mean() + half))
    assert "4 runs" in estimate.method
    ratio = result.floor_ratio(result.constant[0.2], trace)
    assert ratio.value == pytest.approx(result.floor(result.constant[0.2]) / result.floor(trace))
    assert ratio.low < ratio.value < ratio.high


def test_ratio_of_means_is_the_delta_method():
    rng = np.random.default_rng(0)
    b = rng.normal(10.0, 1.0, 50)
    a = 3 * b + rng.normal(0.0, 0.5, 50)
    estimate = claims.ratio_of_means(a, b)
    ratio = a.mean() / b.mean()
    # By hand: the ratio's standard error from the linearisation (a - R b) / mean(b).
    se = np.std(a - ratio * b, ddof=1) / np.sqrt(50) / b.mean()
    assert estimate.value == pytest.approx(ratio)
    assert estimate.high - estimate.value == pytest.approx(2 * se, rel=1e-9)
    # Perfectly proportional samples have an exact ratio: no uncertainty.
    exact = claims.ratio_of_means(4 * b, b)
    assert exact.value == pytest.approx(4.0) and exact.high - exact.low == pytest.approx(0.0, abs=1e-12)
    # Over many repetitions the interval covers the true ratio about 95% of the time.
    covered = 0
    for seed in range(400):
        r = np.random.default_rng(seed)
        x, y = r.normal(2.0, 0.5, 64), r.normal(1.0, 0.2, 64)
        e = claims.ratio_of_means(x, y)
        covered += e.low <= 2.0 <= e.high
    assert 0.90 <= covered / 400 <= 0.99
    with pytest.raises(ValueError, match="equal length"):
        claims.ratio_of_means([1.0, 2.0], [1.0])


def test_max_of_means_brackets_the_curve():
    samples = np.array([[1.0, 5.0, 2.0], [3.0, 7.0, 2.0], [2.0, 6.0, 2.0]])
    estimate = claims.max_of_means(samples)
    se = 2 * samples.std(axis=0, ddof=1) / np.sqrt(3)
    assert estimate.value == 6.0
    assert estimate.low == pytest.approx(6.0 - se[1]) and estimate.high == pytest.approx(6.0 + se[1])
    with pytest.raises(ValueError, match="at least 2"):
        claims.max_of_means(np.ones((1, 3)))


def test_decreasing_estimate_is_the_checked_maximum(result):
    estimate = result.decreasing_scaled_gap_estimate()
    assert estimate.value == pytest.approx(result.decreasing_scaled_gap()[1].max())
    assert estimate.low <= estimate.value <= estimate.high
    assert 0 < result.sigma_sq_error(result.constant[0.2]) < 1


# -- momentum --------------------------------------------------------------------------------------

def test_momentum_runs_share_the_reference_seeds(result):
    assert set(result.momentum) == {(n, b) for n in ("heavy ball", "Nesterov") for b in (0.5, 0.9)}
    assert result.momentum_reference is result.constant[0.05]
    assert result.momentum_step(0.9) == pytest.approx(0.005)
    trace = result.momentum[("Nesterov", 0.9)]
    again = sgd.sgd(result.problem, result.x0, 0.005, iterations=TINY.iterations, seeds=TINY.seeds,
                    momentum=0.9, nesterov=True)
    np.testing.assert_allclose(trace.final_x, again.final_x, rtol=1e-11, atol=1e-14)  # SIMD sums may regroup


def test_momentum_floor_machinery_by_hand(result):
    trace, reference = result.momentum[("heavy ball", 0.5)], result.momentum_reference
    ratio = result.momentum_floor_ratio("heavy ball", 0.5)
    expected = claims.ratio_of_means(result.run_floors(trace), result.run_floors(reference))
    assert (ratio.value, ratio.low, ratio.high) == pytest.approx((expected.value, expected.low, expected.high))
    k, gaps = trace.iterations, trace.values - result.f_star
    late = gaps[:, k >= 300].mean(axis=1)
    early = gaps[:, (k >= 200) & (k < 300)].mean(axis=1)
    assert result.floor_persistence(trace).value == pytest.approx(late.mean() / early.mean())
    low, high = result.momentum_band()
    assert (low, high) == pytest.approx((1 - 0.1 * result.L, 1 + 0.1 * result.L))


def test_quadratic_floor_against_scalar_closed_forms():
    h, s2, alpha, beta = 1.3, 0.7, 0.04, 0.6
    # SGD: e' = (1 - a h) e - a xi has variance a^2 s2 / (1 - (1 - a h)^2); E f - f* = h var / 2.
    sgd_var = alpha**2 * s2 / (1 - (1 - alpha * h) ** 2)
    assert sgd.quadratic_floor([[h]], [[s2]], alpha) == pytest.approx(h * sgd_var / 2, rel=1e-12)
    # Heavy ball: the AR(2) e' = (1 + b - a h) e - b e_prev - a xi, whose stationary variance is
    # a^2 s2 (1 + b) / ((1 - b)((1 + b)^2 - (1 + b - a h)^2)).
    phi1 = 1 + beta - alpha * h
    hb_var = alpha**2 * s2 * (1 + beta) / ((1 - beta) * ((1 + beta) ** 2 - phi1**2))
    assert sgd.quadratic_floor([[h]], [[s2]], alpha, beta) == pytest.approx(h * hb_var / 2, rel=1e-10)


def test_quadratic_floor_nesterov_by_simulation_and_first_order():
    h = np.diag([1.0, 2.0])
    sigma = np.array([[1.0, 0.3], [0.3, 0.5]])
    alpha, beta = 0.05, 0.5
    # Sum the stationary covariance directly: P = sum_t A^t B Sigma B^T (A^t)^T.
    eye = np.eye(2)
    a = np.block([[eye - alpha * (1 + beta) * h, -alpha * beta**2 * eye], [h, beta * eye]])
    b = np.vstack([-alpha * (1 + beta) * eye, eye])
    p, term = np.zeros((4, 4)), b @ sigma @ b.T
    for _ in range(4000):
        p += term
        term = a @ term @ a.T
    assert sgd.quadratic_floor(h, sigma, alpha, beta, nesterov=True) == pytest.approx(
        0.5 * np.trace(h @ p[:2, :2]), rel=1e-9)
    # To first order in alpha every method's floor is alpha tr(Sigma) / (4 (1 - beta)).
    for beta, nesterov in [(0.0, False), (0.5, False), (0.9, True)]:
        tiny = 1e-5
        floor = sgd.quadratic_floor(h, sigma, tiny, beta, nesterov)
        assert floor == pytest.approx(tiny * np.trace(sigma) / (4 * (1 - beta)), rel=1e-3)


# -- control variate -------------------------------------------------------------------------------

def test_control_variate_closed_forms_match_simulation(result):
    cv = result.control
    assert cv.mean_y == pytest.approx(cv.y_values.mean(), abs=1e-14)  # E[Y] is the full gradient
    assert cv.mean_x == pytest.approx(cv.x_values.mean(), abs=1e-14)
    many = sgd.ControlVariate(cv.x_values, cv.y_values, cv.mean_y, cv.mean_x,
                              np.random.default_rng(1).integers(0, cv.x_values.size, 400_000))
    for alpha in (0.0, 0.3, 1.0, 1.2):
        z = many.estimator(alpha)
        assert z.mean() == pytest.approx(many.closed_mean(alpha), abs=5e-3)
        assert z.var() == pytest.approx(many.closed_variance(alpha), rel=2e-2, abs=1e-12)
        assert np.mean((z - cv.mean_x) ** 2) == pytest.approx(many.closed_mse(alpha), rel=2e-2)
    assert many.mse_minimizer().value == pytest.approx(cv.mse_optimal_alpha, rel=1e-2)
    # The lecture's variance identity over the exact population (every sample once).
    population = sgd.ControlVariate(cv.x_values, cv.y_values, cv.mean_y, cv.mean_x, np.arange(cv.x_values.size))
    assert population.estimator(0.7).var() == pytest.approx(population.closed_variance(0.7), rel=1e-10)
    c = cv.classical_coefficient
    assert population.classical(c).var() == pytest.approx(cv.classical_variance, rel=1e-10)
    # c* minimises the variance of X - c (Y - E Y): a brute-force scan agrees.
    grid = np.linspace(c - 0.5, c + 0.5, 1001)
    scanned = grid[np.argmin([population.classical(g).var() for g in grid])]
    assert scanned == pytest.approx(c, abs=1e-3)
    alphas = np.linspace(0, 1.5, 1501)
    assert alphas[np.argmin(cv.closed_mse(alphas))] == pytest.approx(cv.mse_optimal_alpha, abs=1e-3)


def test_variance_with_error_and_jackknife_by_hand():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(5000)
    v = claims.variance_with_error(x)
    c = x - x.mean()
    se = np.sqrt(((c**4).mean() - x.var(ddof=1) ** 2) / x.size)
    assert v.value == pytest.approx(x.var(ddof=1)) and v.high - v.value == pytest.approx(2 * se)
    # For the mean itself the jackknife standard error is the usual s / sqrt(R).
    samples = rng.standard_normal((12, 3))
    jack = claims.jackknife(lambda mean: mean[0], samples)
    assert jack.value == pytest.approx(samples[:, 0].mean())
    assert jack.high - jack.value == pytest.approx(2 * samples[:, 0].std(ddof=1) / np.sqrt(12))
    assert sgd.log_slope([0, 1, 2], [1.0, 0.5, 0.25]) == pytest.approx(np.log(0.5))
    with pytest.raises(ValueError, match="at least 2"):
        claims.variance_with_error([1.0])
    with pytest.raises(ValueError, match="at least 2"):
        claims.jackknife(np.mean, np.ones((1, 3)))


# -- growing batches -------------------------------------------------------------------------------

def test_growing_runs_and_the_theorems_constants(result):
    assert set(result.growing) == {0.9, 0.8}
    trace = result.growing[0.9]
    steps = TINY.growing_iterations(0.9)
    assert 0.9 ** (-steps) >= TINY.growing_max_batch > 0.9 ** (-(steps - 1))
    np.testing.assert_array_equal(trace.iterations, np.arange(steps + 1))
    np.testing.assert_array_equal(trace.samples, [result.growing_schedule(0.9).total(k) for k in range(steps + 1)])
    m = (trace.second_moments - trace.gradient_norms_sq).mean(axis=0).max()
    omega, zeta = result.growing_theory(0.9)
    assert omega == pytest.approx(max(0.25 * result.L * m / result.mu, result.initial_gap))
    assert zeta == pytest.approx(max(1 - 0.25 * result.mu / 2, 0.9))
    assert result.growing_theory(0.8)[1] == pytest.approx(0.875)
    bound = result.growing_bound_estimate(0.9)
    scaled = (trace.values.mean(axis=0) - result.f_star) / (omega * zeta ** trace.iterations)
    assert bound.value == pytest.approx(scaled[1:].max())


def test_growing_fits_by_hand(result):
    trace = result.growing[0.8]
    keep = trace.iterations >= trace.iterations[-1] / 3
    mean = trace.values.mean(axis=0)[keep] - result.f_star
    slope = np.polyfit(trace.iterations[keep], np.log(mean), 1)[0]
    assert result.growing_contraction(0.8).value == pytest.approx(np.exp(slope))
    exponent = -np.polyfit(np.log(trace.samples[keep]), np.log(mean), 1)[0]
    assert result.growing_sample_exponent(0.8).value == pytest.approx(exponent)
    gaps = trace.values.mean(axis=0) - result.f_star
    first = np.flatnonzero(gaps <= 1e-2)[0]
    assert result.samples_to_gap(trace, 1e-2) == trace.samples[first]
    assert result.samples_to_gap(trace, 0.0) is None
    costs = result.sample_costs()
    assert set(costs) >= {"growing batch, ρ = 0.8", "decreasing step", "constant α = 0.2"}
    assert result.theory_samples_to_gap(0.9, 1e-3) >= 1
