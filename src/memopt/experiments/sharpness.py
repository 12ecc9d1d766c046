"""Chapter "Sharp and flat minima: SAM, the edge of stability, large batches"
(book/phenomena/sharpness.md).

Four small experiments on the sharpness of a minimum, the largest eigenvalue of the Hessian of
the training loss (computed by Lanczos on Hessian-vector products,
:func:`memopt.nets.curvature.top_eigenvalue`), all on a one-hidden-layer tanh MLP trained in
float64 on a subset of the UCI digits (tanh rather than ReLU: the Hessian-vector products are
central differences of gradients, which a ReLU's kinks would spoil):

* **edge of stability** (Cohen et al. 2021): full-batch gradient descent with step eta at a few
  step sizes, the sharpness tracked during training against 2 / eta;
* **escape from a narrow well**: a one-dimensional loss with a narrow and a wide well, gradient
  descent with a small step, with a small step and Gaussian gradient noise (a stochastic
  gradient of stated variance), and with a step too large for the narrow well;
* **SGD against SAM** (Foret et al. 2021) from the same initial weights and batches: sharpness
  and test accuracy at the end;
* **large batches** (Keskar et al. 2017; Goyal et al. 2017) at a fixed epoch budget: sharpness,
  generalisation gap and test accuracy against the batch size, with a fixed step and with the
  linear scaling rule plus warm-up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from memopt import claims, plotting
from memopt.nets import MLPClassifier
from memopt.nets.curvature import network_gradient, top_eigenvalue
from memopt.nets.training import BatchOrder
from memopt.optim import SAM
from memopt.optim.adaptive import GradientStep
from memopt.perturb import inputs as perturbed
from memopt.problems.digits import digits_split

NAME = "sharpness"
DESCRIPTION = "Sharpness: edge of stability, escaping a narrow well, SAM, large-batch training"

#: Relative accuracy of the Lanczos eigenvalues (far below the effects measured).
EIGEN_TOL = 1e-4


@dataclass(frozen=True)
class DoubleWell:
    """f(x) = -depth_n exp(-(x - c_n)^2 / (2 w_n^2)) - depth_w exp(-(x - c_w)^2 / (2 w_w^2))
    + confine x^2 / 2: a narrow well at c_n (curvature about depth_n / w_n^2) and a wide one at
    c_w (curvature about depth_w / w_w^2 + confine)."""

    narrow_center: float = -1.0
    narrow_width: float = 0.1
    narrow_depth: float = 0.5
    wide_center: float = 1.0
    wide_width: float = 1.5
    wide_depth: float = 1.0
    confine: float = 0.05

    def _bumps(self, x):
        n = (x - self.narrow_center) / self.narrow_width
        w = (x - self.wide_center) / self.wide_width
        return n, w, self.narrow_depth * np.exp(-n * n / 2), self.wide_depth * np.exp(-w * w / 2)

    def value(self, x):
        _, _, a, b = self._bumps(x)
        return -a - b + self.confine * x * x / 2

    def gradient(self, x):
        n, w, a, b = self._bumps(x)
        return a * n / self.narrow_width + b * w / self.wide_width + self.confine * x

    def curvature(self, x):
        n, w, a, b = self._bumps(x)
        return (a * (1 - n * n) / self.narrow_width**2 + b * (1 - w * w) / self.wide_width**2
                + self.confine)

    def barrier(self) -> float:
        """The local maximum between the wells (where the two basins meet)."""
        grid = np.linspace(self.narrow_center, self.wide_center, 20001)
        return float(grid[np.argmax(self.value(grid))])


@dataclass(frozen=True)
class Config:
    """Everything that determines the chapter's runs."""

    n_train: int = 256
    n_test: int = 500
    hidden: int = 32
    data_seed: int = 0
    # --- edge of stability: full-batch GD at these steps, sharpness every eos_every steps
    #: The first eos_train training images (the edge-of-stability runs are full batch).
    eos_train: int = 128
    eos_steps: tuple[float, ...] = (0.5, 1.0, 1.5)
    eos_iterations: int = 200
    eos_every: int = 5
    # --- double well: starts uniform in the narrow basin, one per seed
    well: DoubleWell = DoubleWell()
    well_seeds: int = 200
    well_iterations: int = 20000
    #: A final stretch of noise-free small steps that settles each run into the basin it is in.
    well_settle: int = 2000
    small_step: float = 0.005
    large_step: float = 0.2
    #: Standard deviation of the Gaussian noise added to the gradient.
    noise: float = 6.0
    # --- SGD against SAM
    sam_seeds: int = 5
    sam_lr: float = 0.5
    sam_rho: float = 0.05
    sam_batch: int = 32
    sam_epochs: int = 20
    # --- large batches at a fixed epoch budget
    batch_sizes: tuple[int, ...] = (16, 64, 256)
    batch_seeds: int = 5
    batch_lr: float = 0.1
    batch_epochs: int = 20
    #: Warm-up of the linearly scaled step, in epochs.
    warmup_epochs: int = 2

    def __post_init__(self):
        if self.n_train < 10 or self.n_test < 10 or self.hidden < 1:
            raise ValueError("need n_train >= 10, n_test >= 10 and hidden >= 1")
        if not 10 <= self.eos_train <= self.n_train:
            raise ValueError(f"eos_train must lie in [10, n_train], got {self.eos_train}")
        if self.n_train + self.n_test > 1797:
            raise ValueError(f"the digits hold 1797 images, asked for {self.n_train + self.n_test}")
        if not self.eos_steps or min(self.eos_steps) <= 0:
            raise ValueError(f"eos_steps must be positive steps, got {self.eos_steps}")
        if min(self.eos_iterations, self.eos_every, self.well_iterations, self.well_settle) < 1:
            raise ValueError("iteration counts must be >= 1")
        if min(self.well_seeds, self.sam_seeds, self.batch_seeds) < 2:
            raise ValueError("every stochastic part needs at least 2 seeds for an interval")
        if min(self.small_step, self.large_step, self.sam_lr, self.batch_lr) <= 0 or self.noise < 0:
            raise ValueError("steps must be > 0 and noise >= 0")
        if not self.batch_sizes or min(self.batch_sizes) < 1 or max(self.batch_sizes) > self.n_train:
            raise ValueError(f"batch sizes must lie in [1, n_train], got {self.batch_sizes}")
        if list(self.batch_sizes) != sorted(set(self.batch_sizes)):
            raise ValueError("batch_sizes must be increasing")


