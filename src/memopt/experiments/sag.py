"""Chapter "Variance reduction: SAG, SAGA and SVRG" (book/stochastic/sag.md).

Three logistic problems, each drawn by :func:`memopt.problems.planted_logistic`:

* ``lecture``: the lecture's 200 samples in 10 dimensions with mu = 1;
* ``large``: 10^4 samples in 100 dimensions, rows N(0, 0.09 I) and mu = 1e-3, so that
  kappa = L / mu is about 30 and L_max / mu about 3600;
* ``heterogeneous``: 1000 samples in 20 dimensions whose rows are rescaled by log-uniform
  factors in [0.03, 30], so the per-sample constants L_i spread over six decades.

On the first two every method runs from x0 = 0 for the same budget of effective passes
(sample gradients evaluated / n); on the third, SAG with uniform and with Lipschitz sampling.
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
from memopt.experiments.sgd import max_of_means, ratio_of_means
from memopt.optim import SAG, SAGA, SVRG, DecreasingStep, Trace, gradient_descent, run_batched
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


SCALES = {
    "book": Config(),
    "paper": Config(runs=64, large_runs=64, theorem_runs_large=16, large=ProblemSpec(100_000, 300, 1e-4, seed=1,
                                                                      feature_scale=0.2)),
}

SAG_THEORY, SAG_PRACTICAL = "SAG, α = 1/(16 L_max)", "SAG, α = 1/L_max"
SAGA_LABEL, SVRG_LABEL = "SAGA, α = 1/(3 L_max)", "SVRG, α = 1/(10 L_max)"
GD_LABEL, DECREASING_LABEL = "GD, α = 1/L_f", "SGD, α_k decreasing"
TUNED_LABEL = "SGD, α_k = α0/(1 + k/k0), tuned"


@dataclass(frozen=True)
class InverseTimeStep:
    """alpha_k = alpha0 / (1 + k / k0): constant for k << k0, then alpha0 k0 / k, the O(1/k)
    step of SGD on strongly convex problems (the rate needs 2 mu alpha0 k0 > 1)."""

    alpha0: float
    k0: float

    def __post_init__(self):
        if not (self.alpha0 > 0 and self.k0 > 0):
            raise ValueError(f"alpha0 and k0 must be > 0, got {self.alpha0}, {self.k0}")

    def __call__(self, k: int) -> float:
        return self.alpha0 / (1.0 + k / self.k0)

    def describe(self) -> str:
        return f"α_k = {self.alpha0:.3g} / (1 + k/{self.k0:g})"


class ScheduledSGD(SGD):
    """SGD with any schedule alpha(k) (:class:`memopt.optim.SGD` takes a number or one of the
    lecture's schedules)."""

    def __init__(self, schedule):
        self.schedule = schedule


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
        gaps, passes = self.traces[label].suboptimality(self.f_star), self.passes(label)
        reached = gaps <= gap
        first = np.argmax(reached, axis=1)
        return np.where(reached.any(axis=1), passes[first], np.inf).astype(float)

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
        E is the mean over the runs; the interval is the ratio's (:func:`ratio_of_means`,
        paired by run) carried through log2."""
        trace = self.traces[label]
        k = trace.iterations
        half, end = int(np.argmin(np.abs(k - k[-1] / 2))), len(k) - 1
        gaps = trace.suboptimality(self.f_star)
        ratio = ratio_of_means(gaps[:, half], gaps[:, end], what="runs")

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
        """:meth:`bound_ratio` with its interval over the runs (:func:`memopt.experiments.sgd.max_of_means`):
        the theorem bounds the expectation, so the mean curve is checked, at every logged k."""
        trace = self.traces[SAG_THEORY]
        return max_of_means(trace.suboptimality(self.f_star) / self.sag_bound(trace), what="runs")


@dataclass
class Result:
    config: Config
    lecture: ProblemRuns
    large: ProblemRuns
    heterogeneous: ProblemRuns
    memory: list[dict]
    sklearn: dict[str, dict[str, Optimum]]

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


def tuned_method(problem: LogisticGLM, multiple: float, k0_passes: float) -> ScheduledSGD:
    """SGD with alpha_k = (multiple / L_max) / (1 + k / (k0_passes n))."""
    return ScheduledSGD(InverseTimeStep(multiple / problem.L_max, k0_passes * problem.n_samples))


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
        ("SAG, uniform, α = 1/L_max", SAG(1 / L_max, normalize_seen=True)),
        ("SAG, non-uniform, α = 1/(2L_max) + 1/(2L_mean)",
         SAG(1 / (2 * L_max) + 1 / (2 * L_mean), normalize_seen=True, sampling="lipschitz")),
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


def run(config: Config = Config(), progress: bool = False) -> Result:
    """All of the chapter's runs for ``config``."""
    count = 2 * (len(config.sgd_steps) + 6) + 2  # progress: one tick a method and problem
    with tqdm(total=count, desc="SAG chapter", disable=not progress) as bar:
        lecture = _compare("lecture", config.lecture, config.lecture_passes, config, config.runs,
                           config.runs, bar)
        large = _compare("large", config.large, config.large_passes, config, config.large_runs,
                         config.theorem_runs_large, bar)
        heterogeneous = _sampling(config.heterogeneous, config, bar)
    sklearn = {
        runs.name: {solver: sklearn_optimum(runs.problem, solver=solver, tol=1e-12)
                    for solver in ("sag", "lbfgs")}
        for runs in (lecture, large)
    }
    return Result(config, lecture, large, heterogeneous, memory_table(large.problem, config), sklearn)


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


def figures(result: Result) -> dict:
    return {
        "lecture": plot_comparison(result.lecture, "Lecture problem: m = 200, n = 10, μ = 1"),
        "large": plot_comparison(result.large, "Larger problem: 10⁴ samples, p = 100, μ = 10⁻³"),
        "sampling": plot_sampling(result.heterogeneous),
        "rates": plot_rates(result),
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
        "memory_bytes_per_run": result.memory,
        "sklearn_relative_gap": {
            runs.name: {s: result.relative_gap_to_sklearn(runs, s) for s in ("sag", "lbfgs")}
            for runs in (result.lecture, result.large)
        },
    }
