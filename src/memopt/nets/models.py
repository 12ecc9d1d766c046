"""The networks of the grokking chapter, and a plain classifier on real-valued inputs.

* :class:`DecoderTransformer`: the decoder-only transformer of Power et al. (2022,
  appendix A.1): token embedding plus a fixed sinusoidal position code, ``layers`` post-norm
  decoder blocks of width ``width`` with ``heads`` causal attention heads and a 4x ReLU
  feed-forward block, and a linear unembedding of the last position into the answer classes;
  cross-entropy on the answer token. With 2 layers, width 128 and 4 heads it has
  2 * (4 * 128^2 + 2 * 4 * 128^2) = 393,216 weights outside the embedding, unembedding and
  layer norms: the paper's "about 4e5 non-embedding parameters".
* :class:`QuadraticMLP`: the network of Gromov (2023), f(a, b) = W2 (W1 [e_a; e_b])^2 with one
  hidden layer of ``width`` units, a squared activation, no biases, and the mean squared
  error against one-hot targets.
* :class:`MLPClassifier`: a multilayer perceptron on real-valued feature vectors,
  Linear -> ReLU -> ... -> Linear with biases, and cross-entropy on the class logits: the
  lecture's network NN(w, x) = sigma_L o w_L o ... o sigma_1 o w_1 o x.

All share :class:`Network`: ``forward`` (outputs, remembering what backward needs),
``backward`` (fills ``params.grad``), ``loss_and_gradient`` and ``evaluate``.
"""

from __future__ import annotations

import math

import numpy as np

from memopt._checks import integer, real
from memopt.backend import array_module, xp_for_device
from memopt.nets.layers import (
    DecoderBlock,
    Dropout,
    Embedding,
    Linear,
    ReLU,
    Tanh,
    scatter_rows,
    sinusoidal_positions,
)
from memopt.nets.losses import CrossEntropy, MeanSquaredError
from memopt.nets.params import Parameters, constant, he_normal, normal, uniform, xavier_uniform


class Network:
    """What both networks share: the loss, one training gradient, batched evaluation."""

    params: Parameters
    loss: CrossEntropy | MeanSquaredError

    def _setup(self, seed, dtype, device):
        if np.dtype(dtype) not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        self.params.allocate(seed, dtype=dtype, xp=xp_for_device(device))

    @property
    def xp(self):
        return array_module(self.params.vector)

    def as_inputs(self, inputs):
        """Integer inputs on the parameters' device, checked against the vocabulary."""
        inputs = self.xp.asarray(inputs)
        if inputs.dtype.kind not in "iu":
            raise TypeError(f"inputs must be integer token ids, got dtype {inputs.dtype}")
        if inputs.ndim != 2 or inputs.shape[1] != self.input_length:
            raise ValueError(f"inputs must have shape (batch, {self.input_length}), got {inputs.shape}")
        if inputs.size and (int(inputs.min()) < 0 or int(inputs.max()) >= self.input_range):
            raise ValueError(f"inputs must lie in [0, {self.input_range}), got values outside")
        return inputs

    def loss_and_gradient(self, inputs, labels) -> float:
        """The loss on a batch; its gradient is left in ``params.grad``."""
        loss, doutputs = self.loss.value_and_gradient(self.forward(inputs), self.xp.asarray(labels))
        self.backward(doutputs)
        return loss

    def evaluate(self, inputs, labels, chunk: int = 4096) -> tuple[float, float]:
        """(mean loss, accuracy) over all rows, ``chunk`` rows at a time."""
        xp = self.xp
        labels = xp.asarray(labels)
        total_loss, correct, n = 0.0, 0, labels.shape[0]
        for start in range(0, n, chunk):
            out = self.forward(inputs[start:start + chunk])
            lab = labels[start:start + chunk]
            total_loss += self.loss.value(out, lab) * lab.shape[0]
            correct += int((out.argmax(axis=1) == lab).sum())
        return total_loss / n, correct / n


