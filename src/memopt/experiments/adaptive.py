"""Chapter "Adaptive methods, and where Adam does not converge" (book/stochastic/adaptive.md).

Three experiments on the lecture's adaptive rules (``memopt.optim.adaptive``):

* **Adam's non-convergence.** AdaGrad, RMSProp, Adam and AMSGrad run on the online problem of
  Reddi, Kale and Kumar (2018): f_t(x) = C x once every three steps and -x otherwise, on
  [-1, 1] (:class:`~memopt.problems.AdamCounterexample`). Every method plays the same sequence,
  starting at x_1 = 0, takes its step and is projected back onto [-1, 1]. The chapter compares
  where each ends and its regret R_T = sum_t f_t(x_t) - f_t(-1) against the best fixed point -1.
  The problem is one number a step, so it runs with NumPy on the host whatever the device.
* **AdaGrad on sparse features** (Duchi, Hazan, Singer 2011). L2-regularised logistic regression
  on binary features whose frequencies follow a power law
  (:func:`~memopt.problems.power_law_logistic`), x* by Newton's method. SGD (a constant step
  or alpha / sqrt(k)) and AdaGrad take one sample per step, R sample orders at once as (R, p)
  arrays; each method's step is the one of its grid with the smallest mean objective gap
  f(x_T) - f* on tuning orders that are not reported. The chapter compares the error
  |x_j - x*_j| on the rare features with that on the common ones (:class:`SparseRuns`).
* **Adam with an L2 penalty against AdamW** (Loshchilov, Hutter 2019). A separable quadratic
  whose coordinates have gradient scales c_j spread over decades, stochastic gradients
  g_j = c_j (x_j - 1 + sigma xi_j); the iterates' long-run mean against the fixed points
  derived in :func:`predicted_shrinkage` (:class:`DecayRuns`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq
from tqdm import tqdm

from memopt import claims, plotting
from memopt._checks import integer, real
from memopt.fitting import power_law_exponent
from memopt.optim.adaptive import AdaGrad, Adam, AdamW, AMSGrad, GradientStep, RMSProp
from memopt.problems.online import PERIOD, AdamCounterexample
from memopt.problems.sparse import SparseLogistic, power_law_logistic

NAME = "adaptive"
DESCRIPTION = "Adaptive methods on the online problem where Adam does not converge (Reddi et al. 2018)"


@dataclass(frozen=True)
class Config:
    """Everything that determines the chapter's runs."""

    C: float = 3.0
    #: alpha of every method; Adam, AMSGrad, RMSProp and SGD take alpha / sqrt(t), AdaGrad alpha.
    lr: float = 0.1
    steps: int = 99_999
    eps: float = 1e-8
    #: Where the iterate has settled: the mean of x_t over the last ``tail`` steps.
    tail: int = 3_000

    # -- AdaGrad on sparse features (Duchi et al. 2011) ----------------------------------------
    #: The data: sparse_samples binary rows of sparse_features features, feature j present with
    #: probability j^-sparse_exponent (feature 1 in every row), drawn from data seed sparse_data_seed.
    sparse_samples: int = 2_000
    sparse_features: int = 100
    sparse_exponent: float = 1.0
    sparse_mu: float = 1e-3
    sparse_data_seed: int = 0
    #: One sample per step, for sparse_steps steps (10 passes at the book's scale).
    sparse_steps: int = 20_000
    #: Sample orders whose errors are reported, and the separate orders the steps are tuned on.
    sparse_runs: int = 32
    sparse_tuning_runs: int = 8
    #: The most frequent ``sparse_common`` features and the least frequent ``sparse_rare``.
    sparse_common: int = 10
    sparse_rare: int = 50
    #: Step grids: SGD with a constant step, SGD with alpha / sqrt(k), AdaGrad's alpha.
    sgd_grid: tuple[float, ...] = tuple(0.0125 * 2.0**k for k in range(9))
    sgd_decaying_grid: tuple[float, ...] = tuple(0.1 * 2.0**k for k in range(9))
    adagrad_grid: tuple[float, ...] = tuple(0.025 * 2.0**k for k in range(9))

    # -- Adam + L2 against AdamW (Loshchilov, Hutter 2019) -------------------------------------
    #: Gradient scales c_j, log-spaced over [10^lo, 10^hi], one coordinate each.
    decay_decades: tuple[float, float] = (-2.0, 2.0)
    decay_coordinates: int = 9
    weight_decay: float = 0.1
    #: sigma, the noise of the stochastic gradient c_j (x_j - 1 + sigma xi_j).
    decay_noise: float = 1.0
    decay_lr: float = 0.01
    decay_steps: int = 20_000
    #: The fixed point is estimated by the mean of x over the last decay_tail steps.
    decay_tail: int = 10_000
    decay_runs: int = 16

    def __post_init__(self):
        AdamCounterexample(self.C)  # checks C
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.steps < 10 * PERIOD or self.steps % PERIOD:
            raise ValueError(f"steps must be a multiple of {PERIOD} and >= {10 * PERIOD}, got {self.steps}")
        if not 0 < self.tail <= self.steps // 2 or self.tail % PERIOD:
            raise ValueError(f"tail must be a multiple of {PERIOD} in (0, steps / 2], got {self.tail}")
        for name in ("sparse_samples", "sparse_features", "sparse_steps", "decay_coordinates",
                     "decay_steps", "decay_tail"):
            integer(name, getattr(self, name))
        for name in ("sparse_runs", "sparse_tuning_runs", "decay_runs"):
            integer(name, getattr(self, name), minimum=2)
        integer("sparse_data_seed", self.sparse_data_seed, minimum=0)
        real("sparse_exponent", self.sparse_exponent, strict=False)
        real("sparse_mu", self.sparse_mu)
        if not (integer("sparse_common", self.sparse_common) + integer("sparse_rare", self.sparse_rare)
                <= self.sparse_features):
            raise ValueError(f"sparse_common + sparse_rare must be at most sparse_features "
                             f"({self.sparse_features}), got {self.sparse_common} + {self.sparse_rare}")
        for name in ("sgd_grid", "sgd_decaying_grid", "adagrad_grid"):
            grid = getattr(self, name)
            if not isinstance(grid, tuple) or len(grid) < 3:
                raise ValueError(f"{name} must be a tuple of at least 3 step sizes, got {grid!r}")
            for value in grid:
                real(name, value)
            if list(grid) != sorted(set(grid)):
                raise ValueError(f"{name} must be strictly increasing, got {grid!r}")
        low, high = self.decay_decades
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"decay_decades must be finite with lo < hi, got {self.decay_decades}")
        for name in ("weight_decay", "decay_noise", "decay_lr"):
            real(name, getattr(self, name))
        if self.decay_lr * self.weight_decay >= 1:
            raise ValueError("decay_lr * weight_decay must be < 1 (AdamW multiplies x by 1 - lr lambda)")
        if self.decay_tail > self.decay_steps // 2:
            raise ValueError(f"decay_tail must be at most decay_steps / 2, got {self.decay_tail}")

    @property
    def decay_scales(self) -> np.ndarray:
        """The gradient scales c_j of the weight-decay problem."""
        return np.logspace(*self.decay_decades, self.decay_coordinates)


