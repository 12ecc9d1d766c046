"""The online counterexample of Reddi et al. (2018) and the adaptive chapter's experiment."""

import json

import numpy as np
import pytest

from memopt import cli
from memopt.experiments import adaptive
from memopt.optim import Adam
from memopt.problems import AdamCounterexample


def test_the_sequence_its_best_point_and_its_regret_limit():
    problem = AdamCounterexample(3.0)
    np.testing.assert_array_equal(problem.slope(np.arange(1, 8)), [3, -1, -1, 3, -1, -1, 3])
    # Total loss over whole periods is (C - 2) x per period: least at x = -1 among all of [-1, 1].
    grid = np.linspace(-1, 1, 201)
    totals = sum(problem.slope(t) * grid for t in range(1, 7))
    assert grid[np.argmin(totals)] == problem.comparator
    assert problem.regret_per_step_at(1.0) == pytest.approx(2 * (3.0 - 2) / 3)
    assert problem.adam_beta2() == pytest.approx(0.1)
    x = np.array([-3.0, 0.2, 7.0])
    problem.project(x)
    np.testing.assert_array_equal(x, [-1.0, 0.2, 1.0])


@pytest.mark.parametrize("kwargs, error, match", [
    ({"C": 2.0}, ValueError, "C must exceed 2"),
    ({"C": float("inf")}, ValueError, "C must be finite"),
    ({"C": "3"}, TypeError, "C must be a real number"),
])
def test_bad_sequences_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        AdamCounterexample(**kwargs)


def test_bad_steps_are_refused():
    with pytest.raises(ValueError, match="integers >= 1"):
        AdamCounterexample().slope(0)
    with pytest.raises(ValueError, match="integers >= 1"):
        AdamCounterexample().slope(np.array([1.5]))


def test_play_against_a_hand_written_loop():
    """Adam with beta1 = 0 on the sequence, written out from the formulas with projection."""
    problem, steps, lr, beta2 = AdamCounterexample(4.0), 60, 0.2, AdamCounterexample(4.0).adam_beta2()
    xs = adaptive.play(Adam(lr=lr, betas=(0.0, beta2), decay="inverse_sqrt"), problem, steps, lr)
    x, v, expected = 0.0, 0.0, []
    for t in range(1, steps + 1):
        expected.append(x)
        g = 4.0 if t % 3 == 1 else -1.0
        v = beta2 * v + (1 - beta2) * g * g
        x = min(1.0, max(-1.0, x - lr / np.sqrt(t) * g / (np.sqrt(v / (1 - beta2**t)) + 1e-8)))
    np.testing.assert_allclose(xs, expected, rtol=1e-13, atol=1e-15)
    sgd = adaptive.play(None, problem, 4, lr)
    np.testing.assert_allclose(sgd, [0.0, -0.8, -0.8 + 0.2 / np.sqrt(2), -0.8 + 0.2 / np.sqrt(2) + 0.2 / np.sqrt(3)])


@pytest.fixture(scope="module")
def result():
    return adaptive.run(adaptive.Config(steps=6000, tail=300))


def test_the_counterexample_at_a_small_scale(result):
    """Theorem 1 of Reddi et al. holds already over 6000 steps: Adam ends at +1, AMSGrad at -1."""
    assert result.settled_at("Adam") > 0.99 and result.settled_at("AMSGrad") < -0.99
    assert result.average_regret("Adam") > result.average_regret("AMSGrad")
    regret = result.regret("SGD")
    slopes = result.problem.slope(result.steps)
    np.testing.assert_allclose(regret, np.cumsum(slopes * result.iterates["SGD"]) + np.cumsum(slopes))


def test_regret_exponent_of_known_powers():
    config = adaptive.Config(steps=3000, tail=300)
    fake = adaptive.Result(config, AdamCounterexample())
    t = np.arange(1, config.steps + 1)
    slopes = fake.problem.slope(t)
    # choose iterates whose regret increments make R_t = t^0.5 at ends of periods
    target = np.sqrt(t)
    increments = np.diff(np.concatenate([[0.0], target]))
    fake.iterates["x"] = increments / slopes + fake.problem.comparator
    assert fake.regret_exponent("x") == pytest.approx(0.5, abs=1e-6)
    fake.iterates["flat"] = np.full(config.steps, -1.0)
    with pytest.raises(ValueError, match="not positive"):
        fake.regret_exponent("flat")


def test_settling_step_by_hand():
    config = adaptive.Config(steps=30, tail=6)
    fake = adaptive.Result(config, AdamCounterexample())
    xs = np.full(config.steps, 1.0)
    xs[:9] = np.linspace(0.0, 0.9, 9)  # x_1 .. x_9 still climbing, x_10 on at +1
    xs[4] = 1.0  # an early visit does not count: x_t must stay within the tolerance
    fake.iterates["x"] = xs
    assert fake.settled_at("x") == 1.0
    assert fake.settling_step("x") == 10
    fake.iterates["still"] = np.full(config.steps, -1.0)
    assert fake.settling_step("still") == 1


def test_figures_are_labelled_and_summary_is_json(result):
    for figure in adaptive.figures(result).values():
        for ax in figure.axes:
            assert ax.get_xlabel() and ax.get_ylabel()
    summary = adaptive.summary(result)
    json.dumps(summary)
    assert set(summary["methods"]) == set(adaptive.methods(result.config))


@pytest.mark.parametrize("changes, match", [
    ({"C": 1.5}, "C must exceed"),
    ({"lr": 0.0}, "lr must be > 0"),
    ({"steps": 100}, "multiple of 3"),
    ({"tail": 1}, "tail must be"),
])
def test_config_rejects_bad_settings(changes, match):
    with pytest.raises(ValueError, match=match):
        adaptive.Config(**changes)


def test_the_cli_knows_the_experiment(capsys):
    cli.main(["list"])
    assert "adaptive" in capsys.readouterr().out
