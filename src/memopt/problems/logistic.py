r"""Finite-sum, L2-regularised binary logistic regression, written as a generalised linear model.

.. math::

    f(x) = \frac{1}{n}\sum_{i=1}^{n} f_i(x), \qquad
    f_i(x) = \log\bigl(1 + e^{-y_i \langle a_i, x\rangle}\bigr) + \frac{\mu}{2}\lVert x\rVert^2,

with rows :math:`a_i \in \mathbb{R}^p` and labels :math:`y_i \in \{-1, +1\}`. This is the
lecture's test problem ("strongly convex binary logistic regression, m = 200, n = 10, mu = 1";
the lecture writes m samples in n dimensions, this module says ``n_samples`` and ``n_features``).

Because each :math:`f_i` depends on :math:`x` only through the margin
:math:`z_i = y_i\langle a_i, x\rangle`, its gradient is a scalar times the row plus the
regulariser, :math:`\nabla f_i(x) = s_i\, a_i + \mu x` with :math:`s_i = -y_i\,\sigma(-z_i)`.
Methods that store past gradients (SAG, SAGA) can therefore keep one scalar per sample.

Constants (Schmidt, Le Roux, Bach 2017, section 2): :math:`f_i` is :math:`L_i`-smooth with
:math:`L_i = \lVert a_i\rVert^2/4 + \mu`; :math:`f` is :math:`L`-smooth with
:math:`L = \lambda_{\max}(A^\top A)/(4n) + \mu` and :math:`\mu`-strongly convex.

Every method accepts one point ``x`` of shape ``(p,)`` or a batch of ``R`` points of shape
``(R, p)`` (the run axis of the batched engine) and works on NumPy or CuPy arrays alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from memopt.backend import array_module, asarray, to_numpy
from memopt.perturb import inputs as perturbed


def log1p_exp(t):
    """log(1 + exp(t)) = max(t, 0) + log1p(exp(-|t|)): no overflow for large t, no loss of
    precision for very negative t (and faster than logaddexp)."""
    xp = array_module(t)
    return xp.maximum(t, 0.0) + xp.log1p(xp.exp(-xp.abs(t)))


def sigmoid(t):
    """The logistic function 1 / (1 + exp(-t)), stable for |t| up to the dtype's range."""
    xp = array_module(t)
    if xp is np:
        return expit(t)  # one ufunc call: this sits in the stochastic methods' inner loop
    e = xp.exp(-xp.abs(t))  # in (0, 1]: never overflows
    return xp.where(t >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


@dataclass(frozen=True)
class Optimum:
    """A minimiser, its value and the evidence of its accuracy (||grad f|| there)."""

    x: np.ndarray
    value: float
    gradient_norm: float
    steps: int


class LogisticGLM:
    """The objective, its gradients and its constants for given data (see the module docstring).

    Parameters
    ----------
    features : array of shape (n_samples, n_features), real and finite.
    labels : array of shape (n_samples,), every entry -1 or +1.
    mu : the L2 regularisation (strong convexity) constant, finite and >= 0.
    """

    def __init__(self, features, labels, mu: float):
        xp = array_module(features, labels)
        features = xp.asarray(features)
        labels = xp.asarray(labels)
        if features.ndim != 2 or features.shape[0] == 0 or features.shape[1] == 0:
            raise ValueError(
                f"features must be a non-empty 2-D array (n_samples, n_features), got shape {features.shape}"
            )
        if features.dtype.kind not in "fiu":
            raise TypeError(f"features must be real numbers, got dtype {features.dtype}")
        if features.dtype.kind != "f":
            features = features.astype(np.float64)
        if labels.shape != (features.shape[0],):
            raise ValueError(
                f"labels must have shape ({features.shape[0]},) to match features, got {labels.shape}"
            )
        if not bool(xp.isfinite(features).all()):
            raise ValueError("features contain NaN or infinite entries")
        if not bool(((labels == 1) | (labels == -1)).all()):
            raise ValueError("labels must all be -1 or +1")
        mu = float(mu)
        if not np.isfinite(mu) or mu < 0:
            raise ValueError(f"mu must be finite and >= 0, got {mu}")
        # Row-major and contiguous whatever the caller's layout (Fortran order, a slice): the
        # kernels index a_i as features + i p, and a row's entries are then adjacent in memory.
        self.features = xp.ascontiguousarray(features)
        self.labels = xp.ascontiguousarray(labels, dtype=features.dtype)
        self.mu = mu
        self._sq_norms = (self.features * self.features).sum(axis=1)
        self._resolve_backend()

    def _resolve_backend(self) -> None:
        # Resolved once: the stochastic methods' inner loop calls these millions of times.
        self._xp = array_module(self.features)
        self._sigmoid = expit if self._xp is np else sigmoid

    def __getstate__(self):  # modules do not pickle (results are cached with their problem)
        return {k: v for k, v in self.__dict__.items() if k not in ("_xp", "_sigmoid")}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._resolve_backend()

    # -- shapes and constants ------------------------------------------------------------------
    @property
    def n_samples(self) -> int:
        return self.features.shape[0]

    @property
    def n_features(self) -> int:
        return self.features.shape[1]

    @property
    def dtype(self):
        return self.features.dtype

    @property
    def sample_lipschitz(self):
        """L_i = ||a_i||^2 / 4 + mu, the smoothness constant of each f_i."""
        return self._sq_norms / 4.0 + self.mu

    @property
    def L(self) -> float:
        """Smoothness of f: lambda_max(A^T A) / (4 n) + mu (computed once, on the host)."""
        if not hasattr(self, "_L"):
            a = to_numpy(self.features).astype(np.float64)
            top = np.linalg.eigvalsh(a.T @ a)[-1] if a.shape[1] <= a.shape[0] else np.linalg.eigvalsh(a @ a.T)[-1]
            self._L = float(top) / (4.0 * self.n_samples) + self.mu
        return self._L

    @property
    def L_max(self) -> float:
        """max_i L_i, the constant stochastic methods' step sizes are set from."""
        return float(self.sample_lipschitz.max())

    # -- oracle --------------------------------------------------------------------------------
    def _point(self, x):
        xp = array_module(self.features)
        x = xp.asarray(x, dtype=self.dtype)
        if x.ndim not in (1, 2) or x.shape[-1] != self.n_features:
            raise ValueError(
                f"x must have shape ({self.n_features},) or (runs, {self.n_features}), got {x.shape}"
            )
        if not bool(xp.isfinite(x).all()):
            raise ValueError("x contains NaN or infinite entries")
        return x

    def margins(self, x):
        """z_i = y_i <a_i, x> for every sample: shape (n,) or (R, n)."""
        x = self._point(x)
        return (x @ self.features.T) * self.labels

    def value(self, x):
        """f(x): a float for one point, shape (R,) for a batch of points."""
        x = self._point(x)
        z = (x @ self.features.T) * self.labels
        return log1p_exp(-z).mean(axis=-1) + 0.5 * self.mu * (x * x).sum(axis=-1)

    def loss_derivatives(self, x):
        """s_i = -y_i sigma(-z_i) for every sample, so that grad f_i(x) = s_i a_i + mu x."""
        x = self._point(x)
        return -self.labels * sigmoid(-(x @ self.features.T) * self.labels)

    def gradient(self, x):
        """grad f(x) = (1/n) sum_i s_i a_i + mu x."""
        x = self._point(x)
        s = -self.labels * sigmoid(-(x @ self.features.T) * self.labels)
        return (s @ self.features) / self.n_samples + self.mu * x

    def sample_gradients(self, x, indices):
        """grad f_i(x) for the given sample indices.

        ``x`` of shape (p,) with ``indices`` of shape (B,) gives (B, p); ``x`` of shape (R, p)
        with ``indices`` of shape (R, B) gives (R, B, p).
        """
        x = self._point(x)
        rows, s = self.rows_and_derivatives(x, self._indices(x, indices))
        return s[..., None] * rows + self.mu * x[..., None, :]

    def batch_gradient(self, x, indices):
        """The mini-batch gradient (1/B) sum_{i in batch} grad f_i(x), shape like ``x``.

        Unchecked fast path for the stochastic engine, which validates its inputs once.
        """
        rows, s = self.rows_and_derivatives(x, indices)
        return (s[..., None] * rows).sum(axis=-2) / indices.shape[-1] + self.mu * x

    def _indices(self, x, indices):
        xp = array_module(self.features)
        indices = xp.asarray(indices)
        if indices.dtype.kind not in "iu":
            raise TypeError(f"indices must be integers, got dtype {indices.dtype}")
        if indices.ndim != x.ndim or indices.shape[:-1] != x.shape[:-1]:
            raise ValueError(
                f"indices must have shape {x.shape[:-1] + ('B',)} for x of shape {x.shape}, got {indices.shape}"
            )
        if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= self.n_samples):
            raise ValueError(f"indices must lie in [0, {self.n_samples})")
        return indices

    def rows_and_derivatives(self, x, indices):
        """The rows a_i and loss derivatives s_i(x) for ``indices`` of shape (..., B): the
        GLM form of the sample gradients, grad f_i(x) = s_i a_i + mu x. Unchecked fast path."""
        rows = self.features[indices]  # (..., B, p)
        y = self.labels[indices]
        # Elementwise product and sum rather than matmul: each run's arithmetic is then the
        # same whether it runs alone or in a batch.
        z = (rows * x[..., None, :]).sum(axis=-1) * y
        return rows, -y * self._sigmoid(-z)

    def sample_terms(self, x, index):
        """One sample per run: ``index`` of shape (R,) for ``x`` of shape (R, p). Returns the
        rows a_i (R, p) and the loss derivatives s_i(x) (R,), grad f_i(x) = s_i a_i + mu x.

        The inner loop of SAG, SAGA and SVRG; unchecked, and written for few NumPy calls.
        """
        rows = self.features.take(index, axis=0)
        y = self.labels.take(index)
        return rows, -y * self._sigmoid(-self._xp.einsum("rp,rp->r", rows, x) * y)

    def second_moment(self, x):
        """E_i ||grad f_i(x)||^2 over a uniform sample i (the sigma^2 of the SGD theorems).

        Uses ||s_i a_i + mu x||^2 = s_i^2 ||a_i||^2 + 2 mu s_i <a_i, x> + mu^2 ||x||^2.
        """
        x = self._point(x)
        ax = x @ self.features.T
        s = -self.labels * sigmoid(-ax * self.labels)
        return (
            (s * s * self._sq_norms).mean(axis=-1)
            + 2.0 * self.mu * (s * ax).mean(axis=-1)
            + self.mu**2 * (x * x).sum(axis=-1)
        )

    def hessian(self, x):
        """The Hessian A^T diag(sigma(z) sigma(-z)) A / n + mu I at one point x of shape (p,)."""
        x = self._point(x)
        if x.ndim != 1:
            raise ValueError("hessian takes one point of shape (p,)")
        xp = array_module(self.features)
        z = (x @ self.features.T) * self.labels
        w = sigmoid(z) * sigmoid(-z)
        return (self.features.T * w) @ self.features / self.n_samples + self.mu * xp.eye(
            self.n_features, dtype=self.dtype
        )

    def on_host_float64(self) -> "LogisticGLM":
        """This problem with NumPy float64 arrays (itself when it already is)."""
        if self.dtype == np.float64 and array_module(self.features) is np:
            return self
        return LogisticGLM(
            to_numpy(self.features).astype(np.float64), to_numpy(self.labels), self.mu
        )

    def minimize(self, tol: float = 1e-12, max_steps: int = 100) -> Optimum:
        """x* and f* by damped Newton's method in float64 on the host, from x = 0.

        Stops when ||grad f|| <= tol * max(1, ||grad f(0)||), or one full step after the Newton
        decrement lambda^2 = g^T H^-1 g, which estimates 2 (f(x) - f*), falls below the
        float64 resolution of f: rounding, not the method, then limits the gradient. Backtracking (Armijo) keeps every step a descent. Needs mu > 0:
        without regularisation a minimiser need not exist (on separable data f decreases
        forever).
        """
        if self.mu <= 0:
            raise ValueError("minimize needs mu > 0, so that a unique minimiser exists")
        problem = self.on_host_float64()
        x = np.zeros(self.n_features)
        g = problem.gradient(x)
        target = tol * max(1.0, float(np.linalg.norm(g)))
        resolution = 4 * np.finfo(np.float64).eps
        for step in range(max_steps + 1):
            fx, norm = float(problem.value(x)), float(np.linalg.norm(g))
            if norm <= target:
                return Optimum(x, fx, norm, step)
            direction = np.linalg.solve(problem.hessian(x), g)
            decrement = float(g @ direction)
            if decrement / 2 <= resolution * abs(fx):
                # f is f* to machine precision; one full Newton step (quadratic convergence)
                # brings x to x* as closely as rounding allows.
                x = x - direction
                g = problem.gradient(x)
                return Optimum(x, float(problem.value(x)), float(np.linalg.norm(g)), step + 1)
            t = 1.0
            while float(problem.value(x - t * direction)) > fx - 1e-4 * t * decrement and t > 1e-10:
                t *= 0.5
            x = x - t * direction
            g = problem.gradient(x)
        raise RuntimeError(
            f"Newton's method did not reach ||grad f|| <= {target:.1e} in {max_steps} steps "
            f"(now {np.linalg.norm(g):.1e})"
        )


