"""The Orthogonal Vector Game against independent references: finite differences and the
subgradient inequality for the oracle, least-squares projections and explicit loops for the
judge, hand-counted message sizes, and the chapter's experiment at a tiny scale."""

import copy
import dataclasses
import json

import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memopt.experiments import ovg as experiment
from memopt.games import codec, ovg, players


def linf(A, x):
    return np.abs(A @ x).max()


def orthonormal_null_basis(A):
    """Null space of one A from scipy, independently of the library's QR route."""
    from scipy.linalg import null_space

    return null_space(A.astype(float)).T


@pytest.fixture
def A16():
    return ovg.draw_matrices(16, 1, seed=3)[0]


# -- the oracle --------------------------------------------------------------------------------
def test_matrices_are_signs_of_the_games_shape():
    A = ovg.draw_matrices(12, 5, seed=0)
    assert A.shape == (5, 6, 12) and set(np.unique(A)) == {-1, 1}
    np.testing.assert_array_equal(A, ovg.draw_matrices(12, 5, seed=0))


def test_subgradient_matches_finite_differences(A16):
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = rng.standard_normal(16)
        g = ovg.subgradient(A16[None].astype(float), x[None])[0]
        h = 1e-7
        numeric = np.array([(linf(A16, x + h * e) - linf(A16, x - h * e)) / (2 * h) for e in np.eye(16)])
        np.testing.assert_allclose(g, numeric, atol=1e-6)  # a random x has a unique maximising row


def test_subgradient_is_a_signed_row_satisfying_the_subgradient_inequality(A16):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((50, 16))
    G = ovg.subgradient(np.repeat(A16[None].astype(float), 50, axis=0), X)
    for x, g in zip(X, G):
        j = np.argmax(np.abs(A16 @ x))
        np.testing.assert_array_equal(g, np.sign(A16[j] @ x) * A16[j])
        assert g @ x == pytest.approx(linf(A16, x))
        for z in rng.standard_normal((20, 16)):
            assert linf(A16, z) >= linf(A16, x) + g @ (z - x) - 1e-12


def test_subgradient_at_zero_and_on_ties_takes_the_first_row_with_sign_plus(A16):
    g = ovg.subgradient(A16[None].astype(float), np.zeros((1, 16)))[0]
    np.testing.assert_array_equal(g, A16[0])
    A = np.array([[[1, 1, 1, 1], [1, -1, 1, -1]]], float)
    np.testing.assert_array_equal(ovg.subgradient(A, np.array([[1.0, 0, 0, 0]]))[0], A[0, 0])


def test_oracle_counts_queries_per_trial_and_checks_shapes():
    A = ovg.draw_matrices(8, 3, seed=0)
    oracle = ovg.Oracle(A, record=True)
    oracle.query(np.ones((2, 8)), trials=[0, 2])
    oracle.query(np.ones((3, 8)))
    np.testing.assert_array_equal(oracle.queries, [2, 1, 2])
    assert len(oracle.history) == 2
    with pytest.raises(ValueError, match="x must have shape"):
        oracle.query(np.ones((3, 7)))
    with pytest.raises(ValueError, match="finite"):
        oracle.query(np.full((3, 8), np.nan))


# -- the judge ---------------------------------------------------------------------------------
def test_judge_matches_direct_loops_and_least_squares_projections():
    rng = np.random.default_rng(2)
    A = ovg.draw_matrices(10, 4, seed=2)
    Y = rng.standard_normal((4, 3, 10)) * rng.uniform(0.1, 10, (4, 3, 1))
    verdict = ovg.judge(A, Y)
    for t in range(4):
        for i in range(3):
            y = Y[t, i] / np.linalg.norm(Y[t, i])
            assert verdict.residuals[t, i] == pytest.approx(linf(A[t], y), rel=1e-12)
            if i:
                P = Y[t, :i].T
                coef = np.linalg.lstsq(P, y, rcond=None)[0]
                assert verdict.projections[t, i] == pytest.approx(np.linalg.norm(P @ coef), abs=1e-12)
        assert verdict.projections[t, 0] == 0


