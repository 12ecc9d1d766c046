"""Layers with explicit forward and backward passes on NumPy or CuPy arrays.

Each layer declares its parameters in a shared :class:`~memopt.nets.params.Parameters`,
keeps what its backward pass needs from the last ``forward`` call, and its ``backward(dy)``
writes the gradient of every parameter it owns into the shared gradient vector (overwriting:
each parameter is used once per forward pass) and returns the gradient with respect to its
input. The array module comes from the arrays, so the same code runs on the CPU and the GPU.

Shapes: a batch of B sequences of T tokens of width d is (B, T, d); every layer that acts
position-wise also accepts any leading shape.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse

from memopt.backend import array_module
from memopt.nets.params import Initialiser, Parameters, constant, normal, uniform


def scatter_rows(indices, values, rows: int, out=None):
    """sum_i e_{indices[i]} values[i]^T: the rows of ``values`` added into ``rows`` rows (the
    gradient of a table lookup), i.e. one-hot(indices)^T @ values. On the CPU the one-hot
    matrix is a SciPy sparse matrix (one add per entry of ``values``, in a fixed order);
    on a GPU it is a dense matrix product."""
    xp = array_module(values)
    indices = indices.ravel()
    values = values.reshape(indices.size, -1)
    if xp is np:
        one_hot = scipy.sparse.csr_matrix(
            (np.ones(indices.size, dtype=values.dtype), (indices, np.arange(indices.size))),
            shape=(rows, indices.size))
        result = one_hot @ values
        if out is None:
            return result
        out[...] = result
        return out
    one_hot = xp.zeros((rows, indices.size), dtype=values.dtype)
    one_hot[indices, xp.arange(indices.size)] = 1
    return xp.matmul(one_hot, values, out=out)


class Embedding:
    """Token embedding: ``tokens`` (int, any shape) -> table[tokens] (shape + (d,)).
    Initialised N(0, 1), as PyTorch's ``nn.Embedding``."""

    def __init__(self, params: Parameters, name: str, vocabulary: int, width: int):
        self.params, self.vocabulary = params, vocabulary
        self.table = params.declare(f"{name}.table", (vocabulary, width), normal(1.0))

    def forward(self, tokens):
        self._tokens = tokens
        return self.params[self.table][tokens]

    def backward(self, dy) -> None:
        scatter_rows(self._tokens, dy, self.vocabulary, out=self.params.gradient(self.table))


def sinusoidal_positions(length: int, width: int) -> np.ndarray:
    """The fixed position code of Vaswani et al. (2017): sin(pos / 10000^(i/d)) at even i,
    cos(pos / 10000^((i-1)/d)) at odd i (the form used by Power et al.'s code)."""
    pos = np.arange(length)[:, None]
    i = np.arange(width)[None, :]
    angle = pos / 10000.0 ** ((i - i % 2) / width)
    return np.where(i % 2 == 0, np.sin(angle), np.cos(angle))


class Linear:
    """y = x W (+ b) with W of shape (d_in, d_out), initialised uniform on
    [-1/sqrt(d_in), 1/sqrt(d_in)] like PyTorch's ``nn.Linear`` (weights and bias), or by
    ``init`` (e.g. :func:`~memopt.nets.params.he_normal`) for the weights and ``bias_init`` for
    the bias."""

    def __init__(self, params: Parameters, name: str, d_in: int, d_out: int, bias: bool = False,
                 init: Initialiser | None = None, bias_init: Initialiser | None = None):
        self.params, self.d_in, self.d_out = params, d_in, d_out
        bound = 1 / math.sqrt(d_in)
        self.weight = params.declare(f"{name}.weight", (d_in, d_out), init or uniform(bound))
        self.bias = params.declare(f"{name}.bias", (d_out,), bias_init or uniform(bound)) if bias else None

    # Products are taken on 2-D views: a stacked (B, T, d) @ (d, d') product would be B
    # separate small matrix products.
    def forward(self, x):
        self._x = x
        y = x.reshape(-1, self.d_in) @ self.params[self.weight]
        if self.bias is not None:
            y += self.params[self.bias]
        return y.reshape(*x.shape[:-1], self.d_out)

    def backward(self, dy):
        xp = array_module(dy)
        dy2 = dy.reshape(-1, self.d_out)
        xp.matmul(self._x.reshape(-1, self.d_in).T, dy2, out=self.params.gradient(self.weight))
        if self.bias is not None:
            dy2.sum(axis=0, out=self.params.gradient(self.bias))
        return (dy2 @ self.params[self.weight].T).reshape(*dy.shape[:-1], self.d_in)


class ReLU:
    def forward(self, x):
        self._positive = x > 0
        return x * self._positive

    def backward(self, dy):
        return dy * self._positive


class Tanh:
    def forward(self, x):
        self._y = array_module(x).tanh(x)
        return self._y

    def backward(self, dy):
        return dy * (1 - self._y * self._y)


