"""The optimizers chapter's experiment: the state each method keeps (measured against the
count its update rule needs), the configuration's checks, the tuning rule, and a tiny run
from end to end (which must not look at the test labels to choose a learning rate)."""

import dataclasses

import matplotlib
import numpy as np
import pytest

from memopt import experiments
from memopt.experiments import optimizers as opt

matplotlib.use("Agg")

TINY = opt.Config(n_train=120, n_validation=60, hidden=(8,), batch_size=20, epochs=4,
                  grid=(0.01, 0.1, 1.0), tune_seeds=1, seeds=2,
                  methods=("SGD", "AdaGrad", "RMSProp", "Adadelta"))


@pytest.fixture(scope="module")
def tiny():
    return opt.run(TINY)


@pytest.mark.parametrize("name", opt.METHODS)
def test_state_floats_per_parameter_are_those_of_the_update_rule(name):
    # SGD keeps nothing; momentum, AdaGrad and RMSProp one average; Adadelta two (v and the
    # average of squared updates); Adam and AdamW two moments; AMSGrad also their maximum.
    expected = {"SGD": 0, "Momentum": 1, "AdaGrad": 1, "RMSProp": 1, "Adadelta": 2, "Adam": 2,
                "AdamW": 2, "AMSGrad": 3}[name]
    assert opt.state_floats_per_parameter(opt.make_method(name, 0.1), 37) == expected
    assert opt.EXPECTED_STATE[name] == expected


def test_methods_are_the_rules_of_the_adaptive_module():
    x = np.linspace(-1, 1, 5)
    g = np.array([0.5, -1.0, 2.0, 0.0, 1.0])
    method = opt.make_method("SGD", 0.1)
    method.step(x, g, method.init(x))
    np.testing.assert_allclose(x, np.linspace(-1, 1, 5) - 0.1 * g)
    with pytest.raises(ValueError, match="unknown method"):
        opt.make_method("Lion", 0.1)


def test_sqrt10_grid():
    grid = opt.sqrt10_grid(-2, 0)
    np.testing.assert_allclose(grid, [0.01, 10**-1.5, 0.1, 10**-0.5, 1.0])
    assert opt.Config().grid[0] == pytest.approx(1e-4) and opt.Config().grid[-1] == pytest.approx(10.0)


@pytest.mark.parametrize("grid", [(0.1, 0.01, 0.001), (0.1, 0.2, 0.5), (0.1, 1.0), (-1.0, 1.0, 3.0),
                                  (0.0, 1.0, 2.0), [0.01, 0.1, 1.0], (0.01, float("nan"), 1.0),
                                  (0.01, True, 1.0)])
def test_bad_grids_are_rejected(grid):
    with pytest.raises(ValueError, match="grid"):
        opt.Config(grid=grid)


