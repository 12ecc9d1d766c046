"""Chapter "Linear regression: memory against samples" (book/memory/regression_memory.md).

Two experiments on the stream of :mod:`memopt.problems.regression` (Sharan, Sidford, Valiant
2019), each method fed the same samples (common random numbers):

* isotropic rows in d = 200 dimensions with the paper's noise 2^(-d/5): the samples each method
  of :mod:`memopt.optim.streaming` needs to bring ||x_hat - x|| below 1e-8, against the memory
  it keeps (the lecture's "d examples with ~d^2 memory" against "d log(1/eps) examples with ~d
  memory", and the window family in between);
* rows with covariance of condition number kappa (two eigenvalue clusters, 1 and 1/kappa, in
  a random basis) in d = 50 dimensions: samples against kappa for the O(d) Kaczmarz method and
  the O(d^2) exact method (the lecture's conjecture: d poly(kappa) samples, or d^2
  memory);
* rows whose covariance has eigenvalues spread log-uniformly over [1, kappa] (no gap between
  scales, the regime of the conjecture) in d = 24 dimensions, kappa from 10 to 10^4: samples to
  a relative error of 1e-2 for Kaczmarz and SGD (O(d) memory), the window family at m = d/4 and
  d/2, and exact least squares (d^2 memory), with the growth exponent in kappa of each.

The quantities the chapter's claims compare are methods of :class:`Result`. Every one of them
depends on the random stream, so each is a statistic over the trials with its uncertainty
(:func:`memopt.claims.mean_with_error`, or :func:`memopt.claims.median_with_range` where the
claim is about every trial): a claim is decided only when its whole interval lies on one side
of the threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from memopt import claims, plotting
from memopt.backend import single_blas_thread
from memopt.fitting import power_law_exponent
from memopt.optim.stream_runs import StreamRun, run_methods
from memopt.optim.streaming import ExactLeastSquares, Kaczmarz, StreamingSGD, WindowProjection
from memopt.optim.streaming_theory import (
    expected_projection_error,
    kaczmarz_direction_moments,
    predicted_projection_samples,
    projection_log_decrement,
    sgd_contraction,
    sgd_mean_square_samples,
)
from memopt.problems.regression import GaussianRegression

NAME = "regression_memory"
DESCRIPTION = "Streaming linear regression: samples to 1e-8 against memory, and against kappa"

EXACT, KACZMARZ, SGD = "exact", "Kaczmarz", "SGD"
COLOURS = {EXACT: "black", KACZMARZ: "C0", SGD: "C1"}


@dataclass(frozen=True)
class Config:
    """Everything that determines the chapter's runs."""

    dimension: int = 200
    accuracy: float = 1e-8
    trials: int = 32
    #: Window sizes m of the window-projection family (m = 1 is Kaczmarz, run separately).
    windows: tuple[int, ...] = (4, 16, 64, 128, 192, 200)
    #: The window family runs on the first ``window_trials`` of the trials (the same samples).
    window_trials: int = 16
    kappa_dimension: int = 50
    kappas: tuple[float, ...] = (1, 3, 10, 30, 100, 300)
    #: The power law in kappa is fitted over kappa >= this (the two clusters are then far apart).
    kappa_fit_from: float = 10
    kappa_trials: int = 16
    #: Noise half-width of the kappa runs: 2^(-d/5) at d = 50 would be 1e-3, above the accuracy.
    kappa_noise_bound: float = 2.0**-40
    basis_seed: int = 0
    #: A method stops after this multiple of its predicted sample count (it never should).
    budget_factor: float = 3.0
    chunk: int = 2048
    #: The spread-spectrum sweep: eigenvalues log-uniform over [1, kappa], relative accuracy
    #: ``spread_accuracy`` (||x|| = 1), windows m (d/4 and d/2 by default).
    spread_dimension: int = 24
    spread_kappas: tuple[float, ...] = (10, 100, 1000, 10000)
    spread_accuracy: float = 1e-2
    spread_trials: int = 16
    spread_windows: tuple[int, ...] = (6, 12)

    def __post_init__(self):
        if self.dimension < 2 or self.kappa_dimension < 2:
            raise ValueError("dimensions must be >= 2")
        if not 0 < self.accuracy < 1:
            raise ValueError(f"accuracy must lie in (0, 1) (||x|| = 1), got {self.accuracy}")
        if min(self.trials, self.window_trials, self.kappa_trials) < 2 or self.window_trials > self.trials:
            raise ValueError("need at least 2 trials for a mean and a band, and window_trials <= trials")
        windows = list(self.windows)
        if windows != sorted(set(windows)) or not 2 <= min(windows) <= max(windows) <= self.dimension:
            raise ValueError(f"windows must increase strictly within 2..dimension={self.dimension}, "
                             f"got {self.windows}")
        if list(self.kappas) != sorted(set(self.kappas)) or min(self.kappas) < 1:
            raise ValueError(f"kappas must increase strictly from >= 1, got {self.kappas}")
        if sum(k >= self.kappa_fit_from for k in self.kappas) < 2:
            raise ValueError("at least two kappas must lie at or above kappa_fit_from to fit a power law")
        if self.budget_factor < 1 or self.kappa_noise_bound < 0:
            raise ValueError("budget_factor must be >= 1 and kappa_noise_bound >= 0")
        if self.spread_dimension < 2 or self.spread_trials < 2 or not 0 < self.spread_accuracy < 1:
            raise ValueError("the spread sweep needs spread_dimension >= 2, spread_trials >= 2 and "
                             f"spread_accuracy in (0, 1), got {self.spread_dimension}, "
                             f"{self.spread_trials}, {self.spread_accuracy}")
        spread = list(self.spread_kappas)
        if len(spread) < 2 or spread != sorted(set(spread)) or min(spread) <= 1:
            raise ValueError(f"spread_kappas must be at least two increasing values > 1 (a power law "
                             f"in kappa), got {self.spread_kappas}")
        windows = list(self.spread_windows)
        if windows != sorted(set(windows)) or (windows and not 2 <= windows[0] <= windows[-1] <= self.spread_dimension):
            raise ValueError(f"spread_windows must increase strictly within 2..spread_dimension="
                             f"{self.spread_dimension}, got {self.spread_windows}")

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(range(self.trials))

    @property
    def kappa_seeds(self) -> tuple[int, ...]:
        return tuple(range(self.kappa_trials))

    @property
    def spread_seeds(self) -> tuple[int, ...]:
        return tuple(range(self.spread_trials))


