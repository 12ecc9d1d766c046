r"""Minimum-norm least squares and ridge regression on feature matrices, one N at a time or
along a nested sweep over N.

For a feature matrix :math:`\Phi \in \mathbb R^{n\times N}` (n samples, N features) and targets
:math:`Y \in \mathbb R^{n\times K}`:

* the **minimum-norm least-squares** solution is :math:`A = \Phi^+ Y`: the least-squares
  solution when :math:`N \le n` (unique when :math:`\Phi` has full column rank), the
  interpolating solution of smallest Frobenius norm when :math:`N > n`;
* the **ridge** solution minimises :math:`\lVert\Phi A - Y\rVert_F^2 + \lambda\lVert A\rVert_F^2`,
  :math:`A = (\Phi^\top\Phi + \lambda I)^{-1}\Phi^\top Y = \Phi^\top(\Phi\Phi^\top + \lambda I)^{-1}Y`.

Near the interpolation threshold :math:`N = n` the matrix :math:`\Phi` is square and badly
conditioned, so nothing here forms :math:`\Phi^\top\Phi` or :math:`\Phi\Phi^\top` for the
minimum-norm solution (that would square the condition number):

* :func:`min_norm_solve` and :func:`ridge_solve` use a thin SVD, with the same cut-off for
  negligible singular values as :func:`numpy.linalg.lstsq`. They are the from-scratch solvers.
* :func:`min_norm_path` serves a whole increasing sequence of N with the columns of one
  feature matrix (nested features: the N-feature model is the first N columns). For
  :math:`N \le n` one Householder QR of the first columns, :math:`\Phi = QR`, gives every
  prefix: the first N columns of :math:`\Phi` have the QR factors :math:`Q_{:, :N}` and
  :math:`R_{:N, :N}`, so each least-squares solution is one triangular solve. For
  :math:`N > n` it keeps the triangular factor :math:`R` of :math:`\Phi^\top = QR`
  (:math:`R^\top R = \Phi\Phi^\top`), updates it when a block of features arrives (a
  triangular-pentagonal QR of :math:`[R; \Phi_{\text{new}}^\top]`, LAPACK tpqrt,
  :math:`O(n^2 \Delta N)` work instead of the :math:`O(n^2 N)` of a new factorization), and
  solves the seminormal equations
  :math:`A = \Phi^\top R^{-1} R^{-\top} Y`, followed by one step of refinement on the
  residual. The seminormal equations are forward stable for the minimum-norm problem
  (Paige 1973): the error in :math:`A` stays of order :math:`\varepsilon\kappa`. Their
  residual :math:`\lVert\Phi A - Y\rVert`, though, is that of a backward-stable method only
  while :math:`\kappa(\Phi)` is below about :math:`10^8` (measured in the unit tests; beyond,
  it grows faster than :math:`\varepsilon\kappa^2`). So wherever the estimated condition
  number of the triangular factor exceeds ``max_condition`` (default :math:`10^8`), primal or
  dual, the size falls back to :func:`min_norm_solve`.
* :func:`ridge_path` accumulates the kernel matrix :math:`\Phi\Phi^\top` (n x n) block by
  block, :math:`O(n^2 \Delta N)` work per step, and solves
  :math:`(\Phi\Phi^\top + \lambda I) Z = Y` by a Cholesky factorization, :math:`O(n^3)`
  whatever N is. With :math:`\lambda > 0` the condition number of
  :math:`\Phi\Phi^\top + \lambda I` is at most :math:`1 + \lVert\Phi\rVert^2/\lambda`, so
  forming the kernel matrix costs no accuracy there, as it would for the minimum-norm problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

from memopt.backend import array_module, to_numpy

#: Method labels recorded by :func:`min_norm_path` for each size.
QR_PREFIX, DUAL_UPDATE, SVD = "qr prefix", "dual update", "svd"


def _check_system(phi, y):
    """Validate (phi, y); return them as float arrays with y two-dimensional, and whether y was 1-D."""
    xp = array_module(phi, y)
    phi, y = xp.asarray(phi), xp.asarray(y)
    if phi.ndim != 2 or 0 in phi.shape:
        raise ValueError(f"phi must be a non-empty 2-D array (n_samples, n_features), got shape {phi.shape}")
    for name, a in (("phi", phi), ("y", y)):
        if a.dtype.kind not in "fiu":
            raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
    if y.ndim not in (1, 2) or y.shape[0] != phi.shape[0]:
        raise ValueError(
            f"y must have shape ({phi.shape[0]},) or ({phi.shape[0]}, k) to match phi's rows, got {y.shape}"
        )
    phi, y = phi.astype(np.float64, copy=False), y.astype(np.float64, copy=False)
    for name, a in (("phi", phi), ("y", y)):
        if not bool(xp.isfinite(a).all()):
            raise ValueError(f"{name} contains NaN or infinite entries")
    vector = y.ndim == 1
    return phi, (y[:, None] if vector else y), vector


def _check_sizes(sizes, max_features: int) -> tuple[int, ...]:
    sizes = tuple(sizes)
    if not sizes or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) for s in sizes):
        raise TypeError(f"sizes must be a non-empty sequence of integers, got {sizes!r}")
    sizes = tuple(int(s) for s in sizes)
    if sizes[0] < 1 or sizes[-1] > max_features or any(b <= a for a, b in zip(sizes, sizes[1:])):
        raise ValueError(
            f"sizes must increase strictly within [1, {max_features}] (the columns of phi), got {sizes}"
        )
    return sizes


def _check_ridge(ridge) -> float:
    if isinstance(ridge, (bool, np.bool_)) or not isinstance(ridge, (int, float, np.floating, np.integer)):
        raise TypeError(f"ridge must be a real number, got {type(ridge).__name__}")
    ridge = float(ridge)
    if not np.isfinite(ridge) or ridge <= 0:
        raise ValueError(f"ridge must be finite and > 0 (use min_norm_solve for 0), got {ridge}")
    return ridge


def _solve_triangular(r, b, trans: bool = False):
    """Solve R x = b (or R^T x = b) for upper-triangular R, on the host or the device."""
    if array_module(r) is np:
        return scipy.linalg.solve_triangular(r, b, trans="T" if trans else "N", lower=False)
    from cupyx.scipy.linalg import solve_triangular  # noqa: PLC0415 - only with CuPy arrays

    return solve_triangular(r, b, trans="T" if trans else "N", lower=False)


def _householder_qr(a, r_only: bool = False):
    """Householder QR of a tall matrix: (Q, R) economic, or R alone (shape (a.shape[1],) * 2)."""
    if array_module(a) is not np:
        return array_module(a).linalg.qr(a, mode="r" if r_only else "reduced")
    # LAPACK works in column-major order; handing it a Fortran copy avoids a slow path (and a
    # copy it may overwrite: a transposed slice of phi is already column-major).
    a = np.array(a, order="F")
    if r_only:
        return scipy.linalg.qr(a, mode="r", overwrite_a=True, check_finite=False)[0][: a.shape[1]]
    return scipy.linalg.qr(a, mode="economic", overwrite_a=True, check_finite=False)


def _append_rows(factor, rows):
    """The triangular factor of [A; rows] from that of A (R^T R = A^T A): for NumPy arrays a
    triangular-pentagonal QR (LAPACK tpqrt), O(n^2 m) work for m new rows instead of the
    O(n^2 (n + m)) of factoring the stacked matrix again."""
    if array_module(factor) is not np:
        return _householder_qr(array_module(factor).concatenate([factor, rows]), r_only=True)
    n = factor.shape[0]
    updated, _, _, info = scipy.linalg.lapack.dtpqrt(
        0, min(n, 32), np.array(factor, order="F"), np.array(rows, order="F"), overwrite_a=True, overwrite_b=True
    )
    if info != 0:
        raise ValueError(f"tpqrt failed with info = {info}")
    return np.triu(updated)


def _cholesky_solve(matrix, rhs):
    """Solve M x = rhs for symmetric positive definite M by a Cholesky factorization."""
    if array_module(matrix) is np:
        return scipy.linalg.cho_solve(scipy.linalg.cho_factor(matrix, check_finite=False), rhs, check_finite=False)
    xp = array_module(matrix)
    lower = xp.linalg.cholesky(matrix)
    from cupyx.scipy.linalg import solve_triangular  # noqa: PLC0415 - only with CuPy arrays

    return solve_triangular(lower.T, solve_triangular(lower, rhs, lower=True), lower=False)


def condition_estimate(r) -> float:
    """An estimate of the 1-norm condition number of an upper-triangular matrix (LAPACK trcon).

    Returns infinity for an exactly singular factor."""
    rcond, info = scipy.linalg.lapack.dtrcon(np.asarray(to_numpy(r), dtype=np.float64), norm="1", uplo="U")
    if info != 0:
        raise ValueError(f"trcon failed with info = {info}")
    return float("inf") if rcond == 0 else 1.0 / float(rcond)


def min_norm_solve(phi, y, rcond: float | None = None):
    """The minimum-norm least-squares solution Phi^+ y, from a thin SVD.

    Singular values below ``rcond * s_max`` are treated as zero; the default
    ``rcond = eps * max(n, N)`` is :func:`numpy.linalg.lstsq`'s. Returns an array of shape
    ``(N,)`` for a 1-D ``y`` and ``(N, k)`` for a 2-D one.
    """
    phi, y, vector = _check_system(phi, y)
    xp = array_module(phi)
    if rcond is None:
        rcond = np.finfo(np.float64).eps * max(phi.shape)
    rcond = float(rcond)
    if not np.isfinite(rcond) or rcond < 0:
        raise ValueError(f"rcond must be finite and >= 0, got {rcond}")
    u, s, vt = xp.linalg.svd(phi, full_matrices=False)
    keep = s > rcond * s[0]
    coef = vt[keep].T @ ((u[:, keep].T @ y) / s[keep, None])
    return coef[:, 0] if vector else coef


def ridge_solve(phi, y, ridge):
    """The ridge solution (Phi^T Phi + ridge I)^-1 Phi^T y, from a thin SVD:
    V diag(s / (s^2 + ridge)) U^T y.

    ``ridge`` may be one penalty or a 1-D sequence of them; one SVD serves them all, and the
    result then has a leading axis over the penalties."""
    several = np.ndim(ridge) == 1
    ridges = [_check_ridge(r) for r in (ridge if several else [ridge])]
    if not ridges:
        raise ValueError("ridge must hold at least one value")
    phi, y, vector = _check_system(phi, y)
    u, s, vt = array_module(phi).linalg.svd(phi, full_matrices=False)
    projected = u.T @ y
    coefs = [vt.T @ ((s / (s * s + r))[:, None] * projected) for r in ridges]
    coefs = [c[:, 0] if vector else c for c in coefs]
    return array_module(phi).stack(coefs) if several else coefs[0]


def _seminormal(phi, factor, rhs):
    """Phi^T (R^T R)^-1 rhs with R^T R = Phi Phi^T: the minimum-norm solution of Phi a = rhs."""
    return phi.T @ _solve_triangular(factor, _solve_triangular(factor, rhs, trans=True))


@dataclass
class MinNormPath:
    """Minimum-norm solutions along a nested sweep: ``coefficients[i]`` (shape ``(N_i, k)``)
    uses the first ``sizes[i]`` columns; ``methods[i]`` says how it was computed."""

    sizes: tuple[int, ...]
    coefficients: list = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    #: Estimated 1-norm condition number of each triangular factor, which has the singular
    #: values of the first N columns of phi (the 1-norm estimate is within a factor ~N of them).
    conditions: list[float] = field(default_factory=list)

    @property
    def fallbacks(self) -> tuple[int, ...]:
        """The sizes that needed a from-scratch SVD."""
        return tuple(n for n, m in zip(self.sizes, self.methods) if m == SVD)


def min_norm_path(phi, y, sizes, *, max_condition: float = 1e8) -> MinNormPath:
    """Minimum-norm least-squares solutions for the first N columns of ``phi``, for every N in
    ``sizes`` (strictly increasing), reusing one factorization across the sweep (see the module
    docstring). Sizes whose triangular factor has an estimated condition number above
    ``max_condition`` are solved by :func:`min_norm_solve` instead."""
    phi, y, vector = _check_system(phi, y)
    sizes = _check_sizes(sizes, phi.shape[1])
    if not (isinstance(max_condition, (int, float)) and max_condition > 1):
        raise ValueError(f"max_condition must be a number > 1, got {max_condition!r}")
    n = phi.shape[0]
    path = MinNormPath(sizes)

    def record(coef, method, condition):
        path.coefficients.append(coef[:, 0] if vector else coef)
        path.methods.append(method)
        path.conditions.append(condition)

    primal = [size for size in sizes if size <= n]
    if primal:
        # Householder QR of the widest primal prefix; its leading blocks factor every prefix.
        q, r = _householder_qr(phi[:, : primal[-1]])
        qty = q.T @ y
        for size in primal:
            condition = condition_estimate(r[:size, :size])
            if condition > max_condition:
                record(min_norm_solve(phi[:, :size], y), SVD, condition)
            else:
                record(_solve_triangular(r[:size, :size], qty[:size]), QR_PREFIX, condition)

    factor, done = None, 0
    for size in (s for s in sizes if s > n):
        block = phi[:, done:size].T
        # R^T R = Phi_N Phi_N^T, shape (n, n): factored once, then updated block by block.
        factor = _householder_qr(block, r_only=True) if factor is None else _append_rows(factor, block)
        done = size
        features = phi[:, :size]
        condition = condition_estimate(factor)
        if condition > max_condition:
            record(min_norm_solve(features, y), SVD, condition)
            continue
        coef = _seminormal(features, factor, y)
        coef = coef + _seminormal(features, factor, y - features @ coef)  # one step of refinement
        record(coef, DUAL_UPDATE, condition)
    return path


def ridge_path(phi, y, sizes, ridges, *, per_feature: bool = False) -> list:
    """Ridge solutions for the first N columns of ``phi``, for every N in ``sizes`` and every
    ridge parameter in ``ridges``: a list over sizes of arrays of shape ``(len(ridges), N, k)``
    (``(len(ridges), N)`` for a 1-D ``y``).

    With ``per_feature=True`` the penalty at size N is ``ridge * N``: the ridge of the kernel
    regression with kernel Phi Phi^T / N, which is comparable across N (for random Fourier
    features Phi Phi^T / N tends to the Gaussian kernel matrix as N grows).
    """
    phi, y, vector = _check_system(phi, y)
    sizes = _check_sizes(sizes, phi.shape[1])
    ridges = [_check_ridge(r) for r in np.atleast_1d(ridges)]
    if not ridges:
        raise ValueError("ridges must hold at least one value")
    xp = array_module(phi)
    n = phi.shape[0]
    kernel = xp.zeros((n, n))
    identity = xp.eye(n)
    done, out = 0, []
    for size in sizes:
        block = phi[:, done:size]
        kernel += block @ block.T
        done = size
        coefs = []
        for ridge in ridges:
            penalty = ridge * size if per_feature else ridge
            dual = _cholesky_solve(kernel + penalty * identity, y)
            coefs.append(phi[:, :size].T @ dual)
        coefs = xp.stack(coefs)
        out.append(coefs[..., 0] if vector else coefs)
    return out


def kernel_fit(kernel, y, ridge: float = 0.0):
    """Dual coefficients C = (K + ridge I)^+ y of kernel (ridge) regression on the Gram matrix
    ``kernel`` (symmetric positive semi-definite): the predictions at new points are
    ``k(new, train) @ C``, and for ridge 0 the RKHS norm of the interpolant is
    sqrt(trace(y^T C)).

    Computed from a symmetric eigendecomposition; with ``ridge = 0`` eigenvalues below
    ``eps * n * lambda_max`` are treated as zero (the minimum-norm interpolant)."""
    kernel, y, vector = _check_system(kernel, y)
    if kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"kernel must be square, got shape {kernel.shape}")
    ridge = float(ridge)
    if not np.isfinite(ridge) or ridge < 0:
        raise ValueError(f"ridge must be finite and >= 0, got {ridge}")
    xp = array_module(kernel)
    eigenvalues, eigenvectors = xp.linalg.eigh((kernel + kernel.T) / 2)
    shifted = xp.maximum(eigenvalues, 0.0) + ridge
    cutoff = np.finfo(np.float64).eps * kernel.shape[0] * float(eigenvalues[-1]) if ridge == 0 else 0.0
    keep = shifted > cutoff
    inverse = xp.where(keep, 1.0 / xp.where(keep, shifted, 1.0), 0.0)
    coef = eigenvectors @ (inverse[:, None] * (eigenvectors.T @ y))
    return coef[:, 0] if vector else coef
