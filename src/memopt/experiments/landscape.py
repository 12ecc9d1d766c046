"""Chapter "Loss landscapes: projections around the minimum" (book/phenomena/landscape.md).

The lecture's pictures of a network's loss surface, and Li et al.'s (2018) comparison of deep
networks with and without skip connections, on the digits (the stand-in for Fashion-MNIST):

* a ReLU classifier (:class:`~memopt.nets.MLPClassifier`, float64) trained with Adam (on
  mini-batches, then on full batches), without and with dropout, and its train and test loss along lines L(w + a d) through the initial
  and the trained weights, d a filter-normalised random direction
  (:func:`~memopt.nets.curvature.filter_normalised_direction`), and on a plane
  L(w + a d1 + b d2) through the trained weights;
* a deep network of equal-width hidden layers, without and with skip connections
  (``residual=True``), trained the same way: its loss on a plane through the trained weights,
  and at a coarse grid of that plane the Hessian's extreme eigenvalues (Lanczos on
  Hessian-vector products of a subset of the training rows), whose ratio
  |lambda_min / lambda_max| is Li et al.'s measure of non-convexity.

Only the first seed's planes are computed (they are what the figures draw); every seed gives
the lines, gradient norms, cosines and eigenvalues the claims are made of.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from memopt import plotting
from memopt.backend import single_blas_thread
from memopt.nets import MLPClassifier
from memopt.nets.curvature import extreme_eigenvalues, filter_normalised_direction, network_gradient
from memopt.nets.training import Dataset, train
from memopt.optim.adaptive import Adam
from memopt.problems.digits import digits_split

NAME = "landscape"
DESCRIPTION = "Loss-surface projections on lines and planes; deep nets with and without skips"

N_CLASSES = 10
#: The two shallow variants (dropout rate) and the two deep ones (skip connections).
DROPOUTS = {"no dropout": 0.0, "dropout 0.2": 0.2}
DEEP = {"no skips": False, "skips": True}


@dataclass(frozen=True)
class Config:
    """Everything that determines the chapter's runs."""

    n_train: int = 1000
    n_test: int = 797
    hidden: tuple[int, ...] = (128, 128)
    #: The deep network: ``depth`` hidden layers of ``width`` units each.
    depth: int = 12
    width: int = 32
    #: The deep network's activation: tanh, smooth, so that the finite-difference
    #: Hessian-vector products are well defined (ReLU's kinks make them jump).
    deep_activation: str = "tanh"
    steps: int = 600
    batch_size: int = 64
    lr: float = 1e-3
    #: Full-batch Adam steps after the mini-batch ones: mini-batch noise at a constant step
    #: keeps the weights hovering around a minimum; full batches let them settle into it.
    polish_steps: int = 200
    seeds: tuple[int, ...] = (0, 1, 2)
    deep_seeds: tuple[int, ...] = (0, 1, 2)
    #: Random directions per seed for the line projections.
    directions: int = 4
    #: Line projections sample a in [-span, span] at ``line_points`` points.
    span: float = 1.0
    line_points: int = 41
    #: Plane projections sample a ``plane_points`` x ``plane_points`` grid of [-span, span]^2.
    plane_points: int = 21
    #: The Hessian's eigenvalues on a ``curvature_points`` x ``curvature_points`` grid of the
    #: deep networks' planes, on ``curvature_rows`` training rows, to relative accuracy
    #: ``curvature_tol``.
    #: The deep networks' planes (and curvature grids) span [-deep_span, deep_span]^2: without
    #: normalisation layers, a filter-normalised step of 1 multiplies a deep net's output by ~2^depth.
    deep_span: float = 0.25
    curvature_points: int = 5
    curvature_rows: int = 200
    curvature_tol: float = 1e-3
    #: A plane point is strongly non-convex where |lambda_min / lambda_max| exceeds this.
    strong_ratio: float = 0.5
    #: "Small" step of the local-minimum test: L(w +- small d) against L(w).
    small: float = 0.05

    def __post_init__(self):
        for name in ("n_train", "n_test", "depth", "width", "steps", "batch_size", "directions",
                     "curvature_rows"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.n_train + self.n_test > 1797:
            raise ValueError(f"n_train + n_test must be at most the 1797 digits, got {self.n_train + self.n_test}")
        if self.deep_activation not in MLPClassifier.ACTIVATIONS:
            raise ValueError(f"deep_activation must be one of {', '.join(MLPClassifier.ACTIVATIONS)}, "
                             f"got {self.deep_activation!r}")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden must be one or more positive widths, got {self.hidden}")
        if len(self.seeds) < 2 or len(self.deep_seeds) < 2:
            raise ValueError("seeds and deep_seeds need at least two seeds each (the claims are over seeds)")
        for name in ("line_points", "plane_points", "curvature_points"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 3 or value % 2 == 0:
                raise ValueError(f"{name} must be an odd integer >= 3 (so that 0 is on the grid), got {value!r}")
        if isinstance(self.polish_steps, bool) or not isinstance(self.polish_steps, int) or self.polish_steps < 0:
            raise ValueError(f"polish_steps must be a non-negative integer, got {self.polish_steps!r}")
        if not (self.span > 0 and self.deep_span > 0 and self.lr > 0 and self.curvature_tol > 0):
            raise ValueError("span, lr and curvature_tol must be positive")
        if not 0 < self.small <= self.span:
            raise ValueError(f"small must lie in (0, span], got {self.small}")
        if self.directions < 2:
            raise ValueError(f"directions must be at least 2 (pairs give the cosines), got {self.directions}")

    @property
    def alphas(self) -> np.ndarray:
        return np.linspace(-self.span, self.span, self.line_points)

    @property
    def plane_grid(self) -> np.ndarray:
        return np.linspace(-self.span, self.span, self.plane_points)

    @property
    def deep_grid(self) -> np.ndarray:
        return np.linspace(-self.deep_span, self.deep_span, self.plane_points)

    @property
    def curvature_grid(self) -> np.ndarray:
        return np.linspace(-self.deep_span, self.deep_span, self.curvature_points)


SCALES = {
    "book": Config(),
    "paper": Config(hidden=(256, 256), depth=20, width=64, steps=2000, polish_steps=1000, seeds=(0, 1, 2, 3, 4),
                    deep_seeds=(0, 1, 2, 3), directions=8, line_points=101, plane_points=51,
                    curvature_points=9, curvature_rows=1000, curvature_tol=1e-4),
}


# --- projections --------------------------------------------------------------------------


def line_losses(network, theta, direction, alphas, inputs, labels) -> np.ndarray:
    """L(theta + a d) (mean cross-entropy, dropout off) at every a of ``alphas``.

    The network's parameters are restored to ``theta`` afterwards."""
    theta, direction = np.asarray(theta, dtype=np.float64), np.asarray(direction, dtype=np.float64)
    if direction.shape != theta.shape:
        raise ValueError(f"direction must have the shape of theta {theta.shape}, got {direction.shape}")
    losses = np.empty(len(alphas))
    try:
        for i, a in enumerate(alphas):
            network.params.load(theta + a * direction)
            losses[i] = network.evaluate(inputs, labels)[0]
    finally:
        network.params.load(theta)
    return losses


def plane_losses(network, theta, first, second, grid, inputs, labels) -> np.ndarray:
    """L(theta + a d1 + b d2) on ``grid`` x ``grid``: entry [i, j] is at (a, b) = (grid[j], grid[i])
    (rows are b, columns a, as ``contour`` expects)."""
    theta = np.asarray(theta, dtype=np.float64)
    try:
        return np.stack([line_losses(network, theta + b * np.asarray(second), first, grid, inputs, labels)
                         for b in grid])
    finally:
        network.params.load(theta)


def cosine(u, v) -> float:
    """<u, v> / (||u|| ||v||)."""
    u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
    norms = float(np.linalg.norm(u) * np.linalg.norm(v))
    if norms == 0.0:
        raise ValueError("the cosine of a zero vector is undefined")
    return float(u @ v) / norms


def local_rise(losses, alphas, small: float) -> float:
    """min(L(small), L(-small)) - L(0) of a line projection: positive when the centre is lower
    than both neighbours at distance ``small``."""
    alphas = np.asarray(alphas, dtype=np.float64)
    index = {name: int(np.argmin(np.abs(alphas - a))) for name, a in (("-", -small), ("0", 0.0), ("+", small))}
    for name, a in (("-", -small), ("0", 0.0), ("+", small)):
        if not np.isclose(alphas[index[name]], a, rtol=0, atol=1e-12):
            raise ValueError(f"a = {a} is not on the line's grid")
    return float(min(losses[index["-"]], losses[index["+"]]) - losses[index["0"]])


def curvature_ratio(smallest: float, largest: float) -> float:
    """Li et al.'s |lambda_min / lambda_max|: 0 where the Hessian is positive semi-definite,
    large where the negative curvature rivals the positive one."""
    if not largest > 0:
        raise ValueError(f"the largest eigenvalue must be positive, got {largest}")
    return abs(min(float(smallest), 0.0)) / float(largest)


# --- runs ---------------------------------------------------------------------------------


@dataclass
class Trained:
    """One trained network: its initial and final weights and the projections through them."""

    initial: np.ndarray
    final: np.ndarray
    #: (directions, points): train/test loss along the lines through each point.
    lines: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    #: train/test loss along the line through the initial weights in the gradient's direction
    gradient_line: dict[str, np.ndarray] = field(default_factory=dict)
    #: the gradient's norm (full training set) at the initial and the final weights
    gradient_norm: dict[str, float] = field(default_factory=dict)
    #: cosines of the pairs of directions through the final weights
    cosines: list[float] = field(default_factory=list)
    #: the train loss on the plane through the final weights (first seed only)
    plane: np.ndarray | None = None
    final_train_loss: float = float("nan")
    final_test_accuracy: float = float("nan")
    parameters: int = 0


@dataclass
class Deep:
    final: np.ndarray
    #: the train loss on the plane (first seed only; None for the others)
    plane: np.ndarray | None
    #: (curvature_points, curvature_points) smallest and largest Hessian eigenvalues
    smallest: np.ndarray
    largest: np.ndarray
    products: int
    final_train_loss: float
    final_test_accuracy: float
    parameters: int

    @property
    def ratios(self) -> np.ndarray:
        return np.vectorize(curvature_ratio)(self.smallest, self.largest)


@dataclass
class Result:
    config: Config
    shallow: dict[tuple[str, int], Trained] = field(default_factory=dict)
    deep: dict[tuple[str, int], Deep] = field(default_factory=dict)

    def rises(self, variant: str, split: str = "train") -> np.ndarray:
        """local_rise at the trained point for every (seed, direction) of a shallow variant."""
        c = self.config
        return np.array([local_rise(row, c.alphas, c.small) for seed in c.seeds
                         for row in self.shallow[variant, seed].lines["final", split]])

    def centred_minimum(self, variant: str, split: str = "train") -> float:
        """The fraction of lines through the trained point whose lowest grid point is a = 0."""
        c = self.config
        centre = c.line_points // 2
        hits = [int(np.argmin(row)) == centre for seed in c.seeds
                for row in self.shallow[variant, seed].lines["final", split]]
        return float(np.mean(hits))

    def gradient_norm_ratios(self, variant: str) -> np.ndarray:
        """||grad L(w0)|| / ||grad L(w_final)|| per seed."""
        return np.array([self.shallow[variant, s].gradient_norm["initial"]
                         / self.shallow[variant, s].gradient_norm["final"] for s in self.config.seeds])

    def random_slopes(self, variant: str, point: str) -> np.ndarray:
        """|L(small) - L(-small)| / (2 small) on the train loss of every random line through
        ``point`` ("initial" or "final")."""
        c = self.config
        lo, hi = (int(np.argmin(np.abs(c.alphas - a))) for a in (-c.small, c.small))
        return np.array([abs(row[hi] - row[lo]) / (2 * c.small) for s in c.seeds
                         for row in self.shallow[variant, s].lines[point, "train"]])

    def gradient_slopes(self, variant: str) -> np.ndarray:
        """The same difference along the gradient line through the initial weights, per seed."""
        c = self.config
        lo, hi = (int(np.argmin(np.abs(c.alphas - a))) for a in (-c.small, c.small))
        return np.array([abs(self.shallow[variant, s].gradient_line["train"][hi]
                             - self.shallow[variant, s].gradient_line["train"][lo]) / (2 * c.small)
                         for s in c.seeds])

    def scaled_cosines(self) -> np.ndarray:
        """|cos(d_i, d_j)| sqrt(p) over all pairs, seeds and shallow variants."""
        return np.array([abs(value) * np.sqrt(t.final.size) for t in self.shallow.values() for value in t.cosines])

    def mean_ratio(self, variant: str, seed: int) -> float:
        return float(self.deep[variant, seed].ratios.mean())

    def strong_fraction(self, variant: str, seed: int) -> float:
        """The fraction of the curvature grid where |lambda_min / lambda_max| > strong_ratio."""
        return float(np.mean(self.deep[variant, seed].ratios > self.config.strong_ratio))

    def fraction_differences(self) -> np.ndarray:
        """Per deep seed: the strongly non-convex fraction without skips minus with skips."""
        return np.array([self.strong_fraction("no skips", s) - self.strong_fraction("skips", s)
                         for s in self.config.deep_seeds])

    def share_of_seeds_less_convex(self, margin: float = 0.2) -> float:
        """The share of deep seeds whose plane without skips has a strongly non-convex fraction
        at least ``margin`` above the one with skips. Each fraction moves by a few grid points
        with the machine's rounding (the plain network's training is sensitive to it), so the
        claim counts seeds that clear a margin of several points instead of quoting a fraction."""
        return float(np.mean(self.fraction_differences() >= margin))

    def ratio_differences(self) -> np.ndarray:
        """Per deep seed: plane mean of |lambda_min/lambda_max| without skips minus with skips."""
        return np.array([self.mean_ratio("no skips", s) - self.mean_ratio("skips", s)
                         for s in self.config.deep_seeds])


def _train(network, split, config: Config, seed: int) -> None:
    data = Dataset(split.x_train, split.labels_train, split.x_test, split.labels_test)
    train(network, Adam(config.lr), data, steps=config.steps, batch_size=config.batch_size, seed=seed,
          eval_steps=())
    if config.polish_steps:
        train(network, Adam(config.lr), data, steps=config.polish_steps, batch_size=split.n_train, seed=seed,
              eval_steps=())
    network.train(False)


def _directions(network, rng, count: int) -> list[np.ndarray]:
    return [filter_normalised_direction(network.params, rng) for _ in range(count)]


def _gradient_direction(network, theta, inputs, labels, like: np.ndarray) -> tuple[np.ndarray, float]:
    """The descent direction -g at theta scaled to the norm of ``like``, and ||g||."""
    g = network_gradient(network, inputs, labels)(theta)
    network.params.load(theta)
    norm = float(np.linalg.norm(g))
    return -g * (np.linalg.norm(like) / norm), norm


def run_shallow(config: Config, split, dropout: float, seed: int, plane: bool = True) -> Trained:
    network = MLPClassifier(split.input_dim, N_CLASSES, config.hidden, dropout=dropout, seed=seed,
                            dtype=np.float64, device="cpu")
    rng = np.random.default_rng([seed, 1])
    sets = {"train": (split.x_train, split.labels_train), "test": (split.x_test, split.labels_test)}
    initial = np.array(network.params.vector, dtype=np.float64)
    result = Trained(initial=initial, final=initial, parameters=initial.size)
    network.train(False)
    at_start = _directions(network, rng, config.directions)
    for name, (x, y) in sets.items():
        result.lines["initial", name] = np.stack([line_losses(network, initial, d, config.alphas, x, y)
                                                  for d in at_start])
    descent, result.gradient_norm["initial"] = _gradient_direction(network, initial, *sets["train"], at_start[0])
    for name, (x, y) in sets.items():
        result.gradient_line[name] = line_losses(network, initial, descent, config.alphas, x, y)
    network.train(True)
    _train(network, split, config, seed)
    final = np.array(network.params.vector, dtype=np.float64)
    result.final = final
    at_end = _directions(network, rng, config.directions)
    for name, (x, y) in sets.items():
        result.lines["final", name] = np.stack([line_losses(network, final, d, config.alphas, x, y)
                                                for d in at_end])
    result.cosines = [cosine(at_end[i], at_end[j]) for i in range(len(at_end)) for j in range(i)]
    _, result.gradient_norm["final"] = _gradient_direction(network, final, *sets["train"], at_end[0])
    if plane:
        result.plane = plane_losses(network, final, at_end[0], at_end[1], config.plane_grid, *sets["train"])
    result.final_train_loss = network.evaluate(*sets["train"])[0]
    result.final_test_accuracy = network.evaluate(*sets["test"])[1]
    return result


def run_deep(config: Config, split, residual: bool, seed: int, plane: bool = True) -> Deep:
    network = MLPClassifier(split.input_dim, N_CLASSES, (config.width,) * config.depth, residual=residual,
                            activation=config.deep_activation,
                            seed=seed, dtype=np.float64, device="cpu")
    _train(network, split, config, seed)
    final = np.array(network.params.vector, dtype=np.float64)
    rng = np.random.default_rng([seed, 2])
    first, second = _directions(network, rng, 2)
    plane = (plane_losses(network, final, first, second, config.deep_grid, split.x_train, split.labels_train)
             if plane else None)
    # The Hessian of a fixed subset of the training rows: each eigenvalue costs tens of
    # Hessian-vector products, each two gradients.
    rows = np.random.default_rng([seed, 3]).choice(split.n_train, config.curvature_rows, replace=False)
    gradient = network_gradient(network, split.x_train[rows], split.labels_train[rows])
    grid = config.curvature_grid
    smallest, largest = np.empty((grid.size, grid.size)), np.empty((grid.size, grid.size))
    products = 0
    for i, b in enumerate(grid):
        for j, a in enumerate(grid):
            low, high = extreme_eigenvalues(gradient, final + a * first + b * second, tol=config.curvature_tol,
                                            seed=seed)
            smallest[i, j], largest[i, j] = low.value, high.value
            products += low.products + high.products
    network.params.load(final)
    loss = network.evaluate(split.x_train, split.labels_train)[0]
    accuracy = network.evaluate(split.x_test, split.labels_test)[1]
    return Deep(final, plane, smallest, largest, products, loss, accuracy, final.size)


def run(config: Config = Config(), progress: bool = False) -> Result:
    split = digits_split(config.n_train, config.n_test, seed=0)
    result = Result(config)
    with single_blas_thread():  # small products: extra BLAS threads cost more than they save
        _run(config, split, result, progress)
    return result


def _run(config: Config, split, result: Result, progress: bool) -> None:
    jobs = [("shallow", v, s) for v in DROPOUTS for s in config.seeds]
    jobs += [("deep", v, s) for v in DEEP for s in config.deep_seeds]
    for kind, variant, seed in tqdm(jobs, desc="landscape runs", disable=not progress):
        if kind == "shallow":
            # Only the first seed's plane is drawn; the other seeds serve the claims.
            result.shallow[variant, seed] = run_shallow(config, split, DROPOUTS[variant], seed,
                                                        plane=seed == config.seeds[0])
        else:
            result.deep[variant, seed] = run_deep(config, split, DEEP[variant], seed,
                                                  plane=seed == config.deep_seeds[0])


# --- figures ------------------------------------------------------------------------------


def plot_lines(result: Result, variant: str):
    """Train and test loss along the random lines through the initial and the trained weights
    of ``variant`` (first seed), and the gradient line through the initial weights."""
    c = result.config
    trained = result.shallow[variant, c.seeds[0]]
    fig, axes = plotting.figure(ncols=2, panel=(5.0, 3.8))
    for ax, point, title in zip(axes, ("initial", "final"), ("around the initial point", "around the trained point")):
        for k in range(c.directions):
            for split, style in (("train", "-"), ("test", "--")):
                label = f"{split} loss, random directions" if k == 0 else None
                ax.plot(c.alphas, trained.lines[point, split][k], style, color="C0" if split == "train" else "C1",
                        alpha=0.7, label=label)
        if point == "initial":
            ax.plot(c.alphas, trained.gradient_line["train"], "-", color="C3", label="train loss, descent direction")
        ax.legend(fontsize=7)
        plotting.axes_labels(ax, xlabel="a (step along the direction d)", ylabel="loss L(w + a d)",
                             title=f"{variant}: {title}", logy=point == "final")
    return fig


def _contour(ax, grid, plane, title):
    levels = np.quantile(plane, np.linspace(0, 1, 16))
    levels = np.unique(levels)
    drawn = ax.contour(grid, grid, plane, levels=levels, cmap="viridis", linewidths=0.8)
    ax.clabel(drawn, fontsize=6, fmt="%.2g")
    ax.plot([0], [0], "k+", markersize=8)
    plotting.axes_labels(ax, xlabel="a (along d₁)", ylabel="b (along d₂)", title=title)


def plot_plane(result: Result):
    """Contours of the train loss on the plane through the trained weights, both shallow variants."""
    c = result.config
    fig, axes = plotting.figure(ncols=2, panel=(4.6, 4.2))
    for ax, variant in zip(axes, DROPOUTS):
        _contour(ax, c.plane_grid, result.shallow[variant, c.seeds[0]].plane, f"{variant}: train loss")
    return fig


def plot_deep(result: Result):
    """The deep networks' planes side by side, with |lambda_min/lambda_max| at the coarse grid."""
    c = result.config
    fig, axes = plotting.figure(ncols=2, panel=(4.6, 4.2))
    g = c.curvature_grid
    for ax, variant in zip(axes, DEEP):
        deep = result.deep[variant, c.deep_seeds[0]]
        _contour(ax, c.deep_grid, np.log10(deep.plane), f"{c.depth} hidden layers, {variant}: log₁₀ train loss")
        ratios = deep.ratios
        for i, b in enumerate(g):
            for j, a in enumerate(g):
                ax.annotate(f"{ratios[i, j]:.2f}", (a, b), fontsize=7, color="C3", ha="center", va="bottom")
    return fig


def figures(result: Result) -> dict:
    return {"lines_" + v.replace(" ", "_").replace(".", ""): plot_lines(result, v) for v in DROPOUTS} | {
        "plane": plot_plane(result), "deep": plot_deep(result)}


def summary(result: Result) -> dict:
    """The chapter's figures as plain numbers (written by ``memopt run landscape``)."""
    c = result.config
    shallow = {v: {"rises": result.rises(v).tolist(), "centred_minimum": result.centred_minimum(v),
                   "gradient_norm_ratios": result.gradient_norm_ratios(v).tolist(),
                   "random_slopes_initial": result.random_slopes(v, "initial").tolist(),
                   "gradient_slopes_initial": result.gradient_slopes(v).tolist(),
                   "final_train_loss": [result.shallow[v, s].final_train_loss for s in c.seeds],
                   "final_test_accuracy": [result.shallow[v, s].final_test_accuracy for s in c.seeds]}
               for v in DROPOUTS}
    deep = {v: {"mean_ratio": [result.mean_ratio(v, s) for s in c.deep_seeds],
                "strong_fraction": [result.strong_fraction(v, s) for s in c.deep_seeds],
                "smallest": [result.deep[v, s].smallest.tolist() for s in c.deep_seeds],
                "largest": [result.deep[v, s].largest.tolist() for s in c.deep_seeds],
                "final_train_loss": [result.deep[v, s].final_train_loss for s in c.deep_seeds],
                "final_test_accuracy": [result.deep[v, s].final_test_accuracy for s in c.deep_seeds]}
            for v in DEEP}
    return {"shallow": shallow, "deep": deep, "scaled_cosines": result.scaled_cosines().tolist(),
            "ratio_differences": result.ratio_differences().tolist(),
            "strong_fraction_differences": result.fraction_differences().tolist()}
