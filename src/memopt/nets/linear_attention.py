r"""One layer of linear self-attention (LSA) on in-context linear regression, with explicit gradients.

The prompt is embedded as the columns of
:math:`Z = \begin{pmatrix} x_1 & \cdots & x_n & x_q \\ y_1 & \cdots & y_n & 0\end{pmatrix}
\in \mathbb{R}^{(d+1)\times(n+1)}` and the layer (von Oswald et al. 2023; Ahn et al. 2023;
Zhang, Frei and Bartlett 2024) is

.. math::

    Z' = Z + \tfrac1n P\, Z M Z^\top Q\, Z, \qquad M = \operatorname{diag}(I_n, 0),

with value-projection :math:`P` and key-query :math:`Q` in :math:`\mathbb{R}^{(d+1)\times(d+1)}`;
the mask :math:`M` keeps the query out of the keys. The prediction is the last entry,
:math:`\hat y = Z'_{d+1, n+1} = u^\top G\, Q_{:, 1:d}\, x_q` with :math:`u^\top` the last row of
:math:`P` and :math:`G = \frac1n\sum_i z_i z_i^\top`. Only :math:`u` and the first :math:`d`
columns of :math:`Q` reach it; the other entries shape the outputs at the context positions,
which the in-context loss never reads, so their gradients are zero.

Write :math:`u = (v, v_0)`, :math:`Q_{:,1:d} = \binom{A}{b^\top}`, :math:`K = A^\top`,
:math:`\hat S = X^\top X/n`. With :math:`y = Xw` the prediction is :math:`\hat y = \omega^\top x_q`,

.. math::

    \omega = K\hat S v + (v_0 K + b v^\top)\hat S w + v_0 b\, w^\top \hat S w .

With :math:`v = 0,\ b = 0,\ v_0 K = \Gamma` this is :math:`\hat y = x_q^\top \Gamma X^\top y/n`,
one step of gradient descent preconditioned by :math:`\Gamma` on
:math:`\frac{1}{2n}\lVert Xw - y\rVert^2` from :math:`w = 0`. For :math:`x \sim \mathcal N(0,\Sigma)`,
:math:`w \sim \mathcal N(0, I)` the in-context loss
:math:`\mathbb{E}(\hat y - y_q)^2 = \mathbb{E}(\omega - w)^\top\Sigma(\omega - w)` is a polynomial
in the parameters whose expectation needs only the Wishart moments
:math:`\mathbb{E}\hat S = \Sigma`,
:math:`\mathbb{E}[\hat S N \hat S] = \Sigma N\Sigma
+ (\Sigma N^\top\Sigma + \operatorname{tr}(N\Sigma)\Sigma)/n`,
and Gaussian moments of :math:`w` up to the fourth (:func:`population_loss`, derived in the
docstring there). Its minimum over all parameters is attained at :math:`v = 0`, :math:`b = 0`,

.. math::

    v_0 K = \Gamma^* = \Bigl(\bigl(1 + \tfrac1n\bigr)\Sigma + \tfrac{\operatorname{tr}\Sigma}{n} I\Bigr)^{-1}

one step of preconditioned gradient descent (:func:`optimal_preconditioner`). That the global
minimiser of one layer is one preconditioned step is the theorem of Ahn et al. (2023) and of
Mahankali, Hashimoto and Ma (2024); the formula for :math:`\Gamma^*` under this distribution
is the one of Zhang, Frei and Bartlett (2024), and follows from
:math:`\Gamma^* = \mathbb{E}[\hat S]\,\mathbb{E}[\hat S^2]^{-1}` with the moments above.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from memopt._checks import integer
from memopt.backend import single_blas_thread
from memopt.perturb import inputs as perturbed


def _covariance(covariance) -> np.ndarray:
    covariance = np.asarray(covariance, dtype=np.float64)
    if covariance.ndim != 2 or covariance.shape[0] != covariance.shape[1] or covariance.size == 0:
        raise ValueError(f"covariance must be a square matrix, got shape {covariance.shape}")
    if not np.all(np.isfinite(covariance)) or not np.allclose(covariance, covariance.T):
        raise ValueError("covariance must be finite and symmetric")
    if np.linalg.eigvalsh(covariance)[0] <= 0:
        raise ValueError("covariance must be positive definite")
    return covariance


def _context_length(n) -> int:
    return integer("n", n)


@dataclass
class LinearSelfAttention:
    """The layer's parameters: ``value`` P and ``key_query`` Q, both (d+1, d+1)."""

    value: np.ndarray
    key_query: np.ndarray

    def __post_init__(self):
        self.value = np.asarray(self.value, dtype=np.float64)
        self.key_query = np.asarray(self.key_query, dtype=np.float64)
        shape = self.value.shape
        if len(shape) != 2 or shape[0] != shape[1] or shape[0] < 2 or self.key_query.shape != shape:
            raise ValueError(f"value and key_query must both be (d+1, d+1) with d >= 1, got "
                             f"{self.value.shape} and {self.key_query.shape}")

    @classmethod
    def initial(cls, dim: int, scale: float = 0.01, seed: int = 0) -> LinearSelfAttention:
        """Small Gaussian parameters (at zero every gradient vanishes: a saddle point)."""
        integer("dim", dim)
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale!r}")
        rng = np.random.default_rng(seed)
        return cls(perturbed(scale * rng.standard_normal((dim + 1, dim + 1))),
                   perturbed(scale * rng.standard_normal((dim + 1, dim + 1))))

    @property
    def dim(self) -> int:
        return self.value.shape[0] - 1

    # -- the parameters that reach the prediction --------------------------------------------
    @property
    def parts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """(K, b, v, v0) of the module docstring."""
        d = self.dim
        return self.key_query[:d, :d].T, self.key_query[d, :d], self.value[d, :d], float(self.value[d, d])

    @property
    def preconditioner(self) -> np.ndarray:
        """v0 K: the Gamma of the preconditioned GD step the layer computes when v = b = 0."""
        k, _, _, v0 = self.parts
        return v0 * k

    def flat(self) -> np.ndarray:
        return np.concatenate([self.value.ravel(), self.key_query.ravel()])

    @classmethod
    def from_flat(cls, parameters, dim: int) -> LinearSelfAttention:
        size = (dim + 1) ** 2
        parameters = np.asarray(parameters, dtype=np.float64)
        return cls(parameters[:size].reshape(dim + 1, dim + 1), parameters[size:].reshape(dim + 1, dim + 1))

    # -- forward ---------------------------------------------------------------------------------
    def forward(self, features, targets, queries) -> np.ndarray:
        """Z' for every prompt: shape (prompts, d+1, n+1). ``features`` (prompts, n, d),
        ``targets`` (prompts, n), ``queries`` (prompts, d)."""
        z = embed(features, targets, queries, self.dim)
        n = z.shape[2] - 1
        keys = z[:, :, :n]  # Z M: the query column masked out
        return z + self.value @ (keys @ np.swapaxes(keys, 1, 2)) @ self.key_query @ z / n

    def predict(self, features, targets, queries) -> np.ndarray:
        """The prediction y_hat for each prompt's query: the last entry of Z'. Shape (prompts,)."""
        z = embed(features, targets, queries, self.dim)
        n = z.shape[2] - 1
        keys = z[:, :, :n]
        moments = keys @ np.swapaxes(keys, 1, 2) / n  # G
        return np.einsum("i,pij,jk,pk->p", self.value[-1], moments, self.key_query[:, :-1], z[:, :-1, -1])


