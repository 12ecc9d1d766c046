r"""From a memory-limited optimizer on the hard function to a player of the Orthogonal Vector Game.

The proof of Marsden, Sharan, Sidford and Valiant (COLT 2022) turns an optimizer that
minimises

.. math:: F(x) = s\,\max\{\eta\lVert Ax\rVert_\infty - \rho,\ \max_i (v_i^\top x - i\gamma)\}

with little memory into a player of the game (:mod:`memopt.games.ovg`) on the same ``A``. The
player draws the Nemirovski vectors ``v_i`` from its own (public) seed, so it can answer every
Nemirovski subgradient itself; only the barrier ``eta ||A x||_inf`` needs ``A``.

1. *Message.* Holding ``A``, the player runs the optimizer on ``F`` and picks a block of
   consecutive queries in which the optimizer reveals ``k`` Nemirovski pieces it has not
   seen before. It writes the optimizer's memory state at the start of the block (every
   float as its 64 bits) and which pieces were revealed before the block.
2. *Queries.* Without ``A``, it restarts the optimizer from the stored state and re-runs the
   block. At each query point ``x`` it asks the game's oracle, whose answer ``g = ±a_j`` gives
   ``||A x||_inf = |<g, x>|``: the player can then evaluate ``F`` and a subgradient exactly
   (``s eta g`` when the barrier is the maximum: the query *revealed a row of A*; ``s v_i``
   otherwise).
3. *Answer.* The ``k`` query points that revealed new pieces are the answer ``y_1..y_k``:
   a piece is the maximum only where ``eta ||A x||_inf - rho`` is below it, so these points
   are nearly orthogonal to the rows of ``A``; and each new ``v_i`` is independent of the
   earlier queries, which makes them robustly independent.

The optimizer is the analytic-centre cutting-plane method keeping at most ``m`` cuts
(:func:`memopt.optim.cutting_plane.limited_memory_cutting_plane`), written here step by step
(:class:`CuttingPlaneStepper`) so that it can stop and restart from a stored state; the tests
check that it makes the library function's queries. Its state is ``m`` cuts (normal and
offset), the centre and the best value: ``m (d + 1) + d + 1`` floats. The Hessian factor it
also carries is a function of that state and is recomputed on restart.

:func:`reduce` builds the :class:`Transcript` (message, game queries, answers) and judges the
answers with the game's exact :func:`memopt.games.ovg.judge`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_triangular

from memopt._checks import integer
from memopt.games.codec import Message, MessageReader, MessageWriter
from memopt.games.ovg import Oracle, Verdict, check_parameters, judge
from memopt.optim.cutting_plane import analytic_centre
from memopt.problems.nemirovski import HardFunction

#: Bits per stored float: each float64 is written as its exact bit pattern.
BITS_PER_FLOAT = 64


# -- the optimizer, one query at a time ------------------------------------------------------------
def hessian_factor(normals, offsets, radius: float, x) -> np.ndarray:
    """R with R^T R the Hessian at ``x`` of the barrier of the cuts inside the ball: the
    triangular factor :func:`memopt.optim.cutting_plane.analytic_centre` returns with its
    centre, computed from the same least-squares system, so a restart reproduces it."""
    dim = x.size
    if offsets.size == 0 and not x.any():
        return np.sqrt(2) / radius * np.eye(dim)  # the method's own start: no cut, centre 0
    slack = offsets - normals @ x
    room = radius * radius - x @ x
    system = np.vstack([normals / slack[:, None], np.sqrt(2 / room) * np.eye(dim), (2 / room) * x[None, :]])
    return np.linalg.qr(system)[1]


@dataclass
class CutState:
    """The memory of the m-cut method between two queries."""

    normals: np.ndarray  # (cuts, d), cuts <= m
    offsets: np.ndarray  # (cuts,)
    centre: np.ndarray  # (d,): the next query point
    best: float  # the best value seen (inf before the first query)

    def copy(self) -> CutState:
        return CutState(self.normals.copy(), self.offsets.copy(), self.centre.copy(), self.best)

    @property
    def floats(self) -> int:
        return self.normals.size + self.offsets.size + self.centre.size + 1


class CuttingPlaneStepper:
    """The analytic-centre method keeping at most ``max_cuts`` cuts, one query at a time: the
    loop of :func:`memopt.optim.cutting_plane.limited_memory_cutting_plane` (without its cycle
    test, a stopping rule), restartable from a :class:`CutState`."""

    def __init__(self, dim: int, max_cuts: int, radius: float = 1.0, state: CutState | None = None):
        self.dim, self.max_cuts, self.radius = integer("dim", dim), integer("max_cuts", max_cuts), float(radius)
        if state is None:
            state = CutState(np.zeros((0, dim)), np.zeros(0), np.zeros(dim), np.inf)
        self.state = state.copy()
        self.factor = hessian_factor(state.normals, state.offsets, self.radius, state.centre)
        self.stopped = False

    @property
    def query(self) -> np.ndarray:
        return self.state.centre

    def tell(self, f: float, g: np.ndarray) -> None:
        """Take the oracle's answer at :attr:`query` and move to the next centre."""
        s = self.state
        s.best = min(s.best, float(f))
        size = np.linalg.norm(g)
        if size == 0:
            self.stopped = True  # 0 is a subgradient: the centre is a minimiser
            return
        normal = g / size
        half = solve_triangular(self.factor, normal, trans="T")
        dikin = float(np.linalg.norm(half))
        depth = min((f - s.best) / size, 0.5 * dikin)
        start = s.centre - 0.75 * solve_triangular(self.factor, half) / dikin
        normals, offsets = s.normals, s.offsets
        if offsets.size >= self.max_cuts:
            slack = offsets - normals @ s.centre
            scaled = np.linalg.solve(self.factor.T, (normals / slack[:, None]).T)
            drop = int(np.argmin(np.einsum("ij,ij->j", scaled, scaled)))  # smallest leverage
            normals, offsets = np.delete(normals, drop, axis=0), np.delete(offsets, drop)
        normals = np.vstack([normals, normal])
        offsets = np.append(offsets, normal @ s.centre - depth)
        centre, factor = analytic_centre(normals, offsets, self.radius, start)
        if centre is None:
            self.stopped = True
            return
        self.state = CutState(normals, offsets, centre, s.best)
        self.factor = factor


