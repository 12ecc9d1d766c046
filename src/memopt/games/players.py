"""Strategies for the Orthogonal Vector Game (:mod:`memopt.games.ovg`).

A :class:`Player` writes a message from A (:mod:`memopt.games.codec`), then answers from the
message alone through the oracle. The four strategies of the chapter: :class:`Memoryless`
(no message), :class:`RowStorer` (rows of A), :class:`AnswerStorer` (quantised null vectors)
and :class:`SketchPlayer` (random projections of A). The players that learn rows share the
query phase :func:`_certify_or_learn` and the row-space bookkeeping :class:`_RowSpace`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memopt.backend import to_numpy
from memopt.games.codec import (
    MAX_COORDINATE_BITS,
    Message,
    MessageReader,
    MessageWriter,
    dequantise,
    quantise,
    required_bits,
)
from memopt.games.ovg import Oracle, as_batch, check_parameters, orthogonality_threshold

#: The share of the d^-4 tolerance the answer-storing player leaves to float64 round-off in its
#: unquantised vectors (it checks this when it encodes); the rest is the quantisation's.
RESIDUAL_SHARE = 0.25


def null_vectors(A, k: int) -> np.ndarray:
    """k orthonormal vectors of the null space of each A (trials, d/2, d) -> (trials, k, d).

    They are the last columns of Q in the complete QR factorisation A^T = Q R: A^T's first
    d/2 columns of Q hold A's row space (whatever A's rank), so the others are orthogonal to it.
    """
    A = to_numpy(as_batch(A))
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
