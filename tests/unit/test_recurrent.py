"""The in-context LSTM against independent references: central finite differences of the loss
(float64) for the backpropagation through time, a plain-Python transcription of the LSTM cell
for the forward pass, and causality (prediction i ignores examples after i); bad input raises
clearly."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memopt.nets.recurrent import InContextLSTM
from reference import model_gradients


def prompts(seed, batch=3, steps=5, dim=3):
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(batch, steps, dim))
    ws = rng.normal(size=(batch, dim))
    return xs, np.einsum("btd,bd->bt", xs, ws)


def test_gradient_matches_finite_differences():
    model = InContextLSTM(3, 6, hidden=4, seed=1, dtype=np.float64)
    model.params.vector[:] *= 3  # larger weights: saturating gates, every term of BPTT matters
    xs, ys = prompts(0)
    analytic, numeric = model_gradients(model, xs, ys)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def reference_forward(model, xs, ys):
    """The LSTM of the module docstring, one prompt and one unit at a time, in plain Python."""
    p, h_units, d = model.params, model.hidden, model.dim
    w_in, w_rec, bias = p["lstm.input"], p["lstm.recurrent"], p["lstm.bias"]
    v, b0 = p["readout.weight"], p["readout.bias"][0]
    sig = lambda a: 1 / (1 + math.exp(-a))  # noqa: E731
    out = np.empty(ys.shape)
    for n in range(xs.shape[0]):
        h, c = [0.0] * h_units, [0.0] * h_units
        for i in range(xs.shape[1]):
            u = list(xs[n, i]) + [ys[n, i - 1] / math.sqrt(d) if i else 0.0]
            a = [sum(u[k] * w_in[k, j] for k in range(d + 1)) + sum(h[k] * w_rec[k, j] for k in range(h_units))
                 + bias[j] for j in range(4 * h_units)]
            new_h = []
            for j in range(h_units):
                ig, fg, og = sig(a[j]), sig(a[h_units + j]), sig(a[2 * h_units + j])
                g = math.tanh(a[3 * h_units + j])
                c[j] = fg * c[j] + ig * g
                new_h.append(og * math.tanh(c[j]))
            h = new_h
            out[n, i] = math.sqrt(d) * (sum(h[j] * v[j] for j in range(h_units)) + b0)
    return out


def test_forward_matches_plain_python():
    model = InContextLSTM(3, 5, hidden=4, seed=2, dtype=np.float64)
    xs, ys = prompts(1, batch=2)
    np.testing.assert_allclose(model.forward(xs, ys), reference_forward(model, xs, ys), rtol=1e-12, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(position=st.integers(0, 5), seed=st.integers(0, 2**16))
def test_causal(position, seed):
    """Changing example i (its x_i and y_i) leaves predictions 1..i-1 and, for y_i, prediction i
    unchanged."""
    model = InContextLSTM(3, 6, hidden=5, seed=seed, dtype=np.float64)
    xs, ys = prompts(seed, steps=6)
    before = model.forward(xs, ys)
    changed_x, changed_y = xs.copy(), ys.copy()
    changed_x[:, position] += 1.0
    changed_y[:, position] -= 2.0
    after = model.forward(changed_x, changed_y)
    np.testing.assert_array_equal(after[:, :position], before[:, :position])
    assert not np.allclose(after[:, position], before[:, position])  # x_i is seen at i
    only_y = model.forward(xs, changed_y)
    np.testing.assert_array_equal(only_y[:, :position + 1], before[:, :position + 1])


def test_shorter_prompts_are_prefixes():
    model = InContextLSTM(3, 6, hidden=4, seed=0, dtype=np.float64)
    xs, ys = prompts(3, steps=6)
    np.testing.assert_array_equal(model.forward(xs[:, :4], ys[:, :4]), model.forward(xs, ys)[:, :4])


def test_state_floats_and_dtypes():
    model = InContextLSTM(5, 15, hidden=10)
    assert model.state_floats == 20
    assert model.params.size == 6 * 40 + 10 * 40 + 40 + 10 + 1
    xs, ys = prompts(4, steps=5, dim=5)
    low = model.forward(xs, ys)
    assert low.dtype == np.float32
    wide = InContextLSTM(5, 15, hidden=10, dtype=np.float64)
    np.testing.assert_allclose(low, wide.forward(xs, ys), rtol=1e-4, atol=1e-5)
    # the forget gate starts open (bias 1), the other gates' biases at 0
    bias = model.params["lstm.bias"]
    assert (bias[10:20] == 1).all() and (bias[:10] == 0).all() and (bias[20:] == 0).all()


def test_bad_input():
    model = InContextLSTM(3, 4, hidden=2)
    xs, ys = prompts(0, steps=4)
    with pytest.raises(ValueError, match="xs must have shape"):
        model.forward(xs[..., :2], ys)
    with pytest.raises(ValueError, match="ys must have shape"):
        model.forward(xs, ys[:, :3])
    with pytest.raises(ValueError, match="at most 4"):
        model.forward(*prompts(0, steps=5))
    with pytest.raises(TypeError, match="real-valued"):
        model.forward(xs.astype(int), ys)
    bad = xs.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.forward(bad, ys)
    with pytest.raises((ValueError, TypeError)):
        InContextLSTM(3, 4, hidden=0)
    with pytest.raises(TypeError, match="dtype"):
        InContextLSTM(3, 4, dtype=np.float16)


def test_trains_with_the_shared_loop():
    """A few hundred Adam steps on fresh prompts lower the loss on held-out prompts."""
    from memopt.nets.in_context import fit_in_context
    from memopt.optim.adaptive import Adam
    from memopt.problems.icl import isotropic_prompts

    model = InContextLSTM(3, 6, hidden=6, seed=0, dtype=np.float64)
    xs, ys, _ = isotropic_prompts(np.random.default_rng(9), 500, 6, 3)
    before = model.loss_and_gradient(xs, ys)
    fit_in_context(model, dim=3, examples=6, steps=300, batch_size=32, rule=Adam(lr=1e-2), seed=0)
    assert model.loss_and_gradient(xs, ys) < 0.95 * before
