r"""In-context linear regression tasks (the setting of Fu, Chen, Jia and Sharan, NeurIPS 2024).

A *task* is a hidden weight vector :math:`w^* \sim \mathcal N(0, I_d)`; its *prompt* holds
:math:`n` examples :math:`(x_i, y_i)` with :math:`x_i \sim \mathcal N(0, \Sigma)` and, without
noise, :math:`y_i = \langle w^*, x_i\rangle`, followed by a query :math:`x_q` whose answer
:math:`y_q = \langle w^*, x_q\rangle` the model must predict. An in-context learner sees only
the prompt, so every method of the chapter works on the prompt's least-squares problem

.. math::

    \min_w \tfrac12 \lVert X w - y\rVert^2, \qquad S = X^\top X, \quad X^\top y,

whose solution is :math:`S^{+} X^\top y = w^*` once :math:`n \ge d` (the rows span
:math:`\mathbb{R}^d` with probability one).

The covariance of the paper's ill-conditioned experiment has half its eigenvalues equal to
:math:`\kappa` and half equal to 1 (:func:`two_cluster_spectrum`) in a random orthonormal basis
(:func:`covariance_with_spectrum`). One covariance is drawn per experiment and shared by all
its tasks, as at the paper's evaluation. Everything is batched: ``n_tasks`` prompts at once, a
leading task axis on every array.

The error of an estimate :math:`\hat w` is measured as the paper measures a prediction, by the
squared error on a fresh query, here in expectation over the query rather than sampled:
:math:`\mathbb{E}_{x_q}(\langle \hat w - w^*, x_q\rangle)^2 = \lVert \hat w - w^*\rVert_\Sigma^2`.
:meth:`ICLTasks.prediction_error` returns its square root relative to
:math:`\lVert w^*\rVert_\Sigma`, the root relative mean squared error of the prediction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from numbers import Real

import numpy as np

from memopt._checks import integer
from memopt.perturb import inputs as perturbed


def _condition_number(kappa) -> float:
    if isinstance(kappa, bool) or not isinstance(kappa, Real):
        raise TypeError(f"kappa must be a real number, got {type(kappa).__name__}")
    kappa = float(kappa)
    if not math.isfinite(kappa) or kappa < 1:
        raise ValueError(f"kappa must be finite and >= 1, got {kappa}")
    return kappa


def two_cluster_spectrum(dim: int, kappa: float) -> np.ndarray:
    """Eigenvalues of the paper's ill-conditioned covariance: the first ``dim // 2`` equal to
    ``kappa``, the rest equal to 1 (so its condition number is ``kappa`` once dim >= 2)."""
    dim = integer("dim", dim)
    kappa = _condition_number(kappa)
    return np.where(np.arange(dim) < dim // 2, kappa, 1.0)


def log_uniform_spectrum(dim: int, kappa: float) -> np.ndarray:
    """``dim`` eigenvalues spread geometrically from ``kappa`` down to 1: the same condition
    number as :func:`two_cluster_spectrum` without its two clusters."""
    dim = integer("dim", dim)
    kappa = _condition_number(kappa)
    return np.geomspace(kappa, 1.0, dim)


def random_orthonormal(dim: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-distributed orthogonal matrix: QR of a Gaussian matrix with the signs of R's
    diagonal moved into Q (without that correction Q is not uniformly distributed)."""
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    return perturbed(q * np.where(np.diag(r) < 0, -1.0, 1.0))


def covariance_with_spectrum(eigenvalues, rng: np.random.Generator) -> np.ndarray:
    """U diag(eigenvalues) U^T with U a random orthonormal basis drawn from ``rng``."""
    eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
    if eigenvalues.ndim != 1 or eigenvalues.size == 0:
        raise ValueError(f"eigenvalues must be a non-empty 1-D array, got shape {eigenvalues.shape}")
    if not np.all(np.isfinite(eigenvalues)) or np.any(eigenvalues <= 0):
        raise ValueError("eigenvalues must be finite and > 0 (a covariance of full rank)")
    basis = random_orthonormal(eigenvalues.size, rng)
    covariance = (basis * eigenvalues) @ basis.T
    return (covariance + covariance.T) / 2  # exactly symmetric