SCALES = {
    "book": Config(),
    "paper": Config(n_train=1000, n_test=797, hidden=64, eos_steps=(0.25, 0.5, 1.0, 2.0),
                    eos_iterations=1000, well_seeds=2000, sam_seeds=20, sam_epochs=50,
                    batch_sizes=(16, 32, 64, 128, 256, 512, 1000), batch_seeds=20, batch_epochs=50),
}


@dataclass
class Result:
    config: Config
    #: eta -> iterations at which the sharpness was measured, the sharpness, the training loss
    eos: dict[float, dict[str, np.ndarray]] = field(default_factory=dict)
    #: rule -> final positions of the double-well runs (one per seed)
    well: dict[str, np.ndarray] = field(default_factory=dict)
    #: "sgd" / "sam" -> {"sharpness", "test_accuracy", "train_accuracy"} arrays over seeds
    sam: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    #: (rule, batch size) -> same fields, rule "fixed" (step batch_lr) or "scaled" (linear rule)
    batches: dict[tuple[str, int], dict[str, np.ndarray]] = field(default_factory=dict)

    def eos_ratio(self, eta: float, where: str = "final") -> float:
        """Sharpness / (2 / eta) at the end of training, or its largest value (``"peak"``)."""
        values = self.eos[eta]["sharpness"] * eta / 2
        return float(values[-1] if where == "final" else values.max())

    def wide_fraction(self, rule: str) -> float:
        return float(np.mean(self.well[rule] > self.config.well.barrier()))


