"""The SAG chapter's experiment at a tiny scale: its derived quantities against direct formulas."""

import dataclasses
import json

import matplotlib.pyplot as plt
import numpy as np
import pytest

from memopt.experiments import sag
from memopt.experiments.sag import Config, ProblemSpec

TINY = Config(
    lecture=ProblemSpec(40, 4, 1.0, seed=0),
    large=ProblemSpec(120, 6, 1e-2, seed=1, feature_scale=0.3),
    heterogeneous=ProblemSpec(60, 4, 1e-2, seed=2, row_scale_range=(0.1, 10.0)),
    runs=3, large_runs=2, theorem_runs_large=2, lecture_passes=30, large_passes=30,
    heterogeneous_passes=30,
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
        sag.InverseTimeStep(0.0, 10.0)


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
    step = sag.InverseTimeStep(0.5, 20.0)
    assert step(0) == 0.5 and step(20) == pytest.approx(0.25) and step(1980) == pytest.approx(0.5 * 20 / 2000)
    assert "0.5" in step.describe()
    problem = TINY.lecture.build()
    method = sag.tuned_method(problem, 0.3, 2.0)
    assert method.schedule == sag.InverseTimeStep(0.3 / problem.L_max, 2.0 * problem.n_samples)
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
