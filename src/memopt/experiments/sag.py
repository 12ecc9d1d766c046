"""Chapter "Variance reduction: SAG, SAGA and SVRG" (book/stochastic/sag.md).

Three logistic problems, each drawn by :func:`memopt.problems.planted_logistic`:

* ``lecture``: the lecture's 200 samples in 10 dimensions with mu = 1;
* ``large``: 10^4 samples in 100 dimensions, rows N(0, 0.09 I) and mu = 1e-3, so that
  kappa = L / mu is about 30 and L_max / mu about 3600;
* ``heterogeneous``: 1000 samples in 20 dimensions whose rows are rescaled by log-uniform
  factors in [0.03, 30], so the per-sample constants L_i spread over six decades.

and a fourth, ``convex``: the lecture's problem with mu = 0 (no regulariser; its data are not
separable, so a minimiser exists), for the convex case of Theorem 1, the O(1/k) bound on
f(x̄_k) - f* at the average x̄_k of the iterates, checked with both initialisations of the
table and beside gradient descent's L ||x0 - x*||^2 / (2k).

On the first two every method runs from x0 = 0 for the same budget of effective passes
(sample gradients evaluated / n); on the third, SAG with uniform and with Lipschitz sampling.
On all three, SAG with the paper's backtracking estimate of L (section 4.6) runs beside SAG at
1/L_max; on the lecture's problem, the runs also log (:func:`monitors`) ||grad f(x_k)|| and the
norm of SAG's own direction, the convergence monitor of the lecture.
Step sizes follow the papers: SAG 1/(16 L_max) (Theorem 1, generic table, centred
initialisation) and 1/L_max (the practical variant: GLM table, first-pass normalisation),
SAGA 1/(3 L_max), SVRG 1/(10 L_max) with snapshots every 2n steps, SGD 1, 0.1 and 0.01 over
L_max and the lecture's decreasing schedule capped at 1/L_max, GD 1/L. Besides, SGD with the
decreasing step alpha_k = alpha0 / (1 + k / k0), alpha0 and k0 tuned on a grid for the lowest
f - f* at the end of the same budget, on tuning runs whose seeds the compared runs do not use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from memopt import claims, plotting
from memopt.backend import to_numpy
from memopt.claims import relative_gap
from memopt.optim import SAG, SAGA, SVRG, DecreasingStep, Trace, gradient_descent, run_batched
from memopt.optim.schedules import InverseTimeStep
from memopt.optim.stochastic import SGD, state_bytes
from memopt.optim.trace import log_iterations
from memopt.problems import LogisticGLM, Optimum, planted_logistic, sklearn_optimum

NAME = "sag"
DESCRIPTION = "SAG, SAGA and SVRG against SGD and GD, their theorems and scikit-learn"


@dataclass(frozen=True)
class ProblemSpec:
    """How one logistic problem is drawn (see :func:`memopt.problems.planted_logistic`)."""

    n_samples: int
    n_features: int
    mu: float
    seed: int
    feature_scale: float = 1.0
    row_scale_range: tuple[float, float] = (1.0, 1.0)

    def build(self) -> LogisticGLM:
        return planted_logistic(self.n_samples, self.n_features, self.mu, seed=self.seed,
                                feature_scale=self.feature_scale, row_scale_range=self.row_scale_range)


@dataclass(frozen=True)
class Config:
    lecture: ProblemSpec = ProblemSpec(200, 10, 1.0, seed=0)
    large: ProblemSpec = ProblemSpec(10_000, 100, 1e-3, seed=1, feature_scale=0.3)
    heterogeneous: ProblemSpec = ProblemSpec(1000, 20, 1e-2, seed=2, feature_scale=20**-0.5,
                                             row_scale_range=(0.03, 30.0))
    runs: int = 16
    #: Runs on the large problem (its steps cost the same for 8 runs as for 1; its logs do not).
    large_runs: int = 8
    #: Runs of the generic-table SAG on the large problem (its table is n x p floats a run).
    theorem_runs_large: int = 4
    #: Budgets in effective passes over the data.
    lecture_passes: int = 100
    large_passes: int = 40
    heterogeneous_passes: int = 40
    #: Constant SGD steps, as multiples of 1 / L_max.
    sgd_steps: tuple[float, ...] = (1.0, 0.1, 0.01)
    #: A run stops once all its R trajectories are this close to f* (float64's floor).
    stop_gap: float = 1e-13
    logs_per_pass: int = 2
    #: The grid of the tuned decreasing step alpha_k = alpha0 / (1 + k / k0): alpha0 as
    #: multiples of 1 / L_max, k0 in passes (k0 = passes * n steps).
    #: alpha0 is at most 1 / L_max, the largest constant step too. (A first grid, alpha0 in
    #: {1, 0.3, 0.1} and k0 in {0.1, 1, 10} passes, and a second, with alpha0 = 0.03 and k0 in
    #: {0.03, 0.3, 3} added, each had its best point on its edge in k0; this one extends k0 down.)
    tuned_steps: tuple[float, ...] = (1.0, 0.3, 0.1, 0.03)
    tuned_k0_passes: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
    #: Runs that score each grid point, with seeds tuning_seed, tuning_seed + 1, ... (the
    #: compared runs use seeds 0, 1, ...).
    tuning_runs: int = 4
    tuning_seed: int = 1000
    #: The convex case (mu = 0) of Theorem 1: its problem, runs and budget in passes.
    convex: ProblemSpec = ProblemSpec(200, 10, 0.0, seed=0)
    convex_runs: int = 16
    convex_passes: int = 100
    #: The backtracking estimate of L starts here (the paper's "initial estimate"), far below
    #: every problem's L_max so that the estimate must climb to it.
    backtracking_init: float = 1e-3
    #: Runs with backtracking stop once every run is this close to f* (below the 1e-6 compared).
    backtracking_stop_gap: float = 1e-8

    def __post_init__(self):
        if min(self.runs, self.large_runs, self.theorem_runs_large) < 2:
            raise ValueError("need at least 2 runs per curve")
        if not self.tuned_steps or not self.tuned_k0_passes or min(self.tuned_steps + self.tuned_k0_passes) <= 0:
            raise ValueError("the tuning grid needs positive steps and k0")
        if self.tuning_runs < 1 or self.tuning_seed < max(self.runs, self.large_runs):
            raise ValueError("need at least 1 tuning run, with seeds apart from the compared runs'")
        if min(self.lecture_passes, self.large_passes, self.heterogeneous_passes) < 1:
            raise ValueError("pass budgets must be positive")
        if not self.sgd_steps or min(self.sgd_steps) <= 0:
            raise ValueError("sgd_steps must be positive multiples of 1 / L_max")
        if self.convex.mu != 0:
            raise ValueError(f"the convex case needs mu = 0, got mu = {self.convex.mu}")
        if self.convex_runs < 2 or self.convex_passes < 1:
            raise ValueError("the convex case needs at least 2 runs and 1 pass")
        if not (self.backtracking_init > 0 and self.backtracking_stop_gap > 0):
            raise ValueError("backtracking_init and backtracking_stop_gap must be > 0")


SCALES = {
    "book": Config(),
    "paper": Config(runs=64, large_runs=64, theorem_runs_large=16, large=ProblemSpec(100_000, 300, 1e-4, seed=1,
                                                                      feature_scale=0.2)),
}

SAG_THEORY, SAG_PRACTICAL = "SAG, α = 1/(16 L_max)", "SAG, α = 1/L_max"
SAGA_LABEL, SVRG_LABEL = "SAGA, α = 1/(3 L_max)", "SVRG, α = 1/(10 L_max)"
GD_LABEL, DECREASING_LABEL = "GD, α = 1/L_f", "SGD, α_k decreasing"
UNIFORM_LABEL, LIPSCHITZ_LABEL = "SAG, uniform, α = 1/L_max", "SAG, non-uniform, α = 1/(2L_max) + 1/(2L_mean)"
TUNED_LABEL = "SGD, α_k = α0/(1 + k/k0), tuned"
BACKTRACKING_LABEL = "SAG, α = 1/(L_k + μ), L_k by backtracking"
CENTRED_LABEL = "SAG, α = 1/(16L), centred start"
ZERO_LABEL = "SAG, α = 1/(16L), y_i = 0 start"


@dataclass(frozen=True)
class Tuning:
    """The tuned decreasing step of one problem: the score of every grid point and the best."""

    #: (alpha0 L_max, k0 in passes) -> mean f(x_K) - f* over the tuning runs at the budget K.
    scores: dict
    runs: int

    @property
    def best(self) -> tuple[float, float]:
        return min(self.scores, key=self.scores.get)

    @property
    def runner_up(self) -> tuple[float, float]:
        """The second-best grid point."""
        return sorted(self.scores, key=self.scores.get)[1]

    def on_edge(self, config: "Config") -> bool:
        """Whether the best grid point lies on an edge of the grid that could be pushed further:
        the smallest alpha0 or either end of k0 (alpha0 = 1 / L_max is the cap by design)."""
        a, k0 = self.best
        k0s = sorted(config.tuned_k0_passes)
        return a == min(config.tuned_steps) or k0 in (k0s[0], k0s[-1])


def sgd_label(multiple: float) -> str:
    return f"SGD, α = {multiple:g}/L_max"


@dataclass
class ProblemRuns:
    """Every method's trace on one problem, with the problem's constants."""

    name: str
    problem: LogisticGLM
    optimum: Optimum
    x0: np.ndarray
    budget: int
    traces: dict[str, Trace] = field(default_factory=dict)
    tuning: Tuning | None = None
    #: SAG with the backtracking estimate of L (logs L_k too); compared with SAG_PRACTICAL.
    backtracking: "Trace | None" = None
    #: The same, with the estimate started at the known max_i ||a_i||^2 / 4 instead of small.
    backtracking_from_max: "Trace | None" = None

    @property
    def f_star(self) -> float:
        return self.optimum.value

    def gap(self, label: str) -> np.ndarray:
        """E f(x_k) - f* (mean over runs) at the logged iterates of one method."""
        return self.traces[label].expected_suboptimality(self.f_star)

    def passes(self, label: str) -> np.ndarray:
        return self.traces[label].passes(self.problem.n_samples)

    def passes_to(self, label: str, gap: float) -> float:
        """Effective passes until E f(x_k) - f* <= gap at a logged iterate (inf if never)."""
        reached = np.flatnonzero(self.gap(label) <= gap)
        return float(self.passes(label)[reached[0]]) if reached.size else np.inf

    def run_passes_to(self, label: str, gap: float) -> np.ndarray:
        """Each run's effective passes until its own f(x_k) - f* <= gap at a logged iterate
        (inf for a run that never gets there); logged every half pass or finer."""
        return self._run_passes_to(self.traces[label], gap)

    def _run_passes_to(self, trace: Trace, gap: float) -> np.ndarray:
        gaps, passes = trace.suboptimality(self.f_star), trace.passes(self.problem.n_samples)
        reached = gaps <= gap
        first = np.argmax(reached, axis=1)
        return np.where(reached.any(axis=1), passes[first], np.inf).astype(float)

    @property
    def known_step_label(self) -> str:
        """The run at step 1/L_max the backtracking run is compared with (same seeds)."""
        return UNIFORM_LABEL if self.name == "heterogeneous" else SAG_PRACTICAL

    def backtracking_passes(self, gap: float) -> np.ndarray:
        """Each backtracking run's passes to ``gap`` (inf if never)."""
        return self._run_passes_to(self.backtracking, gap)

    def backtracking_gain(self, gap: float) -> claims.Estimate:
        """Mean over seeds of (passes to ``gap`` at 1/L_max) - (passes with backtracking),
        ± 2 s.e.: positive when the estimated L makes SAG faster."""
        known = self.run_passes_to(self.known_step_label, gap)
        return claims.mean_with_error(known - self.backtracking_passes(gap), what="pairs of runs")

    def passes_estimate(self, label: str, gap: float) -> claims.Estimate:
        """The runs' passes to ``gap``: their median and range, decided against a budget only
        when every run is on the same side of it."""
        return claims.median_with_range(self.run_passes_to(label, gap), what="runs")

    def passes_difference(self, slower: str, faster: str, gap: float) -> claims.Estimate:
        """The mean over seeds of (passes to ``gap`` of ``slower``) - (those of ``faster``),
        ± 2 s.e.: the runs are independent, so this is the difference of the two mean numbers of
        passes with its standard error (the pairing by seed only groups them)."""
        difference = self.run_passes_to(slower, gap) - self.run_passes_to(faster, gap)
        return claims.mean_with_error(difference, what="pairs of runs")

    def sgd_lowest(self, multiples) -> claims.Estimate:
        """Each seed's lowest f(x_k) - f* over the constant SGD steps and the logged k within the
        budget, as median and range over the seeds: no run goes below the lower end."""
        lowest = np.min([self.traces[sgd_label(m)].suboptimality(self.f_star).min(axis=1)
                         for m in multiples], axis=0)
        return claims.median_with_range(lowest, what="runs")

    def lowest_estimate(self, label: str) -> claims.Estimate:
        """Each run's lowest f(x_k) - f* over the logged k within the budget: median and range."""
        return claims.median_with_range(self.traces[label].suboptimality(self.f_star).min(axis=1), what="runs")

    def doubling_exponent(self, label: str) -> claims.Estimate:
        """The local exponent p of E f(x_k) - f* ~ k^-p over the last doubling of the budget,
        p = log2(E gap(K/2) / E gap(K)): 1 for an O(1/k) rate, unbounded for a linear rate.
        E is the mean over the runs; the interval is the ratio's (:func:`memopt.claims.ratio_of_means`,
        paired by run) carried through log2."""
        trace = self.traces[label]
        k = trace.iterations
        half, end = int(np.argmin(np.abs(k - k[-1] / 2))), len(k) - 1
        gaps = trace.suboptimality(self.f_star)
        ratio = claims.ratio_of_means(gaps[:, half], gaps[:, end], what="runs")

        def log2(x):
            return float(np.log2(x)) if x > 0 else -np.inf

        return claims.Estimate(log2(ratio.value), log2(ratio.low), log2(ratio.high),
                               f"log2 of a {ratio.method}")

    def decades_ratio(self, label: str, start: float = 1e-2, middle: float = 1e-6,
                      end: float = 1e-10) -> np.ndarray:
        """Each run's passes from ``middle`` to ``end`` over its passes from ``start`` to
        ``middle`` (four decades each at the defaults): about 1 for a linear rate (equal cost per
        decade), 10^4 for an O(1/k) rate, 100 for O(1/k^2); inf for a run that never reaches
        ``end``."""
        first, second, third = (self.run_passes_to(label, g) for g in (start, middle, end))
        return (third - second) / (second - first)

    def decades_estimate(self, label: str) -> claims.Estimate:
        """:meth:`decades_ratio` as median and range over the runs."""
        return claims.median_with_range(self.decades_ratio(label), what="runs")

    def best_sgd_gap(self, multiples) -> float:
        """The lowest E f(x_k) - f* any constant-step SGD run reached within the budget."""
        return float(min(self.gap(sgd_label(m)).min() for m in multiples))

    def sag_bound(self, trace: Trace) -> np.ndarray:
        """Theorem 1 of Schmidt, Le Roux, Bach (2017), strongly convex case, centred start:
        (1 - min(mu/(16L), 1/(8n)))^k (3/2 (f(x0) - f*) + 4L/n ||x0 - x*||^2), L = max_i L_i."""
        p, n = self.problem, self.problem.n_samples
        rate = 1 - min(p.mu / (16 * p.L_max), 1 / (8 * n))
        start = 1.5 * (float(p.value(self.x0)) - self.f_star)
        start += 4 * p.L_max / n * float(np.sum((self.x0 - self.optimum.x) ** 2))
        return rate ** trace.iterations.astype(float) * start

    def bound_ratio(self) -> float:
        """max over logged k of the measured E f(x_k) - f* over the SAG bound (<= 1 if it holds)."""
        trace = self.traces[SAG_THEORY]
        return float(np.max(trace.expected_suboptimality(self.f_star) / self.sag_bound(trace)))

    def bound_ratio_estimate(self) -> claims.Estimate:
        """:meth:`bound_ratio` with its interval over the runs (:func:`memopt.claims.max_of_means`):
        the theorem bounds the expectation, so the mean curve is checked, at every logged k."""
        trace = self.traces[SAG_THEORY]
        return claims.max_of_means(trace.suboptimality(self.f_star) / self.sag_bound(trace), what="runs")


