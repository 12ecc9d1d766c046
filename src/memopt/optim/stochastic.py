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

import math
from numbers import Integral, Real
from typing import Callable, Mapping, Sequence

import numpy as np
from tqdm import tqdm

from memopt import kernels
from memopt._checks import integer
from memopt.backend import array_module, to_numpy
from memopt.optim.adaptive import Momentum
from memopt.optim.schedules import ConstantStep, as_schedule
from memopt.optim.trace import Recorder, Trace, log_iterations

#: At most this many indices are drawn ahead of use, whatever R and B are.
INDEX_CHUNK_ENTRIES = 1 << 20


class IndexStream:
    """Per-run streams of sample indices, drawn with replacement over range(n_samples),
    uniformly or with the given ``probabilities``.

    ``draw(steps)`` returns an int64 array of shape (steps, R, B); consecutive draws continue
    each run's stream, so drawing 10 then 5 steps gives the same indices as drawing 15.
    """

    def __init__(self, n_samples: int, seeds: Sequence[int], batch_size: int = 1, probabilities=None):
        self.n_samples = integer("n_samples", n_samples)
        self.batch_size = integer("batch_size", batch_size)
        seeds = list(seeds)
        if not seeds or not all(isinstance(s, Integral) and not isinstance(s, bool) for s in seeds):
            raise ValueError("seeds must be a non-empty sequence of integers, one per run")
        self.seeds = [int(s) for s in seeds]
        self._generators = [np.random.default_rng(s) for s in self.seeds]
        self.probabilities = None
        if probabilities is not None:
            p = np.asarray(probabilities, dtype=np.float64)
            if p.shape != (self.n_samples,) or not np.all(np.isfinite(p)) or np.any(p < 0):
                raise ValueError(f"probabilities must be {self.n_samples} finite non-negative numbers")
            if not np.isclose(p.sum(), 1.0, rtol=0, atol=1e-9):
                raise ValueError(f"probabilities must sum to 1, got {p.sum()}")
            self.probabilities = p / p.sum()

    @property
    def runs(self) -> int:
        return len(self._generators)

    def draw(self, steps: int) -> np.ndarray:
        shape = (int(steps), self.batch_size)
        if self.probabilities is None:
            per_run = [g.integers(0, self.n_samples, size=shape) for g in self._generators]
        else:
            per_run = [g.choice(self.n_samples, size=shape, p=self.probabilities) for g in self._generators]
        return np.stack(per_run, axis=1)

    def counts(self, size: int) -> np.ndarray:
        """How often each sample occurs among the next ``size`` uniform draws of every run: an
        int64 array (R, n_samples). Drawn in chunks of at most INDEX_CHUNK_ENTRIES indices, so
        a large batch never holds its indices in memory at once."""
        if self.probabilities is not None:
            raise ValueError("counts() draws uniformly; this stream has sampling probabilities")
        counts = np.zeros((self.runs, self.n_samples), dtype=np.int64)
        for r, generator in enumerate(self._generators):
            left = integer("size", size, minimum=0)
            while left:
                chunk = min(left, INDEX_CHUNK_ENTRIES)
                counts[r] += np.bincount(generator.integers(0, self.n_samples, size=chunk), minlength=self.n_samples)
                left -= chunk
        return counts



class Method:
    """What every stochastic method shares: a sample-gradient counter, uniform sampling by
    default, its state for the memory table, and :meth:`advance`, which takes many steps."""

    evaluations = 0

    def probabilities(self, problem):
        """Sampling probabilities over the samples, or None for uniform sampling."""
        return None

    def advance(self, problem, x, indices, k: int):
        """Steps k, k+1, ... with ``indices[t]`` for step k + t. A method with a kernel runs
        them in one call (compiled with Numba on the CPU, a CUDA launch on CuPy arrays; see
        :func:`memopt.kernels.mode`); this loop over :meth:`step` is the NumPy twin."""
        for offset, batch in enumerate(indices):
            x = self.step(problem, x, batch, k + offset)
        return x

    def _kernel_ready(self, problem, x) -> bool:
        return (kernels.mode(x, problem.features, compiled=True) is not None
                and problem.dtype in (np.float32, np.float64))

    def state(self) -> dict:
        """The arrays the method keeps between steps besides the iterate (run axis first)."""
        return {}


