"""Chapter "Big steps, little steps: objectives with several scales" (book/memory/multiscale.md).

Gradient descent, Nesterov's accelerated method, the Chebyshev iteration, conjugate gradients
(quadratics only) and Big-Step-Little-Step (Kelner et al. 2022) are run to a relative distance
``tol`` on three multiscale objectives whose condition number kappa = L_1 / mu_m goes from 1e1
to 1e6: quadratics with two and with three well-conditioned eigenvalue clusters, and a sum of
two logistic regressions at different scales on orthogonal subspaces (non-quadratic). The
chapter compares how the gradient evaluations to ``tol`` grow with kappa, and the floats each
method's state holds.

Every problem is drawn ``instances`` times (seeds ``seed``, ``seed + 1``, ...): the growth
exponents the claims check are statistics over these instances with their uncertainty
(:func:`memopt.claims.mean_with_error`), since a count to a tolerance depends on the random
basis and x*, and CG's count on ill-conditioned quadratics even on the rounding of the machine
(:meth:`Result.cg_rounding_spread` measures by how much).

A last part runs least squares on a *sample stream* whose covariance has two eigenvalue
clusters (:class:`~memopt.problems.multiscale.ClusteredRegressionStream`): streaming BSLS
(mini-batch gradients, :class:`~memopt.optim.streaming_multiscale.StreamingBSLS`), accelerated
SGD (:class:`~memopt.optim.streaming_multiscale.StreamingASGD`), Kaczmarz and SGD, counting the
samples each needs to ``stream_accuracy`` as kappa grows (:meth:`Result.stream_counts`).

The growth exponents, the theory curves and the memory figures are computed here, so the
notebook only narrates, plots and states the claims.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from memopt import claims, plotting
from memopt.fitting import power_law_exponent
from memopt.optim.first_order import (
    Convergence,
    big_step_little_step,
    bsls_schedule,
    chebyshev_iteration,
    conjugate_gradients,
    nesterov_accelerated,
    nesterov_distance_steps,
    plain_gradient_descent,
)
from memopt.optim.stream_runs import StreamRun, run_methods
from memopt.optim.streaming import Kaczmarz, StreamingSGD
from memopt.optim.streaming_multiscale import (
    StreamingASGD,
    StreamingBSLS,
    asgd_steps,
    gaussian_asgd_constants,
)
from memopt.optim.streaming_theory import kaczmarz_direction_moments
from memopt.problems.multiscale import (
    ClusteredQuadratic,
    ClusteredRegressionStream,
    clustered_quadratic,
    logistic_pieces,
)

NAME = "multiscale"
DESCRIPTION = "GD, Nesterov, Chebyshev, CG and Big-Step-Little-Step on objectives with several scales"

#: The methods, in the order of the figures.
METHODS = {
    "GD": plain_gradient_descent,
    "Nesterov": nesterov_accelerated,
    "Chebyshev": chebyshev_iteration,
    "CG": conjugate_gradients,
    "BSLS": big_step_little_step,
}
COLOURS = {"GD": "C7", "Nesterov": "C0", "Chebyshev": "C2", "CG": "C3", "BSLS": "C1"}
#: The problems: name -> (family, number of scales).
PROBLEMS = {"2 clusters": ("quadratic", 2), "3 clusters": ("quadratic", 3), "logistic pieces": ("logistic", 2)}


@dataclass(frozen=True)
class Config:
    """Everything that determines the chapter's runs."""

    #: Condition numbers kappa = L_1 / mu_m, two a decade from 1e1 to 1e6.
    kappas: tuple[float, ...] = tuple(float(10 ** (k / 2)) for k in range(2, 13))
    #: Gradient descent needs about kappa ln(1/tol) evaluations: it runs up to this kappa only.
    gd_max_kappa: float = 1e4
    #: Stop when ||x - x*|| <= tol ||x0 - x*||; every run starts at x0 = 0.
    tol: float = 1e-6
    #: Dimensions of each cluster (quadratics) or piece (logistic): d = scales * cluster_dim.
    cluster_dim: int = 20
    #: L_i / mu_i of each eigenvalue cluster.
    cluster_condition: float = 2.0
    piece_samples: int = 200
    piece_mu: float = 0.5
    #: The first instance's seed; instance i is drawn from seed + i.
    seed: int = 0
    #: Independent instances of every problem (random basis and x*, or data and basis).
    instances: int = 5
    #: GD needs about kappa ln(1/tol) evaluations, the bulk of the chapter's time: it runs on
    #: the first ``gd_instances`` instances only.
    gd_instances: int = 3
    #: Last-bit perturbations of each quadratic instance at the largest kappa, to measure how
    #: much CG's count depends on rounding (:meth:`Result.cg_rounding_spread`).
    rounding_perturbations: int = 20
    max_evaluations: int = 2_000_000
    #: The kappa of the convergence curves and of the big-step/little-step picture.
    curves_kappa: float = 1e4
    #: BSLS's count is compared with the product its schedule predicts where the scales are
    #: separated: every mu_i / L_{i+1} at least this factor (:meth:`Result.separated_kappas`).
    separation: float = 10.0
    # -- least squares on a sample stream (two clusters of stream_cluster_dim eigenvalues) -----
    stream_kappas: tuple[float, ...] = (1e1, 1e2, 1e3, 1e4)
    stream_cluster_dim: int = 4
    #: Independent trials (hidden x and samples) at every kappa; the covariance's basis is
    #: drawn from ``seed``.
    stream_trials: int = 8
    #: Samples until ||x_hat - x|| <= stream_accuracy (||x|| = 1, x_hat starts at 0).
    stream_accuracy: float = 1e-3
    #: Streaming BSLS averages stream_batch_factor * (d + 2) sample gradients a step: twice
    #: the (d + 2) / 1.5 a step needs to contract in expectation (see the chapter).
    stream_batch_factor: float = 2.0
    stream_max_samples: int = 2_000_000

    def __post_init__(self):
        kappas = np.asarray(self.kappas, dtype=float)
        if kappas.size < 3 or np.any(np.diff(kappas) <= 0):
            raise ValueError(f"kappas must be at least 3 increasing values, got {self.kappas}")
        if kappas[0] < self.cluster_condition**3:
            raise ValueError(
                f"the smallest kappa must be >= cluster_condition^3 = {self.cluster_condition**3:g} "
                "so that three clusters do not overlap"
            )
        if not 0 < self.tol < 1:
            raise ValueError(f"tol must lie in (0, 1), got {self.tol}")
        if self.curves_kappa not in self.kappas:
            raise ValueError(f"curves_kappa = {self.curves_kappa:g} must be one of kappas")
        if np.sum(kappas <= self.gd_max_kappa) < 3:
            raise ValueError("gradient descent needs at least 3 kappas <= gd_max_kappa for its fit")
        if min(self.cluster_dim, self.piece_samples, self.max_evaluations) < 1 or self.piece_mu <= 0:
            raise ValueError("cluster_dim, piece_samples, max_evaluations and piece_mu must be > 0")
        if not 2 <= self.gd_instances <= self.instances:
            raise ValueError(f"need 2 <= gd_instances <= instances for a mean and its error, got "
                             f"gd_instances={self.gd_instances}, instances={self.instances}")
        if self.rounding_perturbations < 0:
            raise ValueError("rounding_perturbations must be >= 0")
        if not self.separation >= 1:
            raise ValueError(f"separation must be >= 1, got {self.separation}")
        stream_kappas = np.asarray(self.stream_kappas, dtype=float)
        if stream_kappas.size < 2 or np.any(np.diff(stream_kappas) <= 0) or stream_kappas[0] < self.cluster_condition**2:
            raise ValueError(f"stream_kappas must be at least 2 increasing values >= cluster_condition^2, "
                             f"got {self.stream_kappas}")
        if min(self.stream_cluster_dim, self.stream_max_samples) < 1 or self.stream_trials < 2:
            raise ValueError("stream_cluster_dim and stream_max_samples must be >= 1, stream_trials >= 2")
        if not 0 < self.stream_accuracy < 1 or not self.stream_batch_factor > 0:
            raise ValueError("stream_accuracy must lie in (0, 1) and stream_batch_factor be > 0")


