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
L_max and the lecture's decreasing schedule capped at 1/L_max, GD 1/L.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from memopt import claims, plotting
from memopt.backend import to_numpy
from memopt.claims import relative_gap
from memopt.experiments.sgd import max_of_means
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

    def __post_init__(self):
        if min(self.runs, self.large_runs, self.theorem_runs_large) < 2:
            raise ValueError("need at least 2 runs per curve")
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


def _compare(name: str, spec: ProblemSpec, passes: int, config: Config, runs_per_curve: int,
             theorem_runs: int, bar) -> ProblemRuns:
    problem = spec.build()
    runs = ProblemRuns(name, problem, problem.minimize(), np.zeros(problem.n_features), passes)
    runs.traces[GD_LABEL] = gradient_descent(problem, runs.x0, 1 / problem.L, iterations=passes,
                                             log_at=np.arange(passes + 1))
    for label, method, count in _methods(problem, config, runs_per_curve, theorem_runs):
        iterations = _iterations_for(method, problem.n_samples, passes)
        stop = None if label.startswith("SGD") else (runs.f_star, config.stop_gap)
        runs.traces[label] = run_batched(
            problem, method, runs.x0, iterations=iterations, seeds=range(count), label=label,
            log_at=_log_points(problem.n_samples, iterations, config.logs_per_pass), stop_below=stop)
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
    count = 2 * (len(config.sgd_steps) + 5) + 2  # progress: one tick a method and problem
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
    DECREASING_LABEL: "C0",
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
    }


def summary(result: Result) -> dict:
    def problem_summary(runs: ProblemRuns) -> dict:
        return {
            "L": runs.problem.L, "L_max": runs.problem.L_max, "mu": runs.problem.mu,
            "f_star": runs.f_star, "budget_passes": runs.budget,
            "passes_to_1e-6": {k: runs.passes_to(k, 1e-6) for k in runs.traces},
            "passes_to_1e-10": {k: runs.passes_to(k, 1e-10) for k in runs.traces},
        }

    return {
        "lecture": {**problem_summary(result.lecture), "sag_bound_ratio": result.lecture.bound_ratio()},
        "large": {**problem_summary(result.large), "sag_bound_ratio": result.large.bound_ratio()},
        "heterogeneous": problem_summary(result.heterogeneous),
        "memory_bytes_per_run": result.memory,
        "sklearn_relative_gap": {
            runs.name: {s: result.relative_gap_to_sklearn(runs, s) for s in ("sag", "lbfgs")}
            for runs in (result.lecture, result.large)
        },
    }
