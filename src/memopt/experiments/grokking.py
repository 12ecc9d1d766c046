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

from dataclasses import dataclass, field, replace

import numpy as np
from tqdm import tqdm

from memopt import claims, plotting
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

    def batch_size(self, n_train: int) -> int:
        return n_train


@dataclass(frozen=True)
class Config:
    """Everything the chapter runs. The book's MLP runs are Gromov's p = 97 network and
    optimiser with 20% of the table for training, weight decay 5 and 300 full-batch steps,
    on three seeds, evaluated at every step up to 20 and every 10 steps after; the runs at
    ``contrast_fraction`` repeat them on a tenth of the table, and the phase diagram adds the
    same two fractions without weight decay (first seed). The transformer keeps the paper's
    table (p = 97, half of it for training), model and optimiser for 400 steps, which cover
    its memorisation only (evaluated every 50 steps)."""

    transformer: TransformerRun = TransformerRun(steps=400, evaluations_per_decade=0,
                                                 linear_evaluations=8)
    mlp: MLPRun = MLPRun(train_fraction=0.2, weight_decay=5.0, steps=300, dense_evaluations=20,
                         evaluations_per_decade=0, linear_evaluations=30)
    mlp_seeds: tuple[int, ...] = (0, 1, 2)
    #: a training fraction at which the MLP (at its weight decay and budget) should not generalise
    contrast_fraction: float = 0.1
    phase_fractions: tuple[float, ...] = (0.1, 0.2)
    phase_weight_decays: tuple[float, ...] = (0.0, 5.0)
    phase_steps: int = 300
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
        if self.phase_steps < 1 or self.checkpoint_every < 0:
            raise ValueError("need phase_steps >= 1 and checkpoint_every >= 0")

    def mlp_runs(self) -> list[MLPRun]:
        """The runs of the claims: the MLP on each seed."""
        return [replace(self.mlp, seed=s) for s in self.mlp_seeds]

    def contrast_runs(self) -> list[MLPRun]:
        """The same runs on ``contrast_fraction`` of the table; only the end is evaluated."""
        return [replace(run, train_fraction=self.contrast_fraction, dense_evaluations=0,
                        evaluations_per_decade=0, linear_evaluations=1)
                for run in self.mlp_runs()]

    def phase_runs(self) -> list[MLPRun]:
        """The phase diagram's runs (the MLP's first seed), weight decay by weight decay;
        only the end is evaluated."""
        return [replace(self.mlp, seed=self.mlp_seeds[0], train_fraction=f, weight_decay=wd,
                        steps=self.phase_steps, dense_evaluations=0, evaluations_per_decade=0,
                        linear_evaluations=1)
                for wd in self.phase_weight_decays for f in self.phase_fractions]


SCALES = {
    "book": Config(),
    "paper": Config(
        transformer=TransformerRun(),
        mlp=MLPRun(train_fraction=0.2, weight_decay=5.0, steps=2000, dense_evaluations=20),
        mlp_seeds=(0, 1, 2, 3, 4),
        phase_fractions=tuple(round(f, 2) for f in np.linspace(0.1, 0.9, 17)),
        phase_weight_decays=(0.0, 5.0, 15.0, 20.0),
        phase_steps=2000,
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
              checkpoint_every: int = 0, device: str | None = None, callback=None) -> RunRecord:
    """Train one network as ``run`` says; with ``checkpoint_every`` > 0, checkpoint into
    ``cache`` (default: the result cache) and resume from it."""
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
                               device=device)
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
                        eval_steps=evaluation_steps(run), checkpoints=checkpoints, progress=progress,
                        description=label, callback=callback)
    return RunRecord(run, history, data.n_train, len(validation_rows), batch)


@dataclass
class Result:
    config: Config
    transformer: RunRecord
    mlp: list[RunRecord] = field(default_factory=list)
    phase: list[RunRecord] = field(default_factory=list)
    contrast: list[RunRecord] = field(default_factory=list)

    def phase_grid(self) -> np.ndarray:
        """Final validation accuracy, shape (weight decays, fractions)."""
        acc = [r.final_validation_accuracy() for r in self.phase]
        return np.array(acc).reshape(len(self.config.phase_weight_decays), len(self.config.phase_fractions))

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

    def mlp_estimates(self) -> dict[str, claims.Estimate | float]:
        """The claims' quantities as the median over the MLP seeds with their range."""
        per_seed = [record.claim_quantities() for record in self.mlp]
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