SCALES = {"book": Config(),
          "paper": Config(gd_max_kappa=1e6, cluster_dim=100, max_evaluations=10**8,
                          instances=8, gd_instances=8, stream_kappas=(1e1, 1e2, 1e3, 1e4, 1e5),
                          stream_cluster_dim=10, stream_trials=16, stream_max_samples=10**8)}

#: The methods on the sample stream, in the order of the figure.
STREAM_METHODS = ("streaming BSLS", "ASGD", "Kaczmarz", "SGD")
STREAM_COLOURS = {"streaming BSLS": "C1", "ASGD": "C0", "Kaczmarz": "C3", "SGD": "C7"}


def make_stream(config: Config, kappa: float) -> ClusteredRegressionStream:
    """The two-cluster regression stream at ``kappa``: trials seeded seed, seed + 1, ..."""
    return ClusteredRegressionStream(kappa, 2, config.stream_cluster_dim, config.cluster_condition,
                                     seeds=range(config.seed, config.seed + config.stream_trials),
                                     basis_seed=config.seed)


def stream_batch(config: Config) -> int:
    """Samples per streaming-BSLS gradient: stream_batch_factor * (d + 2), rounded up."""
    return math.ceil(config.stream_batch_factor * (2 * config.stream_cluster_dim + 2))


def stream_methods(config: Config, stream: ClusteredRegressionStream) -> dict:
    """The methods of :data:`STREAM_METHODS`, set up with the stream's known constants: the
    scales for BSLS; mu, R^2 and kappa-tilde (:func:`gaussian_asgd_constants`) for ASGD; SGD
    with the step 1/R^2."""
    d, trials = stream.dimension, stream.trials
    mu, r_squared, kappa_tilde = gaussian_asgd_constants(stream.eigenvalues)
    return {
        "streaming BSLS": StreamingBSLS(d, stream.scales, stream_batch(config), trials),
        "ASGD": StreamingASGD(d, mu, r_squared, kappa_tilde, trials),
        "Kaczmarz": Kaczmarz(d, trials),
        "SGD": StreamingSGD(d, 1 / r_squared, trials),
    }


def exact_bsls_evaluations(config: Config, stream: ClusteredRegressionStream) -> np.ndarray:
    """Deterministic BSLS (exact gradients Sigma (y - x)) on the stream's quadratic, one run per
    trial's hidden x: its gradient evaluations to stream_accuracy."""
    counts = []
    for target in stream.targets:
        quadratic = ClusteredQuadratic(stream.eigenvalues, stream.basis, target, stream.scales, stream.blocks)
        run_ = big_step_little_step(quadratic, np.zeros(stream.dimension), tol=config.stream_accuracy,
                                    max_evaluations=config.max_evaluations)
        counts.append(run_.evaluations_to_tol if run_.reached else np.nan)
    return np.array(counts, dtype=float)


