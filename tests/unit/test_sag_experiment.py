"""The SAG chapter's experiment at a tiny scale: its derived quantities against direct formulas."""

import dataclasses
import json

import matplotlib.pyplot as plt
import numpy as np
import pytest

from memopt.experiments import sag
from memopt.experiments.sag import Config, ProblemSpec
from memopt.optim import InverseTimeStep

TINY = Config(
    lecture=ProblemSpec(40, 4, 1.0, seed=0),
    large=ProblemSpec(120, 6, 1e-2, seed=1, feature_scale=0.3),
    heterogeneous=ProblemSpec(60, 4, 1e-2, seed=2, row_scale_range=(0.1, 10.0)),
    runs=3, large_runs=2, theorem_runs_large=2, lecture_passes=30, large_passes=30,
    heterogeneous_passes=30, convex=ProblemSpec(40, 3, 0.0, seed=3), convex_runs=3, convex_passes=20,
)


@pytest.fixture(scope="module")
def result():
    return sag.run(TINY)


def test_every_method_ran_on_both_problems(result):
    for runs in (result.lecture, result.large):
        assert set(runs.traces) == {sag.GD_LABEL, sag.DECREASING_LABEL, sag.SAG_THEORY, sag.SAG_PRACTICAL,
                                    sag.SAGA_LABEL, sag.SVRG_LABEL, sag.TUNED_LABEL,
                                    *map(sag.sgd_label, TINY.sgd_steps)}
        for label, trace in runs.traces.items():
            assert runs.passes(label)[-1] <= runs.budget + 1e-9, label
    assert result.large.traces[sag.SAG_THEORY].runs == 2 and result.large.traces[sag.SAGA_LABEL].runs == 2


def test_sag_bound_is_theorem_1(result):
    runs = result.lecture
    p, trace = runs.problem, runs.traces[sag.SAG_THEORY]
    rate = 1 - min(p.mu / (16 * p.L_max), 1 / (8 * p.n_samples))
    c0 = 1.5 * (p.value(runs.x0) - runs.f_star) + 4 * p.L_max / p.n_samples * np.sum((runs.x0 - runs.optimum.x) ** 2)
    np.testing.assert_allclose(runs.sag_bound(trace), rate ** trace.iterations * c0)
    gaps = trace.values.mean(axis=0) - runs.f_star
    assert runs.bound_ratio() == pytest.approx(np.max(gaps / (rate ** trace.iterations * c0)))


def test_passes_to_reads_the_mean_curve(result):
    runs = result.lecture
    gap, passes = runs.gap(sag.SAGA_LABEL), runs.passes(sag.SAGA_LABEL)
    first = np.flatnonzero(gap <= 1e-6)[0]
    assert runs.passes_to(sag.SAGA_LABEL, 1e-6) == passes[first]
    assert runs.passes_to(sag.sgd_label(1.0), 1e-30) == np.inf
    best = min(runs.gap(sag.sgd_label(m)).min() for m in TINY.sgd_steps)
    assert runs.best_sgd_gap(TINY.sgd_steps) == best


def test_memory_table_counts_the_arrays(result):
    n, p = result.large.problem.n_samples, result.large.problem.n_features
    bytes_of = {(r["method"], r["table"]): r["bytes"] for r in result.memory}
    assert bytes_of[("GD / SGD", "none")] == 8 * p
    assert bytes_of[("SAG", "glm")] == 8 * (n + 2 * p)
    assert bytes_of[("SAG", "generic")] == 8 * (n * p + 2 * p)
    assert bytes_of[("SVRG", "none")] == 8 * 3 * p


def test_sklearn_agreement_and_outputs(result):
    for runs in (result.lecture, result.large):
        for solver in ("sag", "lbfgs"):
            assert result.relative_gap_to_sklearn(runs, solver) < 1e-8
    json.dumps(sag.summary(result))
    for fig in sag.figures(result).values():
        for ax in fig.axes:
            assert ax.get_xlabel() and ax.get_ylabel()
        plt.close(fig)


