"""Chapter "In-context regression: Iterative Newton against gradient descent" (book/memory/icl_newton.md).

Fu, Chen, Jia and Sharan (NeurIPS 2024) compare what a transformer computes in context with two
algorithms run on the prompt's least-squares problem: Iterative Newton (Newton-Schulz on
S = X^T X) and gradient descent. This module runs both on the paper's ill-conditioned tasks
(d = 20, n = 40, half the covariance's eigenvalues kappa = 100 and half 1, no noise), measures
the error of each iterate as the paper measures a prediction (on a fresh query, in expectation),
and finds for every Newton step k the number of GD steps that reaches the same error. The same
matching on a covariance with the same condition number but evenly spread eigenvalues tests why
the matching curve has a plateau on the paper's spectrum. Beyond the paper, one layer of linear
self-attention is trained on the same task distribution and compared with one step of
preconditioned gradient descent.

Every quantity the chapter checks is computed here; the notebook narrates, plots and checks.
Each depends on the random tasks (or, for the attention layer, on the random start of its
training), so each is checked as a statistic over the tasks (or restarts) with its interval
(:mod:`memopt.claims`), decided only when the whole interval lies on one side of the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from tqdm import tqdm

from memopt import claims, plotting
from memopt._checks import integer
from memopt.backend import single_blas_thread
from memopt.nets.linear_attention import (
    Training,
    best_scalar_step,
    optimal_preconditioner,
    preconditioned_gd_step,
    train_population,
)
from memopt.optim.newton import (
    ALPHA_RULES,
    GradientDescentRun,
    NewtonRun,
    gd_error_theory,
    iterative_newton,
    least_squares_gd,
    newton_error_theory,
    newton_residual_theory,
    spectral_errors,
)
from memopt.problems.icl import ICLTasks, icl_tasks

NAME = "icl_newton"
DESCRIPTION = "In-context regression: Iterative Newton vs. GD steps, and one linear attention layer"


@dataclass(frozen=True)
class Config:
    """Everything that determines the chapter's runs."""

    n_tasks: int = 256
    dim: int = 20
    n_examples: int = 40
    kappa: float = 100.0
    seed: int = 0
    newton_steps: int = 40
    #: M_0 = alpha S; "frobenius" is the authors' released code (see memopt.optim.newton).
    alpha: str = "frobenius"
    gd_iterations: int = 20_000
    #: Errors below this are left out of the fits: far above rounding (~1e-14), far below 1.
    error_floor: float = 1e-10
    #: Newton's local phase: from the first step with ||I - M_k S||_2 <= local_residual.
    local_residual: float = 0.5
    #: Newton's quadratic regime, where the order of convergence is fitted: the steps at which
    #: the slowest eigendirection of S alone gives the exact-arithmetic error to within this
    #: relative tolerance (there r_{k+1} = C r_k^2 with one constant C).
    dominance_tolerance: float = 0.1
    #: The paper's comparison at kappa = 100: ~21 Newton iterations against ~2000 GD steps.
    paper_newton_steps: int = 21
    paper_gd_steps: int = 2000
    #: The second spectrum, with the same condition number, on which the matching is repeated.
    comparison_spectrum: str = "log_uniform"
    attention_seed: int = 0
    #: The attention layer is trained from this many random starts (seeds attention_seed, +1, ...).
    attention_restarts: int = 3

    def __post_init__(self):
        for name in ("n_tasks", "dim", "n_examples", "newton_steps", "gd_iterations"):
            integer(name, getattr(self, name))
        if self.n_examples < self.dim:
            raise ValueError(f"need n_examples >= dim so that S = X^T X is invertible, got "
                             f"{self.n_examples} < {self.dim}")
        if not self.kappa >= 1:
            raise ValueError(f"kappa must be >= 1, got {self.kappa}")
        if self.alpha not in ALPHA_RULES:
            raise ValueError(f"alpha must be one of {ALPHA_RULES}, got {self.alpha!r}")
        if not 0 < self.error_floor < 1 or not 0 < self.local_residual < 1:
            raise ValueError("error_floor and local_residual must lie in (0, 1)")
        if not 0 < self.dominance_tolerance < 1:
            raise ValueError(f"dominance_tolerance must lie in (0, 1), got {self.dominance_tolerance}")
        if not 0 <= self.paper_newton_steps <= self.newton_steps:
            raise ValueError("paper_newton_steps must lie in [0, newton_steps]")
        if not 0 <= self.paper_gd_steps <= self.gd_iterations:
            raise ValueError("paper_gd_steps must lie in [0, gd_iterations]")
        if integer("attention_restarts", self.attention_restarts) < 2:
            raise ValueError(f"attention_restarts must be >= 2 for a range, got {self.attention_restarts}")
        if self.comparison_spectrum not in ("log_uniform", "two_clusters"):
            raise ValueError(f"comparison_spectrum must be log_uniform or two_clusters, got "
                             f"{self.comparison_spectrum!r}")


