"""Chapter "Double descent" (book/phenomena/double_descent.md).

Belkin, Hsu, Ma and Mandal (PNAS 2019) fit random Fourier features
sqrt(2) cos(<v_k, x> + b_k), v_k ~ N(0, sigma^-2 I), to one-hot targets by least squares, taking
the minimum-norm solution once the N features can interpolate the n training points, and find
the test loss peaking at N = n and falling again beyond it. This module runs that experiment on
the UCI digits bundled with scikit-learn (the book builds offline, so MNIST is out of reach):
minimum-norm fits along a sweep over N for several independent feature draws, on clean labels
and on 20% corrupted labels, ridge fits on a grid of penalties (tuned at every N on held-out
validation digits, as in Nakkiran et al. 2021), and random ReLU features.

The fits are the cells of a :mod:`memopt.sweep` grid, draw x label noise x width (and draw x
width for the ReLU features): :func:`fit_width` fits one width of one draw, solved for that
width alone, and :func:`run` runs the grid (in this process or on a Dask client) and gathers
the table into the chapter's curves (:func:`from_tables`). Every draw is made once for the
largest N and the N-feature model is its first N columns (nested features), so a process
computes a draw's features once for all its widths. The nested sweeps of
:func:`memopt.features.min_norm_path` and :func:`memopt.features.ridge_path`, which update one
factorization along N, are timed against from-scratch solves on one draw. The N -> infinity
limits (kernel interpolation and kernel ridge regression with the kernel the features sample)
are computed exactly and drawn as the theory beside the measurements.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np

from memopt import claims, plotting
from memopt.backend import single_blas_thread
from memopt.cache import ResultCache
from memopt.features import (
    RandomFourierFeatures,
    RandomReLUFeatures,
    kernel_fit,
    min_norm_path,
    min_norm_solve,
    ridge_path,
    ridge_solve,
)
from memopt.problems import DigitsSplit, digits_split

NAME = "double_descent"
DESCRIPTION = "Double descent of random-feature least squares on the UCI digits, with noise and ridge"

#: The paper's bandwidth for MNIST (784 pixels in [0, 1]), rescaled to 64 pixels: distances
#: between images shrink like the square root of the number of pixels.
PAPER_SIGMA = 5.0
MNIST_PIXELS, DIGITS_PIXELS = 28 * 28, 8 * 8

#: Training losses below this (relative to ||Y||^2) are float64 rounding, reported as this value.
TRAIN_LOSS_RESOLUTION = 1e-12

CLEAN, NOISY, RELU = "clean", "noisy", "relu"
METRICS = ("test_loss", "test_error", "train_loss", "norm", "validation_loss")


@dataclass(frozen=True)
class Config:
    """Everything that determines the chapter's runs."""

    n_train: int = 400
    n_validation: int = 400
    #: None: every image left after the training and validation sets (997 at the defaults).
    n_test: int | None = None
    data_seed: int = 0
    sigma: float = PAPER_SIGMA * (DIGITS_PIXELS / MNIST_PIXELS) ** 0.5
    #: Independent feature draws (seeds 0 .. draws - 1); curves show their mean and band. Five
    #: draws left the ridge curve's "no rise" claim within about two standard errors of its
    #: threshold; ten put it about four away.
    draws: int = 10
    #: N / n from min_ratio to max_ratio, log-spaced, plus the ratios near 1 below.
    min_ratio: float = 1 / 20
    max_ratio: float = 20.0
    grid_points: int = 25
    near_threshold: tuple[float, ...] = (0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 1.0, 1.02, 1.05, 1.1, 1.15, 1.25, 1.4)
    label_noise: float = 0.2
    #: Ridge penalties in kernel units: the penalty on ||A||^2 at N features is ridge * N. The
    #: ridge is tuned among them at every N and draw by the validation loss.
    ridges: tuple[float, ...] = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 0.3, 1.0, 3.0, 10.0)
    relu: bool = True
    #: Time the nested sweep against from-scratch SVDs on every k-th size of the first draw.
    timing_stride: int = 3

    def __post_init__(self):
        if self.n_train < 10 or self.n_validation < 1:
            raise ValueError(f"need n_train >= 10 and n_validation >= 1, got {self.n_train}, {self.n_validation}")
        if not (np.isfinite(self.sigma) and self.sigma > 0):
            raise ValueError(f"sigma must be finite and > 0, got {self.sigma}")
        if self.draws < 2:
            raise ValueError(f"draws must be >= 2 for a mean and a band, got {self.draws}")
        if not 0 < self.min_ratio < 1 < self.max_ratio or self.grid_points < 2:
            raise ValueError("need 0 < min_ratio < 1 < max_ratio and grid_points >= 2")
        if not 0 <= self.label_noise < 1:
            raise ValueError(f"label_noise must lie in [0, 1), got {self.label_noise}")
        if not self.ridges or min(self.ridges) <= 0:
            raise ValueError(f"ridges must be a non-empty tuple of positive penalties, got {self.ridges}")
        if self.timing_stride < 1:
            raise ValueError(f"timing_stride must be >= 1, got {self.timing_stride}")

    @property
    def sizes(self) -> tuple[int, ...]:
        """The feature counts N of the sweep, increasing."""
        ratios = np.concatenate([np.geomspace(self.min_ratio, self.max_ratio, self.grid_points),
                                 self.near_threshold])
        return tuple(int(s) for s in np.unique(np.maximum(np.round(ratios * self.n_train), 1)))