SCALES = {
    "book": Config(),
    "paper": Config(trials=256, windows=(2, 4, 8, 16, 32, 64, 128, 160, 192, 200), window_trials=64,
                    kappas=(1, 3, 10, 30, 100, 300, 1000), kappa_trials=128, spread_trials=64,
                    spread_windows=(3, 6, 12, 18)),
}




def sgd_step(eigenvalues) -> float:
    """1 / (tr Sigma + 2 lambda_max): the best constant step for the mean square error on
    isotropic rows (1/(d+2), :func:`~memopt.optim.streaming_theory.sgd_contraction`), and a stable one
    for every Sigma."""
    eigenvalues = np.asarray(eigenvalues, dtype=float)
    return float(1.0 / (eigenvalues.sum() + 2 * eigenvalues.max()))


def window_name(m: int) -> str:
    return f"window m = {m}"


def spread_trace_ratio(eigenvalues) -> float:
    """tr(Sigma) / lambda_min: the scale of Kaczmarz's sample count (its rate is about
    lambda_min / tr Sigma a sample when ||a||^2 concentrates at tr Sigma)."""
    eigenvalues = np.asarray(eigenvalues, dtype=float)
    return float(eigenvalues.sum() / eigenvalues.min())


def kaczmarz_bound_samples(eigenvalues, accuracy: float) -> float:
    """Samples after which the guarantee E ||e_k||^2 <= (1 - p_min)^k ||e_0||^2, with p_min the
    smallest eigenvalue of E[a a^T / ||a||^2], reaches accuracy^2 (from ||e_0|| = 1)."""
    p_min = float(kaczmarz_direction_moments(eigenvalues).min())
    return 2 * math.log(accuracy) / math.log1p(-p_min)