SCALES = {"book": Config(), "paper": Config(n_tasks=2048, gd_iterations=100_000)}


@dataclass
class Matching:
    """Newton's errors on one family of tasks and the GD steps that match them."""

    tasks: ICLTasks
    newton: NewtonRun
    #: Prediction error of w_k: shape (newton_steps + 1, tasks).
    newton_errors: np.ndarray
    #: The same in exact arithmetic (eigen-decomposition of each S).
    newton_theory: np.ndarray
    gd: GradientDescentRun
    #: The exact-arithmetic errors of GD at ``theory_times``: shape (len, tasks).
    theory_times: np.ndarray
    gd_theory: np.ndarray

    @property
    def steps_to_match(self) -> np.ndarray:
        """t(k) per task: the first GD step whose error is at most Newton's after k steps;
        inf where GD does not get there within its budget. Shape (tasks, newton_steps + 1)."""
        return self.gd.steps_to_reach

    def median_steps_to_match(self) -> np.ndarray:
        return np.median(self.steps_to_match, axis=0)

    def theory_steps_to_match(self) -> np.ndarray:
        """t(k) from the exact-arithmetic errors of both methods, on the grid ``theory_times``
        (the first grid time whose GD error is at most Newton's): median over tasks."""
        below = self.gd_theory[:, :, None] <= self.newton_theory.T[None]
        first = np.where(below.any(axis=0), self.theory_times[below.argmax(axis=0)], np.inf)
        return np.median(first, axis=0)

    def fit_range(self, floor: float) -> np.ndarray:
        """The Newton steps k of the fit: the median t(k) is reached within GD's budget and the
        median Newton error is still above the rounding floor."""
        reached = np.isfinite(self.median_steps_to_match())
        above = np.median(self.newton_errors, axis=1) >= floor
        return np.flatnonzero(reached & above & (self.median_steps_to_match() >= 1))

    def exponential_fit(self, floor: float) -> dict:
        """Least-squares line ln t(k) = a + slope k over :meth:`fit_range`, with its R^2."""
        ks = self.fit_range(floor)
        logs = np.log(self.median_steps_to_match()[ks])
        slope, intercept = np.polyfit(ks, logs, 1)
        residuals = logs - (intercept + slope * ks)
        r2 = 1 - residuals.var() / logs.var()
        return {"ks": ks, "slope": float(slope), "intercept": float(intercept), "r2": float(r2)}

    def task_fits(self, floor: float) -> tuple[np.ndarray, np.ndarray]:
        """(slope, R^2) of the line ln t(k) = a + slope k fitted on each task's own t(k), over
        the k of :meth:`fit_range` where that task's t(k) is finite and >= 1 (NaN for a task
        with fewer than three such k)."""
        ks = self.fit_range(floor)
        slopes, r2s = np.full(self.tasks.n_tasks, np.nan), np.full(self.tasks.n_tasks, np.nan)
        for task, steps in enumerate(self.steps_to_match[:, ks]):
            keep = np.isfinite(steps) & (steps >= 1)
            if keep.sum() < 3:
                continue
            logs = np.log(steps[keep])
            slope, intercept = np.polyfit(ks[keep], logs, 1)
            residuals = logs - (intercept + slope * ks[keep])
            slopes[task] = slope
            r2s[task] = 1 - residuals.var() / logs.var() if logs.var() > 0 else np.nan
        return slopes, r2s

    def slope_estimate(self, floor: float) -> claims.Estimate:
        """The per-task slope of ln t(k) (:meth:`task_fits`): mean over tasks +- 2 s.e."""
        slopes, _ = self.task_fits(floor)
        return claims.mean_with_error(slopes[np.isfinite(slopes)], what="tasks")

    def r2_estimate(self, floor: float) -> claims.Estimate:
        """The per-task R^2 of the line (:meth:`task_fits`): mean over tasks +- 2 s.e."""
        _, r2s = self.task_fits(floor)
        return claims.mean_with_error(r2s[np.isfinite(r2s)], what="tasks")


