"""Grids of experiment configurations, one task per cell, on Dask or one after another.

A *cell* is the smallest independent unit of an experiment: one MLP run of the grokking
chapter, one random-feature fit of the double-descent chapter, one SGD run of the SGD chapter.
:data:`CELLS` maps an experiment's name to its :class:`Cell`: the frozen dataclass of one cell's
configuration (seed included, so a cell's result does not depend on the worker that ran it or
on the order of the cells), the function computing it and the result columns it returns.

:func:`run_sweep` computes every cell of a grid that the result cache does not hold yet, on a
Dask client when one is given (a ``LocalCluster``, a scheduler's address, a SLURM cluster from
``dask-jobqueue``) and in this process otherwise, and stores each cell in the cache as soon as
its result reaches this process. A sweep that is stopped and started again therefore computes
only the missing cells. The cells' results come back as one tidy ``pandas.DataFrame``: one row
per cell, in the grid's order whatever the order of completion, with the swept settings as its
first columns.

    cell = CELLS["grokking"]
    grid = parse_grid(cell, ["weight_decay=0,1", "train_fraction=0.2,0.5"], seeds=2)
    sweep = run_sweep(cell, grid, client=None)          # serial; or a dask.distributed.Client
    sweep.table
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import os
import typing
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from tqdm import tqdm

from memopt.backend import single_blas_thread
from memopt.cache import ResultCache

#: Field types a grid can vary (tuples and optional fields keep their base value).
SWEEPABLE = (bool, int, float, str)
SEED = "seed"


class SweepError(ValueError):
    """A sweep cannot start (bad grid, too many cells) or some of its cells failed."""


@dataclass(frozen=True)
class Cell:
    """What a sweep needs to know about one experiment's cells."""

    #: the experiment, as ``memopt list`` names it
    experiment: str
    #: frozen dataclass of one cell's configuration; it has a ``seed`` field
    config: type
    #: one cell's configuration -> its results, a dict with exactly ``columns`` as keys
    compute: Callable[[Any], dict]
    columns: tuple[str, ...]
    #: the configuration a grid starts from: "book" (the chapter's) and "paper" (larger)
    scales: dict[str, Any]
    #: what one cell is, for ``memopt sweep --help`` and error messages
    description: str

    @property
    def cache_name(self) -> str:
        return f"sweep_{self.experiment}"

    def keys(self) -> dict[str, type]:
        """The fields a grid can vary, with their types."""
        hints = typing.get_type_hints(self.config)
        return {f.name: hints[f.name] for f in dataclasses.fields(self.config)
                if hints[f.name] in SWEEPABLE}


# -- the cells of the supported experiments ------------------------------------------------------
def grokking_cell(run) -> dict:
    """One full-batch run of Gromov's MLP (:class:`memopt.experiments.grokking.MLPRun`) on the
    host: its summary (steps at which training and validation accuracy first reach 99%, final
    accuracies, ...)."""
    from memopt.experiments import grokking  # noqa: PLC0415  (workers import it on first use)

    summary = grokking.train_run(run, device="cpu").summary()
    return {name: summary[name] for name in GROKKING_COLUMNS}


#: The quantities of :meth:`memopt.experiments.grokking.RunRecord.summary` a sweep tabulates.
GROKKING_COLUMNS = ("n_train", "batch_size", "best_train_accuracy", "best_validation_accuracy",
                    "t_train", "t_val", "validation_at_t_train", "delay_ratio", "norm_ratio",
                    "norm_growth", "final_train_accuracy", "final_validation_accuracy")


