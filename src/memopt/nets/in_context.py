"""A transformer trained on in-context linear regression (Garg et al. 2022; Fu, Chen, Jia,
Sharan 2024), and the training loop shared by every in-context regression model.

:class:`InContextTransformer` reads a prompt as the token sequence

    (x_1, 0), (0, y_1), (x_2, 0), (0, y_2), ..., (x_t, 0)

of vectors in R^(d+1) (an x-token holds x_i and a zero, a y-token zeros and y_i), maps every
token to the model width by one read-in linear layer, adds a learned position embedding,
applies ``layers`` causal GPT-2 blocks (:class:`~memopt.nets.layers.PreNormBlock`: layer norm before the attention
and before the feed-forward part) and a final layer norm, and reads a scalar out at every
x-token. The prediction at x_i sees x_1..x_i and y_1..y_{i-1} only, so one sequence trains
t predictions at once, from 0 to t - 1 in-context examples. The final y_t is never seen, so the sequence stops at x_t.

:func:`fit_in_context` trains any model with that ``loss_and_gradient(xs, ys)`` on fresh
isotropic prompts each step (x ~ N(0, I_d), w ~ N(0, I_d), y = <w, x>), the training
distribution of both papers.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from tqdm import trange

from memopt._checks import integer
from memopt.backend import single_blas_thread
from memopt.nets.layers import LayerNorm, Linear, PreNormBlock
from memopt.nets.models import Network
from memopt.nets.params import Parameters, normal
from memopt.problems.icl import isotropic_prompts


def check_prompts(xs, ys, *, dim: int, examples: int, exact: bool, xp, dtype):
    """A batch of prompts, xs of shape (B, t, dim) and ys (B, t) with t = ``examples``
    (``exact``) or 1 <= t <= ``examples``, real-valued and finite, as arrays of module ``xp``
    and type ``dtype``; else a one-line TypeError or ValueError saying what is wrong."""
    xs, ys = xp.asarray(xs), xp.asarray(ys)
    for name, array in (("xs", xs), ("ys", ys)):
        if array.dtype.kind != "f":
            raise TypeError(f"{name} must be real-valued (a float array), got dtype {array.dtype}")
    if xs.ndim != 3 or xs.shape[2] != dim or (exact and xs.shape[1] != examples):
        t = examples if exact else "t"
        raise ValueError(f"xs must have shape (batch, {t}, {dim}), got {xs.shape}")
    if ys.shape != xs.shape[:2]:
        raise ValueError(f"ys must have shape (batch, t) = {xs.shape[:2]}, got {ys.shape}")
    if xs.shape[1] < 1 or xs.shape[0] < 1:
        raise ValueError(f"need at least one prompt of at least one example, got shape {xs.shape}")
    if xs.shape[1] > examples:
        raise ValueError(f"prompts hold at most {examples} examples, got {xs.shape[1]}")
    if not (bool(xp.isfinite(xs).all()) and bool(xp.isfinite(ys).all())):
        raise ValueError("xs or ys contain NaN or infinite entries (they must be finite)")
    return xs.astype(dtype, copy=False), ys.astype(dtype, copy=False)


class InContextTransformer(Network):
    """Decoder-only transformer over interleaved (x, y) tokens; see the module docstring.

    ``forward(xs, ys)`` maps xs (B, t, d) and ys (B, t) to predictions (B, t);
    ``loss_and_gradient(xs, ys)`` is the mean squared error over all B t predictions, with its
    gradient left in ``params.grad``; ``hidden_states(xs, ys)`` returns the residual stream at
    the x-tokens after the read-in (entry 0) and after each block (entries 1..layers), the
    inputs of the linear probes.
    """

    def __init__(self, dim: int, examples: int, *, width: int = 64, heads: int = 2,
                 layers: int = 4, seed: int = 0, dtype=np.float32, device=None):
        self.dim = integer("dim", dim)
        self.examples = integer("examples", examples)
        self.width, self.heads, self.layers = (integer(n, v) for n, v in
                                               (("width", width), ("heads", heads), ("layers", layers)))
        if self.width % self.heads:
            raise ValueError(f"width {width} must be a multiple of heads {heads}")
        self.length = 2 * self.examples - 1
        self.params = Parameters()
        self.read_in = Linear(self.params, "read_in", self.dim + 1, self.width, bias=True)
        self.positions = self.params.declare("positions", (self.length, self.width), normal(0.02))
        self.blocks = [PreNormBlock(self.params, f"block{i}", self.width, self.heads)
                       for i in range(self.layers)]
        self.final_norm = LayerNorm(self.params, "final_norm", self.width)
        self.read_out = Linear(self.params, "read_out", self.width, 1, bias=True)
        self._setup(seed, dtype, device)

    def as_prompts(self, xs, ys):
        """xs (B, t, d) and ys (B, t) with t = ``examples``, checked by :func:`check_prompts`."""
        return check_prompts(xs, ys, dim=self.dim, examples=self.examples, exact=True,
                             xp=self.xp, dtype=self.params.dtype)

    def tokens(self, xs, ys):
        """The (B, 2t - 1, d + 1) token sequence (x_1, 0), (0, y_1), ..., (x_t, 0)."""
        xs, ys = self.as_prompts(xs, ys)
        tokens = self.xp.zeros((xs.shape[0], 2 * self.examples, self.dim + 1), dtype=xs.dtype)
        tokens[:, 0::2, :-1] = xs
        tokens[:, 1::2, -1] = ys
        return tokens[:, :-1]

    def _stream(self, xs, ys):
        """The residual stream after the read-in and after each block, (B, 2t - 1, width)."""
        h = self.read_in.forward(self.tokens(xs, ys))
        h += self.params[self.positions]
        states = [h]
        for block in self.blocks:
            states.append(block.forward(states[-1]))
        return states

    def hidden_states(self, xs, ys) -> list:
        """The stream at the x-tokens, (B, t, width), after the read-in and each block."""
        return [h[:, 0::2] for h in self._stream(xs, ys)]

    def forward(self, xs, ys):
        last = self.final_norm.forward(self._stream(xs, ys)[-1][:, 0::2])
        return self.read_out.forward(last)[..., 0]

    def backward(self, dpredictions) -> None:
        dx_tokens = self.final_norm.backward(self.read_out.backward(dpredictions[..., None]))
        dh = self.xp.zeros((dx_tokens.shape[0], self.length, self.width), dtype=dx_tokens.dtype)
        dh[:, 0::2] = dx_tokens
        for block in reversed(self.blocks):
            dh = block.backward(dh)
        dh.sum(axis=0, out=self.params.gradient(self.positions))
        self.read_in.backward(dh)

    def loss_and_gradient(self, xs, ys) -> float:
        """Mean over the B t predictions of (prediction - y)^2; gradient in ``params.grad``."""
        _, targets = self.as_prompts(xs, ys)
        residual = self.forward(xs, ys) - targets
        loss = float((residual * residual).mean())
        self.backward(residual * (2 / residual.size))
        return loss

    def squared_errors(self, xs, ys, chunk: int = 1024) -> np.ndarray:
        """(prediction - y)^2 for every prompt and position, (B, t), as float64 on the host."""
        out = []
        for start in range(0, len(xs), chunk):
            x, y = xs[start:start + chunk], ys[start:start + chunk]
            residual = np.asarray(self.forward(x, y), dtype=np.float64) - np.asarray(y)
            out.append(residual * residual)
        return np.concatenate(out)


def fit_in_context(model, *, dim: int, examples: int, steps: int, batch_size: int, rule,
                   seed: int, progress: bool = False,
                   callback: Callable[[int, float], None] | None = None) -> np.ndarray:
    """Train ``model`` (anything with ``params`` and ``loss_and_gradient(xs, ys)``) for
    ``steps`` steps of the update ``rule`` (a :mod:`memopt.optim.adaptive` method), each on
    ``batch_size`` fresh isotropic prompts of ``examples`` examples in dimension ``dim`` drawn
    from ``default_rng(seed)``. ``callback(step, loss)`` runs after every step (step counts
    from 1). Returns the training loss of every step, shape (steps,)."""
    steps = integer("steps", steps, minimum=0)
    batch_size = integer("batch_size", batch_size)
    rng = np.random.default_rng(integer("seed", seed, minimum=0))
    state = rule.init(model.params.vector)
    history = np.empty(steps)
    with single_blas_thread():  # small products: extra BLAS threads cost more than they save
        for step in trange(steps, disable=not progress, desc="in-context training"):
            xs, ys, _ = isotropic_prompts(rng, batch_size, examples, dim)
            history[step] = model.loss_and_gradient(xs, ys)
            rule.step(model.params.vector, model.params.grad, state)
            if callback is not None:
                callback(step + 1, history[step])
    return history