def embed(features, targets, queries, dim: int) -> np.ndarray:
    """The prompts as token matrices Z of shape (prompts, d+1, n+1) (module docstring)."""
    features = np.asarray(features, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    queries = np.asarray(queries, dtype=np.float64)
    if features.ndim != 3 or features.shape[2] != dim:
        raise ValueError(f"features must have shape (prompts, n, {dim}), got {features.shape}")
    prompts, n, _ = features.shape
    if targets.shape != (prompts, n) or queries.shape != (prompts, dim):
        raise ValueError(f"targets must be ({prompts}, {n}) and queries ({prompts}, {dim}), got "
                         f"{targets.shape} and {queries.shape}")
    for name, array in (("features", features), ("targets", targets), ("queries", queries)):
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} contain NaN or infinite entries")
    z = np.zeros((prompts, dim + 1, n + 1))
    z[:, :dim, :n] = np.swapaxes(features, 1, 2)
    z[:, dim, :n] = targets
    z[:, :dim, n] = queries
    return z


def empirical_loss(model: LinearSelfAttention, features, targets, queries, query_targets):
    """Mean over prompts of (y_hat - y_q)^2 and its gradients (d/dP, d/dQ), explicitly.

    y_hat = u^T G Q~ x_q with Q~ = Q[:, :d]: d y_hat/du = G Q~ x_q and d y_hat/dQ~ = G u x_q^T.
    """
    d = model.dim
    z = embed(features, targets, queries, d)
    n = z.shape[2] - 1
    keys = z[:, :, :n]
    moments = keys @ np.swapaxes(keys, 1, 2) / n
    x_q = z[:, :d, n]
    u, q = model.value[-1], model.key_query[:, :d]
    projected = np.einsum("jk,pk->pj", q, x_q)  # Q~ x_q
    prediction = np.einsum("i,pij,pj->p", u, moments, projected)
    residual = prediction - np.asarray(query_targets, dtype=np.float64)
    weights = 2 * residual / residual.size
    grad_value = np.zeros_like(model.value)
    grad_value[-1] = np.einsum("p,pij,pj->i", weights, moments, projected)
    grad_key_query = np.zeros_like(model.key_query)
    grad_key_query[:, :d] = np.einsum("p,pji,j,pk->ik", weights, moments, u, x_q)
    return float(np.mean(residual**2)), grad_value, grad_key_query