@dataclass
class Result:
    config: Config
    problem: GaussianRegression
    isotropic: dict[str, StreamRun]
    windows: dict[int, StreamRun]
    kappa_problems: dict[float, GaussianRegression] = field(default_factory=dict)
    kappa_runs: dict[float, dict[str, StreamRun]] = field(default_factory=dict)
    spread_problems: dict[float, GaussianRegression] = field(default_factory=dict)
    spread_runs: dict[float, dict[str, StreamRun]] = field(default_factory=dict)

    # -- the isotropic stream -------------------------------------------------------------------
    @property
    def d(self) -> int:
        return self.config.dimension

    @property
    def log_inverse_accuracy(self) -> float:
        return math.log(1 / self.config.accuracy)

    def exact_median_samples(self) -> float:
        return float(np.median(self.isotropic[EXACT].samples_to_accuracy))

    def exact_samples_estimate(self) -> claims.Estimate:
        """The exact method's samples to the accuracy: median and range over the trials."""
        return claims.median_with_range(self.isotropic[EXACT].samples_to_accuracy, what="trials")

    def exact_error_after_d(self) -> np.ndarray:
        """||x_hat - x|| of the exact method right after the d-th sample, per trial."""
        return self.isotropic[EXACT].errors[:, self.d - 1]

    def kaczmarz_ratios(self) -> np.ndarray:
        """Samples to the accuracy over d ln(1/eps), per trial."""
        return self.isotropic[KACZMARZ].samples_to_accuracy / (self.d * self.log_inverse_accuracy)

    def kaczmarz_ratio_estimate(self) -> claims.Estimate:
        """:meth:`kaczmarz_ratios`: mean over the trials +- 2 standard errors."""
        return claims.mean_with_error(self.kaczmarz_ratios(), what="trials")

    def predicted_kaczmarz_ratio(self) -> float:
        """The mean first-passage time of ln ||e||^2 at the expected log-decrement
        psi(d/2) - psi((d-1)/2) per sample, over d ln(1/eps)."""
        samples = predicted_projection_samples(self.d, 1, self.config.accuracy)
        return samples / (self.d * self.log_inverse_accuracy)

    def window_sizes(self) -> list[int]:
        """m = 1 (Kaczmarz) and the configured windows."""
        return [1, *self.config.windows]

    def window_samples(self, m: int) -> np.ndarray:
        """Samples to the accuracy of window size m on the window trials (m = 1: Kaczmarz)."""
        if m == 1:
            return self.isotropic[KACZMARZ].samples_to_accuracy[:self.config.window_trials]
        return self.windows[m].samples_to_accuracy

    def window_mean_samples(self) -> np.ndarray:
        return np.array([np.mean(self.window_samples(m)) for m in self.window_sizes()])

    def predicted_window_samples(self) -> np.ndarray:
        eps = self.config.accuracy
        return np.array([predicted_projection_samples(self.d, m, eps) for m in self.window_sizes()])

    def largest_window_increase(self) -> float:
        """The largest increase of the mean sample count from one window size to the next
        (negative: the count falls all the way)."""
        return float(np.diff(self.window_mean_samples()).max())

    def window_increase_estimates(self) -> list[claims.Estimate]:
        """For each window size and the next, the change of the sample count, paired by trial
        (every window size sees the same samples): mean over the window trials +- 2 s.e."""
        sizes = self.window_sizes()
        return [claims.mean_with_error(self.window_samples(b) - self.window_samples(a), what="trials")
                for a, b in zip(sizes[:-1], sizes[1:])]

    def largest_window_increase_estimate(self) -> tuple[claims.Estimate, tuple[int, int]]:
        """The estimate of :meth:`window_increase_estimates` whose interval reaches highest
        (the pair of window sizes closest to an increase), and that pair (m, m')."""
        estimates = self.window_increase_estimates()
        worst = int(np.argmax([e.high for e in estimates]))
        sizes = self.window_sizes()
        return estimates[worst], (sizes[worst], sizes[worst + 1])

    def largest_window_prediction_gap(self) -> float:
        """max over m of |measured mean / predicted - 1|."""
        return float(np.abs(self.window_mean_samples() / self.predicted_window_samples() - 1).max())

    def window_ratio_estimates(self) -> list[claims.Estimate]:
        """Per window size, samples to the accuracy over the predicted first-passage time: mean
        over the window trials +- 2 s.e."""
        return [claims.mean_with_error(self.window_samples(m) / predicted, what="trials")
                for m, predicted in zip(self.window_sizes(), self.predicted_window_samples())]

    def worst_window_ratio_estimate(self) -> tuple[claims.Estimate, int]:
        """The estimate of :meth:`window_ratio_estimates` whose interval reaches farthest from
        1, and its window size m."""
        estimates = self.window_ratio_estimates()
        reach = [max(abs(e.low - 1), abs(e.high - 1)) for e in estimates]
        worst = int(np.argmax(reach))
        return estimates[worst], self.window_sizes()[worst]

    def memory_table(self) -> list[dict]:
        """One row per method: floats and bits kept per trial, mean samples to the accuracy."""
        rows = []
        for name, run in self.isotropic.items():
            rows.append({"method": name, "floats": run.memory_floats, "bits": run.memory_bits,
                         "samples": float(np.mean(run.samples_to_accuracy))})
        for m, run in self.windows.items():
            rows.append({"method": f"window m = {m}", "floats": run.memory_floats, "bits": run.memory_bits,
                         "samples": float(np.mean(run.samples_to_accuracy))})
        return rows

    # -- the kappa sweep --------------------------------------------------------------------------
    @property
    def kappas(self) -> np.ndarray:
        return np.array(list(self.kappa_runs), dtype=float)

    def kappa_samples(self, method: str) -> np.ndarray:
        """Samples to the accuracy, shape (kappas, trials)."""
        return np.stack([runs[method].samples_to_accuracy for runs in self.kappa_runs.values()])

    def kappa_fit(self, method: str = KACZMARZ) -> tuple[float, float]:
        """(exponent, prefactor) of mean samples ~ prefactor * kappa^exponent, least squares in
        log-log over kappa >= kappa_fit_from."""
        kappas = self.kappas
        keep = kappas >= self.config.kappa_fit_from
        means = self.kappa_samples(method).mean(axis=1)
        slope, intercept = np.polyfit(np.log(kappas[keep]), np.log(means[keep]), 1)
        return float(slope), float(np.exp(intercept))

    def kappa_trial_exponents(self, method: str = KACZMARZ) -> np.ndarray:
        """Per trial (seed), the least-squares slope of ln samples against ln kappa over
        kappa >= kappa_fit_from."""
        keep = self.kappas >= self.config.kappa_fit_from
        samples = self.kappa_samples(method)[keep]
        return np.polyfit(np.log(self.kappas[keep]), np.log(samples), 1)[0]

    def kappa_exponent_estimate(self, method: str = KACZMARZ) -> claims.Estimate:
        """:meth:`kappa_trial_exponents`: mean over the trials +- 2 standard errors."""
        return claims.mean_with_error(self.kappa_trial_exponents(method), what="trials")

    def kappa_bound_samples(self) -> np.ndarray:
        """Kaczmarz's mean-square guarantee (:func:`kaczmarz_bound_samples`) at each kappa."""
        return np.array([kaczmarz_bound_samples(p.eigenvalues, self.config.accuracy)
                         for p in self.kappa_problems.values()])

    def bound_exponent(self) -> float:
        """The same log-log fit applied to the guarantee."""
        keep = self.kappas >= self.config.kappa_fit_from
        return float(np.polyfit(np.log(self.kappas[keep]), np.log(self.kappa_bound_samples()[keep]), 1)[0])

    def exact_kappa_samples_over_d(self) -> float:
        """The largest median sample count of the exact method over kappa, divided by d."""
        return float(np.median(self.kappa_samples(EXACT), axis=1).max() / self.config.kappa_dimension)

    def exact_kappa_estimate(self) -> claims.Estimate:
        """The exact method's samples over d, every kappa and trial: median and range."""
        return claims.median_with_range(self.kappa_samples(EXACT) / self.config.kappa_dimension,
                                        what="trials and κ")

    # -- the spread-spectrum sweep ------------------------------------------------------------
    @property
    def spread_kappas(self) -> np.ndarray:
        return np.array(list(self.spread_runs), dtype=float)

    def spread_methods(self) -> list[str]:
        """The methods of the sweep, from the least memory to the most."""
        return [KACZMARZ, SGD, *(window_name(m) for m in self.config.spread_windows), EXACT]

    def spread_samples(self, method: str) -> np.ndarray:
        """Samples to the relative accuracy, shape (kappas, trials); NaN where a trial did not
        get there within the budget."""
        return np.stack([runs[method].samples_to_accuracy for runs in self.spread_runs.values()])

    def spread_trial_exponents(self, method: str) -> np.ndarray:
        """Per trial (the same seed at every kappa), the slope s of ln samples against ln kappa
        (:func:`memopt.fitting.power_law_exponent`)."""
        samples = self.spread_samples(method)
        if np.isnan(samples).any():
            raise ValueError(f"{method} did not reach the accuracy within the budget in some trials; "
                             "raise budget_factor or spread_accuracy")
        return np.array([power_law_exponent(self.spread_kappas, column) for column in samples.T])

    def spread_exponent_estimate(self, method: str) -> claims.Estimate:
        """:meth:`spread_trial_exponents`: mean over the trials +- 2 standard errors."""
        return claims.mean_with_error(self.spread_trial_exponents(method), what="trials")

    def spread_trace_ratios(self) -> np.ndarray:
        """tr Sigma / lambda_min at each kappa (:func:`spread_trace_ratio`)."""
        return np.array([spread_trace_ratio(p.eigenvalues) for p in self.spread_problems.values()])

    def spread_bound_samples(self) -> np.ndarray:
        """Kaczmarz's mean-square guarantee (:func:`kaczmarz_bound_samples`) at each kappa."""
        return np.array([kaczmarz_bound_samples(p.eigenvalues, self.config.spread_accuracy)
                         for p in self.spread_problems.values()])

    def spread_sgd_samples(self) -> np.ndarray:
        """Samples after which SGD's exact mean square error reaches the accuracy
        (:func:`~memopt.optim.streaming_theory.sgd_mean_square_samples`) at each kappa."""
        return np.array([sgd_mean_square_samples(p.eigenvalues, sgd_step(p.eigenvalues),
                                                 self.config.spread_accuracy)
                         for p in self.spread_problems.values()], dtype=float)

    def spread_predicted_exponents(self) -> dict[str, float]:
        """The growth exponents theory gives before any run: of tr Sigma / lambda_min (the
        heuristic rate), of Kaczmarz's guarantee 2 ln(1/eps) / p_min, and of SGD's exact
        mean-square sample count."""
        kappas = self.spread_kappas
        return {"trace ratio": power_law_exponent(kappas, self.spread_trace_ratios()),
                "Kaczmarz guarantee": power_law_exponent(kappas, self.spread_bound_samples()),
                "SGD mean square": power_law_exponent(kappas, self.spread_sgd_samples())}

    def spread_window_heuristic(self, m: int) -> float:
        """The exponent if the m - 1 stored rows removed Sigma's top m - 1 eigendirections
        from every step: Kaczmarz's guarantee on the bottom d - m + 1 eigenvalues."""
        d = self.config.spread_dimension
        bottom = [np.sort(p.eigenvalues)[:d - m + 1] for p in self.spread_problems.values()]
        samples = [kaczmarz_bound_samples(b, self.config.spread_accuracy) if b.size > 1 else 1.0
                   for b in bottom]
        return power_law_exponent(self.spread_kappas, samples)

    def spread_memory(self) -> dict[str, int]:
        """Floats kept per trial by each method of the sweep."""
        first = next(iter(self.spread_runs.values()))
        return {name: first[name].memory_floats for name in self.spread_methods()}