def wilson(successes: int, trials: int, z: float = 2.0) -> claims.Estimate:
    """A binomial proportion with its Wilson score interval (z = 2: about 95%)."""
    if trials < 1 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials >= 1, got {successes}, {trials}")
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z / (1 + z * z / trials) * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return claims.Estimate(p, min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half)),
                           f"proportion, Wilson interval (z = {z:g}) over {trials} seeds")


def paired(a, b, what: str = "seeds") -> claims.Estimate:
    """Mean of a - b over paired seeds, ± 2 standard errors."""
    return claims.mean_with_error(np.asarray(a, float) - np.asarray(b, float), what=what)


def _data(config: Config):
    split = digits_split(config.n_train, n_test=config.n_test, seed=config.data_seed)
    return split.x_train, split.labels_train, split.x_test, split.labels_test


def _network(config: Config, seed: int) -> MLPClassifier:
    return MLPClassifier(64, 10, hidden=(config.hidden,), activation="tanh", seed=seed, dtype=np.float64)


def sharpness(network, inputs, labels, theta=None) -> float:
    """The largest Hessian eigenvalue of the network's mean loss on (inputs, labels) at theta
    (the network's current parameters by default); the network is left at theta."""
    theta = np.array(network.params.vector if theta is None else theta, dtype=np.float64)
    value = top_eigenvalue(network_gradient(network, inputs, labels), theta, tol=EIGEN_TOL).value
    network.params.load(theta)
    return value


def run_eos(config: Config, eta: float) -> dict[str, np.ndarray]:
    """Full-batch gradient descent with step eta; sharpness every ``eos_every`` iterations."""
    x, y, _, _ = _data(config)
    x, y = x[:config.eos_train], y[:config.eos_train]
    network = _network(config, seed=0)
    gradient = network_gradient(network, x, y)
    theta = np.array(network.params.vector, dtype=np.float64)
    rule = GradientStep(eta)
    state = rule.init(theta)
    steps, values, losses = [], [], []
    for k in range(config.eos_iterations + 1):
        if k % config.eos_every == 0 or k == config.eos_iterations:
            values.append(top_eigenvalue(gradient, theta, tol=EIGEN_TOL).value)
            network.params.load(theta)
            losses.append(network.evaluate(x, y)[0])
            steps.append(k)
        if k < config.eos_iterations:
            rule.step(theta, gradient(theta), state)
    return {"steps": np.array(steps), "sharpness": np.array(values), "loss": np.array(losses)}


def run_well(config: Config, rule: str) -> np.ndarray:
    """Final positions of the double-well runs, one per seed, all seeds at once.

    ``rule``: "gd" (small step), "noisy" (small step, gradient + N(0, noise^2)), "large"
    (large step). Every run ends with ``well_settle`` noise-free small steps."""
    well = config.well
    rng = np.random.default_rng(config.data_seed)
    barrier = well.barrier()
    low = well.narrow_center - (barrier - well.narrow_center)
    x = perturbed(rng.uniform(low, barrier, config.well_seeds))
    step = config.large_step if rule == "large" else config.small_step
    noise = config.noise if rule == "noisy" else 0.0
    if rule not in ("gd", "noisy", "large"):
        raise ValueError(f"rule must be 'gd', 'noisy' or 'large', got {rule!r}")
    noise_rng = np.random.default_rng([config.data_seed, 1])
    for _ in range(config.well_iterations):
        g = well.gradient(x)
        if noise:
            g = g + noise * noise_rng.standard_normal(x.size)
        x = x - step * g
    for _ in range(config.well_settle):
        x = x - config.small_step * well.gradient(x)
    return x


