r"""Theory of the streaming least-squares methods of :mod:`memopt.optim.streaming`.

Isotropic Gaussian rows, no noise: the error e = x_hat - x of a projection onto a hyperplane
whose normal is a uniformly random direction of an n-dimensional subspace containing e shrinks
by ||e'||^2 = (1 - B) ||e||^2 with B ~ Beta(1/2, (n - 1)/2), so E ||e'||^2 = (1 - 1/n) ||e||^2
and E ln(||e'||^2 / ||e||^2) = psi((n - 1)/2) - psi(n/2) (:func:`projection_log_decrement`).
Kaczmarz has n = d; the window method n = d - m + 1 once its window is full (its iterate
already satisfies the m - 1 stored equations, so e is orthogonal to them).

Anisotropic Gaussian rows a ~ N(0, Sigma): Kaczmarz's mean square error falls by
e^T E[u u^T] e a sample, u = a / ||a|| (:func:`kaczmarz_direction_moments`); SGD with a constant
step contracts as :func:`sgd_contraction` on isotropic rows, and its mean square error on any
Gaussian rows follows a d x d linear recursion (:func:`sgd_mean_square_samples`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate
from scipy.special import digamma

from memopt._checks import integer, real


def projection_log_decrement(n: int) -> float:
    """-E ln(||e'||^2 / ||e||^2) = psi(n/2) - psi((n-1)/2) for a projection onto a hyperplane
    whose normal is uniformly random in an n-dimensional subspace containing e (inf for n = 1:
    the projection is exact)."""
    n = integer("n", n)
    if n == 1:
        return math.inf
    return float(digamma(n / 2) - digamma((n - 1) / 2))


def _window_checks(dimension, window):
    d = integer("dimension", dimension)
    m = integer("window", window)
    if m > d:
        raise ValueError(f"window must be at most dimension {d}, got {m}")
    return d, m


def projection_log_decrements(dimension: int, window: int, samples: int) -> np.ndarray:
    """E ln(||e_{j-1}||^2 / ||e_j||^2) for samples j = 1..samples of the window method (window 1:
    Kaczmarz) on isotropic Gaussian rows without noise: sample j sees a subspace of dimension
    n_j = d - min(j - 1, window - 1) (inf once n_j = 1: x is then exact)."""
    d, m = _window_checks(dimension, window)
    samples = integer("samples", samples)
    n = d - np.minimum(np.arange(samples), m - 1)
    table = {int(k): projection_log_decrement(int(k)) for k in np.unique(n)}
    return np.array([table[int(k)] for k in n])


def expected_projection_error(dimension: int, window: int, samples: int,
                              initial_error: float = 1.0) -> np.ndarray:
    """exp(E ln ||e_k||) for k = 1..samples: the typical error of the window method, from
    :func:`projection_log_decrements` (0 once x is exact)."""
    total = np.cumsum(projection_log_decrements(dimension, window, samples))
    return real("initial_error", initial_error) * np.exp(-0.5 * total)


def predicted_projection_samples(dimension: int, window: int, accuracy: float,
                                 initial_error: float = 1.0) -> int:
    """Samples for the window method (window 1: Kaczmarz; window d: exact after d samples) to
    bring ln ||e||^2 from ln initial_error^2 down to ln accuracy^2 at the expected
    log-decrement of every sample (:func:`projection_log_decrements`). By Wald's identity this
    is the mean first-passage time, up to the overshoot of the last sample."""
    d, m = _window_checks(dimension, window)
    ratio = real("initial_error", initial_error) / real("accuracy", accuracy)
    target = 2 * math.log(ratio)
    if target <= 0:
        return 0
    growth = np.cumsum(projection_log_decrements(d, m, m)[:-1]) if m > 1 else np.zeros(0)
    if growth.size and growth[-1] >= target:
        return int(np.argmax(growth >= target)) + 1
    steady = projection_log_decrement(d - m + 1)
    if math.isinf(steady):
        return m
    done = growth[-1] if growth.size else 0.0
    return m - 1 + math.ceil((target - done) / steady)


def sgd_contraction(dimension: int, step: float) -> float:
    """E ||e_{k+1}||^2 / ||e_k||^2 = 1 - 2 step + step^2 (d + 2) for SGD on isotropic Gaussian
    rows without noise (from E[a a^T a a^T] = (d + 2) I)."""
    d = integer("dimension", dimension)
    step = real("step", step)
    return 1 - 2 * step + step**2 * (d + 2)


def kaczmarz_direction_moments(eigenvalues) -> np.ndarray:
    """p_j = E[u_j^2] for u = a / ||a||, a ~ N(0, diag(eigenvalues)): the diagonal of E[u u^T]
    in Sigma's eigenbasis (its off-diagonal is 0). Kaczmarz's mean square error falls by
    e^T E[u u^T] e a sample, so 1 - min_j p_j bounds its contraction.

    Computed from 1/S = int_0^inf exp(-t S) dt with S = sum_i lambda_i z_i^2:
    p_j = int_0^inf lambda_j (1 + 2 t lambda_j)^(-1) prod_i (1 + 2 t lambda_i)^(-1/2) dt.
    """
    lam = np.asarray(eigenvalues, dtype=float)
    if lam.ndim != 1 or lam.size == 0 or not np.isfinite(lam).all() or (lam <= 0).any():
        raise ValueError("eigenvalues must be a non-empty 1-D array of finite positive numbers")
    values, counts = np.unique(lam, return_counts=True)

    def weight(t):
        return np.exp(-0.5 * (counts * np.log1p(2 * t * values)).sum())

    # The integrand changes scale at every t = 1/lambda_i: integrate between those points (a
    # wide spread spectrum otherwise leaves quad a peak it cannot resolve), then to infinity.
    edges = np.concatenate([[0.0], np.sort(1.0 / values)])
    moments = {}
    for v in values:
        integrand = lambda t, v=v: v / (1 + 2 * t * v) * weight(t)  # noqa: E731
        pieces = [integrate.quad(integrand, a, b)[0] for a, b in zip(edges[:-1], edges[1:])]
        moments[v] = sum(pieces) + integrate.quad(integrand, edges[-1], np.inf)[0]
    return np.array([moments[v] for v in lam])


def _sgd_second_moments(eigenvalues, step):
    lam = np.asarray(eigenvalues, dtype=float)
    if lam.ndim != 1 or lam.size == 0 or not np.isfinite(lam).all() or (lam <= 0).any():
        raise ValueError("eigenvalues must be a non-empty 1-D array of finite positive numbers")
    step = real("step", step)
    # The symmetric matrix A of the recursion (sgd_mean_square_samples), diagonalised once.
    transfer = np.diag(1 - 2 * step * lam + 2 * step**2 * lam**2) + step**2 * np.outer(lam, lam)
    return np.linalg.eigh(transfer)


def sgd_mean_square_samples(eigenvalues, step: float, accuracy: float,
                            initial_error: float = 1.0) -> int:
    """Samples after which SGD's mean square error E ||e_k||^2 first falls to accuracy^2, for
    rows a ~ N(0, Sigma) with Sigma's ``eigenvalues``, no noise, and e_0 uniformly random on
    the sphere of radius ``initial_error`` (E e_0 e_0^T = initial_error^2 I / d).

    In Sigma's eigenbasis the diagonal m_k of E[e_k e_k^T] evolves on its own, because
    E[a a^T M a a^T] = tr(Sigma M) Sigma + 2 Sigma M Sigma for Gaussian a:
    m_{k+1} = A m_k with A = diag(1 - 2 step lambda + 2 step^2 lambda^2) + step^2 lambda lambda^T,
    so E ||e_k||^2 = 1^T A^k m_0 exactly. On isotropic rows this is
    :func:`sgd_contraction`^k. Raises ValueError if SGD does not converge at this step.
    """
    values, vectors = _sgd_second_moments(eigenvalues, step)
    if values.max() >= 1:
        raise ValueError(f"step {step} is too large: the mean square error of SGD does not contract")
    d = values.size
    target = (real("accuracy", accuracy) / real("initial_error", initial_error)) ** 2
    weights = (vectors.T @ np.ones(d)) * (vectors.T @ np.full(d, 1.0 / d))

    def mean_square(k):
        return float((weights * values**k).sum())

    if mean_square(0) <= target:
        return 0
    high = 1
    while mean_square(high) > target:
        high *= 2
    low = high // 2  # mean_square(low) > target >= mean_square(high)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if mean_square(middle) <= target else (middle, high)
    return high