class SGD(Method):
    """x_{k+1} = x_k - alpha_k (1/B) sum_{i in batch_k} grad f_i(x_k) (lecture 2, eq. SGD).

    ``step`` is a positive number or a schedule from :mod:`memopt.optim.schedules`.

    With ``momentum`` = beta in (0, 1) the mini-batch gradient g_k drives
    :class:`memopt.optim.adaptive.Momentum` on the (R, p) iterate: v_k = beta v_{k-1} + g_k and
    x_{k+1} = x_k - alpha v_k (Polyak's heavy ball), or x_{k+1} = x_k - alpha (g_k + beta v_k)
    with ``nesterov``. Momentum takes a constant step, updates the iterate in place, and its
    runs take the NumPy path (the compiled kernel is plain SGD's, beta = 0).
    """

    def __init__(self, step, momentum: float = 0.0, nesterov: bool = False):
        self.schedule = as_schedule(step)
        if isinstance(momentum, bool) or not isinstance(momentum, Real):
            raise TypeError(f"momentum must be a real number beta in [0, 1), got {type(momentum).__name__}")
        if not 0.0 <= float(momentum) < 1.0:
            raise ValueError(f"momentum beta must lie in [0, 1), got {momentum!r}")
        if not isinstance(nesterov, bool):
            raise TypeError(f"nesterov must be True or False, got {nesterov!r}")
        if nesterov and momentum == 0:
            raise ValueError("nesterov=True needs a momentum beta > 0")
        self.momentum, self.nesterov = float(momentum), nesterov
        self._rule = None
        if self.momentum > 0:
            if not isinstance(self.schedule, ConstantStep):
                raise TypeError("SGD with momentum takes a constant step size (a positive number)")
            self._rule = Momentum(self.schedule.alpha, self.momentum, nesterov=nesterov)

    def start(self, problem, x) -> None:
        self.evaluations = 0
        if self._rule is not None:
            self._memory = self._rule.init(x)

    def _gradient(self, problem, x, indices):
        if indices.shape[-1] == 1:  # the common case, on the GLM's fast path
            rows, s = problem.sample_terms(x, indices[:, 0])
            return s[:, None] * rows + problem.mu * x
        return problem.batch_gradient(x, indices)

    def step(self, problem, x, indices, k: int):
        self.evaluations += indices.shape[-1]
        if self._rule is not None:
            self._rule.step(x, self._gradient(problem, x, indices), self._memory)  # in place
            return x
        return x - self.schedule(k) * self._gradient(problem, x, indices)

    def advance(self, problem, x, indices, k: int):
        if self._rule is not None or not self._kernel_ready(problem, x):
            return super().advance(problem, x, indices, k)
        xp = array_module(x)
        steps, _, batch = indices.shape
        alphas = xp.asarray([self.schedule(k + t) for t in range(steps)], dtype=problem.dtype)
        kernels.sgd_steps(problem.features, problem.labels, problem.mu, alphas,
                          xp.ascontiguousarray(indices, dtype=xp.int64), {"x": x})
        self.evaluations += steps * batch
        return x

    def state(self) -> dict:
        return {} if self._rule is None else {"velocity": self._memory["v"]}

    def describe(self) -> str:
        if self._rule is None:
            return f"SGD, {self.schedule.describe()}"
        name = "Nesterov" if self.nesterov else "heavy ball"
        return f"SGD + {name} β = {self.momentum:g}, {self.schedule.describe()}"


TABLES = ("glm", "generic")


def _constant_step(step) -> float:
    schedule = as_schedule(step)
    if not isinstance(schedule, ConstantStep):
        raise TypeError("variance-reduced methods take a constant step size (a positive number)")
    return schedule.alpha


