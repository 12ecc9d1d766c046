"""Chapter "Optimizers side by side on a small network" (book/stochastic/optimizers.md).

The lecture's update rules (SGD, SGD with momentum, AdaGrad, RMSProp, Adadelta, Adam, AdamW,
and AMSGrad) train one ReLU network (:class:`~memopt.nets.MLPClassifier`) to classify the
8 x 8 digits bundled with scikit-learn (:func:`~memopt.problems.digits.digits_split`), in
mini-batches, for a fixed number of epochs, in float64.

The protocol is the same for every method:

1. **Tuning.** The learning rate alpha is chosen from one geometric grid shared by all the
   methods (``Config.grid``), by the cross-entropy on the *validation* images averaged over
   the last quarter of the epochs and over ``tune_seeds`` seeds (the average keeps one unlucky
   epoch of a spiky run from deciding); a run whose loss overflows counts as infinitely bad.
   The test images play no part in the choice.
2. **Runs.** At the chosen rate, ``seeds`` runs (seed s: the initial weights and the order
   of the mini-batches; the tuning seeds are other numbers) record the training loss and the
   test loss and accuracy after every epoch. Seed s gives every method the same initial
   weights and the same batches, so differences between methods are paired by seed.

Adadelta also runs at alpha = 1, the rule as Zeiler (2012) and the lecture write it, with no
learning rate, to test the lecture's statement that it needs none. For AdaGrad and RMSProp the
runs also record the median over the coordinates of the effective step alpha / sqrt(v_k + eps),
the quantity whose monotonic decrease the lecture calls AdaGrad's main weakness (over the
coordinates that have had a gradient).

The memory each method keeps is *measured*: the per-coordinate arrays of ``method.init(x)``
(the scratch buffer excepted) divided by the number of parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from memopt import claims, plotting
from memopt._checks import integer
from memopt.backend import single_blas_thread
from memopt.nets import MLPClassifier
from memopt.nets.training import BatchOrder
from memopt.optim.adaptive import (
    Adadelta,
    AdaGrad,
    Adam,
    AdamW,
    AdaptiveMethod,
    AMSGrad,
    GradientStep,
    Momentum,
    RMSProp,
)
from memopt.problems.digits import N_CLASSES, DigitsSplit, digits_split

NAME = "optimizers"
DESCRIPTION = "SGD, momentum, AdaGrad, RMSProp, Adadelta, Adam, AdamW and AMSGrad on one MLP (digits)"

#: Every method the chapter knows, in the order of the lecture, with its fixed
#: hyperparameters (the learning rate is tuned): the defaults of the papers and of PyTorch.
METHODS = ("SGD", "Momentum", "AdaGrad", "RMSProp", "Adadelta", "Adam", "AdamW", "AMSGrad")
#: Per-coordinate state floats per parameter each method should keep (the sanity table).
EXPECTED_STATE = {"SGD": 0, "Momentum": 1, "AdaGrad": 1, "RMSProp": 1, "Adadelta": 2, "Adam": 2,
                  "AdamW": 2, "AMSGrad": 3}
#: A per-example cross-entropy log(1 + e^-margin) below about 1e-16 rounds to 0 in float64:
#: the smallest training loss the comparisons resolve.
LOSS_RESOLUTION = 1e-16
#: The tuning runs use seeds from here on, the runs of the chosen rates 0, 1, ...: disjoint.
TUNING_SEED_START = 1000
#: The label of Adadelta's run without a learning rate (alpha = 1).
ADADELTA_UNTUNED = "Adadelta, α = 1 (untuned)"


def make_method(name: str, lr: float) -> AdaptiveMethod:
    """The update rule ``name`` at learning rate ``lr``, with its other settings fixed:
    momentum beta = 0.9; RMSProp gamma = 0.9 (Tieleman and Hinton); Adadelta rho = 0.95,
    eps = 1e-6 (Zeiler); Adam, AdamW and AMSGrad betas (0.9, 0.999), eps = 1e-8, AdamW's
    decoupled weight decay 0.01 (PyTorch's default) and no weight decay for the others."""
    factories = {
        "SGD": lambda: GradientStep(lr),
        "Momentum": lambda: Momentum(lr, beta=0.9),
        "AdaGrad": lambda: AdaGrad(lr),
        "RMSProp": lambda: RMSProp(lr, gamma=0.9),
        "Adadelta": lambda: Adadelta(rho=0.95, eps=1e-6, lr=lr),
        "Adam": lambda: Adam(lr),
        "AdamW": lambda: AdamW(lr, weight_decay=1e-2),
        "AMSGrad": lambda: AMSGrad(lr),
    }
    if name not in factories:
        raise ValueError(f"unknown method {name!r}; known: {', '.join(METHODS)}")
    return factories[name]()


def state_floats_per_parameter(method: AdaptiveMethod, parameters: int) -> float:
    """Floats of optimizer state per parameter, measured from ``method.init`` on a vector of
    ``parameters`` zeros: the sizes of the arrays it carries between steps, over the count."""
    state = method.init(np.zeros(integer("parameters", parameters)))
    return sum(a.size for a in state.memory.values()) / parameters


def sqrt10_grid(low_exponent: float, high_exponent: float) -> tuple[float, ...]:
    """10^e for e from ``low_exponent`` to ``high_exponent`` in steps of 1/2 (sqrt(10) apart)."""
    count = int(round(2 * (high_exponent - low_exponent))) + 1
    return tuple(float(10.0 ** (low_exponent + i / 2)) for i in range(count))


@dataclass(frozen=True)
class Config:
    """Everything that determines the chapter's runs."""

    n_train: int = 1000
    n_validation: int = 300
    #: seed of the split into training, validation and test images (test: the rest, 497)
    split_seed: int = 0
    hidden: tuple[int, ...] = (128, 128)
    batch_size: int = 32
    epochs: int = 40
    #: the learning rates tried for every method: a geometric grid (constant ratio)
    grid: tuple[float, ...] = sqrt10_grid(-4, 1)
    tune_seeds: int = 1
    seeds: int = 5
    methods: tuple[str, ...] = METHODS
    dtype: str = "float64"

    def __post_init__(self):
        integer("n_train", self.n_train)
        integer("batch_size", self.batch_size)
        if not isinstance(self.hidden, tuple):
            raise TypeError(f"hidden must be a tuple of layer widths, got {self.hidden!r}")
        for width in self.hidden:
            integer("hidden width", width)
        integer("n_validation", self.n_validation)
        integer("split_seed", self.split_seed, minimum=0)
        if self.batch_size > self.n_train:
            raise ValueError(f"batch_size must be at most n_train = {self.n_train}, got {self.batch_size}")
        # the late-training comparison needs a half-way epoch distinct from the last
        integer("epochs", self.epochs, minimum=2)
        integer("tune_seeds", self.tune_seeds)
        integer("seeds", self.seeds, minimum=2)  # an interval over seeds needs two
        if self.seeds > TUNING_SEED_START:
            raise ValueError(f"seeds must be at most {TUNING_SEED_START} (the tuning seeds start there), "
                             f"got {self.seeds}")
        self._check_grid()
        if not self.methods or len(set(self.methods)) != len(self.methods):
            raise ValueError(f"methods must be distinct names from {', '.join(METHODS)}, got {self.methods!r}")
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise ValueError(f"unknown methods {unknown}; known: {', '.join(METHODS)}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")

    def _check_grid(self):
        grid = self.grid
        if not isinstance(grid, tuple) or len(grid) < 3:
            raise ValueError(f"grid must be a tuple of at least 3 learning rates, got {grid!r}")
        values = np.array(grid, dtype=float) if all(isinstance(g, (int, float)) and not isinstance(g, bool)
                                                    for g in grid) else None
        if values is None or not np.all(np.isfinite(values)) or np.any(values <= 0):
            raise ValueError(f"grid must hold positive finite learning rates, got {grid!r}")
        ratios = values[1:] / values[:-1]
        if np.any(ratios <= 1):
            raise ValueError(f"grid must be strictly increasing, got {grid!r}")
        if not np.allclose(ratios, ratios[0], rtol=1e-6):
            raise ValueError(f"grid must be geometric (one ratio between neighbours), got ratios {ratios}")

    @property
    def tuning_window(self) -> range:
        """The epochs whose validation losses are averaged to score a rate: the last quarter
        (at least the last epoch), so that one unlucky epoch of a spiky run does not decide."""
        return range(self.epochs - max(1, self.epochs // 4) + 1, self.epochs + 1)

    @property
    def seed_list(self) -> tuple[int, ...]:
        return tuple(range(self.seeds))

    @property
    def tune_seed_list(self) -> tuple[int, ...]:
        """Seeds of the tuning runs: disjoint from :attr:`seed_list`."""
        return tuple(range(TUNING_SEED_START, TUNING_SEED_START + self.tune_seeds))


SCALES = {
    "book": Config(),
    "paper": Config(hidden=(256, 256), epochs=100, tune_seeds=3, seeds=10),
}


@dataclass
class Curves:
    """One method's runs at one learning rate: arrays (seeds, epochs + 1), column e after
    epoch e (column 0: the initial weights)."""

    lr: float
    seeds: tuple[int, ...]
    train_loss: np.ndarray
    train_accuracy: np.ndarray
    eval_loss: np.ndarray
    eval_accuracy: np.ndarray
    #: median of alpha / sqrt(v + eps) over the coordinates with v > 0 (AdaGrad and RMSProp;
    #: else None)
    effective_step: np.ndarray | None = None
    #: per seed, the fraction of coordinates with v = 0 after the run, never given a gradient
    #: (AdaGrad and RMSProp; else None)
    untouched: np.ndarray | None = None

    @property
    def diverged(self) -> np.ndarray:
        """Per seed: did the run overflow (no finite training loss after the last epoch)?"""
        return ~np.isfinite(self.train_loss[:, -1])


def _effective_step(method: AdaptiveMethod, state) -> float:
    """Median of alpha / sqrt(v + eps) over the coordinates with v > 0, for AdaGrad's and
    RMSProp's state. Coordinates that never had a gradient (weights of pixels that are blank in
    every image, of units that never activate: about a sixth here) keep v = 0 and the step
    alpha / sqrt(eps), which they never take; counting them would move the median by their
    number, not by the accumulation."""
    v = state["v"]
    touched = v[v > 0]
    return float(np.median(method.lr / np.sqrt(touched + method.eps))) if touched.size else math.nan


def train_runs(name: str, lr: float, split: DigitsSplit, config: Config, seeds, *, evaluate_on: str,
               record_from: int = 0, bar=None) -> Curves:
    """``name`` at ``lr`` for every seed of ``seeds``: the training loss and accuracy, and the
    loss and accuracy on ``evaluate_on`` ("validation" or "test"), after every epoch from
    epoch ``record_from`` on (the earlier columns stay nan; tuning needs only the last ones).
    A run whose loss overflows is stopped there; its last column stays nan."""
    if evaluate_on not in ("validation", "test"):
        raise ValueError(f"evaluate_on must be 'validation' or 'test', got {evaluate_on!r}")
    dtype = np.dtype(config.dtype)
    x_train, y_train = split.x_train.astype(dtype), split.labels_train
    x_eval = getattr(split, f"x_{evaluate_on}").astype(dtype)
    y_eval = getattr(split, f"labels_{evaluate_on}")
    seeds = tuple(seeds)
    shape = (len(seeds), config.epochs + 1)
    records = {k: np.full(shape, np.nan) for k in ("train_loss", "train_accuracy", "eval_loss",
                                                     "eval_accuracy")}
    tracks_step = name in ("AdaGrad", "RMSProp")
    steps = np.full(shape, np.nan) if tracks_step else None
    untouched = np.full(len(seeds), np.nan) if tracks_step else None
    for r, seed in enumerate(seeds):
        network = MLPClassifier(split.input_dim, N_CLASSES, config.hidden, seed=seed, dtype=dtype,
                                device="cpu")
        method = make_method(name, lr)
        state = method.init(network.params.vector)
        order = BatchOrder(split.n_train, config.batch_size, seed)

        def record(epoch):
            loss, accuracy = network.evaluate(x_train, y_train)
            records["train_loss"][r, epoch], records["train_accuracy"][r, epoch] = loss, accuracy
            loss, accuracy = network.evaluate(x_eval, y_eval)
            records["eval_loss"][r, epoch], records["eval_accuracy"][r, epoch] = loss, accuracy
            if tracks_step and epoch > 0:  # before the first step v = 0: no step taken yet
                steps[r, epoch] = _effective_step(method, state)

        # A diverging run overflows: its loss becomes inf or nan, which stops it; no warning.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if record_from == 0:
                record(0)
            for epoch in range(1, config.epochs + 1):
                for j in range(order.per_epoch):
                    rows = order.rows((epoch - 1) * order.per_epoch + j)
                    loss = network.loss_and_gradient(x_train[rows], y_train[rows])
                    method.step(network.params.vector, network.params.grad, state)
                if not math.isfinite(loss):
                    break
                if epoch >= record_from:
                    record(epoch)
                    if not math.isfinite(records["train_loss"][r, epoch]):
                        break
        if tracks_step:
            untouched[r] = float(np.mean(state["v"] == 0))
        if bar is not None:
            bar.update(1)
    return Curves(lr, seeds, effective_step=steps, untouched=untouched, **records)


@dataclass
class Result:
    config: Config
    split: DigitsSplit
    parameters: int
    #: method -> (tune_seeds, grid) validation loss averaged over the tuning window (inf where
    #: the run overflowed)
    tuning: dict[str, np.ndarray] = field(default_factory=dict)
    #: method -> the chosen learning rate
    chosen: dict[str, float] = field(default_factory=dict)
    #: label (a method, or :data:`ADADELTA_UNTUNED`) -> its runs on the test images
    runs: dict[str, Curves] = field(default_factory=dict)
    #: method -> measured optimizer state floats per parameter
    state_floats: dict[str, float] = field(default_factory=dict)

    @property
    def grid(self) -> np.ndarray:
        return np.asarray(self.config.grid)

    def tuning_score(self, name: str) -> np.ndarray:
        """Mean over the tuning seeds of the windowed validation loss at each grid rate."""
        return self.tuning[name].mean(axis=0)

    def at_grid_edge(self, name: str) -> bool:
        """Is the chosen rate the smallest or largest of the grid (so the best may lie outside)?"""
        return self.chosen[name] in (self.config.grid[0], self.config.grid[-1])

    def final(self, label: str, what: str) -> np.ndarray:
        """Per seed, ``what`` (a :class:`Curves` field) after the last epoch."""
        return getattr(self.runs[label], what)[:, -1]

    def late_progress(self, label: str) -> np.ndarray:
        """Per seed, log10 of (training loss after half the epochs) / (after the last): the
        decades the training loss falls over the second half of the run. Losses are floored at
        :data:`LOSS_RESOLUTION`, below which a mean cross-entropy is rounding."""
        loss = np.maximum(self.runs[label].train_loss, LOSS_RESOLUTION)
        return np.log10(loss[:, self.config.epochs // 2] / loss[:, -1])

    def late_progress_difference(self, faster: str, slower: str) -> claims.Estimate:
        """late_progress(faster) - late_progress(slower), paired by seed, mean ± 2 s.e."""
        return claims.mean_with_error(self.late_progress(faster) - self.late_progress(slower), what="seeds")

    def accuracy_difference(self, label: str, reference: str) -> claims.Estimate:
        """Final test accuracy of ``label`` minus that of ``reference``, paired by seed,
        mean ± 2 s.e."""
        return claims.mean_with_error(self.final(label, "eval_accuracy") - self.final(reference, "eval_accuracy"),
                                      what="seeds")

    def effective_step_ratio(self, name: str) -> np.ndarray:
        """Per seed, the median effective step after the last epoch over that after epoch 1."""
        steps = self.runs[name].effective_step
        return steps[:, -1] / steps[:, 1]

    def state_table(self) -> list[tuple[str, float, int, int]]:
        """(method, measured floats per parameter, expected, vectors in a step = state + x + g)."""
        return [(name, value, EXPECTED_STATE[name], int(round(value)) + 2)
                for name, value in self.state_floats.items()]

    def state_mismatches(self) -> int:
        """How many methods keep a state of another size than :data:`EXPECTED_STATE` says."""
        return sum(value != EXPECTED_STATE[name] for name, value in self.state_floats.items())


def choose(grid, scores: np.ndarray) -> float:
    """The rate of the grid with the lowest score (mean validation loss; nan counts as inf)."""
    scores = np.where(np.isfinite(scores), scores, np.inf)
    if not np.isfinite(scores).any():
        raise RuntimeError("every learning rate of the grid diverged; extend the grid downwards")
    return float(grid[int(np.argmin(scores))])


def run(config: Config = Config(), progress: bool = False) -> Result:
    """Tune every method's learning rate on the validation images, then train it on
    ``config.seeds`` seeds at the chosen rate (see the module docstring)."""
    split = digits_split(config.n_train, n_validation=config.n_validation, seed=config.split_seed)
    probe = MLPClassifier(split.input_dim, N_CLASSES, config.hidden, dtype=np.dtype(config.dtype), device="cpu")
    result = Result(config, split, probe.params.size)
    for name in config.methods:
        result.state_floats[name] = state_floats_per_parameter(make_method(name, 1.0), result.parameters)
    grid = config.grid
    untuned = "Adadelta" in config.methods
    total = len(config.methods) * (len(grid) * config.tune_seeds + config.seeds) + untuned * config.seeds
    bar = tqdm(total=total, desc="optimizer runs", disable=not progress)
    with single_blas_thread():  # small products: extra BLAS threads cost more than they save
        for name in config.methods:
            losses = np.empty((config.tune_seeds, len(grid)))
            for i, lr in enumerate(grid):
                curves = train_runs(name, lr, split, config, config.tune_seed_list, evaluate_on="validation",
                                    record_from=config.tuning_window[0], bar=bar)
                window = curves.eval_loss[:, config.tuning_window[0]:].mean(axis=1)
                losses[:, i] = np.where(curves.diverged, np.inf, window)
            result.tuning[name] = losses
            result.chosen[name] = choose(grid, result.tuning_score(name))
            result.runs[name] = train_runs(name, result.chosen[name], split, config, config.seed_list,
                                           evaluate_on="test", bar=bar)
        if untuned:
            if result.chosen["Adadelta"] == 1.0:  # the same runs: reuse them
                result.runs[ADADELTA_UNTUNED] = result.runs["Adadelta"]
                bar.update(config.seeds)
            else:
                result.runs[ADADELTA_UNTUNED] = train_runs("Adadelta", 1.0, split, config, config.seed_list,
                                                           evaluate_on="test", bar=bar)
    bar.close()
    return result


# -- figures -----------------------------------------------------------------------------------
COLOURS = {"SGD": "C7", "Momentum": "C5", "AdaGrad": "C2", "RMSProp": "C1", "Adadelta": "C8",
           "Adam": "C3", "AdamW": "C4", "AMSGrad": "C0", ADADELTA_UNTUNED: "C9"}
STYLES = {ADADELTA_UNTUNED: "--", "AdamW": ":"}


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _epochs(result: Result) -> np.ndarray:
    return np.arange(result.config.epochs + 1)


def plot_tuning(result: Result):
    """Mean validation loss over the tuning window against the learning rate, per method; the
    chosen rate circled. Rates whose runs overflowed are left out."""
    fig, (ax,) = plotting.figure(panel=(7.5, 4.2))
    window = result.config.tuning_window
    for name in result.tuning:
        score = result.tuning_score(name)
        keep = np.isfinite(score)
        ax.plot(result.grid[keep], score[keep], marker=".", color=COLOURS[name], label=name,
                ls=STYLES.get(name, "-"))
        chosen = result.chosen[name]
        ax.plot([chosen], [score[list(result.config.grid).index(chosen)]], "o", mfc="none", ms=9,
                color=COLOURS[name])
    ax.legend(fontsize=8, ncols=2)
    return plotting.axes_labels(
        ax, xlabel="learning rate α",
        ylabel=f"validation loss, mean over epochs {window.start}–{window.stop - 1}",
        title=f"Tuning on the validation images, {_count(result.config.tune_seeds, 'seed')} (circle: chosen)",
        logx=True, logy=True,
    ).figure


def _curves_figure(result: Result, what: str, ylabel: str, title: str, logy: bool, legend: str):
    fig, (ax,) = plotting.figure(panel=(7.5, 4.2))
    for label, curves in result.runs.items():
        plotting.mean_band(ax, _epochs(result), getattr(curves, what), label=label, color=COLOURS[label])
        if label in STYLES:
            ax.lines[-1].set_linestyle(STYLES[label])
    ax.legend(fontsize=8, ncols=2, loc=legend)
    return plotting.axes_labels(ax, xlabel="epoch", ylabel=ylabel, title=title, logy=logy).figure


def plot_training_loss(result: Result):
    """Training cross-entropy against epochs, mean over seeds with the 10-90% band."""
    n = result.config.seeds
    return _curves_figure(result, "train_loss", "training loss (cross-entropy)",
                          f"Training loss at each method's tuned α (mean, 10–90% band over {n} seeds)", True,
                          "lower left")


def plot_test_accuracy(result: Result):
    """Test accuracy against epochs, mean over seeds with the 10-90% band."""
    fig = _curves_figure(result, "eval_accuracy", "test accuracy",
                         f"Test accuracy (mean, 10–90% band over {result.config.seeds} seeds)", False,
                         "lower right")
    fig.axes[0].set_ylim(0.8, 1.0)
    return fig


def plot_effective_step(result: Result):
    """AdaGrad's and RMSProp's median effective step alpha / sqrt(v + eps) (over the coordinates
    that have had a gradient) against epochs."""
    fig, (ax,) = plotting.figure(panel=(7.5, 4.0))
    epochs = _epochs(result)
    for name in ("AdaGrad", "RMSProp"):
        if name in result.runs:
            plotting.mean_band(ax, epochs[1:], result.runs[name].effective_step[:, 1:],
                               label=f"{name}, α = {result.chosen[name]:.2g}", color=COLOURS[name])
    ax.legend(fontsize=8)
    return plotting.axes_labels(ax, xlabel="epoch", ylabel="median of α / √(v + ε)",
                                title="Effective step: median over the coordinates with v > 0, "
                                f"10–90% band over {result.config.seeds} seeds", logy=True).figure


def figures(result: Result) -> dict:
    return {"tuning": plot_tuning(result), "training_loss": plot_training_loss(result),
            "test_accuracy": plot_test_accuracy(result), "effective_step": plot_effective_step(result)}


def summary(result: Result) -> dict:
    """The chapter's figures as plain numbers (written by ``memopt run optimizers``)."""
    return {
        "parameters": result.parameters,
        "grid": list(result.config.grid),
        "n_train": result.split.n_train, "n_validation": int(result.split.x_validation.shape[0]),
        "n_test": int(result.split.x_test.shape[0]),
        "methods": {
            label: {
                "lr": curves.lr,
                "lr_at_grid_edge": result.at_grid_edge(label) if label in result.chosen else None,
                "state_floats_per_parameter": result.state_floats.get(label),
                "final_train_loss_mean": float(np.mean(result.final(label, "train_loss"))),
                "final_test_accuracy_mean": float(np.mean(result.final(label, "eval_accuracy"))),
                "diverged_seeds": int(curves.diverged.sum()),
            }
            for label, curves in result.runs.items()
        },
    }
