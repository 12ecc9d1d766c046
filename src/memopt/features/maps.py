r"""Random feature maps whose first N features are the N-feature model.

Random Fourier features (Rahimi and Recht 2007; the model of Belkin, Hsu, Ma, Mandal 2019):

.. math::

    \phi_k(x) = \sqrt{2}\,\cos(\langle v_k, x\rangle + b_k), \qquad
    v_k \sim \mathcal N(0, \sigma^{-2} I_d), \quad b_k \sim U[0, 2\pi),

so that :math:`\mathbb E_k\,\phi_k(x)\phi_k(x') = \exp(-\lVert x - x'\rVert^2 / (2\sigma^2))`,
the Gaussian kernel of bandwidth :math:`\sigma`. Random ReLU features:
:math:`\phi_k(x) = \max(\langle v_k, x\rangle, 0)` with :math:`v_k` uniform on the unit sphere.

**Nesting.** A map is drawn once for ``max_features`` features; ``transform(x, stop=N)`` returns
the first N, and those are exactly the features a map drawn for N features (same seed) would
give, because the directions and the offsets come from two separate seeded streams that are
consumed feature by feature. A sweep over N therefore grows one model instead of drawing a new
one at each N, which is what lets :mod:`memopt.features.solvers` update a factorization rather
than recompute it.
"""

from __future__ import annotations

import numpy as np

from memopt._checks import integer
from memopt.backend import array_module
from memopt.perturb import inputs as perturbed


def _streams(seed) -> tuple[np.random.Generator, np.random.Generator]:
    """Two independent generators (directions, offsets) derived from one seed."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    children = np.random.SeedSequence(int(seed)).spawn(2)
    return np.random.default_rng(children[0]), np.random.default_rng(children[1])


class RandomFeatureMap:
    """Common part of the random feature maps: shapes, checks and the nested slicing.

    Subclasses set ``directions`` (shape ``(input_dim, max_features)``) and implement
    :meth:`_activate` on the projections ``x @ directions[:, start:stop]``.
    """

    directions: np.ndarray

    def __init__(self, input_dim: int, max_features: int, seed: int):
        self.input_dim = integer("input_dim", input_dim)
        self.max_features = integer("max_features", max_features)
        self.seed = seed
        self._direction_rng, self._offset_rng = _streams(seed)

    def _activate(self, projections, start: int, stop: int):
        raise NotImplementedError

    def transform(self, x, start: int = 0, stop: int | None = None):
        """Features ``start`` to ``stop - 1`` of every row of ``x`` (shape ``(m, input_dim)``):
        an array of shape ``(m, stop - start)`` on the device of ``x``."""
        stop = self.max_features if stop is None else stop
        for name, value in (("start", start), ("stop", stop)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
        if not 0 <= start < stop <= self.max_features:
            raise ValueError(
                f"need 0 <= start < stop <= max_features = {self.max_features}, got start={start}, stop={stop}"
            )
        xp = array_module(x)
        x = xp.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise ValueError(f"x must have shape (m, {self.input_dim}), got {x.shape}")
        if x.dtype.kind not in "fiu":
            raise TypeError(f"x must hold real numbers, got dtype {x.dtype}")
        x = x.astype(np.float64) if x.dtype.kind != "f" else x
        if not bool(xp.isfinite(x).all()):
            raise ValueError("x contains NaN or infinite entries")
        directions = xp.asarray(self.directions[:, start:stop], dtype=x.dtype)
        return self._activate(x @ directions, start, stop)

    __call__ = transform

    def kernel(self, x, y):
        """The limit of Phi(x) Phi(y)^T / N as N grows: the kernel these features sample."""
        raise NotImplementedError


class RandomFourierFeatures(RandomFeatureMap):
    """sqrt(2) cos(<v_k, x> + b_k) with v_k ~ N(0, sigma^-2 I) and b_k ~ U[0, 2 pi)."""

    def __init__(self, input_dim: int, max_features: int, sigma: float, seed: int = 0):
        super().__init__(input_dim, max_features, seed)
        sigma = float(sigma)
        if not np.isfinite(sigma) or sigma <= 0:
            raise ValueError(f"sigma (the kernel bandwidth) must be finite and > 0, got {sigma}")
        self.sigma = sigma
        # Row k of the draw is v_k: drawing (max_features, d) row by row keeps every prefix.
        self.directions = perturbed(self._direction_rng.standard_normal((self.max_features, self.input_dim)).T / sigma)
        self.offsets = self._offset_rng.uniform(0.0, 2 * np.pi, self.max_features)

    def _activate(self, projections, start, stop):
        xp = array_module(projections)
        offsets = xp.asarray(self.offsets[start:stop], dtype=projections.dtype)
        return 2.0**0.5 * xp.cos(projections + offsets)  # a Python float keeps float32 float32

    def kernel(self, x, y):
        """The Gaussian kernel exp(-||x - y||^2 / (2 sigma^2)), for every pair of rows."""
        xp = array_module(x, y)
        sq = (x * x).sum(axis=1)[:, None] + (y * y).sum(axis=1)[None, :] - 2.0 * (x @ y.T)
        return xp.exp(-xp.maximum(sq, 0.0) / (2.0 * self.sigma**2))


class RandomReLUFeatures(RandomFeatureMap):
    """max(<v_k, x - c>, 0) with v_k uniform on the unit sphere of R^d and a fixed centre c.

    The centre matters for inputs in a cone such as images with pixels >= 0: with c = 0 a
    direction whose inner product with every input is negative gives a feature that vanishes on
    all of them (an exactly zero column), while inputs centred at their mean surround the origin.
    """

    def __init__(self, input_dim: int, max_features: int, seed: int = 0, center=None):
        super().__init__(input_dim, max_features, seed)
        gaussian = self._direction_rng.standard_normal((self.max_features, self.input_dim))
        self.directions = perturbed(gaussian / np.linalg.norm(gaussian, axis=1, keepdims=True)).T
        center = np.zeros(self.input_dim) if center is None else np.asarray(center, dtype=np.float64)
        if center.shape != (self.input_dim,) or not np.isfinite(center).all():
            raise ValueError(f"center must be a finite vector of shape ({self.input_dim},), got {center.shape}")
        self.center = center
        # <v, x - c> = <v, x> - <v, c>: the centre becomes one offset per feature.
        self.offsets = -(center @ self.directions)

    def _activate(self, projections, start, stop):
        xp = array_module(projections)
        return xp.maximum(projections + xp.asarray(self.offsets[start:stop], dtype=projections.dtype), 0.0)

    def kernel(self, x, y):
        """The arc-cosine kernel of degree 1 (Cho and Saul 2009) for directions uniform on the
        sphere, on the centred inputs: ||x|| ||y|| (sin t + (pi - t) cos t) / (2 pi d), t the
        angle between x - c and y - c."""
        xp = array_module(x, y)
        x, y = x - xp.asarray(self.center), y - xp.asarray(self.center)
        norms = xp.sqrt((x * x).sum(axis=1))[:, None] * xp.sqrt((y * y).sum(axis=1))[None, :]
        cosine = xp.clip((x @ y.T) / xp.where(norms > 0, norms, 1.0), -1.0, 1.0)
        angle = xp.arccos(cosine)
        return norms * (xp.sin(angle) + (np.pi - angle) * cosine) / (2 * np.pi * self.input_dim)
