"""The sharpness chapter's experiment: the double well against finite differences, the Wilson
interval against SciPy, the sharpness against a Hessian of loss values, SAM with rho = 0
against SGD, and the module contract on a tiny configuration."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest, norm

from memopt.experiments import sharpness
from memopt.nets import MLPClassifier
from memopt.optim import SAM
from memopt.optim.adaptive import GradientStep

WELL = sharpness.DoubleWell()
TINY = sharpness.Config(n_train=40, n_test=30, hidden=4, eos_train=20, eos_steps=(0.5, 1.0),
                        eos_iterations=6, eos_every=3, well_seeds=10, well_iterations=50,
                        well_settle=20, sam_seeds=2, sam_epochs=1, sam_batch=20,
                        batch_sizes=(10, 40), batch_seeds=2, batch_epochs=1, warmup_epochs=1)


@settings(max_examples=50, deadline=None)
@given(st.floats(-3.0, 5.0))
def test_double_well_derivatives_match_finite_differences(x):
    h = 1e-5
    value = lambda t: float(WELL.value(np.array(t)))  # noqa: E731
    slope = (value(x + h) - value(x - h)) / (2 * h)
    assert WELL.gradient(np.array(x)) == pytest.approx(slope, rel=1e-5, abs=1e-6)
    h = 1e-4
    bend = (float(WELL.gradient(np.array(x + h))) - float(WELL.gradient(np.array(x - h)))) / (2 * h)
    assert WELL.curvature(np.array(x)) == pytest.approx(bend, rel=1e-5, abs=1e-5)


def test_barrier_is_a_local_maximum_between_the_wells():
    b = WELL.barrier()
    assert WELL.narrow_center < b < WELL.wide_center
    assert abs(WELL.gradient(np.array(b))) < 1e-3
    assert WELL.curvature(np.array(b)) < 0
    # The narrow well is a local minimum much sharper than the wide one.
    narrow, wide = WELL.curvature(np.array([WELL.narrow_center, WELL.wide_center]))
    assert narrow > 20 * wide > 0


@pytest.mark.parametrize("successes, trials", [(0, 200), (3, 10), (188, 200), (200, 200), (1, 1)])
def test_wilson_matches_scipy(successes, trials):
    estimate = sharpness.wilson(successes, trials)
    reference = binomtest(successes, trials).proportion_ci(confidence_level=2 * norm.cdf(2) - 1,
                                                           method="wilson")
    assert estimate.value == successes / trials
    assert estimate.low == pytest.approx(min(reference.low, successes / trials), abs=1e-12)
    assert estimate.high == pytest.approx(max(reference.high, successes / trials), abs=1e-12)


@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_contains_the_proportion_within_zero_one(case):
    successes, trials = case
    e = sharpness.wilson(successes, trials)
    assert 0.0 <= e.low <= e.value <= e.high <= 1.0


def test_wilson_rejects_impossible_counts():
    with pytest.raises(ValueError, match="successes"):
        sharpness.wilson(5, 4)


def test_sharpness_matches_the_hessian_of_loss_values():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 1, (12, 3)), rng.integers(0, 2, 12)
    net = MLPClassifier(3, 2, hidden=(2,), activation="tanh", seed=1, dtype=np.float64)
    theta = np.array(net.params.vector, dtype=np.float64)

    def loss(t):
        net.params.load(t)
        return net.evaluate(x, y)[0]

    # Second differences of the loss itself: independent of the backward pass.
    n, h = theta.size, 1e-4
    eye = np.eye(n) * h
    hessian = np.array([[(loss(theta + eye[i] + eye[j]) - loss(theta + eye[i] - eye[j])
                          - loss(theta - eye[i] + eye[j]) + loss(theta - eye[i] - eye[j])) / (4 * h * h)
                         for j in range(n)] for i in range(n)])
    expected = np.linalg.eigvalsh((hessian + hessian.T) / 2)[-1]
    assert sharpness.sharpness(net, x, y, theta) == pytest.approx(expected, rel=1e-4)
    assert np.array_equal(net.params.vector, theta)  # left at theta


def test_sam_with_zero_radius_is_sgd():
    base = sharpness._train(TINY, 0, GradientStep(0.3), 10, 2)
    sam = sharpness._train(TINY, 0, SAM(GradientStep(0.3), 0.0), 10, 2, sam=True)
    for key in base:
        assert sam[key] == pytest.approx(base[key], rel=1e-12)


def test_gradient_descent_stays_in_the_narrow_well_without_noise():
    final = sharpness.run_well(replace(TINY, well_iterations=2000), "gd")
    assert np.allclose(final, final[0], atol=1e-6)
    assert np.all(final < WELL.barrier())
    with pytest.raises(ValueError, match="rule"):
        sharpness.run_well(TINY, "adam")


def test_run_follows_the_experiment_contract():
    result = sharpness.run(TINY)
    assert set(result.eos) == set(TINY.eos_steps)
    assert result.eos[0.5]["steps"].tolist() == [0, 3, 6]
    assert set(result.well) == {"gd", "noisy", "large"}
    assert result.sam["sgd"]["sharpness"].shape == (TINY.sam_seeds,)
    assert result.batches["scaled", 10] is result.batches["fixed", 10]
    assert set(sharpness.figures(result)) == {"eos", "well", "sam", "batches"}
    summary = sharpness.summary(result)
    assert set(summary) == {"edge_of_stability", "double_well_wide_fraction", "sam", "batches"}
    assert {"book", "paper"} <= set(sharpness.SCALES)


def test_eos_first_sharpness_is_that_of_the_initial_network():
    run = sharpness.run_eos(TINY, 0.5)
    x, y, _, _ = sharpness._data(TINY)
    net = sharpness._network(TINY, seed=0)
    assert run["sharpness"][0] == pytest.approx(
        sharpness.sharpness(net, x[:TINY.eos_train], y[:TINY.eos_train]), rel=1e-3)


@pytest.mark.parametrize("change, message", [
    ({"n_train": 1700, "n_test": 200}, "1797"),
    ({"eos_steps": (0.0,)}, "eos_steps"),
    ({"sam_seeds": 1}, "seeds"),
    ({"batch_sizes": (64, 16)}, "increasing"),
    ({"batch_sizes": (16, 1000)}, "batch sizes"),
    ({"eos_train": 500}, "eos_train"),
    ({"noise": -1.0}, "noise"),
])
def test_config_rejects_bad_values(change, message):
    with pytest.raises(ValueError, match=message):
        replace(sharpness.Config(), **change)