class Dropout:
    """Inverted dropout (Srivastava et al. 2014): in training, each unit is kept with
    probability 1 - rate and scaled by 1 / (1 - rate), so the expected output equals the input;
    in evaluation (``training = False``) the layer is the identity. The masks come from the
    layer's own host generator ``default_rng(seed)``, so a run is reproducible."""

    def __init__(self, rate: float, seed: int | tuple[int, ...] | list[int] = 0):
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(f"dropout rate must lie in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.training = True
        self._rng = np.random.default_rng(seed)

    def forward(self, x):
        if not self.training or self.rate == 0:
            self._mask = None
            return x
        keep = self._rng.random(x.shape) >= self.rate
        self._mask = array_module(x).asarray(keep / (1 - self.rate), dtype=x.dtype)
        return x * self._mask

    def backward(self, dy):
        return dy if self._mask is None else dy * self._mask


class Residual:
    """y = x + F(x) for a chain of layers F with equal input and output widths (He et al.
    2016): the gradient reaches x through the identity as well as through F."""

    def __init__(self, layers: list):
        if not layers:
            raise ValueError("a residual block needs at least one layer")
        self.layers = list(layers)

    def forward(self, x):
        h = x
        for layer in self.layers:
            h = layer.forward(h)
        if h.shape != x.shape:
            raise ValueError(f"a residual block must keep the shape: {x.shape} -> {h.shape}")
        return x + h

    def backward(self, dy):
        dh = dy
        for layer in reversed(self.layers):
            dh = layer.backward(dh)
        return dy + dh


class LayerNorm:
    """(x - mean) / sqrt(var + eps) * gain + shift over the last axis (Ba et al. 2016);
    gain 1 and shift 0 at initialisation, eps = 1e-5 as in PyTorch."""

    def __init__(self, params: Parameters, name: str, width: int, eps: float = 1e-5):
        self.params, self.eps = params, eps
        self.gain = params.declare(f"{name}.gain", (width,), constant(1.0))
        self.shift = params.declare(f"{name}.shift", (width,), constant(0.0))

    def forward(self, x):
        centred = x - x.mean(axis=-1, keepdims=True)
        self._rstd = 1 / (((centred * centred).mean(axis=-1, keepdims=True) + self.eps) ** 0.5)
        self._xhat = centred * self._rstd
        return self._xhat * self.params[self.gain] + self.params[self.shift]

    def backward(self, dy):
        xhat, width = self._xhat, dy.shape[-1]
        dy2 = dy.reshape(-1, width)
        (dy2 * xhat.reshape(-1, width)).sum(axis=0, out=self.params.gradient(self.gain))
        dy2.sum(axis=0, out=self.params.gradient(self.shift))
        dxhat = dy * self.params[self.gain]
        # d/dx of xhat = (x - mean) * rstd, applied to dxhat
        return self._rstd * (dxhat - dxhat.mean(axis=-1, keepdims=True)
                             - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True))


def causal_mask(length: int, dtype=np.float64) -> np.ndarray:
    """0 on and below the diagonal, -inf above it: position i attends to positions j <= i."""
    return np.triu(np.full((length, length), -np.inf, dtype=dtype), k=1)


