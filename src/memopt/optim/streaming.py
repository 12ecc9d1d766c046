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

Input validation is public (:meth:`StreamingMethod.validate`), so drivers such as
:func:`memopt.optim.stream_runs.run_methods` can check a chunk once and hand it to
:meth:`StreamingMethod.consume_tracking`. Arrays follow the array module of the data
(:func:`memopt.backend.array_module`): a method's state lives where its ``x0`` lives, or, without
one, moves to the module of its first sample (NumPy or CuPy), so a CuPy stream is processed on
the GPU. The theory of these methods is in :mod:`memopt.optim.streaming_theory`; running them
side by side on one stream in :mod:`memopt.optim.stream_runs`.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from memopt import kernels
from memopt._checks import integer, real
from memopt.backend import array_module, to_numpy

#: A sample whose component outside the span of the stored rows is below this fraction of its
#: norm is treated as dependent on them and skipped (a rank decision, as in Gaussian elimination).
RANK_TOLERANCE = 1e-10



class StreamingMethod:
    """One sample at a time, for ``trials`` independent trials at once.

    Subclasses implement ``_update(rows, labels)`` for validated float64 arrays of shapes
    ``(trials, d)`` and ``(trials,)``, ``estimate()`` and ``state()``, and list in ``_arrays``
    the names of every array attribute they keep, so that :meth:`validate` can move a fresh
    state to the data's array module (NumPy or CuPy) and refuse data from another device later.
    """

    name = "streaming method"
    #: Attributes holding arrays; moved to the first sample's array module (see :meth:`validate`).
    _arrays: tuple[str, ...] = ()

    def __init__(self, dimension: int, trials: int = 1):
        self.dimension = integer("dimension", dimension)
        self.trials = integer("trials", trials)
        self.samples_seen = 0

    # -- input ---------------------------------------------------------------------------------
    @property
    def xp(self):
        """The array module (numpy or cupy) holding the method's state."""
        return array_module(*(getattr(self, name) for name in self._arrays))

    def validate(self, rows, labels, chunk: bool = True):
        """Check one sample per trial (``chunk=False``: shapes ``(trials, d)``, ``(trials,)``) or a
        chunk of samples (``chunk=True``: ``(trials, count, d)``, ``(trials, count)``) and return
        them as float64 arrays of their own array module, ready for :meth:`update`,
        :meth:`consume` or :meth:`consume_tracking`.

        Raises TypeError for non-real dtypes or data on another device than the method's state
        (once samples have been taken; before the first one the state moves to the data's
        module), ValueError for wrong shapes or non-finite entries.
        """
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
        self._follow(xp)
        return rows.astype(np.float64, copy=False), labels.astype(np.float64, copy=False)

    def _follow(self, xp) -> None:
        """Move the state to the array module ``xp`` of the data before the first sample (a
        fresh state is a few zeros); afterwards data on another device is an error, not a
        silent copy between host and device every sample. A subclass that lists no
        ``_arrays`` places its own state."""
        if not self._arrays or self.xp is xp:
            return
        if self.samples_seen:
            raise TypeError(f"the samples are {xp.__name__} arrays but the method's state is held "
                            f"by {self.xp.__name__}; keep one stream on one device")
        for name in self._arrays:
            setattr(self, name, xp.asarray(to_numpy(getattr(self, name))))

    def update(self, rows, labels) -> None:
        """Take one sample per trial: ``rows`` of shape ``(trials, d)``, ``labels`` ``(trials,)``."""
        rows, labels = self.validate(rows, labels, chunk=False)
        self._update(rows, labels)
        self.samples_seen += 1

    def consume(self, rows, labels) -> None:
        """Take ``count`` samples per trial in order: shapes ``(trials, count, d)``, ``(trials, count)``."""
        rows, labels = self.validate(rows, labels, chunk=True)
        for j in range(rows.shape[1]):
            self._update(rows[:, j], labels[:, j])
            self.samples_seen += 1

    def consume_tracking(self, rows, labels, targets):
        """Take a chunk of samples (as :meth:`consume`, inputs already checked by
        :meth:`validate`) and return the
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
        """The estimate whose error :func:`~memopt.optim.stream_runs.run_methods` records after
        every sample."""
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

    def _iterate(self, x0):
        """x0 as a (trials, d) float64 array of x0's own array module (zeros when None: NumPy
        until the first sample says otherwise)."""
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
    read from a QR factorisation with column pivoting, computed on the host: once per trial)
    and the method keeps collecting.
    """

    name = "exact least squares"
    _arrays = ("system", "vector", "stored", "solved")

    def __init__(self, dimension: int, trials: int = 1, rank_tolerance: float = RANK_TOLERANCE):
        super().__init__(dimension, trials)
        self.rank_tolerance = real("rank_tolerance", rank_tolerance)
        d = self.dimension
        self.system = np.zeros((self.trials, d, d))  # the stored rows, then (A^T A)^(-1)
        self.vector = np.zeros((self.trials, d))  # their labels, then x_hat
        self.stored = np.zeros(self.trials, dtype=np.int64)  # rows held while collecting
        self.solved = np.zeros(self.trials, dtype=bool)

    def _update(self, rows, labels):
        t = self.xp.arange(self.trials)
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
        xp = self.xp
        for t in which.tolist():
            a, b = self.system[t], self.vector[t]
            host = to_numpy(a)
            _, r, pivots = scipy.linalg.qr(host.T, mode="economic", pivoting=True)
            independent = np.abs(np.diag(r)) > self.rank_tolerance * np.linalg.norm(host, axis=1).max()
            rank = int(independent.sum())
            if rank < self.dimension:
                keep = xp.asarray(np.sort(pivots[:rank]))
                a[:rank], b[:rank] = a[keep].copy(), b[keep].copy()
                a[rank:], b[rank:] = 0.0, 0.0
                self.stored[t] = rank
                continue
            x = xp.linalg.solve(a, b)
            inverse = xp.linalg.inv(a)
            self.system[t] = inverse @ inverse.T
            self.vector[t] = x
            self.solved[t] = True

    def _recursive_update(self, which, rows, labels):
        every = len(which) == self.trials
        c = self.system if every else self.system[which]
        x = self.vector if every else self.vector[which]
        ca = self.xp.matmul(c, rows[:, :, None])[:, :, 0]
        gain = 1.0 + (rows * ca).sum(axis=1)
        residual = labels - (rows * x).sum(axis=1)
        x += (residual / gain)[:, None] * ca
        c -= ca[:, :, None] * (ca / gain[:, None])[:, None, :]
        if not every:
            self.system[which], self.vector[which] = c, x

    @property
    def determined(self):
        """True for the trials whose samples determine x."""
        return self.solved.copy()

    def estimate(self):
        """The least-squares solution; while x is not determined, the minimum-norm solution
        A^T (A A^T)^(-1) b of the equations stored so far."""
        xp = self.xp
        out = self.vector.copy()
        for t in xp.nonzero(~self.solved)[0].tolist():
            k = int(self.stored[t])
            a, b = self.system[t, :k], self.vector[t, :k]
            out[t] = a.T @ xp.linalg.solve(a @ a.T, b) if k else 0.0
        return out

    def tracked_estimate(self):
        """The estimate where x is determined, NaN elsewhere (no work for the others)."""
        return self.xp.where(self.solved[:, None], self.vector, np.nan)

    def state(self):
        return {"system": self.system, "vector": self.vector}


