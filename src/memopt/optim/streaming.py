r"""Streaming least squares: estimate x from samples (a_i, b_i) seen once each, in bounded memory.

The methods of the memory/sample tradeoff for linear regression (Sharan, Sidford, Valiant,
STOC 2019; the lecture's "Gaussian elimination: d examples, ~d^2 memory" against "gradient
descent: O(d log 1/eps) examples, ~d memory"):

* :class:`ExactLeastSquares`: stores the first d independent equations, solves them by Gaussian
  elimination (LU), then folds every later sample in by exact recursive least squares: d^2 + d
  floats, x determined after d samples, the least-squares solution of all samples afterwards.
* :class:`Kaczmarz`: randomized Kaczmarz on the stream, x <- x + a (b - <a, x>) / ||a||^2, the
  projection onto the newest sample's hyperplane (Strohmer and Vershynin 2009). d floats.
* :class:`StreamingSGD`: SGD on (1/2)(<a, x> - b)^2 with a constant step. d floats.
* :class:`WindowProjection`: keeps the last m - 1 rows and projects x onto the intersection of
  the last m hyperplanes at every sample. m = 1 is Kaczmarz; with m = d the first d samples
  determine x exactly. (m - 1)(d + m - 1) + d floats: the rows and the inverse of their Gram
  matrix. The family spans O(d) to O(d^2) memory.

Every method runs ``trials`` independent trials at once (a leading trial axis on every array).
Memory is measured from the arrays a method keeps between samples (:meth:`StreamingMethod.state`),
per trial, in floats and in bits; O(1) bookkeeping (sample counters, slot flags) is not counted.

Theory used by the book (isotropic Gaussian rows, no noise): the error e = x_hat - x of a
projection onto a hyperplane whose normal is a uniformly random direction of an n-dimensional
subspace containing e shrinks by ||e'||^2 = (1 - B) ||e||^2 with B ~ Beta(1/2, (n - 1)/2), so
E ||e'||^2 = (1 - 1/n) ||e||^2 and E ln(||e'||^2 / ||e||^2) = psi((n - 1)/2) - psi(n/2)
(:func:`projection_log_decrement`). Kaczmarz has n = d; the window method n = d - m + 1 once its
window is full (its iterate already satisfies the m - 1 stored equations, so e is orthogonal to
them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from scipy import integrate
from scipy.special import digamma
from tqdm import tqdm

from memopt import kernels
from memopt._checks import integer, real
from memopt.backend import array_module, to_numpy

#: A sample whose component outside the span of the stored rows is below this fraction of its
#: norm is treated as dependent on them and skipped (a rank decision, as in Gaussian elimination).
RANK_TOLERANCE = 1e-10



class StreamingMethod:
    """One sample at a time, for ``trials`` independent trials at once.

    Subclasses implement ``_update(rows, labels)`` for validated float64 arrays of shapes
    ``(trials, d)`` and ``(trials,)``, ``estimate()`` and ``state()``.
    """

    name = "streaming method"

    def __init__(self, dimension: int, trials: int = 1):
        self.dimension = integer("dimension", dimension)
        self.trials = integer("trials", trials)
        self.samples_seen = 0

    # -- input ---------------------------------------------------------------------------------
    def _check(self, rows, labels, chunk: bool):
        xp = array_module(rows, labels)
        rows, labels = xp.asarray(rows), xp.asarray(labels)
        for name, array in (("rows", rows), ("labels", labels)):
            if array.dtype.kind not in "fiu":
                raise TypeError(f"{name} must be real numbers, got dtype {array.dtype}")
        lead = (self.trials, rows.shape[1]) if chunk and rows.ndim == 3 else (self.trials,)
        if rows.shape != (*lead, self.dimension):
            expected = "(trials, count, d)" if chunk else "(trials, d)"
            raise ValueError(f"rows must have shape {expected} = {(*lead, self.dimension)}, got {rows.shape}")
        if labels.shape != lead:
            raise ValueError(f"labels must have shape {lead} to match rows, got {labels.shape}")
        if not (bool(xp.isfinite(rows).all()) and bool(xp.isfinite(labels).all())):
            raise ValueError("rows or labels contain NaN or infinite entries")
        return rows.astype(np.float64, copy=False), labels.astype(np.float64, copy=False)

    def update(self, rows, labels) -> None:
        """Take one sample per trial: ``rows`` of shape ``(trials, d)``, ``labels`` ``(trials,)``."""
        rows, labels = self._check(rows, labels, chunk=False)
        self._update(rows, labels)
        self.samples_seen += 1

    def consume(self, rows, labels) -> None:
        """Take ``count`` samples per trial in order: shapes ``(trials, count, d)``, ``(trials, count)``."""
        rows, labels = self._check(rows, labels, chunk=True)
        for j in range(rows.shape[1]):
            self._update(rows[:, j], labels[:, j])
            self.samples_seen += 1

    def consume_tracking(self, rows, labels, targets):
        """Take a chunk of samples (as :meth:`consume`, inputs already checked) and return the
        error ||tracked estimate - target|| after each one, shape ``(trials, count)``. Methods
        with a kernel run the whole chunk in one launch; this loop is their NumPy twin."""
        xp = array_module(rows)
        errors = xp.empty(labels.shape, dtype=np.float64)
        for j in range(rows.shape[1]):
            self._update(rows[:, j], labels[:, j])
            self.samples_seen += 1
            diff = self.tracked_estimate() - targets
            errors[:, j] = xp.sqrt((diff * diff).sum(axis=1))
        return errors

    def _kernel_consume(self, kernel, rows, labels, targets, *scalars):
        """Run the streaming ``kernel`` (a wrapper of :mod:`memopt.kernels`) over the chunk when
        it has somewhere to run (compiled on the CPU, or on the GPU); None otherwise (the caller
        then uses the NumPy twin)."""
        if kernels.mode(rows, self.x, compiled=True) is None:
            return None
        xp = array_module(rows, self.x, targets)
        rows, labels = xp.ascontiguousarray(rows), xp.ascontiguousarray(labels)
        targets = xp.ascontiguousarray(xp.broadcast_to(targets, self.x.shape), dtype=np.float64)
        self.x = xp.ascontiguousarray(self.x)
        errors = kernel(rows, labels, targets, *scalars, {"x": self.x})
        self.samples_seen += rows.shape[1]
        return errors

    # -- output --------------------------------------------------------------------------------
    def estimate(self):
        """The current estimate of x, shape ``(trials, d)``."""
        raise NotImplementedError

    def tracked_estimate(self):
        """The estimate whose error :func:`run_methods` records after every sample."""
        return self.estimate()

    def state(self) -> dict:
        """The arrays kept between samples (leading axis: trials)."""
        raise NotImplementedError

    @property
    def memory_floats(self) -> int:
        """Numbers stored per trial between samples."""
        return int(sum(int(a.size) for a in self.state().values())) // self.trials

    @property
    def memory_bits(self) -> int:
        """Bits stored per trial between samples (float64: 64 bits a number)."""
        return int(sum(int(a.nbytes) * 8 for a in self.state().values())) // self.trials

    def _iterate_or_zero(self, x0):
        """x0 as a (trials, d) float64 array on x0's own device (NumPy zeros when None)."""
        if x0 is None:
            return np.zeros((self.trials, self.dimension))
        xp = array_module(x0)
        x0 = xp.asarray(x0, dtype=np.float64)
        if x0.shape == (self.dimension,):
            x0 = xp.broadcast_to(x0, (self.trials, self.dimension))
        if x0.shape != (self.trials, self.dimension):
            raise ValueError(f"x0 must have shape ({self.dimension},) or ({self.trials}, {self.dimension}), "
                             f"got {x0.shape}")
        if not bool(xp.isfinite(x0).all()):
            raise ValueError("x0 contains NaN or infinite entries")
        return x0.copy()


