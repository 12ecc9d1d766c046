"""Chapter "Big steps, little steps: objectives with several scales" (book/memory/multiscale.md).

Gradient descent, Nesterov's accelerated method, the Chebyshev iteration, conjugate gradients
(quadratics only) and Big-Step-Little-Step (Kelner et al. 2022) are run to a relative distance
``tol`` on three multiscale objectives whose condition number kappa = L_1 / mu_m goes from 1e1
to 1e6: quadratics with two and with three well-conditioned eigenvalue clusters, and a sum of
two logistic regressions at different scales on orthogonal subspaces (non-quadratic). The
chapter compares how the gradient evaluations to ``tol`` grow with kappa, and the floats each
method's state holds.

The growth exponents, the theory curves and the memory figures are computed here, so the
notebook only narrates, plots and states the claims.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from memopt import plotting
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
from memopt.problems.multiscale import clustered_quadratic, logistic_pieces

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
    seed: int = 0
    max_evaluations: int = 2_000_000
    #: The kappa of the convergence curves and of the big-step/little-step picture.
    curves_kappa: float = 1e4

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


SCALES = {"book": Config(), "paper": Config(gd_max_kappa=1e6, cluster_dim=100, max_evaluations=10**8)}


def make_problem(config: Config, name: str, kappa: float):
    """The objective ``name`` (a key of :data:`PROBLEMS`) at condition number ``kappa``."""
    family, scales = PROBLEMS[name]
    if family == "quadratic":
        return clustered_quadratic(kappa, scales, config.cluster_dim, config.cluster_condition,
                                   seed=config.seed)
    return logistic_pieces(kappa, scales, config.cluster_dim, samples=config.piece_samples,
                           mu=config.piece_mu, seed=config.seed)


def runs_method(config: Config, problem_name: str, method: str, kappa: float) -> bool:
    """CG needs a quadratic; GD runs only up to ``gd_max_kappa``."""
    if method == "CG":
        return PROBLEMS[problem_name][0] == "quadratic"
    return method != "GD" or kappa <= config.gd_max_kappa



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
    #: (problem, method, kappa) -> the run.
    runs: dict[tuple[str, str, float], Convergence] = field(default_factory=dict)
    dimensions: dict[str, int] = field(default_factory=dict)
    scales: dict[tuple[str, float], tuple] = field(default_factory=dict)
    #: BSLS on the two-cluster quadratic at curves_kappa: the error of each queried point on
    #: each scale's subspace, shape (evaluations, 2), and the step size after each evaluation.
    query_errors: np.ndarray | None = None
    query_steps: np.ndarray | None = None

    def kappas(self, problem: str, method: str) -> np.ndarray:
        return np.array([k for k in self.config.kappas if (problem, method, k) in self.runs])

    def counts(self, problem: str, method: str) -> tuple[np.ndarray, np.ndarray]:
        """(kappa, evaluations to tol) over the runs of this method that reached tol."""
        pairs = [(k, self.runs[problem, method, k].evaluations_to_tol)
                 for k in self.kappas(problem, method)]
        pairs = [(k, n) for k, n in pairs if n is not None]
        return np.array([k for k, _ in pairs]), np.array([n for _, n in pairs])

    def all_reached(self) -> bool:
        return all(run.reached for run in self.runs.values())

    def exponent(self, problem: str, method: str, min_kappa: float = 0.0) -> float:
        """The fitted growth exponent of the evaluations to tol in kappa (kappa >= min_kappa)."""
        kappas, counts = self.counts(problem, method)
        keep = kappas >= min_kappa
        return power_law_exponent(kappas[keep], counts[keep])

    def floats_per_dimension(self, problem: str, method: str) -> np.ndarray:
        """Peak floats held by the method's state / d, one value per kappa."""
        return np.array([self.runs[problem, method, k].state_floats / self.dimensions[problem]
                         for k in self.kappas(problem, method)])

    def bsls_floats_per_scale(self, problem: str) -> np.ndarray:
        """BSLS's peak floats / (d m), one value per kappa: O(d m) means bounded."""
        return self.floats_per_dimension(problem, "BSLS") / PROBLEMS[problem][1]

    def bsls_peak_floats_per_scale(self) -> float:
        """The largest BSLS peak floats / (d m) over every problem and kappa."""
        return float(max(self.bsls_floats_per_scale(name).max() for name in PROBLEMS))

    def predicted(self, problem: str, method: str) -> tuple[np.ndarray, np.ndarray]:
        """(kappa, the evaluations theory predicts) at the kappas this method ran."""
        kappas = self.kappas(problem, method)
        return kappas, np.array([predicted_evaluations(method, self.scales[problem, k], self.config.tol)
                                 for k in kappas])

    def predicted_exponent(self, problem: str, method: str) -> float:
        """The growth exponent of the predicted counts (:meth:`predicted`)."""
        return power_law_exponent(*self.predicted(problem, method))