def test_null_vectors_win_and_match_scipy():
    A = ovg.draw_matrices(16, 3, seed=4)
    Y = players.null_vectors(A, 8)
    assert ovg.judge(A, Y).won.all()
    for t in range(3):
        reference = orthonormal_null_basis(A[t])
        # same space: projecting ours on scipy's basis loses nothing
        np.testing.assert_allclose(np.linalg.norm(Y[t] @ reference.T, axis=1), 1, atol=1e-12)


def tilted(A, y, ratio):
    """y plus a row-space component giving ||A y'||_inf / ||y'|| = ratio d^-4 exactly."""
    d = A.shape[1]
    u = A[0] / np.linalg.norm(A[0])
    c = ratio * d**-4.0
    t = c / np.sqrt(linf(A, u) ** 2 - c**2)
    return y + t * u


@pytest.mark.parametrize("d", [8, 16, 64])
def test_judge_near_miss_orthogonality(d):
    A = ovg.draw_matrices(d, 1, seed=d)
    y = players.null_vectors(A, 1)[0, 0]
    for ratio, expected in [(1.001, False), (0.999, True)]:
        verdict = ovg.judge(A, tilted(A[0], y, ratio)[None, None])
        assert verdict.residuals[0, 0] * d**4 == pytest.approx(ratio, rel=1e-6)
        assert bool(verdict.orthogonal[0, 0]) is expected and bool(verdict.won[0]) is expected


@pytest.mark.parametrize("d", [8, 16, 64])
def test_judge_near_miss_independence(d):
    A = ovg.draw_matrices(d, 1, seed=d + 1)
    u, w = players.null_vectors(A, 2)[0]
    bound = 1 - d**-2.0
    for cosine, expected in [(bound * (1 + 1e-6), False), (bound * (1 - 1e-6), True)]:
        second = cosine * u + np.sqrt(1 - cosine**2) * w
        verdict = ovg.judge(A, np.stack([u, second])[None])
        assert verdict.projections[0, 1] == pytest.approx(cosine, rel=1e-12)
        assert verdict.orthogonal.all() and bool(verdict.won[0]) is expected


def test_judge_rejects_vectors_in_the_span_of_earlier_ones_and_zero_vectors():
    A = ovg.draw_matrices(16, 1, seed=5)
    Y = players.null_vectors(A, 3)
    spanned = Y.copy()
    spanned[0, 2] = 0.3 * Y[0, 0] - 2.0 * Y[0, 1]
    verdict = ovg.judge(A, spanned)
    assert verdict.orthogonal.all() and not verdict.independent[0, 2] and not verdict.won[0]
    zero = Y.copy()
    zero[0, 1] = 0
    verdict = ovg.judge(A, zero)
    assert not verdict.orthogonal[0, 1] and not verdict.independent[0, 1] and not verdict.won[0]


@settings(max_examples=25, deadline=None)
@given(st.floats(min_value=-250, max_value=250), st.sampled_from([np.float32, np.float64]))
def test_judge_is_scale_invariant_even_at_extreme_scales(exponent, dtype):
    A = ovg.draw_matrices(8, 1, seed=6)
    Y = players.null_vectors(A, 2) + np.array([0.0, 1e-3])[None, :, None] * A[:, :1].astype(float)
    scaled = (Y * 10.0**exponent)
    if dtype is np.float32:
        if not 1e-30 < 10.0**exponent < 1e30:
            return
        scaled = scaled.astype(np.float32)
    reference, verdict = ovg.judge(A, Y), ovg.judge(A, scaled)
    rtol = 1e-5 if dtype is np.float32 else 1e-10
    np.testing.assert_allclose(verdict.residuals[0, 1], reference.residuals[0, 1], rtol=rtol)
    np.testing.assert_array_equal(verdict.won, reference.won)