class ExactLeastSquares(StreamingMethod):
    """Gaussian elimination on the first d independent samples, then exact recursive least squares.

    Until d independent samples have arrived the method stores them: the d x d array ``system``
    holds the rows received so far and ``vector`` their labels (the equations, as Gaussian
    elimination keeps them). When they determine x it solves them (LU with partial pivoting)
    and overwrites the same arrays with C = (A^T A)^(-1) and x_hat; every later sample is folded
    in by the exact recursive least-squares update

        x <- x + C a (b - <a, x>) / (1 + <a, C a>),   C <- C - C a a^T C / (1 + <a, C a>),

    so x_hat is the least-squares solution of all samples seen. d^2 + d floats in both phases.
    When the d stored equations are singular, the dependent ones are dropped (their rank is
    read from a QR factorisation with column pivoting) and the method keeps collecting.
    """

    name = "exact least squares"

    def __init__(self, dimension: int, trials: int = 1, rank_tolerance: float = RANK_TOLERANCE):
        super().__init__(dimension, trials)
        self.rank_tolerance = real("rank_tolerance", rank_tolerance)
        d = self.dimension
        self.system = np.zeros((self.trials, d, d))  # the stored rows, then (A^T A)^(-1)
        self.vector = np.zeros((self.trials, d))  # their labels, then x_hat
        self.stored = np.zeros(self.trials, dtype=np.int64)  # rows held while collecting
        self.solved = np.zeros(self.trials, dtype=bool)

    def _update(self, rows, labels):
        t = np.arange(self.trials)
        solved = self.solved.copy()
        if solved.any():
            s = t[solved]
            self._recursive_update(s, rows[s], labels[s])
        if not solved.all():
            c = t[~solved]
            k = self.stored[c]
            self.system[c, k] = rows[c]
            self.vector[c, k] = labels[c]
            self.stored[c] += 1
            full = c[self.stored[c] == self.dimension]
            if full.size:
                self._solve(full)

    def _solve(self, which):
        """Solve the d stored equations of the trials ``which``, or drop the dependent ones."""
        for t in which.tolist():
            a, b = self.system[t], self.vector[t]
            _, r, pivots = scipy.linalg.qr(a.T, mode="economic", pivoting=True)
            independent = np.abs(np.diag(r)) > self.rank_tolerance * np.linalg.norm(a, axis=1).max()
            rank = int(independent.sum())
            if rank < self.dimension:
                keep = np.sort(pivots[:rank])
                a[:rank], b[:rank] = a[keep].copy(), b[keep].copy()
                a[rank:], b[rank:] = 0.0, 0.0
                self.stored[t] = rank
                continue
            x = np.linalg.solve(a, b)
            inverse = np.linalg.inv(a)
            self.system[t] = inverse @ inverse.T
            self.vector[t] = x
            self.solved[t] = True

    def _recursive_update(self, which, rows, labels):
        every = len(which) == self.trials
        c = self.system if every else self.system[which]
        x = self.vector if every else self.vector[which]
        ca = np.matmul(c, rows[:, :, None])[:, :, 0]
        gain = 1.0 + (rows * ca).sum(axis=1)
        residual = labels - (rows * x).sum(axis=1)
        x += (residual / gain)[:, None] * ca
        c -= ca[:, :, None] * (ca / gain[:, None])[:, None, :]
        if not every:
            self.system[which], self.vector[which] = c, x

    @property
    def determined(self) -> np.ndarray:
        """True for the trials whose samples determine x."""
        return self.solved.copy()

    def estimate(self):
        """The least-squares solution; while x is not determined, the minimum-norm solution
        A^T (A A^T)^(-1) b of the equations stored so far."""
        out = self.vector.copy()
        for t in np.nonzero(~self.solved)[0].tolist():
            k = int(self.stored[t])
            a, b = self.system[t, :k], self.vector[t, :k]
            out[t] = a.T @ np.linalg.solve(a @ a.T, b) if k else 0.0
        return out

    def tracked_estimate(self):
        """The estimate where x is determined, NaN elsewhere (no work for the others)."""
        return np.where(self.solved[:, None], self.vector, np.nan)

    def state(self):
        return {"system": self.system, "vector": self.vector}