def run(config: Config = Config(), progress: bool = False, cache: ResultCache | None = None) -> Result:
    """All of the chapter's runs for ``config``; runs that differ only in their evaluations
    are trained once (the one listed first, with its evaluation grid, stands for the others)."""
    options = {"cache": cache, "checkpoint_every": config.checkpoint_every}
    groups = [[config.transformer], config.mlp_runs(), config.contrast_runs(), config.phase_runs()]
    unique: dict[Run, Run] = {}
    for r in (r for group in groups for r in group):
        unique.setdefault(r.trained_as(), r)
    trained = {key: train_run(r, progress=progress, **options)
               for key, r in tqdm(unique.items(), desc="grokking runs", disable=not progress)}
    transformer, mlp, contrast, phase = ([trained[r.trained_as()] for r in group] for group in groups)
    return Result(config, transformer[0], mlp, phase, contrast)


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
    for ax in axes:
        for t, style, text in ((t_train, ":", "training"), (t_val, "-.", "validation")):
            if np.isfinite(t):
                ax.axvline(t, color="gray", ls=style, lw=1, label=f"{text} reaches 99% (step {t:.0f})")
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
    fig, axes = plotting.figure(ncols=3, panel=(4.6, 3.6))
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
    fig, axes = plotting.figure(ncols=3, panel=(4.6, 3.6))
    _curves(axes, result.mlp, result.config.mlp.modulus)
    axes[2].legend(loc="upper left")
    run = result.config.mlp
    fig.suptitle(f"Quadratic MLP on {run.operation} mod {run.modulus}, "
                 f"{100 * run.train_fraction:g}% for training, {len(result.mlp)} seeds (mean and 10–90% band)")
    return fig


def plot_phase_diagram(result: Result):
    fig, (ax,) = plotting.figure(panel=(6.0, 3.6))
    grid = 100 * result.phase_grid()
    fractions, decays = result.config.phase_fractions, result.config.phase_weight_decays
    image = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis", vmin=0, vmax=100)
    ax.set_xticks(range(len(fractions)), [f"{f:g}" for f in fractions])
    ax.set_yticks(range(len(decays)), [f"{d:g}" for d in decays])
    ax.grid(False)
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            ax.text(j, i, f"{grid[i, j]:.0f}", ha="center", va="center",
                    color="white" if grid[i, j] < 60 else "black", fontsize=9)
    fig.colorbar(image, ax=ax, label=f"validation accuracy after {result.config.phase_steps} steps (%)")
    plotting.axes_labels(ax, xlabel="training fraction (share of the p² equations)",
                         ylabel="AdamW weight decay λ",
                         title=f"Quadratic MLP, p = {result.config.mlp.modulus}, seed {result.config.mlp_seeds[0]}: "
                               "who generalises")
    return fig


def figures(result: Result) -> dict:
    return {"transformer": plot_transformer(result), "mlp": plot_mlp(result),
            "phase_diagram": plot_phase_diagram(result)}


def summary(result: Result) -> dict:
    """The chapter's figures as plain numbers (written by ``memopt run grokking``)."""
    return {
        "transformer": result.transformer.summary(),
        "mlp": [r.summary() for r in result.mlp],
        "mlp_medians": result.mlp_medians(),
        "mlp_estimates": {name: _plain(e) for name, e in result.mlp_estimates().items()},
        "contrast": [r.summary() for r in result.contrast],
        "final_validation_estimates": {str(f): _plain(e)
                                       for f, e in result.final_validation_estimates().items()},
        "phase_diagram": {
            "fractions": list(result.config.phase_fractions),
            "weight_decays": list(result.config.phase_weight_decays),
            "final_validation_accuracy": result.phase_grid().tolist(),
            "contrasting_weight_decays": result.phase_contrasts(),
        },
    }