def wishart_square(covariance, n: int) -> np.ndarray:
    """E[S_hat^2] = (1 + 1/n) Sigma^2 + tr(Sigma)/n Sigma for S_hat = X^T X/n, x ~ N(0, Sigma)."""
    covariance = _covariance(covariance)
    n = _context_length(n)
    return (1 + 1 / n) * covariance @ covariance + np.trace(covariance) / n * covariance


def population_loss(model: LinearSelfAttention, covariance, n: int):
    r"""E (y_hat - y_q)^2 over prompts of n examples, x ~ N(0, Sigma), w ~ N(0, I), no noise,
    and its gradients (d/dP, d/dQ), in closed form.

    With omega = T0 + T1 + T2 (degrees 0, 1, 2 in w: T0 = K S v, T1 = C S w with
    C = v0 K + b v^T, T2 = v0 b w^T S w) and w -> -w leaving the distribution unchanged, the
    odd and even parts do not mix:

    * E (T1 - w)^T Sigma (T1 - w) = tr(C^T Sigma C E[S^2]) - 2 tr(Sigma C Sigma) + tr Sigma;
    * E T0^T Sigma T0 = v^T E[S N S] v with N = K^T Sigma K,
      E[S N S] = (1 + 1/n) Sigma N Sigma + tr(N Sigma)/n Sigma;
    * 2 E T0^T Sigma T2 = 2 v0 v^T E[S tr S] K^T Sigma b, E[S tr S] = tr(Sigma) Sigma + 2 Sigma^2/n;
    * E T2^T Sigma T2 = v0^2 (b^T Sigma b) E[(w^T S w)^2], which is
      (tr Sigma)^2 (1 + 2/n) + tr(Sigma^2)(2 + 4/n).
    """
    moments = _PromptMoments.of(covariance, n)
    if moments.sigma.shape != (model.dim, model.dim):
        raise ValueError(f"covariance must be ({model.dim}, {model.dim}) for this layer, "
                         f"got {moments.sigma.shape}")
    return _population_loss(model, moments)


@dataclass(frozen=True)
class _PromptMoments:
    """The moments of the prompt distribution that :func:`population_loss` needs."""

    sigma: np.ndarray
    n: int
    trace: float
    square: np.ndarray  # E[S_hat^2]
    with_trace: np.ndarray  # E[S_hat tr S_hat]
    fourth: float  # E[(w^T S_hat w)^2]

    @classmethod
    def of(cls, covariance, n: int) -> _PromptMoments:
        sigma = _covariance(covariance)
        n = _context_length(n)
        trace = float(np.trace(sigma))
        return cls(sigma, n, trace, wishart_square(sigma, n), trace * sigma + 2 / n * sigma @ sigma,
                   trace**2 * (1 + 2 / n) + float(np.trace(sigma @ sigma)) * (2 + 4 / n))