class Kaczmarz(StreamingMethod):
    """Randomized Kaczmarz on the stream: project x onto the newest sample's hyperplane."""

    name = "Kaczmarz"

    def __init__(self, dimension: int, trials: int = 1, x0=None):
        super().__init__(dimension, trials)
        self.x = self._iterate_or_zero(x0)

    def _update(self, rows, labels):
        xp = array_module(rows)
        norms = (rows * rows).sum(axis=1)
        nonzero = norms > 0
        step = xp.where(nonzero, (labels - (rows * self.x).sum(axis=1)) / xp.where(nonzero, norms, 1.0), 0.0)
        self.x = self.x + step[:, None] * rows

    def consume_tracking(self, rows, labels, targets):
        errors = self._kernel_consume(kernels.kaczmarz_steps, rows, labels, targets)
        return super().consume_tracking(rows, labels, targets) if errors is None else errors

    def estimate(self):
        return self.x

    def state(self):
        return {"x": self.x}


class StreamingSGD(StreamingMethod):
    """SGD on f_i(x) = (1/2)(<a_i, x> - b_i)^2 with a constant step: x <- x - step (<a, x> - b) a.

    On isotropic Gaussian rows E ||e_{k+1}||^2 = (1 - 2 step + step^2 (d + 2)) E ||e_k||^2
    (noise aside), smallest at step = 1/(d + 2) (:func:`sgd_contraction`).
    """

    name = "SGD"

    def __init__(self, dimension: int, step: float, trials: int = 1, x0=None):
        super().__init__(dimension, trials)
        self.step = real("step", step)
        self.x = self._iterate_or_zero(x0)

    def _update(self, rows, labels):
        residual = (rows * self.x).sum(axis=1) - labels
        self.x = self.x - (self.step * residual)[:, None] * rows

    def consume_tracking(self, rows, labels, targets):
        errors = self._kernel_consume(kernels.streaming_sgd_steps, rows, labels, targets, self.step)
        return super().consume_tracking(rows, labels, targets) if errors is None else errors

    def estimate(self):
        return self.x

    def state(self):
        return {"x": self.x}