@dataclass(frozen=True)
class RandomFeaturesFit:
    """One fit of the double-descent chapter: the least-squares fit of the first ``width``
    random features of draw ``seed`` (Fourier, or ReLU for ``features="relu"``) to the one-hot
    digits, with ``label_noise`` of the training labels corrupted; minimum-norm for ``ridge``
    0, else ridge with penalty ``ridge * width`` (kernel units, as in the chapter). Beside it,
    the ridge fits of every penalty in ``ridges`` on the same features (the chapter tunes the
    penalty among them on the validation digits).

    The draw is made for ``max(width, draw_width)`` features: a sweep over widths sets
    ``draw_width`` to its largest width, so that every width's features are a prefix of one
    draw (nested features, as in the chapter) and a worker computes that draw once."""

    width: int = 400
    label_noise: float = 0.0
    seed: int = 0
    ridge: float = 0.0
    features: str = "fourier"
    n_train: int = 400
    n_validation: int = 400
    #: 0: every image left after the training and validation sets
    n_test: int = 0
    data_seed: int = 0
    sigma: float = 5.0 * (8 * 8 / (28 * 28)) ** 0.5
    ridges: tuple[float, ...] = ()
    draw_width: int = 0

    def __post_init__(self):
        if self.width < 1:
            raise ValueError(f"width (number of features) must be >= 1, got {self.width}")
        if not 0 <= self.label_noise < 1:
            raise ValueError(f"label_noise must lie in [0, 1), got {self.label_noise}")
        for name, values in (("ridge", (self.ridge,)), ("ridges", self.ridges)):
            if any(r < 0 or not np.isfinite(r) for r in values):
                raise ValueError(f"{name} must be finite and >= 0, got {getattr(self, name)}")
        if 0 in self.ridges:
            raise ValueError(f"ridges must be > 0 (ridge 0 is the minimum-norm fit), got {self.ridges}")
        if self.features not in ("fourier", "relu"):
            raise ValueError(f"features must be 'fourier' or 'relu', got {self.features!r}")
        if self.n_train < 10 or self.n_validation < 0 or self.n_test < 0 or self.seed < 0:
            raise ValueError("need n_train >= 10, n_validation >= 0, n_test >= 0 and seed >= 0")
        if self.draw_width < 0:
            raise ValueError(f"draw_width must be >= 0, got {self.draw_width}")
        if not (np.isfinite(self.sigma) and self.sigma > 0):
            raise ValueError(f"sigma must be finite and > 0, got {self.sigma}")


def double_descent_cell(fit: RandomFeaturesFit) -> dict:
    """Test, validation and training losses, coefficient norm and conditioning of one
    :class:`RandomFeaturesFit` (:func:`memopt.experiments.double_descent.fit_width`)."""
    from memopt.experiments import double_descent as dd  # noqa: PLC0415

    return dd.fit_width(fit)


@dataclass(frozen=True)
class SGDRun:
    """One run of the SGD chapter: SGD with constant ``step`` and mini-batches of ``batch_size``
    samples (index stream ``seed``) on the lecture's logistic regression, from
    x0 = start * (1, ..., 1), for ``iterations`` steps."""

    step: float = 0.05
    batch_size: int = 1
    seed: int = 0
    iterations: int = 20_000
    n_samples: int = 200
    n_features: int = 10
    mu: float = 1.0
    data_seed: int = 0
    start: float = 1.0
    #: the floor is f(x_k) - f* averaged over k >= floor_window * iterations
    floor_window: float = 0.5

    def __post_init__(self):
        if self.mu <= 0:
            raise ValueError(f"mu must be > 0, got {self.mu}")
        if not 0 < self.step < 1 / (2 * self.mu):
            raise ValueError(f"step must lie in (0, 1/(2 mu)) = (0, {1 / (2 * self.mu):g}) as the "
                             f"chapter's theorem requires, got {self.step}")
        if self.batch_size < 1 or self.iterations < 1 or self.seed < 0:
            raise ValueError("need batch_size >= 1, iterations >= 1 and seed >= 0")
        if not 0 <= self.floor_window < 1:
            raise ValueError(f"floor_window must lie in [0, 1), got {self.floor_window}")