SCALES = {
    "book": Config(),
    "paper": Config(n_train=800, n_validation=300, draws=20, grid_points=40),
}


@dataclass
class Curves:
    """Measurements along the sweep for one model: arrays of shape (draws, len(sizes)).

    Losses are means over samples: the squared loss ||f(x) - y||^2 summed over the classes, the
    zero-one loss [argmax f(x) != label]. ``train_loss`` is ||Phi A - Y||_F^2 / ||Y||_F^2 on the
    training targets the model was fitted to; ``norm`` is ||A||_F.
    """

    test_loss: np.ndarray
    test_error: np.ndarray
    train_loss: np.ndarray
    norm: np.ndarray
    validation_loss: np.ndarray

    @classmethod
    def empty(cls, draws: int, sizes: int) -> "Curves":
        return cls(*(np.full((draws, sizes), np.nan) for _ in METRICS))

    def mean(self, metric: str) -> np.ndarray:
        return getattr(self, metric).mean(axis=0)


@dataclass
class Limit:
    """The N -> infinity limit of a model: kernel interpolation or kernel ridge regression."""

    test_loss: float
    test_error: float
    #: sqrt(N) ||A||_F tends to the RKHS norm of the limit (for ridgeless fits).
    rkhs_norm: float


@dataclass
class Result:
    config: Config
    data: DigitsSplit
    noisy: DigitsSplit
    sizes: np.ndarray
    #: Minimum-norm fits: CLEAN and NOISY random Fourier features, RELU random ReLU features.
    models: dict[str, Curves] = field(default_factory=dict)
    #: Ridge fits: (CLEAN or NOISY, ridge) -> curves.
    ridge: dict[tuple[str, float], Curves] = field(default_factory=dict)
    #: Estimated condition number of the training features, per draw and size (Fourier, clean).
    conditions: np.ndarray | None = None
    limits: dict = field(default_factory=dict)
    #: Which solver served each size of the nested sweeps, counted over all draws.
    methods: dict[str, int] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)
    #: How many cells (one fit of one width, draw and label noise) the sweep computed.
    cells: int = 0

    # -- the sweep --------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return self.config.n_train

    @property
    def ratios(self) -> np.ndarray:
        return self.sizes / self.n

    def window(self, low: float = 0.8, high: float = 1.25) -> np.ndarray:
        """Mask of the sizes with low * n <= N <= high * n."""
        return (self.sizes >= low * self.n) & (self.sizes <= high * self.n)

    # -- what the claims measure -------------------------------------------------------------
    def peak_ratio(self, model: str = CLEAN, metric: str = "test_loss") -> float:
        """N / n at the largest mean (over draws) of ``metric``."""
        return float(self.ratios[np.argmax(self.models[model].mean(metric))])

    def peak_estimate(self, model: str = CLEAN, metric: str = "test_loss") -> claims.Estimate:
        """N / n at the largest ``metric`` of each draw's own curve: median and range over draws."""
        peaks = self.ratios[np.argmax(getattr(self.models[model], metric), axis=1)]
        return claims.median_with_range(peaks, what="draws")

    def train_loss_estimate(self, model: str = CLEAN) -> claims.Estimate:
        """Each draw's largest relative training loss over N >= n (at least
        :data:`TRAIN_LOSS_RESOLUTION`): median and range over draws, the upper end
        :meth:`train_loss_past_threshold`."""
        past = self.sizes >= self.n
        worst = np.maximum(self.models[model].train_loss[:, past].max(axis=1), TRAIN_LOSS_RESOLUTION)
        return claims.median_with_range(worst, what="draws")

    def train_loss_past_threshold(self, model: str = CLEAN) -> float:
        """The largest relative training loss over N >= n and all draws, reported as at least
        :data:`TRAIN_LOSS_RESOLUTION` (smaller values are rounding, not a property of the fit)."""
        past = self.sizes >= self.n
        return max(float(self.models[model].train_loss[:, past].max()), TRAIN_LOSS_RESOLUTION)

    def norm_fall(self, model: str = CLEAN) -> float:
        """The largest ratio norm(N_{j+1}) / norm(N_j) of the mean coefficient norm between
        consecutive sizes after its peak: below 1 when the norm falls at every step."""
        norm = self.models[model].mean("norm")
        peak = int(np.argmax(norm))
        if peak == len(norm) - 1:
            return float("inf")
        return float(np.max(norm[peak + 1:] / norm[peak:-1]))

    def norm_fall_estimate(self, model: str = CLEAN) -> claims.Estimate:
        """:meth:`norm_fall` with its interval over the draws (:func:`memopt.claims.largest_ratio_of_means`
        from the mean norm's peak on)."""
        norm = self.models[model].norm
        peak = int(np.argmax(norm.mean(axis=0)))
        if peak >= norm.shape[1] - 1:
            return claims.Estimate(np.inf, np.inf, np.inf, "the mean norm peaks at the largest N")
        return claims.largest_ratio_of_means(norm[:, peak:], what="draws")

    def best_error_estimate(self, model: str = CLEAN) -> claims.Estimate:
        """Each draw's best test zero-one loss over N >= 2n divided by its best over N <= n/2:
        median and range over draws."""
        return claims.median_with_range(self.best_error_ratios(model), what="draws")

    def best_error_ratio(self, model: str = CLEAN) -> float:
        """min over N >= 2n of the mean test zero-one loss, divided by its min over N <= n/2."""
        error = self.models[model].mean("test_error")
        return float(error[self.sizes >= 2 * self.n].min() / error[self.sizes <= self.n / 2].min())

    def ridge_choice(self, target: str = CLEAN) -> np.ndarray:
        """The index into ``config.ridges`` of the ridge with the lowest validation loss, for
        every draw and size (shape draws x sizes): the penalty tuned at each N."""
        validation = np.stack([self.ridge[target, r].validation_loss for r in self.config.ridges])
        return np.argmin(validation, axis=0)

    def tuned(self, target: str = CLEAN, metric: str = "test_loss") -> np.ndarray:
        """``metric`` of the ridge fit tuned at each N and draw (:meth:`ridge_choice`)."""
        values = np.stack([getattr(self.ridge[target, r], metric) for r in self.config.ridges])
        return np.take_along_axis(values, self.ridge_choice(target)[None], axis=0)[0]

    def ridge_choice_counts(self, target: str = CLEAN) -> dict[float, int]:
        """How often each ridge was chosen, over draws and sizes."""
        choice = self.ridge_choice(target)
        return {r: int(np.sum(choice == i)) for i, r in enumerate(self.config.ridges)}

    def curves_of(self, target: str, ridge: float | str) -> np.ndarray:
        """Test squared losses (draws x sizes) of the minimum-norm fit (``ridge`` 0), of one
        ridge, or of the tuned ridge (``"tuned"``)."""
        if ridge == "tuned":
            return self.tuned(target)
        return self.models[target].test_loss if ridge == 0 else self.ridge[target, ridge].test_loss

    def local_peak_estimate(self, target: str = CLEAN, ridge: float | str = "tuned",
                            metric: str = "test_loss") -> claims.Estimate:
        """:func:`memopt.claims.largest_local_peak` of the mean test loss (or another metric of the tuned
        fit) over N: at most 1 when the mean curve has no interior local maximum."""
        values = self.tuned(target, metric) if ridge == "tuned" else self.curves_of(target, ridge)
        return claims.largest_local_peak(values, what="draws")

    def largest_rise(self, target: str = CLEAN, ridge: float | str = "tuned") -> float:
        """The largest ratio loss(N_{j+1}) / loss(N_j) of the mean test squared loss between
        consecutive sizes: at most 1 when the curve never rises. ``ridge`` "tuned" is the ridge
        tuned at each N, 0 the minimum-norm fit, a number that ridge."""
        loss = self.curves_of(target, ridge).mean(axis=0)
        return float(np.max(loss[1:] / loss[:-1]))

    def best_error_ratios(self, model: str = CLEAN) -> np.ndarray:
        """Each draw's best test zero-one loss over N >= 2n divided by its best over N <= n/2."""
        error = self.models[model].test_error
        return error[:, self.sizes >= 2 * self.n].min(axis=1) / error[:, self.sizes <= self.n / 2].min(axis=1)

    def landmarks(self, model: str = CLEAN) -> dict[str, float]:
        """Mean test zero-one loss at the landmarks of the curve: its best below n/2, at N = n,
        its best past 2n, and the N -> infinity limit (kernel interpolation)."""
        error = self.models[model].mean("test_error")
        at_n = error[np.argmin(np.abs(self.sizes - self.n))]
        return {"best N <= n/2": float(error[self.sizes <= self.n / 2].min()), "N = n": float(at_n),
                "best N >= 2n": float(error[self.sizes >= 2 * self.n].min()),
                "N -> infinity": self.limits[model].test_error}

    @property
    def median_distance(self) -> float:
        """The median Euclidean distance between two training images."""
        x = self.data.x_train
        sq = np.sum(x * x, axis=1)
        d2 = sq[:, None] + sq[None, :] - 2 * x @ x.T
        return float(np.median(np.sqrt(np.maximum(d2[np.triu_indices(len(x), 1)], 0))))

    def speedup(self, kind: str = "min_norm") -> float:
        """CPU time of from-scratch SVD solves over that of the nested sweep, on the same sizes."""
        return self.timing[f"{kind}_scratch"] / self.timing[f"{kind}_path"]


