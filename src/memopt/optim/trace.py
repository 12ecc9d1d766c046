"""What a run records, and when: logged iterates of R independent runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from memopt.backend import to_numpy


def log_iterations(total: int, per_decade: int = 25, linear: int = 200) -> np.ndarray:
    """Iterations to log in a run of ``total`` steps: 0 and ``total``, geometrically spaced
    points (``per_decade`` a decade, for log-scale plots) and ``linear`` evenly spaced points
    (for averages over a window of iterations, such as a noise floor)."""
    if int(total) != total or total < 0:
        raise ValueError(f"total must be a non-negative integer, got {total}")
    total = int(total)
    if total == 0:
        return np.zeros(1, dtype=np.int64)
    decades = np.log10(total)
    geometric = np.round(np.logspace(0, decades, max(2, int(np.ceil(decades * per_decade)) + 1)))
    evenly = np.round(np.linspace(0, total, linear + 1))
    points = np.concatenate([[0, total], geometric, evenly]).astype(np.int64)
    return np.unique(points)


@dataclass
class Trace:
    """Logged values of R runs of one method.

    ``values[r, t]`` is f at the iterate of run r after ``iterations[t]`` steps, for which
    ``samples[t]`` single-sample gradients had been evaluated per run. When the run recorded
    them, ``second_moments[r, t]`` is E_i ||grad f_i(x)||^2 and ``gradient_norms_sq[r, t]`` is
    ||grad f(x)||^2 at that iterate. ``logs[name][r, t]`` holds any other quantity the run was
    asked to log (the ``monitors`` of :class:`Recorder`).
    """

    label: str
    iterations: np.ndarray
    samples: np.ndarray
    values: np.ndarray
    final_x: np.ndarray
    second_moments: np.ndarray | None = None
    gradient_norms_sq: np.ndarray | None = None
    logs: dict[str, np.ndarray] = field(default_factory=dict)

    def log(self, name: str) -> np.ndarray:
        """The monitored quantity ``name`` at every run and logged k, shape (R, T)."""
        if name not in self.logs:
            logged = ", ".join(self.logs) or "none"
            raise KeyError(f"this run did not log {name!r} (logged: {logged})")
        return self.logs[name]

    @property
    def runs(self) -> int:
        return self.values.shape[0]

    def suboptimality(self, f_star: float) -> np.ndarray:
        """f(x_k) - f* for every run and logged k, shape (R, T)."""
        return self.values - f_star

    def expected_suboptimality(self, f_star: float) -> np.ndarray:
        """The mean over runs of f(x_k) - f*: the estimate of E f(x_k) - f*, shape (T,)."""
        return self.suboptimality(f_star).mean(axis=0)

    def passes(self, n_samples: int) -> np.ndarray:
        """Effective passes over the data: sample gradients evaluated / n."""
        return self.samples / n_samples

    def window(self, start_fraction: float) -> np.ndarray:
        """Mask of logged iterations in the last part of the run, k >= start_fraction * K."""
        if not 0.0 <= start_fraction < 1.0:
            raise ValueError(f"start_fraction must lie in [0, 1), got {start_fraction}")
        return self.iterations >= start_fraction * self.iterations[-1]

    def floor(self, f_star: float, start_fraction: float = 0.5) -> float:
        """The noise floor: E f(x_k) - f* averaged over runs and over k in the final window."""
        return float(self.expected_suboptimality(f_star)[self.window(start_fraction)].mean())

    def batch_second_moment(self, batch_size: int) -> np.ndarray:
        """E ||g_B||^2 for a mini-batch of B samples drawn uniformly with replacement, per run
        and logged k: ||grad f||^2 + (E_i ||grad f_i||^2 - ||grad f||^2) / B."""
        if self.second_moments is None or self.gradient_norms_sq is None:
            raise ValueError("this run did not record second moments (record_second_moment=True)")
        variance = self.second_moments - self.gradient_norms_sq
        return self.gradient_norms_sq + variance / batch_size


class Recorder:
    """Collects f (and optionally the gradient second moments) at the logged iterations, and
    each of ``monitors``: name -> a function of the (R, p) iterate returning one value a run."""

    def __init__(self, problem, log_at, record_second_moment: bool = False,
                 monitors: Mapping[str, Callable] | None = None):
        log_at = np.unique(np.asarray(log_at, dtype=np.int64))
        if log_at.size == 0 or log_at[0] < 0:
            raise ValueError("log_at must hold at least one non-negative iteration")
        self.problem = problem
        self.log_at = log_at
        self.record_second_moment = record_second_moment
        self._wanted = set(log_at.tolist())
        self._samples, self._values, self._moments, self._grad_sq = [], [], [], []
        self.monitors = dict(monitors or {})
        self._logs = {name: [] for name in self.monitors}

    def wants(self, k: int) -> bool:
        return k in self._wanted

    def record(self, x, samples: int) -> None:
        self._samples.append(samples)
        self._values.append(to_numpy(self.problem.value(x)))
        if self.record_second_moment:
            g = self.problem.gradient(x)
            self._moments.append(to_numpy(self.problem.second_moment(x)))
            self._grad_sq.append(to_numpy((g * g).sum(axis=-1)))
        for name, monitor in self.monitors.items():
            self._logs[name].append(np.array(to_numpy(monitor(x)), dtype=np.float64))

    def next_after(self, k: int) -> int:
        """The first logged iteration after k (a huge number when none is left)."""
        position = int(np.searchsorted(self.log_at, k, side="right"))
        return int(self.log_at[position]) if position < self.log_at.size else np.iinfo(np.int64).max

    def last_gap(self, f_star: float) -> float:
        """The largest f(x) - f_star over the runs at the latest logged iterate."""
        return float(np.max(self._values[-1])) - f_star

    def trace(self, label: str, final_x) -> Trace:
        def stacked(rows):  # logged points become the last axis: (runs, T)
            return np.stack(rows, axis=-1) if rows else None

        return Trace(
            label=label,
            iterations=self.log_at[: len(self._values)].copy(),
            samples=np.asarray(self._samples, dtype=np.int64),
            values=stacked(self._values),
            final_x=to_numpy(final_x),
            second_moments=stacked(self._moments),
            gradient_norms_sq=stacked(self._grad_sq),
            logs={name: stacked(rows) for name, rows in self._logs.items()},
        )