def planted_logistic(
    n_samples: int = 200,
    n_features: int = 10,
    mu: float = 1.0,
    *,
    seed: int = 0,
    feature_scale: float = 1.0,
    row_scale_range: tuple[float, float] = (1.0, 1.0),
    device: str | None = None,
    dtype=np.float64,
) -> LogisticGLM:
    """Data from a planted logistic model, drawn on the host from ``numpy.random.default_rng(seed)``.

    Rows a_i ~ N(0, feature_scale^2 I_p); a hidden direction w ~ N(0, I_p); labels y_i = +1
    with probability sigma(<a_i, w>) and -1 otherwise. With ``row_scale_range=(lo, hi)`` each
    row is then multiplied by its own factor, log-uniform on [lo, hi] (drawn after the labels),
    which spreads the per-sample constants L_i. The defaults are the lecture's problem:
    200 samples, 10 features, mu = 1.
    """
    if int(n_samples) != n_samples or n_samples < 1 or int(n_features) != n_features or n_features < 1:
        raise ValueError(f"n_samples and n_features must be positive integers, got {n_samples}, {n_features}")
    low, high = row_scale_range
    if not (feature_scale > 0 and 0 < low <= high):
        raise ValueError("feature_scale must be > 0 and row_scale_range must satisfy 0 < lo <= hi")
    rng = np.random.default_rng(seed)
    features = perturbed(feature_scale * rng.standard_normal((n_samples, n_features)))
    hidden = rng.standard_normal(n_features)
    labels = np.where(rng.random(n_samples) < sigmoid(features @ hidden), 1.0, -1.0)
    if (low, high) != (1.0, 1.0):
        features *= np.exp(rng.uniform(np.log(low), np.log(high), n_samples))[:, None]
    return LogisticGLM(
        asarray(features, device, dtype=dtype), asarray(labels, device, dtype=dtype), mu
    )