def _train(config: Config, seed: int, optimizer, batch: int, epochs: int, sam: bool = False):
    """Mini-batch training from the initial weights of ``seed``, batches drawn by ``seed``."""
    x, y, x_test, y_test = _data(config)
    network = _network(config, seed)
    theta = network.params.vector
    state = optimizer.init(theta)
    order = BatchOrder(config.n_train, batch, seed)
    steps = epochs * math.ceil(config.n_train / batch)
    for k in range(steps):
        rows = order.rows(k)
        xb, yb = (x, y) if rows is None else (x[rows], y[rows])
        if sam:
            gradient = network_gradient(network, xb, yb)
            point = np.array(theta, dtype=np.float64)
            optimizer.step(point, gradient, state)
            network.params.load(point)
        else:
            network.loss_and_gradient(xb, yb)
            optimizer.step(theta, network.params.grad, state)
    train_loss, train_accuracy = network.evaluate(x, y)
    test_loss, test_accuracy = network.evaluate(x_test, y_test)
    return {"sharpness": sharpness(network, x, y), "train_accuracy": train_accuracy,
            "test_accuracy": test_accuracy, "train_loss": train_loss, "test_loss": test_loss}


def _stack(rows: list[dict]) -> dict[str, np.ndarray]:
    return {key: np.array([r[key] for r in rows], dtype=np.float64) for key in rows[0]}


def run(config: Config = Config(), progress: bool = False) -> Result:
    result = Result(config)
    for eta in tqdm(config.eos_steps, desc="edge of stability", disable=not progress):
        result.eos[eta] = run_eos(config, eta)
    for rule in ("gd", "noisy", "large"):
        result.well[rule] = run_well(config, rule)
    seeds = range(config.sam_seeds)
    result.sam["sgd"] = _stack([_train(config, s, GradientStep(config.sam_lr), config.sam_batch,
                                       config.sam_epochs)
                                for s in tqdm(seeds, desc="SGD", disable=not progress)])
    result.sam["sam"] = _stack([_train(config, s, SAM(GradientStep(config.sam_lr), config.sam_rho),
                                       config.sam_batch, config.sam_epochs, sam=True)
                                for s in tqdm(seeds, desc="SAM", disable=not progress)])
    smallest = config.batch_sizes[0]
    for b in tqdm(config.batch_sizes, desc="batch sizes", disable=not progress):
        result.batches["fixed", b] = _stack([
            _train(config, s, GradientStep(config.batch_lr), b, config.batch_epochs)
            for s in range(config.batch_seeds)])
        if b == smallest:  # the scaled step is the base step there: the same runs
            result.batches["scaled", b] = result.batches["fixed", b]
            continue
        warmup = config.warmup_epochs * math.ceil(config.n_train / b)
        result.batches["scaled", b] = _stack([
            _train(config, s, GradientStep(config.batch_lr * b / smallest, warmup=warmup), b,
                   config.batch_epochs)
            for s in range(config.batch_seeds)])
    return result


def gap(run: dict[str, np.ndarray]) -> np.ndarray:
    """Generalisation gap per seed: training accuracy - test accuracy."""
    return run["train_accuracy"] - run["test_accuracy"]


# --------------------------------------------------------------------------- figures


def plot_eos(result: Result):
    fig, axes = plotting.figure(2, 1)
    colors = plotting.palette(len(result.config.eos_steps))
    for eta, color in zip(result.config.eos_steps, colors):
        run = result.eos[eta]
        axes[0].plot(run["steps"], run["sharpness"], color=color, label=f"η = {eta:g}")
        axes[0].axhline(2 / eta, color=color, ls="--", lw=1)
        axes[1].plot(run["steps"], run["loss"], color=color, label=f"η = {eta:g}")
    axes[0].set_yscale("log")
    plotting.axes_labels(axes[0], xlabel="iteration", ylabel="sharpness λ_max (dashed: 2/η)",
                         title="Full-batch GD: sharpness")
    plotting.axes_labels(axes[1], xlabel="iteration", ylabel="training loss", title="Training loss",
                         logy=True)
    axes[0].legend(fontsize="small")
    return fig


