"""The initialisation chapter's measurements: the transcribed backpropagation against the
network's gradients and against finite differences, the mean-field prediction against closed
forms and SciPy quadrature, the fit of the per-layer factor, and a tiny run end to end."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import central_difference

from memopt.experiments import initialisation as experiment
from memopt.nets import MLPClassifier

TINY = experiment.Config(depth=8, width=8, batch=16, seeds=2, skip=1, train_depth=3, train_width=8,
                         train_steps=6, train_seeds=1, batch_size=8, n_train=40, n_validation=10,
                         eval_every=3, equal_hidden=(4, 4), equal_steps=5)


def _data(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 5)), rng.integers(0, 3, n)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_backprop_weight_gradients_match_the_network(activation):
    x, labels = _data()
    net = MLPClassifier(5, 3, (7, 6, 7), activation=activation, init="pytorch", seed=2, dtype=np.float64)
    _, norms, grads = experiment.backprop(net, x, labels)
    net.loss_and_gradient(x, labels)
    for i, g in enumerate(grads):
        reference = net.params.gradient(f"layer{i}.weight")
        np.testing.assert_allclose(g, reference, rtol=1e-12, atol=1e-15)
        assert norms[i] == pytest.approx(np.linalg.norm(reference), rel=1e-12)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_backprop_signal_matches_central_differences(activation):
    """||dL/dh_i|| against the finite-difference gradient of the loss as a function of h_i."""
    x, labels = _data()
    net = MLPClassifier(5, 3, (6, 6, 6), activation=activation, init="xavier", init_gain=1.5, seed=1,
                        dtype=np.float64)
    signal, _, _ = experiment.backprop(net, x, labels)
    p = net.params
    act = (lambda z: np.maximum(z, 0)) if activation == "relu" else np.tanh

    def hidden(i):  # h_i, the output of hidden layer i (1-based)
        h = x
        for j in range(i):
            h = act(h @ p[f"layer{j}.weight"] + p[f"layer{j}.bias"])
        return h

    def loss_from(i):
        def loss(flat):
            h = flat.reshape(len(labels), -1)
            for j in range(i, 3):
                h = act(h @ p[f"layer{j}.weight"] + p[f"layer{j}.bias"])
            logits = h @ p["layer3.weight"] + p["layer3.bias"]
            shifted = logits - logits.max(axis=1, keepdims=True)
            return float((np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(labels)), labels]).mean())
        return loss

    for i in (1, 2, 3):
        numeric = central_difference(loss_from(i), hidden(i).ravel().copy())
        assert signal[i - 1] == pytest.approx(np.linalg.norm(numeric), rel=1e-6)


@given(gain=st.floats(0.1, 4.0), q=st.floats(1e-3, 50.0))
@settings(max_examples=30, deadline=None)
def test_relu_prediction_is_the_gain(gain, q):
    """He's variance gain^2 2 / w: chi = w sigma^2 / 2 = gain^2 at every layer, whatever q."""
    factors = experiment.predicted_factors("relu", "he", gain, 64, 32, 6, q)
    np.testing.assert_allclose(factors, gain, rtol=1e-12)


def test_gaussian_mean_against_closed_forms_and_a_fine_grid():
    z = np.linspace(-12.0, 12.0, 400_001)
    density = np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    for q in (0.01, 0.7, 4.0, 30.0):
        assert experiment.gaussian_mean(lambda t: t ** 2, q) == pytest.approx(q, rel=1e-10)
        assert experiment.gaussian_mean(lambda t: np.maximum(t, 0) ** 2, q) == pytest.approx(q / 2, rel=1e-10)
        assert experiment.gaussian_mean(lambda t: float(t > 0), q) == pytest.approx(0.5, rel=1e-10)
        for f in (np.tanh, lambda t: 1 - np.tanh(t) ** 2):
            grid = np.trapezoid(f(math.sqrt(q) * z) ** 2 * density, z)
            assert experiment.gaussian_mean(lambda t: f(t) ** 2, q) == pytest.approx(grid, rel=1e-8)


def test_tanh_prediction_is_linear_near_zero_and_bounded_above():
    # Tiny inputs: tanh acts as the identity, chi = w sigma^2 = gain^2 under Xavier's variance.
    factors = experiment.predicted_factors("tanh", "xavier", 0.5, 64, 32, 6, 1e-8)
    np.testing.assert_allclose(factors, 0.5, rtol=1e-6)
    # tanh' <= 1, so the factor never exceeds the linear network's.
    assert (experiment.predicted_factors("tanh", "xavier", 2.0, 64, 32, 10, 10.0) < 2.0).all()


@pytest.mark.parametrize("init,gain", [("he", 0.7), ("xavier", 1.3), ("pytorch", 1.0)])
def test_weight_variance_matches_the_drawn_weights(init, gain):
    net = MLPClassifier(300, 2, (400,), init=init, init_gain=gain, seed=0, dtype=np.float64)
    drawn = np.asarray(net.params["layer0.weight"]).var()
    assert drawn == pytest.approx(experiment.weight_variance(init, gain, 300, 400), rel=0.02)


@given(factor=st.floats(0.05, 20.0), scale=st.floats(1e-3, 1e3))
@settings(max_examples=50, deadline=None)
def test_fitted_factor_recovers_a_geometric_sequence(factor, scale):
    layers = np.arange(1, 13)
    norms = scale * factor ** (-layers.astype(float))
    assert experiment.fitted_factor(norms, np.arange(3, 11)) == pytest.approx(factor, rel=1e-9)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="fit needs"):
        experiment.Config(depth=5, skip=2)
    with pytest.raises(ValueError, match="seeds"):
        experiment.Config(seeds=1)
    with pytest.raises(ValueError, match="depth"):
        experiment.Config(depth=0)
    with pytest.raises(ValueError, match="activation"):
        experiment.predicted_factors("sigmoid", "he", 1.0, 4, 4, 3, 1.0)
    with pytest.raises(ValueError, match="init"):
        experiment.weight_variance("equal", 1.0, 4, 4)


def test_tiny_run_end_to_end():
    result = experiment.run(TINY)
    assert result.transcription_error <= 1e-12
    # Equal initial weights: every unit of a layer receives the same update, step after step.
    assert result.equal_spread <= 1e-12
    assert result.random_spread > 1e-3
    for activation in experiment.ACTIVATIONS:
        for k in range(4):
            assert result.signal[activation, k].shape == (TINY.seeds, TINY.depth)
            assert result.weight_grad[activation, k].shape == (TINY.seeds, TINY.depth + 1)
            assert result.factors(activation, k).shape == (TINY.seeds,)
            assert len(result.histories[activation, k]) == TINY.train_seeds
    assert result.prediction("relu", 0) == pytest.approx(0.5, rel=1e-12)
    summary = experiment.summary(result)
    json.dumps(summary, allow_nan=True)
    assert set(summary["scales"]) == {f"{a}/{s.label}" for a in experiment.ACTIVATIONS
                                      for s in experiment.INITIALISATIONS[a]}
    assert set(experiment.figures(result)) == {"signal", "weights", "training"}


def test_scales_hold_book_and_paper():
    assert set(experiment.SCALES) >= {"book", "paper"}
    paper, book = experiment.SCALES["paper"], experiment.SCALES["book"]
    assert paper.depth > book.depth and paper.width > book.width and paper.seeds > book.seeds