class WindowProjection(StreamingMethod):
    """Project x onto the intersection of the hyperplanes of the last ``window`` samples.

    Stores the previous ``window - 1`` rows W (a ring buffer) and H = (W W^T)^(-1). Because x
    already satisfies the stored equations, the projection moves x only along the part of the
    new row orthogonal to them, a~ = a - W^T H W a:  x <- x + a~ (b - <a, x>) / <a~, a>. H is
    updated in O(m^2) when a row leaves and one enters, and recomputed from W every time the
    buffer wraps around, so rounding does not accumulate. Working with the Gram matrix, a step
    carries a relative rounding error of about cond(W)^2 times the machine epsilon (harmless
    here: it perturbs each step, it does not add a floor). A new row (almost) in the span of
    the stored ones (||a~|| <= rank_tolerance ||a||) is skipped.
    """

    name = "window projection"

    def __init__(self, dimension: int, window: int, trials: int = 1, x0=None,
                 rank_tolerance: float = RANK_TOLERANCE):
        super().__init__(dimension, trials)
        self.window = integer("window", window)
        if self.window > self.dimension:
            raise ValueError(
                f"window must be at most the dimension {self.dimension} (more hyperplanes than that "
                f"have no common point once noise is present), got {self.window}"
            )
        self.rank_tolerance = real("rank_tolerance", rank_tolerance)
        self.x = self._iterate_or_zero(x0)
        slots = self.window - 1
        self.rows = np.zeros((self.trials, slots, self.dimension))
        self.inverse_gram = np.zeros((self.trials, slots, slots))
        self._filled = np.zeros((self.trials, slots), dtype=bool)
        self._next = np.zeros(self.trials, dtype=np.int64)

    def _update(self, rows, labels):
        slots = self.window - 1
        squared = (rows * rows).sum(axis=1)
        if slots == 0:
            direction = rows
        else:
            # The part of the new row orthogonal to all stored rows: the window is the m - 1
            # stored hyperplanes and the new one.
            g = np.matmul(self.rows, rows[:, :, None])[:, :, 0]
            v = np.matmul(self.inverse_gram, g[:, :, None])[:, :, 0]
            direction = rows - np.matmul(v[:, None, :], self.rows)[:, 0]
        along = (direction * rows).sum(axis=1)
        accept = along > self.rank_tolerance**2 * squared
        step = np.where(accept, (labels - (rows * self.x).sum(axis=1)) / np.where(accept, along, 1.0), 0.0)
        self.x = self.x + step[:, None] * direction
        if slots and accept.any():
            which = np.nonzero(accept)[0] if not accept.all() else slice(None)
            self._replace_oldest(which, rows[which], g[which], v[which])

    def _replace_oldest(self, which, rows, g, v):
        """Put ``rows`` in place of the oldest stored row (or an empty slot) of the trials
        ``which``, and update H = (W W^T)^(-1) by removing slot j and bordering it back:

        H_rem = H - h_j h_j^T / h_jj (row and column j become 0); u = H_rem g = v - h_j (h_j . g) / h_jj;
        s = ||a - W^T u||^2; H_new = H_rem + u u^T / s with row and column j set to -u / s and
        corner 1 / s (the inverse of the bordered Gram matrix).
        """
        t = np.arange(rows.shape[0])
        j = self._next[which]
        h = self.inverse_gram[which]
        stored = self.rows[which]
        filled = self._filled[which][t, j]
        h_j = h[t, :, j].copy()
        inv_hjj = np.where(filled, 1.0 / np.where(filled, h_j[t, j], 1.0), 0.0)
        u = v - h_j * ((h_j * g).sum(axis=1) * inv_hjj)[:, None]
        u[t, j] = 0.0
        residual = rows - np.matmul(u[:, None, :], stored)[:, 0]
        inv_s = 1.0 / (residual * residual).sum(axis=1)
        # One rank-2 update: -h_j h_j^T / h_jj + u u^T / s.
        left = np.stack([-h_j * inv_hjj[:, None], u * inv_s[:, None]], axis=2)
        right = np.stack([h_j, u], axis=1)
        h += np.matmul(left, right)
        h[t, j, :] = -u * inv_s[:, None]
        h[t, :, j] = -u * inv_s[:, None]
        h[t, j, j] = inv_s
        stored[t, j] = rows
        nxt = (j + 1) % (self.window - 1)
        if isinstance(which, slice):
            self._filled[t, j] = True
            self._next = nxt
        else:
            self.inverse_gram[which] = h
            self.rows[which] = stored
            self._filled[which, j] = True
            self._next[which] = nxt
        # Recompute H from the rows each time the buffer wraps around: no drift accumulates.
        wrapped = np.zeros(self.trials, dtype=bool)
        wrapped[which] = nxt == 0
        wrapped &= self._filled.all(axis=1)
        if wrapped.any():
            w = self.rows[wrapped]
            self.inverse_gram[wrapped] = np.linalg.inv(np.matmul(w, w.transpose(0, 2, 1)))

    def estimate(self):
        return self.x

    def state(self):
        return {"x": self.x, "rows": self.rows, "inverse_gram": self.inverse_gram}