# -- runs that log more than f: the averaged iterate, gradient norms, the estimate of L --------
def monitors(method, problem) -> dict:
    """What the chapter logs beside f(x_k) (:func:`memopt.optim.run_batched`'s ``monitors``):
    ``gradient_norms`` ||grad f(x_k)||; for SAG ``direction_norms``, the norm of its own step
    direction, free to compute (nan before any sample); for the backtracking SAG ``lipschitz``,
    each run's L_k."""
    logged = {"gradient_norms": lambda x: np.linalg.norm(problem.gradient(x), axis=1)}
    if isinstance(method, SAG):
        logged["direction_norms"] = lambda x: np.linalg.norm(method.direction(problem, x), axis=1)
        if method.backtracking:
            logged["lipschitz"] = lambda x: method.lipschitz.copy()
    return logged


# -- the convex case (mu = 0) ------------------------------------------------------------------
def unregularised_optimum(problem: LogisticGLM, tol: float = 1e-13, max_steps: int = 100) -> Optimum:
    """x* and f* of a logistic problem without regulariser by damped Newton's method in float64
    from x = 0 (:meth:`LogisticGLM.minimize` needs mu > 0). Raises when the data are linearly
    separable (then f has no minimiser: :func:`separable` tells which) or Newton stalls."""
    if separable(problem):
        raise ValueError("the data are linearly separable: f has no minimiser without a regulariser")
    problem = problem.on_host_float64()
    x = np.zeros(problem.n_features)
    g = problem.gradient(x)
    for step in range(max_steps):
        fx, norm = float(problem.value(x)), float(np.linalg.norm(g))
        if norm <= tol:
            return Optimum(x, fx, norm, step)
        direction = np.linalg.solve(problem.hessian(x), g)
        decrement = float(g @ direction)
        t = 1.0
        while float(problem.value(x - t * direction)) > fx - 1e-4 * t * decrement and t > 1e-10:
            t *= 0.5
        x = x - t * direction
        g = problem.gradient(x)
        if t * decrement / 2 <= 4 * np.finfo(float).eps * abs(fx):  # f at its float64 floor
            return Optimum(x, float(problem.value(x)), float(np.linalg.norm(g)), step + 1)
    raise RuntimeError(f"Newton's method did not converge in {max_steps} steps (||grad f|| = {np.linalg.norm(g):.1e})")


