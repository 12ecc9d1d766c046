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


def central_difference_gradient(network, x, y, h=1e-6):
    vector = network.params.vector
    numeric = np.empty(vector.size)
    for i in range(vector.size):
        old = vector[i]
        vector[i] = old + h
        up = network.loss.value(network.forward(x), y)
        vector[i] = old - h
        down = network.loss.value(network.forward(x), y)
        vector[i] = old
        numeric[i] = (up - down) / (2 * h)
    return numeric


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
    np.testing.assert_allclose(network.params.grad, central_difference_gradient(network, x, y),
                               rtol=1e-5, atol=1e-8)


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


# -- the options of the training chapters: activation, initialisation, dropout, skips ----------
@pytest.mark.parametrize("options", [
    {"activation": "tanh"},
    {"activation": "tanh", "residual": True, "init": "xavier"},
    {"residual": True, "init": "he"},
])
def test_gradients_of_every_option_match_central_differences(options):
    network = MLPClassifier(6, 4, (5, 5, 5), seed=2, dtype=np.float64, **options)
    x, y = data()
    network.loss_and_gradient(x, y)
    np.testing.assert_allclose(network.params.grad, central_difference_gradient(network, x, y),
                               rtol=1e-5, atol=1e-8)


def test_skip_blocks_add_their_input():
    network = MLPClassifier(6, 4, (6, 6, 3), residual=True, activation="tanh", seed=1, dtype=np.float64)
    assert network.skips == [True, True, False]  # 6 -> 6, 6 -> 6, then 6 -> 3 changes the width
    p, (x, _) = network.params, data()
    h = x
    for i, skip in enumerate(network.skips):
        out = np.tanh(h @ p[f"layer{i}.weight"] + p[f"layer{i}.bias"])
        h = h + out if skip else out
    np.testing.assert_allclose(network.forward(x), h @ p["layer3.weight"] + p["layer3.bias"], rtol=1e-12)


def test_initialisations_have_their_scales_and_equal_init_keeps_units_identical():
    he = MLPClassifier(400, 10, (400,), init="he", init_gain=0.5, seed=0, dtype=np.float64)
    assert he.params["layer0.weight"].std() == pytest.approx(0.5 * np.sqrt(2 / 400), rel=0.01)
    assert not he.params["layer0.bias"].any()
    equal = MLPClassifier(6, 4, (5, 5), init="equal", seed=0, dtype=np.float64)
    x, y = data()
    equal.loss_and_gradient(x, y)
    for i in range(2):  # every unit of a hidden layer gets the same gradient: symmetry is kept
        grad = equal.params.gradient(f"layer{i}.weight")
        np.testing.assert_array_equal(grad, np.repeat(grad[:, :1], grad.shape[1], axis=1))


def test_dropout_trains_noisily_and_evaluates_deterministically():
    network = MLPClassifier(6, 4, (50, 50), dropout=0.5, seed=0, dtype=np.float64)
    plain = MLPClassifier(6, 4, (50, 50), seed=0, dtype=np.float64)
    np.testing.assert_array_equal(network.params.vector, plain.params.vector)  # masks use their own RNG
    x, y = data()
    assert not np.allclose(network.forward(x), network.forward(x))  # new masks each pass
    assert network.evaluate(x, y) == plain.evaluate(x, y)  # evaluation switches dropout off
    assert network.dropouts[0].training  # and restores training mode
    network.train(False)
    np.testing.assert_array_equal(network.forward(x), plain.forward(x))
    network.train(True)
    network.loss_and_gradient(x[:1], y[:1])  # one row: about half of the units are dropped
    masked = network.dropouts[0]._mask
    weights_grad = network.params.gradient("layer1.weight")
    # a unit dropped after layer 0 feeds nothing into layer 1: its row of layer 1's gradient is 0
    dropped = np.all(masked == 0, axis=0)
    assert dropped.any() and not weights_grad[dropped].any()


@pytest.mark.parametrize("options, error, match", [
    ({"activation": "sigmoid"}, ValueError, "activation must be one of relu, tanh"),
    ({"init": "orthogonal"}, ValueError, "init must be one of"),
    ({"init_gain": -1.0}, ValueError, "init_gain must be finite and >= 0"),
    ({"dropout": 1.0}, ValueError, "dropout rate"),
    ({"residual": 1}, TypeError, "residual must be True or False"),
])
def test_bad_options_are_refused(options, error, match):
    with pytest.raises(error, match=match):
        MLPClassifier(6, 4, (5,), **options)
