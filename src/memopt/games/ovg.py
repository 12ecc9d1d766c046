"""The Orthogonal Vector Game (Marsden, Sharan, Sidford and Valiant, COLT 2022).

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
* messages are real bit strings (:class:`MessageWriter`/:class:`MessageReader`) whose length is
  counted exactly and may not exceed the budget ``M``. The game's parameters ``d``, ``k``, ``M``
  and a player's own random seed are public: they cost no bits.

All functions work on a batch of independent trials: ``A`` has shape ``(trials, d/2, d)`` and
a player's output ``(trials, k, d)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral

import numpy as np

from memopt.backend import array_module, to_numpy

#: Quantised coordinates use at most this many bits (a float64 mantissa resolves no more).
MAX_COORDINATE_BITS = 52
#: The share of the d^-4 tolerance the answer-storing player leaves to float64 round-off in its
#: unquantised vectors (it checks this when it encodes); the rest is the quantisation's.
RESIDUAL_SHARE = 0.25


# -- parameters --------------------------------------------------------------------------------
def _integer(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    return int(value)


def check_parameters(d, k=None, budget=None) -> None:
    """Raise ValueError/TypeError unless ``d`` is an even dimension >= 2, ``1 <= k <= d/2``
    (the null space of A has dimension d/2, so at most d/2 vectors can win) and ``budget``
    (the message size M in bits) is >= 0."""
    d = _integer(d, "d")
    if d < 2 or d % 2:
        raise ValueError(f"d must be an even integer >= 2 (A has d/2 rows), got {d}")
    if k is not None:
        k = _integer(k, "k")
        if not 1 <= k <= d // 2:
            raise ValueError(f"k must satisfy 1 <= k <= d/2 = {d // 2}, got {k}")
    if budget is not None and _integer(budget, "budget") < 0:
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
    trials = _integer(trials, "trials")
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return (2 * rng.integers(0, 2, size=(trials, d // 2, d)) - 1).astype(np.int8)


def _as_batch(A) -> np.ndarray:
    """A as a float64 batch (trials, d/2, d), checked to be a sign matrix of the game's shape."""
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
        self._A = _as_batch(A)
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
    A = _as_batch(A)
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


# -- messages as bit strings -------------------------------------------------------------------
class MessageTooLong(ValueError):
    """A player tried to write more bits than the budget M allows."""


@dataclass(frozen=True)
class Message:
    """One message per trial: ``bits`` (trials, size) of 0/1, within ``capacity`` bits."""

    bits: np.ndarray
    capacity: int

    @property
    def size(self) -> int:
        """The message length in bits (the same for every trial)."""
        return int(self.bits.shape[1])

    @property
    def trials(self) -> int:
        return int(self.bits.shape[0])


class MessageWriter:
    """Appends fixed-width fields to a batch of messages, refusing to exceed ``capacity``."""

    def __init__(self, trials: int, capacity: int):
        self.trials = _integer(trials, "trials")
        self.capacity = _integer(capacity, "capacity")
        if self.capacity < 0:
            raise ValueError(f"capacity (message bits M) must be >= 0, got {capacity}")
        self._chunks: list[np.ndarray] = []
        self.size = 0

    def write_unsigned(self, values, width: int) -> None:
        """Write each integer of ``values`` (trials, n), all in [0, 2^width), in ``width`` bits
        (most significant first)."""
        width = _integer(width, "width")
        if not 1 <= width <= 63:
            raise ValueError(f"width must be in 1..63 bits, got {width}")
        values = np.asarray(values)
        if values.dtype.kind not in "iu":
            raise TypeError(f"values must be integers, got dtype {values.dtype}")
        values = values.astype(np.int64).reshape(self.trials, -1)
        if values.size and (values.min() < 0 or values.max() >= 2**width):
            raise ValueError(f"values must lie in [0, 2^{width}) to fit in {width} bits")
        added = values.shape[1] * width
        if self.size + added > self.capacity:
            raise MessageTooLong(
                f"writing {added} more bits would make the message {self.size + added} bits, "
                f"over the budget M = {self.capacity}"
            )
        shifts = np.arange(width - 1, -1, -1, dtype=np.int64)
        bits = (values[:, :, None] >> shifts) & 1
        self._chunks.append(bits.reshape(self.trials, added).astype(np.uint8))
        self.size += added

    def write_signs(self, signs) -> None:
        """Write each entry of ``signs`` (trials, n), all +-1, as one bit."""
        signs = np.asarray(signs)
        if signs.size and not np.all(np.abs(signs) == 1):
            raise ValueError("signs must be +-1")
        self.write_unsigned((signs > 0).astype(np.int64), 1)

    def finish(self) -> Message:
        bits = np.concatenate(self._chunks, axis=1) if self._chunks else np.zeros((self.trials, 0), np.uint8)
        return Message(bits, self.capacity)


