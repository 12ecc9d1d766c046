"""MLPClassifier against independent references: its gradient against central finite
differences in float64, its forward pass and loss against a plain NumPy transcription of
h_i = ReLU(h_{i-1} W_i + b_i), logits = h W_L + b_L and -log softmax, and its input checks."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import log_softmax

from memopt.nets import MLPClassifier


def small_network(hidden=(7, 5), seed=0, dtype=np.float64):
    return MLPClassifier(6, 4, hidden, seed=seed, dtype=dtype)


def data(rows=9, features=6, classes=4, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((rows, features)), rng.integers(0, classes, size=rows)


def transcription(network, x):
    """The network's logits written out with the weights read by name."""
    p = network.params
    h = x
    layers = len(network.hidden) + 1
    for i in range(layers):
        h = h @ p[f"layer{i}.weight"] + p[f"layer{i}.bias"]
        if i < layers - 1:
            h = np.maximum(h, 0.0)
    return h


def test_parameter_count_is_that_of_the_layers():
    network = MLPClassifier(64, 10, (128, 128), dtype=np.float64)
    assert network.params.size == 64 * 128 + 128 + 128 * 128 + 128 + 128 * 10 + 10


def test_gradient_matches_central_differences_on_every_parameter():
    network = small_network()
    x, y = data()
    network.loss_and_gradient(x, y)
    analytic = network.params.grad.copy()
    vector = network.params.vector
    h = 1e-6
    numeric = np.empty_like(analytic)
    for i in range(vector.size):
        old = vector[i]
        vector[i] = old + h
        up = network.loss.value(network.forward(x), y)
        vector[i] = old - h
        down = network.loss.value(network.forward(x), y)
        vector[i] = old
        numeric[i] = (up - down) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def test_forward_and_loss_match_a_numpy_transcription():
    network = small_network(hidden=(8, 8, 3))
    x, y = data(rows=13)
    logits = network.forward(x)
    np.testing.assert_allclose(logits, transcription(network, x), rtol=1e-12, atol=1e-12)
    expected_loss = -log_softmax(logits, axis=1)[np.arange(y.size), y].mean()
    loss, accuracy = network.evaluate(x, y, chunk=4)
    assert loss == pytest.approx(expected_loss, rel=1e-12)
    assert accuracy == pytest.approx(np.mean(logits.argmax(axis=1) == y))


@settings(max_examples=25, deadline=None)
@given(hidden=st.lists(st.integers(1, 6), min_size=0, max_size=3), rows=st.integers(1, 7),
       seed=st.integers(0, 2**16))
def test_forward_matches_transcription_for_any_depth(hidden, rows, seed):
    network = small_network(hidden=tuple(hidden), seed=seed)
    x, _ = data(rows=rows, seed=seed)
    np.testing.assert_allclose(network.forward(x), transcription(network, x), rtol=1e-12, atol=1e-12)


def test_the_same_seed_gives_the_same_weights_and_float32_runs():
    a, b = small_network(seed=3), small_network(seed=3)
    np.testing.assert_array_equal(a.params.vector, b.params.vector)
    assert not np.array_equal(a.params.vector, small_network(seed=4).params.vector)
    single = small_network(dtype=np.float32)
    x, y = data()
    loss = single.loss_and_gradient(x, y)  # float64 inputs are cast to the parameters' type
    assert np.isfinite(loss) and single.params.grad.dtype == np.float32


def test_bad_inputs_are_rejected_with_clear_errors():
    network = small_network()
    x, y = data()
    with pytest.raises(TypeError, match="real-valued"):
        network.forward(np.ones((3, 6), dtype=np.int64))
    with pytest.raises(ValueError, match="shape"):
        network.forward(np.ones((3, 5)))
    with pytest.raises(ValueError, match="finite"):
        network.forward(np.full((2, 6), np.nan))
    with pytest.raises(TypeError, match="hidden"):
        MLPClassifier(6, 4, 8)
    with pytest.raises(ValueError, match="hidden width"):
        MLPClassifier(6, 4, (8, 0))
    with pytest.raises(ValueError, match="classes"):
        MLPClassifier(6, 1)
