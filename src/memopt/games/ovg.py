"""The Orthogonal Vector Game (Marsden, Sharan, Sidford and Valiant, COLT 2022): the rules.

The game, as the lecture's slides "The Orthogonal Vector Game" state it (parameters: dimension
``d``, number of vectors ``k``, message size ``M`` in bits, number of queries ``m``):

1. the oracle draws ``A`` uniformly from ``{-1, +1}^(d/2 x d)``;
2. the player sees ``A`` and writes an ``M``-bit message;
3. ``A`` is taken away; holding only the message, the player queries points ``x_t`` and the
   oracle answers each with a subgradient ``g_t`` of ``x -> ||A x||_inf`` at ``x_t``;
4. the player outputs ``y_1, ..., y_k`` and wins if every ``y_i`` (scaled to unit length) has
   ``||A y_i||_inf <= d^-4`` and ``||Proj_span(y_1..y_{i-1})(y_i)||_2 <= 1 - 1/d^2``.

Choices the definition leaves open, made here and tested:

* the oracle's subgradient is the row ``a_j`` with the largest ``|<a_j, x>|`` (the lowest ``j``
  on ties) times the sign of ``<a_j, x>`` (``+1`` when it is 0); every such vector lies in the
  subdifferential of ``||A x||_inf``;
* the judge scales each ``y_i`` to unit Euclidean length before both tests (a zero vector
  fails both), since both conditions are stated for unit vectors and ``||A (t y)||_inf`` could
  otherwise be made small by shrinking ``t``;
* messages are real bit strings (:mod:`memopt.games.codec`) whose length is counted exactly
  and may not exceed the budget ``M`` (:class:`MessageTooLong` otherwise). The game's
  parameters ``d``, ``k``, ``M`` and a player's own random seed are public: they cost no bits.

This module holds the rules: the parameters, the matrices, the oracle, the judge and
:func:`play`; :mod:`memopt.games.codec` holds the bit-level messages and the quantisation of
coordinates, :mod:`memopt.games.players` the strategies.

All functions work on a batch of independent trials: ``A`` has shape ``(trials, d/2, d)`` and
a player's output ``(trials, k, d)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral
from typing import TYPE_CHECKING

import numpy as np

from memopt.backend import array_module, to_numpy

if TYPE_CHECKING:
    from memopt.games.players import Player


# -- parameters --------------------------------------------------------------------------------
def as_integer(value, name: str) -> int:
    """``value`` as an int: TypeError (naming ``name``) unless it is an integer (bools are not).
    The range checks are the caller's, so that each error says what the range means."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    return int(value)


def check_parameters(d, k=None, budget=None) -> None:
    """Raise ValueError/TypeError unless ``d`` is an even dimension >= 2, ``1 <= k <= d/2``
    (the null space of A has dimension d/2, so at most d/2 vectors can win) and ``budget``
    (the message size M in bits) is >= 0."""
    d = as_integer(d, "d")
    if d < 2 or d % 2:
        raise ValueError(f"d must be an even integer >= 2 (A has d/2 rows), got {d}")
    if k is not None:
        k = as_integer(k, "k")
        if not 1 <= k <= d // 2:
            raise ValueError(f"k must satisfy 1 <= k <= d/2 = {d // 2}, got {k}")
    if budget is not None and as_integer(budget, "budget") < 0:
        raise ValueError(f"budget (message bits M) must be >= 0, got {budget}")


def orthogonality_threshold(d: int) -> float:
    """d^-4: the largest ||A y||_inf a winning unit vector y may have."""
    return float(d) ** -4


def independence_threshold(d: int) -> float:
    """1 - 1/d^2: the largest norm of the projection of a winning unit y_i onto span(y_<i)."""
    return 1.0 - float(d) ** -2