# -- the runs --------------------------------------------------------------------------------
def squared_loss(prediction, target) -> float:
    return float(np.mean(np.sum((prediction - target) ** 2, axis=1)))


def zero_one_loss(prediction, labels) -> float:
    return float(np.mean(np.argmax(prediction, axis=1) != labels))


#: What one fit of a sweep returns (:func:`fit_width`): the metrics of its main fit, how its
#: minimum-norm solution was computed and the condition estimate of its triangular factor,
#: and each metric of the ridge fits of its ``ridges`` (tuples, one value per penalty).
FIT_COLUMNS = (*METRICS, "condition", "method", *(f"ridges_{m}" for m in METRICS))


def fit_base(config: Config):
    """The :class:`memopt.sweep.RandomFeaturesFit` the chapter's sweep varies: ``config``'s
    data and bandwidth, its ridge grid beside every fit, and one draw of the largest width."""
    from memopt.sweep import RandomFeaturesFit  # noqa: PLC0415  (sweep imports this module)

    return RandomFeaturesFit(width=config.n_train, n_train=config.n_train, n_validation=config.n_validation,
                             n_test=config.n_test or 0, data_seed=config.data_seed, sigma=config.sigma,
                             ridges=config.ridges, draw_width=max(config.sizes))


def fourier_grid(config: Config) -> dict[str, list]:
    """The cells of the chapter's random Fourier features: draw x label noise x width (the
    width varies fastest, so one process meets each draw's widths one after another)."""
    return {"seed": list(range(config.draws)), "label_noise": list(dict.fromkeys([0.0, config.label_noise])),
            "width": list(config.sizes)}