class DecoderTransformer(Network):
    """Decoder-only transformer over token sequences (B, T) -> logits (B, classes) of the
    last position (the "=" of "a o b ="). See the module docstring."""

    def __init__(self, vocabulary: int, classes: int, *, length: int = 4, width: int = 128,
                 heads: int = 4, layers: int = 2, seed: int = 0, dtype=np.float32, device=None):
        self.vocabulary = integer("vocabulary", vocabulary)
        self.classes = integer("classes", classes)
        self.input_length = integer("length", length)
        self.input_range = self.vocabulary
        width, heads, layers = (integer(n, v) for n, v in
                                (("width", width), ("heads", heads), ("layers", layers)))
        self.width = width
        self.params = Parameters()
        self.embedding = Embedding(self.params, "embedding", vocabulary, width)
        self.blocks = [DecoderBlock(self.params, f"block{i}", width, heads) for i in range(layers)]
        self.unembedding = Linear(self.params, "unembedding", width, classes)
        self.loss = CrossEntropy()
        self._setup(seed, dtype, device)
        self.positions = self.xp.asarray(sinusoidal_positions(length, width).astype(self.params.dtype))

    def hidden(self, tokens, queries: int | None = None):
        """The last block's output at every position, (B, T, width), or at the last
        ``queries`` positions only (the earlier blocks still compute every position)."""
        tokens = self.as_inputs(tokens)
        h = self.embedding.forward(tokens)
        h += self.positions
        for i, block in enumerate(self.blocks):
            h = block.forward(h, queries if i == len(self.blocks) - 1 else None)
        return h

    def forward(self, tokens):
        # The loss reads the last position only, so the last block computes nothing else.
        return self.unembedding.forward(self.hidden(tokens, queries=1)[:, -1])

    def backward(self, dlogits) -> None:
        dh = self.unembedding.backward(dlogits)[:, None, :]
        for block in reversed(self.blocks):
            dh = block.backward(dh)
        self.embedding.backward(dh)

    def non_embedding_weights(self) -> int:
        """Parameters of the blocks' projections (excluding embeddings and layer norms)."""
        return sum(int(np.prod(self.params.shape(n))) for n in self.params.names()
                   if n.startswith("block") and "norm" not in n)


class QuadraticMLP(Network):
    """Gromov's (2023) network on pairs (a, b) of residues mod p:

        f(a, b) = W2^T (U[a] + V[b])^2,

    where [U; V] (2p x width) is the first layer acting on the concatenated one-hot vectors
    [e_a; e_b] (so the product is two row lookups) and W2 (width x p) is the readout. All
    weights start N(0, 0.25 / (2 width)^(2/3)), the initialisation of the public code of
    the paper's group (github.com/d-doshi/Grokking, ``fcn``), times ``init_scale`` (the
    alpha of Liu et al.'s Omnigrok, who scale the initial weights to move their norm).
    """

    input_length = 2

    def __init__(self, modulus: int, width: int = 500, *, seed: int = 0, dtype=np.float32,
                 device=None, init_scale: float = 1.0):
        self.modulus = integer("modulus", modulus)
        self.width = integer("width", width)
        if not init_scale > 0:
            raise ValueError(f"init_scale must be positive, got {init_scale}")
        self.input_range = self.modulus
        std = init_scale * 0.5 / (2 * self.width) ** (1 / 3)
        self.params = Parameters()
        self.left = self.params.declare("left", (self.modulus, self.width), normal(std))
        self.right = self.params.declare("right", (self.modulus, self.width), normal(std))
        self.readout = self.params.declare("readout", (self.width, self.modulus), normal(std))
        self.loss = MeanSquaredError()
        self._setup(seed, dtype, device)

    def forward(self, pairs):
        pairs = self.as_inputs(pairs)
        a, b = pairs[:, 0], pairs[:, 1]
        pre = self.params[self.left][a] + self.params[self.right][b]
        hidden = pre * pre
        self._cache = (a, b, pre, hidden)
        return hidden @ self.params[self.readout]

    def backward(self, doutputs) -> None:
        xp = self.xp
        a, b, pre, hidden = self._cache
        xp.matmul(hidden.T, doutputs, out=self.params.gradient(self.readout))
        dpre = doutputs @ self.params[self.readout].T
        dpre *= 2 * pre
        scatter_rows(a, dpre, self.modulus, out=self.params.gradient(self.left))
        scatter_rows(b, dpre, self.modulus, out=self.params.gradient(self.right))