# -- running methods on a stream ---------------------------------------------------------------
@dataclass
class StreamRun:
    """What one method did on a stream: its error after every sample and its memory."""

    name: str
    #: ||x_hat_k - x|| after k = 1, 2, ... samples, shape (trials, samples); NaN where the
    #: method had no determined estimate yet.
    errors: np.ndarray
    accuracy: float
    memory_floats: int
    memory_bits: int

    @property
    def samples_to_accuracy(self) -> np.ndarray:
        """Per trial, the first k with ||x_hat_k - x|| <= accuracy (NaN if never reached)."""
        reached = self.errors <= self.accuracy
        first = reached.argmax(axis=1).astype(float) + 1
        first[~reached.any(axis=1)] = np.nan
        return first


def run_methods(methods: dict, stream, *, accuracy: float, max_samples: int,
                chunk: int = 1024, progress: bool = False) -> dict[str, StreamRun]:
    """Feed the same samples to every method until each one's trials all reach ``accuracy``
    (a method stops drawing then) or ``max_samples`` samples have been drawn.

    Sharing one stream gives every method the same samples (common random numbers), so their
    sample counts differ by the methods, not by the draws.
    """
    accuracy = real("accuracy", accuracy)
    max_samples = integer("max_samples", max_samples)
    chunk = integer("chunk", chunk)
    if not methods:
        raise ValueError("methods must hold at least one method")
    for name, method in methods.items():
        if not isinstance(method, StreamingMethod):
            raise TypeError(f"methods[{name!r}] must be a StreamingMethod, got {type(method).__name__}")
        if (method.trials, method.dimension) != (stream.trials, stream.dimension):
            raise ValueError(f"methods[{name!r}] runs {method.trials} trials in {method.dimension} "
                             f"dimensions, the stream {stream.trials} in {stream.dimension}")
    errors = {name: [] for name in methods}
    reached = {name: np.zeros(stream.trials, dtype=bool) for name in methods}
    active = list(methods)
    bar = tqdm(total=max_samples, desc="stream samples", disable=not progress)
    drawn = 0
    while active and drawn < max_samples:
        count = min(chunk, max_samples - drawn)
        rows, labels = stream.draw(count)
        for name in list(active):
            method = methods[name]
            rows_m, labels_m = method._check(rows, labels, chunk=True)
            err = to_numpy(method.consume_tracking(rows_m, labels_m, stream.targets))
            # Every trial there: stop feeding this method, and keep its errors up to that sample.
            done = np.flatnonzero((reached[name][:, None] | np.maximum.accumulate(err <= accuracy, axis=1)).all(axis=0))
            reached[name] |= (err <= accuracy).any(axis=1)
            if done.size:
                err = err[:, :done[0] + 1]
                active.remove(name)
            errors[name].append(err)
        drawn += count
        bar.update(count)
    bar.close()
    return {
        name: StreamRun(name, np.concatenate(errors[name], axis=1), accuracy,
                        methods[name].memory_floats, methods[name].memory_bits)
        for name in methods
    }