def test_config_is_validated():
    with pytest.raises(ValueError, match="2 runs"):
        Config(runs=1)
    with pytest.raises(ValueError, match="budgets"):
        Config(large_passes=0)
    with pytest.raises(ValueError, match="sgd_steps"):
        Config(sgd_steps=())
    with pytest.raises(ValueError, match="tuning grid"):
        Config(tuned_k0_passes=(0.0, 1.0))
    with pytest.raises(ValueError, match="seeds apart"):
        Config(tuning_seed=3)
    with pytest.raises(ValueError, match="must be > 0"):
        InverseTimeStep(0.0, 10.0)
    with pytest.raises(ValueError, match="mu = 0"):
        Config(convex=ProblemSpec(200, 10, 1.0, seed=0))
    with pytest.raises(ValueError, match="backtracking_init"):
        Config(backtracking_init=0.0)
    with pytest.raises(ValueError, match="2 runs and 1 pass"):
        Config(convex_runs=1)


def test_per_run_passes_and_their_statistics(result):
    runs = result.lecture
    label = sag.SAGA_LABEL
    gaps, passes = runs.traces[label].values - runs.f_star, runs.passes(label)
    by_hand = [passes[np.flatnonzero(row <= 1e-6)[0]] for row in gaps]
    np.testing.assert_array_equal(runs.run_passes_to(label, 1e-6), by_hand)
    assert np.all(runs.run_passes_to(sag.sgd_label(1.0), 1e-30) == np.inf)
    estimate = runs.passes_estimate(label, 1e-6)
    assert (estimate.value, estimate.low, estimate.high) == (np.median(by_hand), min(by_hand), max(by_hand))
    # The mean curve reaches the gap no earlier than the fastest run.
    assert runs.passes_to(label, 1e-6) >= estimate.low
    difference = runs.passes_difference(sag.SAG_THEORY, label, 1e-6)
    expected = runs.run_passes_to(sag.SAG_THEORY, 1e-6) - np.array(by_hand)
    assert difference.value == pytest.approx(expected.mean())
    assert "3 pairs of runs" in difference.method


def test_sgd_lowest_and_the_bound_interval(result):
    runs = result.lecture
    lowest = np.min([runs.traces[sag.sgd_label(m)].values.min(axis=1) for m in TINY.sgd_steps], axis=0) - runs.f_star
    estimate = runs.sgd_lowest(TINY.sgd_steps)
    assert estimate.low == pytest.approx(lowest.min()) and estimate.high == pytest.approx(lowest.max())
    assert estimate.low <= runs.best_sgd_gap(TINY.sgd_steps)
    bound = runs.bound_ratio_estimate()
    assert bound.value == pytest.approx(runs.bound_ratio())
    assert bound.low <= bound.value <= bound.high and "3 runs" in bound.method


def test_inverse_time_step_and_its_sgd():
    step = InverseTimeStep(0.5, 20.0)
    assert step(0) == 0.5 and step(20) == pytest.approx(0.25) and step(1980) == pytest.approx(0.5 * 20 / 2000)
    assert "0.5" in step.describe()
    problem = TINY.lecture.build()
    method = sag.tuned_method(problem, 0.3, 2.0)
    assert method.schedule == InverseTimeStep(0.3 / problem.L_max, 2.0 * problem.n_samples)
    # One step by hand: x1 = x0 - alpha_0 (grad f_i(x0)) for the drawn index.
    x0 = np.full((1, problem.n_features), 0.2)
    method.start(problem, x0)
    indices = np.array([[3]])
    expected = x0 - method.schedule(0) * problem.batch_gradient(x0, indices)
    np.testing.assert_allclose(method.step(problem, x0, indices, 0), expected, rtol=1e-12)


def test_tuning_scores_every_grid_point_on_its_own_seeds(result):
    runs = result.lecture
    tuning = runs.tuning
    assert set(tuning.scores) == {(a, k) for a in TINY.tuned_steps for k in TINY.tuned_k0_passes}
    assert tuning.scores[tuning.best] == min(tuning.scores.values())
    assert tuning.scores[tuning.runner_up] == sorted(tuning.scores.values())[1]
    # A score is the mean final gap of the tuning runs, whose seeds the compared runs do not use.
    a, k0 = tuning.best
    seeds = range(TINY.tuning_seed, TINY.tuning_seed + TINY.tuning_runs)
    iterations = runs.budget * runs.problem.n_samples
    again = sag.run_batched(runs.problem, sag.tuned_method(runs.problem, a, k0), runs.x0,
                            iterations=iterations, seeds=seeds, log_at=np.array([0, iterations]))
    assert tuning.scores[a, k0] == pytest.approx(float((again.values[:, -1] - runs.f_star).mean()), rel=1e-12)
    assert runs.traces[sag.TUNED_LABEL].runs == TINY.runs
    assert tuning.on_edge(dataclasses.replace(TINY, tuned_k0_passes=(k0,)))