SCALES = {
    "book": Config(),
    "paper": Config(steps=999_999, tail=30_000, sparse_samples=20_000, sparse_features=1_000,
                    sparse_steps=200_000, sparse_rare=500, sparse_runs=64, decay_steps=100_000,
                    decay_tail=50_000, decay_runs=64),
}


def methods(config: Config) -> dict:
    """The methods the chapter runs, by label: the paper's setting (beta1 = 0,
    beta2 = 1 / (1 + C^2)) for Adam, AMSGrad and RMSProp, and Adam with its usual betas."""
    beta2 = AdamCounterexample(config.C).adam_beta2()
    decaying = {"lr": config.lr, "eps": config.eps, "decay": "inverse_sqrt"}
    return {
        "Adam": Adam(betas=(0.0, beta2), **decaying),
        "AMSGrad": AMSGrad(betas=(0.0, beta2), **decaying),
        "RMSProp": RMSProp(gamma=beta2, **decaying),
        "AdaGrad": AdaGrad(lr=config.lr, eps=config.eps),
        "SGD": None,  # projected online gradient descent, x_{t+1} = P(x_t - alpha / sqrt(t) g_t)
        "Adam, betas (0.9, 0.999)": Adam(betas=(0.9, 0.999), **decaying),
    }


def play(method, problem: AdamCounterexample, steps: int, lr: float) -> np.ndarray:
    """The iterates x_1 = 0, x_2, ..., x_steps of ``method`` (None: projected SGD with
    alpha / sqrt(t)) on ``problem``: x_t is played, then f_t'(x_t) revealed."""
    slopes = problem.slope(np.arange(1, steps + 1))
    xs = np.empty(steps)
    x = np.zeros(1)
    state = None if method is None else method.init(x)
    g = np.empty(1)
    for t in range(1, steps + 1):
        xs[t - 1] = x[0]
        g[0] = slopes[t - 1]
        if method is None:
            x -= lr / np.sqrt(t) * g
        else:
            method.step(x, g, state)
        problem.project(x)
    return xs


