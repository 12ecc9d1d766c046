r"""Multiscale objectives: sums of non-interacting pieces whose curvatures differ by large factors.

Kelner, Marsden, Sharan, Sidford, Valiant and Yuan (COLT 2022, "Big-Step-Little-Step") study

.. math::

    f(x) = \sum_{i=1}^{m} f_i(U_i^\top x),

where the columns of :math:`U_1, \dots, U_m` are orthonormal bases of mutually orthogonal
subspaces that together span :math:`\mathbb{R}^d`, and each piece :math:`f_i` is
:math:`L_i`-smooth and :math:`\mu_i`-strongly convex. A method may know the *scales*
:math:`(L_i, \mu_i)` but not the subspaces. Here the scales are ordered and separated,
:math:`L_1 \ge \mu_1 \ge L_2 \ge \mu_2 \ge \dots \ge L_m \ge \mu_m`, and the condition number
of the whole is :math:`\kappa = L_1 / \mu_m`, which can be as large as the product of the
pieces' condition numbers :math:`\kappa_i = L_i/\mu_i` and of the gaps between them.

Two families:

* :func:`clustered_quadratic`: :math:`f(x) = \tfrac12 (x - x^*)^\top A (x - x^*)` whose
  Hessian has ``clusters`` groups of eigenvalues, each group spread evenly over
  :math:`[\mu_i, L_i]` with :math:`L_i/\mu_i` = ``cluster_condition``, in a random orthonormal
  basis (the lecture's picture: eigenvalues near 1 and near :math:`1/\kappa`);
* :func:`logistic_pieces`: a non-quadratic objective, each piece a scaled L2-regularised
  logistic regression (:class:`~memopt.problems.logistic.LogisticGLM`) acting on its own
  random subspace.

Both expose ``value``, ``gradient``, ``minimizer``, ``minimum``, ``scales``, ``L`` and ``mu``.
"""

from __future__ import annotations

import math

import numpy as np

from memopt._checks import integer, real
from memopt.problems.logistic import LogisticGLM, planted_logistic
from memopt.perturb import inputs as perturbed


def cluster_scales(kappa: float, clusters: int, cluster_condition: float) -> tuple[tuple[float, float], ...]:
    """The scales (L_i, mu_i), i = 1..clusters, of geometrically spaced clusters with
    L_1 = 1, mu_m = 1/kappa and L_i / mu_i = cluster_condition.

    Consecutive clusters are a factor r = (kappa / cluster_condition)^(1/(m-1)) apart
    (L_{i+1} = L_i / r), so they do not overlap (mu_i >= L_{i+1}) exactly when
    kappa >= cluster_condition^m.
    """
    clusters = integer("clusters", clusters)
    cluster_condition = real("cluster_condition", cluster_condition, minimum=1.0, strict=False)
    kappa = real("kappa", kappa, minimum=1.0, strict=False)
    if clusters == 1:
        if not math.isclose(kappa, cluster_condition):
            raise ValueError(f"one cluster has kappa = cluster_condition, got {kappa} and {cluster_condition}")
        return ((1.0, 1.0 / kappa),)
    if kappa < cluster_condition**clusters * (1 - 1e-12):
        raise ValueError(
            f"kappa must be >= cluster_condition^clusters = {cluster_condition**clusters:g} for "
            f"{clusters} clusters that do not overlap, got {kappa:g}"
        )
    ratio = (kappa / cluster_condition) ** (1.0 / (clusters - 1))
    tops = [ratio ** (-i) for i in range(clusters)]
    return tuple((top, top / cluster_condition) for top in tops)


