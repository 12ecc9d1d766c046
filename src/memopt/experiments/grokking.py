"""Chapter "Grokking: generalisation long after memorisation" (book/phenomena/grokking.md).

Two networks learn a binary operation table a o b = c (mod p) from part of its entries:

* the two-layer MLP with squared activation of Gromov (2023) at p = 97, full batch, mean
  squared error, AdamW (lr 1e-2, betas (0.9, 0.98)), trained for several seeds in float64:
  it carries the chapter's claims, as the median and range over the seeds; runs at a smaller
  training fraction on the same seeds check that it does not generalise, and a small phase
  diagram shows its final validation accuracy over training fraction x weight decay;
* the decoder-only transformer of Power et al. (2022): 2 layers, width 128, 4 heads, trained
  with AdamW (lr 1e-3, betas (0.9, 0.98), weight decay 1, 10 warmup steps) on mini-batches of
  min(512, n_train / 2) equations, cross-entropy on the answer token, in float32. One step
  costs about 50 ms of CPU, so the book runs it for its memorisation phase only (one seed, a
  demonstration); ``memopt run grokking --scale paper`` runs it for the paper's 1e5 steps.

Every run records training and validation loss and accuracy and the parameter norm at the
steps of its evaluation grid. The quantities the chapter's claims need (the steps at which
training and validation accuracy first reach 99%, the validation accuracy and the parameter
norm there, the final validation accuracies) are computed here. Runs that train the same
network on the same data (only their evaluation grids differ) are trained once. With
``checkpoint_every > 0`` each training run checkpoints to the result cache and resumes after
an interruption (see :mod:`memopt.nets.training`); ``memopt run grokking --scale paper`` uses
that.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from tqdm import tqdm

from memopt import claims, machine, plotting
from memopt.backend import resolve_device, single_blas_thread
from memopt.cache import ResultCache
from memopt.nets import DecoderTransformer, QuadraticMLP
from memopt.nets.training import Checkpoints, Dataset, History, train
from memopt.optim.adaptive import AdamW
from memopt.optim.trace import log_iterations
from memopt.problems.modular import OPERATIONS, modular_task

NAME = "grokking"
DESCRIPTION = "Grokking on modular arithmetic: Gromov's quadratic MLP and Power et al.'s transformer"

#: "reaches 99%" and "still below 50%": the thresholds of the chapter's claims.
LEARNED, UNLEARNED = 0.99, 0.5
#: "at chance": a validation accuracy of at most this many times 1/p (Power et al., Fig. 1).
CHANCE_FACTOR = 2.0
#: "long after": t_val at least this many times t_train (Power et al., Fig. 1).
DELAY_FACTOR = 10.0
DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class Run:
    """What every training run has: the table and its split, AdamW's settings, the budget,
    the seed (of the split, the initial weights and the batch order) and the evaluations
    (every step up to ``dense_evaluations``, ``evaluations_per_decade`` log-spaced steps a
    decade and ``linear_evaluations`` evenly spaced ones)."""

    modulus: int = 97
    operation: str = "x+y"
    train_fraction: float = 0.5
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-8
    weight_decay: float = 1.0
    steps: int = 100_000
    seed: int = 0
    evaluations_per_decade: int = 30
    linear_evaluations: int = 50
    dense_evaluations: int = 0
    #: the floating-point type the network computes in ("float32" or "float64")
    dtype: str = "float32"

    def __post_init__(self):
        if self.operation not in OPERATIONS:
            raise ValueError(f"operation must be one of {list(OPERATIONS)}, got {self.operation!r}")
        if not 0 < self.train_fraction < 1:
            raise ValueError(f"train_fraction must lie in (0, 1), got {self.train_fraction}")
        if self.steps < 1 or self.lr <= 0 or self.weight_decay < 0:
            raise ValueError("need steps >= 1, lr > 0 and weight_decay >= 0")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas}")
        if min(self.evaluations_per_decade, self.linear_evaluations, self.dense_evaluations) < 0:
            raise ValueError("the numbers of evaluations must be >= 0")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {list(DTYPES)}, got {self.dtype!r}")

    def trained_as(self) -> "Run":
        """The run with its evaluation grid cleared: two runs with the same ``trained_as()``
        train the same network on the same data and differ only in where they are measured
        (evaluating does not change the training)."""
        return replace(self, evaluations_per_decade=0, linear_evaluations=0, dense_evaluations=0)


@dataclass(frozen=True)
class TransformerRun(Run):
    """One training run of the decoder transformer (defaults: the paper's settings)."""

    width: int = 128
    heads: int = 4
    layers: int = 2
    warmup: int = 10
    #: mini-batches of min(max_batch, n_train // 2) equations
    max_batch: int = 512

    def __post_init__(self):
        super().__post_init__()
        if self.width % self.heads:
            raise ValueError(f"width {self.width} must be a multiple of heads {self.heads}")

    def batch_size(self, n_train: int) -> int:
        return max(1, min(self.max_batch, n_train // 2))


@dataclass(frozen=True)
class MLPRun(Run):
    """One full-batch run of Gromov's MLP (defaults: the p = 97 configuration), computed in
    ``dtype``: float64 by default, so that the steps at which accuracies cross their
    thresholds do not depend on the machine's rounding."""

    lr: float = 1e-2
    weight_decay: float = 5.0
    steps: int = 2000
    width: int = 500
    warmup: int = 0
    dtype: str = "float64"
    #: the initial weights times this (Omnigrok's alpha)
    init_scale: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        if not self.init_scale > 0:
            raise ValueError(f"init_scale must be positive, got {self.init_scale}")

    def batch_size(self, n_train: int) -> int:
        return n_train


@dataclass(frozen=True)
class Config:
    """Everything the chapter runs. The book's MLP runs are Gromov's p = 97 network and
    optimiser with 20% of the table for training, weight decay 5 and 300 full-batch steps,
    on three seeds, evaluated at every step up to 20 and every 10 steps after; the runs at
    ``contrast_fraction`` repeat them on a tenth of the table, and the phase diagram is a sweep
    (:mod:`memopt.sweep`) of the first seed's run over training fractions x weight decays. The
    transformer keeps the paper's
    table (p = 97, half of it for training), model and optimiser for 400 steps, which cover
    its memorisation only (evaluated every 50 steps)."""

    transformer: TransformerRun = TransformerRun(steps=400, evaluations_per_decade=0,
                                                 linear_evaluations=8)
    mlp: MLPRun = MLPRun(train_fraction=0.2, weight_decay=5.0, steps=300, dense_evaluations=20,
                         evaluations_per_decade=0, linear_evaluations=30)
    mlp_seeds: tuple[int, ...] = (0, 1, 2)
    #: a training fraction at which the MLP (at its weight decay and budget) should not generalise
    contrast_fraction: float = 0.1
    phase_fractions: tuple[float, ...] = (0.1, 0.2, 0.3)
    phase_weight_decays: tuple[float, ...] = (0.0, 1.0, 5.0)
    phase_steps: int = 300
    #: Omnigrok's sweep of the initialisation: the MLP runs again with its initial weights
    #: times each of these (on the same seeds) for ``init_steps`` steps
    init_scales: tuple[float, ...] = (3.0,)
    init_steps: int = 500
    #: 0: no checkpoints; otherwise every run checkpoints to the result cache this often
    checkpoint_every: int = 0

    def __post_init__(self):
        if not self.mlp_seeds or not self.phase_fractions or not self.phase_weight_decays:
            raise ValueError("need at least one MLP seed, phase fraction and phase weight decay")
        if len(set(self.mlp_seeds)) != len(self.mlp_seeds):
            raise ValueError(f"the MLP seeds must differ, got {self.mlp_seeds}")
        if not 0 < self.contrast_fraction < self.mlp.train_fraction:
            raise ValueError(f"contrast_fraction must lie in (0, {self.mlp.train_fraction:g}) "
                             f"(below the MLP's training fraction), got {self.contrast_fraction}")
        if self.phase_steps < 1 or self.init_steps < 1 or self.checkpoint_every < 0:
            raise ValueError("need phase_steps >= 1, init_steps >= 1 and checkpoint_every >= 0")
        if not all(scale > 0 for scale in self.init_scales):
            raise ValueError(f"init_scales must be positive, got {self.init_scales}")

    def mlp_runs(self) -> list[MLPRun]:
        """The runs of the claims: the MLP on each seed."""
        return [replace(self.mlp, seed=s) for s in self.mlp_seeds]

    def contrast_runs(self) -> list[MLPRun]:
        """The same runs on ``contrast_fraction`` of the table; only the end is evaluated."""
        return [replace(run, train_fraction=self.contrast_fraction, dense_evaluations=0,
                        evaluations_per_decade=0, linear_evaluations=1)
                for run in self.mlp_runs()]

    def init_runs(self) -> list[MLPRun]:
        """The MLP runs with scaled initial weights, scale by scale, seed by seed."""
        return [replace(run, init_scale=scale, steps=self.init_steps)
                for scale in self.init_scales for run in self.mlp_runs()]

    def phase_grid(self) -> dict[str, tuple]:
        """The phase diagram's grid, a sweep of :meth:`phase_base` (weight decay by weight decay)."""
        return {"weight_decay": self.phase_weight_decays, "train_fraction": self.phase_fractions}

    def phase_base(self) -> MLPRun:
        """The run every cell of the phase diagram varies: the MLP's first seed, for
        ``phase_steps`` steps, evaluated half as often as the claims' runs (every 20 steps in
        the book)."""
        return replace(self.mlp, seed=self.mlp_seeds[0], steps=self.phase_steps, dense_evaluations=0,
                       linear_evaluations=max(1, self.mlp.linear_evaluations // 2))


#: Power et al.'s Fig. 1: division x/y mod 97 with half of the table, their model, optimiser
#: and budget of 1e5 steps (about 1.5 h of CPU); its stored record is ``PAPER_RECORD``.
PAPER_TRANSFORMER = TransformerRun(operation="x/y")

SCALES = {
    "book": Config(),
    "paper": Config(
        transformer=PAPER_TRANSFORMER,
        mlp=MLPRun(train_fraction=0.2, weight_decay=5.0, steps=2000, dense_evaluations=20),
        mlp_seeds=(0, 1, 2, 3, 4),
        phase_fractions=tuple(round(f, 2) for f in np.linspace(0.1, 0.9, 17)),
        phase_weight_decays=(0.0, 5.0, 15.0, 20.0),
        phase_steps=2000,
        init_scales=(2.0, 3.0, 5.0),
        init_steps=2000,
        checkpoint_every=500,
    ),
}


@dataclass
class RunRecord:
    """One training run: its settings, its measurements, and the sizes it trained on."""

    run: TransformerRun | MLPRun
    history: History
    n_train: int
    n_validation: int
    batch_size: int

    @property
    def t_train(self) -> float:
        """First logged step with training accuracy >= 99% (inf if never)."""
        return self.history.first_step("train_accuracy", LEARNED)

    @property
    def t_val(self) -> float:
        """First logged step with validation accuracy >= 99% (inf if never)."""
        return self.history.first_step("validation_accuracy", LEARNED)

    def validation_at_t_train(self) -> float:
        return self.history.at_step("validation_accuracy", self.t_train)

    def delay_ratio(self) -> float:
        """t_val / t_train: how long generalisation lags memorisation."""
        return self.t_val / self.t_train if self.t_train > 0 else float("nan")

    def norm_ratio(self) -> float:
        """||theta|| at t_val over ||theta|| at t_train (nan if either was never reached)."""
        return (self.history.at_step("parameter_norm", self.t_val)
                / self.history.at_step("parameter_norm", self.t_train))

    def drops_after_t_train(self, level: float = 0.9) -> int:
        """Logged steps after t_train at which the training accuracy falls below ``level``
        from at or above it at the previous logged step: how often memorisation collapses."""
        accuracy = self.history.array("train_accuracy")
        after = self.history.array("steps")[1:] > self.t_train
        return int(np.sum(after & (accuracy[1:] < level) & (accuracy[:-1] >= level)))

    def norm_growth(self) -> float:
        """||theta|| at t_val over the initial ||theta|| (nan if t_val was never reached)."""
        return self.history.at_step("parameter_norm", self.t_val) / self.history.parameter_norm[0]

    def final_validation_accuracy(self) -> float:
        return self.history.final("validation_accuracy")

    def claim_quantities(self) -> dict[str, float]:
        """What the chapter's claims (a) and (b) measure on this run."""
        return {
            "best_train_accuracy": float(self.history.array("train_accuracy").max()),
            "best_validation_accuracy": float(self.history.array("validation_accuracy").max()),
            "t_train": self.t_train, "t_val": self.t_val,
            "validation_at_t_train": self.validation_at_t_train(),
            "delay_ratio": self.delay_ratio(), "norm_ratio": self.norm_ratio(),
            "norm_growth": self.norm_growth(),
        }

    def summary(self) -> dict:
        return {"n_train": self.n_train, "batch_size": self.batch_size, **self.claim_quantities(),
                "final_train_accuracy": self.history.final("train_accuracy"),
                "final_validation_accuracy": self.final_validation_accuracy()}


def evaluation_steps(run) -> np.ndarray:
    steps = log_iterations(run.steps, per_decade=run.evaluations_per_decade,
                           linear=max(run.linear_evaluations, 1))
    if run.evaluations_per_decade == 0:  # log_iterations still puts in step 1
        steps = steps[steps != 1]
    dense = np.arange(min(run.dense_evaluations, run.steps) + 1)
    return np.union1d(steps, dense)


def train_run(run: TransformerRun | MLPRun, *, progress: bool = False, cache: ResultCache | None = None,
              checkpoint_every: int = 0, device: str | None = None, callback=None,
              eval_steps=None) -> RunRecord:
    """Train one network as ``run`` says; with ``checkpoint_every`` > 0, checkpoint into
    ``cache`` (default: the result cache) and resume from it. ``eval_steps`` replaces the
    run's evaluation grid."""
    device = resolve_device(device)
    task = modular_task(run.modulus, run.operation)
    train_rows, validation_rows = task.split(run.train_fraction, run.seed)
    if isinstance(run, TransformerRun):
        inputs = task.sequences()
        network = DecoderTransformer(task.vocabulary_size, task.classes, width=run.width,
                                     heads=run.heads, layers=run.layers, seed=run.seed,
                                     dtype=np.dtype(run.dtype), device=device)
    else:
        inputs = task.pairs()
        network = QuadraticMLP(task.modulus, run.width, seed=run.seed, dtype=np.dtype(run.dtype),
                               device=device, init_scale=run.init_scale)
    data = Dataset(inputs[train_rows], task.c[train_rows], inputs[validation_rows], task.c[validation_rows])
    optimizer = AdamW(lr=run.lr, betas=run.betas, eps=run.eps, weight_decay=run.weight_decay,
                      warmup=run.warmup)
    checkpoints = None
    if checkpoint_every:
        checkpoints = Checkpoints(cache if cache is not None else ResultCache(), f"{NAME}_{device}",
                                  run, checkpoint_every)
    batch = run.batch_size(data.n_train)
    label = (f"{type(run).__name__} p={run.modulus} frac={run.train_fraction:g} "
             f"wd={run.weight_decay:g} seed={run.seed}")
    with single_blas_thread():  # small products: extra BLAS threads cost more than they save
        history = train(network, optimizer, data, steps=run.steps, batch_size=batch, seed=run.seed,
                        eval_steps=evaluation_steps(run) if eval_steps is None else eval_steps,
                        checkpoints=checkpoints, progress=progress,
                        description=label, callback=callback)
    return RunRecord(run, history, data.n_train, len(validation_rows), batch)


@dataclass
class Result:
    config: Config
    transformer: RunRecord
    mlp: list[RunRecord] = field(default_factory=list)
    #: the phase diagram's sweep: one row per (weight decay, training fraction) with the
    #: columns of :data:`memopt.sweep.GROKKING_COLUMNS`
    phase: Any = None
    contrast: list[RunRecord] = field(default_factory=list)
    init: list[RunRecord] = field(default_factory=list)

    def phase_grid(self, column: str = "final_validation_accuracy") -> np.ndarray:
        """``column`` of the phase diagram's sweep, shape (weight decays, fractions)."""
        shape = (len(self.config.phase_weight_decays), len(self.config.phase_fractions))
        return self.phase[column].to_numpy(dtype=np.float64).reshape(shape)

    def phase_contrasts(self) -> list[float]:
        """The weight decays at which some training fraction stays below 50% validation
        accuracy and another reaches 99%, within the same budget (on the diagram's seed)."""
        grid = self.phase_grid()
        return [wd for wd, row in zip(self.config.phase_weight_decays, grid)
                if row.min() < UNLEARNED and row.max() >= LEARNED]

    def mlp_medians(self) -> dict[str, float]:
        """Median over the MLP seeds of the claims' quantities."""
        per_seed = [record.claim_quantities() for record in self.mlp]
        return {name: float(np.median([q[name] for q in per_seed])) for name in per_seed[0]}

    def mlp_estimates(self, init_scale: float = 1.0) -> dict[str, claims.Estimate | float]:
        """The claims' quantities as the median over the MLP seeds with their range, for the
        runs whose initial weights were scaled by ``init_scale``."""
        records = self.mlp if init_scale == 1.0 else [r for r in self.init if r.run.init_scale == init_scale]
        if not records:
            raise KeyError(f"no MLP runs at init_scale {init_scale}; run: 1, "
                           f"{', '.join(f'{a:g}' for a in self.config.init_scales)}")
        per_seed = [record.claim_quantities() for record in records]
        return {name: over_seeds([q[name] for q in per_seed]) for name in per_seed[0]}

    def final_validation_estimates(self) -> dict[float, claims.Estimate | float]:
        """Final validation accuracy, median and range over the seeds, at the contrast
        fraction and at the MLP's fraction (same seeds, weight decay and budget)."""
        return {records[0].run.train_fraction: over_seeds([r.final_validation_accuracy() for r in records])
                for records in (self.contrast, self.mlp)}


def over_seeds(values) -> claims.Estimate | float:
    """The median of per-seed values with their range; nan if a seed has no value (a run
    that never reached a threshold has no ratio there), which fails any claim."""
    values = np.asarray(values, dtype=np.float64)
    if np.isnan(values).any():
        return float("nan")
    return claims.median_with_range(values, what="seeds")


def _plain(estimate) -> dict | float:
    return vars(estimate) if isinstance(estimate, claims.Estimate) else estimate


def phase_sweep(config: Config, *, client=None, cache: ResultCache | None = None, progress: bool = False):
    """The phase diagram's cells as a table (:func:`memopt.sweep.run_sweep`), on the Dask
    ``client`` if one is given; computed afresh unless a ``cache`` is given (then a sweep that
    was stopped resumes from it)."""
    import tempfile  # noqa: PLC0415

    from memopt import sweep  # noqa: PLC0415

    cell = sweep.cell_of(NAME)
    with tempfile.TemporaryDirectory() as scratch:
        cache = ResultCache(scratch) if cache is None else cache
        return sweep.run_sweep(cell, config.phase_grid(), base=config.phase_base(), client=client,
                               cache=cache, progress=progress).table


def run(config: Config = Config(), progress: bool = False, cache: ResultCache | None = None,
        client=None) -> Result:
    """All of the chapter's runs for ``config``; runs that differ only in their evaluations
    are trained once (the one listed first, with its evaluation grid, stands for the others).
    The phase diagram's sweep runs on the Dask ``client`` if one is given."""
    options = {"cache": cache, "checkpoint_every": config.checkpoint_every}
    groups = [[config.transformer], config.mlp_runs(), config.contrast_runs(), config.init_runs()]
    unique: dict[Run, Run] = {}
    for r in (r for group in groups for r in group):
        unique.setdefault(r.trained_as(), r)
    trained = {key: train_run(r, progress=progress, **options)
               for key, r in tqdm(unique.items(), desc="grokking runs", disable=not progress)}
    transformer, mlp, contrast, init = ([trained[r.trained_as()] for r in group] for group in groups)
    phase = phase_sweep(config, client=client, cache=cache, progress=progress)
    return Result(config, transformer[0], mlp, phase, contrast, init)


# -- figures -------------------------------------------------------------------------------------
STEP_LABEL = "optimisation step (updates)"


def _curves(axes, records: list[RunRecord], modulus: int):
    """Accuracy, loss and parameter norm against steps; mean and band over the records. The
    step axis is logarithmic when the logged steps span more than a decade."""
    acc_ax, loss_ax, norm_ax = axes
    steps = records[0].history.array("steps")
    logged = steps[steps >= 1]
    logx = bool(logged.size) and logged.max() > 10 * logged.min()
    keep = steps >= 1 if logx else steps >= 0
    x = steps[keep]

    def stack(name):
        return np.stack([r.history.array(name)[keep] for r in records])

    for name, colour, label in (("train", "C0", "training"), ("validation", "C3", "validation")):
        plotting.mean_band(acc_ax, x, 100 * stack(f"{name}_accuracy"), label=label, color=colour)
        plotting.mean_band(loss_ax, x, stack(f"{name}_loss"), label=label, color=colour)
    plotting.theory(acc_ax, x, np.full(x.shape, 100 / modulus), label=f"chance, 1/p = {100 / modulus:.2g}%")
    plotting.mean_band(norm_ax, x, stack("parameter_norm"), label="‖θ‖₂", color="C2")
    t_train = np.median([r.t_train for r in records])
    t_val = np.median([r.t_val for r in records])
    for ax in axes:  # the first panel's legend names the lines
        for t, style, text in ((t_train, ":", "training"), (t_val, "-.", "validation")):
            if np.isfinite(t):
                ax.axvline(t, color="gray", ls=style, lw=1,
                           label=f"{text} reaches 99% (step {t:.0f})" if ax is acc_ax else None)
    acc_ax.legend(loc="center left")
    loss_ax.legend(loc="lower left")
    plotting.axes_labels(acc_ax, xlabel=STEP_LABEL, ylabel="accuracy (%)", logx=logx)
    plotting.axes_labels(loss_ax, xlabel=STEP_LABEL, ylabel=f"loss ({_loss_name(records[0])})",
                         logx=logx, logy=True)
    plotting.axes_labels(norm_ax, xlabel=STEP_LABEL, ylabel="parameter norm ‖θ‖₂", logx=logx)
    return x


def decay_alone(record: RunRecord, steps: np.ndarray) -> np.ndarray:
    """||theta_0|| prod_k (1 - lr_k lambda): the norm if weight decay acted alone (AdamW's
    decoupled decay, with the warmup's smaller first steps)."""
    run = record.run
    optimizer = AdamW(lr=run.lr, weight_decay=run.weight_decay, warmup=run.warmup)
    factors = np.array([1 - optimizer.learning_rate(k) * run.weight_decay for k in range(1, int(steps.max()) + 1)])
    cumulative = np.concatenate([[1.0], np.cumprod(factors)])
    return record.history.parameter_norm[0] * cumulative[steps]


def _loss_name(record: RunRecord) -> str:
    return "cross-entropy" if isinstance(record.run, TransformerRun) else "mean squared error"


def plot_transformer(result: Result):
    fig, axes = plotting.figure(ncols=3, panel=(3.3, 3.0))
    record = result.transformer
    steps = _curves(axes, [record], record.run.modulus)
    plotting.theory(axes[2], steps, decay_alone(record, steps),
                    label=r"$\Vert\theta_0\Vert\,\prod_k (1 - \eta_k \lambda)$: weight decay alone")
    axes[2].legend(loc="lower left")
    run = record.run
    fig.suptitle(f"Transformer on {run.operation} mod {run.modulus}, "
                 f"{100 * run.train_fraction:g}% of the table for training")
    return fig


def plot_mlp(result: Result):
    fig, axes = plotting.figure(ncols=3, panel=(3.3, 3.0))
    _curves(axes, result.mlp, result.config.mlp.modulus)
    axes[2].legend(loc="upper left")
    run = result.config.mlp
    fig.suptitle(f"Quadratic MLP on {run.operation} mod {run.modulus}, "
                 f"{100 * run.train_fraction:g}% for training, {len(result.mlp)} seeds (mean and 10–90% band)")
    return fig


def plot_initialisation(result: Result):
    """Validation accuracy and parameter norm of the MLP from its standard initialisation and
    from each scaled one (mean and band over the seeds), with the median t_train and t_val."""
    fig, (acc_ax, norm_ax) = plotting.figure(ncols=2, panel=(5.0, 3.6))
    groups = [(1.0, result.mlp)] + [(a, [r for r in result.init if r.run.init_scale == a])
                                    for a in result.config.init_scales]
    for (scale, records), colour in zip(groups, plotting.palette(len(groups))):
        steps = records[0].history.array("steps")
        for ax, name, factor in ((acc_ax, "validation_accuracy", 100), (norm_ax, "parameter_norm", 1)):
            runs = np.stack([factor * r.history.array(name) for r in records])
            plotting.mean_band(ax, steps, runs, label=f"initial weights × {scale:g}", color=colour)
            for t, style in ((np.median([r.t_train for r in records]), ":"),
                             (np.median([r.t_val for r in records]), "-.")):
                if np.isfinite(t):
                    ax.axvline(t, color=colour, ls=style, lw=1)
    acc_ax.legend(loc="center right")
    norm_ax.legend(loc="upper right")
    plotting.axes_labels(acc_ax, xlabel=STEP_LABEL, ylabel="validation accuracy (%)")
    plotting.axes_labels(norm_ax, xlabel=STEP_LABEL, ylabel="parameter norm ‖θ‖₂")
    run = result.config.mlp
    fig.suptitle(f"Quadratic MLP on {run.operation} mod {run.modulus}, weight decay {run.weight_decay:g}, "
                 f"{len(result.mlp)} seeds: standard and scaled initial weights\n"
                 "(dotted: median t_train, dash-dotted: median t_val)")
    return fig


def plot_record(stored: dict):
    """A stored run's accuracy, loss and parameter norm against steps (log axis)."""
    record = record_from(stored)
    fig, axes = plotting.figure(ncols=3, panel=(3.6, 3.4))
    _curves(axes, [record], record.run.modulus)
    run = record.run
    fig.suptitle(f"Stored run: transformer on {run.operation} mod {run.modulus}, "
                 f"{100 * run.train_fraction:g}% for training, {run.steps:,} steps")
    return fig


def plot_phase_diagram(result: Result):
    """Steps to generalise (t_val) over training fraction x weight decay; a cell that did not
    reach 99% validation accuracy within the budget shows its final validation accuracy."""
    from matplotlib.colors import LogNorm  # noqa: PLC0415

    fig, (ax,) = plotting.figure(panel=(6.0, 3.6))
    config = result.config
    t_val, final = result.phase_grid("t_val"), 100 * result.phase_grid()
    reached = np.isfinite(t_val)
    shown = np.where(reached, t_val, np.nan)
    image = ax.imshow(shown, origin="lower", aspect="auto", cmap="viridis_r",
                      norm=LogNorm(vmin=1, vmax=config.phase_steps))
    ax.set_facecolor("0.85")  # cells that did not generalise
    fractions, decays = config.phase_fractions, config.phase_weight_decays
    ax.set_xticks(range(len(fractions)), [f"{f:g}" for f in fractions])
    ax.set_yticks(range(len(decays)), [f"{d:g}" for d in decays])
    ax.grid(False)
    for i, j in np.ndindex(t_val.shape):
        text = f"{t_val[i, j]:.0f}" if reached[i, j] else f"no\n({final[i, j]:.0f}%)"
        ax.text(j, i, text, ha="center", va="center", fontsize=9,
                color="white" if reached[i, j] and t_val[i, j] > 30 else "black")
    fig.colorbar(image, ax=ax, label="steps to 99% validation accuracy")
    plotting.axes_labels(ax, xlabel="training fraction (share of the p² equations)",
                         ylabel="AdamW weight decay λ",
                         title=f"Quadratic MLP, p = {config.mlp.modulus}, seed {config.mlp_seeds[0]}, "
                               f"{config.phase_steps} steps: when it generalises")
    return fig


def figures(result: Result) -> dict:
    return {"transformer": plot_transformer(result), "mlp": plot_mlp(result),
            "initialisation": plot_initialisation(result), "phase_diagram": plot_phase_diagram(result)}


def summary(result: Result) -> dict:
    """The chapter's figures as plain numbers (written by ``memopt run grokking``)."""
    return {
        "transformer": result.transformer.summary(),
        "mlp": [r.summary() for r in result.mlp],
        "mlp_medians": result.mlp_medians(),
        "mlp_estimates": {name: _plain(e) for name, e in result.mlp_estimates().items()},
        "contrast": [r.summary() for r in result.contrast],
        "initialisation": {f"{a:g}": {name: _plain(e) for name, e in result.mlp_estimates(a).items()}
                           for a in result.config.init_scales},
        "final_validation_estimates": {str(f): _plain(e)
                                       for f, e in result.final_validation_estimates().items()},
        "phase_diagram": {
            "fractions": list(result.config.phase_fractions),
            "weight_decays": list(result.config.phase_weight_decays),
            "final_validation_accuracy": result.phase_grid().tolist(),
            "t_val": [[None if not np.isfinite(t) else t for t in row] for row in result.phase_grid("t_val")],
            "contrasting_weight_decays": result.phase_contrasts(),
        },
    }


# -- the stored paper-scale record ---------------------------------------------------------------
def record_of(record: RunRecord, seconds: float) -> dict:
    """A training run as a plain, storable record: its settings, its measurements at every
    logged step, the quantities of the claims, and where and how long it ran."""
    return {
        "run": {"network": type(record.run).__name__, **asdict(record.run)},
        "n_train": record.n_train, "n_validation": record.n_validation,
        "batch_size": record.batch_size,
        "history": {name: record.history.array(name).tolist() for name in History.FIELDS},
        "summary": record.summary(),
        "machine": machine.description(),
        "seconds": round(seconds, 1),
    }


def paper_record(progress: bool = False, cache: ResultCache | None = None,
                 run: TransformerRun = PAPER_TRANSFORMER) -> dict:
    """Train the transformer at the paper's setting (checkpointed, so an interrupted run
    resumes) and return its record (:func:`record_of`)."""
    start = time.perf_counter()
    record = train_run(run, progress=progress, cache=cache, checkpoint_every=1000)
    return record_of(record, time.perf_counter() - start)


def history_of(stored: dict) -> History:
    """The :class:`History` of a stored record."""
    return History(*(list(stored["history"][name]) for name in History.FIELDS))


def run_of(stored: dict) -> TransformerRun | MLPRun:
    """The run a stored record was made with."""
    settings = dict(stored["run"])
    network = settings.pop("network")
    kinds = {cls.__name__: cls for cls in (TransformerRun, MLPRun)}
    if network not in kinds:
        raise ValueError(f"unknown network {network!r} in the record; known: {', '.join(kinds)}")
    settings["betas"] = tuple(settings["betas"])
    return kinds[network](**settings)


def record_from(stored: dict) -> RunRecord:
    """A stored record (:func:`record_of`) as the :class:`RunRecord` it was made from."""
    return RunRecord(run_of(stored), history_of(stored), stored["n_train"], stored["n_validation"],
                     stored["batch_size"])


def replay(stored: dict, steps: int, progress: bool = False) -> History:
    """The first ``steps`` steps of a stored record's run, trained again and measured at the
    record's logged steps up to ``steps``: the batches of a step and AdamW's learning rate do
    not depend on the budget, so this is the stored run's prefix."""
    logged = [s for s in stored["history"]["steps"] if s <= steps]
    run = replace(run_of(stored), steps=steps)
    return train_run(run, progress=progress, eval_steps=logged).history
