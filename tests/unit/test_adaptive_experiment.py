"""The online counterexample of Reddi et al. (2018) and the adaptive chapter's experiment."""

import copy
import json
import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from memopt import cli
from memopt.experiments import adaptive
from memopt.optim.adaptive import AdaGrad, Adam, AMSGrad, GradientStep
from memopt.problems import AdamCounterexample, power_law_logistic, sklearn_optimum


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


#: The chapter's experiments at a size a unit test affords.
SMALL = {"steps": 6000, "tail": 300, "sparse_samples": 300, "sparse_features": 20, "sparse_steps": 2000,
         "sparse_common": 3, "sparse_rare": 10, "sparse_runs": 4, "sparse_tuning_runs": 2,
         "decay_steps": 2000, "decay_tail": 1000, "decay_runs": 4}


@pytest.fixture(scope="module")
def result():
    return adaptive.run(adaptive.Config(**SMALL))


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
    ({"sparse_common": 60, "sparse_rare": 50}, "sparse_common \\+ sparse_rare must be at most"),
    ({"sparse_runs": 1}, "sparse_runs must be an integer >= 2"),
    ({"sparse_exponent": -1.0}, "sparse_exponent must be finite and >= 0"),
    ({"sparse_mu": 0.0}, "sparse_mu must be finite and > 0"),
    ({"sgd_grid": (0.1, 0.2)}, "sgd_grid must be a tuple of at least 3"),
    ({"adagrad_grid": (0.1, 0.3, 0.2)}, "adagrad_grid must be strictly increasing"),
    ({"sgd_decaying_grid": (0.1, -0.2, 0.3)}, "sgd_decaying_grid must be finite and > 0"),
    ({"decay_decades": (1.0, 1.0)}, "decay_decades must be finite with lo < hi"),
    ({"weight_decay": 0.0}, "weight_decay must be finite and > 0"),
    ({"decay_lr": 20.0}, "decay_lr \\* weight_decay must be < 1"),
    ({"decay_tail": 15_000}, "decay_tail must be at most decay_steps / 2"),
])
def test_config_rejects_bad_settings(changes, match):
    with pytest.raises(ValueError, match=match):
        adaptive.Config(**changes)


def test_the_cli_knows_the_experiment(capsys):
    cli.main(["list"])
    assert "adaptive" in capsys.readouterr().out


def test_the_config_refuses_wrong_types():
    with pytest.raises(TypeError, match="sparse_steps must be an integer"):
        adaptive.Config(sparse_steps=1.5)


# -- AdaGrad on sparse features -----------------------------------------------------------------

def test_run_sparse_against_a_plain_transcription_of_sgd_and_adagrad():
    """Two runs of SGD and of AdaGrad written out coordinate by coordinate from the formulas."""
    data = power_law_logistic(30, 5, exponent=1.0, mu=0.01, seed=2)
    problem = data.problem
    a, y = np.asarray(problem.features), np.asarray(problem.labels)
    orders = np.random.default_rng(0).integers(0, 30, size=(50, 2))
    logged = np.array([1, 10, 50])
    for method, adagrad in ((GradientStep(lr=0.3), False), (AdaGrad(lr=0.5, eps=1e-8), True)):
        last, snapshots, average, _ = adaptive.run_sparse(method, problem, orders, logged, average_from=20)
        for r in range(2):
            x, v, seen, total = [0.0] * 5, [0.0] * 5, {}, [0.0] * 5
            for k in range(50):
                i = int(orders[k, r])
                z = y[i] * sum(a[i, j] * x[j] for j in range(5))
                s = -y[i] / (1 + math.exp(z))
                g = [s * a[i, j] + 0.01 * x[j] for j in range(5)]
                for j in range(5):
                    if adagrad:
                        v[j] += g[j] ** 2
                        x[j] -= 0.5 * g[j] / math.sqrt(v[j] + 1e-8)
                    else:
                        x[j] -= 0.3 * g[j]
                    if k >= 20:
                        total[j] += x[j]
                if k + 1 in logged:
                    seen[k + 1] = list(x)
            np.testing.assert_allclose(last[r], x, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(average[r], np.array(total) / 30, rtol=1e-12, atol=1e-14)
            for position, step in enumerate(logged):
                np.testing.assert_allclose(snapshots[position, r], seen[int(step)], rtol=1e-12, atol=1e-14)


def test_run_sparse_refuses_an_empty_average():
    data = power_law_logistic(30, 5, seed=2)
    orders = np.zeros((10, 2), dtype=np.int64)
    with pytest.raises(ValueError, match="average_from must be below"):
        adaptive.run_sparse(GradientStep(lr=0.1), data.problem, orders, average_from=10)


def test_sparse_runs_tune_inside_their_grids_and_count_hits(result):
    sparse, config = result.sparse, result.config
    assert set(sparse.tuning) == set(adaptive.SPARSE_METHODS)
    for name, (grid, gaps) in sparse.tuning.items():
        assert sparse.tuned_step(name) == grid[np.argmin(gaps)]
        assert np.all(gaps >= -1e-12)  # f(x) >= f*
    # the hits are the column sums of the sampled rows
    orders = adaptive.sample_orders(config, config.sparse_runs, tuning=False)
    features = np.asarray(sparse.instance.problem.features)
    np.testing.assert_array_equal(sparse.hits[1], features[orders[:, 1]].sum(axis=0))
    # tuning and reported orders are different streams
    assert not np.array_equal(adaptive.sample_orders(config, 2, tuning=True), orders[:, :2])
    # x* is the minimiser: scikit-learn's agrees
    reference = sklearn_optimum(sparse.instance.problem)
    np.testing.assert_allclose(sparse.optimum, reference.x, atol=1e-5)
    assert sparse.errors("AdaGrad", "rare").shape == (len(sparse.logged), config.sparse_runs)


def test_tuned_inside_grid_and_step_exponent_by_hand(result):
    sparse = copy.copy(result.sparse)
    sparse.tuning = {"a": (np.array([1.0, 2.0, 3.0]), np.array([3.0, 1.0, 2.0])),
                     "b": (np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]))}
    assert sparse.tuned_inside_grid("a") and not sparse.tuned_inside_grid("b")
    hits = np.array([[1.0, 4.0, 16.0, 64.0], [2.0, 8.0, 32.0, 128.0]])
    sparse.hits, sparse.adagrad_steps = hits, 0.3 / np.sqrt(hits)
    assert sparse.step_exponent().value == pytest.approx(-0.5)