def predicted_stream_samples(method: str, config: Config, stream: ClusteredRegressionStream) -> float:
    """The samples to ``stream_accuracy`` that each method's theory gives (eps = accuracy,
    ||x0 - x|| = 1):

    * streaming BSLS: batch x the deterministic schedule's count (:func:`predicted_evaluations`),
      if every mini-batch step contracts as the exact one does (the reconstruction's premise);
    * ASGD: Jain et al.'s contraction 1 - 1/(9 sqrt(kappa kappa_tilde)) per sample, to divide
      a squared distance by 1/eps^2 (:func:`asgd_steps`);
    * Kaczmarz: E||e'||^2 <= (1 - p_min) ||e||^2 with p_min the smallest eigenvalue of
      E[a a^T / ||a||^2] (:func:`~memopt.optim.streaming_theory.kaczmarz_direction_moments`),
      about lambda_min / tr Sigma;
    * SGD with step 1/R^2: E||e'||^2 <= (1 - mu / R^2) ||e||^2.
    """
    eps2 = config.stream_accuracy**2
    mu, r_squared, kappa_tilde = gaussian_asgd_constants(stream.eigenvalues)
    if method == "streaming BSLS":
        return stream_batch(config) * predicted_evaluations("BSLS", stream.scales, config.stream_accuracy)
    if method == "ASGD":
        return asgd_steps(mu, r_squared, kappa_tilde, 1 / eps2)
    if method == "Kaczmarz":
        p_min = float(kaczmarz_direction_moments(stream.eigenvalues).min())
        return math.log(eps2) / math.log1p(-p_min)
    if method == "SGD":
        return math.log(eps2) / math.log1p(-mu / r_squared)
    raise KeyError(f"unknown stream method {method!r}; known: {', '.join(STREAM_METHODS)}")


def make_problem(config: Config, name: str, kappa: float, instance: int = 0):
    """The objective ``name`` (a key of :data:`PROBLEMS`) at condition number ``kappa``, drawn
    from seed ``config.seed + instance``."""
    family, scales = PROBLEMS[name]
    seed = config.seed + instance
    if family == "quadratic":
        return clustered_quadratic(kappa, scales, config.cluster_dim, config.cluster_condition, seed=seed)
    return logistic_pieces(kappa, scales, config.cluster_dim, samples=config.piece_samples,
                           mu=config.piece_mu, seed=seed)


def runs_method(config: Config, problem_name: str, method: str, kappa: float, instance: int = 0) -> bool:
    """CG and the Chebyshev iteration are methods for quadratics (on the logistic pieces the
    Chebyshev iteration with the global (L, mu) stalls on some instances); GD runs only up to
    ``gd_max_kappa`` and on the first ``gd_instances`` instances."""
    if method in ("CG", "Chebyshev"):
        return PROBLEMS[problem_name][0] == "quadratic"
    if method == "GD":
        return kappa <= config.gd_max_kappa and instance < config.gd_instances
    return True


def perturbed_quadratic(problem: ClusteredQuadratic, rng: np.random.Generator) -> ClusteredQuadratic:
    """The same quadratic with its basis and x* multiplied element by element by 1 +- 2^-52
    (random signs from ``rng``): what ``MEMOPT_PERTURB=ulp`` does, with a fresh draw each call."""
    size = float(np.finfo(np.float64).eps)  # 2^-52, the size of memopt.perturb's perturbation

    def last_bit(array):
        return array * (1.0 + (rng.integers(0, 2, size=array.shape) * 2.0 - 1.0) * size)
    return ClusteredQuadratic(problem.eigenvalues, last_bit(problem.basis), last_bit(problem.minimizer),
                              problem.scales, problem.blocks)



def predicted_evaluations(method: str, scales, tol: float) -> int:
    """The evaluations to ||x - x*|| <= tol ||x0 - x*|| that theory guarantees (the dashed
    curves) for the scales (L_i, mu_i) of a problem, kappa = L_1 / mu_m:

    * GD, h = 1/L: ||x_k - x*||^2 <= ((kappa-1)/(kappa+1))^k ||x_0 - x*||^2 (Nesterov 2004, thm 2.1.15);
    * Nesterov: :func:`~memopt.optim.first_order.nesterov_distance_steps`;
    * Chebyshev: the smallest k with T_k((kappa+1)/(kappa-1)) >= 1/tol (exact worst case);
    * CG: ||e_k||_A <= 2 rho^k ||e_0||_A, rho = (sqrt kappa - 1)/(sqrt kappa + 1), hence
      ||e_k|| <= 2 sqrt(kappa) rho^k ||e_0||, plus the evaluation of grad f(x_0);
    * BSLS: the schedule's count with the outermost level's big steps set by Nesterov's theorem
      at its own scale: what the schedule expects, not a proven bound.
    """
    kappa = max(top for top, _ in scales) / min(bottom for _, bottom in scales)
    if method == "GD":
        return math.ceil(2 * math.log(1 / tol) / math.log((kappa + 1) / (kappa - 1)))
    if method == "Nesterov":
        return nesterov_distance_steps(kappa, 1 / tol)
    if method == "Chebyshev":
        return math.ceil(math.acosh(1 / tol) / math.acosh((kappa + 1) / (kappa - 1)))
    if method == "CG":
        rho = (math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1)
        return 1 + math.ceil(math.log(2 * math.sqrt(kappa) / tol) / -math.log(rho))
    if method == "BSLS":
        schedule = bsls_schedule(scales)
        top, bottom = schedule.scales[-1]
        return schedule.evaluations_at(nesterov_distance_steps(top / bottom, 1 / tol))
    raise KeyError(f"unknown method {method!r}; known: {', '.join(METHODS)}")