def run(config: Config = Config(), progress: bool = False) -> Result:
    """All of the chapter's runs for ``config``."""
    result = Result(config)
    tasks = [(p, k) for p in PROBLEMS for k in config.kappas]
    for name, kappa in tqdm(tasks, desc="multiscale runs", disable=not progress):
        problem = make_problem(config, name, kappa)
        result.dimensions[name] = problem.dimension
        result.scales[name, kappa] = problem.scales
        x0 = np.zeros(problem.dimension)
        for method, solve in METHODS.items():
            if runs_method(config, name, method, kappa):
                result.runs[name, method, kappa] = solve(
                    problem, x0, tol=config.tol, max_evaluations=config.max_evaluations)
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
    problem."""
    fig, axes = plotting.figure(ncols=len(PROBLEMS))
    kappa = result.config.curves_kappa
    for ax, name in zip(axes, PROBLEMS):
        for method in METHODS:
            if (name, method, kappa) in result.runs:
                run_ = result.runs[name, method, kappa]
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
    """Evaluations to tol against kappa, one panel per problem, with the theory dashed."""
    fig, axes = plotting.figure(ncols=len(PROBLEMS))
    for ax, name in zip(axes, PROBLEMS):
        quadratic = PROBLEMS[name][0] == "quadratic"
        for method in METHODS:
            kappas, counts = result.counts(name, method)
            if kappas.size == 0:
                continue
            ax.plot(kappas, counts, "o-", ms=4, color=COLOURS[method],
                    label=f"{method} (slope {result.exponent(name, method):.2f})")
            if quadratic or method in ("GD", "Nesterov", "BSLS"):
                plotting.theory(ax, *result.predicted(name, method), label=None, color=COLOURS[method])
        ax.plot([], [], ls="--", color="gray", label="theory (see text)")
        ax.legend(loc="upper left", fontsize=8)
        plotting.axes_labels(ax, xlabel="condition number κ = L₁/μₘ",
                             ylabel=f"gradient evaluations to {result.config.tol:g} (count)",
                             title=name, logx=True, logy=True)
    return fig


def plot_memory(result: Result):
    """Peak floats held by each method's state, in vectors of length d, at kappa =
    curves_kappa; BSLS beside 3m + 1 (three vectors per level and one gradient)."""
    fig, (ax,) = plotting.figure(panel=(7.5, 3.8))
    kappa = result.config.curves_kappa
    width = 0.8 / len(METHODS)
    for j, method in enumerate(METHODS):
        xs, heights = [], []
        for i, name in enumerate(PROBLEMS):
            if (name, method, kappa) in result.runs:
                xs.append(i + (j - (len(METHODS) - 1) / 2) * width)
                heights.append(result.runs[name, method, kappa].state_floats / result.dimensions[name])
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


def figures(result: Result) -> dict:
    return {
        "mechanism": plot_mechanism(result),
        "convergence": plot_convergence(result),
        "evaluations": plot_evaluations(result),
        "memory": plot_memory(result),
    }


def summary(result: Result) -> dict:
    """The chapter's figures as plain numbers (written by ``memopt run multiscale``)."""
    out = {"tol": result.config.tol, "all_reached": result.all_reached(), "problems": {}}
    for name in PROBLEMS:
        entry = {"dimension": result.dimensions[name], "scales": PROBLEMS[name][1], "methods": {}}
        for method in METHODS:
            kappas, counts = result.counts(name, method)
            if kappas.size:
                entry["methods"][method] = {
                    "kappas": kappas.tolist(), "evaluations": counts.tolist(),
                    "exponent": result.exponent(name, method),
                    "peak_floats_per_dimension": float(result.floats_per_dimension(name, method).max()),
                }
        out["problems"][name] = entry
    return out