# -- F's oracle, built on the game's oracle ------------------------------------------------------
class HardOracle:
    """F's first-order oracle computed from the game's oracle (which holds ``A``) and the
    player's own Nemirovski vectors: the game's answer g = ±a_j gives ||A x||_inf = |<g, x>|.
    The same subgradient as :meth:`HardFunction.oracle` (the barrier wins ties, the first
    maximal piece otherwise)."""

    def __init__(self, oracle: Oracle, F: HardFunction):
        self.oracle, self.F = oracle, F

    def __call__(self, x) -> tuple[float, np.ndarray, np.ndarray, int]:
        """(F(x), a subgradient, the game's answer g, the active piece or -1 for the barrier)."""
        F = self.F
        g = self.oracle.query(x[None])[0]
        barrier = F.eta * abs(float(g @ x)) - F.rho
        pieces = F.V @ x - F.offsets
        i = int(np.argmax(pieces))
        if barrier >= pieces[i]:
            return F.scale * barrier, F.scale * F.eta * g, g, -1
        return F.scale * float(pieces[i]), F.scale * F.V[i], g, i


# -- messages ------------------------------------------------------------------------------------
def _write_floats(writer: MessageWriter, values) -> None:
    words = np.ascontiguousarray(np.asarray(values, dtype=np.float64)).reshape(1, -1).view(np.uint64)
    writer.write_unsigned((words >> np.uint64(32)).astype(np.int64), 32)
    writer.write_unsigned((words & np.uint64(0xFFFFFFFF)).astype(np.int64), 32)