# -- messages ----------------------------------------------------------------------------------
@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 63), st.integers(0, 4)), min_size=1, max_size=6), st.integers(0, 2**32))
def test_messages_round_trip_with_exact_sizes(fields, seed):
    rng = np.random.default_rng(seed)
    trials = 3
    data = [(w, rng.integers(0, 2**w, size=(trials, n), dtype=np.uint64).astype(np.int64)
             if w < 63 else rng.integers(0, 2**62, size=(trials, n)) * 2 + 1) for w, n in fields]
    total = sum(w * n for w, n in fields)
    writer = codec.MessageWriter(trials, total)
    for w, values in data:
        writer.write_unsigned(values, w)
    message = writer.finish()
    assert message.size == total == message.bits.shape[1] and set(np.unique(message.bits)) <= {0, 1}
    reader = codec.MessageReader(message)
    for w, values in data:
        np.testing.assert_array_equal(reader.read_unsigned(values.shape[1], w), values)
    with pytest.raises(ValueError, match="runs past"):
        reader.read_unsigned(1, 1)


def test_a_message_over_the_budget_is_refused():
    writer = codec.MessageWriter(2, capacity=10)
    writer.write_signs(np.ones((2, 10)))
    with pytest.raises(ovg.MessageTooLong, match="over the budget M = 10"):
        writer.write_signs(np.ones((2, 1)))
    assert writer.finish().size == 10
    with pytest.raises(ValueError, match=r"fit in 3 bits"):
        codec.MessageWriter(1, 99).write_unsigned(np.array([[8]]), 3)
    with pytest.raises(TypeError, match="integers"):
        codec.MessageWriter(1, 99).write_unsigned(np.array([[0.5]]), 3)