def random_basis(dimension: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-random orthogonal matrix (QR of a Gaussian matrix, signs fixed by R's diagonal)."""
    q, r = np.linalg.qr(rng.standard_normal((dimension, dimension)))
    return perturbed(q * np.sign(np.diag(r)))


def column_blocks(basis: np.ndarray, count: int) -> list[np.ndarray]:
    """The columns of ``basis`` split into ``count`` consecutive blocks of equal width."""
    width = basis.shape[1] // count
    return [basis[:, i * width:(i + 1) * width] for i in range(count)]


class _Multiscale:
    """What both families share: point checks and the constants of the whole."""

    scales: tuple[tuple[float, float], ...]
    dimension: int

    @property
    def L(self) -> float:
        """Smoothness of f: the largest L_i."""
        return max(top for top, _ in self.scales)

    @property
    def mu(self) -> float:
        """Strong convexity of f: the smallest mu_i."""
        return min(bottom for _, bottom in self.scales)

    @property
    def kappa(self) -> float:
        """The condition number L / mu of the whole objective."""
        return self.L / self.mu

    @property
    def pieces(self) -> int:
        return len(self.scales)

    def _point(self, x) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype.kind not in "fiu":
            raise TypeError(f"x must hold real numbers, got dtype {x.dtype}")
        if x.shape != (self.dimension,):
            raise ValueError(f"x must have shape ({self.dimension},), got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("x contains NaN or infinite entries")
        return x.astype(np.float64, copy=False)


class ClusteredQuadratic(_Multiscale):
    """f(x) = 1/2 (x - x*)^T A (x - x*) with A = Q diag(eigenvalues) Q^T, f* = 0.

    ``blocks[i]`` are the columns of Q spanning the i-th cluster's subspace.
    """

    def __init__(self, eigenvalues, basis, minimizer, scales, blocks):
        self.eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
        self.basis = np.asarray(basis, dtype=np.float64)
        self.dimension = self.eigenvalues.size
        self.matrix = (self.basis * self.eigenvalues) @ self.basis.T
        self.matrix = (self.matrix + self.matrix.T) / 2  # exactly symmetric
        self.minimizer = np.asarray(minimizer, dtype=np.float64)
        self.b = self.matrix @ self.minimizer
        self.minimum = 0.0
        self.scales = tuple(scales)
        self.blocks = tuple(blocks)

    def value(self, x) -> float:
        e = self._point(x) - self.minimizer
        return 0.5 * float(e @ self.matrix @ e)

    def gradient(self, x) -> np.ndarray:
        return self.matrix @ self._point(x) - self.b

    def hessian(self, x=None) -> np.ndarray:
        return self.matrix


def clustered_quadratic(
    kappa: float,
    clusters: int = 2,
    cluster_dim: int = 20,
    cluster_condition: float = 2.0,
    *,
    seed: int = 0,
) -> ClusteredQuadratic:
    """A quadratic in d = clusters * cluster_dim dimensions whose Hessian has ``clusters``
    groups of ``cluster_dim`` eigenvalues, group i evenly spaced on [mu_i, L_i] (both ends
    included) with the scales of :func:`cluster_scales`; eigenvectors are a Haar-random basis
    and x* ~ N(0, I_d), both drawn from ``numpy.random.default_rng(seed)``."""
    scales = cluster_scales(kappa, clusters, cluster_condition)
    cluster_dim = integer("cluster_dim", cluster_dim)
    rng = np.random.default_rng(seed)
    dimension = clusters * cluster_dim
    basis = random_basis(dimension, rng)
    eigenvalues = np.concatenate([np.linspace(mu, top, cluster_dim) if cluster_dim > 1 else [mu]
                                  for top, mu in scales])
    return ClusteredQuadratic(eigenvalues, basis, perturbed(rng.standard_normal(dimension)), scales,
                              column_blocks(basis, clusters))


class SeparatedPieces(_Multiscale):
    """f(x) = sum_i w_i g_i(U_i^T x) with each g_i an L2-regularised logistic regression.

    Piece i has the scale (w_i L_{g_i}, w_i mu_{g_i}); x* = sum_i U_i z_i* and
    f* = sum_i w_i g_i(z_i*), with z_i* the minimiser of g_i found by Newton's method.
    """

    def __init__(self, losses: list[LogisticGLM], weights, blocks):
        if not (len(losses) == len(weights) == len(blocks)) or not losses:
            raise ValueError("need as many losses, weights and blocks, and at least one of each")
        self.losses = list(losses)
        self.weights = tuple(real("weight", w, strict=False) for w in weights)
        if min(self.weights) <= 0:
            raise ValueError(f"weights must be > 0, got {self.weights}")
        self.blocks = tuple(np.asarray(u, dtype=np.float64) for u in blocks)
        self.dimension = self.blocks[0].shape[0]
        for u, loss in zip(self.blocks, self.losses):
            if u.shape != (self.dimension, loss.n_features):
                raise ValueError(f"block of shape {u.shape} does not fit a loss on {loss.n_features} features")
        self.scales = tuple((w * g.L, w * g.mu) for w, g in zip(self.weights, self.losses))
        optima = [g.minimize() for g in self.losses]
        self.minimizer = sum(u @ o.x for u, o in zip(self.blocks, optima))
        self.minimum = float(sum(w * o.value for w, o in zip(self.weights, optima)))

    def value(self, x) -> float:
        x = self._point(x)
        return float(sum(w * g.value(u.T @ x) for w, g, u in zip(self.weights, self.losses, self.blocks)))

    def gradient(self, x) -> np.ndarray:
        x = self._point(x)
        return sum(w * (u @ g.gradient(u.T @ x)) for w, g, u in zip(self.weights, self.losses, self.blocks))

    def hessian(self, x) -> np.ndarray:
        x = self._point(x)
        return sum(w * (u @ g.hessian(u.T @ x) @ u.T) for w, g, u in zip(self.weights, self.losses, self.blocks))


def logistic_pieces(
    kappa: float,
    pieces: int = 2,
    piece_dim: int = 20,
    *,
    samples: int = 200,
    mu: float = 0.5,
    seed: int = 0,
) -> SeparatedPieces:
    """A non-quadratic multiscale objective: ``pieces`` planted logistic regressions
    (``samples`` samples, ``piece_dim`` features, regularisation ``mu``, seeds seed, seed+1, ...)
    on the column blocks of one Haar-random basis of R^(pieces * piece_dim).

    The weights make the scales geometric with L_1 = 1 and mu_m = 1/kappa, as in
    :func:`cluster_scales` with each piece's own condition number L_{g_i}/mu in place of the
    cluster condition; ``kappa`` must leave the pieces separated (mu_i >= L_{i+1}).
    """
    pieces = integer("pieces", pieces)
    if pieces < 2:
        raise ValueError(f"pieces must be >= 2 for a multiscale objective, got {pieces}")
    piece_dim = integer("piece_dim", piece_dim)
    kappa = real("kappa", kappa, minimum=1.0, strict=False)
    mu = real("mu", mu, strict=False)
    if mu <= 0:
        raise ValueError("mu must be > 0: every piece must be strongly convex")
    losses = [planted_logistic(samples, piece_dim, mu, seed=seed + i) for i in range(pieces)]
    conditions = [g.L / g.mu for g in losses]
    # Top of piece i at ratio^-i; the bottom of the last piece at 1/kappa.
    ratio = (kappa / conditions[-1]) ** (1.0 / (pieces - 1))
    for i in range(pieces - 1):
        if ratio < conditions[i]:
            raise ValueError(
                f"kappa = {kappa:g} is too small to separate {pieces} pieces with condition "
                f"numbers {[round(c, 3) for c in conditions]}"
            )
    weights = [ratio ** (-i) / g.L for i, g in enumerate(losses)]
    basis = random_basis(pieces * piece_dim, np.random.default_rng(seed))
    return SeparatedPieces(losses, weights, column_blocks(basis, pieces))


class ClusteredRegressionStream:
    """A stream of least-squares samples whose covariance has clustered eigenvalues.

    Each trial has a hidden unit vector x (uniform on the sphere) and receives samples
    a ~ N(0, Sigma), b = <a, x> + eta, eta ~ Uniform[-noise, noise] (noise = 0: realisable).
    Sigma = Q diag(eigenvalues) Q^T has the eigenvalues of :func:`clustered_quadratic` (groups
    of ``cluster_dim`` values evenly spaced on [mu_i, L_i], the scales of
    :func:`cluster_scales`), in a Haar-random basis Q drawn from ``basis_seed``. Least squares
    on this stream, f(y) = E (1/2)(<a, y> - b)^2, is the multiscale quadratic with Hessian
    Sigma, so the scales (L_i, mu_i) are those a Big-Step-Little-Step method needs.

    It has the interface of :class:`memopt.problems.regression.RegressionStream` (``trials``,
    ``dimension``, ``targets``, :meth:`draw`): trial r draws its hidden vector, rows and noise
    from independent generators spawned from ``numpy.random.SeedSequence(seeds[r])``, so its
    samples do not depend on the chunk sizes or on the other trials.
    """

    def __init__(self, kappa: float, clusters: int = 2, cluster_dim: int = 4,
                 cluster_condition: float = 2.0, *, seeds=(0,), basis_seed: int = 0,
                 noise: float = 0.0):
        self.scales = cluster_scales(kappa, clusters, cluster_condition)
        self.cluster_dim = integer("cluster_dim", cluster_dim)
        self.noise = real("noise", noise, strict=False)
        if isinstance(basis_seed, bool) or not isinstance(basis_seed, (int, np.integer)) or basis_seed < 0:
            raise ValueError(f"basis_seed must be an integer >= 0, got {basis_seed!r}")
        seeds = list(seeds)
        if not seeds:
            raise ValueError("seeds must name at least one trial")
        for seed in seeds:
            if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
                raise ValueError(f"seeds must be integers >= 0, got {seed!r}")
        self.seeds = tuple(int(s) for s in seeds)
        self.eigenvalues = np.concatenate([np.linspace(mu, top, self.cluster_dim) if self.cluster_dim > 1
                                           else [mu] for top, mu in self.scales])
        self.basis = random_basis(self.eigenvalues.size, np.random.default_rng(basis_seed))
        self.blocks = tuple(column_blocks(self.basis, len(self.scales)))
        # Rows are z @ factor.T with z standard normal, so their covariance is factor factor^T.
        self._factor = self.basis * np.sqrt(self.eigenvalues)
        spawned = [np.random.SeedSequence(s).spawn(3) for s in self.seeds]
        targets = np.stack([np.random.default_rng(g[0]).standard_normal(self.dimension) for g in spawned])
        self.targets = perturbed(targets / np.linalg.norm(targets, axis=1, keepdims=True))
        self._row_rngs = [np.random.default_rng(g[1]) for g in spawned]
        self._noise_rngs = [np.random.default_rng(g[2]) for g in spawned]
        self.samples_drawn = 0

    @property
    def dimension(self) -> int:
        return int(self.eigenvalues.size)

    @property
    def trials(self) -> int:
        return len(self.seeds)

    @property
    def covariance(self) -> np.ndarray:
        """Sigma = E a a^T, the Hessian of the least-squares objective."""
        sigma = self._factor @ self._factor.T
        return (sigma + sigma.T) / 2

    @property
    def kappa(self) -> float:
        return self.scales[0][0] / self.scales[-1][1]

    def draw(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The next ``count`` samples of every trial: rows ``(trials, count, d)``, labels
        ``(trials, count)``."""
        count = integer("count", count)
        rows = np.empty((self.trials, count, self.dimension))
        for r, rng in enumerate(self._row_rngs):
            rows[r] = rng.standard_normal((count, self.dimension)) @ self._factor.T
        labels = np.einsum("rcd,rd->rc", rows, self.targets)
        if self.noise > 0:
            labels += np.stack([rng.uniform(-self.noise, self.noise, count) for rng in self._noise_rngs])
        self.samples_drawn += count
        return rows, labels
