"""The curvature of a loss around a point, and the directions of loss-surface plots.

* :func:`hessian_vector_product`: H(theta) v by a central difference of two gradients, each
  computed by the explicit backward pass (or any gradient function); no Hessian is formed.
* :func:`extreme_eigenvalues` and :func:`top_eigenvalue`: the Hessian's largest (and smallest)
  eigenvalue from those products, by Lanczos (SciPy's ``eigsh``, ARPACK) or power iteration.
  The top eigenvalue is the "sharpness" of Keskar et al. (2017) and Cohen et al. (2021); the
  ratio |lambda_min / lambda_max| is Li et al.'s (2018) measure of non-convexity.
* :func:`filter_normalised_direction`: a random direction scaled filter by filter to the
  weights' norms (Li et al. 2018, section 4), so that plots of L(theta + a d) compare across
  networks whose weights have different scales.

Everything works on flat float64 vectors through a function ``gradient(theta) -> g``;
:func:`network_gradient` makes one from a network and a batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from memopt._checks import integer
from memopt.backend import to_numpy

Gradient = Callable[[np.ndarray], np.ndarray]

#: The relative step of the central difference: the truncation error grows like h^2 and the
#: rounding error like eps / h, so h ~ eps^(1/3) balances them.
RELATIVE_STEP = np.finfo(np.float64).eps ** (1 / 3)


def _vector(name: str, value, size: int | None = None) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 1 or (size is not None and array.shape != (size,)):
        expected = "a flat vector" if size is None else f"a flat vector of {size} values"
        raise ValueError(f"{name} must be {expected}, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite")
    return array


def network_gradient(network, inputs, labels) -> Gradient:
    """theta -> the gradient of ``network``'s loss on (inputs, labels) at theta (float64).

    The network's parameters are left at the last theta asked for; compute on a float64
    network, since the central differences below need the precision."""
    if network.params.dtype != np.float64:
        raise TypeError("curvature needs a float64 network (finite differences of float32 "
                        "gradients keep only a few digits)")

    def gradient(theta):
        network.params.load(theta)
        network.loss_and_gradient(inputs, labels)
        return np.array(to_numpy(network.params.grad), dtype=np.float64)

    return gradient


def hessian_vector_product(gradient: Gradient, theta, v, *, step: float | None = None) -> np.ndarray:
    """H(theta) v ~ (g(theta + h u) - g(theta - h u)) / (2 h) * ||v||, u = v / ||v||.

    The error is O(h^2) (a third derivative) plus the gradients' rounding over h; the default
    h = eps^(1/3) max(1, ||theta||) balances the two. Exact for a quadratic up to rounding."""
    theta = _vector("theta", theta)
    v = _vector("v", v, theta.size)
    norm = float(np.linalg.norm(v))
    if norm == 0.0:
        return np.zeros_like(theta)
    h = RELATIVE_STEP * max(1.0, float(np.linalg.norm(theta))) if step is None else float(step)
    if not h > 0:
        raise ValueError(f"step must be > 0, got {step}")
    u = v / norm
    plus, minus = gradient(theta + h * u), gradient(theta - h * u)
    return (np.asarray(plus, dtype=np.float64) - np.asarray(minus, dtype=np.float64)) * (norm / (2 * h))


@dataclass(frozen=True)
class Eigenpair:
    value: float
    vector: np.ndarray
    #: Hessian-vector products spent.
    products: int


def _operator(gradient: Gradient, theta: np.ndarray):
    from scipy.sparse.linalg import LinearOperator  # noqa: PLC0415 - SciPy's sparse module imports slowly

    count = [0]

    def matvec(v):
        count[0] += 1
        return hessian_vector_product(gradient, theta, np.ravel(v))

    return LinearOperator((theta.size, theta.size), matvec=matvec, dtype=np.float64), count


def extreme_eigenvalues(gradient: Gradient, theta, *, tol: float = 1e-6, seed: int = 0) -> tuple[Eigenpair, Eigenpair]:
    """(smallest, largest) eigenpairs of H(theta) by Lanczos (ARPACK through SciPy's ``eigsh``)
    on Hessian-vector products, each to relative accuracy ``tol``."""
    from scipy.sparse.linalg import eigsh  # noqa: PLC0415

    theta = _vector("theta", theta)
    start = np.random.default_rng(seed).standard_normal(theta.size)
    pairs = []
    for which in ("SA", "LA"):
        operator, count = _operator(gradient, theta)
        values, vectors = eigsh(operator, k=1, which=which, tol=tol, v0=start)
        pairs.append(Eigenpair(float(values[0]), vectors[:, 0], count[0]))
    return pairs[0], pairs[1]


def top_eigenvalue(gradient: Gradient, theta, *, method: str = "lanczos", tol: float = 1e-6,
                   max_products: int = 1000, seed: int = 0) -> Eigenpair:
    """The largest eigenvalue of H(theta) and its unit eigenvector.

    ``method="lanczos"``: ARPACK's largest algebraic eigenvalue. ``method="power"``: power
    iteration from a seeded Gaussian start, stopped when ||H v - lambda v|| <= tol |lambda| for
    the Rayleigh quotient lambda of the unit vector v; it converges to the eigenvalue of largest *magnitude*, which is
    the largest one only when no negative eigenvalue is larger in modulus (near a minimum)."""
    theta = _vector("theta", theta)
    max_products = integer("max_products", max_products)
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol}")
    if method == "lanczos":
        from scipy.sparse.linalg import eigsh  # noqa: PLC0415

        operator, count = _operator(gradient, theta)
        start = np.random.default_rng(seed).standard_normal(theta.size)
        values, vectors = eigsh(operator, k=1, which="LA", tol=tol, v0=start, maxiter=max_products)
        return Eigenpair(float(values[0]), vectors[:, 0], count[0])
    if method != "power":
        raise ValueError(f"method must be 'lanczos' or 'power', got {method!r}")
    v = np.random.default_rng(seed).standard_normal(theta.size)
    v /= np.linalg.norm(v)
    for products in range(1, max_products + 1):
        w = hessian_vector_product(gradient, theta, v)
        value = float(v @ w)  # the Rayleigh quotient of the unit vector v
        # Stop on the residual, not on the quotient: with eigenvalues +l and -l tied in
        # magnitude the quotient stands still while v oscillates between them.
        if np.linalg.norm(w - value * v) <= tol * abs(value):
            return Eigenpair(value, v, products)
        norm = float(np.linalg.norm(w))
        if norm == 0.0:
            return Eigenpair(0.0, v, products)
        v = w / norm
    raise RuntimeError(f"power iteration did not converge in {max_products} products "
                       "(the top eigenvalues may be close: use method='lanczos')")


def filter_normalised_direction(params, rng: np.random.Generator) -> np.ndarray:
    """A Gaussian direction d with the layout of ``params`` (a :class:`memopt.nets.Parameters`),
    rescaled filter by filter: for every 2-D weight, column j of d (the weights into output
    unit j, a "filter" of a fully connected layer) gets the norm of column j of the weights;
    1-D parameters (biases, layer-norm gains) get 0, as Li et al. do for biases and batch norm.
    Returns the flat vector."""
    theta = np.asarray(to_numpy(params.vector), dtype=np.float64)
    direction = np.zeros_like(theta)
    start = 0
    for name in params.names():
        shape = params.shape(name)
        size = int(np.prod(shape))
        if len(shape) == 2:
            weights = theta[start:start + size].reshape(shape)
            d = rng.standard_normal(shape)
            scale = np.linalg.norm(weights, axis=0) / np.maximum(np.linalg.norm(d, axis=0), np.finfo(float).tiny)
            direction[start:start + size] = (d * scale).ravel()
        start += size
    return direction