class _TableMethod(Method):
    """Shared by SAG and SAGA: a table of the last gradient of each f_i, for R runs.

    With ``table="glm"`` the table holds the n loss derivatives s_i (grad f_i = s_i a_i + mu x,
    section 4 of Schmidt et al. 2017): n scalars a run, and the regulariser's gradient is
    taken at the current iterate. With ``table="generic"`` it holds the n full gradients
    (n x p floats a run), as for any finite sum. ``total`` is the sum of the table's entries
    (of s_i a_i for the GLM table).
    """

    def __init__(self, step, table: str):
        self.alpha = _constant_step(step)
        if table not in TABLES:
            raise ValueError(f"table must be one of {TABLES}, got {table!r}")
        self.table_kind = table

    def _check(self, indices):
        if indices.shape[-1] != 1:
            raise ValueError(f"{type(self).__name__} takes one sample a step (batch_size=1)")

    def _fill(self, problem, x, xp, value_at_x0: bool):
        """Empty tables, or tables holding the gradients at x (one pass: n evaluations)."""
        runs, n, p = x.shape[0], problem.n_samples, problem.n_features
        self._offsets = xp.arange(runs) * n  # entry (r, i) of the table is row r * n + i
        if not value_at_x0:
            shape = (runs, n) if self.table_kind == "glm" else (runs, n, p)
            self.table = xp.zeros(shape, dtype=problem.dtype)
            self.total = xp.zeros((runs, p), dtype=problem.dtype)
            return
        s = problem.loss_derivatives(x)  # (R, n)
        self.evaluations += n
        if self.table_kind == "glm":
            self.table = s
            self.total = s @ problem.features
        else:
            self.table = s[:, :, None] * problem.features + problem.mu * x[:, None, :]
            self.total = self.table.sum(axis=1)

    def _swap(self, where, entries):
        """Store ``entries`` (one per run) at flat table rows ``where`` (``_offsets + index``);
        return what they replace."""
        flat = self.table.reshape((-1,) + self.table.shape[2:])  # a view: the table is contiguous
        old = flat[where]
        flat[where] = entries
        return old

    def _launch(self, kernel, problem, x, indices, **state):
        """All ``indices`` steps in one kernel call on the GLM table (kernels/glm_steps.cu)."""
        self._check(indices)
        xp = array_module(x)
        kernel(problem.features, problem.labels, problem.mu, self.alpha,
               xp.ascontiguousarray(indices[..., 0], dtype=xp.int64),
               {"x": x, "table": self.table, "total": self.total, **state})
        self.evaluations += indices.shape[0]
        return x

    def state(self) -> dict:
        return {"table": self.table, "total": self.total}