def plot_well(result: Result):
    config, well = result.config, result.config.well
    fig, axes = plotting.figure(2, 1)
    grid = np.linspace(-2.5, 4.5, 1000)
    axes[0].plot(grid, well.value(grid), color="black")
    axes[0].axvline(well.barrier(), color="grey", ls=":", lw=1)
    plotting.axes_labels(axes[0], xlabel="x", ylabel="f(x)", title="Narrow well (left), wide well (right)")
    labels = {"gd": f"GD, η = {config.small_step:g}", "noisy": f"noisy GD, σ = {config.noise:g}",
              "large": f"GD, η = {config.large_step:g}"}
    bins = np.linspace(-2.5, 4.5, 57)
    for rule, color in zip(labels, plotting.palette(3)):
        axes[1].hist(result.well[rule], bins=bins, color=color, alpha=0.6, label=labels[rule])
    plotting.axes_labels(axes[1], xlabel="final x", ylabel="seeds", title="Where the runs end")
    axes[1].legend(fontsize="small")
    return fig


def plot_sam(result: Result):
    fig, axes = plotting.figure(2, 1)
    for ax, key, label in zip(axes, ("sharpness", "test_accuracy"), ("final sharpness λ_max", "test accuracy")):
        for s in range(result.config.sam_seeds):
            ax.plot([0, 1], [result.sam["sgd"][key][s], result.sam["sam"][key][s]], color="grey", marker="o")
        ax.set_xticks([0, 1], ["SGD", f"SAM ρ = {result.config.sam_rho:g}"])
        ax.set_xlim(-0.4, 1.4)
        plotting.axes_labels(ax, xlabel="rule (lines join seeds)", ylabel=label)
    return fig


def plot_batches(result: Result):
    sizes = np.array(result.config.batch_sizes)
    fig, axes = plotting.figure(3, 1, panel=(4.0, 3.4))
    for rule, color in zip(("fixed", "scaled"), plotting.palette(2)):
        label = "fixed step" if rule == "fixed" else "linear scaling + warm-up"
        runs = {key: np.array([result.batches[rule, b][key] for b in sizes]).T
                for key in ("sharpness", "test_accuracy")}
        gaps = np.array([gap(result.batches[rule, b]) for b in sizes]).T
        plotting.mean_band(axes[0], sizes, runs["sharpness"], label=label, color=color)
        plotting.mean_band(axes[1], sizes, gaps, label=label, color=color, positive=False)
        plotting.mean_band(axes[2], sizes, runs["test_accuracy"], label=label, color=color)
    plotting.axes_labels(axes[0], xlabel="batch size", ylabel="final sharpness λ_max", logx=True)
    plotting.axes_labels(axes[1], xlabel="batch size", ylabel="train − test accuracy", logx=True)
    plotting.axes_labels(axes[2], xlabel="batch size", ylabel="test accuracy", logx=True)
    for ax in axes:
        ax.set_xticks(sizes, [str(b) for b in sizes])
        ax.minorticks_off()
    axes[2].legend(fontsize="small")
    return fig


def figures(result: Result) -> dict:
    return {"eos": plot_eos(result), "well": plot_well(result), "sam": plot_sam(result),
            "batches": plot_batches(result)}


def summary(result: Result) -> dict:
    """The chapter's figures as plain numbers (written by ``memopt run sharpness``)."""
    config = result.config
    return {
        "edge_of_stability": {str(eta): {"final_sharpness_over_2_over_eta": result.eos_ratio(eta),
                                         "peak_sharpness_over_2_over_eta": result.eos_ratio(eta, "peak")}
                              for eta in config.eos_steps},
        "double_well_wide_fraction": {rule: result.wide_fraction(rule) for rule in result.well},
        "sam": {rule: {key: values.tolist() for key, values in runs.items()} for rule, runs in result.sam.items()},
        "batches": {f"{rule}/{b}": {key: values.tolist() for key, values in runs.items()}
                    for (rule, b), runs in result.batches.items()},
    }