def separable(problem: LogisticGLM) -> bool:
    """Whether some w has y_i <a_i, w> >= 1 for every i (a linear program, SciPy's HiGHS)."""
    from scipy.optimize import linprog  # noqa: PLC0415 - used once per problem

    host = problem.on_host_float64()
    margins = host.labels[:, None] * host.features
    answer = linprog(np.zeros(host.n_features), A_ub=-margins, b_ub=-np.ones(host.n_samples),
                     bounds=[(None, None)] * host.n_features, method="highs")
    return answer.status == 0  # 0: a feasible w exists; 2: infeasible


def sklearn_unregularised(problem: LogisticGLM, tol: float = 1e-12) -> Optimum:
    """scikit-learn's ``LogisticRegression`` without penalty (C = inf, no intercept, L-BFGS), with its value
    from scikit-learn's own ``log_loss``: an independent reference for x* and f* at mu = 0."""
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415 - heavy, used rarely
    from sklearn.metrics import log_loss  # noqa: PLC0415

    host = problem.on_host_float64()
    # C = inf: no penalty (the spelling scikit-learn >= 1.8 asks for instead of penalty=None)
    model = LogisticRegression(C=np.inf, fit_intercept=False, solver="lbfgs", tol=tol, max_iter=100_000)
    model.fit(host.features, host.labels)
    w = model.coef_.ravel().copy()
    value = log_loss(host.labels, model.predict_proba(host.features), labels=[-1.0, 1.0])
    return Optimum(w, float(value), float(np.linalg.norm(host.gradient(w))), int(model.n_iter_[0]))


