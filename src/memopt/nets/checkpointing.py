"""Backpropagation through a chain of n layers under three memory strategies (lecture 2,
"vanilla", "memory poor" and "checkpointed" backpropagation; Chen, Xu, Zhang, Guestrin 2016).

The chain is h_{i+1} = tanh(h_i W_i) for i = 0 .. n-1, with the loss 1/2 ||h_n - y||^2. To
backpropagate through layer i one needs its input h_i. The strategies differ only in which
activations they keep and which they compute again:

* ``vanilla``: keep every h_i from the forward pass: n layer evaluations, n + 1 activations;
* ``memory_poor``: keep only h_0 and recompute h_i from it for every layer i, from the last
  to the first: n (n + 1) / 2 evaluations, two activations at a time;
* ``checkpointed``: keep every ``segment``-th activation (the checkpoints) during the forward
  pass; for each segment, from the last, recompute its activations from its checkpoint, keep
  them until it is backpropagated, then drop them: 2n - ceil(n / segment) evaluations and at
  most ceil(n / segment) + segment activations, about 2 sqrt(n) at segment = sqrt(n).

Every strategy multiplies the same numbers in the same order, so the gradients agree exactly.
:class:`Tape` counts what is kept: the peak number of activations held at once is the
strategy's memory, and the layer evaluations its compute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from memopt._checks import integer, real
from memopt.perturb import inputs as perturbed

STRATEGIES = ("vanilla", "memory_poor", "checkpointed")


class Tape:
    """The activations a strategy holds, by layer index, and the peak of their number."""

    def __init__(self):
        self.held: dict[int, np.ndarray] = {}
        self.peak = 0

    def keep(self, i: int, h: np.ndarray) -> None:
        self.held[i] = h
        self.peak = max(self.peak, len(self.held))

    def drop(self, i: int) -> None:
        del self.held[i]


@dataclass
class ChainGradient:
    """What one backward pass produced, and what it cost."""

    loss: float
    gradients: np.ndarray  # (n, width, width), d loss / d W_i
    evaluations: int  # layer forward evaluations, the initial forward pass included
    peak_activations: int  # the most activations (arrays of shape (batch, width)) held at once


class TanhChain:
    """n layers h_{i+1} = tanh(h_i W_i) of a common width, W_i drawn N(0, gain^2 / width)."""

    def __init__(self, layers: int, width: int, gain: float = 1.0, seed: int = 0):
        layers, width = integer("layers", layers), integer("width", width)
        rng = np.random.default_rng(integer("seed", seed, minimum=0))
        self.weights = perturbed(rng.standard_normal((layers, width, width)) * (real("gain", gain) / math.sqrt(width)))
        self.evaluations = 0

    @property
    def layers(self) -> int:
        return self.weights.shape[0]

    @property
    def width(self) -> int:
        return self.weights.shape[1]

    def layer(self, i: int, h: np.ndarray) -> np.ndarray:
        """h_{i+1} from h_i; every call is counted."""
        self.evaluations += 1
        return np.tanh(h @ self.weights[i])

    def layer_backward(self, i: int, h_in: np.ndarray, grad_out: np.ndarray):
        """(d loss / d h_i, d loss / d W_i) from the layer's input h_i and d loss / d h_{i+1}.

        As in the lecture's graph, where the gradient node b_i needs f_i and b_{i+1}, the
        backward step needs only the input: it forms h_i W_i again (part of the backward cost,
        not a layer evaluation) for the derivative of tanh.
        """
        h_out = np.tanh(h_in @ self.weights[i])
        grad_pre = grad_out * (1.0 - h_out * h_out)
        return grad_pre @ self.weights[i].T, h_in.T @ grad_pre

    def loss(self, x: np.ndarray, y: np.ndarray) -> float:
        h = np.asarray(x, dtype=float)
        for i in range(self.layers):
            h = np.tanh(h @ self.weights[i])
        return 0.5 * float(np.sum((h - y) ** 2))

    def gradient(self, x, y, strategy: str = "vanilla", segment: int | None = None) -> ChainGradient:
        """d loss / d W_i for every layer by backpropagation under ``strategy`` (see the module);
        ``segment`` is the checkpoint spacing of ``checkpointed`` (default ceil(sqrt(n)))."""
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        if x.ndim != 2 or x.shape[1] != self.width or y.shape != x.shape:
            raise ValueError(f"x and y must both have shape (batch, {self.width}), got {x.shape} and {y.shape}")
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
        if segment is not None and strategy != "checkpointed":
            raise ValueError("segment applies to the checkpointed strategy only")
        n = self.layers
        every = {"vanilla": 1, "memory_poor": n + 1,
                 "checkpointed": math.ceil(math.sqrt(n)) if segment is None else integer("segment", segment)}[strategy]
        self.evaluations = 0
        tape = Tape()
        tape.keep(0, x)
        h = x
        for i in range(n):  # forward: keep h_i for i divisible by every, and the output
            h = self.layer(i, h)
            if (i + 1) % every == 0 or i + 1 == n:
                tape.keep(i + 1, h)
        loss, grad = 0.5 * float(np.sum((h - y) ** 2)), h - y
        tape.drop(n)
        gradients = np.empty_like(self.weights)
        for i in range(n - 1, -1, -1):  # backward: layer i needs its input h_i
            if i not in tape.held:
                base = max(j for j in tape.held if j < i)
                h = tape.held[base]
                for j in range(base, i):  # recompute from the nearest kept activation below
                    h = self.layer(j, h)
                    if strategy == "checkpointed":
                        tape.keep(j + 1, h)  # the segment's activations, kept until used
                tape.keep(i, h)
            grad, gradients[i] = self.layer_backward(i, tape.held[i], grad)
            tape.drop(i)  # no layer below needs h_i
        return ChainGradient(loss, gradients, self.evaluations, tape.peak)


def checkpointed_evaluations(layers: int, segment: int) -> int:
    """Layer evaluations of ``checkpointed`` with checkpoints every ``segment`` layers: the
    forward pass (n), then every activation that is not a checkpoint once more (n - ceil(n / s)):
    2n - ceil(n / s)."""
    n, s = integer("layers", layers), min(integer("segment", segment), layers)
    return 2 * n - math.ceil(n / s)


def checkpointed_peak(layers: int, segment: int) -> int:
    """The most activations ``checkpointed`` holds at once: the larger of the end of the forward
    pass (the ceil(n/s) checkpoints h_0, h_s, ... and the output h_n) and the backward pass
    through a segment (the checkpoints below it, its own, and the activations recomputed in it)."""
    n, s = integer("layers", layers), min(integer("segment", segment), layers)
    count = math.ceil(n / s)
    top = n - s * (count - 1)  # length of the last segment
    full = count - 2 + s if count >= 2 else 0  # the highest full segment below the last
    return max(count + 1, count - 1 + top, full)