def draw_matrices(d: int, trials: int, seed=0) -> np.ndarray:
    """``trials`` independent matrices A uniform on {-1, +1}^(d/2 x d), as int8."""
    check_parameters(d)
    trials = as_integer(trials, "trials")
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return (2 * rng.integers(0, 2, size=(trials, d // 2, d)) - 1).astype(np.int8)


def as_batch(A) -> np.ndarray:
    """A as a float64 batch (trials, d/2, d), checked to be a sign matrix of the game's shape;
    a single matrix (d/2, d) becomes a batch of one."""
    xp = array_module(A)
    A = xp.asarray(A)
    if A.ndim == 2:
        A = A[None]
    if A.ndim != 3:
        raise ValueError(f"A must have shape (d/2, d) or (trials, d/2, d), got {A.shape}")
    n, d = A.shape[1:]
    check_parameters(d)
    if n != d // 2:
        raise ValueError(f"A must have d/2 = {d // 2} rows for d = {d}, got {n}")
    if not bool(xp.all(xp.abs(A) == 1)):
        raise ValueError("A must have entries in {-1, +1}")
    return A.astype(xp.float64)


# -- the function and its oracle ---------------------------------------------------------------
def linf_value(A, x):
    """||A x||_inf for a batch: A (trials, n, d), x (trials, d) -> (trials,)."""
    xp = array_module(A, x)
    return xp.abs(xp.einsum("tnd,td->tn", A, x)).max(axis=1)


def subgradient(A, x):
    """The oracle's answer: sign(<a_j, x>) a_j for the row j with the largest |<a_j, x>|
    (lowest j on ties, sign +1 when the product is 0). A (trials, n, d), x (trials, d)."""
    xp = array_module(A, x)
    products = xp.einsum("tnd,td->tn", A, x)
    rows = xp.argmax(xp.abs(products), axis=1)
    picked = xp.take_along_axis(products, rows[:, None], axis=1)[:, 0]
    sign = xp.where(picked < 0, -1.0, 1.0)
    return sign[:, None] * A[xp.arange(A.shape[0]), rows]


class Oracle:
    """Holds A (hidden from the player) and answers queries with :func:`subgradient`,
    counting the queries of every trial. ``record=True`` keeps each query and answer."""

    def __init__(self, A, record: bool = False):
        self._A = as_batch(A)
        xp = array_module(self._A)
        self.trials, _, self.d = self._A.shape
        self.queries = xp.zeros(self.trials, dtype=xp.int64)
        self.history: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = [] if record else None

    def query(self, x, trials=None):
        """Answer one query for each trial in ``trials`` (all trials if None); ``x`` has one
        row per answered trial."""
        xp = array_module(self._A)
        trials = xp.arange(self.trials) if trials is None else xp.asarray(trials)
        x = xp.asarray(x, dtype=xp.float64)
        if x.shape != (trials.shape[0], self.d):
            raise ValueError(f"x must have shape ({trials.shape[0]}, {self.d}), got {x.shape}")
        if not bool(xp.all(xp.isfinite(x))):
            raise ValueError("query points must be finite")
        answer = subgradient(self._A[trials], x)
        self.queries[trials] += 1
        if self.history is not None:
            self.history.append((to_numpy(trials), to_numpy(x), to_numpy(answer)))
        return answer


# -- the judge ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    """The judge's measurements for each trial and each output vector y_i (scaled to unit)."""

    d: int
    residuals: np.ndarray  # (trials, k): ||A y_i||_inf
    projections: np.ndarray  # (trials, k): ||Proj_span(y_<i) y_i||_2
    orthogonal: np.ndarray  # (trials, k): residual <= d^-4
    independent: np.ndarray  # (trials, k): projection <= 1 - 1/d^2

    @property
    def won(self) -> np.ndarray:
        return self.orthogonal.all(axis=1) & self.independent.all(axis=1)


def judge(A, Y) -> Verdict:
    """Check the win conditions for outputs ``Y`` (trials, k, d) against ``A`` (trials, d/2, d).

    The projection of y_i on span(y_1..y_{i-1}) is read off the QR factorisation of the unit
    vectors: its norm is ||R[:i, i]||. (Once some y_j with j < i is itself dependent, the later
    projections are taken on the span of the first i orthonormal factors; the trial has lost by
    then anyway.)
    """
    A = as_batch(A)
    xp = array_module(A)
    Y = xp.asarray(Y, dtype=xp.float64)
    if Y.ndim == 2:
        Y = Y[None]
    trials, n, d = A.shape
    if Y.ndim != 3 or Y.shape[0] != trials or Y.shape[2] != d:
        raise ValueError(f"Y must have shape ({trials}, k, {d}), got {Y.shape}")
    check_parameters(d, Y.shape[1])
    if not bool(xp.all(xp.isfinite(Y))):
        raise ValueError("the output vectors must be finite")
    # Scale by the largest entry first so that huge or tiny vectors neither overflow nor underflow.
    peak = xp.abs(Y).max(axis=2, keepdims=True)
    Y = Y / xp.where(peak > 0, peak, 1.0)
    norms = xp.linalg.norm(Y, axis=2)
    unit = Y / xp.where(norms > 0, norms, 1.0)[..., None]
    residuals = xp.abs(xp.einsum("tnd,tkd->tkn", A, unit)).max(axis=2)
    residuals = xp.where(norms > 0, residuals, xp.inf)
    _, R = xp.linalg.qr(xp.swapaxes(unit, 1, 2))
    above = xp.triu(R, k=1)  # R[j, i] for j < i
    projections = xp.sqrt((above**2).sum(axis=1))
    projections = xp.where(norms > 0, projections, 1.0)
    return Verdict(
        d=d,
        residuals=to_numpy(residuals),
        projections=to_numpy(projections),
        orthogonal=to_numpy(residuals <= orthogonality_threshold(d)),
        independent=to_numpy(projections <= independence_threshold(d)),
    )


# -- the budget rule ---------------------------------------------------------------------------
class MessageTooLong(ValueError):
    """A player tried to write more bits than the budget M allows (raised by
    :class:`memopt.games.codec.MessageWriter` and by :func:`play`)."""


# -- one game, batched over trials -------------------------------------------------------------
@dataclass(frozen=True)
class GameResult:
    """The outcome of ``trials`` independent games of one player at one budget."""

    player: str
    d: int
    k: int
    budget: int
    message_bits: int
    queries: np.ndarray  # (trials,)
    verdict: Verdict
    #: With ``record=True``: each query as (trials answered, points, answers), and the outputs.
    history: list | None = None
    outputs: np.ndarray | None = None

    @property
    def won(self) -> np.ndarray:
        return self.verdict.won

    @property
    def trials(self) -> int:
        return int(self.queries.shape[0])


def play(player: Player, A, k: int, budget: int, record: bool = False) -> GameResult:
    """Play the game for every trial of ``A`` (trials, d/2, d): the player writes its message
    (checked against the budget), then answers from the message alone through a fresh
    oracle, and the judge scores the outputs."""
    A = as_batch(A)
    trials, _, d = A.shape
    check_parameters(d, k, budget)
    A_host = to_numpy(A)
    message = player.encode(A_host, k, budget)
    if message.size > budget:
        raise MessageTooLong(f"{player.name}: message of {message.size} bits exceeds M = {budget}")
    expected = player.message_bits(d, k, budget)
    if message.size != expected:
        raise RuntimeError(f"{player.name} wrote {message.size} bits, declared {expected}")
    oracle = Oracle(A_host, record=record)
    outputs = player.respond(message, oracle, d, k, budget)
    if outputs.shape != (trials, k, d):
        raise RuntimeError(f"{player.name} returned shape {outputs.shape}, not {(trials, k, d)}")
    return GameResult(player.name, d, k, int(budget), message.size, oracle.queries.copy(),
                      judge(A_host, outputs), oracle.history, outputs if record else None)
