"""The reduction from the m-cut method on the hard function to a player of the game, checked
against a hand-built case in d = 4 and against the library's own optimizer and oracle."""

import numpy as np
import pytest

from memopt.games import ovg, reduction
from memopt.optim.cutting_plane import limited_memory_cutting_plane
from memopt.problems.nemirovski import HardFunction

D = 4
#: Two orthogonal rows: the null space of A is span{(1, 0, -1, 0), (0, 1, 0, -1)}.
A = np.array([[1, 1, 1, 1], [1, -1, 1, -1]], dtype=float)
#: Nemirovski vectors e_1, e_2, e_3: each has a part in A's row space, so the optimizer must
#: learn the rows before it can follow them.
V = np.eye(4)[:3]


def hand_function() -> HardFunction:
    return HardFunction(A, V, eta=D**5, rho=1.0, gamma=0.1, scale=D**-6.0)


def test_blocks_of_a_hand_built_run():
    pieces = np.array([0, -1, -1, 1, -1, 2, 3])
    new = np.array([True, False, False, True, False, True, True])
    run = reduction.Run([None] * 7, np.zeros((7, D)), pieces, new)
    # starts: 0 and after each reveal (1, 4, 6, 7); each block ends with its 2nd new piece
    assert reduction.blocks(run, 2) == [(0, 4), (1, 6), (4, 7)]
    assert reduction.blocks(run, 1) == [(0, 1), (1, 4), (4, 6), (6, 7)]


def test_hard_oracle_matches_the_hard_functions_oracle():
    F = HardFunction.draw(8, n_pieces=3, seed=5)
    oracle = reduction.HardOracle(ovg.Oracle(F.A.astype(np.int8)), F)
    rng = np.random.default_rng(0)
    null = np.linalg.svd(F.A)[2][-1]  # a point where the Nemirovski term is the maximum
    for x in [np.zeros(8), 0.3 * null, *rng.standard_normal((20, 8)) * 0.1]:
        f, g, answer, piece = oracle(x)
        f_ref, g_ref = F.oracle(x)
        assert f == pytest.approx(float(f_ref), rel=1e-12, abs=1e-300)
        np.testing.assert_allclose(g, g_ref, rtol=1e-12)
        assert piece == int(F.active_piece(x))
        j = int(np.argmax(np.abs(F.A @ x)))
        np.testing.assert_array_equal(np.abs(answer), np.abs(F.A[j]))


@pytest.mark.parametrize("max_cuts", [3, 6, 20])
def test_stepper_makes_the_library_methods_queries(max_cuts):
    F = HardFunction.draw(8, n_pieces=3, seed=2) if max_cuts == 20 else hand_function()
    asked = []

    def recording(x):
        asked.append(np.array(x, dtype=float))
        return F.oracle(x)

    limited_memory_cutting_plane(recording, F.dim, max_cuts, queries=60)
    stepper = reduction.CuttingPlaneStepper(F.dim, max_cuts)
    for x in asked:
        np.testing.assert_array_equal(stepper.query, x)
        stepper.tell(*F.oracle(stepper.query))


def test_message_round_trip_and_size():
    F = hand_function()
    run = reduction.run_optimizer(F, 6, 30)
    state = run.states[20]
    seen = np.array([True, False, True])
    message = reduction.encode_state(state, seen, 6)
    cuts = state.offsets.size
    assert message.size == 3 + 64 * (cuts * (D + 1) + D + 1) + 3  # count (0..6: 3 bits), floats, seen
    assert message.size <= reduction.message_budget(D, 6, 3) == 64 * (6 * 5 + 5) + 3 + 3
    decoded, seen_back = reduction.decode_state(message, D, 6, 3)
    for name in ("normals", "offsets", "centre"):
        np.testing.assert_array_equal(getattr(decoded, name), getattr(state, name))
    assert decoded.best == state.best
    np.testing.assert_array_equal(seen_back, seen)


def test_transcript_of_the_hand_built_case():
    """m = 6 cuts, k = 1: the run queries x = 0 (piece 1), learns both rows of A with barrier
    queries, then reveals piece 3 near the null-space direction (1, 0, -1, 0)."""
    F = hand_function()
    transcripts = reduction.reduce(F, 6, 1, 40)
    run = reduction.run_optimizer(F, 6, 40)
    assert [t.block for t in transcripts][:2] == [(0, 1), (1, 16)]
    first, second = transcripts[0], transcripts[1]
    # the block from the first query answers y_1 = x_0 = 0, which loses
    assert not first.won and not first.outputs.any()
    t = second
    assert t.replayed and t.message.size <= t.budget
    np.testing.assert_array_equal(t.points, run.points[1:16])
    # references: F's own oracle and active piece at every game query
    pieces = np.array([int(F.active_piece(x)) for x in t.points])
    np.testing.assert_array_equal(t.barrier, pieces < 0)
    assert t.rows_revealed == 14 and t.distinct_rows == 2
    for x, g in zip(t.points, t.answers):
        j = int(np.argmax(np.abs(A @ x)))
        np.testing.assert_array_equal(g, np.sign(A[j] @ x) * A[j])
    y = t.outputs[0]
    np.testing.assert_array_equal(y, t.points[-1])
    assert pieces[-1] == 2  # piece 3 (0-based 2), not revealed before the block
    unit = y / np.linalg.norm(y)
    assert np.abs(A @ unit).max() <= D**-4.0 and t.won
    assert abs(unit @ np.array([-1, 0, 1, 0]) / np.sqrt(2)) > 0.99


def test_parallel_answers_lose_on_independence():
    """k = 2 in the same case: the two revealing points both lie near the null-space direction
    (1, 0, -1, 0) (pieces e_1 and e_3 see the same direction), so the judge rejects the second."""
    F = hand_function()
    t = [t for t in reduction.reduce(F, 6, 2, 40) if t.block[0] == 1][0]
    assert t.verdict.orthogonal.all() and not t.verdict.independent[0, 1] and not t.won
    assert t.verdict.projections[0, 1] > ovg.independence_threshold(D)


def test_too_few_cuts_never_leave_the_barrier():
    """With m <= d - 1 cuts the method cannot keep both sides of both rows: the only block is
    the first query x = 0, which loses."""
    F = hand_function()
    run = reduction.run_optimizer(F, 3, 40)
    assert (run.pieces[1:] < 0).all()
    assert [(t.block, t.won) for t in reduction.reduce(F, 3, 1, 40)] == [((0, 1), False)]


def test_bad_input():
    with pytest.raises(ValueError, match="k must satisfy"):
        reduction.play_block(hand_function(), reduction.run_optimizer(hand_function(), 6, 5), (0, 1), 6, 3)
    with pytest.raises(TypeError, match="max_cuts must be an integer"):
        reduction.CuttingPlaneStepper(4, 2.5)


def test_best_block_is_the_shortest():
    transcripts = reduction.reduce(hand_function(), 6, 1, 40)
    best = reduction.best_block(transcripts)
    assert best.queries == min(t.queries for t in transcripts)
    assert reduction.best_block([]) is None