def sgd_cell(run: SGDRun) -> dict:
    """The noise floor, the last gap and the lecture's floor bound L sigma^2 alpha / (4 mu)
    (sigma^2 the largest E||g_B||^2 met along this run) of one :class:`SGDRun`."""
    from memopt.optim import sgd  # noqa: PLC0415
    from memopt.perturb import inputs as perturbed  # noqa: PLC0415
    from memopt.problems import planted_logistic  # noqa: PLC0415

    problem = planted_logistic(run.n_samples, run.n_features, run.mu, seed=run.data_seed)
    f_star = problem.minimize().value
    x0 = perturbed(np.full(run.n_features, run.start))
    trace = sgd(problem, x0, run.step, iterations=run.iterations, seeds=(run.seed,),
                batch_size=run.batch_size, record_second_moment=True)
    sigma_sq = float(trace.batch_second_moment(run.batch_size)[0].max())
    return {"floor": trace.floor(f_star, run.floor_window),
            "final_gap": float(trace.suboptimality(f_star)[0, -1]),
            "floor_bound": problem.L * sigma_sq * run.step / (4 * problem.mu)}


def _grokking() -> Cell:
    from memopt.experiments import grokking  # noqa: PLC0415

    return Cell("grokking", grokking.MLPRun, grokking_cell, GROKKING_COLUMNS,
                {scale: config.mlp for scale, config in grokking.SCALES.items()},
                "one full-batch run of the quadratic MLP (grokking.MLPRun)")


def _sgd_scales() -> dict:
    from memopt.experiments import sgd  # noqa: PLC0415

    def base(c):
        return SGDRun(step=c.constant_steps[1], iterations=c.iterations, n_samples=c.n_samples,
                      n_features=c.n_features, mu=c.mu, data_seed=c.data_seed, start=c.start,
                      floor_window=c.floor_window)

    return {scale: base(config) for scale, config in sgd.SCALES.items()}


def _dd_scales() -> dict:
    from memopt.experiments import double_descent  # noqa: PLC0415

    return {scale: double_descent.fit_base(c) for scale, c in double_descent.SCALES.items()}


def _double_descent() -> Cell:
    from memopt.experiments import double_descent  # noqa: PLC0415

    return Cell("double_descent", RandomFeaturesFit, double_descent_cell, double_descent.FIT_COLUMNS,
                _dd_scales(), "one random-feature least-squares fit (width x label noise x seed)")


#: Experiment name -> a function building its :class:`Cell` (built on first use: the
#: experiment modules import plotting and more).
_CELL_BUILDERS: dict[str, Callable[[], Cell]] = {
    "grokking": _grokking,
    "double_descent": _double_descent,
    "sgd": lambda: Cell("sgd", SGDRun, sgd_cell, ("floor", "final_gap", "floor_bound"), _sgd_scales(),
                        "one SGD run (step x batch size x seed)"),
}
CELLS = tuple(_CELL_BUILDERS)


def cell_of(experiment: str) -> Cell:
    """The :class:`Cell` of ``experiment``."""
    if experiment not in _CELL_BUILDERS:
        raise SweepError(f"no sweep is defined for {experiment!r}; sweepable experiments: {', '.join(CELLS)}")
    return _CELL_BUILDERS[experiment]()


# -- grids ---------------------------------------------------------------------------------------
def _parse_value(key: str, kind: type, text: str):
    text = text.strip()
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "1")
        if kind is int:
            return int(text)
        if kind is float:
            value = float(text)
            if not np.isfinite(value):
                raise ValueError
            return value
        return text
    except ValueError:
        raise SweepError(f"grid value {key}={text!r} is not a{'n' if kind is int else ''} "
                         f"{'finite float' if kind is float else kind.__name__}") from None