def _population_loss(model: LinearSelfAttention, moments: _PromptMoments):
    sigma, n, trace, square = moments.sigma, moments.n, moments.trace, moments.square
    with_trace, fourth = moments.with_trace, moments.fourth
    d = model.dim
    k, b, v, v0 = model.parts
    c = v0 * k + np.outer(b, v)
    loss = np.sum(c * (sigma @ c @ square)) - 2 * np.sum(sigma * (c @ sigma)) + trace
    grad_c = 2 * sigma @ c @ square - 2 * sigma @ sigma
    grad_k, grad_v0 = v0 * grad_c, np.sum(grad_c * k)
    grad_b, grad_v = grad_c @ v, grad_c.T @ b

    sv = sigma @ v
    ksv = k @ sv
    n_trace = np.sum(k * (sigma @ k @ sigma))  # tr(K^T Sigma K Sigma)
    vsv = v @ sv
    loss += (1 + 1 / n) * ksv @ sigma @ ksv + n_trace * vsv / n
    grad_k += 2 * (1 + 1 / n) * np.outer(sigma @ ksv, sv) + 2 * sigma @ k @ sigma * vsv / n
    grad_v += 2 * (1 + 1 / n) * sigma @ (k.T @ (sigma @ ksv)) + 2 * n_trace / n * sv

    kb = k.T @ (sigma @ b)
    wv = with_trace @ v
    loss += 2 * v0 * wv @ kb
    grad_v0 += 2 * wv @ kb
    grad_v += 2 * v0 * with_trace @ kb
    grad_k += 2 * v0 * np.outer(sigma @ b, wv)
    grad_b += 2 * v0 * sigma @ (k @ wv)

    bsb = b @ sigma @ b
    loss += v0**2 * fourth * bsb
    grad_v0 += 2 * v0 * fourth * bsb
    grad_b += 2 * v0**2 * fourth * sigma @ b

    grad_value = np.zeros_like(model.value)
    grad_value[d, :d], grad_value[d, d] = grad_v, grad_v0
    grad_key_query = np.zeros_like(model.key_query)
    grad_key_query[:d, :d], grad_key_query[d, :d] = grad_k.T, grad_b
    return float(loss), grad_value, grad_key_query


@dataclass
class Training:
    """A trained layer and how its training ended."""

    model: LinearSelfAttention
    loss: float
    iterations: int
    gradient_norm: float
    message: str


def train_population(covariance, n: int, *, seed: int = 0, init_scale: float = 0.01,
                     max_iterations: int = 20_000) -> Training:
    """Minimise :func:`population_loss` over all of P and Q from a small random start, with
    L-BFGS (SciPy) on the explicit gradients (BLAS on one thread)."""
    moments = _PromptMoments.of(covariance, n)
    d = moments.sigma.shape[0]
    start = LinearSelfAttention.initial(d, init_scale, seed)

    def objective(parameters):
        model = LinearSelfAttention.from_flat(parameters, d)
        loss, grad_value, grad_key_query = _population_loss(model, moments)
        return loss, np.concatenate([grad_value.ravel(), grad_key_query.ravel()])

    with single_blas_thread():
        result = minimize(objective, start.flat(), jac=True, method="L-BFGS-B",
                          options={"maxiter": max_iterations, "ftol": 1e-16, "gtol": 1e-12})
    model = LinearSelfAttention.from_flat(result.x, d)
    return Training(model, float(result.fun), int(result.nit), float(np.linalg.norm(result.jac)),
                    str(result.message))


def optimal_preconditioner(covariance, n: int) -> np.ndarray:
    """Gamma* = ((1 + 1/n) Sigma + tr(Sigma)/n I)^(-1) = Sigma E[S_hat^2]^(-1), the minimiser of
    E (x_q^T Gamma X^T y/n - y_q)^2 (module docstring)."""
    sigma = _covariance(covariance)
    n = _context_length(n)
    return np.linalg.inv((1 + 1 / n) * sigma + np.trace(sigma) / n * np.eye(sigma.shape[0]))


def best_scalar_step(covariance, n: int) -> float:
    """The step eta minimising E (eta x_q^T X^T y/n - y_q)^2: tr(Sigma^2) / tr(Sigma E[S_hat^2])
    (one step of plain GD, the best a scalar preconditioner can do)."""
    sigma = _covariance(covariance)
    return float(np.trace(sigma @ sigma) / np.trace(sigma @ wishart_square(sigma, n)))


def preconditioned_gd_step(features, targets, queries, preconditioner) -> np.ndarray:
    """x_q^T Gamma X^T y / n: the prediction after one step of GD preconditioned by Gamma on
    (1/2n)||Xw - y||^2 from w = 0. Shape (prompts,)."""
    features = np.asarray(features, dtype=np.float64)
    d = features.shape[-1]
    gamma = np.asarray(preconditioner, dtype=np.float64)
    if gamma.ndim == 0:
        gamma = gamma * np.eye(d)
    if gamma.shape != (d, d):
        raise ValueError(f"preconditioner must be a number or a ({d}, {d}) matrix, got shape {gamma.shape}")
    moment = np.einsum("pnd,pn->pd", features, np.asarray(targets, dtype=np.float64)) / features.shape[1]
    return np.einsum("pd,de,pe->p", np.asarray(queries, dtype=np.float64), gamma, moment)