def softmax(scores, axis=-1):
    e = array_module(scores).exp(scores - scores.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


class CausalSelfAttention:
    """Multi-head self-attention with a causal mask (Vaswani et al. 2017, section 3.2):
    heads of width d / heads, queries, keys and values from one (d, 3d) projection (columns
    q | k | v), the heads concatenated and mixed by a (d, d) output projection, no biases (as
    in Power et al.'s code).

    ``forward(x, queries=P)`` computes the outputs of the last P positions only (keys and
    values still come from every position): a network whose loss reads the last position
    needs nothing else from its last block.
    """

    def __init__(self, params: Parameters, name: str, width: int, heads: int):
        if width % heads:
            raise ValueError(f"width {width} must be a multiple of heads {heads}")
        self.params, self.width, self.heads, self.head_width = params, width, heads, width // heads
        bound = 1 / math.sqrt(width)
        self.qkv = params.declare(f"{name}.qkv", (width, 3 * width), uniform(bound))
        self.out = params.declare(f"{name}.out", (width, width), uniform(bound))
        self._masks = {}

    def _mask(self, length, xp, dtype):
        key = (length, xp.__name__, np.dtype(dtype).str)
        if key not in self._masks:
            self._masks[key] = xp.asarray(causal_mask(length, dtype))
        return self._masks[key]

    def _heads(self, y, batch, length, parts):
        """(B*T, parts*d) -> (parts, B, H, T, dh)."""
        return y.reshape(batch, length, parts, self.heads, self.head_width).transpose(2, 0, 3, 1, 4)

    def forward(self, x, queries: int | None = None):
        xp = array_module(x)
        batch, length, width = x.shape
        queries = length if queries is None else queries
        weights = self.params[self.qkv]
        x_query = x[:, length - queries:].reshape(-1, width)
        q = self._heads(x_query @ weights[:, :width], batch, queries, 1)[0]  # (B, H, P, dh)
        k, v = self._heads(x.reshape(-1, width) @ weights[:, width:], batch, length, 2)
        scale = 1 / math.sqrt(self.head_width)
        scores = q @ k.swapaxes(-1, -2)
        scores *= scale
        scores += self._mask(length, xp, x.dtype)[length - queries:]
        att = softmax(scores)
        mixed = (att @ v).transpose(0, 2, 1, 3).reshape(batch * queries, width)
        self._cache = (x, x_query, q, k, v, att, mixed, scale)
        return (mixed @ self.params[self.out]).reshape(batch, queries, width)

    def backward(self, dy):
        xp = array_module(dy)
        x, x_query, q, k, v, att, mixed, scale = self._cache
        batch, length, width = x.shape
        queries = q.shape[2]
        weights, grad = self.params[self.qkv], self.params.gradient(self.qkv)
        dy2 = dy.reshape(-1, width)
        xp.matmul(mixed.T, dy2, out=self.params.gradient(self.out))
        dmixed = (dy2 @ self.params[self.out].T).reshape(
            batch, queries, self.heads, self.head_width).transpose(0, 2, 1, 3)
        datt = dmixed @ v.swapaxes(-1, -2)
        dkv = xp.empty((batch, length, 2, self.heads, self.head_width), dtype=dy.dtype)
        dkv[:, :, 1] = (att.swapaxes(-1, -2) @ dmixed).transpose(0, 2, 1, 3)
        # softmax backward; masked entries have att = 0 and so get no gradient
        dscores = att * (datt - (datt * att).sum(axis=-1, keepdims=True))
        dscores *= scale
        dkv[:, :, 0] = (dscores.swapaxes(-1, -2) @ q).transpose(0, 2, 1, 3)
        dq = (dscores @ k).transpose(0, 2, 1, 3).reshape(-1, width)
        dkv = dkv.reshape(-1, 2 * width)
        grad[:, :width] = x_query.T @ dq
        grad[:, width:] = x.reshape(-1, width).T @ dkv
        dx = (dkv @ weights[:, width:].T).reshape(batch, length, width)
        dx[:, length - queries:] += (dq @ weights[:, :width].T).reshape(batch, queries, width)
        return dx


class FeedForward:
    """The position-wise MLP block: Linear(d, m d) -> ReLU -> Linear(m d, d), no biases."""

    def __init__(self, params: Parameters, name: str, width: int, multiplier: int = 4):
        self.layers = [Linear(params, f"{name}.up", width, multiplier * width), ReLU(),
                       Linear(params, f"{name}.down", multiplier * width, width)]

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dy):
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy


class DecoderBlock:
    """A post-norm decoder block as in Power et al.'s code:
    a = LN(x + Attention(x)),  y = LN(a + FeedForward(a)).
    ``forward(x, queries=P)`` computes the last P positions only (see the attention)."""

    def __init__(self, params: Parameters, name: str, width: int, heads: int):
        self.attention = CausalSelfAttention(params, f"{name}.attention", width, heads)
        self.attention_norm = LayerNorm(params, f"{name}.attention_norm", width)
        self.feed_forward = FeedForward(params, f"{name}.feed_forward", width)
        self.feed_forward_norm = LayerNorm(params, f"{name}.feed_forward_norm", width)

    def forward(self, x, queries: int | None = None):
        attended = self.attention.forward(x, queries)
        a = self.attention_norm.forward(x[:, x.shape[1] - attended.shape[1]:] + attended)
        return self.feed_forward_norm.forward(a + self.feed_forward.forward(a))

    def backward(self, dy):
        da = self.feed_forward_norm.backward(dy)
        da = da + self.feed_forward.backward(da)
        dres = self.attention_norm.backward(da)
        dx = self.attention.backward(dres)
        dx[:, dx.shape[1] - dres.shape[1]:] += dres
        return dx


class PreNormBlock:
    """A GPT-2 decoder block (Radford et al. 2019): the layer norm before each part,
    a = x + Attention(LN(x)),  y = a + FeedForward(LN(a)),
    so the residual stream itself is never normalised (the post-norm
    :class:`~memopt.nets.layers.DecoderBlock` normalises it after each part)."""

    def __init__(self, params: Parameters, name: str, width: int, heads: int):
        self.attention_norm = LayerNorm(params, f"{name}.attention_norm", width)
        self.attention = CausalSelfAttention(params, f"{name}.attention", width, heads)
        self.feed_forward_norm = LayerNorm(params, f"{name}.feed_forward_norm", width)
        self.feed_forward = FeedForward(params, f"{name}.feed_forward", width)

    def forward(self, x):
        a = x + self.attention.forward(self.attention_norm.forward(x))
        return a + self.feed_forward.forward(self.feed_forward_norm.forward(a))

    def backward(self, dy):
        da = dy + self.feed_forward_norm.backward(self.feed_forward.backward(dy))
        return da + self.attention_norm.backward(self.attention.backward(da))
