"""A recurrent model for in-context linear regression whose memory is a fixed O(d) state.

:class:`InContextLSTM` reads a prompt (x_1, y_1), (x_2, y_2), ... one example at a time and
predicts each y_i from what it has seen before x_i arrives. Whatever it knows about the prompt's
weight vector lives in its state (h, c), ``2 * hidden`` floats, whatever the prompt's length: the
recurrent counterpart of a streaming method with bounded memory (Kaczmarz, one-pass SGD), where a
transformer keeps every earlier token within reach of its attention.

Input at step i: u_i = [x_i, y_{i-1} / sqrt(d)] (y_0 = 0). Each step therefore delivers the
label of the *previous* example together with the new input, which lets one recurrent step per
example both fold the previous example into the state and read the new query; the interleaved
sequence x_1, y_1, x_2, ... would need two steps per example and the same state. The labels are
scaled by 1/sqrt(d) because y = <w, x> has variance d under the task (x ~ N(0, I), w ~ N(0, I)),
and the prediction is scaled back: yhat_i = sqrt(d) (h_i v + b).

The cell is the LSTM of Hochreiter and Schmidhuber (1997) with a forget gate (Gers et al. 2000)::

    [a_i, a_f, a_g, a_o] = u_i W + h_{i-1} U + b            (each block of ``hidden`` columns)
    i, f, o = sigma(a_i), sigma(a_f), sigma(a_o);  g = tanh(a_g)
    c_i = f * c_{i-1} + i * g;  h_i = o * tanh(c_i)

with h_0 = c_0 = 0, the forget gate's bias starting at 1 (Jozefowicz et al. 2015) and the other
weights uniform on +-1/sqrt(hidden), as PyTorch's ``nn.LSTM``. The gates give the products
between the stored state and the new x_i that a linear read-out of a linear recurrence could not
form (y_i = <w, x_i> is bilinear in the task and the query).

The backward pass is written out (backpropagation through time) and checked against finite
differences in ``tests/unit/test_recurrent.py``.
"""

from __future__ import annotations

import math

import numpy as np

from memopt._checks import integer
from memopt.nets.in_context import check_prompts
from memopt.nets.models import Network
from memopt.nets.params import Parameters, constant, uniform


def _sigmoid(xp, a):
    # tanh form: no overflow warning for large |a|
    return 0.5 * (1 + xp.tanh(0.5 * a))