def relu_grid(config: Config) -> dict[str, list]:
    """The cells of the random ReLU features (clean labels, minimum norm only): draw x width."""
    return {"seed": list(range(config.draws)), "width": list(config.sizes)}


@lru_cache(maxsize=4)
def _split(n_train: int, n_validation: int, n_test: int, data_seed: int, label_noise: float) -> DigitsSplit:
    data = digits_split(n_train, n_test or None, n_validation, seed=data_seed)
    return data.with_label_noise(label_noise) if label_noise else data


def _feature_map(kind: str, data: DigitsSplit, width: int, sigma: float, seed: int):
    if kind == RELU:
        return RandomReLUFeatures(data.input_dim, width, seed=seed, center=data.x_train.mean(axis=0))
    return RandomFourierFeatures(data.input_dim, width, sigma, seed=seed)


@lru_cache(maxsize=1)
def _drawn(kind: str, seed: int, width: int, sigma: float, split: tuple) -> dict[str, np.ndarray]:
    """The features of every image for one draw: the cells of a sweep over widths share it (a
    process keeps the last draw, the widths of a draw come one after another)."""
    data = _split(*split, 0.0)
    features = _features(_feature_map(kind, data, width, sigma, seed), data)
    for array in features.values():
        array.setflags(write=False)
    return features