class _QueryRecorder:
    """A problem whose gradient also records the error of the queried point on each scale's
    subspace (for the big-step/little-step picture)."""

    def __init__(self, problem):
        self.problem = problem
        self.block_errors: list[list[float]] = []

    def __getattr__(self, name):
        return getattr(self.problem, name)

    def gradient(self, x):
        error = np.asarray(x) - self.problem.minimizer
        self.block_errors.append([float(np.linalg.norm(u.T @ error)) for u in self.problem.blocks])
        return self.problem.gradient(x)


@dataclass
class Result:
    config: Config
    #: (problem, method, kappa, instance) -> the run.
    runs: dict[tuple[str, str, float, int], Convergence] = field(default_factory=dict)
    dimensions: dict[str, int] = field(default_factory=dict)
    #: (problem, kappa, instance) -> the scales (L_i, mu_i).
    scales: dict[tuple[str, float, int], tuple] = field(default_factory=dict)
    #: BSLS on the two-cluster quadratic at curves_kappa (first instance): the error of each
    #: queried point on each scale's subspace, shape (evaluations, 2), and the step size after
    #: each evaluation.
    query_errors: np.ndarray | None = None
    query_steps: np.ndarray | None = None
    #: quadratic -> CG's count at the largest kappa, shape (instances, 1 + perturbations): the
    #: instance as drawn, then with its inputs perturbed in the last bit.
    cg_perturbed: dict[str, np.ndarray] = field(default_factory=dict)
    #: (stream method, kappa) -> its run on the two-cluster regression stream.
    stream_runs: dict[tuple[str, float], StreamRun] = field(default_factory=dict)
    #: kappa -> predicted samples of each stream method (:func:`predicted_stream_samples`).
    stream_predictions: dict[float, dict[str, float]] = field(default_factory=dict)
    stream_dimension: int = 0
    #: kappa -> deterministic BSLS's gradient evaluations to stream_accuracy on the stream's
    #: quadratic (Hessian Sigma, x* = each trial's hidden x), shape (trials,).
    stream_exact_evaluations: dict[float, np.ndarray] = field(default_factory=dict)

    def instances(self, problem: str, method: str) -> list[int]:
        """The instances on which ``method`` ran (at any kappa)."""
        return sorted({i for (p, m, _, i) in self.runs if p == problem and m == method})

    def kappas(self, problem: str, method: str, instance: int = 0) -> np.ndarray:
        return np.array([k for k in self.config.kappas if (problem, method, k, instance) in self.runs])

    def counts(self, problem: str, method: str, instance: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(kappa, evaluations to tol) over the runs of this method on this instance that
        reached tol."""
        pairs = [(k, self.runs[problem, method, k, instance].evaluations_to_tol)
                 for k in self.kappas(problem, method, instance)]
        pairs = [(k, n) for k, n in pairs if n is not None]
        return np.array([k for k, _ in pairs]), np.array([n for _, n in pairs])

    def counts_at(self, problem: str, method: str, kappa: float) -> np.ndarray:
        """The evaluations to tol at ``kappa``, one per instance the method ran on."""
        return np.array([self.runs[problem, method, kappa, i].evaluations_to_tol
                         for i in self.instances(problem, method)])

    def median_counts(self, problem: str, method: str) -> tuple[np.ndarray, np.ndarray]:
        """(kappa, median over instances of the evaluations to tol)."""
        kappas = self.kappas(problem, method)
        return kappas, np.array([np.median(self.counts_at(problem, method, k)) for k in kappas])

    def all_reached(self) -> bool:
        return all(run.reached for run in self.runs.values())

    def exponent(self, problem: str, method: str, instance: int = 0, min_kappa: float = 0.0) -> float:
        """The fitted growth exponent of the evaluations to tol in kappa (kappa >= min_kappa) on
        one instance."""
        kappas, counts = self.counts(problem, method, instance)
        keep = kappas >= min_kappa
        return power_law_exponent(kappas[keep], counts[keep])

    def exponents(self, problem: str, method: str, min_kappa: float = 0.0) -> np.ndarray:
        """The growth exponent on every instance the method ran on."""
        return np.array([self.exponent(problem, method, i, min_kappa)
                         for i in self.instances(problem, method)])

    def exponent_estimate(self, problem: str, method: str, min_kappa: float = 0.0) -> claims.Estimate:
        """The growth exponent: mean over the instances, +- 2 standard errors."""
        return claims.mean_with_error(self.exponents(problem, method, min_kappa), what="instances")

    def exponent_gap_estimate(self, problem: str, slower: str = "Nesterov",
                              faster: str = "BSLS") -> claims.Estimate:
        """Exponent of ``slower`` minus exponent of ``faster``, paired by instance: mean +- 2
        standard errors (positive: ``faster``'s count grows more slowly)."""
        shared = [i for i in self.instances(problem, slower) if i in self.instances(problem, faster)]
        gaps = [self.exponent(problem, slower, i) - self.exponent(problem, faster, i) for i in shared]
        return claims.mean_with_error(gaps, what="instances")

    def floats_per_dimension(self, problem: str, method: str) -> np.ndarray:
        """Peak floats held by the method's state / d, one value per (kappa, instance) run."""
        return np.array([run.state_floats / self.dimensions[problem]
                         for (p, m, _, _), run in self.runs.items() if p == problem and m == method])

    def bsls_floats_per_scale(self, problem: str) -> np.ndarray:
        """BSLS's peak floats / (d m), one value per run: O(d m) means bounded."""
        return self.floats_per_dimension(problem, "BSLS") / PROBLEMS[problem][1]

    def bsls_peak_floats_per_scale(self) -> float:
        """The largest BSLS peak floats / (d m) over every problem, kappa and instance."""
        return float(max(self.bsls_floats_per_scale(name).max() for name in PROBLEMS))

    def predicted(self, problem: str, method: str, instance: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(kappa, the evaluations theory predicts) at the kappas this method ran."""
        kappas = self.kappas(problem, method, instance)
        scales = [self.scales[problem, k, instance] for k in kappas]
        return kappas, np.array([predicted_evaluations(method, s, self.config.tol) for s in scales])

    def predicted_exponent(self, problem: str, method: str, instance: int = 0) -> float:
        """The growth exponent of the predicted counts (:meth:`predicted`)."""
        return power_law_exponent(*self.predicted(problem, method, instance))

    def mean_predicted_exponent(self, problem: str, method: str) -> float:
        """:meth:`predicted_exponent` averaged over the instances (they differ only where the
        scales depend on the data: the logistic pieces)."""
        return float(np.mean([self.predicted_exponent(problem, method, i)
                              for i in self.instances(problem, method)]))

    # -- BSLS's count against the product its schedule predicts -----------------------------------
    def separation_at(self, problem: str, kappa: float, instance: int = 0) -> float:
        """min_i mu_i / L_{i+1}: how far apart the closest two adjacent scales are."""
        scales = self.scales[problem, kappa, instance]
        return min(bottom / next_top for (_, bottom), (next_top, _) in zip(scales[:-1], scales[1:]))

    def separated_kappas(self, problem: str, instance: int = 0) -> np.ndarray:
        """The kappas at which every adjacent pair of scales is at least ``config.separation``
        apart: where the schedule's little steps repair one scale without moving the next."""
        return np.array([k for k in self.kappas(problem, "BSLS", instance)
                         if self.separation_at(problem, k, instance) >= self.config.separation])

    def little_steps(self, problem: str, kappa: float, instance: int = 0) -> tuple[int, ...]:
        """The schedule's T_i (:func:`~memopt.optim.first_order.default_little_steps`)."""
        return bsls_schedule(self.scales[problem, kappa, instance]).little_steps

    def predicted_outer_steps(self, problem: str, kappa: float, instance: int = 0) -> int:
        """N*: the big steps Nesterov's theorem gives the outermost level at its own condition
        number kappa_m, as if the little steps repaired every blow-up (independent of kappa
        when kappa_m is)."""
        top, bottom = self.scales[problem, kappa, instance][-1]
        return nesterov_distance_steps(top / bottom, 1 / self.config.tol)

    def schedule_product(self, problem: str, kappa: float, instance: int = 0) -> int:
        """prod_{i<m} (T_i + 1): the evaluations of one call of the inner levels plus the big
        step's own gradient, for the schedule's little steps T_i."""
        return math.prod(t + 1 for t in bsls_schedule(self.scales[problem, kappa, instance]).little_steps)

    def product_exponent(self, problem: str, instance: int = 0) -> float:
        """The slope of ln(BSLS's count) against ln(the count its schedule predicts,
        :func:`predicted_evaluations`) over :meth:`separated_kappas` on one instance: 1 when the
        count grows as the predicted product of the inner levels' little steps. NaN when fewer
        than two kappas are separated."""
        kappas = self.separated_kappas(problem, instance)
        if kappas.size < 2:
            return float("nan")
        counts = [self.runs[problem, "BSLS", k, instance].evaluations_to_tol for k in kappas]
        predicted = [predicted_evaluations("BSLS", self.scales[problem, k, instance], self.config.tol)
                     for k in kappas]
        return power_law_exponent(predicted, counts)

    def product_exponents(self, problem: str) -> np.ndarray:
        return np.array([self.product_exponent(problem, i) for i in self.instances(problem, "BSLS")])

    def product_exponent_estimate(self, problem: str) -> claims.Estimate:
        """:meth:`product_exponent`: mean over the instances +- 2 standard errors."""
        return claims.mean_with_error(self.product_exponents(problem), what="instances")

    def product_ratios(self, problem: str, instance: int = 0) -> np.ndarray:
        """BSLS's count over the count its schedule predicts (:func:`predicted_evaluations`, with
        the N* big steps of Nesterov's theorem at the outer scale), at each of
        :meth:`separated_kappas`: about (N + 1) / (N* + 1), at most 1 while the outer level needs
        no more big steps than the theorem gives it."""
        return np.array([self.runs[problem, "BSLS", k, instance].evaluations_to_tol
                         / predicted_evaluations("BSLS", self.scales[problem, k, instance], self.config.tol)
                         for k in self.separated_kappas(problem, instance)])

    def product_ratio_estimate(self, problem: str) -> claims.Estimate:
        """The largest :meth:`product_ratios` of each instance: median and range over the
        instances (every separated kappa of every instance lies at or below the upper end)."""
        return claims.median_with_range([self.product_ratios(problem, i).max()
                                         for i in self.instances(problem, "BSLS")], what="instances")

    def outer_steps(self, problem: str, kappa: float, instance: int = 0) -> int:
        """The big steps BSLS took: its count is (outer + 1) * prod (T_i + 1) - 1 exactly."""
        count = self.runs[problem, "BSLS", kappa, instance].evaluations_to_tol
        return (count + 1) // self.schedule_product(problem, kappa, instance) - 1

    # -- the sample stream ---------------------------------------------------------------------
    def stream_counts(self, method: str) -> np.ndarray:
        """Samples to stream_accuracy, shape (trials, kappas); NaN where a trial did not
        reach it within stream_max_samples."""
        return np.stack([self.stream_runs[method, k].samples_to_accuracy
                         for k in self.config.stream_kappas], axis=1)

    def stream_all_reached(self) -> bool:
        return all(bool(np.all(np.isfinite(self.stream_counts(m)))) for m in STREAM_METHODS)

    def stream_exponents(self, method: str) -> np.ndarray:
        """The growth exponent in kappa of the samples to accuracy, one per trial."""
        kappas = np.asarray(self.config.stream_kappas)
        return np.array([power_law_exponent(kappas, counts) for counts in self.stream_counts(method)])

    def stream_exponent_estimate(self, method: str) -> claims.Estimate:
        return claims.mean_with_error(self.stream_exponents(method), what="trials")

    def stream_exponent_gap_estimate(self, slower: str, faster: str) -> claims.Estimate:
        """Exponent of ``slower`` minus that of ``faster``, paired by trial (same samples)."""
        return claims.mean_with_error(self.stream_exponents(slower) - self.stream_exponents(faster),
                                      what="trials")

    def stream_predicted(self, method: str) -> np.ndarray:
        return np.array([self.stream_predictions[k][method] for k in self.config.stream_kappas])

    def stream_predicted_exponent(self, method: str) -> float:
        return power_law_exponent(self.config.stream_kappas, self.stream_predicted(method))

    def stream_noise_cost(self) -> np.ndarray:
        """Streaming BSLS's samples over batch x the evaluations deterministic BSLS needs on the
        same quadratic, shape (trials, kappas): 1 when every mini-batch step does what the exact
        step does."""
        exact = np.stack([self.stream_exact_evaluations[k] for k in self.config.stream_kappas], axis=1)
        return self.stream_counts("streaming BSLS") / (stream_batch(self.config) * exact)

    def stream_exact_exponent_estimate(self) -> claims.Estimate:
        """The growth exponent in kappa of deterministic BSLS's evaluations on the stream's
        quadratic, one fit per trial: mean +- 2 standard errors."""
        exact = np.stack([self.stream_exact_evaluations[k] for k in self.config.stream_kappas], axis=1)
        return claims.mean_with_error([power_law_exponent(self.config.stream_kappas, row) for row in exact],
                                      what="trials")

    def stream_noise_cost_at_top(self) -> claims.Estimate:
        """:meth:`stream_noise_cost` at the largest kappa as a ratio of means over the trials."""
        top = self.config.stream_kappas[-1]
        return claims.ratio_of_means(self.stream_counts("streaming BSLS")[:, -1],
                                     stream_batch(self.config) * self.stream_exact_evaluations[top],
                                     what="trials")

    def stream_ratio_at_top(self, numerator: str, denominator: str) -> claims.Estimate:
        """Mean samples of ``numerator`` over those of ``denominator`` at the largest kappa."""
        return claims.ratio_of_means(self.stream_counts(numerator)[:, -1],
                                     self.stream_counts(denominator)[:, -1], what="trials")

    def cg_rounding_spread(self, problem: str) -> float:
        """The largest relative spread (max - min) / max of CG's count at the largest kappa
        over the last-bit perturbations of one instance, worst instance: how much of CG's count
        is decided by rounding."""
        counts = self.cg_perturbed[problem].astype(float)
        return float(((counts.max(axis=1) - counts.min(axis=1)) / counts.max(axis=1)).max())


def run(config: Config = Config(), progress: bool = False) -> Result:
    """All of the chapter's runs for ``config``."""
    result = Result(config)
    tasks = [(i, p, k) for i in range(config.instances) for p in PROBLEMS for k in config.kappas]
    for instance, name, kappa in tqdm(tasks, desc="multiscale runs", disable=not progress):
        problem = make_problem(config, name, kappa, instance)
        result.dimensions[name] = problem.dimension
        result.scales[name, kappa, instance] = problem.scales
        x0 = np.zeros(problem.dimension)
        for method, solve in METHODS.items():
            if runs_method(config, name, method, kappa, instance):
                result.runs[name, method, kappa, instance] = solve(
                    problem, x0, tol=config.tol, max_evaluations=config.max_evaluations)
    top = config.kappas[-1]
    for name, (family, _) in PROBLEMS.items():
        if family != "quadratic":
            continue
        counts = np.empty((config.instances, 1 + config.rounding_perturbations), dtype=np.int64)
        for instance in range(config.instances):
            problem = make_problem(config, name, top, instance)
            rng = np.random.default_rng([config.seed, instance])
            variants = [problem, *(perturbed_quadratic(problem, rng)
                                   for _ in range(config.rounding_perturbations))]
            for j, variant in enumerate(variants):
                run_ = conjugate_gradients(variant, np.zeros(problem.dimension), tol=config.tol,
                                           max_evaluations=config.max_evaluations)
                counts[instance, j] = run_.evaluations_to_tol if run_.reached else -1
        result.cg_perturbed[name] = counts
    for kappa in tqdm(config.stream_kappas, desc="multiscale stream", disable=not progress):
        stream = make_stream(config, kappa)
        result.stream_dimension = stream.dimension
        result.stream_predictions[kappa] = {m: predicted_stream_samples(m, config, stream)
                                            for m in STREAM_METHODS}
        runs = run_methods(stream_methods(config, stream), stream, accuracy=config.stream_accuracy,
                           max_samples=config.stream_max_samples, chunk=4096)
        for method, run_ in runs.items():
            result.stream_runs[method, kappa] = run_
        result.stream_exact_evaluations[kappa] = exact_bsls_evaluations(config, stream)
    recorder = _QueryRecorder(make_problem(config, "2 clusters", config.curves_kappa))
    run_ = big_step_little_step(recorder, np.zeros(recorder.dimension), tol=config.tol,
                                max_evaluations=config.max_evaluations, record_steps=True)
    result.query_errors = np.array(recorder.block_errors)
    result.query_steps = run_.step_sizes
    return result


# -- figures -----------------------------------------------------------------------------------
DISTANCE_LABEL = "‖x − x*‖ / ‖x₀ − x*‖"


def plot_mechanism(result: Result, outer_steps: int = 3):
    """BSLS's first big steps on the two-cluster quadratic: the error of each queried point on
    the large-scale and on the small-scale subspace, with the big steps marked."""
    fig, (ax,) = plotting.figure(panel=(7.5, 4.2))
    errors, steps = result.query_errors, result.query_steps
    big = np.flatnonzero(steps > steps.min() * (1 + 1e-9))  # evaluations followed by a big step
    end = big[outer_steps - 1] + 2 + int(np.diff(big[:2])[0]) if big.size > outer_steps else errors.shape[0]
    index = np.arange(1, end + 1)
    ax.plot(index, errors[:end, 0], "o-", ms=3, color="C0", label="error on the large scale (L₁ = 1)")
    ax.plot(index, errors[:end, 1], "s-", ms=3, color="C1",
            label=f"error on the small scale (μ₂ = 1/{result.config.curves_kappa:g})")
    for i, k in enumerate(big[big < end - 1]):
        ax.axvline(k + 1.5, color="gray", ls=":", lw=1, label="big step 1/L₂" if i == 0 else None)
    ax.legend(loc="lower left")
    return plotting.axes_labels(
        ax, xlabel="gradient evaluation (count)", ylabel="‖error on the subspace‖ at the queried point",
        title="Each big step shrinks the small scale's error and blows up the large one's",
        logy=True,
    ).figure


def plot_convergence(result: Result):
    """Relative distance against gradient evaluations at kappa = curves_kappa, one panel per
    problem (first instance)."""
    fig, axes = plotting.figure(ncols=len(PROBLEMS))
    kappa = result.config.curves_kappa
    for ax, name in zip(axes, PROBLEMS):
        for method in METHODS:
            if (name, method, kappa, 0) in result.runs:
                run_ = result.runs[name, method, kappa, 0]
                keep = run_.evaluations >= 1
                ax.plot(run_.evaluations[keep], run_.distances[keep], color=COLOURS[method], lw=1.5,
                        label=method)
        ax.axhline(result.config.tol, color="black", ls=":", lw=1, label="tolerance")
        ax.set_ylim(result.config.tol / 100, 10)
        ax.legend(loc="lower left", ncols=2)
        plotting.axes_labels(ax, xlabel="gradient evaluations (count)", ylabel=DISTANCE_LABEL,
                             title=f"{name}, κ = {kappa:g}", logx=True, logy=True)
    return fig


def plot_evaluations(result: Result):
    """Evaluations to tol against kappa, one panel per problem: every instance (dots), their
    median (line), and the theory of the first instance dashed."""
    fig, axes = plotting.figure(ncols=len(PROBLEMS))
    for ax, name in zip(axes, PROBLEMS):
        quadratic = PROBLEMS[name][0] == "quadratic"
        for method in METHODS:
            instances = result.instances(name, method)
            if not instances:
                continue
            for i in instances:
                ax.plot(*result.counts(name, method, i), ".", ms=3, alpha=0.5, color=COLOURS[method])
            slope = result.exponents(name, method).mean()
            ax.plot(*result.median_counts(name, method), "-", lw=1.5, color=COLOURS[method],
                    label=f"{method} (slope {slope:.2f})")
            if quadratic or method in ("GD", "Nesterov", "BSLS"):
                plotting.theory(ax, *result.predicted(name, method), label=None, color=COLOURS[method])
        ax.plot([], [], ls="--", color="gray", label="theory (see text)")
        ax.plot([], [], ".", color="gray", label="each instance; line: median")
        ax.legend(loc="upper left", fontsize=8)
        plotting.axes_labels(ax, xlabel="condition number κ = L₁/μₘ",
                             ylabel=f"gradient evaluations to {result.config.tol:g} (count)",
                             title=name, logx=True, logy=True)
    return fig


def plot_memory(result: Result):
    """Peak floats held by each method's state, in vectors of length d, at kappa =
    curves_kappa (first instance); BSLS beside 3m + 1 (three vectors per level and one
    gradient)."""
    fig, (ax,) = plotting.figure(panel=(7.5, 3.8))
    kappa = result.config.curves_kappa
    width = 0.8 / len(METHODS)
    for j, method in enumerate(METHODS):
        xs, heights = [], []
        for i, name in enumerate(PROBLEMS):
            if (name, method, kappa, 0) in result.runs:
                xs.append(i + (j - (len(METHODS) - 1) / 2) * width)
                heights.append(result.runs[name, method, kappa, 0].state_floats / result.dimensions[name])
        ax.bar(xs, heights, width=width, color=COLOURS[method], label=method)
    for i, name in enumerate(PROBLEMS):
        j = list(METHODS).index("BSLS")
        x = i + (j - (len(METHODS) - 1) / 2) * width
        ax.hlines(3 * PROBLEMS[name][1] + 1, x - width / 2, x + width / 2, colors="black", ls="--",
                  label="3m + 1" if i == 0 else None)
    ax.set_xticks(range(len(PROBLEMS)), [f"{n} (m = {PROBLEMS[n][1]})" for n in PROBLEMS])
    ax.legend(loc="upper left", ncols=3)
    return plotting.axes_labels(ax, xlabel="problem (m scales)",
                                ylabel="peak floats held / d (vectors)",
                                title=f"State of each method at κ = {kappa:g}").figure


def plot_stream(result: Result):
    """Samples to stream_accuracy against kappa on the two-cluster stream: every trial (dots),
    their median (line), and each method's theory (dashed)."""
    fig, (ax,) = plotting.figure(panel=(7.5, 4.5))
    kappas = np.asarray(result.config.stream_kappas)
    for method in STREAM_METHODS:
        counts, colour = result.stream_counts(method), STREAM_COLOURS[method]
        for trial in counts:
            ax.plot(kappas, trial, ".", ms=3, alpha=0.5, color=colour)
        slope = result.stream_exponents(method).mean()
        ax.plot(kappas, np.nanmedian(counts, axis=0), "-", lw=1.5, color=colour,
                label=f"{method} (slope {slope:.2f})")
        plotting.theory(ax, kappas, result.stream_predicted(method), label=None, color=colour)
    ax.plot([], [], ls="--", color="gray", label="theory (see text)")
    ax.legend(loc="upper left", fontsize=8)
    return plotting.axes_labels(
        ax, xlabel="condition number κ of the covariance",
        ylabel=f"samples to ‖x̂ − x‖ ≤ {result.config.stream_accuracy:g} (count)",
        title=f"Least squares on a two-cluster stream, d = {result.stream_dimension}", logx=True, logy=True,
    ).figure


def figures(result: Result) -> dict:
    return {
        "mechanism": plot_mechanism(result),
        "convergence": plot_convergence(result),
        "evaluations": plot_evaluations(result),
        "memory": plot_memory(result),
        "stream": plot_stream(result),
    }


def summary(result: Result) -> dict:
    """The chapter's figures as plain numbers (written by ``memopt run multiscale``)."""
    out = {"tol": result.config.tol, "all_reached": result.all_reached(), "problems": {}}
    for name in PROBLEMS:
        entry = {"dimension": result.dimensions[name], "scales": PROBLEMS[name][1], "methods": {}}
        for method in METHODS:
            instances = result.instances(name, method)
            if instances:
                estimate = result.exponent_estimate(name, method)
                entry["methods"][method] = {
                    "kappas": result.kappas(name, method).tolist(),
                    "evaluations": [result.counts(name, method, i)[1].tolist() for i in instances],
                    "exponents": result.exponents(name, method).tolist(),
                    "exponent_mean": estimate.value,
                    "exponent_interval": [estimate.low, estimate.high],
                    "peak_floats_per_dimension": float(result.floats_per_dimension(name, method).max()),
                }
        exponents = result.product_exponents(name)
        product = result.product_exponent_estimate(name) if np.all(np.isfinite(exponents)) else None
        entry["bsls_largest_ratio_to_predicted"] = [float(result.product_ratios(name, i).max())
                                                    for i in result.instances(name, "BSLS")
                                                    if result.separated_kappas(name, i).size]
        entry["bsls_product_exponent"] = {
            "per_instance": [float(e) if np.isfinite(e) else None for e in exponents],
            "interval": None if product is None else [product.low, product.high],
            "kappas": result.separated_kappas(name).tolist()}
        if name in result.cg_perturbed:
            entry["cg_counts_at_largest_kappa_perturbed"] = result.cg_perturbed[name].tolist()
        out["problems"][name] = entry
    out["stream"] = {
        "dimension": result.stream_dimension, "accuracy": result.config.stream_accuracy,
        "kappas": list(result.config.stream_kappas), "bsls_batch": stream_batch(result.config),
        "all_reached": result.stream_all_reached(), "methods": {},
    }
    for method in STREAM_METHODS:
        estimate = result.stream_exponent_estimate(method)
        out["stream"]["methods"][method] = {
            "samples": [[None if math.isnan(c) else int(c) for c in row] for row in result.stream_counts(method)],
            "exponent_mean": estimate.value, "exponent_interval": [estimate.low, estimate.high],
            "predicted_samples": result.stream_predicted(method).tolist(),
            "predicted_exponent": result.stream_predicted_exponent(method),
            "memory_floats": result.stream_runs[method, result.config.stream_kappas[-1]].memory_floats,
        }
    return out
