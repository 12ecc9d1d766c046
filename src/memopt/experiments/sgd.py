"""Chapter "SGD: the noise floor and the O(1/k) rate" (book/stochastic/sgd.md).

The lecture's problem (strongly convex binary logistic regression, 200 samples, 10 features,
mu = 1) is solved by gradient descent, by SGD with constant steps, by SGD with the decreasing
step alpha_k = (2k+1) / (2 mu (k+1)^2), and by mini-batch SGD. Every stochastic curve is
``runs`` independent runs from the same starting point, advanced together by the batched engine.

The quantities the chapter checks against the lecture's theorems (noise floors, the sigma^2 of
the theorems, their bounds) are computed here, from the recorded traces, so the notebook only
narrates, plots and states the claims.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from memopt import claims, plotting
from memopt.optim import DecreasingStep, Trace, gradient_descent, sgd
from memopt.problems import LogisticGLM, Optimum, planted_logistic
from memopt.perturb import inputs as perturbed

NAME = "sgd"
DESCRIPTION = "SGD on the lecture's logistic regression: noise floors, the 1/k rate, mini-batches"


@dataclass(frozen=True)
class Config:
    """Everything that determines the chapter's runs."""

    n_samples: int = 200
    n_features: int = 10
    mu: float = 1.0
    data_seed: int = 0
    #: The runs start at x0 = start * (1, ..., 1), far enough from x* to show the transient.
    start: float = 1.0
    runs: int = 64
    iterations: int = 20_000
    #: Constant steps, each a quarter of the one before (the floors are compared pairwise).
    constant_steps: tuple[float, ...] = (0.2, 0.05, 0.0125, 0.003125)
    batch_sizes: tuple[int, ...] = (1, 4, 16, 64)
    batch_step: float = 0.1
    #: A floor is the mean of E f(x_k) - f* over the last (1 - floor_window) of the iterations.
    floor_window: float = 0.5
    gd_iterations: int = 60

    def __post_init__(self):
        if self.mu <= 0:
            raise ValueError(f"mu must be > 0 for the PL theorems, got {self.mu}")
        steps = (*self.constant_steps, self.batch_step)
        if min(steps) <= 0 or max(steps) >= 1 / (2 * self.mu):
            raise ValueError(
                f"constant steps must lie in (0, 1/(2 mu)) = (0, {1 / (2 * self.mu):g}) as the "
                f"theorem requires, got {steps}"
            )
        if self.runs < 2 or self.iterations < 1 or min(self.batch_sizes) < 1:
            raise ValueError("need runs >= 2, iterations >= 1 and batch sizes >= 1")

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(range(self.runs))


SCALES = {"book": Config(), "paper": Config(runs=512, iterations=200_000)}


def ratio_of_means(numerator, denominator, what: str = "runs", errors: float = 2.0) -> claims.Estimate:
    """mean(numerator) / mean(denominator) over paired samples (run r of both), with ± ``errors``
    standard errors from the delta method, the covariance of the pairs included:
    var(A/B) ~ (A/B)^2 (var A / A^2 + var B / B^2 - 2 cov(A, B) / (A B)) for the means A, B."""
    a, b = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size < 2:
        raise ValueError(f"need two equal-length 1-d samples of at least 2 {what}, got {a.shape}, {b.shape}")
    mean_a, mean_b, count = a.mean(), b.mean(), a.size
    ratio = mean_a / mean_b
    covariance = np.cov(a, b) / count  # of the two means
    relative = covariance[0, 0] / mean_a**2 + covariance[1, 1] / mean_b**2 - 2 * covariance[0, 1] / (mean_a * mean_b)
    half = errors * abs(ratio) * float(np.sqrt(max(relative, 0.0)))
    return claims.Estimate(float(ratio), float(ratio - half), float(ratio + half),
                           f"ratio of means ± {errors:g} s.e. (delta method) over {count} {what}")


def max_of_means(samples, what: str = "runs", errors: float = 2.0) -> claims.Estimate:
    """The largest over columns t of the mean over rows of ``samples`` (runs x logged points):
    the maximum of a mean curve. Its interval is [max_t (m_t - e s_t), max_t (m_t + e s_t)],
    m_t and s_t the mean and standard error of column t: the whole curve lies below a threshold
    exactly when the upper end does, and some point lies above it when the lower end does."""
    values = np.asarray(samples, dtype=float)
    if values.ndim != 2 or values.shape[0] < 2:
        raise ValueError(f"need samples of shape (at least 2 {what}, points), got {values.shape}")
    mean = values.mean(axis=0)
    error = errors * values.std(axis=0, ddof=1) / np.sqrt(values.shape[0])
    return claims.Estimate(float(mean.max()), float((mean - error).max()), float((mean + error).max()),
                           f"max over k of the mean ± {errors:g} s.e. over {values.shape[0]} {what}")