# -- AdaGrad on sparse features ---------------------------------------------------------------

#: The candidates of the sparse experiment: label -> (method class, decay, Config field of its grid).
SPARSE_METHODS = {
    "SGD, constant step": (GradientStep, "constant", "sgd_grid"),
    "SGD, step α/√k": (GradientStep, "inverse_sqrt", "sgd_decaying_grid"),
    "AdaGrad": (AdaGrad, "constant", "adagrad_grid"),
}


def sparse_instance(config: Config) -> SparseLogistic:
    """The sparse logistic problem of the chapter (one data set; seeds change the sample order)."""
    return power_law_logistic(config.sparse_samples, config.sparse_features, exponent=config.sparse_exponent,
                              mu=config.sparse_mu, seed=config.sparse_data_seed)


def sparse_method(name: str, lr: float):
    """The method ``name`` of :data:`SPARSE_METHODS` with step ``lr``."""
    cls, decay, _ = SPARSE_METHODS[name]
    return cls(lr=lr, decay=decay)


def sample_orders(config: Config, runs: int, tuning: bool) -> np.ndarray:
    """The sample indices i_k of every run, shape (steps, runs): drawn on the host, from a stream
    for the tuning runs and another for the reported runs, so that no reported order is tuned on."""
    rng = np.random.default_rng([config.sparse_data_seed, 1 if tuning else 2])
    return rng.integers(0, config.sparse_samples, size=(config.sparse_steps, runs))


def log_steps(steps: int, points: int = 40) -> np.ndarray:
    """About ``points`` log-spaced steps in [1, steps], the last one included."""
    return np.unique(np.geomspace(1, steps, points).round().astype(np.int64))


def run_sparse(method, problem, orders: np.ndarray, logged: np.ndarray = np.array([], dtype=np.int64),
               average_from: int | None = None):
    """SGD-type runs from x = 0, one sample per step: x_k = step(x_{k-1}, grad f_{i_k}(x_{k-1})),
    all runs (columns of ``orders``) at once as an (R, p) array. Returns the last iterates
    (R, p), the iterates after each step in ``logged`` (len(logged), R, p), the mean of
    x_k over k = average_from + 1 .. steps (the last half of the run by default) and the
    method's state at the end."""
    steps, runs = orders.shape
    start = steps // 2 if average_from is None else integer("average_from", average_from, minimum=0)
    if start >= steps:
        raise ValueError(f"average_from must be below the number of steps {steps}, got {start}")
    x = np.zeros((runs, problem.n_features))
    state = method.init(x)
    g = np.empty_like(x)
    total = np.zeros_like(x)
    snapshots, position = np.empty((len(logged),) + x.shape), 0
    for k in range(steps):
        rows, s = problem.sample_terms(x, orders[k])
        np.multiply(rows, s[:, None], out=g)  # grad f_i(x) = s_i a_i + mu x
        g += problem.mu * x
        method.step(x, g, state)
        if k >= start:
            total += x
        while position < len(logged) and logged[position] == k + 1:
            snapshots[position] = x
            position += 1
    return x, snapshots, total / (steps - start), state