def _read_floats(reader: MessageReader, count: int) -> np.ndarray:
    high = reader.read_unsigned(count, 32).astype(np.uint64)
    low = reader.read_unsigned(count, 32).astype(np.uint64)
    return ((high << np.uint64(32)) | low).view(np.float64)[0]


def count_bits(max_cuts: int) -> int:
    """Bits for the number of kept cuts, 0..max_cuts."""
    return int(max_cuts).bit_length()


def message_budget(dim: int, max_cuts: int, n_pieces: int) -> int:
    """The budget M of the reduction's player: the optimizer's largest state, m (d + 1) + d + 1
    floats of 64 bits, plus the number of kept cuts and one bit per Nemirovski piece (revealed
    before the block or not)."""
    return BITS_PER_FLOAT * (max_cuts * (dim + 1) + dim + 1) + count_bits(max_cuts) + n_pieces


def encode_state(state: CutState, seen: np.ndarray, max_cuts: int) -> Message:
    """The message: the number of kept cuts, the cuts, the centre and the best value (each float
    exactly), and the pieces revealed so far (one bit each)."""
    dim, n_pieces = state.centre.size, seen.size
    writer = MessageWriter(1, message_budget(dim, max_cuts, n_pieces))
    writer.write_unsigned(np.array([[state.offsets.size]]), count_bits(max_cuts))
    _write_floats(writer, np.concatenate([state.normals.ravel(), state.offsets, state.centre, [state.best]]))
    writer.write_unsigned(seen.astype(np.int64)[None], 1)
    return writer.finish()


def decode_state(message: Message, dim: int, max_cuts: int, n_pieces: int) -> tuple[CutState, np.ndarray]:
    reader = MessageReader(message)
    cuts = int(reader.read_unsigned(1, count_bits(max_cuts))[0, 0])
    floats = _read_floats(reader, cuts * (dim + 1) + dim + 1)
    normals = floats[: cuts * dim].reshape(cuts, dim)
    offsets = floats[cuts * dim: cuts * (dim + 1)]
    centre, best = floats[cuts * (dim + 1): -1], float(floats[-1])
    seen = reader.read_unsigned(n_pieces, 1)[0].astype(bool)
    return CutState(normals, offsets, centre, best), seen


# -- the run and the transcript --------------------------------------------------------------------
@dataclass
class Run:
    """The optimizer's run on F (the player's first phase, holding A)."""

    states: list[CutState]  # the state before each query
    points: np.ndarray  # (T, d)
    pieces: np.ndarray  # (T,): the active piece, -1 where the barrier is the maximum
    new: np.ndarray  # (T,) bool: the query revealed a piece not revealed before


def run_optimizer(F: HardFunction, max_cuts: int, queries: int) -> Run:
    """Run the m-cut method on F for at most ``queries`` queries, F's oracle built on a private
    copy of the game's oracle (the player holds A in this phase)."""
    queries = integer("queries", queries)
    oracle = HardOracle(Oracle(F.A.astype(np.int8)), F)
    stepper = CuttingPlaneStepper(F.dim, max_cuts)
    states, points, pieces = [], [], []
    while len(points) < queries and not stepper.stopped:
        states.append(stepper.state.copy())
        x = stepper.query.copy()
        f, g, _, piece = oracle(x)
        points.append(x)
        pieces.append(piece)
        stepper.tell(f, g)
    pieces = np.array(pieces, dtype=np.int64)
    new = np.array([p >= 0 and p not in pieces[:t] for t, p in enumerate(pieces)], dtype=bool)
    return Run(states, np.array(points), pieces, new)


def blocks(run: Run, k: int) -> list[tuple[int, int]]:
    """Every block [start, end) that starts at the first query or right after a query that
    revealed a new piece, and ends with the k-th new piece revealed from its start on."""
    reveals = np.flatnonzero(run.new)
    starts = [0] + [int(t) + 1 for t in reveals]
    out = []
    for start in starts:
        later = reveals[reveals >= start]
        if later.size >= k:
            out.append((start, int(later[k - 1]) + 1))
    return out