def _metrics(coefs, features, data) -> list[dict[str, float]]:
    """The metrics of each fit in ``coefs`` (coefficients on the same features, fitted to
    ``data.y_train``). The coefficients are stacked, so each part's features are multiplied
    once for all of them."""
    stacked = np.hstack(coefs)
    cuts = np.cumsum([c.shape[1] for c in coefs])[:-1]
    predictions = {part: np.split(features[part] @ stacked, cuts, axis=1) for part in features}
    y = data.y_train
    return [{"test_loss": squared_loss(test, data.y_test),
             "test_error": zero_one_loss(test, data.labels_test),
             "train_loss": float(np.sum((train - y) ** 2) / np.sum(y ** 2)),
             "norm": float(np.linalg.norm(coef)),
             "validation_loss": squared_loss(validation, data.y_validation) if len(validation) else np.nan}
            for coef, train, validation, test in zip(coefs, predictions["train"], predictions["validation"],
                                                      predictions["test"])]


def fit_width(fit) -> dict:
    """One cell of the chapter's sweep (a :class:`memopt.sweep.RandomFeaturesFit`): the fits of
    the first ``fit.width`` features of draw ``fit.seed``, solved for that width alone, and
    their metrics (:data:`FIT_COLUMNS`). The minimum-norm fit is
    :func:`memopt.features.min_norm_path` at one size (QR, seminormal equations past
    N = n, SVD where the factor is too ill-conditioned); the ridge fits are
    :func:`memopt.features.ridge_path` at one size (one kernel matrix, a Cholesky
    factorization per penalty)."""
    split = (fit.n_train, fit.n_validation, fit.n_test, fit.data_seed)
    data = _split(*split, fit.label_noise)
    drawn = _drawn(fit.features, fit.seed, max(fit.width, fit.draw_width), fit.sigma, split)
    features = {part: array[:, :fit.width] for part, array in drawn.items()}
    train, y = features["train"], data.y_train
    if fit.ridge == 0:
        path = min_norm_path(train, y, [fit.width])
        coefs, method, condition = [path.coefficients[0]], path.methods[0], float(path.conditions[0])
    else:
        coefs = [ridge_path(train, y, [fit.width], [fit.ridge], per_feature=True)[0][0]]
        method, condition = "ridge", float("nan")
    if fit.ridges:
        coefs += list(ridge_path(train, y, [fit.width], fit.ridges, per_feature=True)[0])
    main, *ridges = _metrics(coefs, features, data)
    return {**main, "condition": condition, "method": method,
            **{f"ridges_{m}": tuple(r[m] for r in ridges) for m in METRICS}}


def _features(feature_map, data):
    return {part: feature_map(getattr(data, f"x_{part}")) for part in ("train", "validation", "test")}


def _limit(feature_map, data, targets, ridge=0.0) -> Limit:
    """Kernel interpolation (ridge 0) or kernel ridge regression with the map's kernel."""
    coef = kernel_fit(feature_map.kernel(data.x_train, data.x_train), targets, ridge)
    test_fit = feature_map.kernel(data.x_test, data.x_train) @ coef
    rkhs = float(np.sqrt(max(np.sum(targets * coef), 0.0))) if ridge == 0 else float("nan")
    return Limit(squared_loss(test_fit, data.y_test), zero_one_loss(test_fit, data.labels_test), rkhs)


def _time_reuse(phi, targets, sizes, ridges) -> dict[str, float]:
    """CPU seconds of the nested sweeps and of from-scratch SVD solves on the same sizes (run
    on one BLAS thread, so the comparison measures work rather than thread scheduling)."""

    def clock(task):
        start = time.process_time()
        out = task()
        return time.process_time() - start, out

    timing = {}
    timing["min_norm_path"], path = clock(lambda: min_norm_path(phi, targets, sizes))
    timing["min_norm_scratch"], scratch = clock(lambda: [min_norm_solve(phi[:, :s], targets) for s in sizes])
    timing["ridge_path"], rpath = clock(lambda: ridge_path(phi, targets, sizes, ridges, per_feature=True))
    timing["ridge_scratch"], rscratch = clock(
        lambda: [ridge_solve(phi[:, :s], targets, np.array(ridges) * s) for s in sizes])
    timing["min_norm_difference"] = max(
        float(np.linalg.norm(a - b) / np.linalg.norm(b)) for a, b in zip(path.coefficients, scratch))
    timing["ridge_difference"] = max(
        float(np.linalg.norm(a[i] - b[i]) / np.linalg.norm(b[i]))
        for a, b in zip(rpath, rscratch) for i in range(len(ridges)))
    timing["sizes_timed"] = len(sizes)
    return timing