@dataclass
class SparseRuns:
    """The sparse experiment: the instance, x*, the tuning table and the reported runs."""

    instance: SparseLogistic
    optimum: np.ndarray
    f_star: float
    common: np.ndarray
    rare: np.ndarray
    #: method -> (grid, mean objective gap f(x_T) - f* over the tuning runs at each step of it)
    tuning: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    logged: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int64))
    #: method -> iterates at the logged steps, shape (len(logged), runs, p)
    iterates: dict[str, np.ndarray] = field(default_factory=dict)
    #: method -> mean of the iterates over the last half of the run, shape (runs, p)
    averages: dict[str, np.ndarray] = field(default_factory=dict)
    #: AdaGrad's per-coordinate step alpha / sqrt(v_j + eps) at the end, shape (runs, p)
    adagrad_steps: np.ndarray | None = None
    #: how many sampled rows of each reported run contain each feature, shape (runs, p)
    hits: np.ndarray | None = None

    def tuned_step(self, name: str) -> float:
        grid, gaps = self.tuning[name]
        return float(grid[int(np.argmin(gaps))])

    def tuned_inside_grid(self, name: str) -> bool:
        """Whether the tuned step is neither end of its grid (else the grid was too narrow)."""
        _, gaps = self.tuning[name]
        return 0 < int(np.argmin(gaps)) < len(gaps) - 1

    @property
    def sgd(self) -> str:
        """The SGD schedule whose tuned run had the smaller gap on the tuning runs."""
        return min(("SGD, constant step", "SGD, step α/√k"), key=lambda name: self.tuning[name][1].min())

    def errors(self, name: str, group: str) -> np.ndarray:
        """mean_{j in group} |x_j - x*_j| of every run at every logged step, (len(logged), runs)."""
        columns = {"common": self.common, "rare": self.rare, "all": np.arange(self.optimum.size)}[group]
        return np.abs(self.iterates[name][..., columns] - self.optimum[columns]).mean(axis=-1)

    def final_errors(self, name: str, group: str) -> np.ndarray:
        return self.errors(name, group)[-1]

    def bias_and_spread(self, name: str, group: str) -> tuple[float, float]:
        """At the last step, over the features of ``group``: the mean of |mean over runs of x_j -
        x*_j| (the error the runs share) and the mean of the standard deviation of x_j over runs
        (the part that depends on the sample order)."""
        columns = {"common": self.common, "rare": self.rare}[group]
        last = self.iterates[name][-1][:, columns]
        return (float(np.abs(last.mean(axis=0) - self.optimum[columns]).mean()),
                float(last.std(axis=0, ddof=1).mean()))

    def gaps(self, name: str) -> np.ndarray:
        """f(x_T) - f* of every reported run."""
        return self.instance.problem.value(self.iterates[name][-1]) - self.f_star

    def advantage(self, group: str) -> claims.Estimate:
        """SGD's mean error on ``group`` over AdaGrad's, at the last step (paired by order)."""

        return claims.ratio_of_means(self.final_errors(self.sgd, group), self.final_errors("AdaGrad", group),
                              what="sample orders")

    def step_exponent(self) -> claims.Estimate:
        """The slope of ln(AdaGrad's step on j) against ln(hits of j) over the features, per run
        (-1/2 when v_j grows in proportion to the count of j's non-zero gradients)."""
        slopes = [np.polyfit(np.log(h), np.log(a), 1)[0] for h, a in zip(self.hits, self.adagrad_steps)]
        return claims.mean_with_error(slopes, what="sample orders")

    def concentration(self) -> claims.Estimate:
        """Per order, ln(SGD/AdaGrad error on the rare features) - ln(same on the common ones):
        > 0 when AdaGrad's advantage is larger on the rare features."""
        def log_ratio(group):
            return np.log(self.final_errors(self.sgd, group) / self.final_errors("AdaGrad", group))

        return claims.mean_with_error(log_ratio("rare") - log_ratio("common"), what="sample orders")


def run_sparse_experiment(config: Config, progress: bool = False) -> SparseRuns:
    """Tune every method of :data:`SPARSE_METHODS` on the tuning orders, then run its tuned step
    on the reported orders."""
    instance = sparse_instance(config)
    problem = instance.problem
    optimum = problem.minimize()
    p = config.sparse_features
    runs = SparseRuns(instance, optimum.x, optimum.value, np.arange(config.sparse_common),
                      np.arange(p - config.sparse_rare, p), logged=log_steps(config.sparse_steps))
    tuning_orders = sample_orders(config, config.sparse_tuning_runs, tuning=True)
    cells = [(name, lr) for name, (_, _, grid) in SPARSE_METHODS.items() for lr in getattr(config, grid)]
    gaps = {}
    for name, lr in tqdm(cells, desc="tuning steps", disable=not progress):
        x, _, _, _ = run_sparse(sparse_method(name, lr), problem, tuning_orders)
        gaps.setdefault(name, []).append(float((problem.value(x) - optimum.value).mean()))
    for name, (_, _, grid) in SPARSE_METHODS.items():
        runs.tuning[name] = (np.array(getattr(config, grid)), np.array(gaps[name]))
    orders = sample_orders(config, config.sparse_runs, tuning=False)
    for name in tqdm(SPARSE_METHODS, desc="tuned runs", disable=not progress):
        method = sparse_method(name, runs.tuned_step(name))
        _, runs.iterates[name], runs.averages[name], state = run_sparse(method, problem, orders, runs.logged)
        if name == "AdaGrad":  # its step on coordinate j: alpha / sqrt(v_j + eps), v_j = sum_k g_kj^2
            runs.adagrad_steps = method.lr / np.sqrt(state["v"] + method.eps)
    # hits[r, j]: how many of run r's sampled rows contain feature j
    multiplicity = np.stack([np.bincount(orders[:, r], minlength=problem.n_samples) for r in range(orders.shape[1])])
    runs.hits = multiplicity @ np.asarray(problem.features)
    return runs