def run(config: Config = Config(), progress: bool = False) -> Result:
    """All of the chapter's runs for ``config``."""
    with single_blas_thread():
        d, r = config.dimension, config.trials
        problem = GaussianRegression(d, basis_seed=config.basis_seed)
        kaczmarz_samples = predicted_projection_samples(d, 1, config.accuracy)
        options = dict(accuracy=config.accuracy, chunk=config.chunk, progress=progress,
                       max_samples=math.ceil(config.budget_factor * kaczmarz_samples))
        methods = {EXACT: ExactLeastSquares(d, r), KACZMARZ: Kaczmarz(d, r),
                   SGD: StreamingSGD(d, sgd_step(problem.eigenvalues), r)}
        isotropic = run_methods(methods, problem.stream(config.seeds), **options)
        r = config.window_trials
        windows = run_methods({f"window m = {m}": WindowProjection(d, m, r) for m in config.windows},
                              problem.stream(config.seeds[:r]), **options)
        result = Result(config, problem, isotropic, dict(zip(config.windows, windows.values())))
        d, r = config.kappa_dimension, config.kappa_trials
        for kappa in config.kappas:
            sweep = GaussianRegression(d, kappa=kappa, noise_bound=config.kappa_noise_bound,
                                       basis_seed=config.basis_seed)
            bound = kaczmarz_bound_samples(sweep.eigenvalues, config.accuracy)
            budget = math.ceil(config.budget_factor * bound)
            methods = {EXACT: ExactLeastSquares(d, r), KACZMARZ: Kaczmarz(d, r)}
            result.kappa_problems[kappa] = sweep
            result.kappa_runs[kappa] = run_methods(methods, sweep.stream(config.kappa_seeds),
                                                   accuracy=config.accuracy, max_samples=budget,
                                                   chunk=config.chunk, progress=progress)
        d, r, eps = config.spread_dimension, config.spread_trials, config.spread_accuracy
        for kappa in config.spread_kappas:
            sweep = GaussianRegression(d, kappa=kappa, noise_bound=config.kappa_noise_bound,
                                       basis_seed=config.basis_seed, spectrum="log_uniform")
            eigenvalues, step = sweep.eigenvalues, sgd_step(sweep.eigenvalues)
            predicted = max(kaczmarz_bound_samples(eigenvalues, eps),
                            sgd_mean_square_samples(eigenvalues, step, eps))
            budget = math.ceil(config.budget_factor * predicted)
            methods = {KACZMARZ: Kaczmarz(d, r), SGD: StreamingSGD(d, step, r),
                       **{window_name(m): WindowProjection(d, m, r) for m in config.spread_windows},
                       EXACT: ExactLeastSquares(d, r)}
            result.spread_problems[kappa] = sweep
            result.spread_runs[kappa] = run_methods(methods, sweep.stream(config.spread_seeds),
                                                    accuracy=eps, max_samples=budget,
                                                    chunk=config.chunk, progress=progress)
    return result