@dataclass(frozen=True)
class Transcript:
    """The game the reduction plays: its message, its queries and its answer, judged."""

    d: int
    k: int
    max_cuts: int
    budget: int
    block: tuple[int, int]  # the block's queries in the optimizer's run, [start, end)
    message: Message
    points: np.ndarray  # (q, d): every game query (every query of the block)
    answers: np.ndarray  # (q, d): the game oracle's answers g = ±a_j
    barrier: np.ndarray  # (q,) bool: the barrier was F's maximum, the query revealed a row
    outputs: np.ndarray  # (k, d): the points that revealed new pieces
    verdict: Verdict
    #: The restarted block made exactly the first run's queries.
    replayed: bool

    @property
    def queries(self) -> int:
        return int(self.points.shape[0])

    @property
    def rows_revealed(self) -> int:
        """Queries whose subgradient came from the barrier: each reveals a row of A."""
        return int(self.barrier.sum())

    @property
    def distinct_rows(self) -> int:
        """How many different rows (up to sign) the barrier queries revealed."""
        rows = self.answers[self.barrier]
        return int(np.unique(rows * rows[:, :1], axis=0).shape[0]) if rows.size else 0

    @property
    def won(self) -> bool:
        return bool(self.verdict.won[0]) and self.message.size <= self.budget


def play_block(F: HardFunction, run: Run, block: tuple[int, int], max_cuts: int, k: int) -> Transcript:
    """The player's game for one block of ``run``: write the state, restart, re-run, judge."""
    d = F.dim
    check_parameters(d, k)
    start, end = block
    seen = np.zeros(F.n_pieces, dtype=bool)
    seen[run.pieces[:start][run.pieces[:start] >= 0]] = True
    message = encode_state(run.states[start], seen, max_cuts)
    # -- A is taken away: from here on only the message, the public V and the game's oracle
    game_oracle = Oracle(F.A.astype(np.int8), record=True)
    hard = HardOracle(game_oracle, F)
    state, seen = decode_state(message, d, max_cuts, F.n_pieces)
    stepper = CuttingPlaneStepper(d, max_cuts, state=state)
    points, answers, barrier, outputs = [], [], [], []
    while len(outputs) < k and not stepper.stopped and len(points) < end - start:
        x = stepper.query.copy()
        f, g, a, piece = hard(x)
        points.append(x)
        answers.append(a)
        barrier.append(piece < 0)
        if piece >= 0 and not seen[piece]:
            seen[piece] = True
            outputs.append(x)
        stepper.tell(f, g)
    points = np.array(points)
    replayed = points.shape == run.points[start:end].shape and np.array_equal(points, run.points[start:end])
    Y = np.zeros((k, d))
    Y[: len(outputs)] = outputs  # a missing answer is the zero vector, which loses
    return Transcript(d, k, max_cuts, message_budget(d, max_cuts, F.n_pieces), block, message, points,
                      np.array(answers), np.array(barrier, dtype=bool), Y,
                      judge(F.A.astype(np.int8), Y[None]), bool(replayed))


def reduce(F: HardFunction, max_cuts: int, k: int, queries: int) -> list[Transcript]:
    """The reduction for every block of the optimizer's run that reveals ``k`` new pieces
    (empty if the run reveals fewer than ``k``): one :class:`Transcript` per block. The
    proof's player picks one block; :func:`best_block` is the one with the fewest queries."""
    run = run_optimizer(F, max_cuts, queries)
    return [play_block(F, run, block, max_cuts, k) for block in blocks(run, k)]


def best_block(transcripts: list[Transcript]) -> Transcript | None:
    """The transcript with the fewest game queries (the earliest on ties), None if none."""
    return min(transcripts, key=lambda t: (t.queries, t.block[0])) if transcripts else None