def test_rate_statistics_by_hand(result):
    runs = result.large
    label = sag.TUNED_LABEL
    trace = runs.traces[label]
    gaps = trace.values - runs.f_star
    half = int(np.argmin(np.abs(trace.iterations - trace.iterations[-1] / 2)))
    assert trace.iterations[half] == trace.iterations[-1] / 2
    exponent = runs.doubling_exponent(label)
    assert exponent.value == pytest.approx(np.log2(gaps[:, half].mean() / gaps[:, -1].mean()))
    assert exponent.low <= exponent.value <= exponent.high and "log2 of a ratio of means" in exponent.method
    lowest = runs.lowest_estimate(label)
    assert (lowest.low, lowest.high) == (gaps.min(axis=1).min(), gaps.min(axis=1).max())
    sag_runs = [runs.run_passes_to(sag.SAG_PRACTICAL, g) for g in (1e-2, 1e-6, 1e-10)]
    ratios = (sag_runs[2] - sag_runs[1]) / (sag_runs[1] - sag_runs[0])
    np.testing.assert_allclose(runs.decades_ratio(sag.SAG_PRACTICAL), ratios)
    estimate = runs.decades_estimate(sag.SAG_PRACTICAL)
    assert (estimate.low, estimate.high) == (ratios.min(), ratios.max())


def test_doubling_exponent_of_exact_power_laws():
    """On curves that fall exactly like k^-p the exponent is p, with no spread."""
    problem = TINY.lecture.build()
    k = np.arange(0, 1001, 50)
    for p in (0.5, 1.0, 2.0):
        values = 0.7 + np.outer([1.0, 2.0, 3.0], (1.0 + k) ** -p)
        runs = sag.ProblemRuns("exact", problem, sag.Optimum(np.zeros(4), 0.7, 0.0, 0), np.zeros(4), 10)
        runs.traces["power"] = sag.Trace("power", k, k, values, np.zeros((3, 4)))
        estimate = runs.doubling_exponent("power")
        assert estimate.value == pytest.approx(np.log2((1.0 + 1000) ** p / (1.0 + 500) ** p))
        assert estimate.high - estimate.low == pytest.approx(0.0, abs=1e-9)


# -- the convex case, the averaged iterate, backtracking and the gradient monitor ----------------
def test_convex_bound_constants_by_hand(result):
    convex = result.convex
    p = convex.problem
    n, L = p.n_samples, float(np.max(np.sum(p.features**2, axis=1)) / 4)  # L_i = ||a_i||^2/4, mu = 0
    x_star = convex.optimum.x
    f0 = np.log(2.0)  # f(0) = log(1 + e^0)
    gap0 = f0 - convex.f_star
    distance = float(x_star @ x_star)  # x0 = 0
    sample_gradients = np.array([-p.labels[i] * p.features[i] / (1 + np.exp(p.labels[i] * p.features[i] @ x_star))
                                 for i in range(n)])
    sigma_sq = float(np.mean(np.sum(sample_gradients**2, axis=1)))
    assert convex.sigma_sq == pytest.approx(sigma_sq, rel=1e-12)
    k = np.array([1, 10, 400])
    # The lecture's form of the centred-start bound: (48 n (f(x0) - f*) + 128 L ||x0 - x*||^2) / k.
    np.testing.assert_allclose(convex.bound(sag.CENTRED_LABEL, k), (48 * n * gap0 + 128 * L * distance) / k, rtol=1e-12)
    zero_start = 32 * n / k * (gap0 + 4 * L / n * distance + sigma_sq / (16 * L))
    np.testing.assert_allclose(convex.bound(sag.ZERO_LABEL, k), zero_start, rtol=1e-12)
    np.testing.assert_allclose(convex.gd_bound(k), p.L * distance / (2 * k), rtol=1e-12)
    with pytest.raises(ValueError, match="no convex-case bound"):
        convex.bound(sag.GD_LABEL, k)
    trace = convex.traces[sag.CENTRED_LABEL]
    ratio = (trace.log("averaged_values") - convex.f_star) / convex.bound(sag.CENTRED_LABEL, trace.iterations)
    estimate = convex.bound_ratio_estimate(sag.CENTRED_LABEL)
    assert estimate.value == pytest.approx(ratio.mean(axis=0).max())
    assert estimate.low <= estimate.value <= estimate.high