@pytest.mark.parametrize("d, k", [(16, 2), (32, 4)])
def test_each_players_message_has_the_hand_counted_size(d, k):
    A = ovg.draw_matrices(d, 2, seed=7)
    width = int(np.ceil(np.log2(d + 1)))
    for budget in [0, 1, d - 1, d, k * d - 1, k * d, 7 * k * d + 3, d * d, 10**5]:
        expected = {
            "memoryless": 0,
            "stores rows": min(d // 2, budget // d) * d,
            "stores answers": k * d * min(52, budget // (k * d)),
            "sketch": (d // 2) * min(d, budget // ((d // 2) * width)) * width,
        }
        for player in (players.Memoryless(), players.RowStorer(), players.AnswerStorer(), players.SketchPlayer()):
            result = ovg.play(player, A, k, budget)
            assert result.message_bits == expected[player.name] <= budget
            assert player.message_bits(d, k, budget) == result.message_bits


def test_stored_rows_and_sketch_decode_exactly():
    A = ovg.draw_matrices(16, 2, seed=8)
    message = players.RowStorer().encode(A, 2, 5 * 16)
    rows = codec.MessageReader(message).read_signs(5 * 16).reshape(2, 5, 16)
    np.testing.assert_array_equal(rows, A[:, :5])
    player = players.SketchPlayer()
    s = player.projections(16, 3 * 8 * 5)
    codes = codec.MessageReader(player.encode(A, 2, 3 * 8 * 5)).read_unsigned(8 * s, 5)
    np.testing.assert_array_equal((2 * codes - 16).reshape(2, 8, s), A @ player.sketch_matrix(16, s))


# -- quantisation ------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.integers(1, codec.MAX_COORDINATE_BITS),
       st.lists(st.floats(-1, 1, allow_nan=False), min_size=1, max_size=20))
def test_quantisation_error_is_at_most_two_to_minus_b(bits, values):
    values = np.array(values + [-1.0, 1.0, 0.0])
    codes = codec.quantise(values, bits)
    assert codes.min() >= 0 and codes.max() < 2**bits
    error = np.abs(codec.dequantise(codes, bits) - values).max()
    assert error <= codec.quantisation_error(bits) == 2.0**-bits + 2.0**-53


@pytest.mark.parametrize("d", [16, 32, 64, 128])
def test_required_bits_is_the_smallest_b_meeting_the_tolerance(d):
    b = codec.required_bits(d, 0.25 * d**-4.0)
    assert b == 5 * int(np.log2(d)) + 1  # d 2^-b <= d^-4 needs 2^b >= d^5, plus room for round-off
    assert codec.orthogonality_bound(d, b, 0.25 * d**-4.0) <= d**-4.0
    assert codec.orthogonality_bound(d, b - 1, 0.25 * d**-4.0) > d**-4.0
    assert players.AnswerStorer.guaranteed_bits(d) == b


def test_the_quantisation_bound_holds_for_actual_null_vectors():
    A = ovg.draw_matrices(32, 8, seed=9)
    Y = players.null_vectors(A, 4)
    for bits in (4, 12, 26):
        verdict = ovg.judge(A, codec.dequantise(codec.quantise(Y, bits), bits))
        assert verdict.residuals.max() <= codec.orthogonality_bound(32, bits, 1e-14)


# -- players -----------------------------------------------------------------------------------
@pytest.mark.parametrize("d, k", [(8, 1), (16, 2), (32, 16)])
def test_memoryless_player_wins_with_exactly_d_over_2_queries(d, k):
    A = ovg.draw_matrices(d, 16, seed=d)
    full = np.linalg.matrix_rank(A.astype(float)) == d // 2
    result = ovg.play(players.Memoryless(), A, k, 0)
    assert result.won.all()
    np.testing.assert_array_equal(result.queries[full], d // 2)


def test_memoryless_player_stops_early_on_a_rank_deficient_matrix():
    A = ovg.draw_matrices(16, 1, seed=10)
    A[0, 1] = A[0, 0]
    A[0, 2] = -A[0, 0]  # rank 6 = d/2 - 2
    result = ovg.play(players.Memoryless(), A, 4, 0)
    assert result.won.all() and result.queries[0] == 6 + 1  # six rows, then one certifying query


@pytest.mark.parametrize("rows", [0, 3, 8])
def test_row_storer_needs_d_over_2_minus_r_queries(rows):
    A = ovg.draw_matrices(16, 8, seed=11)
    result = ovg.play(players.RowStorer(), A, 3, rows * 16 + 15)
    assert result.won.all()
    np.testing.assert_array_equal(result.queries, 8 - rows)


def test_answer_storer_wins_without_queries_at_the_guaranteed_precision():
    d, k = 32, 4
    A = ovg.draw_matrices(d, 8, seed=12)
    b = players.AnswerStorer.guaranteed_bits(d)
    result = ovg.play(players.AnswerStorer(), A, k, k * d * b)
    assert result.won.all() and (result.queries == 0).all()
    repaired = ovg.play(players.AnswerStorer(), A, k, k * d * 3)  # too coarse: checks and repairs
    assert repaired.won.all() and (repaired.queries >= d // 2).all()
    empty = ovg.play(players.AnswerStorer(), A, k, k * d - 1)  # b = 0: plays memoryless
    np.testing.assert_array_equal(empty.queries, ovg.play(players.Memoryless(), A, k, 0).queries)


def test_sketch_player_loses_below_and_wins_at_d_over_2_plus_k_projections():
    d, k = 16, 2
    A = ovg.draw_matrices(d, 8, seed=13)
    per_projection = (d // 2) * 5
    below = ovg.play(players.SketchPlayer(), A, k, (d // 2 + k - 1) * per_projection)
    assert not below.verdict.orthogonal.all(axis=1).any() and (below.queries == 0).all()
    at = ovg.play(players.SketchPlayer(), A, k, (d // 2 + k) * per_projection)
    assert at.won.all() and (at.queries == 0).all()


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: ovg.draw_matrices(15, 2), ValueError, "d must be an even integer"),
        (lambda: ovg.check_parameters(16, 9), ValueError, r"k must satisfy 1 <= k <= d/2 = 8"),
        (lambda: ovg.check_parameters(16, 0), ValueError, "k must satisfy"),
        (lambda: ovg.check_parameters(16, 2, -1), ValueError, r"budget \(message bits M\) must be >= 0"),
        (lambda: ovg.check_parameters(16, 2, 3.5), TypeError, "budget must be an integer"),
        (lambda: ovg.check_parameters(16.0), TypeError, "d must be an integer"),
        (lambda: ovg.play(players.Memoryless(), ovg.draw_matrices(8, 1), 5, 0), ValueError, "k must satisfy"),
        (lambda: ovg.play(players.RowStorer(), ovg.draw_matrices(8, 1), 2, -8), ValueError, "budget"),
        (lambda: ovg.judge(np.zeros((1, 4, 8)), np.ones((1, 1, 8))), ValueError, r"entries in \{-1, \+1\}"),
        (lambda: ovg.judge(np.ones((1, 3, 8)), np.ones((1, 1, 8))), ValueError, "d/2 = 4 rows"),
        (lambda: ovg.judge(np.ones((1, 4, 8)), np.ones((1, 1, 7))), ValueError, "Y must have shape"),
        (lambda: ovg.judge(np.ones((1, 4, 8)), np.full((1, 1, 8), np.nan)), ValueError, "finite"),
        (lambda: codec.quantise(np.array([1.5]), 4), ValueError, r"\[-1, 1\]"),
        (lambda: codec.quantise(np.array([0.5]), 0), ValueError, "bits per coordinate"),
        (lambda: codec.dequantise(np.array([1]), 53), ValueError, "bits per coordinate"),
        (lambda: codec.required_bits(16, 16.0**-4), ValueError, "residual must lie"),
        (lambda: codec.MessageWriter(2, -1), ValueError, "capacity"),
        (lambda: ovg.draw_matrices(8, 0), ValueError, "trials must be >= 1"),
    ],
)
def test_bad_input_is_refused_clearly(call, error, match):
    with pytest.raises(error, match=match):
        call()


# -- the chapter's experiment at a tiny scale --------------------------------------------------
TINY = experiment.Config(dims=(8, 16), k_divisor=4, trials=4, budgets_per_decade=2, reduction_d=8,
                         reduction_pieces=4, reduction_k=1, reduction_cut_multiples=(1.0, 2.0),
                         reduction_instances=2, reduction_queries=80)


@pytest.fixture(scope="module")
def result():
    return experiment.run(TINY)


def test_experiment_claim_quantities_match_direct_counts(result):
    for d, runs in result.runs.items():
        k = d // 4
        assert runs.k == k and runs.b_star == 5 * int(np.log2(d)) + 1
        assert runs.memoryless_success() == np.mean(runs.memoryless.won & (runs.memoryless.queries <= d // 2))
        below = [g for g in runs.all_games() if g.budget < k * d]
        assert {g.player for g in below} == {"memoryless", "stores rows", "stores answers", "sketch"}
        fraction, fewest = runs.below_kd()
        ok = [(not w) or q >= d // 2 - k for g in below for w, q in zip(g.won, g.queries)]
        assert fraction == np.mean(ok)
        assert fewest == min(q for g in below for w, q in zip(g.won, g.queries) if w)
        fraction, count = runs.answers_from_bstar()
        assert count >= 2 and fraction == 1.0


def test_per_trial_claim_quantities_agree_with_the_fractions(result):
    """Each claim's per-trial figure, checked on its range over the trials, says the same as
    the fraction of trials (or runs) the first version of the chapter measured."""
    for d, runs in result.runs.items():
        k, half, trials = runs.k, d // 2, TINY.trials
        queries = runs.memoryless_queries()
        assert queries.shape == (trials,)
        assert (queries <= half).mean() == runs.memoryless_success()
        estimate = runs.memoryless_estimate()
        assert (estimate.value, estimate.low, estimate.high) == (np.median(queries), queries.min(), queries.max())
        assert f"over {trials} trials" in estimate.method
        answers = runs.answers_queries_from_bstar()
        assert (answers == 0).mean() == runs.answers_from_bstar()[0]
        fewest = runs.fewest_winning_queries_below_kd()
        assert fewest.min() == runs.below_kd()[1]
        assert (fewest >= half - k).all() == (runs.below_kd()[0] == 1.0)
        ratios = runs.sketch_best_ratio_below_kd()
        games = [g for g in runs.games["sketch"] if g.budget < runs.kd]
        fails_everywhere = np.all([~g.verdict.orthogonal.all(axis=1) for g in games], axis=0)
        np.testing.assert_array_equal(ratios > 1, fails_everywhere)
        for estimate in (runs.answers_estimate(), runs.below_kd_estimate(), runs.sketch_estimate()):
            assert estimate.low <= estimate.value <= estimate.high


def test_a_lost_trial_counts_as_infinitely_many_queries(result):
    runs = result.runs[8]
    lost = copy.deepcopy(runs)
    won = lost.memoryless.verdict.orthogonal.copy()
    won[0] = False
    lost.memoryless = dataclasses.replace(lost.memoryless,
                                          verdict=dataclasses.replace(lost.memoryless.verdict, orthogonal=won))
    assert np.isinf(lost.memoryless_queries()[0]) and np.isfinite(lost.memoryless_queries()[1:]).all()
    assert lost.memoryless_estimate().high == np.inf


def test_envelope_never_rises_with_more_bits_and_reaches_zero(result):
    for d, runs in result.runs.items():
        budgets, envelope = runs.envelope()
        assert np.all(np.diff(budgets) > 0) and np.all(np.diff(envelope) <= 0)
        assert envelope[0] == d // 2 and envelope[-1] == 0
        assert envelope[budgets >= d * d // 2].max() == 0  # all rows stored: no query


def test_budget_grid_contains_the_special_sizes():
    grid = experiment.budget_grid(32, 4, 3)
    b = players.AnswerStorer.guaranteed_bits(32)
    for size in (0, 127, 128, 512, 128 * b, experiment.sketch_threshold(32, 4)):
        assert size in grid


def test_figures_are_labelled_and_summary_is_json(result):
    for fig in experiment.figures(result).values():
        for ax in fig.axes:
            if ax.get_visible() and ax.get_label() != "<colorbar>":
                assert ax.get_xlabel() and ax.get_ylabel()
        plt.close(fig)
    summary = experiment.summary(result)
    json.dumps(summary)
    assert set(summary) == {"8", "16", "reduction"}


def test_reduction_quantities_match_direct_counts(result):
    red = result.reduction
    assert red.cuts == [8, 16] and red.small_memory() == [8] and red.large_memory() == [16]
    for m in red.cuts:
        for ts, needed in zip(red.transcripts[m], red.rows_needed(m)):
            winners = [t.rows_revealed for t in ts if t.won]
            assert needed == (min(winners) if winners else np.inf)
            for t in ts:
                assert t.rows_revealed == int(t.barrier.sum()) <= t.queries == t.block[1] - t.block[0]
    everything = red.all_transcripts()
    assert red.rule_fraction() == np.mean([t.replayed and t.message.size <= t.budget for t in everything])
    later = [t for t in everything if t.block[0] > 0]
    assert red.later_win_fraction() == (np.mean([t.won for t in later]) if later else 0.0)


@pytest.mark.parametrize(
    "changes, match",
    [({"dims": (15,)}, "d must be an even"), ({"k_divisor": 1}, "k_divisor >= 2"),
     ({"dims": (8,), "k_divisor": 16}, "every d >= k_divisor"), ({"trials": 1}, "trials >= 2"),
     ({"small_k": 5}, "k must satisfy"), ({"reduction_pieces": 2}, "must exceed reduction_k"),
     ({"reduction_instances": 1}, "reduction_instances >= 2"), ({"reduction_d": 9}, "d must be an even")],
)
def test_config_rejects_settings_the_game_excludes(changes, match):
    with pytest.raises(ValueError, match=match):
        experiment.Config(**changes)