class MLPClassifier(Network):
    """Fully connected network on real-valued inputs (B, features) -> logits (B, classes):

        h_0 = x, h_i = act(h_{i-1} W_i + b_i) for i = 1 .. L-1, logits = h_{L-1} W_L + b_L,

    with ``hidden`` the widths of the L - 1 hidden layers and the cross-entropy of the logits
    against integer labels as the loss. The options the training chapters vary:

    * ``activation``: ``"relu"`` or ``"tanh"``;
    * ``init``: the weights' initialisation, ``"pytorch"`` (uniform on +-1/sqrt(fan_in), weights
      and biases, as ``nn.Linear``), ``"he"`` (N(0, 2 / fan_in); He et al. 2015), ``"xavier"``
      (uniform on +-sqrt(6 / (fan_in + fan_out)); Glorot & Bengio 2010) or ``"equal"`` (every
      weight 1 / fan_in: all units of a layer start identical), each multiplied by
      ``init_gain``; biases start at 0 except under ``"pytorch"``;
    * ``dropout``: inverted dropout of that rate after every hidden activation, in training
      only (:meth:`evaluate` and ``train(False)`` switch it off);
    * ``residual``: every hidden layer whose input and output widths agree becomes a skip
      block, h_i = h_{i-1} + act(h_{i-1} W_i + b_i) (He et al. 2016; Li et al. 2018's "skip").

    Layer i's parameters are ``layer{i}.weight`` and ``layer{i}.bias``.
    """

    ACTIVATIONS = {"relu": ReLU, "tanh": Tanh}
    INITS = ("pytorch", "he", "xavier", "equal")

    def __init__(self, features: int, classes: int, hidden: tuple[int, ...] = (128, 128), *,
                 activation: str = "relu", init: str = "pytorch", init_gain: float = 1.0,
                 dropout: float = 0.0, residual: bool = False, seed: int = 0, dtype=np.float32,
                 device=None):
        self.input_length = integer("features", features)
        self.classes = integer("classes", classes, minimum=2)
        if isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__iter__"):
            raise TypeError(f"hidden must be a sequence of layer widths, got {hidden!r}")
        self.hidden = tuple(integer("hidden width", w) for w in hidden)
        if activation not in self.ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(self.ACTIVATIONS)}, got {activation!r}")
        if init not in self.INITS:
            raise ValueError(f"init must be one of {', '.join(self.INITS)}, got {init!r}")
        init_gain = real("init_gain", init_gain, strict=False)
        if not isinstance(residual, bool):
            raise TypeError(f"residual must be True or False, got {residual!r}")
        self.activation, self.init, self.residual = activation, init, residual
        widths = (self.input_length, *self.hidden, self.classes)
        self.params = Parameters()
        self.layers = []
        for i, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:])):
            weights = {"pytorch": uniform(init_gain / math.sqrt(d_in)), "he": he_normal(d_in, init_gain),
                       "xavier": xavier_uniform(d_in, d_out, init_gain),
                       "equal": constant(init_gain / d_in)}[init]
            biases = None if init == "pytorch" else constant(0.0)
            self.layers.append(Linear(self.params, f"layer{i}", d_in, d_out, bias=True, init=weights,
                                      bias_init=biases))
        self.activations = [self.ACTIVATIONS[activation]() for _ in self.hidden]
        self.dropouts = [Dropout(dropout, seed=[seed, i]) for i in range(len(self.hidden))] if dropout else []
        #: whether hidden layer i is a skip block (its input and output widths agree)
        self.skips = [residual and d_in == d_out for d_in, d_out in zip(widths[:-2], widths[1:-1])]
        self.loss = CrossEntropy()
        self._setup(seed, dtype, device)

    def train(self, mode: bool = True) -> None:
        """Training mode (dropout on) or evaluation mode (dropout off)."""
        for layer in self.dropouts:
            layer.training = bool(mode)

    def evaluate(self, inputs, labels, chunk: int = 4096) -> tuple[float, float]:
        """(mean loss, accuracy) in evaluation mode, whatever the current mode."""
        modes = [layer.training for layer in self.dropouts]
        self.train(False)
        try:
            return super().evaluate(inputs, labels, chunk)
        finally:
            for layer, mode in zip(self.dropouts, modes):
                layer.training = mode

    def as_inputs(self, inputs):
        """Real-valued inputs of shape (batch, features), finite, in the parameters' dtype."""
        inputs = self.xp.asarray(inputs)
        if inputs.dtype.kind != "f":
            raise TypeError(f"inputs must be real-valued (a float array), got dtype {inputs.dtype}")
        if inputs.ndim != 2 or inputs.shape[1] != self.input_length:
            raise ValueError(f"inputs must have shape (batch, {self.input_length}), got {inputs.shape}")
        if not bool(self.xp.isfinite(inputs).all()):
            raise ValueError("inputs must be finite (no NaN or infinity)")
        return inputs.astype(self.params.dtype, copy=False)

    def forward(self, inputs):
        h = self.as_inputs(inputs)
        for i, (layer, activation) in enumerate(zip(self.layers, self.activations)):
            out = activation.forward(layer.forward(h))
            if self.dropouts:
                out = self.dropouts[i].forward(out)
            h = h + out if self.skips[i] else out
        return self.layers[-1].forward(h)

    def backward(self, dlogits) -> None:
        dh = self.layers[-1].backward(dlogits)
        for i in reversed(range(len(self.activations))):
            dout = self.dropouts[i].backward(dh) if self.dropouts else dh
            dinput = self.layers[i].backward(self.activations[i].backward(dout))
            dh = dh + dinput if self.skips[i] else dinput