# -- figures -----------------------------------------------------------------------------------
ERROR_LABEL = "‖x̂_k − x‖  (mean over trials, 10–90% band)"


def _window_colours(result: Result) -> dict[int, tuple]:
    return dict(zip(result.config.windows, plotting.palette(len(result.config.windows), "plasma")))


def plot_error_curves(result: Result):
    """||x_hat_k - x|| against samples for every method, with the predicted typical error."""
    fig, (ax,) = plotting.figure(panel=(8.0, 4.8))
    d, eps = result.d, result.config.accuracy
    for m, colour in _window_colours(result).items():
        run = result.windows[m]
        k = np.arange(1, run.errors.shape[1] + 1)
        plotting.mean_band(ax, k, run.errors, label=f"window m = {m}", color=colour)
        plotting.theory(ax, k, expected_projection_error(d, m, k.size), label=None, color=colour)
    for name in (KACZMARZ, SGD):
        run = result.isotropic[name]
        k = np.arange(1, run.errors.shape[1] + 1)
        plotting.mean_band(ax, k, run.errors, label=name + (" (m = 1)" if name == KACZMARZ else
                                                          ", step 1/(d+2)"), color=COLOURS[name])
    k = np.arange(1, result.isotropic[KACZMARZ].errors.shape[1] + 1)
    plotting.theory(ax, k, expected_projection_error(d, 1, k.size), label=None, color=COLOURS[KACZMARZ])
    sgd = result.isotropic[SGD]
    k = np.arange(1, sgd.errors.shape[1] + 1)
    rms = np.sqrt(sgd_contraction(d, sgd_step(np.ones(d))) ** k)
    plotting.theory(ax, k, rms, label=None, color=COLOURS[SGD])
    exact = result.isotropic[EXACT].errors
    ax.plot(np.arange(d, exact.shape[1] + 1), exact[:, d - 1:].mean(axis=0), "o", color=COLOURS[EXACT],
            label="exact least squares (x determined at k = d)")
    ax.axhline(eps, color="gray", lw=1, ls=":", label="ε = 1e-8")
    ax.axhline(result.problem.noise, color="gray", lw=1, ls="-.", label="noise bound 2^(−d/5)")
    ax.plot([], [], ls="--", color="gray", label="prediction exp(E ln‖e_k‖) (SGD: √E‖e_k‖²)")
    ax.set_ylim(1e-13, 2)
    ax.legend(loc="upper right", ncols=2, fontsize=8)
    return plotting.axes_labels(ax, xlabel="samples k", ylabel=ERROR_LABEL, logy=True,
                                title=f"Isotropic Gaussian stream, d = {d}").figure