def parse_grid(cell: Cell, items: Sequence[str], seeds: int | None = None) -> dict[str, list]:
    """``["key=v1,v2", ...]`` (and ``seeds``: the seeds 0 .. seeds - 1) as a grid
    {key: [values]}, values parsed by the type of the configuration's field. Unknown keys,
    unparsable values and a seed given twice raise :class:`SweepError`."""
    keys = cell.keys()
    grid: dict[str, list] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not key or not values.strip():
            raise SweepError(f"--grid takes key=v1,v2,...; got {item!r}")
        if key not in keys:
            raise SweepError(f"unknown grid key {key!r} for {cell.experiment}; valid keys: {', '.join(keys)}")
        if key in grid:
            raise SweepError(f"grid key {key!r} is given twice")
        parsed = [_parse_value(key, keys[key], v) for v in values.split(",") if v.strip()]
        grid[key] = list(dict.fromkeys(parsed))  # drop repeats, keep the order
    if seeds is not None:
        if seeds < 1:
            raise SweepError(f"--seeds must be >= 1, got {seeds}")
        if SEED in grid:
            raise SweepError("give the seeds by --seeds or by --grid seed=..., not both")
        grid[SEED] = list(range(seeds))
    return grid


def cell_count(grid: Mapping[str, Sequence]) -> int:
    return int(np.prod([len(v) for v in grid.values()], dtype=np.int64)) if grid else 1


def expand(cell: Cell, grid: Mapping[str, Sequence], base: Any = None) -> list:
    """The cells' configurations: ``base`` (default: the book's) with every combination of the
    grid's values, the last key varying fastest. Values the configuration rejects raise
    :class:`SweepError` naming the cell."""
    base = cell.scales["book"] if base is None else base
    unknown = set(grid) - set(cell.keys())
    if unknown:
        raise SweepError(f"unknown grid key(s) {', '.join(sorted(unknown))} for {cell.experiment}; "
                         f"valid keys: {', '.join(cell.keys())}")
    configs = []
    for values in itertools.product(*grid.values()):
        setting = dict(zip(grid, values))
        try:
            configs.append(replace(base, **setting))
        except (ValueError, TypeError) as error:
            shown = ", ".join(f"{k}={v!r}" for k, v in setting.items())
            raise SweepError(f"invalid cell ({shown}): {error}") from None
    return configs


# -- running -------------------------------------------------------------------------------------
@dataclass
class Sweep:
    """A finished sweep: its table and where its cells came from."""

    table: Any  # pandas.DataFrame
    from_cache: int
    computed: int
    configs: list = field(default_factory=list)

    @property
    def cells(self) -> int:
        return len(self.configs)


def _stored(cell: Cell, cache: ResultCache, config) -> dict | None:
    """The cell's stored row, or None; a row with other columns than the cell's now (an older
    release's) counts as missing."""
    row = cache.load(cell.cache_name, config)
    return row if isinstance(row, dict) and tuple(row) == cell.columns else None


def missing_cells(cell: Cell, grid: Mapping[str, Sequence], base: Any = None,
                  cache: ResultCache | None = None) -> int:
    """How many cells of the grid the cache does not hold."""
    cache = ResultCache() if cache is None else cache
    return sum(_stored(cell, cache, c) is None for c in expand(cell, grid, base))


def compute_cell(cell: Cell, config) -> dict:
    """One cell's results (on one BLAS thread, so that a cell gives the same bits in a worker
    and in this process), checked against the columns the cell declares."""
    with single_blas_thread():
        row = cell.compute(config)
    if set(row) != set(cell.columns):
        raise RuntimeError(f"{cell.experiment} cell returned columns {sorted(row)}, "
                           f"expected {sorted(cell.columns)}")
    return {name: row[name] for name in cell.columns}


def _table(cell: Cell, grid: Mapping[str, Sequence], configs: list, rows: list):
    import pandas as pd  # noqa: PLC0415

    swept = [{key: getattr(c, key) for key in grid} for c in configs]
    return pd.DataFrame([{**s, **r} for s, r in zip(swept, rows)], columns=[*grid, *cell.columns])