@dataclass
class Result:
    config: Config
    problem: LogisticGLM
    optimum: Optimum
    x0: np.ndarray
    gd: Trace
    constant: dict[float, Trace] = field(default_factory=dict)
    decreasing: Trace | None = None
    batches: dict[int, Trace] = field(default_factory=dict)

    # -- constants ----------------------------------------------------------------------------
    @property
    def f_star(self) -> float:
        return self.optimum.value

    @property
    def L(self) -> float:
        return self.problem.L

    @property
    def mu(self) -> float:
        return self.problem.mu

    @property
    def initial_gap(self) -> float:
        return float(self.problem.value(self.x0)) - self.f_star

    # -- what the theorems bound ---------------------------------------------------------------
    def sigma_sq(self, trace: Trace, batch_size: int = 1, window_only: bool = False) -> float:
        """The theorems' sigma^2: the largest E ||g(x_k)||^2 (expectation over the B samples
        and over the runs) met at the logged iterates of this trace, over the whole run or,
        with ``window_only``, over the floor window only."""
        moments = trace.batch_second_moment(batch_size).mean(axis=0)
        if window_only:
            moments = moments[trace.window(self.config.floor_window)]
        return float(moments.max())

    def floor(self, trace: Trace) -> float:
        return trace.floor(self.f_star, self.config.floor_window)

    def run_floors(self, trace: Trace) -> np.ndarray:
        """Each run's own floor: its f(x_k) - f* averaged over the window (their mean is
        :meth:`floor`)."""
        return trace.suboptimality(self.f_star)[:, trace.window(self.config.floor_window)].mean(axis=1)

    def floor_estimate(self, trace: Trace) -> claims.Estimate:
        """The floor E f(x_k) - f* (window average) as the mean of the runs' floors ± 2 s.e.:
        the theorems bound the expectation, so its uncertainty is that of a mean over runs."""
        return claims.mean_with_error(self.run_floors(trace), what="runs")

    def floor_ratio(self, numerator: Trace, denominator: Trace) -> claims.Estimate:
        """floor(numerator) / floor(denominator), a ratio of means over runs with the same seeds."""
        return ratio_of_means(self.run_floors(numerator), self.run_floors(denominator), what="runs")

    def sigma_sq_error(self, trace: Trace, batch_size: int = 1) -> float:
        """The relative standard error of the window's sigma^2 (a mean over the runs at the
        logged k where it is largest): how much the bound itself moves with the seeds."""
        moments = trace.batch_second_moment(batch_size)[:, trace.window(self.config.floor_window)]
        worst = int(np.argmax(moments.mean(axis=0)))
        column = moments[:, worst]
        return float(column.std(ddof=1) / np.sqrt(column.size) / column.mean())

    def floor_bound(self, alpha: float, trace: Trace, batch_size: int = 1) -> float:
        """L sigma^2 alpha / (4 mu): the lecture's bound on the constant-step floor, with
        sigma^2 taken over the whole run as the theorem states it."""
        return self.L * self.sigma_sq(trace, batch_size) * alpha / (4 * self.mu)

    def window_bound(self, alpha: float, trace: Trace, batch_size: int = 1) -> float:
        """The same theorem applied to the runs restarted at the window's first iterate k0.

        For k >= k0 it gives E f(x_k) - f* <= (1 - 2 alpha mu)^(k - k0) (E f(x_k0) - f*)
        + L sigma0^2 alpha / (4 mu), where sigma0^2 bounds E ||g(x_k)||^2 for k >= k0 only:
        the noise at the floor, not the large gradients of the start. Returned averaged over
        the window's logged k, like the floor it bounds.
        """
        window = trace.window(self.config.floor_window)
        k = trace.iterations[window]
        gap0 = trace.expected_suboptimality(self.f_star)[window][0]
        decay = (1 - 2 * alpha * self.mu) ** (k - k[0]) * gap0
        sigma0 = self.sigma_sq(trace, batch_size, window_only=True)
        return float(decay.mean()) + self.L * sigma0 * alpha / (4 * self.mu)

    def transient_bound(self, alpha: float, trace: Trace, batch_size: int = 1) -> np.ndarray:
        """(1 - 2 alpha mu)^k (f(x0) - f*) + L sigma^2 alpha / (4 mu) at the logged k."""
        decay = (1 - 2 * alpha * self.mu) ** trace.iterations * self.initial_gap
        return decay + self.floor_bound(alpha, trace, batch_size)

    def decreasing_bound(self) -> float:
        """L sigma^2 / (2 mu^2): the bound on k (E f(x_k) - f*) for the decreasing step."""
        return self.L * self.sigma_sq(self.decreasing) / (2 * self.mu**2)

    def decreasing_scaled_gap(self) -> tuple[np.ndarray, np.ndarray]:
        """(k, k (E f(x_k) - f*)) at the logged k >= 1 of the decreasing-step runs."""
        k = self.decreasing.iterations
        gap = self.decreasing.expected_suboptimality(self.f_star)
        return k[k >= 1], (k * gap)[k >= 1]

    def decreasing_scaled_gap_estimate(self) -> claims.Estimate:
        """max over logged k >= 1 of k (E f(x_k) - f*), E the mean over runs, with its interval
        (:func:`max_of_means`)."""
        k = self.decreasing.iterations
        scaled = k * self.decreasing.suboptimality(self.f_star)
        return max_of_means(scaled[:, k >= 1], what="runs")

    def step_pairs(self) -> list[tuple[float, float]]:
        """The (alpha, alpha / 4) pairs among the constant steps."""
        steps = self.config.constant_steps
        return [(a, b) for a in steps for b in steps if np.isclose(a, 4 * b)]