class MessageReader:
    """Reads back, in order, the fields a :class:`MessageWriter` wrote."""

    def __init__(self, message: Message):
        self.message = message
        self.position = 0

    def read_unsigned(self, count: int, width: int) -> np.ndarray:
        end = self.position + count * width
        if end > self.message.size:
            raise ValueError(f"reading {count * width} bits at {self.position} runs past the "
                             f"message's {self.message.size} bits")
        bits = self.message.bits[:, self.position:end].astype(np.int64)
        self.position = end
        weights = 2 ** np.arange(width - 1, -1, -1, dtype=np.int64)
        return bits.reshape(self.message.trials, count, width) @ weights

    def read_signs(self, count: int) -> np.ndarray:
        return (2 * self.read_unsigned(count, 1) - 1).astype(np.int8)


# -- quantised coordinates ---------------------------------------------------------------------
def _bits(bits) -> int:
    bits = _integer(bits, "bits")
    if not 1 <= bits <= MAX_COORDINATE_BITS:
        raise ValueError(f"bits per coordinate must be in 1..{MAX_COORDINATE_BITS}, got {bits}")
    return bits


def quantise(values, bits: int) -> np.ndarray:
    """Codes in [0, 2^bits) for values in [-1, 1]: the cell of width 2^(1-bits) holding each
    value. Decoded at the cell's midpoint, every value is off by at most
    :func:`quantisation_error` = 2^-bits + 2^-53 (the last term: rounding of value + 1)."""
    bits = _bits(bits)
    values = np.asarray(values, dtype=np.float64)
    if values.size and (not np.all(np.isfinite(values)) or np.abs(values).max() > 1):
        raise ValueError("quantised values must lie in [-1, 1] (coordinates of unit vectors)")
    cells = np.floor((values + 1.0) * 2.0 ** (bits - 1)).astype(np.int64)
    return np.clip(cells, 0, 2**bits - 1)


def dequantise(codes, bits: int) -> np.ndarray:
    """The midpoint -1 + (code + 1/2) 2^(1-bits) of each code's cell."""
    bits = _bits(bits)
    return -1.0 + (np.asarray(codes, dtype=np.float64) + 0.5) * 2.0 ** (1 - bits)


def quantisation_error(bits: int) -> float:
    """The largest |dequantise(quantise(v)) - v| over v in [-1, 1]: half a cell, 2^-bits, plus
    2^-53 for the float64 rounding of v + 1 that can move v across a cell boundary."""
    return 2.0 ** -_bits(bits) + 2.0**-53


def orthogonality_bound(d: int, bits: int, residual: float = 0.0) -> float:
    """The worst case of ||A y~||_inf / ||y~||_2 when y~ is a unit vector y with
    ||A y||_inf <= ``residual`` and each coordinate quantised to ``bits`` bits.

    Each coordinate moves by at most e = :func:`quantisation_error` (about 2^-bits), so
    |<a_j, y~ - y>| <= ||a_j||_1 e = d e and ||y~||_2 >= 1 - sqrt(d) e: the bound is
    (residual + d e) / (1 - sqrt(d) e).
    """
    check_parameters(d)
    error = quantisation_error(bits)
    shrink = 1.0 - math.sqrt(d) * error
    return math.inf if shrink <= 0 else (residual + d * error) / shrink


def required_bits(d: int, residual: float = 0.0) -> int:
    """The fewest bits per coordinate for which :func:`orthogonality_bound` is <= d^-4, i.e.
    the b that guarantees a quantised null vector passes the judge's orthogonality test."""
    check_parameters(d)
    if not 0 <= residual < orthogonality_threshold(d):
        raise ValueError(f"residual must lie in [0, d^-4) = [0, {orthogonality_threshold(d):.3g}), got {residual}")
    for bits in range(1, MAX_COORDINATE_BITS + 1):
        if orthogonality_bound(d, bits, residual) <= orthogonality_threshold(d):
            return bits
    raise ValueError(f"no precision up to {MAX_COORDINATE_BITS} bits meets d^-4 for d = {d}")


