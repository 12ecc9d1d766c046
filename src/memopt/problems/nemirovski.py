r"""The hard function of Marsden, Sharan, Sidford and Valiant (2022), and an easy one beside it.

The lower bound "efficient convex optimization requires superlinear memory" is proved on

.. math::

    F(x) = s\,\max\Bigl\{\eta\,\lVert A x\rVert_\infty - \rho,\;
           \max_{i \le N}\bigl(v_i^\top x - i\gamma\bigr)\Bigr\},
    \qquad \lVert x\rVert_2 \le 1,

with :math:`A` uniform on :math:`\{\pm1\}^{\lfloor d/2\rfloor \times d}`, the :math:`v_i` uniform on
:math:`d^{-1/2}\{\pm1\}^d`, :math:`\eta = d^5`, :math:`\rho = 1` and the factor
:math:`s = d^{-6}` that makes :math:`F` 1-Lipschitz (the barrier's rows have norm
:math:`\sqrt d`, so its slope is at most :math:`\eta\sqrt d\,s = d^{-1/2}`; each :math:`v_i` has
norm 1). The second term is a Nemirovski function: its pieces are revealed one at a time, and
only to queries on which the first term is not the maximum, that is, queries with
:math:`\lVert Ax\rVert_\infty \le (1 + \rho)/\eta = 2 d^{-5}` (because
:math:`|v_i^\top x| \le 1` on the ball): nearly orthogonal to every row of :math:`A`.

The number of pieces :math:`N` and the step :math:`\gamma` enter the theorem only through
asymptotic conditions; :meth:`HardFunction.draw` documents the small-dimension values used here.

:class:`L1Distance`, :math:`f(x) = \lVert x - c\rVert_1/\sqrt d`, is the simple 1-Lipschitz
function the book compares against; its minimiser :math:`c` and minimum 0 are known exactly.

Every function evaluates one point ``x`` of shape ``(d,)`` or a batch of shape ``(R, d)``, and
its ``oracle`` returns the value and one subgradient: the first-order oracle of the theorem.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

from memopt._checks import integer, real
from memopt.perturb import inputs as perturbed


@dataclass(frozen=True)
class Minimizer:
    """A minimiser over the ball and the minimum value there."""

    x: np.ndarray
    value: float




def _points(x, dim: int) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise TypeError(f"x must hold real numbers, got dtype {x.dtype}")
    x = x.astype(np.float64, copy=False)
    if x.ndim not in (1, 2) or x.shape[-1] != dim:
        raise ValueError(f"x must have shape ({dim},) or (runs, {dim}), got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("x contains NaN or infinite entries")
    return x


def least_norm_point(rows: np.ndarray, bounds: np.ndarray) -> np.ndarray | None:
    """The point of least Euclidean norm with ``rows @ x <= bounds``, or None if there is none.

    Least distance programming by Lawson and Hanson's reduction to non-negative least squares
    (Solving Least Squares Problems, 1974, ch. 23): an exact active-set computation, used here
    as the reference solver, independent of the iterative methods it checks.
    """
    m, n = rows.shape
    # min ||x|| s.t. G x >= h with G = -rows, h = -bounds: minimise ||E u - f|| over u >= 0 with
    # E = [G^T; h^T], f = e_{n+1}; then x = r[:n] / (-r[n]) for the residual r = E u - f.
    system = np.vstack([-rows.T, -bounds[None, :]])
    target = np.zeros(n + 1)
    target[-1] = 1.0
    u, _ = nnls(system, target, maxiter=50 * (m + n + 1))
    residual = system @ u - target
    if residual[n] >= 0:
        return None  # a zero residual: the constraints are inconsistent
    x = residual[:n] / -residual[n]
    # In floating point an inconsistent system leaves a residual of rounding size, which
    # would give a spurious x: the candidate must satisfy the constraints it answers.
    scale = np.abs(rows).sum(axis=1) * max(1.0, float(np.abs(x).max()))
    if np.any(rows @ x - bounds > 1e-12 * scale):
        return None
    return x


class HardFunction:
    """F(x) = scale * max{eta ||Ax||_inf - rho, max_i (v_i^T x - i gamma)} (see the module).

    Parameters
    ----------
    A : array (n, d), the barrier's rows (the paper's are uniform on {+-1}^d, n = floor(d/2)).
    V : array (N, d), the Nemirovski vectors v_1..v_N in order.
    eta, rho : the barrier's slope and offset (paper: d^5 and 1).
    gamma : the Nemirovski step between consecutive pieces, >= 0.
    scale : the overall factor s (paper: d^-6, which makes F 1-Lipschitz).
    """

    def __init__(self, A, V, *, eta: float, rho: float, gamma: float, scale: float = 1.0):
        A, V = np.asarray(A, dtype=float), np.asarray(V, dtype=float)
        if A.ndim != 2 or V.ndim != 2 or A.shape[1] != V.shape[1] or 0 in A.shape + V.shape:
            raise ValueError(
                f"A and V must be non-empty 2-D arrays with as many columns, got {A.shape} and {V.shape}"
            )
        if not (np.isfinite(A).all() and np.isfinite(V).all()):
            raise ValueError("A and V must be finite")
        self.A, self.V = A, V
        self.eta = real("eta", eta)
        self.rho = real("rho", rho, strict=False)
        self.gamma = real("gamma", gamma, strict=False)
        self.scale = real("scale", scale)
        self.offsets = self.gamma * np.arange(1, self.n_pieces + 1)

    @classmethod
    def draw(cls, dim: int, *, n_pieces: int | None = None, gamma: float | None = None,
             eta: float | None = None, rho: float = 1.0, scale: float | None = None,
             seed: int = 0) -> HardFunction:
        """A random instance with the paper's distribution and constants.

        A is uniform on {+-1}^(floor(d/2) x d), each v_i uniform on d^-1/2 {+-1}^d, eta = d^5,
        rho = 1, scale = d^-6 unless given. N and gamma: the proof needs gamma above the
        |v^T x| ~ sqrt(log d / d) of a query that has not seen v, and N gamma below the depth
        ~ N^-1/2 of the function's minimum, which holds only for large d. For the small d of a
        book, the defaults are N = ceil(d^(1/3)) pieces and gamma = N^(-3/2) / 4, so that all N
        pieces shape the minimum (N gamma is a quarter of N^-1/2).
        """
        dim = integer("dim", dim)
        if dim < 2:
            raise ValueError(f"dim must be >= 2 so that A has floor(d/2) >= 1 rows, got {dim}")
        n_pieces = math.ceil(dim ** (1 / 3) - 1e-9) if n_pieces is None else integer("n_pieces", n_pieces)
        gamma = 0.25 * n_pieces**-1.5 if gamma is None else gamma
        rng = np.random.default_rng(seed)
        A = rng.choice([-1.0, 1.0], size=(dim // 2, dim))
        V = perturbed(rng.choice([-1.0, 1.0], size=(n_pieces, dim)) / math.sqrt(dim))
        return cls(A, V, eta=float(dim) ** 5 if eta is None else eta, rho=rho, gamma=gamma,
                   scale=float(dim) ** -6 if scale is None else scale)

    # -- shapes and constants ------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self.A.shape[1]

    @property
    def n_pieces(self) -> int:
        return self.V.shape[0]

    @property
    def lipschitz(self) -> float:
        """A Lipschitz constant on R^d: scale * max(eta max_j ||a_j||, max_i ||v_i||)."""
        rows = np.linalg.norm(self.A, axis=1).max()
        return float(self.scale * max(self.eta * rows, np.linalg.norm(self.V, axis=1).max()))

    # -- oracle --------------------------------------------------------------------------------
    def _parts(self, x):
        ax = x @ self.A.T
        j = np.argmax(np.abs(ax), axis=-1)  # first row on ties
        a_j = np.take_along_axis(ax, j[..., None], axis=-1)[..., 0]
        barrier = self.eta * np.abs(a_j) - self.rho
        pieces = x @ self.V.T - self.offsets
        i = np.argmax(pieces, axis=-1)  # first piece on ties: the resisting choice
        nemirovski = np.take_along_axis(pieces, i[..., None], axis=-1)[..., 0]
        return barrier, nemirovski, j, np.where(a_j >= 0, 1.0, -1.0), i

    def value(self, x):
        """F(x): a float for one point, shape (R,) for a batch."""
        barrier, nemirovski, *_ = self._parts(_points(x, self.dim))
        return self.scale * np.maximum(barrier, nemirovski)

    def oracle(self, x):
        """(F(x), g) with g a subgradient: scale eta sign(a_j^T x) a_j for the row j with the
        largest |a_j^T x| when the barrier is the maximum (ties included), else scale v_i for
        the first maximal piece i."""
        x = _points(x, self.dim)
        barrier, nemirovski, j, sign, i = self._parts(x)
        use_barrier = barrier >= nemirovski
        g = np.where(use_barrier[..., None], (self.eta * sign)[..., None] * self.A[j], self.V[i])
        return self.scale * np.maximum(barrier, nemirovski), self.scale * g

    def active_piece(self, x):
        """The index i (0-based) of the Nemirovski piece the oracle reveals at x, or -1 where
        the barrier is the maximum."""
        barrier, nemirovski, _, _, i = self._parts(_points(x, self.dim))
        return np.where(barrier >= nemirovski, -1, i)

    # -- reference minimum ---------------------------------------------------------------------
    def minimize(self, tol: float = 1e-14) -> Minimizer:
        """The minimum of F over the unit ball, by bisection on the level t.

        F/scale <= t on the ball iff the polyhedron {|a_j^T x| <= (t + rho)/eta,
        v_i^T x <= t + i gamma} has a point of norm <= 1; the least-norm point of each
        polyhedron comes from :func:`least_norm_point` (exact, finite). Rows are normalised so
        that eta = d^5 does not wreck the conditioning.
        """
        rows = np.vstack([self.A, -self.A, self.V])
        norms = np.linalg.norm(rows, axis=1)
        n = self.A.shape[0]

        def point_at(level):
            bounds = np.concatenate([np.full(2 * n, (level + self.rho) / self.eta), level + self.offsets])
            x = least_norm_point(rows / norms[:, None], bounds / norms)
            return x if x is not None and float(x @ x) <= 1.0 else None

        low = -self.rho - 1.0  # below every value on the ball: |v_i^T x| <= max ||v_i|| there
        low = min(low, -float(np.linalg.norm(self.V, axis=1).max()) - self.offsets[0])
        high = max(-self.rho, -float(self.offsets[0]))  # F(0) / scale: x = 0 is feasible there
        best = point_at(high)
        while high - low > tol * max(1.0, abs(high)):
            middle = 0.5 * (low + high)
            x = point_at(middle)
            if x is None:
                low = middle
            else:
                high, best = middle, x
        return Minimizer(best, self.scale * high)


class L1Distance:
    """f(x) = ||x - c||_1 / sqrt(d) for a point c inside the ball: 1-Lipschitz, minimum 0 at c.

    A simple nonsmooth function whose minimum is known exactly. It is separable, so the
    subgradient method runs d one-dimensional problems at once (the Euclidean distance
    ||x - c||_2 would confine it to the single line through x_0 and c). ``centre`` of shape
    (d,) is one function; of shape (R, d) it is R functions evaluated on R points at once.
    """

    def __init__(self, centre):
        centre = np.asarray(centre, dtype=float)
        if centre.ndim not in (1, 2) or centre.shape[-1] == 0:
            raise ValueError(f"centre must have shape (d,) or (R, d), got {centre.shape}")
        if not np.isfinite(centre).all():
            raise ValueError("centre must be finite")
        self.centre = centre
        self._norm = math.sqrt(centre.shape[-1])

    @classmethod
    def draw(cls, dim: int, *, runs: int | None = None, distance: float = 0.5, seed: int = 0):
        """Centres drawn uniformly on the sphere of radius ``distance`` < 1 (inside the ball)."""
        dim = integer("dim", dim)
        distance = real("distance", distance)
        if distance >= 1:
            raise ValueError(f"distance must be < 1 so that the minimiser lies in the ball, got {distance}")
        shape = (dim,) if runs is None else (integer("runs", runs), dim)
        centre = np.random.default_rng(seed).standard_normal(shape)
        return cls(perturbed(centre * distance / np.linalg.norm(centre, axis=-1, keepdims=True)))

    @property
    def dim(self) -> int:
        return self.centre.shape[-1]

    @property
    def lipschitz(self) -> float:
        """||sign(x - c)|| / sqrt(d) <= 1."""
        return 1.0

    def minimize(self) -> Minimizer:
        return Minimizer(self.centre.copy(), 0.0)

    def value(self, x):
        x = _points(x, self.dim)
        return np.abs(x - self.centre).sum(axis=-1) / self._norm

    def oracle(self, x):
        """(f(x), sign(x - c) / sqrt(d)); sign(0) = 0 is a valid choice in [-1, 1]."""
        x = _points(x, self.dim)
        diff = x - self.centre
        return np.abs(diff).sum(axis=-1) / self._norm, np.sign(diff) / self._norm
