r"""Streaming least squares on a multiscale covariance: Big-Step-Little-Step and accelerated SGD.

Least squares on a stream, f(y) = E (1/2)(<a, y> - b)^2 with a ~ N(0, Sigma) and b = <a, x>,
is the quadratic with Hessian Sigma; when Sigma's eigenvalues form separated clusters it is a
multiscale objective (:mod:`memopt.problems.multiscale`). Two methods that keep O(d) floats:

* :class:`StreamingBSLS`: the Big-Step-Little-Step recursion of
  :func:`memopt.optim.first_order.big_step_little_step` (its schedule,
  :func:`~memopt.optim.first_order.bsls_schedule`, is reused as is), each gradient replaced by
  the mean of the sample gradients a (<a, y> - b) over ``batch`` fresh samples of the stream.
  With exact gradients it is the deterministic method.
* :class:`StreamingASGD`: accelerated stochastic gradient descent for least squares (Jain,
  Kakade, Kidambi, Netrapalli and Sidford, COLT 2018, their Algorithm 1 with the parameters of
  their Theorem 1), one sample per step; :func:`asgd_parameters`, and
  :func:`gaussian_asgd_constants` for the constants R^2 and kappa-tilde of Gaussian rows.

Both run ``trials`` independent trials at once, as every :class:`StreamingMethod`.
"""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np

from memopt._checks import real
from memopt.optim.first_order import bsls_schedule
from memopt.optim.streaming import StreamingMethod


class _HostOnly:
    """The state of these methods lives in NumPy arrays (a generator's locals cannot follow
    the data to another device)."""

    _arrays: tuple[str, ...] = ()

    @property
    def xp(self):
        return np

    def _follow(self, xp) -> None:
        if xp is not np:
            raise TypeError(f"{type(self).__name__} runs on NumPy arrays only, got {xp.__name__} arrays")


class StreamingBSLS(_HostOnly, StreamingMethod):
    """Big-Step-Little-Step on a sample stream: every gradient is a mini-batch mean.

    Parameters
    ----------
    dimension, trials : as every :class:`StreamingMethod`.
    scales : the (L_i, mu_i) of the clusters of Sigma, ordered and separated.
    batch : samples per gradient: one positive integer, or one per level (level 1 = the
        largest scale, its little steps; level m = the big steps).
    little_steps : the schedule's T_i (default :func:`~memopt.optim.first_order.default_little_steps`).
    x0 : the start, shape (d,) or (trials, d); zeros by default.

    The recursion and its estimate are those of
    :func:`~memopt.optim.first_order.big_step_little_step`: the estimate is the repaired point
    at which the latest big-step gradient was (or is being) taken. The method holds the three
    vectors of each level that is running, the query point and the running gradient sum.
    """

    name = "streaming BSLS"

    def __init__(self, dimension: int, scales, batch, trials: int = 1, little_steps=None, x0=None):
        super().__init__(dimension, trials)
        self.schedule = bsls_schedule(scales, little_steps)
        levels = self.schedule.levels
        if isinstance(batch, Integral) and not isinstance(batch, bool):
            batch = (batch,) * levels
        try:
            batch = tuple(batch)
        except TypeError:
            raise TypeError(f"batch must be a positive integer or {levels} of them, got {batch!r}") from None
        if len(batch) != levels or any(isinstance(b, bool) or not isinstance(b, Integral) or b < 1
                                       for b in batch):
            raise ValueError(f"batch must be a positive integer or {levels} of them (one per level), got {batch!r}")
        self.batch = tuple(int(b) for b in batch)
        self._x = self._iterate(x0)
        self._held: dict[int, tuple] = {}
        self.gradients = 0  # mini-batch gradients completed
        self._steps = self._recursion()
        self._level, self._query = next(self._steps)
        self._sum = np.zeros((self.trials, self.dimension))
        self._filled = 0

    # -- the recursion, as a generator: it yields (level, query point) and receives the gradient
    def _recursion(self):
        sizes, momenta = self.schedule.step_sizes, self.schedule.momenta
        counts = self.schedule.little_steps

        def repaired(level, y):
            x = x_prev = y
            for t in range(counts[level]):
                z = x if t == 0 else x + momenta[level] * (x - x_prev)
                if level:
                    z = yield from repaired(level - 1, z)
                    if t == 0:
                        x = x_prev = z  # the momentum starts from the repaired point
                self._held[level] = (x, x_prev, z)
                g = yield level, z
                x_prev, x = x, z - sizes[level] * g
            self._held.pop(level, None)
            return (yield from repaired(level - 1, x)) if level else x

        top = self.schedule.levels - 1
        x = x_prev = self._x
        t = 0
        while True:
            z = x if t == 0 else x + momenta[top] * (x - x_prev)
            z = yield from repaired(top - 1, z)
            if t == 0:
                x = x_prev = z
            self._x = z  # the estimate: the repaired point before the big step
            self._held[top] = (x, x_prev, z)
            g = yield top, z
            x_prev, x = x, z - sizes[top] * g
            t += 1

    def _gradient_done(self) -> None:
        g = self._sum / self.batch[self._level]
        self.gradients += 1
        self._level, self._query = self._steps.send(g)
        self._sum = np.zeros_like(self._sum)
        self._filled = 0

    def _update(self, rows, labels):
        residual = (rows * self._query).sum(axis=1) - labels
        self._sum += residual[:, None] * rows
        self._filled += 1
        if self._filled == self.batch[self._level]:
            self._gradient_done()

    def consume_tracking(self, rows, labels, targets):
        """As :meth:`StreamingMethod.consume_tracking`, a mini-batch slice at a time."""
        count = rows.shape[1]
        errors = np.empty(labels.shape, dtype=np.float64)
        j = 0
        while j < count:
            take = min(self.batch[self._level] - self._filled, count - j)
            block, values = rows[:, j:j + take], labels[:, j:j + take]
            residual = np.einsum("tnd,td->tn", block, self._query) - values
            self._sum += np.einsum("tn,tnd->td", residual, block)
            self._filled += take
            self.samples_seen += take
            errors[:, j:j + take] = np.linalg.norm(self._x - targets, axis=1)[:, None]
            j += take
            if self._filled == self.batch[self._level]:
                self._gradient_done()
                errors[:, j - 1] = np.linalg.norm(self._x - targets, axis=1)
        return errors

    def estimate(self):
        return self._x

    def state(self) -> dict:
        arrays = {id(a): a for held in self._held.values() for a in held}
        arrays.update({id(self._query): self._query, id(self._sum): self._sum, id(self._x): self._x})
        return {f"array{i}": a for i, a in enumerate(arrays.values())}

    def samples_per_big_step(self) -> int:
        """Samples of one big step and the call of the inner levels before it: one call of
        level i takes S_i = T_i B_i + (T_i + 1) S_{i-1} samples (S_1 = T_1 B_1), and a big
        step B_m + S_{m-1}."""
        t, b = self.schedule.little_steps, self.batch
        per_call = t[0] * b[0]
        for level in range(1, len(t)):
            per_call = t[level] * b[level] + (t[level] + 1) * per_call
        return b[-1] + per_call