def plot_memory_tradeoff(result: Result):
    """Samples to the accuracy against memory in bits: the lecture's two corners and the window
    family between them, with the lower bound's d^2/4-bit threshold."""
    fig, (ax,) = plotting.figure(panel=(9.5, 4.8))
    d, eps = result.d, result.config.accuracy

    def point(run, marker="o", **style):
        samples = run.samples_to_accuracy
        low, high = np.quantile(samples, plotting.BAND)
        mean = samples.mean()
        ax.errorbar([run.memory_bits], [mean], yerr=[[mean - low], [high - mean]], fmt=marker, capsize=3,
                    ms=7, **style)

    colours = _window_colours(result)
    for m, run in result.windows.items():
        point(run, color=colours[m], label=f"window m = {m}")
    for name, marker in ((KACZMARZ, "D"), (SGD, "x"), (EXACT, "s")):
        point(result.isotropic[name], marker, color=COLOURS[name], label=name)
    sizes = np.unique(np.geomspace(1, d, 40).astype(int))
    bits = 64 * ((sizes - 1) * (d + sizes - 1) + d)
    predicted = [predicted_projection_samples(d, m, eps) for m in sizes]
    plotting.theory(ax, bits, predicted, label="window family, predicted (1 ≤ m ≤ d)", color="gray")
    ax.axhline(d, color="black", lw=1, ls=":", label="d samples")
    ax.axvline(d * d / 4, color="C3", lw=1.2, ls="-.",
               label="d²/4 bits: below it Ω(d log log 1/ε) samples")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return plotting.axes_labels(ax, xlabel="memory kept between samples (bits, float64)",
                                ylabel="samples to ‖x̂ − x‖ ≤ 1e-8", logx=True, logy=True,
                                title=f"Memory against samples, d = {d}").figure