def null_vectors(A, k: int) -> np.ndarray:
    """k orthonormal vectors of the null space of each A (trials, d/2, d) -> (trials, k, d).

    They are the last columns of Q in the complete QR factorisation A^T = Q R: A^T's first
    d/2 columns of Q hold A's row space (whatever A's rank), so the others are orthogonal to it.
    """
    A = to_numpy(_as_batch(A))
    n, d = A.shape[1:]
    check_parameters(d, k)
    q, _ = np.linalg.qr(np.swapaxes(A, 1, 2), mode="complete")
    return np.swapaxes(q[:, :, n:n + k], 1, 2)


# -- shared query-phase machinery --------------------------------------------------------------
def _project_out(Q, x):
    """x minus its projection on the columns of Q (zero columns are harmless), twice over
    for orthogonality to working precision. Q (m, d, n), x (m, d)."""
    for _ in range(2):
        x = x - np.einsum("mdn,mn->md", Q, np.einsum("mdn,md->mn", Q, x))
    return x


class _RowSpace:
    """The rows a player knows, as an orthonormal basis per trial (zero-padded to d/2)."""

    def __init__(self, trials: int, d: int):
        self.d, self.n = d, d // 2
        self.basis = np.zeros((trials, d, self.n))
        self.count = np.zeros(trials, dtype=np.int64)
        #: Trials where the player holds every row of A (even if they are dependent).
        self.holds_all = np.zeros(trials, dtype=bool)

    def add(self, trials, rows) -> np.ndarray:
        """Add one row to each given trial's span; rows already in the span are skipped.
        Returns which rows were new."""
        rows = np.asarray(rows, dtype=np.float64)
        fresh = _project_out(self.basis[trials], rows)
        norms = np.linalg.norm(fresh, axis=1)
        keep = norms > 1e-9 * np.linalg.norm(rows, axis=1)
        new, fresh, norms = np.asarray(trials)[keep], fresh[keep], norms[keep]
        self.basis[new, :, self.count[new]] = fresh / norms[:, None]
        self.count[new] += 1
        return keep

    @property
    def complete(self) -> np.ndarray:
        """Trials whose known rows are all of A's row space: d/2 independent rows, or all rows."""
        return (self.count == self.n) | self.holds_all

    def project(self, trials, x):
        return _project_out(self.basis[trials], x)


def _round_off(x):
    """A bound on the float64 error of <g, x> for g in {-1, 1}^d, doubled to cover the judge's
    own evaluation: 2 d u ||x||_1 each (u the unit round-off). A player accepts a vector only
    if it passes with this margin, so the judge agrees with the player at the threshold."""
    return 4 * x.shape[-1] * np.finfo(np.float64).eps / 2 * np.abs(x).sum(axis=-1)


def _certify_or_learn(oracle: Oracle, space: _RowSpace, candidates, random_candidates: bool):
    """The query phase shared by the players that learn rows.

    Candidate i of each trial is projected off the known rows and, unless the known rows are
    already all of A's row space, queried. The answer g gives ||A x||_inf = |<g, x>|: if it
    is <= d^-4 ||x|| (with the margin of :func:`_round_off`), x is accepted; otherwise g is a row not yet known, which is added
    and the candidate tried again. A random candidate that passes shows (with probability 1)
    that the known rows span the row space, so the remaining candidates need no queries.
    Returns the accepted vectors (trials, k, d); random ones are orthonormalised.
    """
    trials, k, d = candidates.shape
    tol = orthogonality_threshold(d)
    outputs = np.zeros_like(candidates)
    position = np.zeros(trials, dtype=np.int64)
    known = space.complete.copy()
    while np.any(position < k):
        active = np.flatnonzero(position < k)
        x = space.project(active, candidates[active, position[active]])
        free = known[active]  # no query needed: every row is known
        accept = np.zeros(active.size, dtype=bool)
        accept[free] = True
        asked = np.flatnonzero(~free)
        if asked.size:
            g = oracle.query(x[asked], trials=active[asked])
            value = np.abs(np.einsum("md,md->m", g, x[asked]))
            passed = value + _round_off(x[asked]) <= tol * np.linalg.norm(x[asked], axis=1)
            accept[asked[passed]] = True
            if random_candidates:
                known[active[asked[passed]]] = True
            learn = asked[~passed]
            if learn.size:
                if not space.add(active[learn], g[~passed]).all():
                    # only round-off can make a failed check return a known row; stop, not loop
                    raise RuntimeError("a failed check returned a row already known: the d^-4 "
                                       "tolerance is below float64 resolution at this d")
                known[active[learn]] |= space.complete[active[learn]]
        done = active[accept]
        outputs[done, position[done]] = x[accept]
        position[done] += 1
    if random_candidates:
        q, _ = np.linalg.qr(np.swapaxes(outputs, 1, 2))
        outputs = np.swapaxes(q, 1, 2)
    return outputs