def gaussian_asgd_constants(eigenvalues) -> tuple[float, float, float]:
    """(mu, R^2, kappa_tilde) of Jain et al. (2018) for rows a ~ N(0, Sigma) with these
    eigenvalues: mu = lambda_min; R^2 the least R^2 with E[||a||^2 a a^T] <= R^2 Sigma, which is
    tr Sigma + 2 lambda_max since E[||a||^2 a a^T] = 2 Sigma^2 + tr(Sigma) Sigma; kappa_tilde the
    least with E[||a||^2_{Sigma^-1} a a^T] <= kappa_tilde Sigma, d + 2 for a Gaussian."""
    values = np.asarray(eigenvalues, dtype=np.float64)
    if values.ndim != 1 or values.size < 1 or not np.all(np.isfinite(values)) or values.min() <= 0:
        raise ValueError("eigenvalues must be a non-empty 1-d array of finite positive numbers")
    return float(values.min()), float(values.sum() + 2 * values.max()), float(values.size + 2)


def asgd_parameters(mu: float, r_squared: float, kappa_tilde: float) -> tuple[float, float, float, float]:
    """(alpha, beta, gamma, delta) of Jain et al. (2018), Theorem 1, with kappa = R^2 / mu:
    alpha = 3 sqrt5 s / (1 + 3 sqrt5 s), beta = alpha / (9 s), gamma = 1 / (3 sqrt5 mu s),
    delta = 1 / (5 R^2), where s = sqrt(kappa kappa_tilde)."""
    mu, r_squared = real("mu", mu), real("r_squared", r_squared)
    kappa_tilde = real("kappa_tilde", kappa_tilde, minimum=1.0, strict=False)
    s = math.sqrt(r_squared / mu * kappa_tilde)
    c = 3 * math.sqrt(5)
    alpha = c * s / (1 + c * s)
    return alpha, alpha / (9 * s), 1 / (c * mu * s), 1 / (5 * r_squared)


def asgd_steps(mu: float, r_squared: float, kappa_tilde: float, factor: float) -> int:
    """Steps after which the contraction 1 - 1/(9 sqrt(kappa kappa_tilde)) per step of Jain et
    al. (2018) has divided the (squared-distance-like) potential by ``factor``."""
    s = math.sqrt(real("r_squared", r_squared) / real("mu", mu) * real("kappa_tilde", kappa_tilde))
    return math.ceil(math.log(real("factor", factor)) / -math.log1p(-1 / (9 * s)))


class StreamingASGD(_HostOnly, StreamingMethod):
    """Accelerated SGD for least squares (Jain et al. 2018, Algorithm 1), one sample a step:

        y = alpha x + (1 - alpha) v,  g = a (<a, y> - b),
        x <- y - delta g,  v <- beta y + (1 - beta) v - gamma g,

    with v_0 = x_0 and the parameters of :func:`asgd_parameters`. The estimate is x. Two
    vectors per trial between samples.
    """

    name = "ASGD"

    def __init__(self, dimension: int, mu: float, r_squared: float, kappa_tilde: float,
                 trials: int = 1, x0=None):
        super().__init__(dimension, trials)
        self.alpha, self.beta, self.gamma, self.delta = asgd_parameters(mu, r_squared, kappa_tilde)
        self.x = self._iterate(x0)
        self.v = self.x.copy()

    def _update(self, rows, labels):
        y = self.alpha * self.x + (1 - self.alpha) * self.v
        g = ((rows * y).sum(axis=1) - labels)[:, None] * rows
        self.x = y - self.delta * g
        self.v = self.beta * y + (1 - self.beta) * self.v - self.gamma * g

    def estimate(self):
        return self.x

    def state(self) -> dict:
        return {"x": self.x, "v": self.v}