# -- Adam + L2 against AdamW ------------------------------------------------------------------

DECAY_METHODS = ("Adam + L2", "AdamW")


def decay_method(name: str, config: Config):
    """Adam with the decay as an L2 term in the gradient, or AdamW with it decoupled."""
    if name == "Adam + L2":
        return Adam(lr=config.decay_lr, weight_decay=config.weight_decay)
    if name == "AdamW":
        return AdamW(lr=config.decay_lr, weight_decay=config.weight_decay)
    raise ValueError(f"unknown method {name!r}; known: {', '.join(DECAY_METHODS)}")


def predicted_shrinkage(scales, weight_decay: float, noise: float, method: str) -> np.ndarray:
    """1 - x_j / w_j at the fixed point, for the quadratic sum_j c_j (x_j - w_j)^2 / 2 with w = 1
    and stochastic gradients g_j = c_j (x_j - 1 + sigma xi_j), xi_j ~ N(0, 1).

    At a fixed point the mean update vanishes. Adam + L2 steps along (g + lambda x) / sqrt(v):
    a positive diagonal preconditioner does not move the zero of the mean,
    c_j (x_j - 1) + lambda x_j = 0, so the shrinkage is lambda / (c_j + lambda), the L2-penalised
    minimiser's. AdamW steps along g / sqrt(v) + lambda x, with v_j = E g_j^2 =
    c_j^2 ((x_j - 1)^2 + sigma^2) (the iterate's own spread, of order the step, neglected):
    lambda x_j = -(x_j - 1) / sqrt((x_j - 1)^2 + sigma^2), in which c_j cancels. The shrinkage
    s is the same for every coordinate, the root in (0, 1) of s = lambda (1 - s) sqrt(s^2 + sigma^2).
    """
    scales = np.asarray(scales, dtype=float)
    if scales.ndim != 1 or scales.size == 0 or not np.all(np.isfinite(scales) & (scales > 0)):
        raise ValueError("scales must be a non-empty 1-d array of positive finite numbers")
    weight_decay = real("weight_decay", weight_decay)
    noise = real("noise", noise)
    if method == "Adam + L2":
        return weight_decay / (scales + weight_decay)
    if method == "AdamW":
        s = brentq(lambda s: s - weight_decay * (1 - s) * math.sqrt(s * s + noise * noise), 0.0, 1.0,
                   xtol=1e-15)
        return np.full(scales.shape, s)
    raise ValueError(f"unknown method {method!r}; known: {', '.join(DECAY_METHODS)}")