def run(config: Config = Config(), progress: bool = False, client=None, cache=None) -> Result:
    """All of the chapter's fits for ``config``: the sweep of :func:`fit_width` cells over
    :func:`fourier_grid` (and :func:`relu_grid`) by :func:`memopt.sweep.run_sweep`, on
    ``client`` (a ``dask.distributed.Client``) or in this process, each cell on one BLAS
    thread, gathered by :func:`from_tables`. ``cache`` (a :class:`memopt.cache.ResultCache`)
    keeps the cells, so that an interrupted run resumes; by default they are computed afresh."""
    from memopt import sweep  # noqa: PLC0415  (sweep imports this module)

    cell = sweep.cell_of(NAME)
    base = fit_base(config)
    try:
        with contextlib.ExitStack() as stack:
            if cache is None:
                cache = ResultCache(stack.enter_context(tempfile.TemporaryDirectory(prefix="memopt-dd-")))
            fourier = sweep.run_sweep(cell, fourier_grid(config), base=base, client=client, cache=cache,
                                      progress=progress).table
            relu = None
            if config.relu:
                relu = sweep.run_sweep(cell, relu_grid(config), base=replace(base, features=RELU, ridges=()),
                                       client=client, cache=cache, progress=progress).table
        with single_blas_thread():
            return from_tables(config, fourier, relu)
    finally:
        _drawn.cache_clear()  # a draw of the largest width is large; keep no copy once done


def _rows(table, config: Config, **where):
    """The rows of ``table`` matching ``where``, one per (draw, size), draws slowest."""
    mask = np.ones(len(table), dtype=bool)
    for key, value in where.items():
        mask &= table[key].to_numpy() == value
    rows = table[mask].sort_values(["seed", "width"], kind="stable")
    if list(rows["width"]) != list(config.sizes) * config.draws or len(set(rows["seed"])) != config.draws:
        raise ValueError(f"the sweep's table lacks cells of {where or 'the grid'} for this configuration")
    return rows


def _curves(rows, config: Config, prefix: str = "") -> Curves:
    shape = (config.draws, len(config.sizes))
    return Curves(*(np.asarray(rows[prefix + m].to_numpy(), dtype=float).reshape(shape) for m in METRICS))


def from_tables(config: Config, fourier, relu=None) -> Result:
    """The chapter's :class:`Result` from the sweep's tables (one row per cell, see
    :func:`fourier_grid` and :func:`relu_grid`), with the N -> infinity limits and, on draw 0,
    the timing of the nested sweep against from-scratch solves."""
    data = digits_split(config.n_train, config.n_test, config.n_validation, seed=config.data_seed)
    noisy = data.with_label_noise(config.label_noise)
    sizes = np.array(config.sizes)
    result = Result(config, data, noisy, sizes)
    shape = (config.draws, len(sizes))
    for target, noise in ((CLEAN, 0.0), (NOISY, config.label_noise)):
        rows = _rows(fourier, config, label_noise=noise)
        result.models[target] = _curves(rows, config)
        per_ridge = {m: np.array(rows[f"ridges_{m}"].tolist(), dtype=float).reshape(*shape, len(config.ridges))
                     for m in METRICS}
        for i, r in enumerate(config.ridges):
            result.ridge[target, r] = Curves(*(per_ridge[m][..., i] for m in METRICS))
        if target == CLEAN:  # the features, hence the factor and its solver, are the noisy fits' too
            result.conditions = rows["condition"].to_numpy(dtype=float).reshape(shape)
            for method in rows["method"]:
                result.methods[method] = result.methods.get(method, 0) + 1
    if relu is not None:
        result.models[RELU] = _curves(_rows(relu, config), config)
    result.cells = len(fourier) + (0 if relu is None else len(relu))

    features = _features(RandomFourierFeatures(data.input_dim, int(sizes[-1]), config.sigma, seed=0), data)
    targets = np.hstack([data.y_train, noisy.y_train])
    result.timing = _time_reuse(features["train"], targets, tuple(sizes[::config.timing_stride]), config.ridges)
    fourier_map = RandomFourierFeatures(data.input_dim, 1, config.sigma)
    result.limits[CLEAN] = _limit(fourier_map, data, data.y_train)
    result.limits[NOISY] = _limit(fourier_map, noisy, noisy.y_train)
    for r in config.ridges:
        result.limits[CLEAN, r] = _limit(fourier_map, data, data.y_train, r)
        result.limits[NOISY, r] = _limit(fourier_map, noisy, noisy.y_train, r)
    if relu is not None:
        relu_map = RandomReLUFeatures(data.input_dim, 1, center=data.x_train.mean(axis=0))
        result.limits[RELU] = _limit(relu_map, data, data.y_train)
    return result