def run(config: Config = Config(), progress: bool = False) -> Result:
    """All of the chapter's runs for ``config``."""
    problem = planted_logistic(config.n_samples, config.n_features, config.mu, seed=config.data_seed)
    x0 = perturbed(np.full(config.n_features, config.start))
    result = Result(config, problem, problem.minimize(), x0,
                    gradient_descent(problem, x0, 1 / problem.L, iterations=config.gd_iterations))
    tasks = [("constant", a, 1) for a in config.constant_steps]
    tasks += [("decreasing", None, 1)] + [("batch", config.batch_step, b) for b in config.batch_sizes]
    for kind, alpha, batch in tqdm(tasks, desc="SGD runs", disable=not progress):
        step = DecreasingStep(config.mu) if kind == "decreasing" else alpha
        trace = sgd(problem, x0, step, iterations=config.iterations, seeds=config.seeds,
                    batch_size=batch, record_second_moment=True)
        if kind == "constant":
            result.constant[alpha] = trace
        elif kind == "decreasing":
            result.decreasing = trace
        else:
            result.batches[batch] = trace
    return result


# -- figures -----------------------------------------------------------------------------------
GAP_LABEL = "f(x_k) − f*  (mean over runs, 10–90% band)"


def plot_constant_steps(result: Result):
    """E f(x_k) - f* against effective passes for GD and constant-step SGD, with the bounds."""
    fig, (ax,) = plotting.figure(panel=(7.5, 4.5))
    n = result.problem.n_samples
    colours = plotting.palette(len(result.constant))
    for colour, (alpha, trace) in zip(colours, result.constant.items()):
        keep = trace.iterations >= 1
        passes = trace.passes(n)[keep]
        plotting.mean_band(ax, passes, trace.suboptimality(result.f_star)[:, keep],
                           label=f"SGD, α = {alpha:g}", color=colour)
        plotting.theory(ax, passes, result.transient_bound(alpha, trace)[keep], label=None, color=colour)
        window = trace.passes(n)[trace.window(result.config.floor_window)]
        ax.hlines(result.window_bound(alpha, trace), window[0], window[-1], colors=[colour], ls=":")
    gd = result.gd
    # Below ~1e-13 f(x) - f* is float64 rounding of f, not progress.
    keep = (gd.iterations >= 1) & (gd.suboptimality(result.f_star)[0] > 1e-13)
    ax.plot(gd.passes(n)[keep], gd.suboptimality(result.f_star)[0, keep], color="black",
            lw=1.6, label="GD, α = 1/L")
    ax.plot([], [], ls="--", color="gray", label="bound (1−2αμ)^k Δ₀ + Lσ²α/(4μ)")
    ax.plot([], [], ls=":", color="gray", label="same bound from the window's start")
    ax.set_ylim(1e-13, None)
    ax.legend(loc="lower left", ncols=2)
    return plotting.axes_labels(
        ax, xlabel="effective passes over the data (sample gradients / n)", ylabel=GAP_LABEL,
        title="Constant steps stall at a floor proportional to α; GD does not", logx=True, logy=True,
    ).figure