def run_sweep(cell: Cell, grid: Mapping[str, Sequence], *, base: Any = None, client=None,
              cache: ResultCache | None = None, progress: bool = False,
              on_result: Callable[[Any, dict], None] | None = None) -> Sweep:
    """Every cell of ``grid`` (see :func:`expand`): from ``cache`` (default: the result cache)
    where it holds the cell, else computed, on ``client`` (a ``dask.distributed.Client``) or,
    without one, here one after another, and stored in the cache as soon as it arrives.
    ``on_result(config, row)`` is called after each computed cell is stored.

    When cells fail, the others still finish and are stored, then :class:`SweepError` says
    how many failed and the first error."""
    cache = ResultCache() if cache is None else cache
    configs = expand(cell, grid, base)
    rows = [_stored(cell, cache, c) for c in configs]
    missing = [i for i, row in enumerate(rows) if row is None]
    failures: list[tuple[int, BaseException]] = []

    def store(i: int, row: dict):
        cache.save(cell.cache_name, configs[i], row)
        rows[i] = row
        if on_result is not None:
            on_result(configs[i], row)

    bar = tqdm(total=len(missing), desc=f"{cell.experiment} cells", unit="cell", disable=not progress)
    with bar:
        if client is None:
            for i in missing:
                try:
                    store(i, compute_cell(cell, configs[i]))
                except Exception as error:  # noqa: BLE001  (reported below, with the others)
                    failures.append((i, error))
                bar.update()
        else:
            _run_on(client, cell, configs, missing, store, failures, bar)
    if failures:
        i, error = min(failures, key=lambda f: f[0])
        raise SweepError(f"{len(failures)} of {len(configs)} cells failed (the others are cached); "
                         f"first: {configs[i]}: {type(error).__name__}: {error}")
    return Sweep(_table(cell, grid, configs, rows), len(configs) - len(missing), len(missing), configs)


def _run_on(client, cell: Cell, configs: list, missing: list[int], store, failures, bar):
    from dask.distributed import as_completed  # noqa: PLC0415

    futures = {client.submit(compute_cell, cell, configs[i], pure=False): i for i in missing}
    try:
        for future in as_completed(futures):
            i = futures[future]
            if future.status == "error":
                failures.append((i, future.exception()))
            else:
                store(i, future.result())
            future.release()
            bar.update()
    finally:  # stopped early (an interrupt, a failing store): drop what is still queued
        client.cancel([f for f in futures if f.status == "pending"])


# -- clusters ------------------------------------------------------------------------------------
def dask_available() -> bool:
    try:
        import dask.distributed  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def connect(scheduler: str | None = None, workers: int | None = None, timeout: float = 10.0):
    """A ``dask.distributed.Client`` (closed on leaving the context): of the scheduler at
    ``scheduler``, or of a new ``LocalCluster`` of ``workers`` processes with one thread each
    (default: one per core). An unreachable scheduler raises :class:`SweepError` after
    ``timeout`` seconds."""
    import dask  # noqa: PLC0415
    from dask.distributed import Client, LocalCluster  # noqa: PLC0415

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=f"{timeout}s")
        except (OSError, TimeoutError) as error:
            raise SweepError(f"cannot reach the Dask scheduler at {scheduler} within {timeout:g} s "
                             f"({type(error).__name__})") from None
        with client:
            yield client
        return
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 1:
        raise SweepError(f"--workers must be >= 1, got {workers}")
    # Processes of one thread: cells hold the GIL most of the time, and one BLAS thread each
    # keeps the workers from competing for the cores. The statistical profiler (a thread that
    # samples every worker's stack for the dashboard, which is off: no port is opened) would take
    # CPU from the cells.
    # Dask also sets MALLOC_TRIM_THRESHOLD_ in its workers, which makes glibc map and unmap every
    # large temporary array afresh: the cells' NumPy arithmetic then runs markedly slower (None
    # leaves it unset; book/scale.md says how to do the same on other clusters).
    with dask.config.set({"distributed.worker.profile.enabled": False,
                          "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}), \
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                         dashboard_address=None, scheduler_kwargs={"dashboard": False},
                         silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        yield client