# -- figures ---------------------------------------------------------------------------------
N_LABEL = "number of random features N (features)"
BAND_NOTE = "mean over feature draws, 10–90% band"


def _threshold(ax, result):
    ax.axvline(result.n, color="gray", ls=":", lw=1.2, label="_threshold")


def _sweep_panel(ax, result, curves_by_label, metric, ylabel, title, limits=None, colours=None):
    """Mean and band of ``metric`` for each model against N, its N -> infinity limit dashed."""
    colours = colours or [f"C{i}" for i in range(len(curves_by_label))]
    for colour, (label, curves) in zip(colours, curves_by_label.items()):
        plotting.mean_band(ax, result.sizes, getattr(curves, metric), label=label, color=colour)
        if limits and label in limits:
            plotting.theory(ax, result.sizes, np.full(len(result.sizes), limits[label]), label=None, color=colour)
    _threshold(ax, result)
    return plotting.axes_labels(ax, xlabel=N_LABEL, ylabel=ylabel, title=title, logx=True, logy=True)


def plot_double_descent(result: Result):
    """Test zero-one and squared loss, training loss, coefficient norm and conditioning against
    N, for clean and for noisy labels; dashed: the N -> infinity kernel limits."""
    fig, axes = plotting.figure(ncols=3, nrows=2, panel=(3.3, 2.8))
    noise = f"{result.config.label_noise:.0%} label noise"
    curves = {"clean labels": result.models[CLEAN], noise: result.models[NOISY]}
    lim = {"clean labels": result.limits[CLEAN], noise: result.limits[NOISY]}
    _sweep_panel(axes[0], result, curves, "test_error", "test zero-one loss", "Test error",
                 {k: v.test_error for k, v in lim.items()})
    _sweep_panel(axes[1], result, curves, "test_loss", "test squared loss", "Test squared loss",
                 {k: v.test_loss for k, v in lim.items()})
    train = {k: Curves(*(np.maximum(getattr(c, m), TRAIN_LOSS_RESOLUTION) for m in METRICS))
             for k, c in curves.items()}
    _sweep_panel(axes[2], result, train, "train_loss", "training loss ‖ΦA − Y‖² / ‖Y‖²",
                 "Training loss (floored at 1e-12)")
    _sweep_panel(axes[3], result, curves, "norm", "coefficient norm ‖A‖_F", "Coefficient norm")
    for i, limit in enumerate(lim.values()):
        plotting.theory(axes[3], result.sizes, limit.rkhs_norm / np.sqrt(result.sizes), label=None, color=f"C{i}")
    plotting.mean_band(axes[4], result.sizes, result.conditions, label="random Fourier features", color="C2")
    _threshold(axes[4], result)
    plotting.axes_labels(axes[4], xlabel=N_LABEL, ylabel="condition number of Φ (1-norm estimate)",
                         title="Conditioning of the training features", logx=True, logy=True)
    axes[0].plot([], [], ls="--", color="gray", label="N → ∞ (kernel interpolation)")
    axes[0].plot([], [], ls=":", color="gray", label="interpolation threshold N = n")
    axes[0].legend(loc="lower left")
    axes[5].axis("off")
    axes[5].text(0.0, 0.5, _caption(result), va="center", fontsize=9, wrap=True)
    return fig


def _caption(result: Result) -> str:
    c = result.config
    return (f"n = {c.n_train} training digits, {result.data.x_test.shape[0]} test digits\n"
            f"random Fourier features, σ = {c.sigma:.3g}\n"
            f"{c.draws} feature draws: {BAND_NOTE}\n"
            "dashed: N → ∞ limit (kernel interpolation);\n"
            "for the norm, ‖h‖_RKHS / √N; dotted: N = n")


def plot_ridge(result: Result):
    """Test squared loss of ridge fits against N, clean and noisy labels: the minimum-norm fit,
    fixed penalties (one per decade of the grid, kernel ridge regression dashed) and the penalty
    tuned at each N on the validation digits."""
    fig, axes = plotting.figure(ncols=2, panel=(5.5, 4.0))
    decades = [r for r in result.config.ridges if np.isclose(np.log10(r), np.round(np.log10(r)))]
    for ax, target in zip(axes, (CLEAN, NOISY)):
        curves = {"minimum norm (λ = 0)": result.models[target]}
        limits = {"minimum norm (λ = 0)": result.limits[target].test_loss}
        for r in decades:
            curves[f"λ = {r:g}"] = result.ridge[target, r]
            limits[f"λ = {r:g}"] = result.limits[target, r].test_loss
        name = "clean labels" if target == CLEAN else f"{result.config.label_noise:.0%} label noise"
        colours = ["black"] + plotting.palette(len(decades))
        _sweep_panel(ax, result, curves, "test_loss", "test squared loss",
                     f"Ridge, {name} (axis cut at 10)", limits, colours)
        plotting.mean_band(ax, result.sizes, result.tuned(target), label="λ tuned at each N (validation)",
                           color="C3")
        ax.set_ylim(top=10.0)
        ax.plot([], [], ls="--", color="gray", label="N → ∞ (kernel ridge regression)")
        ax.legend(loc="upper right", fontsize=8)
    return fig