@dataclass
class Result:
    config: Config
    main: Matching
    comparison: Matching
    #: Newton with alpha = 2/||S S^T||_2 exactly as printed: errors (steps + 1, tasks).
    paper_alpha_errors: np.ndarray
    attention: Training
    #: Predictions on the tasks' queries: trained layer, one step of GD preconditioned by
    #: Gamma*, one step of plain GD with the best scalar step.
    attention_predictions: np.ndarray
    preconditioned_predictions: np.ndarray
    plain_predictions: np.ndarray
    #: The same layer trained from every random start (the first is ``attention``), and the
    #: predictions of each on the tasks' queries, shape (restarts, tasks).
    attention_restarts: tuple[Training, ...] = ()
    restart_predictions: np.ndarray | None = None

    # -- (a) the local phase -------------------------------------------------------------------
    def local_pairs(self, task: int) -> tuple[np.ndarray, np.ndarray]:
        """(r_k, r_{k+1}) over one task's local phase: ||I - M_k S||_2 <= local_residual and
        r_{k+1} above the error floor."""
        errors = self.main.newton_errors[:, task]
        residuals = self.main.newton.residual_norms[:, task]
        keep = (residuals[:-1] <= self.config.local_residual) & (errors[1:] >= self.config.error_floor)
        return errors[:-1][keep], errors[1:][keep]

    @cached_property
    def slowest_direction_errors(self) -> np.ndarray:
        """The exact-arithmetic prediction error that the eigendirection of the smallest
        eigenvalue of S carries alone, (1 - alpha lambda_min^2)^(2^k) |<u_min, w*>| ||u_min||_Sigma
        / ||w*||_Sigma: shape (newton_steps + 1, tasks). As k grows it becomes the whole error."""
        tasks, alpha = self.main.tasks, self.main.newton.alpha
        powers = 2.0 ** np.arange(self.config.newton_steps + 1)

        def slowest_only(values):
            factors = (1 - alpha[:, None] * values**2)[None] ** powers[:, None, None]
            factors[..., 1:] = 0.0  # numpy.linalg.eigh sorts the eigenvalues in ascending order
            return factors

        return spectral_errors(tasks.gram, tasks.weights, slowest_only, tasks.covariance)

    def dominance(self) -> np.ndarray:
        """The slowest eigendirection's error over the whole error, both in exact arithmetic,
        shape (newton_steps + 1, tasks): 1 once that direction carries the error (NaN where the
        exact error underflows to 0)."""
        theory = self.main.newton_theory
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(theory > 0, self.slowest_direction_errors / theory, np.nan)

    def in_quadratic_regime(self) -> np.ndarray:
        """Per step and task: the slowest eigendirection gives the exact-arithmetic error to
        within ``dominance_tolerance`` (shape (newton_steps + 1, tasks)). There each step squares
        that direction's residual, so r_{k+1} = C r_k^2 with one constant C per task. Decided from
        the eigen-decomposition of S, not from the measured errors that the order is fitted to."""
        return np.abs(self.dominance() - 1) <= self.config.dominance_tolerance

    def quadratic_pairs(self, task: int) -> tuple[np.ndarray, np.ndarray]:
        """(r_k, r_{k+1}) over the part of one task's local phase (:meth:`local_pairs`) that is
        in the quadratic regime (:meth:`in_quadratic_regime` at step k), r_{k+1} above the error
        floor."""
        errors = self.main.newton_errors[:, task]
        residuals = self.main.newton.residual_norms[:, task]
        keep = ((residuals[:-1] <= self.config.local_residual) & self.in_quadratic_regime()[:-1, task]
                & (errors[1:] >= self.config.error_floor))
        return errors[:-1][keep], errors[1:][keep]

    def quadratic_regime_start(self) -> np.ndarray:
        """Per task, the first step of the local phase in the quadratic regime (newton_steps + 1
        if none)."""
        regime = self.in_quadratic_regime() & (self.main.newton.residual_norms <= self.config.local_residual)
        return np.where(regime.any(axis=0), regime.argmax(axis=0), regime.shape[0])

    @staticmethod
    def _orders(pairs) -> np.ndarray:
        """The slope of ln r_{k+1} against ln r_k for each (r_k, r_{k+1}) set with >= 2 pairs."""
        return np.array([np.polyfit(np.log(before), np.log(after), 1)[0] if before.size >= 2 else np.nan
                         for before, after in pairs])

    def convergence_orders(self) -> np.ndarray:
        """Per task, the slope of ln r_{k+1} against ln r_k over its quadratic regime
        (:meth:`quadratic_pairs`): the order of convergence (2 for quadratic); NaN for a task with
        fewer than two such steps."""
        return self._orders(self.quadratic_pairs(task) for task in range(self.main.tasks.n_tasks))

    def order_estimate(self) -> claims.Estimate:
        """The order of convergence (:meth:`convergence_orders`): mean over the tasks that have
        one, +- 2 standard errors."""
        orders = self.convergence_orders()
        return claims.mean_with_error(orders[np.isfinite(orders)], what="tasks")

    def local_phase_orders(self) -> np.ndarray:
        """The earlier statistic: per task, the same slope fitted over the whole local phase
        (:meth:`local_pairs`), entry steps included, where several eigendirections still share
        the error."""
        return self._orders(self.local_pairs(task) for task in range(self.main.tasks.n_tasks))

    def local_phase_order_estimate(self) -> claims.Estimate:
        orders = self.local_phase_orders()
        return claims.mean_with_error(orders[np.isfinite(orders)], what="tasks")

    def squaring_constants(self) -> np.ndarray:
        """Per task, max over its quadratic regime of r_{k+1} / r_k^2 (the "constant" C)."""
        constants = []
        for task in range(self.main.tasks.n_tasks):
            before, after = self.quadratic_pairs(task)
            constants.append((after / before**2).max() if before.size else np.nan)
        return np.asarray(constants)

    def condition_numbers(self) -> np.ndarray:
        """kappa(S) = lambda_max / lambda_min of every task's S = X^T X."""
        values = np.linalg.eigvalsh(self.main.tasks.gram)
        return values[:, -1] / values[:, 0]

    def local_phase_formula(self) -> np.ndarray:
        """Per task, the first k with max_lambda |1 - alpha lambda^2|^(2^k) <= local_residual:
        log2(ln(1/local_residual) / -ln max|1 - alpha lambda^2|), the length of the initial
        phase. For alpha <= 1/lambda_max^2 the maximum is at lambda_min, and the length is
        about log2(1/(alpha lambda_min^2)) = O(log kappa(S))."""
        values = np.linalg.eigvalsh(self.main.tasks.gram)
        base = np.abs(1 - self.main.newton.alpha[:, None] * values**2).max(axis=1)
        return np.ceil(np.log2(np.log(1 / self.config.local_residual) / -np.log(base))).astype(int)

    def local_phase_start(self) -> np.ndarray:
        """Per task, the first k with ||I - M_k S||_2 <= local_residual."""
        residuals = self.main.newton.residual_norms
        return (residuals > self.config.local_residual).sum(axis=0)

    # -- (c) the paper's comparison ----------------------------------------------------------------
    def gd_steps_matching(self, k: int) -> float:
        """Median over tasks of the GD steps that reach Newton's error after k steps."""
        return float(np.median(self.main.steps_to_match[:, k]))

    def gd_steps_matching_estimate(self, k: int) -> claims.Estimate:
        """The GD steps that reach Newton's error after k steps: median and range over tasks."""
        return claims.median_with_range(self.main.steps_to_match[:, k], what="tasks")

    def newton_steps_to_reach_gd(self, t: int) -> np.ndarray:
        """Per task, the Newton steps needed to reach GD's error after t steps (inf if never)."""
        gd = self.main.gd
        row = int(np.flatnonzero(gd.recorded_steps == t)[0])
        below = self.main.newton_errors <= gd.recorded_errors[row][None]
        return np.where(below.any(axis=0), below.argmax(axis=0), np.inf)

    def newton_steps_matching(self, t: int) -> float:
        """Median over tasks of the Newton steps needed to reach GD's error after t steps."""
        return float(np.median(self.newton_steps_to_reach_gd(t)))

    def newton_steps_matching_estimate(self, t: int) -> claims.Estimate:
        """:meth:`newton_steps_to_reach_gd`: mean over tasks +- 2 standard errors."""
        return claims.mean_with_error(self.newton_steps_to_reach_gd(t), what="tasks")

    # -- the attention layer ---------------------------------------------------------------------
    @staticmethod
    def _relative(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.linalg.norm(a - b) / np.linalg.norm(b))

    def attention_vs_preconditioned(self) -> float:
        return self._relative(self.attention_predictions, self.preconditioned_predictions)

    def attention_difference_shown(self, resolution: float = 1e-4) -> float:
        """:meth:`attention_vs_preconditioned`, raised to ``resolution`` when below it: under
        ~1e-4 the value is set by where L-BFGS stopped, which differs between machines, so it
        is shown as the bound it satisfies."""
        return max(self.attention_vs_preconditioned(), resolution)

    def restart_differences(self) -> np.ndarray:
        """Per random start, the relative difference of the trained layer's predictions from
        one preconditioned GD step."""
        return np.array([self._relative(p, self.preconditioned_predictions)
                         for p in self.restart_predictions])

    def attention_difference_estimate(self, resolution: float = 1e-4) -> claims.Estimate:
        """:meth:`restart_differences`, each raised to ``resolution`` when below it (as
        :meth:`attention_difference_shown`): median and range over the random starts."""
        return claims.median_with_range(np.maximum(self.restart_differences(), resolution),
                                        what="random starts")

    def restart_preconditioner_errors(self) -> np.ndarray:
        """||v0 K - Gamma*||_F / ||Gamma*||_F of the layer trained from each random start."""
        gamma = optimal_preconditioner(self.main.tasks.covariance, self.config.n_examples)
        return np.array([self._relative(t.model.preconditioner, gamma) for t in self.attention_restarts])

    def attention_vs_plain(self) -> float:
        return self._relative(self.attention_predictions, self.plain_predictions)

    def preconditioner_error(self) -> float:
        """||v0 K - Gamma*||_F / ||Gamma*||_F for the trained layer."""
        gamma = optimal_preconditioner(self.main.tasks.covariance, self.config.n_examples)
        return self._relative(self.attention.model.preconditioner, gamma)

    def one_step_errors(self) -> dict:
        """Median prediction error after one preconditioned or one plain GD step (the trained
        layer's and the best scalar step's), comparable with the curves of both methods."""
        tasks, n = self.main.tasks, self.config.n_examples
        moment = tasks.moment / n
        gamma = optimal_preconditioner(tasks.covariance, n)
        step = best_scalar_step(tasks.covariance, n)
        return {"preconditioned": float(np.median(tasks.prediction_error(moment @ gamma.T))),
                "plain": float(np.median(tasks.prediction_error(step * moment)))}