@dataclass
class ConvexRuns:
    """Theorem 1's convex case: SAG at 1/(16L) with both starts of the table, and GD."""

    problem: LogisticGLM
    optimum: Optimum
    sklearn: Optimum
    x0: np.ndarray
    passes: int
    traces: dict[str, Trace] = field(default_factory=dict)
    gd: Trace | None = None

    @property
    def f_star(self) -> float:
        return self.optimum.value

    @property
    def initial_gap(self) -> float:
        return float(self.problem.value(self.x0)) - self.f_star

    @property
    def distance_sq(self) -> float:
        """||x0 - x*||^2."""
        return float(np.sum((self.x0 - self.optimum.x) ** 2))

    @property
    def sigma_sq(self) -> float:
        """sigma^2 = (1/n) sum_i ||f_i'(x*)||^2, the spread of the sample gradients at x*."""
        return float(self.problem.second_moment(self.optimum.x))

    def constant(self, label: str) -> float:
        """Theorem 1's C_0 for the start of ``label``'s table, L = L_max:
        centred start (y_i = f_i'(x0) - f'(x0)): 3/2 (f(x0) - f*) + 4L/n ||x0 - x*||^2 (so that
        32 n C_0 / k is the lecture's (48 n (f(x0) - f*) + 128 L ||x0 - x*||^2) / k);
        y_i = 0 start: f(x0) - f* + 4L/n ||x0 - x*||^2 + sigma^2 / (16 L)."""
        L, n = self.problem.L_max, self.problem.n_samples
        if label == CENTRED_LABEL:
            return 1.5 * self.initial_gap + 4 * L / n * self.distance_sq
        if label == ZERO_LABEL:
            return self.initial_gap + 4 * L / n * self.distance_sq + self.sigma_sq / (16 * L)
        raise ValueError(f"no convex-case bound for {label!r}")

    def bound(self, label: str, k) -> np.ndarray:
        """E f(x̄_k) - f* <= 32 n C_0 / k (Theorem 1, mu = 0)."""
        return 32 * self.problem.n_samples * self.constant(label) / np.asarray(k, dtype=float)

    def gd_bound(self, k) -> np.ndarray:
        """f(x_k) - f* <= L_f ||x0 - x*||^2 / (2k) for GD at step 1/L_f."""
        return self.problem.L * self.distance_sq / (2 * np.asarray(k, dtype=float))

    def bound_ratio_estimate(self, label: str) -> claims.Estimate:
        """max over logged k of (mean over runs of f(x̄_k) - f*) / bound(k), with the interval of
        :func:`memopt.claims.max_of_means`."""
        trace = self.traces[label]
        return claims.max_of_means((trace.log("averaged_values") - self.f_star) / self.bound(label, trace.iterations),
                            what="runs")

    def gd_bound_ratio(self) -> float:
        """max over k >= 1 of (f(x_k) - f*) / (L_f ||x0 - x*||^2 / (2k)) for GD (deterministic)."""
        k = self.gd.iterations[1:]
        return float(np.max(self.gd.suboptimality(self.f_star)[0, 1:] / self.gd_bound(k)))


@dataclass
class Result:
    config: Config
    lecture: ProblemRuns
    large: ProblemRuns
    heterogeneous: ProblemRuns
    memory: list[dict]
    sklearn: dict[str, dict[str, Optimum]]
    convex: ConvexRuns | None = None
    #: Problem name -> label -> run with gradient norms logged: SAG at 1/L_max on the lecture's
    #: and the larger problem, SGD at 1/L_max on the lecture's.
    monitor: dict[str, dict[str, Trace]] = field(default_factory=dict)

    def relative_gap_to_sklearn(self, runs: ProblemRuns, solver: str) -> float:
        """|f* - f(x_sklearn)| / |f(x_sklearn)| (0 below rounding), the sklearn value from its
        own log_loss."""
        return relative_gap(runs.f_star, self.sklearn[runs.name][solver].value)