def plot_relu(result: Result):
    """Random ReLU against random Fourier features (clean labels): test losses and norm."""
    fig, axes = plotting.figure(ncols=3, panel=(3.3, 3.0))
    curves = {"random Fourier features": result.models[CLEAN], "random ReLU features": result.models[RELU]}
    lim = {"random Fourier features": result.limits[CLEAN], "random ReLU features": result.limits[RELU]}
    _sweep_panel(axes[0], result, curves, "test_error", "test zero-one loss", "Test error",
                 {k: v.test_error for k, v in lim.items()})
    _sweep_panel(axes[1], result, curves, "test_loss", "test squared loss", "Test squared loss",
                 {k: v.test_loss for k, v in lim.items()})
    _sweep_panel(axes[2], result, curves, "norm", "coefficient norm ‖A‖_F", "Coefficient norm")
    for i, limit in enumerate(lim.values()):
        plotting.theory(axes[2], result.sizes, limit.rkhs_norm / np.sqrt(result.sizes), label=None, color=f"C{i}")
    axes[0].plot([], [], ls="--", color="gray", label="N → ∞ (kernel interpolation)")
    axes[0].legend(loc="upper right")
    return fig


def plot_reuse(result: Result):
    """CPU seconds (one BLAS thread) of the nested sweeps against from-scratch SVD solves."""
    fig, (ax,) = plotting.figure(panel=(6.0, 3.2))
    t = result.timing
    labels = ["minimum norm", "ridge (all λ)"]
    x = np.arange(2)
    ax.bar(x - 0.2, [t["min_norm_scratch"], t["ridge_scratch"]], 0.4, label="SVD from scratch at each N")
    ax.bar(x + 0.2, [t["min_norm_path"], t["ridge_path"]], 0.4, label="nested sweep (updated factorization)")
    ax.set_xticks(x, labels)
    ax.set_ylim(0, 1.4 * max(t["min_norm_scratch"], t["ridge_scratch"]))
    ax.legend(loc="upper right")
    return plotting.axes_labels(ax, xlabel="solver", ylabel="CPU time (seconds, one thread)",
                                title=f"{t['sizes_timed']} sizes of one draw").figure


def figures(result: Result) -> dict:
    out = {"double_descent": plot_double_descent(result), "ridge": plot_ridge(result), "reuse": plot_reuse(result)}
    if result.config.relu:
        out["relu"] = plot_relu(result)
    return out


def summary(result: Result) -> dict:
    """The chapter's figures as plain numbers (written by ``memopt run double_descent``)."""
    models = {
        name: {
            "peak_test_loss_ratio": result.peak_ratio(name),
            "peak_norm_ratio": result.peak_ratio(name, "norm"),
            "train_loss_past_threshold": result.train_loss_past_threshold(name),
            "norm_fall": result.norm_fall(name),
            "best_error_ratio": result.best_error_ratio(name),
            "mean_test_loss": result.models[name].mean("test_loss").tolist(),
            "mean_test_error": result.models[name].mean("test_error").tolist(),
            "limit_test_loss": result.limits[name].test_loss,
            "limit_test_error": result.limits[name].test_error,
        }
        for name in result.models
    }
    ridge = {
        target: {"choice_counts": {f"{r:g}": c for r, c in result.ridge_choice_counts(target).items()},
                 "tuned_mean_test_loss": result.tuned(target).mean(axis=0).tolist(),
                 "tuned_local_peak": result.local_peak_estimate(target).value,
                 "tuned_largest_rise": result.largest_rise(target),
                 "mean_test_loss": {f"{r:g}": result.ridge[target, r].mean("test_loss").tolist()
                                    for r in result.config.ridges}}
        for target in (CLEAN, NOISY)
    }
    return {"sizes": result.sizes.tolist(), "n": result.n, "sigma": result.config.sigma,
            "models": models, "ridge": ridge, "methods": result.methods, "timing": result.timing}