def sklearn_optimum(problem: LogisticGLM, solver: str = "lbfgs", tol: float = 1e-12) -> Optimum:
    """The minimiser found by scikit-learn's ``LogisticRegression``, an independent reference.

    scikit-learn minimises (1/2)||w||^2 + C sum_i log(1 + exp(-y_i <a_i, w>)) (no intercept).
    Dividing f by mu shows that C = 1 / (mu n) gives the same minimiser. The value is computed
    with scikit-learn's own ``log_loss`` on its predicted probabilities, not with this module.
    """
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415 - heavy, used rarely
    from sklearn.metrics import log_loss  # noqa: PLC0415

    if problem.mu <= 0:
        raise ValueError("scikit-learn's L2 logistic regression needs mu > 0 (C = 1 / (mu n))")
    host = problem.on_host_float64()
    model = LogisticRegression(
        C=1.0 / (host.mu * host.n_samples), fit_intercept=False, solver=solver, tol=tol,
        max_iter=1_000_000,
    )
    model.fit(host.features, host.labels)
    w = model.coef_.ravel().copy()
    value = log_loss(host.labels, model.predict_proba(host.features), labels=[-1.0, 1.0])
    value += 0.5 * host.mu * float(w @ w)
    return Optimum(w, float(value), float(np.linalg.norm(host.gradient(w))), int(model.n_iter_[0]))