# -- theory ------------------------------------------------------------------------------------
def projection_log_decrement(n: int) -> float:
    """-E ln(||e'||^2 / ||e||^2) = psi(n/2) - psi((n-1)/2) for a projection onto a hyperplane
    whose normal is uniformly random in an n-dimensional subspace containing e (inf for n = 1:
    the projection is exact)."""
    n = integer("n", n)
    if n == 1:
        return math.inf
    return float(digamma(n / 2) - digamma((n - 1) / 2))


def _window_checks(dimension, window):
    d = integer("dimension", dimension)
    m = integer("window", window)
    if m > d:
        raise ValueError(f"window must be at most dimension {d}, got {m}")
    return d, m


def projection_log_decrements(dimension: int, window: int, samples: int) -> np.ndarray:
    """E ln(||e_{j-1}||^2 / ||e_j||^2) for samples j = 1..samples of the window method (window 1:
    Kaczmarz) on isotropic Gaussian rows without noise: sample j sees a subspace of dimension
    n_j = d - min(j - 1, window - 1) (inf once n_j = 1: x is then exact)."""
    d, m = _window_checks(dimension, window)
    samples = integer("samples", samples)
    n = d - np.minimum(np.arange(samples), m - 1)
    table = {int(k): projection_log_decrement(int(k)) for k in np.unique(n)}
    return np.array([table[int(k)] for k in n])