# -- players -----------------------------------------------------------------------------------
class Player:
    """A strategy: ``encode`` sees A and writes at most ``budget`` bits; ``respond`` sees only
    the message (and the public d, k, budget and its own seed) and queries the oracle."""

    name = "player"
    seed: int = 0

    def message_bits(self, d: int, k: int, budget: int) -> int:
        """The exact length in bits of the message this player writes for these parameters."""
        raise NotImplementedError

    def encode(self, A: np.ndarray, k: int, budget: int) -> Message:
        raise NotImplementedError

    def respond(self, message: Message, oracle: Oracle, d: int, k: int, budget: int) -> np.ndarray:
        raise NotImplementedError

    def _random(self, salt: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, salt])


@dataclass(frozen=True)
class Memoryless(Player):
    """Player (i): writes nothing. It queries random points orthogonal to the rows it knows;
    each answer is a new row, until it knows all d/2 (or a query certifies that it knows the
    row space); then it outputs k orthonormal vectors of the rows' orthogonal complement."""

    seed: int = 0
    name = "memoryless"

    def message_bits(self, d, k, budget):
        check_parameters(d, k, budget)
        return 0

    def encode(self, A, k, budget):
        check_parameters(A.shape[2], k, budget)
        return MessageWriter(A.shape[0], budget).finish()

    def respond(self, message, oracle, d, k, budget):
        space = _RowSpace(message.trials, d)
        candidates = self._random(1).standard_normal((message.trials, k, d))
        return _certify_or_learn(oracle, space, candidates, random_candidates=True)