class SAG(_TableMethod):
    """Stochastic average gradient (Schmidt, Le Roux, Bach 2017, eq. (5)):

        y_i <- grad f_i(x_k) for the sampled i,   x_{k+1} = x_k - (alpha / n) sum_j y_j.

    ``init="paper"`` starts the table at y_i = grad f_i(x0) - grad f(x0) (the initialisation of
    the paper's Theorem 1; generic table only) and ``init="zero"`` at y_i = 0. With
    ``normalize_seen`` the sum is divided by the number of distinct samples seen so far instead
    of n, the paper's practical fix for the first pass (section 4.3). ``sampling="lipschitz"``
    draws i with probability 1/(2n) + L_i / (2 sum_j L_j) (section 4.8); the step is unchanged.

    ``step="backtracking"`` estimates L while running (section 4.6, as in the authors' released
    code): each run keeps its own L_k, started at ``lipschitz_init``. At step k, with
    f_i(x) = log(1 + exp(-y_i <a_i, x>)) the sampled loss without the regulariser, L_k is doubled
    until f_i(x_k - f_i'(x_k) / L_k) <= f_i(x_k) - ||f_i'(x_k)||^2 / (2 L_k), a test skipped when
    ||f_i'(x_k)||^2 <= ``BACKTRACKING_PRECISION``; the step is 1 / (L_k + mu) and L_k is then
    multiplied by 2^(-1/n). GLM table only; it runs on the NumPy loop (no compiled kernel).
    """

    #: ||f_i'||^2 at or below which the backtracking test is skipped: 2^-26, the authors' value
    #: (comparing nearly equal losses would only measure rounding).
    BACKTRACKING_PRECISION = 2.0**-26

    def __init__(self, step, *, table: str = "glm", init: str = "zero", normalize_seen: bool = False,
                 sampling: str = "uniform", lipschitz_init: float = 1.0):
        self.backtracking = isinstance(step, str)
        if self.backtracking and step != "backtracking":
            raise ValueError(f"step must be a positive number or 'backtracking', got {step!r}")
        super().__init__(1.0 if self.backtracking else step, table)
        if self.backtracking:
            self.alpha = float("nan")  # set per run and step from the estimate of L
            if table != "glm" or sampling != "uniform":
                raise ValueError("step='backtracking' needs table='glm' and sampling='uniform'")
            if isinstance(lipschitz_init, (bool, str)) or not isinstance(lipschitz_init, (int, float, np.number)):
                raise TypeError(f"lipschitz_init must be a number, got {type(lipschitz_init).__name__}")
            if not (np.isfinite(lipschitz_init) and lipschitz_init > 0):
                raise ValueError(f"lipschitz_init must be a finite number > 0, got {lipschitz_init!r}")
        self.lipschitz_init = float(lipschitz_init)
        if init not in ("zero", "paper"):
            raise ValueError(f"init must be 'zero' or 'paper', got {init!r}")
        if init == "paper" and table != "generic":
            raise ValueError("init='paper' (y_i = grad f_i(x0) - grad f(x0)) needs table='generic'")
        if sampling not in ("uniform", "lipschitz"):
            raise ValueError(f"sampling must be 'uniform' or 'lipschitz', got {sampling!r}")
        self.init, self.normalize_seen, self.sampling = init, normalize_seen, sampling

    def probabilities(self, problem):
        if self.sampling == "uniform":
            return None
        lipschitz = np.asarray(to_numpy(problem.sample_lipschitz), dtype=np.float64)
        return 0.5 / problem.n_samples + 0.5 * lipschitz / lipschitz.sum()

    def start(self, problem, x) -> None:
        xp = array_module(x)
        self.evaluations = 0
        self._fill(problem, x, xp, value_at_x0=self.init == "paper")
        if self.init == "paper":
            # Subtract grad f(x0) from every entry, so the table's sum starts at zero.
            self.table -= (self.total / problem.n_samples)[:, None, :]
            self.total = xp.zeros_like(self.total)
        self._denominator = xp.full((x.shape[0], 1), float(problem.n_samples), dtype=problem.dtype)
        if self.normalize_seen:
            self.seen = xp.zeros((x.shape[0], problem.n_samples), dtype=bool)
            self._denominator[:] = 0
        if self.backtracking:
            self.lipschitz = xp.full(x.shape[0], self.lipschitz_init, dtype=np.float64)

    def step(self, problem, x, indices, k: int):
        self._check(indices)
        self.evaluations += 1
        i = indices[:, 0]
        where = self._offsets + i
        rows, s = problem.sample_terms(x, i)
        if self.normalize_seen:
            seen = self.seen.reshape(-1)
            self._denominator[:, 0] += ~seen[where]
            seen[where] = True
        if self.table_kind == "glm":
            self.total += (s - self._swap(where, s))[:, None] * rows
            if self.backtracking:
                return self._backtracking_step(problem, x, i, rows, s)
            # x - alpha (total / m + mu x): the regulariser's gradient is exact (section 4.3).
            return x * (1 - self.alpha * problem.mu) - (self.alpha / self._denominator) * self.total
        gradient = s[:, None] * rows + problem.mu * x
        self.total += gradient - self._swap(where, gradient)
        return x - (self.alpha / self._denominator) * self.total

    def _backtracking_step(self, problem, x, i, rows, s):
        """Double each run's L until the sampled loss decreases enough along -f_i'(x) / L, step
        with 1 / (L + mu), then shrink L by 2^(-1/n) (section 4.6)."""
        xp = array_module(x)
        y = problem.labels.take(i)
        margin = xp.einsum("rp,rp->r", rows, x)  # <a_i, x>
        squared_norms = xp.einsum("rp,rp->r", rows, rows)
        loss = xp.logaddexp(0.0, -y * margin)  # log(1 + exp(-y <a_i, x>)), stable
        gradient_sq = s * s * squared_norms  # ||f_i'(x)||^2 of the loss part

        def too_large(L):  # the test fails: L is below the local curvature along f_i'
            trial = xp.logaddexp(0.0, -y * (margin - squared_norms * s / L))
            return (gradient_sq > self.BACKTRACKING_PRECISION) & (trial > loss - gradient_sq / (2 * L))

        failing = too_large(self.lipschitz)
        while bool(failing.any()):
            self.lipschitz = xp.where(failing, 2 * self.lipschitz, self.lipschitz)
            failing = too_large(self.lipschitz)
        alpha = (1.0 / (self.lipschitz + problem.mu))[:, None]
        x = x * (1 - alpha * problem.mu) - (alpha / self._denominator) * self.total
        self.lipschitz = self.lipschitz * 2.0 ** (-1.0 / problem.n_samples)
        return x

    def direction(self, problem, x):
        """The direction of SAG's next step, (1/m) sum_i y_i (+ mu x on the GLM table), m the
        denominator (n, or the samples seen so far): nan for a run that has seen no sample."""
        xp = array_module(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            direction = self.total / self._denominator
        if self.table_kind == "glm":
            direction = direction + problem.mu * x
        return xp.where(self._denominator > 0, direction, xp.nan)

    def advance(self, problem, x, indices, k: int):
        if self.table_kind != "glm" or self.backtracking or not self._kernel_ready(problem, x):
            return super().advance(problem, x, indices, k)
        return self._launch(kernels.sag_steps, problem, x, indices,
                            denominators=self._denominator.reshape(-1),  # a view: (R, 1) -> (R,)
                            seen=self.seen if self.normalize_seen else None)

    def state(self) -> dict:
        return {**super().state(), **({"seen": self.seen} if self.normalize_seen else {})}

    def describe(self) -> str:
        extra = ", non-uniform" if self.sampling == "lipschitz" else ""
        step = "1/(L_k + μ), L_k by backtracking" if self.backtracking else f"{self.alpha:.3g}"
        return f"SAG, α = {step}, {self.table_kind} table{extra}"


class SAGA(_TableMethod):
    """SAGA (Defazio, Bach, Lacoste-Julien 2014): an unbiased step from the table,

        x_{k+1} = x_k - alpha (grad f_i(x_k) - y_i + (1/n) sum_j y_j),   then y_i <- grad f_i(x_k),

    with the table started at the gradients at x0 (one pass, counted in ``evaluations``).
    """

    def __init__(self, step, *, table: str = "glm"):
        super().__init__(step, table)

    def start(self, problem, x) -> None:
        self.evaluations = 0
        self._fill(problem, x, array_module(x), value_at_x0=True)

    def step(self, problem, x, indices, k: int):
        self._check(indices)
        self.evaluations += 1
        n = problem.n_samples
        i = indices[:, 0]
        rows, s = problem.sample_terms(x, i)
        if self.table_kind == "glm":
            change = (s - self._swap(self._offsets + i, s))[:, None] * rows
            direction = change + self.total / n + problem.mu * x
        else:
            gradient = s[:, None] * rows + problem.mu * x
            change = gradient - self._swap(self._offsets + i, gradient)
            direction = change + self.total / n
        self.total += change
        return x - self.alpha * direction

    def advance(self, problem, x, indices, k: int):
        if self.table_kind != "glm" or not self._kernel_ready(problem, x):
            return super().advance(problem, x, indices, k)
        return self._launch(kernels.saga_steps, problem, x, indices)

    def describe(self) -> str:
        return f"SAGA, α = {self.alpha:.3g}, {self.table_kind} table"


class SVRG(Method):
    """SVRG (Johnson & Zhang 2013): every ``epoch_length`` steps take a snapshot x~ = x_k and its
    full gradient (n evaluations); in between,

        x_{k+1} = x_k - alpha (grad f_i(x_k) - grad f_i(x~) + grad f(x~))   (2 evaluations).

    No table: the state is x~ and grad f(x~), 2p floats a run.
    """

    def __init__(self, step, *, epoch_length: int):
        self.alpha = _constant_step(step)
        self.epoch_length = integer("epoch_length", epoch_length)

    def start(self, problem, x) -> None:
        self.evaluations = 0  # step 0 takes the first snapshot

    def step(self, problem, x, indices, k: int):
        if k % self.epoch_length == 0:
            self.snapshot, self.snapshot_gradient = x.copy(), problem.gradient(x)
            self.evaluations += problem.n_samples
        self.evaluations += 2 * indices.shape[-1]
        if indices.shape[-1] == 1:
            rows, s = problem.sample_terms(x, indices[:, 0])
            s_snapshot = problem.sample_terms(self.snapshot, indices[:, 0])[1]
            correction = (s - s_snapshot)[:, None] * rows
        else:
            rows, s = problem.rows_and_derivatives(x, indices)
            _, s_snapshot = problem.rows_and_derivatives(self.snapshot, indices)
            correction = ((s - s_snapshot)[..., None] * rows).mean(axis=-2)
        direction = correction + problem.mu * (x - self.snapshot) + self.snapshot_gradient
        return x - self.alpha * direction

    def advance(self, problem, x, indices, k: int):
        if indices.shape[-1] != 1 or not self._kernel_ready(problem, x):
            return super().advance(problem, x, indices, k)
        xp = array_module(x)
        steps = indices.shape[0]
        t = 0
        while t < steps:  # one launch an epoch segment; snapshots are full passes, on the host side
            if (k + t) % self.epoch_length == 0:
                self.snapshot, self.snapshot_gradient = x.copy(), problem.gradient(x)
                self.evaluations += problem.n_samples
            end = min(steps, t + self.epoch_length - (k + t) % self.epoch_length)
            kernels.svrg_steps(problem.features, problem.labels, problem.mu, self.alpha,
                               xp.ascontiguousarray(indices[t:end, :, 0], dtype=xp.int64),
                               {"x": x, "snapshot": self.snapshot,
                                "snapshot_gradient": xp.ascontiguousarray(self.snapshot_gradient)})
            self.evaluations += 2 * (end - t)
            t = end
        return x

    def state(self) -> dict:
        return {"snapshot": self.snapshot, "snapshot_gradient": self.snapshot_gradient}

    def describe(self) -> str:
        return f"SVRG, α = {self.alpha:.3g}, epoch {self.epoch_length}"


def state_bytes(method, x) -> int:
    """Bytes of state one run of ``method`` keeps between steps: its arrays and the iterate."""
    arrays = [x, *method.state().values()]
    return int(sum(a.nbytes for a in arrays)) // x.shape[0]


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
    stop_below: tuple[float, float] | None = None,
    monitors: Mapping[str, Callable] | None = None,
    average: bool = False,
) -> Trace:
    """Run ``method`` for ``iterations`` steps on R = len(seeds) independent runs.

    Logs f at the iterations in ``log_at`` (default :func:`log_iterations`) and, with
    ``record_second_moment``, E_i ||grad f_i(x_k)||^2 and ||grad f(x_k)||^2 too. With
    ``stop_below=(f_star, gap)`` the run ends at the first logged iterate where every run has
    f(x_k) - f_star <= gap (there is nothing left to see below float64's resolution).

    ``monitors`` maps names to functions of the (R, p) iterate that return one value a run,
    logged beside f into ``Trace.logs``. With ``average`` the runs also log
    ``"averaged_values"``, f at the average x̄_k = (1/k) sum_{l<k} x_l of the iterates so far
    (nan at k = 0); every iterate enters the sum, so the method then takes one step at a time.
    """
    integer("iterations", iterations, minimum=0)
    stream = IndexStream(problem.n_samples, seeds, batch_size, method.probabilities(problem))
    xp = array_module(problem.features)
    x = _starting_points(problem, x0, stream.runs)
    monitors = dict(monitors or {})
    if average:
        iterate_sum = xp.zeros_like(x)

        def averaged_value(x):
            return problem.value(iterate_sum / k) if k else xp.full(x.shape[0], np.nan)

        monitors["averaged_values"] = averaged_value
    recorder = Recorder(
        problem, log_iterations(iterations) if log_at is None else log_at, record_second_moment, monitors
    )
    method.start(problem, x)
    chunk = max(1, INDEX_CHUNK_ENTRIES // (stream.runs * stream.batch_size))
    def finished() -> bool:
        return stop_below is not None and recorder.last_gap(stop_below[0]) <= stop_below[1]

    with tqdm(total=iterations, disable=not progress, desc=label or method.describe(), leave=False) as bar:
        k, done = 0, False
        while k < iterations and not done:
            indices = xp.asarray(stream.draw(min(chunk, iterations - k)))
            start = 0
            while start < len(indices):  # segments between logged iterations
                if recorder.wants(k):
                    recorder.record(x, method.evaluations)
                    if done := finished():
                        break
                stop = min(len(indices), start + recorder.next_after(k) - k)
                if average:
                    for t in range(start, stop):
                        iterate_sum += x
                        x = method.step(problem, x, indices[t], k + t - start)
                else:
                    x = method.advance(problem, x, indices[start:stop], k)
                k += stop - start
                bar.update(stop - start)
                start = stop
    if not done and recorder.wants(k):
        recorder.record(x, method.evaluations)
    return recorder.trace(label or method.describe(), x)


def sgd(problem, x0, step, *, iterations: int, seeds: Sequence[int], batch_size: int = 1,
        momentum: float = 0.0, nesterov: bool = False, **options) -> Trace:
    """Mini-batch SGD on R = len(seeds) runs, with heavy-ball or Nesterov ``momentum`` if given
    (:class:`SGD`); see :func:`run_batched` for the options."""
    return run_batched(
        problem, SGD(step, momentum=momentum, nesterov=nesterov), x0, iterations=iterations,
        seeds=seeds, batch_size=batch_size, **options
    )


class GrowingBatch:
    """|B_k| = ceil(B_0 rho^(-k)) for k = 0, 1, ...: a batch that grows geometrically, the
    lecture's "Approach 1: control the sample size" (Friedlander & Schmidt 2012; Bottou, Curtis
    & Nocedal 2018, eq. (5.7) with tau = 1/rho)."""

    def __init__(self, initial: float, rho: float):
        if isinstance(initial, bool) or not isinstance(initial, Real) or not math.isfinite(initial):
            raise TypeError(f"the initial batch B_0 must be a finite real number, got {initial!r}")
        if initial < 1:
            raise ValueError(f"the initial batch B_0 must be >= 1 (a batch holds a sample), got {initial!r}")
        if isinstance(rho, bool) or not isinstance(rho, Real):
            raise TypeError(f"rho must be a real number in (0, 1), got {type(rho).__name__}")
        if not 0.0 < float(rho) < 1.0:
            raise ValueError(f"rho must lie in (0, 1) for the batch to grow, got {rho!r}")
        self.initial, self.rho = float(initial), float(rho)

    def __call__(self, k: int) -> int:
        k = integer("k", k, minimum=0)
        size = self.initial * self.rho ** (-k)
        # ceil up to rounding: B_0 rho^-k that is an integer in exact arithmetic stays one
        return max(1, math.ceil(size * (1 - 1e-12)))

    def total(self, steps: int) -> int:
        """Samples drawn by the first ``steps`` steps: sum_{k < steps} |B_k|."""
        return sum(self(k) for k in range(integer("steps", steps, minimum=0)))

    def describe(self) -> str:
        return f"|B_k| = ⌈{self.initial:g}·{self.rho:g}^(−k)⌉"


def sgd_growing_batch(problem, x0, step, batches: GrowingBatch, *, iterations: int, seeds: Sequence[int],
                      log_at=None, record_second_moment: bool = False, progress: bool = False,
                      label: str | None = None) -> Trace:
    """SGD whose step k averages |B_k| = ``batches(k)`` sample gradients drawn uniformly with
    replacement, on R = len(seeds) runs; ``samples`` in the trace counts sum_k |B_k|.

    Run r draws the indices of step k as ``default_rng(seeds[r]).integers(0, n, |B_k|)`` (in
    chunks, continuing one stream); their gradients enter as counts per sample, so a step costs
    O(|B_k| + n p) whatever the batch, and the mean is (1/|B|) sum_i c_i grad f_i(x). Logs as
    :func:`run_batched` does (default :func:`log_iterations`).
    """
    if not isinstance(batches, GrowingBatch):
        raise TypeError(f"batches must be a GrowingBatch, got {type(batches).__name__}")
    integer("iterations", iterations, minimum=0)
    schedule = as_schedule(step)
    stream = IndexStream(problem.n_samples, seeds)
    xp = array_module(problem.features)
    x = _starting_points(problem, x0, stream.runs)
    recorder = Recorder(
        problem, log_iterations(iterations) if log_at is None else log_at, record_second_moment
    )
    evaluations = 0
    for k in tqdm(range(iterations + 1), disable=not progress, desc=label or "SGD, growing batch", leave=False):
        if recorder.wants(k):
            recorder.record(x, evaluations)
        if k == iterations:
            break
        size = batches(k)
        counts = stream.counts(size)
        weights = xp.asarray(counts, dtype=problem.dtype) * problem.loss_derivatives(x)
        gradient = (weights @ problem.features) / size + problem.mu * x
        x = x - schedule(k) * gradient
        evaluations += size
    return recorder.trace(label or f"SGD, {schedule.describe()}, {batches.describe()}", x)
