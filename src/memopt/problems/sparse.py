r"""Sparse binary features with power-law frequencies: the setting where AdaGrad helps most.

Duchi, Hazan and Singer (2011, section 1.3) motivate AdaGrad with data in which a few features
are present in most examples and many are rare: feature :math:`j = 1, \dots, p` is present in an
example with probability

.. math::

    q_j = q_1\, j^{-a}, \qquad 0 < q_1 \le 1,\ a \ge 0,

independently of the others. A single step size must be small for the common coordinates,
which receive a gradient at almost every step, and is then far too small for the rare ones,
which receive one every :math:`1/q_j` steps; AdaGrad's per-coordinate step
:math:`\alpha / \sqrt{\sum_k g_{k,j}^2}` shrinks with the count of coordinate :math:`j`'s
non-zero gradients, so it stays large where gradients were rare.

:func:`power_law_logistic` draws such binary rows, a planted weight vector :math:`w`, and labels
:math:`y_i = +1` with probability :math:`\sigma(\langle a_i, w\rangle)`, and wraps them as an
L2-regularised :class:`~memopt.problems.logistic.LogisticGLM`. The binary features are exact
(they are not perturbed by ``MEMOPT_PERTURB``, like labels); the planted weights are drawn
measurements and are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memopt._checks import integer, real
from memopt.problems.logistic import LogisticGLM, sigmoid
from memopt.perturb import inputs as perturbed


def power_law_frequencies(n_features: int, exponent: float, top: float = 1.0) -> np.ndarray:
    """q_j = top * j^-exponent for j = 1 .. n_features: the probability that feature j is
    present in an example (feature 1 the most frequent)."""
    n_features = integer("n_features", n_features)
    exponent = real("exponent", exponent, strict=False)
    top = real("top", top)
    if top > 1:
        raise ValueError(f"top must be a probability in (0, 1], got {top:g}")
    return top * np.arange(1, n_features + 1, dtype=np.float64) ** -exponent


@dataclass(frozen=True)
class SparseLogistic:
    """A drawn instance: the problem, the frequencies it was drawn with and the planted weights."""

    problem: LogisticGLM
    frequencies: np.ndarray
    planted: np.ndarray

    @property
    def counts(self) -> np.ndarray:
        """How many examples contain each feature (the column sums of the binary features)."""
        return np.asarray(self.problem.features).sum(axis=0).astype(np.int64)


def power_law_logistic(
    n_samples: int,
    n_features: int,
    *,
    exponent: float = 1.0,
    top: float = 1.0,
    mu: float = 1e-3,
    weight_scale: float = 1.0,
    seed: int = 0,
) -> SparseLogistic:
    """n_samples binary rows, entry (i, j) = 1 with probability ``power_law_frequencies``'s q_j,
    a planted w ~ N(0, weight_scale^2 I), and labels y_i = +1 with probability sigma(<a_i, w>),
    drawn on the host from ``numpy.random.default_rng(seed)``."""
    n_samples = integer("n_samples", n_samples)
    frequencies = power_law_frequencies(n_features, exponent, top)
    weight_scale = real("weight_scale", weight_scale)
    mu = real("mu", mu, strict=False)
    seed = integer("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    features = (rng.random((n_samples, frequencies.size)) < frequencies).astype(np.float64)
    planted = perturbed(weight_scale * rng.standard_normal(frequencies.size))
    labels = np.where(rng.random(n_samples) < sigmoid(features @ planted), 1.0, -1.0)
    return SparseLogistic(LogisticGLM(features, labels, mu), frequencies, planted)