def plot_kappa(result: Result):
    """Samples to the accuracy against the condition number, O(d) methods against O(d^2)."""
    fig, (ax,) = plotting.figure(panel=(7.0, 4.6))
    kappas = result.kappas
    for name in (KACZMARZ, EXACT):
        plotting.mean_band(ax, kappas, result.kappa_samples(name).T, label=name, color=COLOURS[name])
    plotting.theory(ax, kappas, result.kappa_bound_samples(),
                    label="Kaczmarz guarantee 2 ln(1/ε) / λ_min(E[aaᵀ/‖a‖²])", color=COLOURS[KACZMARZ])
    slope, prefactor = result.kappa_fit()
    fitted = kappas[kappas >= result.config.kappa_fit_from]
    ax.plot(fitted, prefactor * fitted**slope, ls=":", color="black", lw=1.2,
            label=f"fit over κ ≥ {result.config.kappa_fit_from:g}: ∝ κ^{slope:.2f}")
    ax.legend(loc="upper left", fontsize=8)
    return plotting.axes_labels(ax, xlabel="condition number κ of Σ",
                                ylabel="samples to ‖x̂ − x‖ ≤ 1e-8", logx=True, logy=True,
                                title=f"Samples against κ, d = {result.config.kappa_dimension}").figure


def plot_spread(result: Result):
    """Samples to the relative accuracy against kappa on the log-uniform spectrum, each method
    with its fitted exponent, and Kaczmarz's guarantee."""
    fig, (ax,) = plotting.figure(panel=(8.0, 4.8))
    kappas, config = result.spread_kappas, result.config
    windows = dict(zip(config.spread_windows, plotting.palette(len(config.spread_windows), "plasma")))
    colours = {**COLOURS, **{window_name(m): c for m, c in windows.items()}}
    memory = result.spread_memory()
    for name in result.spread_methods():
        slope = float(np.mean(result.spread_trial_exponents(name)))
        plotting.mean_band(ax, kappas, result.spread_samples(name).T, color=colours[name],
                           label=f"{name} ({memory[name]} floats): ∝ κ^{slope:.2f}")
    plotting.theory(ax, kappas, result.spread_bound_samples(),
                    label="Kaczmarz guarantee 2 ln(1/ε) / λ_min(E[aaᵀ/‖a‖²])", color=COLOURS[KACZMARZ])
    plotting.theory(ax, kappas, result.spread_sgd_samples(), label="SGD: E‖e_k‖² = ε² (exact recursion)",
                    color=COLOURS[SGD])
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return plotting.axes_labels(
        ax, xlabel="condition number κ (eigenvalues log-uniform on [1, κ])",
        ylabel=f"samples to ‖x̂ − x‖ ≤ {config.spread_accuracy:g}", logx=True, logy=True,
        title=f"Spread spectrum, d = {config.spread_dimension}").figure


