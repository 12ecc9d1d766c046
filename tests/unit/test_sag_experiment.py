"""The SAG chapter's experiment at a tiny scale: its derived quantities against direct formulas."""

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
                                    sag.SAGA_LABEL, sag.SVRG_LABEL, *map(sag.sgd_label, TINY.sgd_steps)}
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