class Kaczmarz(StreamingMethod):
    """Randomized Kaczmarz on the stream: project x onto the newest sample's hyperplane."""

    name = "Kaczmarz"
    _arrays = ("x",)

    def __init__(self, dimension: int, trials: int = 1, x0=None):
        super().__init__(dimension, trials)
        self.x = self._iterate(x0)

    def _update(self, rows, labels):
        xp = self.xp
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
    _arrays = ("x",)

    def __init__(self, dimension: int, step: float, trials: int = 1, x0=None):
        super().__init__(dimension, trials)
        self.step = real("step", step)
        self.x = self._iterate(x0)

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
    _arrays = ("x", "rows", "inverse_gram", "_filled", "_next")

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
        self.x = self._iterate(x0)
        xp = array_module(self.x)
        slots = self.window - 1
        self.rows = xp.zeros((self.trials, slots, self.dimension))
        self.inverse_gram = xp.zeros((self.trials, slots, slots))
        self._filled = xp.zeros((self.trials, slots), dtype=bool)
        self._next = xp.zeros(self.trials, dtype=np.int64)

    def _update(self, rows, labels):
        xp = self.xp
        slots = self.window - 1
        squared = (rows * rows).sum(axis=1)
        if slots == 0:
            direction = rows
        else:
            # The part of the new row orthogonal to all stored rows: the window is the m - 1
            # stored hyperplanes and the new one.
            g = xp.matmul(self.rows, rows[:, :, None])[:, :, 0]
            v = xp.matmul(self.inverse_gram, g[:, :, None])[:, :, 0]
            direction = rows - xp.matmul(v[:, None, :], self.rows)[:, 0]
        along = (direction * rows).sum(axis=1)
        accept = along > self.rank_tolerance**2 * squared
        step = xp.where(accept, (labels - (rows * self.x).sum(axis=1)) / xp.where(accept, along, 1.0), 0.0)
        self.x = self.x + step[:, None] * direction
        if slots and accept.any():
            which = xp.nonzero(accept)[0] if not accept.all() else slice(None)
            self._replace_oldest(which, rows[which], g[which], v[which])

    def _replace_oldest(self, which, rows, g, v):
        """Put ``rows`` in place of the oldest stored row (or an empty slot) of the trials
        ``which``, and update H = (W W^T)^(-1) by removing slot j and bordering it back:

        H_rem = H - h_j h_j^T / h_jj (row and column j become 0); u = H_rem g = v - h_j (h_j . g) / h_jj;
        s = ||a - W^T u||^2; H_new = H_rem + u u^T / s with row and column j set to -u / s and
        corner 1 / s (the inverse of the bordered Gram matrix).
        """
        xp = self.xp
        t = xp.arange(rows.shape[0])
        j = self._next[which]
        h = self.inverse_gram[which]
        stored = self.rows[which]
        filled = self._filled[which][t, j]
        h_j = h[t, :, j].copy()
        inv_hjj = xp.where(filled, 1.0 / xp.where(filled, h_j[t, j], 1.0), 0.0)
        u = v - h_j * ((h_j * g).sum(axis=1) * inv_hjj)[:, None]
        u[t, j] = 0.0
        residual = rows - xp.matmul(u[:, None, :], stored)[:, 0]
        inv_s = 1.0 / (residual * residual).sum(axis=1)
        # One rank-2 update: -h_j h_j^T / h_jj + u u^T / s.
        left = xp.stack([-h_j * inv_hjj[:, None], u * inv_s[:, None]], axis=2)
        right = xp.stack([h_j, u], axis=1)
        h += xp.matmul(left, right)
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
        wrapped = xp.zeros(self.trials, dtype=bool)
        wrapped[which] = nxt == 0
        wrapped &= self._filled.all(axis=1)
        if wrapped.any():
            w = self.rows[wrapped]
            self.inverse_gram[wrapped] = xp.linalg.inv(xp.matmul(w, w.transpose(0, 2, 1)))

    def estimate(self):
        return self.x

    def state(self):
        return {"x": self.x, "rows": self.rows, "inverse_gram": self.inverse_gram}