def _log_points(n_samples: int, iterations: int, per_pass: int) -> np.ndarray:
    passes = max(1, iterations // n_samples)
    even = np.linspace(0, iterations, passes * per_pass + 1).round().astype(np.int64)
    return np.union1d(log_iterations(iterations, per_decade=10, linear=0), even)


def _methods(problem: LogisticGLM, config: Config, runs: int, theorem_runs: int):
    """(label, method, number of runs) for every stochastic method of the comparison."""
    n, L_max = problem.n_samples, problem.L_max
    return [(sgd_label(m), SGD(m / L_max), runs) for m in config.sgd_steps] + [
        (DECREASING_LABEL, SGD(DecreasingStep(problem.mu, cap=1 / L_max)), runs),
        (SAG_THEORY, SAG(1 / (16 * L_max), table="generic", init="paper"), theorem_runs),
        (SAG_PRACTICAL, SAG(1 / L_max, normalize_seen=True), runs),
        (SAGA_LABEL, SAGA(1 / (3 * L_max)), runs),
        (SVRG_LABEL, SVRG(1 / (10 * L_max), epoch_length=2 * n), runs),
    ]


def _iterations_for(method, n: int, passes: int) -> int:
    """Steps that spend ``passes`` passes of sample gradients (SVRG: n + 2 per step + n/epoch)."""
    if isinstance(method, SVRG):
        per_epoch = n + 2 * method.epoch_length
        return passes * n * method.epoch_length // per_epoch
    return passes * n


def tuned_method(problem: LogisticGLM, multiple: float, k0_passes: float) -> SGD:
    """SGD with alpha_k = (multiple / L_max) / (1 + k / (k0_passes n))."""
    return SGD(InverseTimeStep(multiple / problem.L_max, k0_passes * problem.n_samples))


def tune_decreasing_step(problem: LogisticGLM, x0, f_star: float, passes: int, config: Config) -> Tuning:
    """Score every (alpha0, k0) of the grid by the mean f(x_K) - f* of ``config.tuning_runs``
    runs (seeds from ``config.tuning_seed``) at the end of the budget K = passes * n."""
    iterations = passes * problem.n_samples
    seeds = range(config.tuning_seed, config.tuning_seed + config.tuning_runs)
    scores = {}
    for multiple in config.tuned_steps:
        for k0 in config.tuned_k0_passes:
            trace = run_batched(problem, tuned_method(problem, multiple, k0), x0, iterations=iterations,
                                seeds=seeds, log_at=np.array([0, iterations]))
            scores[multiple, k0] = float(trace.suboptimality(f_star)[:, -1].mean())
    return Tuning(scores, config.tuning_runs)


def _compare(name: str, spec: ProblemSpec, passes: int, config: Config, runs_per_curve: int,
             theorem_runs: int, bar) -> ProblemRuns:
    problem = spec.build()
    runs = ProblemRuns(name, problem, problem.minimize(), np.zeros(problem.n_features), passes)
    runs.tuning = tune_decreasing_step(problem, runs.x0, runs.f_star, passes, config)
    runs.traces[GD_LABEL] = gradient_descent(problem, runs.x0, 1 / problem.L, iterations=passes,
                                             log_at=np.arange(passes + 1))
    for label, method, count in _methods(problem, config, runs_per_curve, theorem_runs):
        iterations = _iterations_for(method, problem.n_samples, passes)
        stop = None if label.startswith("SGD") else (runs.f_star, config.stop_gap)
        runs.traces[label] = run_batched(
            problem, method, runs.x0, iterations=iterations, seeds=range(count), label=label,
            log_at=_log_points(problem.n_samples, iterations, config.logs_per_pass), stop_below=stop)
        bar.update()
    iterations = passes * problem.n_samples
    runs.traces[TUNED_LABEL] = run_batched(
        problem, tuned_method(problem, *runs.tuning.best), runs.x0, iterations=iterations,
        seeds=range(runs_per_curve), label=TUNED_LABEL,
        log_at=_log_points(problem.n_samples, iterations, config.logs_per_pass))
    bar.update()
    return runs


def _sampling(spec: ProblemSpec, config: Config, bar) -> ProblemRuns:
    problem = spec.build()
    runs = ProblemRuns("heterogeneous", problem, problem.minimize(), np.zeros(problem.n_features),
                       config.heterogeneous_passes)
    L_max, L_mean = problem.L_max, float(to_numpy(problem.sample_lipschitz).mean())
    iterations = config.heterogeneous_passes * problem.n_samples
    for label, method in [
        (UNIFORM_LABEL, SAG(1 / L_max, normalize_seen=True)),
        (LIPSCHITZ_LABEL, SAG(1 / (2 * L_max) + 1 / (2 * L_mean), normalize_seen=True, sampling="lipschitz")),
    ]:
        runs.traces[label] = run_batched(
            problem, method, runs.x0, iterations=iterations, seeds=range(config.runs), label=label,
            log_at=_log_points(problem.n_samples, iterations, config.logs_per_pass),
            stop_below=(runs.f_star, config.stop_gap))
        bar.update()
    return runs


def memory_table(problem: LogisticGLM, config: Config) -> list[dict]:
    """Bytes of state one run of each method keeps, measured from its arrays after start."""
    L_max, n = problem.L_max, problem.n_samples
    x = np.zeros((1, problem.n_features))
    rows = [{"method": "GD / SGD", "table": "none", "bytes": x.nbytes}]
    candidates = [
        ("SAG", "glm", SAG(1 / L_max)),
        ("SAG", "generic", SAG(1 / L_max, table="generic")),
        ("SAGA", "glm", SAGA(1 / (3 * L_max))),
        ("SAGA", "generic", SAGA(1 / (3 * L_max), table="generic")),
        ("SVRG", "none", SVRG(1 / (10 * L_max), epoch_length=2 * n)),
    ]
    for name, table, method in candidates:
        method.start(problem, x)
        if isinstance(method, SVRG):  # its snapshot is taken at step 0
            method.snapshot, method.snapshot_gradient = x.copy(), problem.gradient(x)
        rows.append({"method": name, "table": table, "bytes": state_bytes(method, x)})
    return rows


def backtracking_run(runs: ProblemRuns, config: Config, count: int, lipschitz_init: float | None = None) -> Trace:
    """SAG with the backtracking L (GLM table, first-pass normalisation, as SAG at 1/L_max) on
    seeds 0, ..., count - 1, for the problem's budget or until every run is within
    ``config.backtracking_stop_gap`` of f*; L_0 is ``config.backtracking_init`` unless given."""
    problem = runs.problem
    iterations = runs.budget * problem.n_samples
    start = config.backtracking_init if lipschitz_init is None else lipschitz_init
    method = SAG("backtracking", normalize_seen=True, lipschitz_init=start)
    return run_batched(problem, method, runs.x0, iterations=iterations, seeds=range(count),
                       log_at=_log_points(problem.n_samples, iterations, config.logs_per_pass),
                       stop_below=(runs.f_star, config.backtracking_stop_gap), label=BACKTRACKING_LABEL,
                       monitors=monitors(method, problem))


def convex_case(config: Config) -> ConvexRuns:
    """Theorem 1 at mu = 0: SAG at 1/(16 L_max) from x0 = 0 with both table starts (generic
    table), f(x̄_k) logged, and GD at 1/L_f for the same number of passes."""
    problem = config.convex.build()
    runs = ConvexRuns(problem, unregularised_optimum(problem), sklearn_unregularised(problem),
                      np.zeros(problem.n_features), config.convex_passes)
    n, iterations = problem.n_samples, config.convex_passes * problem.n_samples
    log_at = np.union1d(log_iterations(iterations, per_decade=10, linear=0), np.arange(1, 2 * n))
    log_at = log_at[log_at > 0]  # x̄_0 is an empty average
    for label, init in ((CENTRED_LABEL, "paper"), (ZERO_LABEL, "zero")):
        method = SAG(1 / (16 * problem.L_max), table="generic", init=init)
        runs.traces[label] = run_batched(problem, method, runs.x0, iterations=iterations,
                                         seeds=range(config.convex_runs), log_at=log_at, average=True,
                                         label=label, monitors=monitors(method, problem))
    runs.gd = gradient_descent(problem, runs.x0, 1 / problem.L, iterations=config.convex_passes,
                               log_at=np.arange(config.convex_passes + 1))
    return runs


def monitor_runs(runs: ProblemRuns, config: Config, count: int, with_sgd: bool) -> dict[str, Trace]:
    """SAG at 1/L_max (the practical variant), and with ``with_sgd`` SGD at 1/L_max, on one
    problem and seeds 0, ..., count - 1, logging ||grad f(x_k)|| (and SAG's direction norm)
    beside f(x_k)."""
    problem = runs.problem
    iterations = runs.budget * problem.n_samples
    log_at = _log_points(problem.n_samples, iterations, config.logs_per_pass)
    methods = [(SAG_PRACTICAL, SAG(1 / problem.L_max, normalize_seen=True))]
    if with_sgd:
        methods.append((sgd_label(1.0), SGD(1 / problem.L_max)))
    return {label: run_batched(problem, method, runs.x0, iterations=iterations, seeds=range(count),
                               log_at=log_at, label=label, monitors=monitors(method, problem),
                               stop_below=(runs.f_star, config.stop_gap) if label == SAG_PRACTICAL else None)
            for label, method in methods}


def run(config: Config = Config(), progress: bool = False) -> Result:
    """All of the chapter's runs for ``config``."""
    count = 2 * (len(config.sgd_steps) + 6) + 2 + 6  # progress: one tick a method and problem
    with tqdm(total=count, desc="SAG chapter", disable=not progress) as bar:
        lecture = _compare("lecture", config.lecture, config.lecture_passes, config, config.runs,
                           config.runs, bar)
        large = _compare("large", config.large, config.large_passes, config, config.large_runs,
                         config.theorem_runs_large, bar)
        heterogeneous = _sampling(config.heterogeneous, config, bar)
        for runs, count_runs in ((lecture, config.runs), (large, config.large_runs),
                                 (heterogeneous, config.runs)):
            runs.backtracking = backtracking_run(runs, config, count_runs)
            bar.update()
        # Is a slow start to blame where backtracking loses? Start it at the known constant.
        heterogeneous.backtracking_from_max = backtracking_run(
            heterogeneous, config, config.runs, heterogeneous.problem.L_max - heterogeneous.problem.mu)
        convex = convex_case(config)
        bar.update(2)
        monitor = {"lecture": monitor_runs(lecture, config, config.runs, with_sgd=True),
                   "large": monitor_runs(large, config, config.large_runs, with_sgd=False)}
        bar.update()
    sklearn = {
        runs.name: {solver: sklearn_optimum(runs.problem, solver=solver, tol=1e-12)
                    for solver in ("sag", "lbfgs")}
        for runs in (lecture, large)
    }
    return Result(config, lecture, large, heterogeneous, memory_table(large.problem, config), sklearn,
                  convex, monitor)


# -- figures -----------------------------------------------------------------------------------
GAP_LABEL = "f(x_k) − f*  (mean over runs, 10–90% band)"
STYLES = {  # label -> colour; SGD runs share a family of greys
    GD_LABEL: "black", SAG_THEORY: "C1", SAG_PRACTICAL: "C3", SAGA_LABEL: "C2", SVRG_LABEL: "C4",
    DECREASING_LABEL: "C0", TUNED_LABEL: "C5",
}


def plot_comparison(runs: ProblemRuns, title: str):
    """Suboptimality against effective passes for every method, the SAG bound dashed."""
    fig, (ax,) = plotting.figure(panel=(10.0, 5.0))
    greys = ["0.35", "0.55", "0.75", "0.85"]  # constant-step SGD, largest step darkest
    for label, trace in runs.traces.items():
        colour = STYLES.get(label) or greys.pop(0)
        keep = trace.suboptimality(runs.f_star).mean(axis=0) > 0
        plotting.mean_band(ax, runs.passes(label)[keep], trace.suboptimality(runs.f_star)[:, keep],
                           label=label, color=colour)
    trace = runs.traces[SAG_THEORY]
    plotting.theory(ax, runs.passes(SAG_THEORY), runs.sag_bound(trace), color=STYLES[SAG_THEORY],
                    label="SAG bound, Theorem 1")
    ax.set_ylim(1e-14, None)
    ax.set_xlim(0, runs.budget)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return plotting.axes_labels(ax, xlabel="effective passes (sample gradients / n)",
                                ylabel=GAP_LABEL, title=title, logy=True).figure


def plot_rates(result: Result):
    """SAG at 1/L_max against the tuned decreasing-step SGD on log-log axes, where an O(k^-p)
    rate is a straight line of slope -p and a linear rate plunges; a 1/k guide through the
    tuned SGD's last point."""
    fig, axes = plotting.figure(ncols=2, panel=(5.2, 4.0))
    for ax, runs in zip(axes, (result.lecture, result.large)):
        for label in (SAG_PRACTICAL, TUNED_LABEL):
            trace = runs.traces[label]
            gaps, passes = trace.suboptimality(runs.f_star), runs.passes(label)
            keep = (passes > 0) & (gaps.mean(axis=0) > 0)
            plotting.mean_band(ax, passes[keep], gaps[:, keep], label=label, color=STYLES[label])
        passes = runs.passes(TUNED_LABEL)
        end = runs.gap(TUNED_LABEL)[-1]
        guide = passes[passes >= 1]
        plotting.theory(ax, guide, end * passes[-1] / guide, label="∝ 1/k (O(1/k) rate)", color="gray")
        ax.set_ylim(1e-14, None)
        ax.legend(loc="lower left", fontsize=8)
        plotting.axes_labels(ax, xlabel="effective passes (sample gradients / n)", ylabel=GAP_LABEL,
                             title=f"{runs.name} problem, n = {runs.problem.n_samples}", logx=True, logy=True)
    return fig


def plot_sampling(runs: ProblemRuns):
    """Uniform against Lipschitz sampling, and the spread of the L_i that motivates it."""
    fig, (left, right) = plotting.figure(ncols=2)
    for colour, (label, trace) in zip(("C3", "C0"), runs.traces.items()):
        keep = trace.suboptimality(runs.f_star).mean(axis=0) > 0
        plotting.mean_band(left, runs.passes(label)[keep], trace.suboptimality(runs.f_star)[:, keep],
                           label=label, color=colour)
    left.axhline(1e-6, color="gray", lw=0.8, ls=":")
    left.legend(loc="upper right", fontsize=8)
    plotting.axes_labels(left, xlabel="effective passes (sample gradients / n)", ylabel=GAP_LABEL,
                         title="Sampling by L_i on rows of very different norms", logy=True)
    lipschitz = np.sort(to_numpy(runs.problem.sample_lipschitz))
    right.hist(lipschitz, bins=np.logspace(np.log10(lipschitz[0]), np.log10(lipschitz[-1]), 30),
               color="C0", alpha=0.7)
    right.axvline(lipschitz.mean(), color="black", ls="--", label="L_mean")
    right.axvline(lipschitz[-1], color="C3", ls="--", label="L_max")
    right.legend()
    plotting.axes_labels(right, xlabel="per-sample smoothness L_i", ylabel="samples (count)",
                         title="The L_i of the heterogeneous problem", logx=True)
    return fig


def plot_convex(convex: ConvexRuns):
    """Theorem 1 at mu = 0, one panel a start of the table: f(x̄_k) - f* of SAG at 1/(16L)
    against its bound 32 n C_0 / k (and the last iterate's f(x_k) - f*, thin), with GD's
    f(x_k) - f* against L_f ||x0 - x*||^2 / (2k), on log-log axes (O(1/k) is a slope -1)."""
    fig, axes = plotting.figure(ncols=2, panel=(5.2, 4.2))
    n = convex.problem.n_samples
    gd_k = convex.gd.iterations[1:]
    for ax, (colour, label) in zip(axes, (("C1", CENTRED_LABEL), ("C0", ZERO_LABEL))):
        trace = convex.traces[label]
        k = trace.iterations
        plotting.mean_band(ax, k / n, (trace.log("averaged_values") - convex.f_star), color=colour,
                           label="SAG: f(x̄_k) − f*")
        last = plotting.mean_band(ax, k / n, trace.suboptimality(convex.f_star), color=colour,
                                  label="SAG: f(x_k) − f* (last iterate)")
        last.set_linewidth(0.8)
        plotting.theory(ax, k / n, convex.bound(label, k), color=colour, label="SAG bound 32n C₀/k")
        plotting.mean_band(ax, gd_k, convex.gd.suboptimality(convex.f_star)[:, 1:], color="black",
                           label="GD, α = 1/L_f: f(x_k) − f*")
        plotting.theory(ax, gd_k, convex.gd_bound(gd_k), color="gray", label="GD bound L_f‖x₀ − x*‖²/(2k)")
        ax.set_ylim(1e-14, None)
        ax.legend(loc="lower left", fontsize=7)
        plotting.axes_labels(ax, xlabel="effective passes (sample gradients / n; GD: steps)",
                             ylabel="f − f*  (mean over runs, 10–90% band)",
                             title=f"μ = 0, n = {n}: {label.split(', ')[-1]}", logx=True, logy=True)
    return fig


def plot_backtracking(result: Result):
    """Left: f - f* of SAG at 1/L_max and with backtracking on each problem. Right: the
    estimate L_k over L_max (each run's L_k; mean and band)."""
    fig, (left, right) = plotting.figure(ncols=2, panel=(5.4, 4.2))
    problems = (result.lecture, result.large, result.heterogeneous)
    for colour, runs in zip(("C0", "C2", "C4"), problems):
        n = runs.problem.n_samples
        known = runs.traces[runs.known_step_label]
        for trace, style in ((known, ":"), (runs.backtracking, "-")):
            gaps = trace.suboptimality(runs.f_star)
            keep = gaps.mean(axis=0) > 0
            what = "backtracking" if trace is runs.backtracking else "1/L_max"
            line = plotting.mean_band(left, trace.passes(n)[keep], gaps[:, keep], color=colour,
                                      label=f"{runs.name}, {what}")
            line.set_linestyle(style)
        bt = runs.backtracking
        plotting.mean_band(right, bt.passes(n), bt.log("lipschitz") / (runs.problem.L_max - runs.problem.mu),
                           color=colour, label=runs.name)
    left.axhline(1e-6, color="gray", lw=0.8, ls=":")
    left.set_ylim(1e-10, None)
    left.legend(loc="upper right", fontsize=7)
    plotting.axes_labels(left, xlabel="effective passes (sample gradients / n)",
                         ylabel="f(x_k) − f*  (mean, 10–90% band)",
                         title="SAG at 1/L_max (dotted) and with the estimated L (solid)", logy=True)
    right.axhline(1.0, color="black", lw=0.8, ls="--")
    right.set_ylim(0.2, 3.0)  # L_0 itself, far below, is off the axis
    right.legend(loc="lower right", fontsize=8)
    plotting.axes_labels(right, xlabel="effective passes (sample gradients / n)",
                         ylabel="L_k / max_i ‖a_i‖²/4  (mean, 10–90% band)",
                         title="The estimate L_k against the known constant (L_0 below the axis)", logy=True)
    return fig


def gradient_brackets(trace: Trace, problem: LogisticGLM, f_star: float, resolution: float = 1e-10):
    """At every logged iterate of every run with f(x_k) - f* >= ``resolution`` (below it the
    rounding of f - f* dominates): the two ratios (||grad f||^2 / (2 L_f)) / (f - f*) and
    (f - f*) / (||grad f||^2 / (2 mu)), both <= 1 for an L_f-smooth, mu-strongly convex f."""
    gaps = trace.suboptimality(f_star)
    keep = gaps >= resolution
    squared = trace.log("gradient_norms")**2
    lower = squared / (2 * problem.L) / np.where(keep, gaps, np.nan)
    upper = np.where(keep, gaps, np.nan) / (squared / (2 * problem.mu))
    return lower[keep], upper[keep]


def plot_monitor(result: Result):
    """Left: f - f* of SAG at 1/L_max on the larger problem between ||grad f||^2/(2 L_f) and
    ||grad f||^2/(2 mu). Right: gradient norms against passes on the lecture's problem: SAG's
    ||grad f(x_k)|| and its own direction norm, and SGD's ||grad f(x_k)||."""
    runs = result.large
    problem, n = runs.problem, runs.problem.n_samples
    sag_trace = result.monitor["large"][SAG_PRACTICAL]
    passes = sag_trace.passes(n)
    squared = sag_trace.log("gradient_norms")**2
    fig, (left, right) = plotting.figure(ncols=2, panel=(5.2, 4.0))
    plotting.mean_band(left, passes, sag_trace.suboptimality(runs.f_star), color="C3", label="f(x_k) − f*")
    plotting.mean_band(left, passes, squared / (2 * problem.mu), color="C0", label="‖∇f(x_k)‖²/(2μ)")
    plotting.mean_band(left, passes, squared / (2 * problem.L), color="C2", label="‖∇f(x_k)‖²/(2L_f)")
    left.set_ylim(1e-15, None)
    left.legend(loc="upper right", fontsize=8)
    plotting.axes_labels(left, xlabel="effective passes (sample gradients / n)",
                         ylabel="value  (mean over runs, 10–90% band)",
                         title="SAG at 1/L_max, larger problem: the bracket", logy=True)
    monitor = result.monitor["lecture"]
    sag_trace, n = monitor[SAG_PRACTICAL], result.lecture.problem.n_samples
    passes = sag_trace.passes(n)
    sgd = monitor[sgd_label(1.0)]
    plotting.mean_band(right, passes, sag_trace.log("gradient_norms"), color="C3", label="SAG: ‖∇f(x_k)‖")
    keep = passes > 0
    plotting.mean_band(right, passes[keep], sag_trace.log("direction_norms")[:, keep], color="C1",
                       label="SAG: ‖(1/m) Σ y_i + μ x_k‖ (its own step direction)")
    plotting.mean_band(right, sgd.passes(n), sgd.log("gradient_norms"), color="0.5", label="SGD at 1/L_max: ‖∇f(x_k)‖")
    right.set_ylim(1e-9, None)
    right.legend(loc="lower left", fontsize=7)
    plotting.axes_labels(right, xlabel="effective passes (sample gradients / n)",
                         ylabel="gradient norm  (mean over runs, 10–90% band)",
                         title="Gradient norms as a monitor, lecture problem", logy=True)
    return fig


def figures(result: Result) -> dict:
    return {
        "lecture": plot_comparison(result.lecture, "Lecture problem: m = 200, n = 10, μ = 1"),
        "large": plot_comparison(result.large, "Larger problem: 10⁴ samples, p = 100, μ = 10⁻³"),
        "sampling": plot_sampling(result.heterogeneous),
        "rates": plot_rates(result),
        "convex": plot_convex(result.convex),
        "backtracking": plot_backtracking(result),
        "monitor": plot_monitor(result),
    }


def summary(result: Result) -> dict:
    def problem_summary(runs: ProblemRuns) -> dict:
        return {
            "L": runs.problem.L, "L_max": runs.problem.L_max, "mu": runs.problem.mu,
            "f_star": runs.f_star, "budget_passes": runs.budget,
            "passes_to_1e-6": {k: runs.passes_to(k, 1e-6) for k in runs.traces},
            "passes_to_1e-10": {k: runs.passes_to(k, 1e-10) for k in runs.traces},
        }

    def tuning_summary(runs: ProblemRuns) -> dict:
        return {"scores": {f"alpha0 = {a:g}/L_max, k0 = {k:g} n": v for (a, k), v in runs.tuning.scores.items()},
                "best": list(runs.tuning.best),
                "doubling_exponent": runs.doubling_exponent(TUNED_LABEL).value,
                "sag_decades_ratio": float(np.median(runs.decades_ratio(SAG_PRACTICAL)))}

    return {
        "lecture": {**problem_summary(result.lecture), "sag_bound_ratio": result.lecture.bound_ratio(),
                    "tuned_sgd": tuning_summary(result.lecture)},
        "large": {**problem_summary(result.large), "sag_bound_ratio": result.large.bound_ratio(),
                  "tuned_sgd": tuning_summary(result.large)},
        "heterogeneous": problem_summary(result.heterogeneous),
        "backtracking": {
            runs.name: {"passes_to_1e-6_mean": float(np.mean(runs.backtracking_passes(1e-6))),
                        "known_L_max_passes_to_1e-6_mean": float(np.mean(runs.run_passes_to(runs.known_step_label, 1e-6))),
                        "final_L_over_L_max_mean": float(np.mean(runs.backtracking.log("lipschitz")[:, -1]) / runs.problem.L_max)}
            for runs in (result.lecture, result.large, result.heterogeneous)},
        "convex": {
            "f_star": result.convex.f_star, "sklearn_f_star": result.convex.sklearn.value,
            "L_max": result.convex.problem.L_max, "L": result.convex.problem.L,
            "sigma_sq": result.convex.sigma_sq,
            "bound_ratio": {label: result.convex.bound_ratio_estimate(label).value for label in result.convex.traces},
            "gd_bound_ratio": result.convex.gd_bound_ratio(),
        },
        "gradient_bracket_max": {
            runs.name: dict(zip(("lower", "upper"), (float(np.max(r)) for r in gradient_brackets(
                result.monitor[runs.name][SAG_PRACTICAL], runs.problem, runs.f_star))))
            for runs in (result.lecture, result.large)},
        "memory_bytes_per_run": result.memory,
        "sklearn_relative_gap": {
            runs.name: {s: result.relative_gap_to_sklearn(runs, s) for s in ("sag", "lbfgs")}
            for runs in (result.lecture, result.large)
        },
    }