def run_decay(method, scales: np.ndarray, noise: float, steps: int, tail: int, runs: int, seed: int = 0):
    """``runs`` independent runs from x = 0 on the quadratic of :func:`predicted_shrinkage`, as
    an (R, p) array. Returns the mean of x over the last ``tail`` steps (R, p) and the method's
    state at the end (its v gives the effective per-step decay of Adam + L2)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((runs, scales.size))
    state = method.init(x)
    g = np.empty_like(x)
    total = np.zeros_like(x)
    for k in range(steps):
        g[...] = rng.standard_normal(x.shape)
        g *= noise
        g += x
        g -= 1.0
        g *= scales  # c_j (x_j - 1 + sigma xi_j)
        method.step(x, g, state)
        if k >= steps - tail:
            total += x
    return total / tail, state


@dataclass
class DecayRuns:
    """The weight-decay experiment: the scales c_j and each method's long-run mean iterates."""

    scales: np.ndarray
    #: method -> mean of x over the tail, shape (runs, p)
    means: dict[str, np.ndarray] = field(default_factory=dict)
    #: method -> its second-moment average v at the end, shape (runs, p)
    second_moments: dict[str, np.ndarray] = field(default_factory=dict)

    def shrinkage(self, name: str) -> np.ndarray:
        """1 - x_j / w_j (w_j = 1) of every run, (runs, p)."""
        return 1.0 - self.means[name]

    def spread(self, name: str) -> claims.Estimate:
        """max_j - min_j of the mean (over runs) shrinkage, with the ends moved by 2 standard
        errors of the coordinates that make them (both ends: an interval for the range)."""
        s = self.shrinkage(name)
        mean, error = s.mean(axis=0), 2 * s.std(axis=0, ddof=1) / math.sqrt(s.shape[0])
        value = float(mean.max() - mean.min())
        high = float((mean + error).max() - (mean - error).min())
        low = max(0.0, float((mean - error).max() - (mean + error).min()))
        return claims.Estimate(value, min(low, value), high,
                               f"range of the mean ± 2 s.e. over {s.shape[0]} runs")

    def deviation(self, name: str, predicted: np.ndarray) -> claims.Estimate:
        """max_j |mean shrinkage_j - predicted_j| with each coordinate's ± 2 standard errors."""
        s = self.shrinkage(name)
        mean, error = s.mean(axis=0), 2 * s.std(axis=0, ddof=1) / math.sqrt(s.shape[0])
        gap = np.abs(mean - predicted)
        return claims.Estimate(float(gap.max()), float(np.maximum(gap - error, 0).max()),
                               float((gap + error).max()),
                               f"max over coordinates of |mean − prediction| ± 2 s.e. over {s.shape[0]} runs")

    def effective_decay(self, name: str, config: Config) -> np.ndarray:
        """The relative shrink a step applies through the decay: alpha lambda for AdamW, and
        alpha lambda / (sqrt(v_j / (1 - beta2^k)) + eps) for Adam + L2 (mean over runs, at the end)."""
        if name == "AdamW":
            return np.full(self.scales.shape, config.decay_lr * config.weight_decay)
        method = decay_method(name, config)
        v_hat = self.second_moments[name] / (1 - method.betas[1] ** config.decay_steps)
        return (config.decay_lr * config.weight_decay / (np.sqrt(v_hat) + method.eps)).mean(axis=0)


def run_decay_experiment(config: Config, progress: bool = False) -> DecayRuns:
    runs = DecayRuns(config.decay_scales)
    for seed, name in enumerate(tqdm(DECAY_METHODS, desc="weight-decay runs", disable=not progress)):
        mean, state = run_decay(decay_method(name, config), runs.scales, config.decay_noise, config.decay_steps,
                                config.decay_tail, config.decay_runs, seed=seed)
        runs.means[name], runs.second_moments[name] = mean, state["v"].copy()
    return runs


# -- Where each method keeps its state --------------------------------------------------------

def state_vectors(method) -> tuple[str, ...]:
    """The per-parameter arrays ``method`` keeps between steps (its ``memory``; the scratch
    buffer of one step is not state)."""
    return tuple(method.memory)


@dataclass
class Result:
    config: Config
    problem: AdamCounterexample
    iterates: dict[str, np.ndarray] = field(default_factory=dict)
    sparse: SparseRuns | None = None
    decay: DecayRuns | None = None

    @property
    def steps(self) -> np.ndarray:
        return np.arange(1, self.config.steps + 1)

    def regret(self, name: str) -> np.ndarray:
        """R_t = sum_{s <= t} f_s(x_s) - f_s(-1), for t = 1 .. T (linear losses: slope times gap)."""
        slopes = self.problem.slope(self.steps)
        return np.cumsum(slopes * (self.iterates[name] - self.problem.comparator))

    def average_regret(self, name: str) -> float:
        """R_T / T."""
        return float(self.regret(name)[-1] / self.config.steps)

    def settled_at(self, name: str) -> float:
        """The mean of x_t over the last ``tail`` steps (whole periods)."""
        return float(self.iterates[name][-self.config.tail:].mean())

    def settling_step(self, name: str, tolerance: float = 0.01) -> int:
        """The first step t from which x_t stays within ``tolerance`` of where it settles
        (:meth:`settled_at`) until the end of the run."""
        outside = np.flatnonzero(np.abs(self.iterates[name] - self.settled_at(name)) > tolerance)
        return 1 if outside.size == 0 else int(outside[-1]) + 2  # x_t is iterates[t - 1]

    def regret_exponent(self, name: str) -> float:
        """The slope of ln R_t against ln t over the last two decades of t, at ends of periods
        (R_t grows like t^p: p = 1 is linear regret, p <= 1/2 the O(sqrt T) of the theorems)."""
        t = self.steps
        ends = t[(t % PERIOD == 0) & (t >= t[-1] / 100)]
        return power_law_exponent(ends, self.regret(name)[ends - 1])