def recorded_steps(config: Config) -> np.ndarray:
    """GD steps at which errors are kept for the figures: ~30 per decade, and the paper's 2000."""
    grid = np.rint(np.geomspace(1, config.gd_iterations, 30 * int(np.log10(config.gd_iterations) + 1)))
    return np.unique(np.concatenate([[0], grid.astype(np.int64), [config.paper_gd_steps]]))


def _matching(config: Config, spectrum: str) -> Matching:
    tasks = icl_tasks(config.n_tasks, config.dim, config.n_examples, config.kappa,
                      spectrum=spectrum, seed=config.seed)
    gram, moment = tasks.gram, tasks.moment
    newton = iterative_newton(gram, moment, steps=config.newton_steps, alpha=config.alpha)
    errors = tasks.prediction_error(newton.estimates)
    theory = newton_error_theory(gram, tasks.weights, steps=config.newton_steps, alpha=config.alpha,
                                 weight=tasks.covariance)
    gd = least_squares_gd(gram, moment, iterations=config.gd_iterations, error=tasks.prediction_error,
                          levels=errors.T, record_at=recorded_steps(config))
    times = recorded_steps(config)
    gd_theory = gd_error_theory(gram, tasks.weights, times=times, weight=tasks.covariance)
    return Matching(tasks, newton, errors, theory, gd, times, gd_theory)