def figures(result: Result) -> dict:
    return {
        "error_curves": plot_error_curves(result),
        "memory_tradeoff": plot_memory_tradeoff(result),
        "kappa": plot_kappa(result),
        "spread": plot_spread(result),
    }


def summary(result: Result) -> dict:
    """The chapter's figures as plain numbers (written by ``memopt run regression_memory``)."""
    slope, prefactor = result.kappa_fit()
    return {
        "dimension": result.d,
        "noise_bound": result.problem.noise,
        "accuracy": result.config.accuracy,
        "exact_median_samples": result.exact_median_samples(),
        "kaczmarz_ratio_mean": float(result.kaczmarz_ratios().mean()),
        "kaczmarz_ratio_predicted": result.predicted_kaczmarz_ratio(),
        "kaczmarz_log_decrement_times_d": result.d * projection_log_decrement(result.d),
        "windows": {str(m): {"mean_samples": float(s), "predicted": float(p)}
                    for m, s, p in zip(result.window_sizes(), result.window_mean_samples(),
                                       result.predicted_window_samples())},
        "memory": result.memory_table(),
        "kappa": {
            "kappas": result.kappas.tolist(),
            "kaczmarz_mean_samples": result.kappa_samples(KACZMARZ).mean(axis=1).tolist(),
            "exact_median_samples": np.median(result.kappa_samples(EXACT), axis=1).tolist(),
            "kaczmarz_exponent": slope,
            "kaczmarz_prefactor": prefactor,
            "bound_exponent": result.bound_exponent(),
        },
        "spread": {
            "dimension": result.config.spread_dimension,
            "accuracy": result.config.spread_accuracy,
            "kappas": result.spread_kappas.tolist(),
            "memory_floats": result.spread_memory(),
            "mean_samples": {name: result.spread_samples(name).mean(axis=1).tolist()
                             for name in result.spread_methods()},
            "exponents": {name: float(result.spread_trial_exponents(name).mean())
                          for name in result.spread_methods()},
            "predicted_exponents": result.spread_predicted_exponents(),
        },
    }