def run(config: Config = Config(), progress: bool = False) -> Result:
    """Every method of :func:`methods` on the same sequence, then the sparse and the
    weight-decay experiments."""
    result = Result(config, AdamCounterexample(config.C))
    for name, method in tqdm(methods(config).items(), desc="adaptive runs", disable=not progress):
        result.iterates[name] = play(method, result.problem, config.steps, config.lr)
    result.sparse = run_sparse_experiment(config, progress)
    result.decay = run_decay_experiment(config, progress)
    return result


COLOURS = {"Adam": "C3", "RMSProp": "C1", "AMSGrad": "C0", "AdaGrad": "C2", "SGD": "C7",
           "Adam, betas (0.9, 0.999)": "C4"}
#: RMSProp follows Adam's curve almost exactly here: dotted, so both stay visible.
STYLES = {"RMSProp": ":"}


def plot_iterates(result: Result):
    """x_t of every method (averaged over each period of three steps), log time axis."""
    fig, (ax,) = plotting.figure(panel=(7.5, 4.0))
    t = result.steps.reshape(-1, PERIOD)[:, -1]
    for name, xs in result.iterates.items():
        ax.plot(t, xs.reshape(-1, PERIOD).mean(axis=1), label=name, color=COLOURS[name], lw=1.5,
                ls=STYLES.get(name, "-"))
    ax.axhline(result.problem.comparator, color="black", ls="--", lw=1, label="best point x = −1")
    ax.legend(loc="center right", fontsize=8)
    return plotting.axes_labels(ax, xlabel="step t", ylabel="iterate x_t (mean over each period)",
                                title=f"Where each method goes, C = {result.config.C:g}", logx=True).figure


def plot_regret(result: Result):
    """R_t / t against t, with the limit for a point stuck at +1 and a 1/sqrt(t) guide."""
    fig, (ax,) = plotting.figure(panel=(7.5, 4.0))
    t = result.steps
    ends = t[t % PERIOD == 0]
    for name in result.iterates:
        average = result.regret(name)[ends - 1] / ends
        ax.plot(ends, np.maximum(average, np.finfo(float).tiny), label=name, color=COLOURS[name], lw=1.5,
                ls=STYLES.get(name, "-"))
    plotting.theory(ax, ends, np.full(ends.shape, result.problem.regret_per_step_at(1.0)),
                    label="staying at +1: 2(C − 2)/3")
    guide = result.average_regret("AMSGrad") * np.sqrt(ends[-1] / ends)
    plotting.theory(ax, ends, guide, label="∝ 1/√t (O(√T) regret)", color="gray")
    ax.legend(loc="lower left", fontsize=8)
    return plotting.axes_labels(ax, xlabel="step t", ylabel="average regret R_t / t",
                                title="Regret against the best fixed point", logx=True, logy=True).figure


SPARSE_COLOURS = {"SGD, constant step": "C7", "SGD, step α/√k": "C1", "AdaGrad": "C2"}


def plot_sparse_errors(result: Result):
    """The mean error |x_j - x*_j| over the common and over the rare features, against steps,
    for each tuned method (mean and 10-90% band over the sample orders)."""
    runs = result.sparse
    config = result.config
    fig, axes = plotting.figure(ncols=2, panel=(3.8, 3.4))
    titles = {"common": f"the {config.sparse_common} most frequent features",
              "rare": f"the {config.sparse_rare} rarest features"}
    for ax, group in zip(axes, ("common", "rare")):
        for name in SPARSE_METHODS:
            plotting.mean_band(ax, runs.logged, runs.errors(name, group).T,
                               label=f"{name} (α = {runs.tuned_step(name):g})", color=SPARSE_COLOURS[name])
        plotting.axes_labels(ax, xlabel="step k (one sample each)", ylabel="mean |x_j − x*_j| over the group",
                             title=titles[group], logx=True, logy=True)
    axes[0].legend(loc="lower left", fontsize=7)
    return fig


