"""Chapter "SGD: the noise floor and the O(1/k) rate" (book/stochastic/sgd.md).

The lecture's problem (strongly convex binary logistic regression, 200 samples, 10 features,
mu = 1) is solved by gradient descent, by SGD with constant steps, by SGD with the decreasing
step alpha_k = (2k+1) / (2 mu (k+1)^2), by mini-batch SGD, by SGD with heavy-ball and Nesterov
momentum at constant steps, and by SGD with a geometrically growing batch
|B_k| = ceil(B_0 rho^(-k)). Every stochastic curve is ``runs`` independent runs from the same
starting point, advanced together by the batched engine; the momentum runs use the seeds of the
plain SGD runs they are compared with. The lecture's variance-reduction principle, the control
variate Z_alpha = alpha (X - Y) + E[Y], is simulated on one coordinate of the sample gradients
(:class:`ControlVariate`).

The quantities the chapter checks against the lecture's theorems (noise floors, the sigma^2 of
the theorems, their bounds, floor ratios, fitted contractions, sample costs, the control
variate's moments) are computed here, from the recorded traces, so the notebook only narrates,
plots and states the claims.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from scipy.linalg import solve_discrete_lyapunov

from memopt import claims, plotting
from memopt.optim import DecreasingStep, Trace, gradient_descent, sgd
from memopt.optim.stochastic import GrowingBatch, sgd_growing_batch
from memopt.problems import LogisticGLM, Optimum, planted_logistic
from memopt.perturb import inputs as perturbed

NAME = "sgd"
DESCRIPTION = ("SGD on the lecture's logistic regression: noise floors, the 1/k rate, mini-batches, "
               "momentum, a control variate, growing batches")


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
    #: Momentum runs: heavy ball and Nesterov at each beta with the step
    #: alpha = momentum_effective_step * (1 - beta), compared with plain SGD at
    #: alpha / (1 - beta) = momentum_effective_step (one of the constant steps, same seeds).
    momentum_effective_step: float = 0.05
    momentum_betas: tuple[float, ...] = (0.5, 0.9)
    #: Control variate: X = coordinate ``cv_coordinate`` of grad f_i(x) at
    #: x = x0 + cv_position (x* - x0), Y = the same sample's at the snapshot x0; i uniform.
    cv_coordinate: int = 0
    cv_position: float = 0.75
    cv_draws: int = 200_000
    cv_seed: int = 2024
    #: Growing batches |B_k| = ceil(growing_initial rho^(-k)) at the constant step growing_step,
    #: each run until the batch reaches growing_max_batch.
    growing_step: float = 0.25
    growing_rhos: tuple[float, ...] = (0.9, 0.8)
    growing_initial: float = 1.0
    growing_max_batch: int = 40_000
    #: Gaps at which the sample costs of the methods are compared.
    gap_targets: tuple[float, ...] = (1e-2, 1e-3, 1e-4)

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
        if self.momentum_effective_step not in self.constant_steps:
            raise ValueError(
                f"momentum_effective_step must be one of the constant steps {self.constant_steps} "
                f"(its plain SGD run is the reference), got {self.momentum_effective_step}"
            )
        if not all(0 < b < 1 for b in self.momentum_betas):
            raise ValueError(f"momentum betas must lie in (0, 1), got {self.momentum_betas}")
        if not all(0 < r < 1 for r in self.growing_rhos) or self.growing_initial < 1:
            raise ValueError(
                f"growing batches need rho in (0, 1) and B_0 >= 1, got rhos {self.growing_rhos}, "
                f"B_0 = {self.growing_initial}"
            )
        if not 0 < self.growing_step <= 1 / self.mu:
            raise ValueError(f"growing_step must lie in (0, 1/mu] as the theorem requires, got {self.growing_step}")
        if self.cv_draws < 2 or not 0 <= self.cv_coordinate < self.n_features:
            raise ValueError("need cv_draws >= 2 and 0 <= cv_coordinate < n_features")

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(range(self.runs))

    def growing_iterations(self, rho: float) -> int:
        """Steps until |B_k| reaches growing_max_batch: the smallest K with B_0 rho^(-K) >= it."""
        return max(1, int(np.ceil(np.log(self.growing_max_batch / self.growing_initial) / np.log(1 / rho))))


SCALES = {"book": Config(), "paper": Config(runs=512, iterations=200_000)}


def log_slope(x, y) -> float:
    """The slope of the least-squares line through (x, ln y)."""
    return float(np.polyfit(np.asarray(x, dtype=float), np.log(np.asarray(y, dtype=float)), 1)[0])


def quadratic_floor(hessian, covariance, alpha: float, beta: float = 0.0, nesterov: bool = False) -> float:
    """The stationary E f - f* = tr(H P) / 2 of SGD (beta = 0), heavy ball or Nesterov momentum
    (v_k = beta v_{k-1} + g_k, x_k = x_{k-1} - alpha v_k or - alpha (g_k + beta v_k)) on the
    quadratic model f* + e^T H e / 2 with gradient noise of covariance ``covariance``: P is the
    iterate block of the solution of the discrete Lyapunov equation of the linear recursion
    driven by the noise. Exact for that model at every alpha; to first order in alpha it is
    alpha tr(Sigma) / (4 (1 - beta)), the same for all three methods at equal alpha / (1 - beta).
    """
    h = np.asarray(hessian, dtype=float)
    sigma = np.asarray(covariance, dtype=float)
    p = h.shape[0]
    eye = np.eye(p)
    if beta == 0:
        transition, noise = eye - alpha * h, -alpha * eye
    else:
        # state (e, v): v' = beta v + H e + xi, then e' = e - alpha v' (heavy ball) or
        # e' = e - alpha (H e + xi + beta v') = e - alpha ((1 + beta)(H e + xi) + beta^2 v)
        gain = 1 + beta if nesterov else 1.0
        velocity = beta**2 if nesterov else beta
        transition = np.block([[eye - alpha * gain * h, -alpha * velocity * eye], [h, beta * eye]])
        noise = np.vstack([-alpha * gain * eye, eye])
    stationary = solve_discrete_lyapunov(transition, noise @ sigma @ noise.T)
    return float(0.5 * np.trace(h @ stationary[:p, :p]))


@dataclass
class ControlVariate:
    """The lecture's principle Z_alpha = alpha (X - Y) + E[Y] on the chapter's problem.

    For a sample i drawn uniformly, X = [grad f_i(x)]_j at the current point x and
    Y = [grad f_i(x~)]_j at a snapshot x~ (SVRG's pair, one coordinate j); E[Y] = [grad f(x~)]_j
    is known exactly (a full gradient). Over the n samples the moments of X and Y are exact
    finite averages, so the closed forms below are exact; ``draws`` are the sampled i.
    """

    x_values: np.ndarray
    y_values: np.ndarray
    mean_y: float
    mean_x: float
    draws: np.ndarray

    @property
    def var_x(self) -> float:
        return float(self.x_values.var())

    @property
    def var_y(self) -> float:
        return float(self.y_values.var())

    @property
    def cov(self) -> float:
        return float(((self.x_values - self.x_values.mean()) * (self.y_values - self.y_values.mean())).mean())

    @property
    def correlation(self) -> float:
        return self.cov / float(np.sqrt(self.var_x * self.var_y))

    # -- the lecture's closed forms ---------------------------------------------------------------
    def closed_mean(self, alpha):
        """E[Z_alpha] = alpha E[X] + (1 - alpha) E[Y]."""
        return alpha * self.mean_x + (1 - alpha) * self.mean_y

    def closed_variance(self, alpha):
        """var(Z_alpha) = alpha^2 (var X + var Y - 2 cov(X, Y))."""
        return np.square(alpha) * (self.var_x + self.var_y - 2 * self.cov)

    def closed_mse(self, alpha):
        """E (Z_alpha - E X)^2 = var(Z_alpha) + ((1 - alpha)(E Y - E X))^2."""
        return self.closed_variance(alpha) + np.square(self.closed_mean(alpha) - self.mean_x)

    @property
    def mse_optimal_alpha(self) -> float:
        """argmin of the MSE: d^2 / (var(X - Y) + d^2), d = E X - E Y."""
        d2 = (self.mean_x - self.mean_y) ** 2
        return float(d2 / (self.closed_variance(1.0) + d2))

    @property
    def classical_coefficient(self) -> float:
        """c* = cov(X, Y) / var(Y), the minimizer of var(X - c (Y - E Y)) (unbiased for every c)."""
        return self.cov / self.var_y

    @property
    def classical_variance(self) -> float:
        """var(X - c* (Y - E Y)) = var X (1 - corr(X, Y)^2)."""
        return self.var_x * (1 - self.correlation**2)

    # -- the simulation -------------------------------------------------------------------------
    def estimator(self, alpha: float) -> np.ndarray:
        """Z_alpha at every draw."""
        return alpha * (self.x_values[self.draws] - self.y_values[self.draws]) + self.mean_y

    def classical(self, c: float) -> np.ndarray:
        """X - c (Y - E Y) at every draw."""
        return self.x_values[self.draws] - c * (self.y_values[self.draws] - self.mean_y)

    def variance_ratio(self, samples, closed: float) -> claims.Estimate:
        """The sample variance of ``samples`` over ``closed`` (its closed form), ± 2 s.e."""
        v = claims.variance_with_error(samples)
        return claims.Estimate(v.value / closed, v.low / closed, v.high / closed,
                               v.method + ", over the closed form")

    def mse_minimizer(self) -> claims.Estimate:
        """The alpha minimizing the draws' mean of (Z_alpha - E X)^2: with D = X - Y and
        d = E X - E Y that mean is alpha^2 mean(D^2) - 2 alpha d mean(D) + d^2, minimal at
        d mean(D) / mean(D^2), a ratio of means (delta-method interval)."""
        diff = self.x_values[self.draws] - self.y_values[self.draws]
        d = self.mean_x - self.mean_y
        return claims.ratio_of_means(d * diff, diff * diff, what="draws")


def control_variate(problem, x, snapshot, coordinate: int, draws: int, seed: int) -> ControlVariate:
    """:class:`ControlVariate` for the pair (x, snapshot) with ``draws`` uniform samples."""
    every = np.arange(problem.n_samples)
    return ControlVariate(
        x_values=np.asarray(problem.sample_gradients(x, every)[:, coordinate], dtype=float),
        y_values=np.asarray(problem.sample_gradients(snapshot, every)[:, coordinate], dtype=float),
        mean_y=float(problem.gradient(snapshot)[coordinate]),
        mean_x=float(problem.gradient(x)[coordinate]),
        draws=np.random.default_rng(seed).integers(0, problem.n_samples, size=draws),
    )


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
    #: (variant, beta) -> runs, variant "heavy ball" or "Nesterov"
    momentum: dict[tuple[str, float], Trace] = field(default_factory=dict)
    #: rho -> runs with |B_k| = ceil(B_0 rho^(-k)), logged at every step
    growing: dict[float, Trace] = field(default_factory=dict)
    control: ControlVariate | None = None

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
        return claims.ratio_of_means(self.run_floors(numerator), self.run_floors(denominator), what="runs")

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
        (:func:`memopt.claims.max_of_means`)."""
        k = self.decreasing.iterations
        scaled = k * self.decreasing.suboptimality(self.f_star)
        return claims.max_of_means(scaled[:, k >= 1], what="runs")

    def step_pairs(self) -> list[tuple[float, float]]:
        """The (alpha, alpha / 4) pairs among the constant steps."""
        steps = self.config.constant_steps
        return [(a, b) for a in steps for b in steps if np.isclose(a, 4 * b)]

    # -- momentum ---------------------------------------------------------------------------------
    @property
    def momentum_reference(self) -> Trace:
        """Plain SGD at the effective step alpha / (1 - beta) of every momentum run (same seeds)."""
        return self.constant[self.config.momentum_effective_step]

    def momentum_step(self, beta: float) -> float:
        """The momentum runs' step alpha = effective step * (1 - beta)."""
        return self.config.momentum_effective_step * (1 - beta)

    def momentum_floor_ratio(self, variant: str, beta: float) -> claims.Estimate:
        """floor(momentum beta, step alpha) / floor(SGD, step alpha / (1 - beta)), runs paired."""
        return self.floor_ratio(self.momentum[(variant, beta)], self.momentum_reference)

    def floor_persistence(self, trace: Trace) -> claims.Estimate:
        """Mean f(x_k) - f* over the last quarter of the run divided by that over the quarter
        before (k in [K/2, 3K/4)), runs paired: about 1 on a floor, about ln(4/3) / ln(3/2) = 0.71
        for a 1/k decay, far below for a linear one."""
        k, last = trace.iterations, trace.iterations[-1]
        gaps = trace.suboptimality(self.f_star)
        late = gaps[:, k >= 0.75 * last].mean(axis=1)
        early = gaps[:, (k >= 0.5 * last) & (k < 0.75 * last)].mean(axis=1)
        return claims.ratio_of_means(late, early, what="runs")

    def noise_covariance(self) -> np.ndarray:
        """The covariance of grad f_i(x*) over a uniform i (its mean grad f(x*) is ~0)."""
        g = self.problem.sample_gradients(self.optimum.x, np.arange(self.problem.n_samples))
        g = g - g.mean(axis=0)
        return np.asarray(g.T @ g / self.problem.n_samples)

    def quadratic_floor(self, alpha: float, beta: float = 0.0, nesterov: bool = False) -> float:
        """:func:`quadratic_floor` with the Hessian and gradient noise at x*."""
        return quadratic_floor(np.asarray(self.problem.hessian(self.optimum.x)), self.noise_covariance(),
                               alpha, beta, nesterov)

    def quadratic_floor_ratio(self, variant: str, beta: float) -> float:
        """The quadratic model's floor(momentum) / floor(SGD at alpha / (1 - beta))."""
        alpha = self.momentum_step(beta)
        return (self.quadratic_floor(alpha, beta, variant == "Nesterov")
                / self.quadratic_floor(self.config.momentum_effective_step))

    def momentum_band(self) -> tuple[float, float]:
        """[1 - 2 alpha' L, 1 + 2 alpha' L], alpha' the effective step: the first-order argument
        predicts a ratio of floors 1 and drops terms of relative size alpha' lambda, lambda <= L
        a curvature; the band allows twice the largest."""
        width = 2 * self.config.momentum_effective_step * self.L
        return 1 - width, 1 + width

    # -- growing batches ----------------------------------------------------------------------------
    def growing_schedule(self, rho: float) -> GrowingBatch:
        return GrowingBatch(self.config.growing_initial, rho)

    def growing_variance_constant(self, rho: float) -> float:
        """The theorem's M: the largest E_i ||grad f_i(x_k) - grad f(x_k)||^2 (mean over runs) met
        along the run, so that the batch gradient's variance is at most M / |B_k|."""
        trace = self.growing[rho]
        return float((trace.second_moments - trace.gradient_norms_sq).mean(axis=0).max())

    def growing_theory(self, rho: float) -> tuple[float, float]:
        """(omega, zeta) of Bottou, Curtis & Nocedal (2018), Theorem 5.3, in this chapter's
        notation (their c is mu; their mu, M_G are 1 for unbiased gradients with variance
        M / |B_k|; tau = 1 / rho): E f(x_k) - f* <= omega zeta^k with
        omega = max(alpha L M / (mu B_0), f(x_0) - f*) and zeta = max(1 - alpha mu / 2, rho),
        for a step alpha <= min(1/L, 1/mu)."""
        alpha, b0 = self.config.growing_step, self.config.growing_initial
        omega = max(alpha * self.L * self.growing_variance_constant(rho) / (self.mu * b0), self.initial_gap)
        return omega, max(1 - alpha * self.mu / 2, rho)

    def growing_bound_estimate(self, rho: float) -> claims.Estimate:
        """max over logged k >= 1 of (E f(x_k) - f*) / (omega zeta^k), E the mean over runs
        (:func:`memopt.claims.max_of_means`); at k = 0 the ratio is at most 1 by the definition of omega."""
        trace = self.growing[rho]
        omega, zeta = self.growing_theory(rho)
        k = trace.iterations
        scaled = trace.suboptimality(self.f_star) / (omega * zeta**k)
        return claims.max_of_means(scaled[:, k >= 1], what="runs")

    def growing_fit_range(self, rho: float) -> np.ndarray:
        """Logged k in the last two thirds of the run, where the batch is already large."""
        trace = self.growing[rho]
        return trace.iterations >= trace.iterations[-1] / 3

    def growing_contraction(self, rho: float) -> claims.Estimate:
        """exp(slope of ln E (f(x_k) - f*) against k) over :meth:`growing_fit_range`: the fitted
        per-step contraction, with a jackknife interval over the runs."""
        trace = self.growing[rho]
        keep = self.growing_fit_range(rho)
        k = trace.iterations[keep]
        fitted = claims.jackknife(lambda mean: log_slope(k, mean), trace.suboptimality(self.f_star)[:, keep])
        return claims.Estimate(float(np.exp(fitted.value)), float(np.exp(fitted.low)), float(np.exp(fitted.high)),
                               fitted.method + ", of the fitted log-slope")

    def growing_sample_exponent(self, rho: float) -> claims.Estimate:
        """s in samples ~ (1/gap)^s: minus the slope of ln E (f(x_k) - f*) against ln(samples),
        fitted over :meth:`growing_fit_range` (jackknife interval); s = 1 is O(1/epsilon)."""
        trace = self.growing[rho]
        keep = self.growing_fit_range(rho)
        log_samples = np.log(trace.samples[keep])
        fitted = claims.jackknife(lambda mean: -log_slope(log_samples, mean), trace.suboptimality(self.f_star)[:, keep])
        return fitted

    def samples_to_gap(self, trace: Trace, gap: float) -> int | None:
        """Sample gradients per run spent when the mean f(x_k) - f* first falls to ``gap`` at a
        logged k (None when it never does)."""
        below = np.flatnonzero(trace.expected_suboptimality(self.f_star) <= gap)
        return int(trace.samples[below[0]]) if below.size else None

    def theory_samples_to_gap(self, rho: float, gap: float) -> int:
        """Samples sum_{k < K} |B_k| until the theorem's bound omega zeta^K falls to ``gap``."""
        omega, zeta = self.growing_theory(rho)
        steps = max(0, int(np.ceil(np.log(omega / gap) / np.log(1 / zeta))))
        return self.growing_schedule(rho).total(steps)

    def snapshot_sweep(self, scales) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """var(Z_1) / var(X) for snapshots x~_s = x + s (x0 - x) (s = 1: the chapter's snapshot
        x0), closed form and measured on the same draws: (s, closed, measured)."""
        cfg, control = self.config, self.control
        current = self.x0 + cfg.cv_position * (self.optimum.x - self.x0)
        closed, measured = [], []
        for s in scales:
            cv = control_variate(self.problem, current, current + s * (self.x0 - current), cfg.cv_coordinate,
                                 cfg.cv_draws, cfg.cv_seed)
            closed.append(float(cv.closed_variance(1.0)) / cv.var_x)
            measured.append(float(cv.estimator(1.0).var(ddof=1)) / cv.var_x)
        return np.asarray(scales, dtype=float), np.array(closed), np.array(measured)

    def sample_costs(self) -> dict[str, dict[float, int | None]]:
        """Sample gradients per run to reach each of the config's gap targets, per method."""
        rows = {f"growing batch, ρ = {rho:g}": trace for rho, trace in self.growing.items()}
        rows["decreasing step"] = self.decreasing
        rows.update({f"constant α = {a:g}": trace for a, trace in self.constant.items()})
        return {name: {gap: self.samples_to_gap(trace, gap) for gap in self.config.gap_targets}
                for name, trace in rows.items()}


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
    variants = [(name, beta) for beta in config.momentum_betas for name in ("heavy ball", "Nesterov")]
    for name, beta in tqdm(variants, desc="momentum runs", disable=not progress):
        result.momentum[(name, beta)] = sgd(
            problem, x0, result.momentum_step(beta), iterations=config.iterations, seeds=config.seeds,
            momentum=beta, nesterov=name == "Nesterov")
    if config.growing_step > 1 / result.L:
        raise ValueError(f"growing_step must be at most 1/L = {1 / result.L:.3g} (Theorem 5.3), "
                         f"got {config.growing_step}")
    for rho in config.growing_rhos:
        steps = config.growing_iterations(rho)
        result.growing[rho] = sgd_growing_batch(
            problem, x0, config.growing_step, result.growing_schedule(rho), iterations=steps,
            seeds=config.seeds, log_at=np.arange(steps + 1), record_second_moment=True)
    current = x0 + config.cv_position * (result.optimum.x - x0)
    result.control = control_variate(problem, current, x0, config.cv_coordinate, config.cv_draws,
                                     config.cv_seed)
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


MOMENTUM_STYLES = {"heavy ball": "-", "Nesterov": "--"}


def plot_momentum(result: Result):
    """Momentum runs beside plain SGD at the effective step, and the ratios of their floors."""
    fig, (left, right) = plotting.figure(ncols=2)
    reference = result.momentum_reference
    alpha_eff = result.config.momentum_effective_step
    keep = reference.iterations >= 1
    plotting.mean_band(left, reference.iterations[keep], reference.suboptimality(result.f_star)[:, keep],
                       label=f"SGD, α = {alpha_eff:g}", color="black")
    betas = result.config.momentum_betas
    colours = dict(zip(betas, plotting.palette(len(betas), "plasma")))
    for (name, beta), trace in result.momentum.items():
        mean = trace.expected_suboptimality(result.f_star)
        left.plot(trace.iterations[keep], mean[keep], ls=MOMENTUM_STYLES[name], color=colours[beta], lw=1.4,
                  label=f"{name}, β = {beta:g}, α = {result.momentum_step(beta):.3g}")
    left.set_ylim(3e-4, None)  # room for the legend under the floor
    left.legend(loc="lower left", fontsize="small")
    plotting.axes_labels(left, xlabel="iteration k (steps)", ylabel=GAP_LABEL,
                         title=f"Momentum at α = {alpha_eff:g}(1 − β) stalls where SGD at {alpha_eff:g} does",
                         logx=True, logy=True)
    names = list(result.momentum)
    positions = np.arange(len(names))
    ratios = [result.momentum_floor_ratio(*key) for key in names]
    values = np.array([r.value for r in ratios])
    errors = np.array([[r.value - r.low for r in ratios], [r.high - r.value for r in ratios]])
    right.errorbar(positions, values, yerr=errors, fmt="o", color="C0", capsize=3, label="measured (± 2 s.e.)")
    right.plot(positions + 0.15, [result.quadratic_floor_ratio(*key) for key in names], "x", color="C3",
               label="quadratic model (Lyapunov)")
    low, high = result.momentum_band()
    right.axhspan(low, high, color="gray", alpha=0.15, label="accepted band")
    right.axhline(1.0, color="black", lw=1, ls="--", label="first order: 1")
    right.set_xticks(positions, [f"{n}\nβ = {b:g}" for n, b in names], fontsize="small")
    right.legend(loc="lower left", fontsize="small")
    return plotting.axes_labels(right, xlabel="method", ylabel="floor / floor of SGD at α/(1−β)",
                                title="Ratios of floors").figure


def plot_control_variate(result: Result):
    """Var and MSE of Z_alpha against alpha (draws and closed forms), and the snapshot sweep."""
    fig, (left, right) = plotting.figure(ncols=2)
    cv = result.control
    grid = np.linspace(0.0, 1.25, 26)
    fine = np.linspace(0.0, 1.25, 251)
    var_measured = [float(cv.estimator(a).var(ddof=1)) for a in grid]
    mse_measured = [float(np.mean((cv.estimator(a) - cv.mean_x) ** 2)) for a in grid]
    left.plot(fine, cv.closed_variance(fine), color="C0", label="var Z_α: α²(var X + var Y − 2 cov)")
    left.plot(grid, var_measured, "o", color="C0", ms=4, label="var Z_α over the draws")
    left.plot(fine, cv.closed_mse(fine), color="C3", label="MSE: var Z_α + ((1 − α)(E Y − E X))²")
    left.plot(grid, mse_measured, "s", color="C3", ms=4, label="MSE over the draws")
    left.axhline(cv.var_x, color="gray", ls=":", label="var X (no control variate)")
    left.axvline(cv.mse_optimal_alpha, color="C3", ls="--", lw=1, label="α* = d²/(var(X − Y) + d²)")
    left.legend(loc="upper right", fontsize="small")
    plotting.axes_labels(left, xlabel="α (coefficient of the control variate)",
                         ylabel="variance or MSE of the estimate",
                         title="Z_α = α(X − Y) + E[Y]: bias traded for variance")
    scales, closed, measured = result.snapshot_sweep(np.linspace(-6.0, 4.0, 21))
    right.plot(scales, closed, color="C0", label="closed form")
    right.plot(scales, measured, "o", color="C0", ms=4, label="over the draws")
    right.axhline(1.0, color="gray", ls=":", label="var X: no gain")
    right.axvline(1.0, color="black", ls="--", lw=1, label="the snapshot x~ = x0 used at the left")
    right.legend(loc="lower left", fontsize="small")
    return plotting.axes_labels(right, xlabel="snapshot position s  (x~ = x + s (x0 − x))",
                                ylabel="var Z_1 / var X", title="Useful only while Y tracks X").figure


def plot_growing_batch(result: Result):
    """Growing batches: the gap per step against the theorem's bound, and per sample gradient
    against the other step rules."""
    fig, (left, right) = plotting.figure(ncols=2)
    colours = plotting.palette(len(result.growing), "plasma")
    for colour, (rho, trace) in zip(colours, result.growing.items()):
        k = trace.iterations
        plotting.mean_band(left, k, trace.suboptimality(result.f_star), label=f"ρ = {rho:g}", color=colour)
        omega, zeta = result.growing_theory(rho)
        plotting.theory(left, k, omega * zeta**k, label=f"bound ω ζ^k, ζ = {zeta:.3g}", color=colour)
        plotting.mean_band(right, trace.samples[k >= 1], trace.suboptimality(result.f_star)[:, k >= 1],
                           label=f"growing batch, ρ = {rho:g}", color=colour)
    left.legend(loc="lower left", fontsize="small")
    plotting.axes_labels(left, xlabel="iteration k (steps)", ylabel=GAP_LABEL,
                         title=f"|B_k| = ⌈B₀ρ^(−k)⌉ at α = {result.config.growing_step:g}: linear per step",
                         logy=True)
    others = [("decreasing step", result.decreasing, "C0")]
    others += [(f"constant α = {a:g}", result.constant[a], c)
               for a, c in zip(result.config.constant_steps[1:3], ("C2", "C1"))]
    for label, trace, colour in others:
        keep = trace.iterations >= 1
        right.plot(trace.samples[keep], trace.expected_suboptimality(result.f_star)[keep], color=colour,
                   lw=1.4, label=label)
    samples = np.logspace(1, 6.5, 20)
    trace = result.decreasing
    anchor = trace.expected_suboptimality(result.f_star)[-1] * trace.samples[-1]
    plotting.theory(right, samples, anchor / samples, label="∝ 1/samples")
    right.legend(loc="lower left", fontsize="small")
    return plotting.axes_labels(right, xlabel="sample gradients per run", ylabel="E f(x_k) − f*",
                                title="Per sample gradient: O(1/ε), like the decreasing step",
                                logx=True, logy=True).figure


def figures(result: Result) -> dict:
    return {
        "constant_steps": plot_constant_steps(result),
        "decreasing_step": plot_decreasing_step(result),
        "batches": plot_batches(result),
        "momentum": plot_momentum(result),
        "control_variate": plot_control_variate(result),
        "growing_batch": plot_growing_batch(result),
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
        "momentum_floor_ratios": {
            f"{name}, beta={beta:g}": {"ratio": result.momentum_floor_ratio(name, beta).value,
                                       "quadratic_model": result.quadratic_floor_ratio(name, beta),
                                       "persistence": result.floor_persistence(trace).value}
            for (name, beta), trace in result.momentum.items()
        },
        "control_variate": {
            "var_x": cv.var_x, "var_y": cv.var_y, "cov": cv.cov,
            "var_z1": float(cv.closed_variance(1.0)),
            "mse_optimal_alpha": cv.mse_optimal_alpha,
            "classical_coefficient": cv.classical_coefficient,
        } if (cv := result.control) is not None else None,
        "growing_batch": {
            f"{rho:g}": {"contraction": result.growing_contraction(rho).value,
                         "zeta": result.growing_theory(rho)[1],
                         "sample_exponent": result.growing_sample_exponent(rho).value}
            for rho in result.growing
        },
        "samples_to_gap": {name: {f"{gap:g}": n for gap, n in costs.items()}
                           for name, costs in result.sample_costs().items()},
    }
