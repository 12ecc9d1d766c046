"""The networks against independent references: every backward pass against central finite
differences in float64, the forward passes against naive loops and direct formulas, the causal
mask, numerical edges (huge logits, scaled inputs, float32) and bad input."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import log_softmax

from memopt.nets import (
    CausalSelfAttention,
    CrossEntropy,
    DecoderBlock,
    DecoderTransformer,
    Embedding,
    FeedForward,
    LayerNorm,
    Linear,
    MeanSquaredError,
    Parameters,
    QuadraticMLP,
    ReLU,
)
from memopt.nets.layers import causal_mask, scatter_rows, sinusoidal_positions
from memopt.nets.params import normal


def central_difference(fun, x, h=1e-6, coordinates=None):
    """d fun / d x[i] for the chosen flat coordinates, x perturbed in place and restored."""
    flat = x.reshape(-1)
    coordinates = range(flat.size) if coordinates is None else coordinates
    grad = {}
    for i in coordinates:
        old = flat[i]
        flat[i] = old + h
        up = fun()
        flat[i] = old - h
        down = fun()
        flat[i] = old
        grad[i] = (up - down) / (2 * h)
    return grad


def assert_gradients_match(analytic, numeric, atol=1e-7, rtol=1e-5):
    flat = analytic.reshape(-1)
    for i, value in numeric.items():
        assert flat[i] == pytest.approx(value, rel=rtol, abs=atol), i


def check_layer(layer, params, x, seed=0):
    """Gradients of L = sum(layer(x) * R) with respect to the input and every parameter."""
    weights = np.random.default_rng(seed).standard_normal(layer.forward(x).shape)

    def loss():
        return float((layer.forward(x) * weights).sum())

    layer.forward(x)
    dx = layer.backward(weights)
    assert_gradients_match(dx, central_difference(loss, x))
    if params is not None and params.size:
        grad = params.grad.copy()
        assert_gradients_match(grad, central_difference(loss, params.vector))


def allocated(*builders, seed=0):
    params = Parameters()
    layers = [build(params) for build in builders]
    params.allocate(seed, dtype=np.float64)
    return params, layers


@pytest.fixture
def rng():
    return np.random.default_rng(42)


# -- layers against finite differences ----------------------------------------------------------
@pytest.mark.parametrize("bias", [False, True])
def test_linear_gradients(rng, bias):
    params, (layer,) = allocated(lambda p: Linear(p, "lin", 5, 3, bias=bias))
    check_layer(layer, params, rng.standard_normal((2, 4, 5)))


def test_relu_gradients_away_from_the_kink(rng):
    x = rng.standard_normal((3, 7))
    x[np.abs(x) < 1e-3] = 0.5
    check_layer(ReLU(), None, x)


def test_layer_norm_gradients(rng):
    params, (layer,) = allocated(lambda p: LayerNorm(p, "ln", 6))
    params.vector[:] = rng.standard_normal(params.size)  # a gain and shift away from (1, 0)
    check_layer(layer, params, rng.standard_normal((2, 3, 6)) * 3 + 1)


def test_attention_gradients(rng):
    params, (layer,) = allocated(lambda p: CausalSelfAttention(p, "att", 8, 2))
    check_layer(layer, params, rng.standard_normal((3, 4, 8)))


@pytest.mark.parametrize("make", [lambda p: CausalSelfAttention(p, "att", 8, 2),
                                  lambda p: DecoderBlock(p, "block", 8, 2)])
def test_last_positions_only_equal_the_full_outputs_and_have_right_gradients(rng, make):
    params, (layer,) = allocated(make)
    x = rng.standard_normal((3, 5, 8))
    full = layer.forward(x).copy()
    np.testing.assert_allclose(layer.forward(x, queries=2), full[:, 3:], rtol=1e-13, atol=1e-14)
    weights = rng.standard_normal((3, 2, 8))

    def loss():
        return float((layer.forward(x, queries=2) * weights).sum())

    layer.forward(x, queries=2)
    dx = layer.backward(weights)
    assert_gradients_match(dx, central_difference(loss, x))
    assert_gradients_match(params.grad.copy(), central_difference(loss, params.vector))


def test_feed_forward_gradients(rng):
    params, (layer,) = allocated(lambda p: FeedForward(p, "ff", 4))
    check_layer(layer, params, rng.standard_normal((2, 3, 4)))


def test_decoder_block_gradients(rng):
    params, (layer,) = allocated(lambda p: DecoderBlock(p, "block", 8, 4))
    check_layer(layer, params, rng.standard_normal((2, 4, 8)))


def test_embedding_gradient_with_repeated_tokens(rng):
    params, (layer,) = allocated(lambda p: Embedding(p, "emb", 5, 3))
    tokens = np.array([[0, 4, 4], [2, 0, 4]])
    weights = rng.standard_normal((2, 3, 3))
    layer.forward(tokens)
    layer.backward(weights)
    numeric = central_difference(lambda: float((layer.forward(tokens) * weights).sum()), params.vector)
    assert_gradients_match(params.grad, numeric)
    assert np.all(params.grad.reshape(5, 3)[[1, 3]] == 0)  # tokens never seen get no gradient


@pytest.mark.parametrize("loss", [CrossEntropy(), MeanSquaredError()])
def test_loss_gradients(rng, loss):
    outputs, labels = rng.standard_normal((6, 5)) * 3, rng.integers(0, 5, 6)
    _, grad = loss.value_and_gradient(outputs, labels)
    assert_gradients_match(grad, central_difference(lambda: loss.value(outputs, labels), outputs))


def relu_margin(net):
    """The smallest |pre-activation| of the feed-forward ReLUs at the last forward pass: a
    central difference of step h is only valid when no pre-activation lies within ~h of 0."""
    return min(float(np.abs(ff.layers[0]._x @ net.params[ff.layers[0].weight]).min())
               for ff in (block.feed_forward for block in net.blocks))


def test_transformer_gradients_on_every_parameter(rng):
    net = DecoderTransformer(9, 7, width=8, heads=2, layers=2, seed=1, dtype=np.float64)
    data = np.random.default_rng(6)
    tokens, labels = data.integers(0, 9, (5, 4)), data.integers(0, 7, 5)
    net.loss_and_gradient(tokens, labels)
    assert relu_margin(net) > 1e-3
    grad = net.params.grad.copy()
    # every coordinate of the small network
    numeric = central_difference(lambda: net.loss.value(net.forward(tokens), labels), net.params.vector)
    assert_gradients_match(grad, numeric)


def test_mlp_gradients(rng):
    net = QuadraticMLP(7, 6, seed=2, dtype=np.float64)
    pairs, labels = rng.integers(0, 7, (12, 2)), rng.integers(0, 7, 12)
    net.loss_and_gradient(pairs, labels)
    grad = net.params.grad.copy()
    numeric = central_difference(lambda: net.loss.value(net.forward(pairs), labels), net.params.vector)
    assert_gradients_match(grad, numeric)


# -- forward passes against independent references ----------------------------------------------
def naive_attention(x, w_qkv, w_out, heads):
    """Per sequence, per head, per query position: explicit loops over the visible keys."""
    batch, length, width = x.shape
    dh = width // heads
    out = np.zeros((batch, length, width))
    for b in range(batch):
        q, k, v = np.split(x[b] @ w_qkv, 3, axis=1)
        for h in range(heads):
            cols = slice(h * dh, (h + 1) * dh)
            for i in range(length):
                scores = np.array([q[i, cols] @ k[j, cols] / math.sqrt(dh) for j in range(i + 1)])
                weights = np.exp(scores - scores.max())
                weights /= weights.sum()
                out[b, i, cols] = sum(weights[j] * v[j, cols] for j in range(i + 1))
    return out @ w_out


def test_attention_matches_the_naive_loop(rng):
    params, (layer,) = allocated(lambda p: CausalSelfAttention(p, "att", 12, 3))
    x = rng.standard_normal((2, 5, 12))
    expected = naive_attention(x, params["att.qkv"], params["att.out"], 3)
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12, atol=1e-12)


def test_layer_norm_matches_the_formula(rng):
    params, (layer,) = allocated(lambda p: LayerNorm(p, "ln", 10))
    params.vector[:] = rng.standard_normal(20)
    x = rng.standard_normal((4, 10)) * 5 - 2
    expected = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(layer.forward(x), expected * params["ln.gain"] + params["ln.shift"], rtol=1e-12)


def test_cross_entropy_matches_scipy(rng):
    logits, labels = rng.standard_normal((8, 6)) * 4, rng.integers(0, 6, 8)
    expected = -log_softmax(logits, axis=1)[np.arange(8), labels].mean()
    assert CrossEntropy().value(logits, labels) == pytest.approx(expected, rel=1e-13)
    assert CrossEntropy().value_and_gradient(logits, labels)[0] == pytest.approx(expected, rel=1e-13)


def test_mean_squared_error_matches_the_formula(rng):
    outputs, labels = rng.standard_normal((8, 6)), rng.integers(0, 6, 8)
    expected = np.mean((outputs - np.eye(6)[labels]) ** 2)
    assert MeanSquaredError().value(outputs, labels) == pytest.approx(expected, rel=1e-13)


def test_mlp_equals_the_dense_formula_on_one_hot_inputs(rng):
    p, width = 11, 9
    net = QuadraticMLP(p, width, seed=3, dtype=np.float64)
    pairs = rng.integers(0, p, (20, 2))
    one_hot = np.concatenate([np.eye(p)[pairs[:, 0]], np.eye(p)[pairs[:, 1]]], axis=1)  # (n, 2p)
    first = np.concatenate([net.params["left"], net.params["right"]], axis=0)  # (2p, width)
    np.testing.assert_allclose(net.forward(pairs), (one_hot @ first) ** 2 @ net.params["readout"], rtol=1e-12)
    std = 0.5 / (2 * width) ** (1 / 3)
    big = QuadraticMLP(97, 500, seed=0, dtype=np.float64)
    assert np.std(big.params.vector) == pytest.approx(0.5 / 1000 ** (1 / 3), rel=0.01)
    assert std > 0


def test_scatter_rows_matches_add_at(rng):
    indices, values = rng.integers(0, 6, 40), rng.standard_normal((40, 3))
    expected = np.zeros((6, 3))
    np.add.at(expected, indices, values)
    np.testing.assert_allclose(scatter_rows(indices, values, 6), expected, rtol=1e-13)


def test_positions_and_mask():
    pe = sinusoidal_positions(4, 6)
    assert pe[2, 0] == pytest.approx(math.sin(2)) and pe[2, 1] == pytest.approx(math.cos(2))
    assert pe[3, 4] == pytest.approx(math.sin(3 / 10000 ** (4 / 6)))
    assert pe[3, 5] == pytest.approx(math.cos(3 / 10000 ** (4 / 6)))
    mask = causal_mask(3)
    assert np.all(mask[np.tril_indices(3)] == 0) and np.all(np.isneginf(mask[np.triu_indices(3, 1)]))


def test_the_papers_transformer_has_about_4e5_non_embedding_parameters():
    net = DecoderTransformer(99, 97, width=128, heads=4, layers=2)
    assert net.non_embedding_weights() == 2 * (4 * 128**2 + 8 * 128**2) == 393_216
    assert net.params.size == net.non_embedding_weights() + 99 * 128 + 128 * 97 + 2 * 2 * 2 * 128


# -- the causal mask ------------------------------------------------------------------------------
def test_future_tokens_do_not_change_earlier_outputs(rng):
    net = DecoderTransformer(11, 5, length=6, width=16, heads=4, seed=4, dtype=np.float64)
    tokens = rng.integers(0, 11, (3, 6))
    base = net.hidden(tokens).copy()
    for j in range(6):
        changed = tokens.copy()
        changed[:, j] = (changed[:, j] + 1 + rng.integers(0, 10, 3)) % 11
        out = net.hidden(changed)
        np.testing.assert_array_equal(out[:, :j], base[:, :j])
        assert np.abs(out[:, j] - base[:, j]).max() > 1e-6  # the changed position itself moves


# -- precisions and numerical edges ---------------------------------------------------------------
def test_float32_agrees_with_float64(rng):
    tokens = rng.integers(0, 9, (16, 4))
    single = DecoderTransformer(9, 7, width=32, heads=4, seed=5, dtype=np.float32)
    double = DecoderTransformer(9, 7, width=32, heads=4, seed=5, dtype=np.float64)
    assert single.forward(tokens).dtype == np.float32
    np.testing.assert_allclose(single.forward(tokens), double.forward(tokens), rtol=1e-4, atol=1e-4)
    labels = rng.integers(0, 7, 16)
    single.loss_and_gradient(tokens, labels)
    double.loss_and_gradient(tokens, labels)
    np.testing.assert_allclose(single.params.grad, double.params.grad, rtol=1e-3, atol=1e-5)


@settings(max_examples=100, deadline=None)
@given(st.floats(min_value=-1e200, max_value=1e200), st.integers(0, 4))
def test_cross_entropy_is_finite_for_huge_logits(scale, label):
    logits = np.array([[scale, -scale, 0.0, scale / 2, 1.0]])
    loss, grad = CrossEntropy().value_and_gradient(logits, np.array([label]))
    assert np.isfinite(loss) and loss >= 0 and np.all(np.isfinite(grad))
    assert grad.sum() == pytest.approx(0.0, abs=1e-12)  # softmax minus a one-hot


@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=1e-3, max_value=1e6), st.floats(min_value=-1e3, max_value=1e3))
def test_layer_norm_at_any_input_scale(scale, offset):
    params, (layer,) = allocated(lambda p: LayerNorm(p, "ln", 16))
    x = scale * np.random.default_rng(7).standard_normal((3, 16)) + offset
    centred = x - x.mean(1, keepdims=True)
    expected = centred / np.sqrt(np.mean(centred**2, axis=1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-9, atol=1e-9)
    if scale >= 1:  # where the variance dwarfs eps, the output ignores scale and offset
        np.testing.assert_allclose(layer.forward(x), layer.forward((x - offset) / scale), atol=1e-4)


def test_parameters_are_views_of_one_vector():
    params = Parameters()
    params.declare("a", (2, 3), normal(1.0))
    params.declare("b", (4,), normal(1.0))
    params.allocate(0)
    params["a"][0, 0] = 7.0
    assert params.vector[0] == 7.0 and params.size == 10
    params.load(np.arange(10.0))
    np.testing.assert_array_equal(params["b"], [6, 7, 8, 9])
    assert params.norm() == pytest.approx(np.linalg.norm(np.arange(10.0)))


# -- bad input ------------------------------------------------------------------------------------
def test_bad_inputs_are_refused():
    net = DecoderTransformer(9, 7, width=8, heads=2)
    with pytest.raises(ValueError, match=r"lie in \[0, 9\)"):
        net.forward(np.array([[0, 1, 9, 2]]))
    with pytest.raises(TypeError, match="integer token ids"):
        net.forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"shape \(batch, 4\)"):
        net.forward(np.zeros((2, 3), dtype=int))
    with pytest.raises(ValueError, match="multiple of heads"):
        DecoderTransformer(9, 7, width=10, heads=4)
    with pytest.raises(ValueError, match="width must be a positive integer"):
        DecoderTransformer(9, 7, width=0)
    with pytest.raises(TypeError, match="float32 or float64"):
        QuadraticMLP(5, 4, dtype=np.float16)
    with pytest.raises(ValueError, match="labels of shape"):
        CrossEntropy().value(np.zeros((3, 4)), np.zeros(2, dtype=int))
    params = Parameters()
    params.declare("w", (2,), normal(1.0))
    with pytest.raises(ValueError, match="declared twice"):
        params.declare("w", (3,), normal(1.0))
    with pytest.raises(ValueError, match="positive dimensions"):
        params.declare("v", (0, 3), normal(1.0))
    params.allocate(0)
    with pytest.raises(ValueError, match="flat vector of 2"):
        params.load(np.zeros(3))


@pytest.mark.gpu
@pytest.mark.skipif(not __import__("memopt.backend").backend.gpu_available(), reason="no CUDA device")
def test_gpu_gradients_match_the_cpu():
    tokens, labels = np.random.default_rng(8).integers(0, 9, (6, 4)), np.arange(6) % 7
    cpu = DecoderTransformer(9, 7, width=8, heads=2, seed=1, dtype=np.float64)
    gpu = DecoderTransformer(9, 7, width=8, heads=2, seed=1, dtype=np.float64, device="gpu")
    cpu.loss_and_gradient(tokens, labels)
    gpu.loss_and_gradient(tokens, labels)
    np.testing.assert_allclose(gpu.params.grad.get(), cpu.params.grad, rtol=1e-10, atol=1e-12)


# -- initialisations, dropout, tanh, residual blocks ------------------------------------------------
def test_he_and_xavier_have_their_papers_variances():
    from memopt.nets.params import he_normal, xavier_uniform

    rng = np.random.default_rng(0)
    he = he_normal(200)(rng, (200, 400))
    xavier = xavier_uniform(200, 400)(rng, (200, 400))
    # 80,000 draws: the sample variance is within ~1% (4 standard errors) of the target
    assert he.var() == pytest.approx(2 / 200, rel=0.02)
    assert xavier.var() == pytest.approx(2 / 600, rel=0.02)
    assert np.abs(xavier).max() <= math.sqrt(6 / 600)
    params, (layer,) = allocated(lambda p: Linear(p, "l", 50, 30, init=he_normal(50, gain=0.5)))
    assert params["l.weight"].std() == pytest.approx(0.5 * math.sqrt(2 / 50), rel=0.1)


def test_tanh_gradients(rng):
    from memopt.nets.layers import Tanh

    check_layer(Tanh(), None, rng.standard_normal((4, 6)))


def test_residual_block_gradients(rng):
    from memopt.nets.layers import Residual, Tanh

    params, (block,) = allocated(lambda p: Residual([Linear(p, "a", 6, 6, bias=True), Tanh(),
                                                     Linear(p, "b", 6, 6)]))
    check_layer(block, params, rng.standard_normal((5, 6)))
    with pytest.raises(ValueError, match="at least one layer"):
        Residual([])
    params, (narrowing,) = allocated(lambda p: Residual([Linear(p, "c", 6, 3)]))
    with pytest.raises(ValueError, match="must keep the shape"):
        narrowing.forward(rng.standard_normal((2, 6)))


def test_dropout_keeps_the_mean_and_masks_its_gradient(rng):
    from memopt.nets.layers import Dropout

    x = rng.standard_normal((400, 500))
    layer = Dropout(0.2, seed=3)
    y = layer.forward(x)
    kept = y != 0
    assert kept.mean() == pytest.approx(0.8, abs=0.005)  # 2e5 Bernoulli draws: s.e. 0.0009
    np.testing.assert_allclose(y[kept], x[kept] / 0.8, rtol=1e-15)
    dy = rng.standard_normal(x.shape)
    np.testing.assert_allclose(layer.backward(dy), dy * kept / 0.8, rtol=1e-15)
    layer.training = False
    assert layer.forward(x) is x and layer.backward(dy) is dy
    again = Dropout(0.2, seed=3)
    np.testing.assert_array_equal(again.forward(x), y)  # the same seed draws the same masks
    for rate in (-0.1, 1.0, True):
        with pytest.raises(ValueError, match="dropout rate"):
            Dropout(rate)