@dataclass(frozen=True)
class ICLTasks:
    """A batch of in-context regression prompts (see the module docstring).

    Shapes: ``features`` (tasks, n, d), ``targets`` (tasks, n), ``weights`` (tasks, d),
    ``queries`` (tasks, d), ``query_targets`` (tasks,), ``covariance`` (d, d).
    """

    covariance: np.ndarray
    features: np.ndarray
    targets: np.ndarray
    weights: np.ndarray
    queries: np.ndarray
    query_targets: np.ndarray

    @property
    def n_tasks(self) -> int:
        return self.features.shape[0]

    @property
    def n_examples(self) -> int:
        return self.features.shape[1]

    @property
    def dim(self) -> int:
        return self.features.shape[2]

    @property
    def gram(self) -> np.ndarray:
        """S = X^T X for every task: shape (tasks, d, d)."""
        x = self.features
        return np.swapaxes(x, 1, 2) @ x

    @property
    def moment(self) -> np.ndarray:
        """X^T y for every task: shape (tasks, d)."""
        return np.einsum("tnd,tn->td", self.features, self.targets)

    def least_squares(self) -> np.ndarray:
        """The prompts' least-squares solutions S^+ X^T y by numpy.linalg.lstsq (SVD), one
        task at a time: the reference the iterative methods converge to."""
        return np.stack([np.linalg.lstsq(x, y, rcond=None)[0]
                         for x, y in zip(self.features, self.targets)])

    @cached_property
    def _covariance_root(self) -> np.ndarray:
        return np.linalg.cholesky(self.covariance)

    @cached_property
    def _weight_norms(self) -> np.ndarray:
        return np.linalg.norm(self.weights @ self._covariance_root, axis=-1)

    def prediction_error(self, estimates) -> np.ndarray:
        """||w_hat - w*||_Sigma / ||w*||_Sigma for estimates of shape (..., tasks, d).

        The square of it is the expected squared error of the prediction <w_hat, x_q> on a
        fresh query, relative to E y_q^2. Computed as ||R^T (w_hat - w*)|| with
        Sigma = R R^T (Cholesky), which is cheap enough to call at every step of a run.
        """
        estimates = np.asarray(estimates)
        if estimates.shape[-2:] != self.weights.shape:
            raise ValueError(
                f"estimates must have shape (..., {self.n_tasks}, {self.dim}), got {estimates.shape}"
            )
        error = (estimates - self.weights).reshape(-1, self.dim)  # one BLAS call, not a batch
        whitened = error @ self._covariance_root
        squares = np.einsum("ij,ij->i", whitened, whitened).reshape(estimates.shape[:-1])
        return np.sqrt(squares) / self._weight_norms


def icl_tasks(n_tasks: int = 256, dim: int = 20, n_examples: int = 40, kappa: float = 100.0, *,
              spectrum: str = "two_clusters", seed: int = 0, dtype=np.float64) -> ICLTasks:
    """``n_tasks`` noiseless prompts sharing one covariance whose spectrum is
    ``"two_clusters"`` (:func:`two_cluster_spectrum`, the paper's) or ``"log_uniform"``
    (:func:`log_uniform_spectrum`).

    Everything is drawn from ``numpy.random.default_rng(seed)`` in a fixed order (basis,
    features, weights, queries), so two spectra with the same seed share the basis and the
    Gaussian draws and differ only in the eigenvalues.
    """
    n_tasks = integer("n_tasks", n_tasks)
    n_examples = integer("n_examples", n_examples)
    spectra = {"two_clusters": two_cluster_spectrum, "log_uniform": log_uniform_spectrum}
    if spectrum not in spectra:
        raise ValueError(f"spectrum must be one of {', '.join(spectra)}, got {spectrum!r}")
    eigenvalues = spectra[spectrum](dim, kappa)
    integer("seed", seed, minimum=0)
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a floating-point type, got {dtype}")
    rng = np.random.default_rng(seed)
    covariance = covariance_with_spectrum(eigenvalues, rng)
    root = np.linalg.cholesky(covariance)  # x = root z has covariance root root^T = Sigma
    features = rng.standard_normal((n_tasks, n_examples, dim)) @ root.T
    weights = rng.standard_normal((n_tasks, dim))
    queries = rng.standard_normal((n_tasks, dim)) @ root.T
    targets = np.einsum("tnd,td->tn", features, weights)
    query_targets = np.einsum("td,td->t", queries, weights)
    arrays = (covariance, features, targets, weights, queries, query_targets)
    return ICLTasks(*(a.astype(dtype) for a in arrays))


def isotropic_prompts(rng: np.random.Generator, n_prompts: int, n_examples: int, dim: int,
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n_prompts`` noiseless prompts of the training distribution of Garg et al. (2022) and
    Fu et al. (2024): x_i ~ N(0, I_d), w ~ N(0, I_d), y_i = <w, x_i>. Returns
    (xs (n_prompts, n_examples, dim), ys (n_prompts, n_examples), ws (n_prompts, dim)),
    drawn from ``rng`` in that order (features, then weights)."""
    n_prompts, n_examples, dim = (integer(name, value) for name, value in
                                  (("n_prompts", n_prompts), ("n_examples", n_examples), ("dim", dim)))
    xs = perturbed(rng.standard_normal((n_prompts, n_examples, dim)))
    ws = perturbed(rng.standard_normal((n_prompts, dim)))
    return xs, np.einsum("tnd,td->tn", xs, ws), ws