@pytest.mark.parametrize("change, message", [
    ({"seeds": 0}, "seeds"), ({"seeds": 1}, "seeds"), ({"seeds": 1001}, "seeds"),
    ({"tune_seeds": 0}, "tune_seeds"),
    ({"epochs": 0}, "epochs"), ({"epochs": 1}, "epochs"), ({"batch_size": 5000}, "batch_size"),
    ({"methods": ("SGD", "Lion")}, "unknown methods"), ({"methods": ()}, "methods"),
    ({"methods": ("SGD", "SGD")}, "distinct"), ({"dtype": "float16"}, "dtype"),
    ({"hidden": (8, 0)}, "hidden width"),
])
def test_bad_configurations_raise_value_errors(change, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(TINY, **change)


def test_epochs_must_be_an_integer():
    with pytest.raises(TypeError, match="epochs"):
        dataclasses.replace(TINY, epochs=2.5)


def test_tuning_window_is_the_last_quarter():
    assert list(opt.Config(epochs=40).tuning_window) == list(range(31, 41))
    assert list(opt.Config(epochs=2).tuning_window) == [2]
    assert set(opt.Config().tune_seed_list).isdisjoint(opt.Config().seed_list)


def test_choose_skips_overflowed_rates():
    assert opt.choose((0.1, 1.0, 10.0), np.array([0.5, 0.2, np.nan])) == 1.0
    assert opt.choose((0.1, 1.0, 10.0), np.array([0.5, np.inf, 0.1])) == 10.0
    with pytest.raises(RuntimeError, match="diverged"):
        opt.choose((0.1, 1.0, 10.0), np.array([np.nan, np.inf, np.nan]))


def test_registered_after_adaptive():
    names = list(experiments.EXPERIMENTS)
    assert names.index("optimizers") == names.index("adaptive") + 1
    assert experiments.get("optimizers") is opt
    assert set(opt.SCALES) == {"book", "paper"}


def test_tiny_run_end_to_end(tiny):
    config = TINY
    assert set(tiny.chosen) == set(config.methods)
    assert all(lr in config.grid for lr in tiny.chosen.values())
    assert tiny.tuning["SGD"].shape == (config.tune_seeds, len(config.grid))
    assert set(tiny.runs) == set(config.methods) | {opt.ADADELTA_UNTUNED}
    for curves in tiny.runs.values():
        assert curves.train_loss.shape == (config.seeds, config.epochs + 1)
        assert np.all((curves.eval_accuracy >= 0) & (curves.eval_accuracy <= 1))
    # Seed s gives every method the same initial weights: identical losses before training.
    np.testing.assert_array_equal(tiny.runs["SGD"].train_loss[:, 0], tiny.runs["AdaGrad"].train_loss[:, 0])
    assert tiny.runs[opt.ADADELTA_UNTUNED].lr == 1.0
    assert np.all(tiny.runs["AdaGrad"].effective_step[:, 1:] > 0)
    assert tiny.runs["SGD"].effective_step is None and tiny.runs["SGD"].untouched is None
    assert np.all((tiny.runs["RMSProp"].untouched >= 0) & (tiny.runs["RMSProp"].untouched < 1))
    assert tiny.state_mismatches() == 0
    assert tiny.late_progress("SGD").shape == (config.seeds,)
    estimate = tiny.accuracy_difference(opt.ADADELTA_UNTUNED, "SGD")
    assert estimate.low <= estimate.value <= estimate.high
    summary = opt.summary(tiny)
    assert summary["parameters"] == 64 * 8 + 8 + 8 * 10 + 10
    assert summary["methods"]["SGD"]["state_floats_per_parameter"] == 0
    figures = opt.figures(tiny)
    assert set(figures) == {"tuning", "training_loss", "test_accuracy", "effective_step"}


def test_adagrad_effective_step_never_grows(tiny):
    # v only accumulates, so alpha / sqrt(v + eps) falls coordinate by coordinate, and so
    # does its median.
    steps = tiny.runs["AdaGrad"].effective_step[:, 1:]
    assert np.all(np.diff(steps, axis=1) <= 0)


def test_tuning_never_reads_the_test_labels(tiny, monkeypatch):
    real_split = opt.digits_split

    def shuffled_test_labels(*args, **kwargs):
        split = real_split(*args, **kwargs)
        labels = np.random.default_rng(5).permutation(split.labels_test)
        return dataclasses.replace(split, labels_test=labels)

    monkeypatch.setattr(opt, "digits_split", shuffled_test_labels)
    other = opt.run(dataclasses.replace(TINY, methods=("SGD", "Adadelta")))
    assert other.chosen == {name: tiny.chosen[name] for name in ("SGD", "Adadelta")}
    for name in other.tuning:
        np.testing.assert_array_equal(other.tuning[name], tiny.tuning[name])


def test_late_progress_is_floored_at_the_loss_resolution(tiny):
    result = dataclasses.replace(tiny, runs=dict(tiny.runs))
    curves = dataclasses.replace(result.runs["SGD"], train_loss=result.runs["SGD"].train_loss.copy())
    curves.train_loss[:, -1] = 0.0
    result.runs["SGD"] = curves
    half = curves.train_loss[:, TINY.epochs // 2]
    np.testing.assert_allclose(result.late_progress("SGD"), np.log10(half / opt.LOSS_RESOLUTION))
