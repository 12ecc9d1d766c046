r"""A stream of linear-regression samples with tiny noise (Sharan, Sidford, Valiant, STOC 2019).

Each trial has a hidden unit vector :math:`x` (``||x|| = 1``, uniform on the sphere) and
receives samples one at a time,

.. math::

    a_i \sim \mathcal N(0, \Sigma), \qquad b_i = \langle a_i, x\rangle + \eta_i, \qquad
    \eta_i \sim \mathrm{Uniform}[-\beta, \beta],

with the paper's noise bound :math:`\beta = 2^{-d/5}` unless another is given. The paper takes
:math:`\Sigma = I_d`; here :math:`\Sigma` may also have condition number :math:`\kappa`, with one
of two spectra, in a random orthonormal basis (Haar distributed, from ``basis_seed``) or in the
coordinate basis:

* ``"two_clusters"`` (the default): half of the eigenvalues (the first ``ceil(d/2)``) equal 1
  and the other half :math:`1/\kappa`, the lecture's multiscale example;
* ``"log_uniform"``: the d eigenvalues spread geometrically over :math:`[1, \kappa]`
  (:func:`memopt.problems.icl.log_uniform_spectrum`), with no gap between scales: the regime
  of the lecture's conjecture on :math:`\kappa`-conditioned systems.

Randomness: trial ``r`` draws everything from ``numpy.random.SeedSequence(seeds[r])``, split into
independent generators for the hidden vector, the rows and the noise, so the stream a trial sees
does not depend on how many samples are drawn at a time, nor on which other trials run beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Sequence

import numpy as np

from memopt._checks import integer
from memopt.backend import asarray, resolve_device
from memopt.perturb import inputs as perturbed
from memopt.problems.icl import log_uniform_spectrum

#: The covariance spectra a :class:`GaussianRegression` can have (module docstring).
SPECTRA = ("two_clusters", "log_uniform")


def paper_noise_bound(dimension: int) -> float:
    """2^(-d/5): the half-width of the uniform noise in Sharan, Sidford and Valiant (2019)."""
    return 2.0 ** (-dimension / 5)



@dataclass(frozen=True)
class GaussianRegression:
    """The distribution of the samples: dimension, covariance and noise (module docstring).

    Parameters
    ----------
    dimension : d >= 1.
    kappa : condition number of Sigma, >= 1 (1: the paper's isotropic Gaussian).
    noise_bound : half-width beta >= 0 of the uniform noise; None means 2^(-d/5).
    basis_seed : seed of the random orthonormal eigenbasis of Sigma.
    random_basis : False puts Sigma's eigenvectors on the coordinate axes.
    spectrum : "two_clusters" (1 and 1/kappa) or "log_uniform" (geometric over [1, kappa]).
    """

    dimension: int
    kappa: float = 1.0
    noise_bound: float | None = None
    basis_seed: int = 0
    random_basis: bool = True
    spectrum: str = "two_clusters"

    def __post_init__(self):
        integer("dimension", self.dimension)
        if self.spectrum not in SPECTRA:
            raise ValueError(f"spectrum must be one of {', '.join(SPECTRA)}, got {self.spectrum!r}")
        if isinstance(self.kappa, bool) or not isinstance(self.kappa, Real):
            raise TypeError(f"kappa must be a real number, got {type(self.kappa).__name__}")
        if not math.isfinite(self.kappa) or self.kappa < 1:
            raise ValueError(f"kappa (the condition number of Sigma) must be finite and >= 1, "
                             f"got {self.kappa}")
        if self.noise_bound is not None:
            if isinstance(self.noise_bound, bool) or not isinstance(self.noise_bound, Real):
                raise TypeError(f"noise_bound must be a real number or None, "
                                f"got {type(self.noise_bound).__name__}")
            if not math.isfinite(self.noise_bound) or self.noise_bound < 0:
                raise ValueError(f"noise_bound must be finite and >= 0, got {self.noise_bound}")
        seed = self.basis_seed
        if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
            raise ValueError(f"basis_seed must be an integer >= 0, got {self.basis_seed!r}")

    @property
    def noise(self) -> float:
        """The noise half-width beta actually used."""
        return paper_noise_bound(self.dimension) if self.noise_bound is None else float(self.noise_bound)

    @property
    def eigenvalues(self) -> np.ndarray:
        """Sigma's eigenvalues. Two clusters: ceil(d/2) ones, then floor(d/2) copies of 1/kappa;
        log-uniform: kappa^(j/(d-1)) for j = d-1, ..., 0 (from kappa down to 1)."""
        if self.spectrum == "log_uniform":
            return log_uniform_spectrum(self.dimension, self.kappa)
        values = np.ones(self.dimension)
        values[(self.dimension + 1) // 2:] = 1.0 / self.kappa
        return values

    @property
    def basis(self) -> np.ndarray:
        """Sigma's orthonormal eigenvectors as columns (Haar-random, or the identity)."""
        if not self.random_basis:
            return np.eye(self.dimension)
        gaussian = np.random.default_rng(self.basis_seed).standard_normal((self.dimension, self.dimension))
        q, r = np.linalg.qr(gaussian)
        # Fixing the signs of R's diagonal makes Q Haar distributed (Mezzadri 2007).
        return perturbed(q * np.where(np.diag(r) < 0, -1.0, 1.0))

    @property
    def covariance(self) -> np.ndarray:
        basis = self.basis
        return (basis * self.eigenvalues) @ basis.T

    def stream(self, seeds: Sequence[int], device: str = "cpu") -> RegressionStream:
        """A stream of samples for one trial per seed, delivered on ``device``."""
        return RegressionStream(self, seeds, device)


class RegressionStream:
    """Samples for ``len(seeds)`` independent trials, drawn chunk by chunk on the host.

    ``targets`` holds each trial's hidden x (shape ``(trials, d)``); :meth:`draw` returns the
    next ``count`` rows ``(trials, count, d)`` and labels ``(trials, count)``. Both are placed on
    ``device`` ("cpu", the default, "gpu" or "auto"); the draws are the same on every device.
    """

    def __init__(self, problem: GaussianRegression, seeds: Sequence[int], device: str = "cpu"):
        if not isinstance(problem, GaussianRegression):
            raise TypeError(f"problem must be a GaussianRegression, got {type(problem).__name__}")
        seeds = list(seeds)
        if not seeds:
            raise ValueError("seeds must name at least one trial")
        for seed in seeds:
            if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
                raise ValueError(f"seeds must be integers >= 0, got {seed!r}")
        self.problem = problem
        self.seeds = tuple(int(s) for s in seeds)
        d = problem.dimension
        generators = [np.random.SeedSequence(s).spawn(3) for s in self.seeds]
        self._row_rngs = [np.random.default_rng(g[1]) for g in generators]
        self._noise_rngs = [np.random.default_rng(g[2]) for g in generators]
        self.device = resolve_device(device)
        targets = np.stack([np.random.default_rng(g[0]).standard_normal(d) for g in generators])
        self._host_targets = perturbed(targets / np.linalg.norm(targets, axis=1, keepdims=True))
        self.targets = asarray(self._host_targets, self.device)
        # Rows are z @ factor.T with z standard normal: covariance factor factor.T = Sigma.
        if problem.kappa == 1:
            self._factor = None  # isotropic in every basis: skip the product
        else:
            self._factor = problem.basis * np.sqrt(problem.eigenvalues)
        self.samples_drawn = 0

    @property
    def trials(self) -> int:
        return len(self.seeds)

    @property
    def dimension(self) -> int:
        return self.problem.dimension

    def draw(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The next ``count`` samples of every trial: rows ``(trials, count, d)``, labels
        ``(trials, count)``."""
        count = integer("count", count)
        d, beta = self.dimension, self.problem.noise
        rows = np.empty((self.trials, count, d))
        for r, rng in enumerate(self._row_rngs):
            rng.standard_normal((count, d), out=rows[r])
        if self._factor is not None:
            rows = rows @ self._factor.T
        noise = np.stack([rng.uniform(-beta, beta, count) for rng in self._noise_rngs])
        labels = np.einsum("rcd,rd->rc", rows, self._host_targets) + noise
        self.samples_drawn += count
        return asarray(rows, self.device), asarray(labels, self.device)