class InContextLSTM(Network):
    """LSTM over in-context regression prompts: ``forward(xs (B, t, d), ys (B, t))`` returns the
    predictions (B, t), prediction i from x_1..x_i and y_1..y_{i-1} only. See the module
    docstring for the cell; ``state_floats`` is the memory it carries between examples."""

    def __init__(self, dim: int, examples: int, *, hidden: int = 10, seed: int = 0, dtype=np.float32,
                 device=None):
        self.dim = integer("dim", dim)
        self.examples = integer("examples", examples)
        self.hidden = integer("hidden", hidden)
        n, h = self.dim + 1, self.hidden
        bound = 1 / math.sqrt(h)
        self.params = Parameters()
        self.input_weight = self.params.declare("lstm.input", (n, 4 * h), uniform(bound))
        self.recurrent_weight = self.params.declare("lstm.recurrent", (h, 4 * h), uniform(bound))
        forget_one = np.concatenate([np.zeros(h), np.ones(h), np.zeros(2 * h)])
        self.bias = self.params.declare("lstm.bias", (4 * h,), lambda rng, shape: forget_one.copy())
        self.readout = self.params.declare("readout.weight", (h,), uniform(bound))
        self.readout_bias = self.params.declare("readout.bias", (1,), constant(0.0))
        self._setup(seed, dtype, device)
        self.scale = math.sqrt(self.dim)

    @property
    def state_floats(self) -> int:
        """Numbers carried from one example to the next: h and c, 2 * hidden."""
        return 2 * self.hidden

    def as_prompts(self, xs, ys):
        """Check a batch of prompts of at most ``examples`` examples
        (:func:`~memopt.nets.in_context.check_prompts`) and return it in the parameters' dtype."""
        return check_prompts(xs, ys, dim=self.dim, examples=self.examples, exact=False,
                             xp=self.xp, dtype=self.params.dtype)

    def forward(self, xs, ys):
        """Predictions (B, t): entry i is a read-out of the state after x_1, y_1, ..., x_i."""
        xs, ys = self.as_prompts(xs, ys)
        xp, p, h_units = self.xp, self.params, self.hidden
        batch, steps, _ = xs.shape
        previous = xp.zeros_like(ys)
        previous[:, 1:] = ys[:, :-1] / self.scale
        inputs = xp.concatenate([xs, previous[:, :, None]], axis=2)  # (B, t, d + 1)
        # the input part of every pre-activation at once; the recurrent part step by step
        pre_input = (inputs.reshape(-1, self.dim + 1) @ p[self.input_weight]).reshape(batch, steps, 4 * h_units)
        pre_input += p[self.bias]
        h = xp.zeros((batch, h_units), dtype=xs.dtype)
        c = xp.zeros_like(h)
        hs = xp.empty((steps + 1, batch, h_units), dtype=xs.dtype)
        cs = xp.empty_like(hs)
        gates = xp.empty((steps, batch, 4 * h_units), dtype=xs.dtype)
        tanh_c = xp.empty((steps, batch, h_units), dtype=xs.dtype)
        hs[0], cs[0] = h, c
        for i in range(steps):
            a = pre_input[:, i] + h @ p[self.recurrent_weight]
            g = gates[i]
            g[:, :3 * h_units] = _sigmoid(xp, a[:, :3 * h_units])  # input, forget, output gates
            g[:, 3 * h_units:] = xp.tanh(a[:, 3 * h_units:])  # candidate
            ig, fg, og, cand = (g[:, k * h_units:(k + 1) * h_units] for k in range(4))
            c = fg * c + ig * cand
            tanh_c[i] = xp.tanh(c)
            h = og * tanh_c[i]
            hs[i + 1], cs[i + 1] = h, c
        self._cache = (inputs, hs, cs, gates, tanh_c)
        out = hs[1:] @ p[self.readout] + p[self.readout_bias][0]  # (t, B)
        return self.scale * out.T

    def backward(self, dpredictions) -> None:
        """Backpropagation through time: fills ``params.grad`` from d loss / d predictions."""
        xp, p, h_units = self.xp, self.params, self.hidden
        inputs, hs, cs, gates, tanh_c = self._cache
        steps = gates.shape[0]
        dout = (self.scale * dpredictions).T  # (t, B)
        p.gradient(self.readout)[...] = xp.einsum("tb,tbh->h", dout, hs[1:])
        p.gradient(self.readout_bias)[0] = dout.sum()
        dh_out = dout[:, :, None] * p[self.readout]  # (t, B, H): the read-out's share of dh_i
        dpre = xp.empty_like(gates)
        dh = xp.zeros_like(hs[0])
        dc = xp.zeros_like(hs[0])
        for i in reversed(range(steps)):
            dh = dh + dh_out[i]
            g = gates[i]
            ig, fg, og, cand = (g[:, k * h_units:(k + 1) * h_units] for k in range(4))
            dc = dc + dh * og * (1 - tanh_c[i] * tanh_c[i])
            da = dpre[i]
            da[:, :h_units] = dc * cand * ig * (1 - ig)
            da[:, h_units:2 * h_units] = dc * cs[i] * fg * (1 - fg)
            da[:, 2 * h_units:3 * h_units] = dh * tanh_c[i] * og * (1 - og)
            da[:, 3 * h_units:] = dc * ig * (1 - cand * cand)
            dc = dc * fg
            dh = da @ p[self.recurrent_weight].T
        flat = dpre.transpose(1, 0, 2).reshape(-1, 4 * h_units)  # rows in (B, t) order as inputs
        xp.matmul(inputs.reshape(-1, self.dim + 1).T, flat, out=p.gradient(self.input_weight))
        flat.sum(axis=0, out=p.gradient(self.bias))
        previous_h = hs[:-1].reshape(-1, h_units)  # (t * B, H), rows in (t, B) order as dpre
        xp.matmul(previous_h.T, dpre.reshape(-1, 4 * h_units), out=p.gradient(self.recurrent_weight))

    def loss_and_gradient(self, xs, ys) -> float:
        """The mean squared error over all positions of the batch; its gradient is left in
        ``params.grad``."""
        predictions = self.forward(xs, ys)
        residual = predictions - self.xp.asarray(ys, dtype=predictions.dtype)
        self.backward(residual * (2 / residual.size))
        return float((residual * residual).mean())
