r"""Iterative Newton (Newton–Schulz) and gradient descent for batches of least-squares problems.

Both solve :math:`\min_w \tfrac12\lVert Xw - y\rVert^2` given :math:`S = X^\top X` (``gram``) and
:math:`X^\top y` (``moment``), for a batch of problems at once (a leading task axis).

**Iterative Newton** (Fu, Chen, Jia and Sharan 2024; Schulz 1933; Ben-Israel and Cohen 1966;
Pan and Schreiber 1991) approximates the pseudo-inverse of :math:`S`:

.. math::

    M_0 = \alpha S, \qquad M_{k+1} = 2 M_k - M_k S M_k, \qquad w_k = M_k X^\top y.

Every :math:`M_k` is a polynomial in :math:`S`, so on an eigenvector of :math:`S` with eigenvalue
:math:`\lambda > 0` the residual :math:`e_k(\lambda) = 1 - \lambda m_k(\lambda)` obeys
:math:`e_{k+1} = e_k^2`, hence :math:`e_k = (1 - \alpha\lambda^2)^{2^k}` and
:math:`\lVert I - M_k S\rVert_2 = \max_\lambda |1-\alpha\lambda^2|^{2^k}`. The iteration
converges exactly when :math:`0 < \alpha < 2/\lambda_{\max}^2 = 2/\lVert S S^\top\rVert_2`. Its
*initial phase* lasts while :math:`\lVert I - M_k S\rVert_2` is close to 1, about
:math:`\log_2(1/(\alpha\lambda_{\min}^2))` steps, i.e. :math:`O(\log\kappa)`; then each step
squares the residual (the *local*, quadratic phase), :math:`O(\log\log(1/\varepsilon))` steps.

The paper prints :math:`\alpha = 2/\lVert SS^\top\rVert_2`, the boundary of that interval: there
:math:`e_0(\lambda_{\max}) = -1`, so :math:`e_k(\lambda_{\max}) = 1` for every :math:`k \ge 1`
and the top eigendirection is never solved (in floating point it moves only once rounding has
been squared about 50 times). The authors' released code uses
:math:`\alpha = 1/\lVert SS^\top\rVert_F`, strictly inside. :func:`newton_alpha` offers both,
and the minimax choice :math:`2/(\lambda_{\max}^2 + \lambda_{\min}^2)`.

**Gradient descent** from :math:`w_0 = 0` with a fixed step :math:`\eta`:
:math:`w_{t+1} = w_t - \eta(S w_t - X^\top y)`, so
:math:`w_t - w^* = (I - \eta S)^t (w_0 - w^*)`. Its worst-case contraction
:math:`\max_\lambda |1 - \eta\lambda|` over :math:`[\lambda_{\min}, \lambda_{\max}]` is
smallest, :math:`(\kappa - 1)/(\kappa + 1)`, at :math:`\eta = 2/(\lambda_{\min} + \lambda_{\max})`
(:func:`best_fixed_step`): any smaller step makes :math:`|1-\eta\lambda_{\min}|` larger, any
larger one makes :math:`|1-\eta\lambda_{\max}|` larger.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real

import numpy as np

from memopt._checks import integer
from memopt.backend import array_module

ALPHA_RULES = ("frobenius", "paper", "optimal")



def _gram(gram):
    """A batch of symmetric matrices of shape (tasks, d, d); one (d, d) matrix becomes a batch of 1."""
    xp = array_module(gram)
    gram = xp.asarray(gram)
    if gram.dtype.kind not in "fiu":
        raise TypeError(f"gram must hold real numbers, got dtype {gram.dtype}")
    if gram.dtype.kind != "f":
        gram = gram.astype(np.float64)
    if gram.ndim == 2:
        gram = gram[None]
    if gram.ndim != 3 or gram.shape[1] != gram.shape[2] or gram.shape[1] == 0:
        raise ValueError(f"gram must have shape (d, d) or (tasks, d, d), got {gram.shape}")
    if not bool(xp.isfinite(gram).all()):
        raise ValueError("gram contains NaN or infinite entries")
    scale = xp.abs(gram).max(axis=(1, 2), keepdims=True)
    asymmetry = xp.abs(gram - xp.swapaxes(gram, 1, 2))
    if bool((asymmetry > 1e3 * np.finfo(gram.dtype).eps * scale).any()):
        raise ValueError("gram must be symmetric (S = X^T X)")
    return gram


def _moment(moment, gram):
    xp = array_module(gram)
    moment = xp.asarray(moment, dtype=gram.dtype)
    if moment.ndim == 1:
        moment = moment[None]
    if moment.shape != gram.shape[:2]:
        raise ValueError(f"moment must have shape {gram.shape[1:2]} or {gram.shape[:2]} to match gram, "
                         f"got {moment.shape}")
    if not bool(xp.isfinite(moment).all()):
        raise ValueError("moment contains NaN or infinite entries")
    return moment


def _eigenvalues(gram):
    """Eigenvalues of each symmetric matrix, ascending: shape (tasks, d)."""
    return array_module(gram).linalg.eigvalsh(gram)


def _extreme_eigenvalues(gram):
    """(lambda_min+, lambda_max) of each matrix, lambda_min+ the smallest eigenvalue that is
    not zero up to rounding (the pseudo-inverse ignores the null space)."""
    xp = array_module(gram)
    values = _eigenvalues(gram)
    top = values[:, -1]
    if bool((top <= 0).any()):
        raise ValueError("gram must be positive semi-definite and not zero")
    tolerance = top[:, None] * gram.shape[-1] * np.finfo(gram.dtype).eps
    smallest = xp.where(values > tolerance, values, xp.inf).min(axis=1)
    return smallest, top


def newton_alpha(gram, rule="frobenius"):
    """The scale alpha of M_0 = alpha S for each matrix of ``gram``: shape (tasks,).

    ``rule`` is one of

    * ``"frobenius"``: 1 / ||S S^T||_F, the authors' released implementation (their
      ``LeastSquaresModelNewtonMethod``); it lies in (0, 1/||S S^T||_2], inside the interval
      of convergence;
    * ``"paper"``: 2 / ||S S^T||_2, as printed in the paper: the boundary, where the top
      eigendirection never converges (module docstring);
    * ``"optimal"``: 2 / (lambda_max^2 + lambda_min^2), which minimises max |1 - alpha lambda^2|
      over the nonzero spectrum (Pan and Schreiber 1991);

    or a positive number, or an array of one positive number per matrix.
    """
    gram = _gram(gram)
    xp = array_module(gram)
    if isinstance(rule, str):
        if rule == "frobenius":
            square = gram @ xp.swapaxes(gram, 1, 2)
            # ||A||_F = m ||A/m||_F with m = max|A_ij|: no overflow or underflow of A_ij^2.
            largest = xp.abs(square).max(axis=(1, 2))
            if bool((largest == 0).any()):
                raise ValueError("gram must not be zero")
            scaled = square / largest[:, None, None]
            return 1.0 / (largest * xp.sqrt((scaled * scaled).sum(axis=(1, 2))))
        if rule == "paper":
            return 2.0 / _eigenvalues(gram)[:, -1] ** 2  # ||S S^T||_2 = lambda_max(S)^2
        if rule == "optimal":
            smallest, top = _extreme_eigenvalues(gram)
            return 2.0 / (top**2 + smallest**2)
        raise ValueError(f"alpha must be one of {', '.join(ALPHA_RULES)} or a positive number, got {rule!r}")
    return _per_task("alpha", rule, gram)


def _per_task(name: str, value, gram):
    """A positive number, or one per matrix of ``gram``, as an array of shape (tasks,)."""
    if isinstance(value, bool) or not (isinstance(value, Real) or hasattr(value, "shape")):
        raise TypeError(f"{name} must be a positive number or an array of them, got {type(value).__name__}")
    xp = array_module(gram)
    array = xp.broadcast_to(xp.asarray(value, dtype=gram.dtype), gram.shape[:1])
    if not bool(xp.isfinite(array).all()) or bool((array <= 0).any()):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return array


@dataclass
class NewtonRun:
    """What :func:`iterative_newton` recorded: step k = 0 .. steps on the first axis."""

    alpha: np.ndarray
    #: M_steps, the approximate pseudo-inverse of every S: shape (tasks, d, d).
    inverse: np.ndarray
    #: ||I - M_k S||_2: shape (steps + 1, tasks).
    residual_norms: np.ndarray
    #: w_k = M_k X^T y: shape (steps + 1, tasks, d); None without a moment.
    estimates: np.ndarray | None

    @property
    def steps(self) -> int:
        return self.residual_norms.shape[0] - 1


def iterative_newton(gram, moment=None, *, steps: int, alpha="frobenius") -> NewtonRun:
    """Run M_{k+1} = 2 M_k - M_k S M_k from M_0 = alpha S for ``steps`` steps on a batch.

    Records ||I - M_k S||_2 at every k (1 for a singular S, whose null space M_k never
    touches in exact arithmetic) and, when ``moment`` = X^T y is given, the estimates
    w_k = M_k X^T y. For a singular S, rounding leaves ~1e-16 in the null space, where the
    iteration doubles it (m_{k+1} = 2 m_k at lambda = 0): run only a few steps past
    convergence there.
    """
    gram = _gram(gram)
    steps = integer("steps", steps, minimum=0)
    xp = array_module(gram)
    if moment is not None:
        moment = _moment(moment, gram)
    alpha = newton_alpha(gram, alpha)
    identity = xp.eye(gram.shape[-1], dtype=gram.dtype)
    inverse = alpha[:, None, None] * gram
    residual_norms, estimates = [], []
    for k in range(steps + 1):
        product = inverse @ gram
        # M_k S is a polynomial in S, hence symmetric; symmetrise away the rounding.
        residual = identity - (product + xp.swapaxes(product, 1, 2)) / 2
        residual_norms.append(xp.abs(_eigenvalues(residual)).max(axis=1))
        if moment is not None:
            estimates.append((inverse @ moment[..., None])[..., 0])
        if k < steps:
            inverse = 2 * inverse - product @ inverse
    return NewtonRun(alpha, inverse, xp.stack(residual_norms),
                     None if moment is None else xp.stack(estimates))


def newton_pseudo_inverse(gram, *, steps: int, alpha="frobenius"):
    """M_steps of the iteration: the Newton-Schulz approximation of pinv(S)."""
    return iterative_newton(gram, steps=steps, alpha=alpha).inverse


def newton_residual_theory(gram, alpha, steps: int):
    """||I - M_k S||_2 = max over the eigenvalues of |1 - alpha lambda^2|^(2^k), k = 0..steps,
    for a full-rank S: the exact-arithmetic prediction of :func:`iterative_newton`."""
    gram = _gram(gram)
    steps = integer("steps", steps, minimum=0)
    xp = array_module(gram)
    values = _eigenvalues(gram)
    base = xp.abs(1 - newton_alpha(gram, alpha)[:, None] * values**2).max(axis=1)
    return xp.stack([base ** (2.0**k) for k in range(steps + 1)])


def best_fixed_step(gram):
    """2 / (lambda_min+ + lambda_max) for every S: GD's fixed step with the smallest worst-case
    contraction (kappa - 1)/(kappa + 1) (module docstring)."""
    smallest, top = _extreme_eigenvalues(_gram(gram))
    return 2.0 / (smallest + top)


@dataclass
class GradientDescentRun:
    """What :func:`least_squares_gd` recorded."""

    step: np.ndarray
    #: w after the last step: shape (tasks, d).
    estimate: np.ndarray
    iterations: int
    #: The steps t at which the error was recorded, and the errors: shape (len, tasks).
    recorded_steps: np.ndarray
    recorded_errors: np.ndarray | None
    #: First t <= iterations with error(w_t) <= levels[task, j]; inf where never reached.
    steps_to_reach: np.ndarray | None


def least_squares_gd(gram, moment, *, iterations: int, step=None, error=None, levels=None,
                     record_at=None, chunk: int = 256) -> GradientDescentRun:
    """w_{t+1} = w_t - step (S w_t - X^T y) from w_0 = 0, for ``iterations`` steps on a batch.

    ``step``: None for :func:`best_fixed_step`, a positive number, or one per task.
    ``error``: a function from estimates (..., tasks, d) to errors (..., tasks). With
    ``levels`` (tasks, L) it is evaluated at every step, to find the first step at which each
    task's error falls to each of its levels; at the steps ``record_at`` (default: none) the
    errors are also returned, for plotting. The iterates are kept ``chunk`` steps at a time so
    that the errors are evaluated on whole blocks of them.
    """
    gram = _gram(gram)
    moment = _moment(moment, gram)
    iterations = integer("iterations", iterations, minimum=0)
    chunk = integer("chunk", chunk, minimum=0) or 1
    xp = array_module(gram)
    step = best_fixed_step(gram) if step is None else _per_task("step", step, gram)
    record_at = np.unique(np.asarray([] if record_at is None else record_at, dtype=np.int64))
    if record_at.size and (record_at[0] < 0 or record_at[-1] > iterations):
        raise ValueError(f"record_at must lie in [0, iterations = {iterations}]")
    if (levels is not None or record_at.size) and not callable(error):
        raise TypeError("error must be a function of the estimates when levels or record_at are given")
    reach = None
    if levels is not None:
        levels = xp.asarray(levels, dtype=gram.dtype)
        if levels.ndim != 2 or levels.shape[0] != gram.shape[0]:
            raise ValueError(f"levels must have shape ({gram.shape[0]}, L), got {levels.shape}")
        reach = xp.full(levels.shape, xp.inf)
    recorded = []
    estimate = xp.zeros_like(moment)
    for first in range(0, iterations + 1, chunk):
        times = np.arange(first, min(first + chunk, iterations + 1))
        block = []
        for t in times:
            block.append(estimate)
            if t < iterations:
                gradient = (gram @ estimate[..., None])[..., 0] - moment
                estimate = estimate - step[:, None] * gradient
        wanted = np.isin(times, record_at)
        if reach is None and not wanted.any():
            continue
        errors = error(xp.stack(block))  # (len(times), tasks)
        if wanted.any():
            recorded.extend(errors[xp.asarray(np.flatnonzero(wanted))])
        if reach is not None:
            below = errors[:, :, None] <= levels[None]
            first_below = xp.asarray(times, dtype=reach.dtype)[below.argmax(axis=0)]
            reach = xp.where(xp.isinf(reach) & below.any(axis=0), first_below, reach)
    return GradientDescentRun(step, estimate, iterations, record_at,
                              xp.stack(recorded) if recorded else None, reach)


def spectral_errors(gram, solution, factors, weight=None):
    """||w - w*||_W / ||w*||_W for every estimate of the form w - w* = -V diag(f(lambda)) V^T w*,
    with S = V diag(lambda) V^T: the exact-arithmetic error of a method whose residual on
    the eigenvalue lambda is f(lambda).

    ``factors`` maps the eigenvalues (tasks, d) to residual factors (K, tasks, d); ``weight``
    is the matrix W of the norm (default the identity). Returns shape (K, tasks).
    """
    gram = _gram(gram)
    xp = array_module(gram)
    values, vectors = xp.linalg.eigh(gram)
    solution = _moment(solution, gram)
    if weight is None:
        weight = xp.eye(gram.shape[-1], dtype=gram.dtype)
    root = xp.linalg.cholesky(xp.asarray(weight, dtype=gram.dtype))
    coefficients = xp.einsum("tji,tj->ti", vectors, solution)
    residuals = xp.einsum("tij,ktj->kti", vectors, factors(values) * coefficients)
    return xp.linalg.norm(residuals @ root, axis=-1) / xp.linalg.norm(solution @ root, axis=-1)


def newton_error_theory(gram, solution, *, steps: int, alpha="frobenius", weight=None):
    """Errors of w_k, k = 0..steps, of iterative Newton in exact arithmetic: residual factor
    (1 - alpha lambda^2)^(2^k) on each eigenvalue (module docstring). Shape (steps + 1, tasks)."""
    steps = integer("steps", steps, minimum=0)
    alpha = newton_alpha(gram, alpha)
    powers = 2.0 ** np.arange(steps + 1)

    def factors(values):
        return (1 - alpha[:, None] * values**2)[None] ** powers[:, None, None]

    return spectral_errors(gram, solution, factors, weight)


def gd_error_theory(gram, solution, *, times, step=None, weight=None):
    """Errors of GD from w_0 = 0 after each number of steps in ``times``, in exact arithmetic:
    residual factor (1 - step lambda)^t on each eigenvalue. Shape (len(times), tasks)."""
    step = best_fixed_step(gram) if step is None else step
    times = np.asarray(times, dtype=np.float64)

    def factors(values):
        base = 1 - array_module(values).asarray(step)[..., None] * values
        return base[None] ** times[:, None, None]

    return spectral_errors(gram, solution, factors, weight)
