"""Stochastic methods for finite sums, run as R independent trajectories at once.

The iterates of R runs form one array of shape (R, p) (the run axis first), so one NumPy or
CuPy operation advances every run. Run r draws its sample indices from its own
``numpy.random.default_rng(seeds[r])`` on the host; the indices are then moved to the arrays'
device. A batched run therefore follows exactly the path of the R separate runs with the same
seeds, and a GPU run the path of the CPU run.

A method is an object with ``start(problem, x)``, called once with the (R, p) starting
iterates, and ``step(problem, x, indices, k) -> x``, which takes step k (k = 0, 1, ...) with
the (R, B) sample indices drawn for it; ``evaluations`` counts the single-sample gradients it
has evaluated per run. :func:`run_batched` drives any such method; :class:`SGD` is the first.
"""

from __future__ import annotations

from numbers import Integral
from typing import Sequence

import numpy as np
from tqdm import tqdm

from memopt.backend import array_module
from memopt.optim.schedules import as_schedule
from memopt.optim.trace import Recorder, Trace, log_iterations

#: At most this many indices are drawn ahead of use, whatever R and B are.
INDEX_CHUNK_ENTRIES = 1 << 20


class IndexStream:
    """Per-run streams of sample indices, uniform with replacement over range(n_samples).

    ``draw(steps)`` returns an int64 array of shape (steps, R, B); consecutive draws continue
    each run's stream, so drawing 10 then 5 steps gives the same indices as drawing 15.
    """

    def __init__(self, n_samples: int, seeds: Sequence[int], batch_size: int = 1):
        self.n_samples = _positive_int("n_samples", n_samples)
        self.batch_size = _positive_int("batch_size", batch_size)
        seeds = list(seeds)
        if not seeds or not all(isinstance(s, Integral) and not isinstance(s, bool) for s in seeds):
            raise ValueError("seeds must be a non-empty sequence of integers, one per run")
        self.seeds = [int(s) for s in seeds]
        self._generators = [np.random.default_rng(s) for s in self.seeds]

    @property
    def runs(self) -> int:
        return len(self._generators)

    def draw(self, steps: int) -> np.ndarray:
        steps = int(steps)
        per_run = [g.integers(0, self.n_samples, size=(steps, self.batch_size)) for g in self._generators]
        return np.stack(per_run, axis=1)


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class SGD:
    """x_{k+1} = x_k - alpha_k (1/B) sum_{i in batch_k} grad f_i(x_k) (lecture 2, eq. SGD).

    ``step`` is a positive number or a schedule from :mod:`memopt.optim.schedules`.
    """

    def __init__(self, step):
        self.schedule = as_schedule(step)
        self.evaluations = 0

    def start(self, problem, x) -> None:
        self.evaluations = 0

    def step(self, problem, x, indices, k: int):
        self.evaluations += indices.shape[-1]
        return x - self.schedule(k) * problem.batch_gradient(x, indices)

    def describe(self) -> str:
        return f"SGD, {self.schedule.describe()}"


def _starting_points(problem, x0, runs: int):
    xp = array_module(problem.features)
    x0 = xp.asarray(x0, dtype=problem.dtype)
    if x0.shape == (problem.n_features,):
        x0 = xp.broadcast_to(x0, (runs, problem.n_features))
    if x0.shape != (runs, problem.n_features):
        raise ValueError(
            f"x0 must have shape ({problem.n_features},) or ({runs}, {problem.n_features}), got {x0.shape}"
        )
    if not bool(xp.isfinite(x0).all()):
        raise ValueError("x0 contains NaN or infinite entries")
    return x0.copy()


def run_batched(
    problem,
    method,
    x0,
    *,
    iterations: int,
    seeds: Sequence[int],
    batch_size: int = 1,
    log_at=None,
    record_second_moment: bool = False,
    progress: bool = False,
    label: str | None = None,
) -> Trace:
    """Run ``method`` for ``iterations`` steps on R = len(seeds) independent runs.

    Logs f at the iterations in ``log_at`` (default :func:`log_iterations`) and, with
    ``record_second_moment``, E_i ||grad f_i(x_k)||^2 and ||grad f(x_k)||^2 too.
    """
    if isinstance(iterations, bool) or not isinstance(iterations, Integral) or iterations < 0:
        raise ValueError(f"iterations must be a non-negative integer, got {iterations!r}")
    stream = IndexStream(problem.n_samples, seeds, batch_size)
    xp = array_module(problem.features)
    x = _starting_points(problem, x0, stream.runs)
    recorder = Recorder(
        problem, log_iterations(iterations) if log_at is None else log_at, record_second_moment
    )
    method.start(problem, x)
    chunk = max(1, INDEX_CHUNK_ENTRIES // (stream.runs * stream.batch_size))
    with tqdm(total=iterations, disable=not progress, desc=label or method.describe(), leave=False) as bar:
        k = 0
        while True:
            indices = xp.asarray(stream.draw(min(chunk, iterations - k)))
            for batch in indices:
                if recorder.wants(k):
                    recorder.record(x, method.evaluations)
                x = method.step(problem, x, batch, k)
                k += 1
            bar.update(len(indices))
            if k >= iterations:
                break
    if recorder.wants(k):
        recorder.record(x, method.evaluations)
    return recorder.trace(label or method.describe(), x)


def sgd(problem, x0, step, *, iterations: int, seeds: Sequence[int], batch_size: int = 1, **options) -> Trace:
    """Mini-batch SGD on R = len(seeds) runs; see :func:`run_batched` for the options."""
    return run_batched(
        problem, SGD(step), x0, iterations=iterations, seeds=seeds, batch_size=batch_size, **options
    )