def run(config: Config = Config(), progress: bool = False) -> Result:
    """All of the chapter's runs for ``config`` (on one BLAS thread)."""
    with single_blas_thread():
        bar = tqdm(total=4, desc="icl_newton", disable=not progress)
        main = _matching(config, "two_clusters")
        bar.update()
        comparison = _matching(config, config.comparison_spectrum)
        bar.update()
        tasks = main.tasks
        paper = iterative_newton(tasks.gram, tasks.moment, steps=config.newton_steps, alpha="paper")
        paper_errors = tasks.prediction_error(paper.estimates)
        bar.update()
        restarts = tuple(train_population(tasks.covariance, config.n_examples, seed=config.attention_seed + i)
                         for i in range(config.attention_restarts))
        inputs = (tasks.features, tasks.targets, tasks.queries)
        gamma = optimal_preconditioner(tasks.covariance, config.n_examples)
        step = best_scalar_step(tasks.covariance, config.n_examples)
        predictions = np.stack([t.model.predict(*inputs) for t in restarts])
        result = Result(config, main, comparison, paper_errors, restarts[0],
                        predictions[0], preconditioned_gd_step(*inputs, gamma),
                        preconditioned_gd_step(*inputs, step), restarts, predictions)
        bar.update()
        bar.close()
    return result


