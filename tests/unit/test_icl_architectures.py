"""The architectures experiment: the streaming baselines' error curves against independent
references (numpy.linalg.lstsq's minimum-norm solution, the Kaczmarz projection written out, the
closed-form expectations by Monte Carlo), a tiny end-to-end run, and configuration errors."""

import json

import matplotlib.pyplot as plt
import numpy as np
import pytest

from memopt.nets.training import window_means
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
    ({"transformer_dtype": "half"}, "transformer_dtype must be"),
    ({"transformer_warmup": -1}, "transformer_warmup"),
    ({"checkpoint_every": -5}, "checkpoint_every"),
])
def test_bad_config(changes, message):
    with pytest.raises(ValueError, match=message):
        experiment.Config(**{**TINY.__dict__, **changes})


def test_scales():
    assert set(experiment.SCALES) == {"book", "paper", "record"}
    book, record = experiment.SCALES["book"], experiment.SCALES["record"]
    assert experiment.SCALES["paper"].transformer_steps > book.transformer_steps
    # the record: the book's task and test prompts, the LSTM of the book with 4x its steps
    assert (record.dim, record.examples, record.test_prompts, record.test_seed) == (
        book.dim, book.examples, book.test_prompts, book.test_seed)
    assert (record.hidden, record.lstm_lr, record.lstm_steps) == (book.hidden, book.lstm_lr, 4 * book.lstm_steps)
    assert (record.width, record.layers, record.heads, record.transformer_dtype) == (64, 4, 4, "float32")
    assert record.transformer_steps > 10 * book.transformer_steps and record.checkpoint_every > 0


RECORDED = experiment.Config(dim=3, examples=5, hidden=3, lstm_steps=20, width=8, heads=2, layers=1,
                             transformer_steps=200, transformer_warmup=10, batch_size=4, seeds=2,
                             test_prompts=40, transformer_dtype="float32", checkpoint_every=50,
                             checkpoint_prompts=30)


@pytest.fixture(scope="module")
def recorded():
    result = experiment.run(RECORDED)
    return result, json.loads(json.dumps(experiment.record_of(result)))


def test_a_record_reads_back_as_its_run(recorded):
    result, stored = recorded
    back = experiment.result_from(stored)
    assert back.config == RECORDED and back.window == experiment.RECORD_WINDOW
    np.testing.assert_allclose(back.transformer, result.transformer, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(back.lstm_at_d, result.lstm_at_d, rtol=1e-7, atol=1e-8)
    for name in ("least_squares", "kaczmarz", "sgd"):  # computed again from the test prompts
        np.testing.assert_array_equal(getattr(back, name), getattr(result, name))
    np.testing.assert_array_equal(back.checkpoint_steps, [50, 100, 150, 200])
    assert back.transformer_checkpoints.shape == (2, 4, 5)
    # the last checkpoint is the trained network on the first checkpoint_prompts test prompts
    last = result.transformer_checkpoints[:, -1]
    assert last[:, 3] == pytest.approx(result.transformer_at_d[:, :30].mean(axis=1), rel=1e-9)
    np.testing.assert_allclose(back.transformer_training[:, 0],
                               result.transformer_training[:, :100].mean(axis=1), rtol=1e-5)
    assert back.seconds == pytest.approx(result.seconds, abs=0.06) and back.seconds > 0
    assert experiment.summary(back) == stored["summary"]
    for fig in experiment.figures(back).values():
        plt.close(fig)


def test_replay_retraces_the_first_transformer(recorded):
    result, stored = recorded
    np.testing.assert_array_equal(experiment.replay(stored, 100),
                                  window_means(result.transformer_training[0][:100], experiment.RECORD_WINDOW))
    with pytest.raises(ValueError, match="multiple of the record's window"):
        experiment.replay(stored, 150)


def test_seed_extremes_by_hand(recorded):
    result, _ = recorded
    rows = result.transformer_at_d
    n = rows.shape[1]
    means = rows.mean(axis=1)
    halves = 2 * rows.std(axis=1, ddof=1) / np.sqrt(n)
    assert result.transformer[:, 3] == pytest.approx(means, rel=1e-12)
    largest = result.extreme_seed("transformer")
    assert (largest.value, largest.low, largest.high) == pytest.approx(
        (means.max(), (means - halves).max(), (means + halves).max()), rel=1e-12)
    smallest = result.extreme_seed("transformer", largest=False)
    assert (smallest.value, smallest.low, smallest.high) == pytest.approx(
        (means.min(), (means - halves).min(), (means + halves).min()), rel=1e-12)
    assert "smallest over 2 training seeds" in smallest.method and "40 test prompts" in smallest.method


def test_checkpoints_absent_by_default():
    result = experiment.run(TINY)
    assert result.transformer_checkpoints.shape == (2, 0, 5)
    assert "checkpoints" not in experiment.figures(result)
    plt.close("all")
    with pytest.raises(ValueError, match="no checkpoints"):
        experiment.plot_checkpoints(result)