def test_unregularised_optimum_and_separability(result):
    convex = result.convex
    assert not sag.separable(convex.problem)
    assert convex.optimum.gradient_norm < 1e-10
    np.testing.assert_allclose(convex.optimum.x, convex.sklearn.x, rtol=1e-5)
    assert sag.relative_gap(convex.f_star, convex.sklearn.value) < 1e-8
    features = np.random.default_rng(0).standard_normal((30, 3))
    separated = sag.LogisticGLM(features, np.sign(features @ np.array([1.0, -2.0, 0.5])), 0.0)
    assert sag.separable(separated)
    with pytest.raises(ValueError, match="separable"):
        sag.unregularised_optimum(separated)


def test_averaged_iterate_by_hand():
    problem = TINY.convex.build()
    alpha, x0, seeds = 1 / (16 * problem.L_max), np.full(3, 0.3), [5, 6]
    method = sag.SAG(alpha, table="generic", init="paper")
    trace = sag.run_batched(problem, method, x0, iterations=60, seeds=seeds, log_at=[0, 1, 7, 60],
                            average=True, monitors=sag.monitors(method, problem))
    np.testing.assert_array_equal(trace.iterations, [0, 1, 7, 60])
    assert np.isnan(trace.log("averaged_values")[:, 0]).all()  # x̄_0 is an empty average
    for r, seed in enumerate(seeds):
        method = sag.SAG(alpha, table="generic", init="paper")
        x = x0[None, :].copy()
        method.start(problem, x)
        indices = np.random.default_rng(seed).integers(0, problem.n_samples, 60)
        iterates = [x[0].copy()]
        for k, i in enumerate(indices):
            x = method.step(problem, x, np.array([[i]]), k)
            iterates.append(x[0].copy())
        for t, k in enumerate((1, 7, 60), start=1):
            average = np.mean(iterates[:k], axis=0)  # x_0, ..., x_{k-1}
            assert trace.log("averaged_values")[r, t] == pytest.approx(float(problem.value(average)), rel=1e-13)
            assert trace.values[r, t] == pytest.approx(float(problem.value(iterates[k])), rel=1e-13)
            assert trace.log("gradient_norms")[r, t] == pytest.approx(np.linalg.norm(problem.gradient(iterates[k])))
    assert trace.samples[-1] == problem.n_samples + 60  # the centred start costs one pass


def test_monitors_change_nothing_but_what_is_logged():
    problem = TINY.lecture.build()
    method = sag.SAG(1 / problem.L_max, normalize_seen=True)
    monitored = sag.run_batched(problem, method, np.zeros(4), iterations=200, seeds=[1, 2], log_at=[0, 50, 200],
                                monitors=sag.monitors(method, problem))
    plain = sag.run_batched(problem, sag.SAG(1 / problem.L_max, normalize_seen=True), np.zeros(4),
                            iterations=200, seeds=[1, 2], log_at=[0, 50, 200])
    np.testing.assert_array_equal(monitored.final_x, plain.final_x)
    np.testing.assert_array_equal(monitored.values, plain.values)
    assert np.isnan(monitored.log("direction_norms")[:, 0]).all()  # no sample seen yet
    assert set(monitored.logs) == {"gradient_norms", "direction_norms"}
    with pytest.raises(KeyError, match="did not log 'averaged_values'"):
        monitored.log("averaged_values")


def test_backtracking_runs_and_the_gradient_bracket(result):
    for runs in (result.lecture, result.large, result.heterogeneous):
        bt = runs.backtracking
        assert bt.log("lipschitz").shape == bt.values.shape and np.all(bt.log("lipschitz") > 0)
        known = runs.run_passes_to(runs.known_step_label, 1e-3)
        gain = runs.backtracking_gain(1e-3)
        assert gain.value == pytest.approx(np.mean(known - runs.backtracking_passes(1e-3)))
    assert result.heterogeneous.known_step_label == sag.UNIFORM_LABEL
    for runs in (result.lecture, result.large):
        monitor = result.monitor[runs.name][sag.SAG_PRACTICAL]
        lower, upper = sag.gradient_brackets(monitor, runs.problem, runs.f_star)
        assert lower.size == upper.size > 0
        assert np.all(lower <= 1) and np.all(upper <= 1)
        gaps = monitor.values - runs.f_star
        keep = gaps >= 1e-10
        by_hand = monitor.log("gradient_norms")[keep] ** 2 / (2 * runs.problem.L) / gaps[keep]
        np.testing.assert_allclose(lower, by_hand)
    assert set(result.monitor["lecture"]) == {sag.SAG_PRACTICAL, sag.sgd_label(1.0)}