# -- figures -----------------------------------------------------------------------------------
ERROR_LABEL = r"prediction error $\|w - w^*\|_\Sigma / \|w^*\|_\Sigma$"


def _median_band(ax, x, runs, *, label, color):
    """Median over tasks (axis 1 of ``runs``) with the 10-90% band: errors span decades, so the
    median, not the mean, is the typical task."""
    runs = np.asarray(runs, dtype=float)
    # "nearest": no interpolation, so tasks that never get there (inf) stay inf, without NaNs.
    low, mid, high = np.quantile(runs, (plotting.BAND[0], 0.5, plotting.BAND[1]), axis=1, method="nearest")
    line = ax.plot(x, mid, color=color, lw=1.6, label=label)[0]
    ax.fill_between(x, low, high, color=color, alpha=0.2, lw=0)
    return line


def plot_errors(result: Result):
    """Error against steps: Newton (left, linear steps) and GD (right, log steps)."""
    fig, (left, right) = plotting.figure(ncols=2)
    main, config = result.main, result.config
    k = np.arange(config.newton_steps + 1)
    floor = 1e-16
    one_step = result.one_step_errors()["preconditioned"]
    _median_band(left, k, np.maximum(main.newton_errors, floor),
                 label=r"Iterative Newton, $\alpha = 1/\|SS^\top\|_F$", color="C0")
    plotting.theory(left, k, np.maximum(np.median(main.newton_theory, axis=1), floor),
                    label=r"exact arithmetic: $(1 - \alpha\lambda^2)^{2^k}$ per eigenvalue")
    left.plot(k, np.median(result.paper_alpha_errors, axis=1), color="C3", lw=1.4, ls=":",
              label=r"$\alpha = 2/\|SS^\top\|_2$ as printed: stalls")
    left.axhline(one_step, color="C2", lw=1.2, ls="-.", label="one layer of linear attention")
    left.set_ylim(1e-15, 3)
    left.legend(loc="lower left")
    plotting.axes_labels(left, xlabel="Newton iterations k", ylabel=ERROR_LABEL,
                         title="Newton: a slow start, then quadratic", logy=True)
    gd = main.gd
    t = np.maximum(gd.recorded_steps, 0.8)  # step 0 drawn just left of step 1 on the log axis
    _median_band(right, t, np.maximum(gd.recorded_errors, floor),
                 label=r"GD, step $2/(\lambda_{\min} + \lambda_{\max})$", color="C1")
    plotting.theory(right, np.maximum(main.theory_times, 0.8),
                    np.maximum(np.median(main.gd_theory, axis=1), floor),
                    label=r"exact arithmetic: $(1 - \eta\lambda)^t$ per eigenvalue")
    right.axhline(one_step, color="C2", lw=1.2, ls="-.", label="one layer of linear attention")
    right.set_ylim(1e-15, 3)
    right.legend(loc="lower left")
    plotting.axes_labels(right, xlabel="GD steps t", ylabel=ERROR_LABEL,
                         title="GD: linear convergence at rate (κ−1)/(κ+1)", logx=True, logy=True)
    return fig