def plot_decreasing_step(result: Result):
    """The decreasing step's 1/k rate and the lecture's bound on k (E f(x_k) - f*)."""
    fig, (left, right) = plotting.figure(ncols=2)
    trace = result.decreasing
    keep = trace.iterations >= 1
    k = trace.iterations[keep]
    plotting.mean_band(left, k, trace.suboptimality(result.f_star)[:, keep],
                       label="SGD, α_k = (2k+1)/(2μ(k+1)²)", color="C0")
    plotting.theory(left, k, result.decreasing_bound() / k, label="bound Lσ²/(2μ²k)")
    alpha = result.config.constant_steps[1]
    constant = result.constant[alpha]
    plotting.mean_band(left, constant.iterations[constant.iterations >= 1],
                       constant.suboptimality(result.f_star)[:, constant.iterations >= 1],
                       label=f"SGD, constant α = {alpha:g}", color="C3")
    left.legend(loc="lower left")
    plotting.axes_labels(left, xlabel="iteration k (steps)", ylabel=GAP_LABEL,
                         title="Decreasing steps converge at rate 1/k", logx=True, logy=True)
    ks, scaled = result.decreasing_scaled_gap()
    right.plot(ks, scaled, color="C0", lw=1.6, label="k · (E f(x_k) − f*)")
    right.axhline(result.decreasing_bound(), ls="--", color="black", lw=1.2, label="bound Lσ²/(2μ²)")
    right.set_ylim(0, 1.15 * result.decreasing_bound())
    right.legend(loc="lower right")
    plotting.axes_labels(right, xlabel="iteration k (steps)", ylabel="k · (E f(x_k) − f*)",
                         title="The scaled gap stays under the bound", logx=True)
    return fig


def plot_batches(result: Result):
    """Mini-batch SGD at one step: curves per batch size, and the floors against B."""
    fig, (left, right) = plotting.figure(ncols=2)
    alpha = result.config.batch_step
    sizes = list(result.batches)
    colours = plotting.palette(len(sizes), "plasma")
    for colour, size in zip(colours, sizes):
        trace = result.batches[size]
        keep = trace.iterations >= 1
        plotting.mean_band(left, trace.iterations[keep], trace.suboptimality(result.f_star)[:, keep],
                           label=f"B = {size}", color=colour)
        window = trace.iterations[trace.window(result.config.floor_window)]
        left.hlines(result.window_bound(alpha, trace, size), window[0], window[-1], colors=[colour], ls=":")
    left.plot([], [], ls=":", color="gray", label="bound Lσ_B²α/(4μ) from the window's start")
    left.legend(loc="lower left", ncols=2)
    plotting.axes_labels(left, xlabel="iteration k (steps)", ylabel=GAP_LABEL,
                         title=f"Mini-batches at α = {alpha:g}", logx=True, logy=True)
    floors = np.array([result.floor(result.batches[b]) for b in sizes])
    right.plot(sizes, floors, "o-", color="C0", label="measured floor")
    plotting.theory(right, sizes, floors[0] * sizes[0] / np.asarray(sizes, float),
                    label="floor(B=1) / B")
    right.legend(loc="lower left")
    plotting.axes_labels(right, xlabel="batch size B (samples per step)",
                         ylabel="noise floor  E f − f*", title="The floor falls like 1/B",
                         logx=True, logy=True)
    return fig


def figures(result: Result) -> dict:
    return {
        "constant_steps": plot_constant_steps(result),
        "decreasing_step": plot_decreasing_step(result),
        "batches": plot_batches(result),
    }


def summary(result: Result) -> dict:
    """The chapter's figures as plain numbers (written by ``memopt run sgd``)."""
    return {
        "L": result.L,
        "mu": result.mu,
        "f_star": result.f_star,
        "initial_gap": result.initial_gap,
        "constant_step_floors": {
            f"{a:g}": {"floor": result.floor(t), "bound": result.floor_bound(a, t),
                       "window_bound": result.window_bound(a, t)}
            for a, t in result.constant.items()
        },
        "decreasing_step": {
            "max_k_times_gap": float(result.decreasing_scaled_gap()[1].max()),
            "bound": result.decreasing_bound(),
        },
        "batch_floors": {
            str(b): {"floor": result.floor(t), "window_bound": result.window_bound(result.config.batch_step, t, b)}
            for b, t in result.batches.items()
        },
    }