def plot_sparse_steps(result: Result):
    """AdaGrad's per-coordinate step alpha / sqrt(v_j + eps) at the end against how often the
    feature was sampled, with the slope -1/2 of v_j proportional to the count."""
    runs = result.sparse
    fig, (ax,) = plotting.figure(panel=(5.5, 3.6))
    hits, steps = runs.hits.mean(axis=0), runs.adagrad_steps.mean(axis=0)
    groups = np.full(hits.size, "other features", dtype=object)
    groups[runs.common], groups[runs.rare] = "common", "rare"
    for group, colour in (("common", "C0"), ("other features", "C7"), ("rare", "C3")):
        chosen = groups == group
        ax.plot(hits[chosen], steps[chosen], "o", ms=3.5, color=colour, label=group)
    guide = np.geomspace(hits.min(), hits.max(), 50)
    anchor = np.exp(np.mean(np.log(steps) + 0.5 * np.log(hits)))
    plotting.theory(ax, guide, anchor / np.sqrt(guide), label="∝ 1/√count")
    ax.axhline(runs.tuned_step("SGD, constant step"), color="C7", ls=":", lw=1.2,
               label="SGD's constant step (tuned)")
    ax.legend(loc="lower left", fontsize=8)
    return plotting.axes_labels(ax, xlabel="times feature j was sampled", ylabel="AdaGrad's step on x_j at the end",
                                title="AdaGrad's per-coordinate step", logx=True, logy=True).figure


def plot_decay(result: Result):
    """Relative shrinkage 1 - x_j at the fixed point against the gradient scale c_j, measured
    (mean and 2 s.e. over runs) and predicted; and the per-step decay each method applies."""
    runs, config = result.decay, result.config
    fig, axes = plotting.figure(ncols=2, panel=(3.8, 3.4))
    fine = np.logspace(*config.decay_decades, 200)
    colours = {"Adam + L2": "C3", "AdamW": "C0"}
    for name in DECAY_METHODS:
        s = runs.shrinkage(name)
        error = 2 * s.std(axis=0, ddof=1) / np.sqrt(s.shape[0])
        axes[0].errorbar(runs.scales, s.mean(axis=0), yerr=error, fmt="o", ms=4, color=colours[name],
                         label=f"{name}, measured")
        plotting.theory(axes[0], fine, predicted_shrinkage(fine, config.weight_decay, config.decay_noise, name),
                        label=f"{name}, fixed point", color=colours[name])
        axes[1].plot(runs.scales, runs.effective_decay(name, config), "o-", ms=4, color=colours[name], label=name)
    axes[0].legend(loc="upper right", fontsize=7)
    plotting.axes_labels(axes[0], xlabel="gradient scale c_j", ylabel="shrinkage 1 − x_j / x*_j",
                         title=f"Where each coordinate settles, λ = {config.weight_decay:g}", logx=True)
    axes[1].legend(loc="lower left", fontsize=8)
    plotting.axes_labels(axes[1], xlabel="gradient scale c_j", ylabel="decay per step, relative to x_j",
                         title="The weight decay a step applies", logx=True, logy=True)
    return fig


def figures(result: Result) -> dict:
    shown = {"iterates": plot_iterates(result), "regret": plot_regret(result)}
    if result.sparse is not None:
        shown |= {"sparse_errors": plot_sparse_errors(result), "sparse_steps": plot_sparse_steps(result)}
    if result.decay is not None:
        shown["decay"] = plot_decay(result)
    return shown


def summary(result: Result) -> dict:
    """The chapter's figures as plain numbers (written by ``memopt run adaptive``)."""
    config, sparse, decay = result.config, result.sparse, result.decay
    numbers = {
        "C": config.C,
        "beta2": result.problem.adam_beta2(),
        "limit_at_plus_one": result.problem.regret_per_step_at(1.0),
        "methods": {
            name: {"settled_at": result.settled_at(name), "settling_step": result.settling_step(name),
                   "average_regret": result.average_regret(name),
                   "regret_exponent": result.regret_exponent(name)}
            for name in result.iterates
        },
    }
    if sparse is not None:
        numbers["sparse"] = {
            "f_star": sparse.f_star,
            "sgd": sparse.sgd,
            "methods": {
                name: {"tuned_step": sparse.tuned_step(name),
                       "tuned_inside_grid": sparse.tuned_inside_grid(name),
                       "objective_gap": float(sparse.gaps(name).mean()),
                       "error_common": float(sparse.final_errors(name, "common").mean()),
                       "error_rare": float(sparse.final_errors(name, "rare").mean())}
                for name in SPARSE_METHODS
            },
            "advantage_rare": sparse.advantage("rare").value,
            "advantage_common": sparse.advantage("common").value,
            "adagrad_step_exponent": sparse.step_exponent().value,
        }
    if decay is not None:
        numbers["weight_decay"] = {
            "scales": decay.scales.tolist(),
            "methods": {
                name: {"shrinkage": decay.shrinkage(name).mean(axis=0).tolist(),
                       "predicted": predicted_shrinkage(decay.scales, config.weight_decay, config.decay_noise,
                                                        name).tolist()}
                for name in DECAY_METHODS
            },
        }
    return numbers