def plot_matching(result: Result):
    """GD steps matching k Newton steps, on the paper's spectrum and on the comparison."""
    fig, (ax,) = plotting.figure(panel=(7.5, 4.5))
    floor = result.config.error_floor
    for matching, name, colour in ((result.main, "half κ = 100, half 1 (the paper's)", "C0"),
                                   (result.comparison, "spread evenly from 100 to 1", "C1")):
        fit = matching.exponential_fit(floor)
        ks = fit["ks"]
        shown = np.arange(ks.max() + 1)  # from k = 0 until Newton reaches the floor
        _median_band(ax, shown, np.maximum(matching.steps_to_match[:, shown].T, 1),
                     label=f"Σ eigenvalues {name}", color=colour)
        theory = matching.theory_steps_to_match()
        ax.plot(shown, np.maximum(theory[shown], 1), ls="--", color=colour, lw=1.1)
        ax.plot(ks, np.exp(fit["intercept"] + fit["slope"] * ks), ls=":", color=colour, lw=1.4,
                label=f"fit ln t = a + {fit['slope']:.2f} k, R² = {fit['r2']:.2f}")
    ax.plot([], [], ls="--", color="gray", label="exact arithmetic (both methods)")
    config = result.config
    ax.plot([config.paper_newton_steps], [config.paper_gd_steps], marker="*", ms=14, color="C3", ls="none",
            label="paper: ~21 Newton iterations vs ~2000 GD steps")
    ax.legend(loc="upper left")
    return plotting.axes_labels(ax, xlabel="Newton iterations k",
                                ylabel="GD steps t(k) reaching Newton's error (median, 10–90%)",
                                title="GD steps needed to match k Newton steps", logy=True).figure


def plot_local_phase(result: Result):
    """||I - M_k S||_2 against k with its formula, and r_{k+1} against r_k in the local phase."""
    fig, (left, right) = plotting.figure(ncols=2)
    main, config = result.main, result.config
    k = np.arange(config.newton_steps + 1)
    residuals = np.maximum(main.newton.residual_norms, 1e-16)
    _median_band(left, k, residuals, label=r"$\|I - M_k S\|_2$", color="C0")
    theory = newton_residual_theory(main.tasks.gram, config.alpha, config.newton_steps)
    plotting.theory(left, k, np.maximum(np.median(theory, axis=1), 1e-16),
                    label=r"$\max_\lambda |1 - \alpha\lambda^2|^{2^k}$")
    left.axhline(config.local_residual, color="gray", lw=1, ls=":", label="local phase below 1/2")
    left.set_ylim(1e-16, 3)
    left.legend(loc="lower left")
    plotting.axes_labels(left, xlabel="Newton iterations k", ylabel=r"residual $\|I - M_k S\|_2$",
                         title="The residual is squared at every step", logy=True)
    local = [np.concatenate(pairs) for pairs in zip(*(result.local_pairs(t) for t in range(main.tasks.n_tasks)))]
    before, after = [np.concatenate(pairs) for pairs in
                     zip(*(result.quadratic_pairs(t) for t in range(main.tasks.n_tasks)))]
    right.scatter(*local, s=6, alpha=0.3, color="C7", label="local-phase steps, all tasks")
    right.scatter(before, after, s=6, alpha=0.4, color="C0", label="of which in the quadratic regime (fitted)")
    grid = np.geomspace(local[0].min(), local[0].max(), 50)
    constant = np.nanmedian(result.squaring_constants())
    plotting.theory(right, grid, constant * grid**2, label=rf"$r_{{k+1}} = C r_k^2$, median $C$ = {constant:.0f}")
    right.plot(grid, grid**2, color="black", lw=1, ls="-.", label=r"$r_{k+1} = r_k^2$")
    right.plot(grid, grid, color="gray", lw=1, ls=":", label=r"$r_{k+1} = r_k$ (no progress)")
    right.legend(loc="upper left")
    plotting.axes_labels(right, xlabel=r"prediction error $r_k$", ylabel=r"prediction error $r_{k+1}$",
                         title="Each local step squares the error", logx=True, logy=True)
    return fig


