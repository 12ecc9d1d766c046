"""The architectures experiment: the streaming baselines' error curves against independent
references (numpy.linalg.lstsq's minimum-norm solution, the Kaczmarz projection written out, the
closed-form expectations by Monte Carlo), a tiny end-to-end run, and configuration errors."""

import json

import matplotlib.pyplot as plt
import numpy as np
import pytest

from memopt.experiments import icl_architectures as experiment
from memopt.optim.streaming import ExactLeastSquares, Kaczmarz
from memopt.problems.icl import isotropic_prompts

TINY = experiment.Config(dim=3, examples=5, hidden=3, lstm_steps=3, width=8, heads=2, layers=1,
                         transformer_steps=3, batch_size=4, seeds=2, test_prompts=40)


def test_streaming_errors_match_minimum_norm_least_squares():
    xs, ys, _ = isotropic_prompts(np.random.default_rng(0), 20, 7, 4)
    errors = experiment.streaming_errors(ExactLeastSquares(4, trials=20), xs, ys)
    for n in range(20):
        for i in range(7):
            w = np.linalg.lstsq(xs[n, :i], ys[n, :i], rcond=None)[0] if i else np.zeros(4)
            assert errors[n, i] == pytest.approx((xs[n, i] @ w - ys[n, i]) ** 2 / 4, abs=1e-9)
    assert np.abs(errors[:, 5:]).max() < 1e-20  # exact from example d + 1 on


def test_streaming_errors_kaczmarz_written_out():
    xs, ys, _ = isotropic_prompts(np.random.default_rng(1), 5, 6, 3)
    errors = experiment.streaming_errors(Kaczmarz(3, trials=5), xs, ys)
    for n in range(5):
        w = np.zeros(3)
        for i in range(6):
            assert errors[n, i] == pytest.approx((xs[n, i] @ w - ys[n, i]) ** 2 / 3, rel=1e-10, abs=1e-14)
            w = w + xs[n, i] * (ys[n, i] - xs[n, i] @ w) / (xs[n, i] @ xs[n, i])


def test_theory_curves_by_monte_carlo():
    d, n = 4, 20_000
    xs, ys, _ = isotropic_prompts(np.random.default_rng(2), n, 8, d)
    config = experiment.Config(dim=d, examples=8)
    result = experiment.Result(config, *(None,) * 10)
    kaczmarz = experiment.streaming_errors(Kaczmarz(d, trials=n), xs, ys).mean(axis=0)
    exact = experiment.streaming_errors(ExactLeastSquares(d, trials=n), xs, ys).mean(axis=0)
    np.testing.assert_allclose(kaczmarz, result.kaczmarz_theory(), rtol=0.06)
    np.testing.assert_allclose(exact, result.least_squares_theory(), rtol=0.06, atol=1e-12)


def test_tiny_run_figures_and_summary():
    result = experiment.run(TINY)
    assert result.lstm.shape == result.transformer.shape == (2, 5)
    assert result.kaczmarz.shape == (40, 5)
    assert result.lstm_state == 6 and result.least_squares_memory == 12 and result.kaczmarz_memory == 3
    assert result.lstm_training.shape == (2, 3) and result.transformer_training.shape == (2, 3)
    assert np.isfinite(result.lstm).all() and np.isfinite(result.transformer).all()
    # the seeds give different training runs
    assert not np.array_equal(result.lstm[0], result.lstm[1])
    assert result.estimate("least_squares", 4).value < 1e-20
    assert result.estimate("least_squares", 4, resolution=1e-20).describe() == "1e-20 [1e-20, 1e-20]"
    ratio = result.transformer_over_lstm(4)
    assert ratio.value == pytest.approx(result.transformer[:, 3].mean() / result.lstm[:, 3].mean())
    json.dumps(experiment.summary(result))
    figs = experiment.figures(result)
    assert set(figs) == {"errors", "training"}
    for fig in figs.values():
        plt.close(fig)
    again = experiment.run(TINY)
    np.testing.assert_array_equal(again.lstm, result.lstm)


@pytest.mark.parametrize("changes, message", [
    ({"examples": 3}, "examples must exceed dim"),
    ({"seeds": 1}, "seeds must be >= 2"),
    ({"width": 9}, "multiple of heads"),
    ({"lstm_lr": -1.0}, "lstm_lr"),
    ({"dtype": "float16"}, "dtype must be"),
])
def test_bad_config(changes, message):
    with pytest.raises(ValueError, match=message):
        experiment.Config(**{**TINY.__dict__, **changes})


def test_scales():
    assert set(experiment.SCALES) == {"book", "paper"}
    assert experiment.SCALES["paper"].transformer_steps > experiment.SCALES["book"].transformer_steps