# -- Adam + L2 against AdamW --------------------------------------------------------------------

def test_predicted_shrinkage_solves_the_fixed_point_equations():
    scales = np.array([0.01, 1.0, 100.0])
    coupled = adaptive.predicted_shrinkage(scales, 0.2, 1.5, "Adam + L2")
    # the minimiser of c (x - 1)^2 / 2 + lambda x^2 / 2, found numerically
    for c, s in zip(scales, coupled):
        x = minimize_scalar(lambda x: c * (x - 1) ** 2 / 2 + 0.2 * x**2 / 2, tol=1e-12).x
        assert 1 - x == pytest.approx(s, abs=1e-6)
    decoupled = adaptive.predicted_shrinkage(scales, 0.2, 1.5, "AdamW")
    assert np.all(decoupled == decoupled[0])
    s = decoupled[0]
    # lambda x = -(x - 1) / sqrt((x - 1)^2 + sigma^2) at x = 1 - s
    assert 0.2 * (1 - s) == pytest.approx(s / math.sqrt(s**2 + 1.5**2), rel=1e-12)
    # small decay: s ~ lambda sigma
    tiny = adaptive.predicted_shrinkage(scales, 1e-6, 1.5, "AdamW")[0]
    assert tiny == pytest.approx(1.5e-6, rel=1e-5)


def test_predicted_shrinkage_against_a_direct_simulation():
    """The derived fixed points against Adam and AdamW themselves on three coordinates."""
    config = adaptive.Config(decay_decades=(-1.0, 1.0), decay_coordinates=3, decay_steps=20_000,
                             decay_tail=10_000, decay_runs=8)
    runs = adaptive.run_decay_experiment(config)
    for name in adaptive.DECAY_METHODS:
        predicted = adaptive.predicted_shrinkage(runs.scales, config.weight_decay, config.decay_noise, name)
        np.testing.assert_allclose(runs.shrinkage(name).mean(axis=0), predicted, atol=0.02)
    assert runs.spread("AdamW").high < 0.03
    assert runs.spread("Adam + L2").low > 0.4  # predicted 0.5 - 0.0099
    # Adam + L2's decay per step is alpha lambda / sqrt(v), v ~ c^2 sigma^2 at the fixed point
    effective = runs.effective_decay("Adam + L2", config)
    np.testing.assert_allclose(effective, config.decay_lr * config.weight_decay / runs.scales, rtol=0.1)


@pytest.mark.parametrize("args, error, match", [
    (([1.0, -1.0], 0.1, 1.0, "AdamW"), ValueError, "scales must be"),
    (([1.0], 0.0, 1.0, "AdamW"), ValueError, "weight_decay must be finite and > 0"),
    (([1.0], 0.1, 0.0, "AdamW"), ValueError, "noise must be finite and > 0"),
    (([1.0], 0.1, 1.0, "SGD"), ValueError, "unknown method"),
])
def test_predicted_shrinkage_refuses_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        adaptive.predicted_shrinkage(*args)


def test_decay_statistics_by_hand():
    runs = adaptive.DecayRuns(np.array([1.0, 10.0]))
    runs.means["AdamW"] = np.array([[0.9, 0.8], [0.9, 0.8]])  # no spread between runs
    spread = runs.spread("AdamW")
    assert spread.value == pytest.approx(0.1) and spread.low == pytest.approx(0.1)
    deviation = runs.deviation("AdamW", np.array([0.1, 0.25]))
    assert deviation.value == pytest.approx(0.05)


def test_state_vectors_are_the_methods_memory():
    assert adaptive.state_vectors(GradientStep()) == ()
    assert adaptive.state_vectors(Adam()) == ("m", "v")
    assert adaptive.state_vectors(AMSGrad()) == ("m", "v", "vmax")


def test_a_result_with_only_the_counterexample_still_plots_and_summarises():
    config = adaptive.Config(steps=300, tail=30)
    only = adaptive.Result(config, AdamCounterexample())
    for name, method in adaptive.methods(config).items():
        only.iterates[name] = adaptive.play(method, only.problem, config.steps, config.lr)
    assert set(adaptive.figures(only)) == {"iterates", "regret"}
    assert "sparse" not in adaptive.summary(only) and "weight_decay" not in adaptive.summary(only)