def plot_attention(result: Result):
    """How far the trained layer's predictions are from one preconditioned and one plain GD
    step, and its preconditioner against Gamma*."""
    fig, (left, right) = plotting.figure(ncols=2)
    ours = result.attention_predictions
    scale = np.sqrt(np.mean(result.preconditioned_predictions**2))
    for other, label, colour in ((result.preconditioned_predictions, "one step preconditioned by Γ*", "C0"),
                                 (result.plain_predictions, "one plain step, best scalar η", "C1")):
        left.scatter(other, np.maximum(np.abs(ours - other) / scale, 1e-12), s=8, color=colour,
                     label=f"vs {label}")
    left.axhline(1e-2, color="black", ls="--", lw=1.2, label="tolerance 10⁻²")
    left.legend(loc="lower left")
    plotting.axes_labels(left, xlabel="the step's prediction (one per task)",
                         ylabel="|ŷ_layer − ŷ_step| / rms(ŷ_step)",
                         title="The layer computes the preconditioned step", logy=True)
    covariance, n = result.main.tasks.covariance, result.config.n_examples
    gamma = optimal_preconditioner(covariance, n)
    right.scatter(gamma.ravel(), result.attention.model.preconditioner.ravel(), s=10, color="C0",
                  label="trained layer: entries of v₀K")
    right.scatter(gamma.ravel(), (best_scalar_step(covariance, n) * np.eye(len(gamma))).ravel(), s=10,
                  color="C1", alpha=0.6, label="plain step: entries of ηI")
    span = [gamma.min(), gamma.max()]
    plotting.theory(right, span, span, label="Γ* = ((1+1/n)Σ + (tr Σ/n) I)⁻¹")
    right.legend(loc="upper left")
    plotting.axes_labels(right, xlabel="entry of Γ*", ylabel="entry of the preconditioner",
                         title="The layer learns Γ*, not a scalar step")
    return fig


def figures(result: Result) -> dict:
    return {
        "errors": plot_errors(result),
        "matching": plot_matching(result),
        "local_phase": plot_local_phase(result),
        "attention": plot_attention(result),
    }


def summary(result: Result) -> dict:
    """The chapter's figures as plain numbers (written by ``memopt run icl_newton``)."""
    config = result.config
    fits = {name: {k: v for k, v in m.exponential_fit(config.error_floor).items() if k != "ks"}
            for name, m in (("paper_spectrum", result.main), ("comparison_spectrum", result.comparison))}
    return {
        "median_convergence_order": float(np.nanmedian(result.convergence_orders())),
        "tasks_with_an_order": int(np.isfinite(result.convergence_orders()).sum()),
        "median_quadratic_regime_start": float(np.median(result.quadratic_regime_start())),
        "local_phase_order_estimate": [result.local_phase_order_estimate().low,
                                       result.local_phase_order_estimate().high],
        "median_local_phase_start": float(np.median(result.local_phase_start())),
        # None where the median task's GD does not reach Newton's error within its budget
        "median_gd_steps_matching_newton": [float(t) if np.isfinite(t) else None
                                            for t in result.main.median_steps_to_match()],
        "exponential_fits": fits,
        "gd_steps_matching_paper_newton_steps": result.gd_steps_matching(config.paper_newton_steps),
        "newton_steps_matching_paper_gd_steps": result.newton_steps_matching(config.paper_gd_steps),
        "paper_alpha_final_error": float(np.median(result.paper_alpha_errors[-1])),
        "order_estimate": [result.order_estimate().low, result.order_estimate().high],
        "attention": {
            "restarts_vs_preconditioned_step": result.restart_differences().tolist(),
            "vs_preconditioned_step": result.attention_vs_preconditioned(),
            "vs_plain_step": result.attention_vs_plain(),
            "preconditioner_error": result.preconditioner_error(),
            "population_loss": result.attention.loss,
        },
        "one_step_errors": result.one_step_errors(),
    }