@dataclass(frozen=True)
class RowStorer(Player):
    """Player (ii): stores the first r = min(d/2, floor(M/d)) rows of A, d sign bits each
    (which rows they are is fixed in advance, so no index is stored), then learns the other
    rows as the memoryless player does: d/2 - r queries."""

    seed: int = 0
    name = "stores rows"

    @staticmethod
    def rows(d: int, budget: int) -> int:
        return min(d // 2, budget // d)

    def message_bits(self, d, k, budget):
        check_parameters(d, k, budget)
        return self.rows(d, budget) * d

    def encode(self, A, k, budget):
        A = to_numpy(A)
        trials, _, d = A.shape
        check_parameters(d, k, budget)
        writer = MessageWriter(trials, budget)
        writer.write_signs(A[:, : self.rows(d, budget)].reshape(trials, -1))
        return writer.finish()

    def respond(self, message, oracle, d, k, budget):
        r = self.rows(d, budget)
        stored = MessageReader(message).read_signs(r * d).reshape(message.trials, r, d)
        space = _RowSpace(message.trials, d)
        everyone = np.arange(message.trials)
        for i in range(r):
            space.add(everyone, stored[:, i])
        space.holds_all[:] = r == d // 2
        candidates = self._random(1).standard_normal((message.trials, k, d))
        return _certify_or_learn(oracle, space, candidates, random_candidates=True)


@dataclass(frozen=True)
class AnswerStorer(Player):
    """Player (iii): stores k orthonormal null vectors of A with b = floor(M/(k d)) bits per
    coordinate (:func:`quantise`).

    If b >= :func:`required_bits` (with :data:`RESIDUAL_SHARE` of d^-4 left to round-off) the
    stored vectors are guaranteed to win: it outputs them with no query. With fewer bits it
    checks each stored vector with one query and, while the check fails, learns the returned
    row and projects it out (:func:`_certify_or_learn`). With b = 0 it stores nothing and
    plays as the memoryless player.
    """

    seed: int = 0
    name = "stores answers"

    @staticmethod
    def bits_per_coordinate(d: int, k: int, budget: int) -> int:
        return min(MAX_COORDINATE_BITS, budget // (k * d))

    @staticmethod
    def guaranteed_bits(d: int) -> int:
        return required_bits(d, RESIDUAL_SHARE * orthogonality_threshold(d))

    def message_bits(self, d, k, budget):
        check_parameters(d, k, budget)
        return k * d * self.bits_per_coordinate(d, k, budget)

    def encode(self, A, k, budget):
        A = to_numpy(A)
        trials, _, d = A.shape
        check_parameters(d, k, budget)
        writer = MessageWriter(trials, budget)
        bits = self.bits_per_coordinate(d, k, budget)
        if bits:
            Y = null_vectors(A, k)
            residual = np.abs(np.einsum("tnd,tkd->tkn", A.astype(np.float64), Y)).max()
            if residual > RESIDUAL_SHARE * orthogonality_threshold(d):
                raise RuntimeError(f"null vectors with residual {residual:.3g} exceed the share of "
                                   "d^-4 left to round-off")
            writer.write_unsigned(quantise(Y, bits).reshape(trials, -1), bits)
        return writer.finish()

    def respond(self, message, oracle, d, k, budget):
        bits = self.bits_per_coordinate(d, k, budget)
        if bits == 0:
            return Memoryless(self.seed).respond(message, oracle, d, k, budget)
        codes = MessageReader(message).read_unsigned(k * d, bits)
        stored = dequantise(codes, bits).reshape(message.trials, k, d)
        if bits >= self.guaranteed_bits(d):
            return stored
        space = _RowSpace(message.trials, d)
        return _certify_or_learn(oracle, space, stored, random_candidates=False)


@dataclass(frozen=True)
class SketchPlayer(Player):
    """Player (iv): stores the random projections A S for s = min(d, floor(M / (d/2 w)))
    public random sign vectors (the columns of S, drawn from the player's seed), each entry an
    integer in [-d, d] of d's parity, stored exactly in w = ceil(log2(d + 1)) bits. It makes no
    query: it outputs y = S z for the k unit z with the smallest ||A S z|| (the last right
    singular vectors of A S), the directions the sketch predicts to be most nearly
    orthogonal to A, padding with random vectors when s < k. It wins only once s >= d/2 + k,
    when A S has a k-dimensional null space."""

    seed: int = 0
    name = "sketch"

    @staticmethod
    def entry_bits(d: int) -> int:
        return int(d).bit_length()  # ceil(log2(d + 1))

    def projections(self, d: int, budget: int) -> int:
        return min(d, budget // ((d // 2) * self.entry_bits(d)))

    def sketch_matrix(self, d: int, s: int) -> np.ndarray:
        signs = 2 * self._random(2).integers(0, 2, size=(d, d)) - 1
        return signs[:, :s].astype(np.float64)

    def message_bits(self, d, k, budget):
        check_parameters(d, k, budget)
        return (d // 2) * self.projections(d, budget) * self.entry_bits(d)

    def encode(self, A, k, budget):
        A = to_numpy(A)
        trials, _, d = A.shape
        check_parameters(d, k, budget)
        s = self.projections(d, budget)
        sketch = np.rint(A.astype(np.float64) @ self.sketch_matrix(d, s)).astype(np.int64)
        writer = MessageWriter(trials, budget)
        writer.write_unsigned(((sketch + d) // 2).reshape(trials, -1), self.entry_bits(d))
        return writer.finish()

    def respond(self, message, oracle, d, k, budget):
        s = self.projections(d, budget)
        n = d // 2
        codes = MessageReader(message).read_unsigned(n * s, self.entry_bits(d))
        sketch = (2 * codes - d).reshape(message.trials, n, s).astype(np.float64)
        outputs = self._random(3).standard_normal((message.trials, k, d))
        used = min(k, s)
        if used:
            _, _, vt = np.linalg.svd(sketch, full_matrices=True)
            z = vt[:, s - used:]  # the smallest singular directions (null directions if s > n)
            outputs[:, :used] = z @ self.sketch_matrix(d, s).T
        return outputs


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
    A = _as_batch(A)
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