def expected_projection_error(dimension: int, window: int, samples: int,
                              initial_error: float = 1.0) -> np.ndarray:
    """exp(E ln ||e_k||) for k = 1..samples: the typical error of the window method, from
    :func:`projection_log_decrements` (0 once x is exact)."""
    total = np.cumsum(projection_log_decrements(dimension, window, samples))
    return real("initial_error", initial_error) * np.exp(-0.5 * total)


def predicted_projection_samples(dimension: int, window: int, accuracy: float,
                                 initial_error: float = 1.0) -> int:
    """Samples for the window method (window 1: Kaczmarz; window d: exact after d samples) to
    bring ln ||e||^2 from ln initial_error^2 down to ln accuracy^2 at the expected
    log-decrement of every sample (:func:`projection_log_decrements`). By Wald's identity this
    is the mean first-passage time, up to the overshoot of the last sample."""
    d, m = _window_checks(dimension, window)
    ratio = real("initial_error", initial_error) / real("accuracy", accuracy)
    target = 2 * math.log(ratio)
    if target <= 0:
        return 0
    growth = np.cumsum(projection_log_decrements(d, m, m)[:-1]) if m > 1 else np.zeros(0)
    if growth.size and growth[-1] >= target:
        return int(np.argmax(growth >= target)) + 1
    steady = projection_log_decrement(d - m + 1)
    if math.isinf(steady):
        return m
    done = growth[-1] if growth.size else 0.0
    return m - 1 + math.ceil((target - done) / steady)


def sgd_contraction(dimension: int, step: float) -> float:
    """E ||e_{k+1}||^2 / ||e_k||^2 = 1 - 2 step + step^2 (d + 2) for SGD on isotropic Gaussian
    rows without noise (from E[a a^T a a^T] = (d + 2) I)."""
    d = integer("dimension", dimension)
    step = real("step", step)
    return 1 - 2 * step + step**2 * (d + 2)


def kaczmarz_direction_moments(eigenvalues) -> np.ndarray:
    """p_j = E[u_j^2] for u = a / ||a||, a ~ N(0, diag(eigenvalues)): the diagonal of E[u u^T]
    in Sigma's eigenbasis (its off-diagonal is 0). Kaczmarz's mean square error falls by
    e^T E[u u^T] e a sample, so 1 - min_j p_j bounds its contraction.

    Computed from 1/S = int_0^inf exp(-t S) dt with S = sum_i lambda_i z_i^2:
    p_j = int_0^inf lambda_j (1 + 2 t lambda_j)^(-1) prod_i (1 + 2 t lambda_i)^(-1/2) dt.
    """
    lam = np.asarray(eigenvalues, dtype=float)
    if lam.ndim != 1 or lam.size == 0 or not np.isfinite(lam).all() or (lam <= 0).any():
        raise ValueError("eigenvalues must be a non-empty 1-D array of finite positive numbers")
    values, counts = np.unique(lam, return_counts=True)

    def weight(t):
        return np.exp(-0.5 * (counts * np.log1p(2 * t * values)).sum())

    moments = {}
    for v in values:
        integrand = lambda t, v=v: v / (1 + 2 * t * v) * weight(t)  # noqa: E731
        scale = 1.0 / v
        moments[v] = integrate.quad(integrand, 0, scale)[0] + integrate.quad(integrand, scale, np.inf)[0]
    return np.array([moments[v] for v in lam])
