"""Exercise ex-ovg-budget-kd (chapter: The Orthogonal Vector Game).

With a message of exactly M = k d bits, which of the three players that use memory wins with
the fewest queries, and how many does it need? Predict, then play.

Prediction: the rows player stores floor(M/d) = k rows and learns the other d/2 - k rows, one
query each; the answer-storing player has b = floor(M/(k d)) = 1 bit per coordinate, far below
b*, so its checks fail and it learns rows (at least d/2 - k queries, up to d/2 + k); the
sketching player holds s = floor(M / (w d/2)) < d/2 + k projections and loses. So the rows
player wins, with exactly d/2 - k queries; one bit fewer (M = k d - 1) costs it one more query.
"""

import numpy as np

from memopt.games import ovg, players

d, k, trials = 32, 4, 8
A = ovg.draw_matrices(d, trials, seed=np.random.default_rng(0))
strategies = {
    "rows": players.RowStorer(),
    "answers": players.AnswerStorer(),
    "sketch": players.SketchPlayer(),
}

results = {}
for budget in (k * d - 1, k * d):
    for name, player in strategies.items():
        game = ovg.play(player, A, k, budget)
        # queries of a trial the player lost count as infinitely many
        worst = float(np.where(game.won, game.queries, np.inf).max())
        results[name, budget] = worst
        print(
            f"M = {budget:>4d} bits, {name:>8}: won {int(game.won.sum())}/{trials} "
            "trials, "
            f"most queries in a trial {worst}"
        )

best = min(strategies, key=lambda name: results[name, k * d])
if best != "rows" or results["rows", k * d] != d // 2 - k:
    raise AssertionError(
        f"expected the rows player to win every trial with d/2 - k = {d // 2 - k} "
        f"queries at M = k d; the best was {best} with {results[best, k * d]}"
    )
if results["rows", k * d - 1] != d // 2 - k + 1:
    raise AssertionError(
        f"at M = k d - 1 the rows player should need d/2 - k + 1 = {d // 2 - k + 1} "
        f"queries, it needed {results['rows', k * d - 1]}"
    )
if np.isfinite(results["sketch", k * d]):
    raise AssertionError(
        "the sketching player won a trial at M = k d, below its d/2 + k projections"
    )
if not results["answers", k * d] >= d // 2 - k:
    raise AssertionError(
        f"the answer-storing player won with fewer than d/2 - k queries at M = k d: "
        f"{results['answers', k * d]}"
    )
print(
    f"the rows player wins with d/2 - k = {d // 2 - k} queries at M = k d, "
    f"and needs one more with one bit fewer"
)
