"""Exercise ex-ovg-sketch-threshold (chapter: The Orthogonal Vector Game).

The sketching player stores A S for s public random sign vectors, w = ceil(log2(d + 1)) bits per
entry, d/2 entries per projection. Predict the smallest message with which it wins every trial
without a query, and check that one projection fewer loses.

Prediction: y = S z is exactly orthogonal to A when A S z = 0, and A S (d/2 rows, s columns)
has a k-dimensional null space only once s >= d/2 + k. So the threshold is
M = (d/2 + k) w d/2 bits; with s = d/2 + k - 1 projections there is no such z in general, and the
player fails the d^-4 orthogonality test.
"""

import math

import numpy as np

from memopt.games import ovg, players

d, k, trials = 32, 4, 8
player = players.SketchPlayer()
w = player.entry_bits(d)
if w != math.ceil(math.log2(d + 1)):
    raise AssertionError(f"entry width {w} is not ceil(log2(d + 1))")
threshold = (d // 2 + k) * w * (d // 2)
A = ovg.draw_matrices(d, trials, seed=np.random.default_rng(1))

at = ovg.play(player, A, k, threshold)
short = ovg.play(player, A, k, threshold - w * (d // 2))  # one projection fewer
ratio_at = at.verdict.residuals.max() / ovg.orthogonality_threshold(d)
ratio_short = short.verdict.residuals.max(axis=1).min() / ovg.orthogonality_threshold(d)
print(f"d = {d}, k = {k}, w = {w} bits: threshold (d/2 + k) w d/2 = {threshold} bits")
print(
    f"at the threshold: won {int(at.won.sum())}/{trials}, queries "
    f"{int(at.queries.max())}, "
    f"worst max_i |A y_i|_inf / d^-4 = {ratio_at:.3g}"
)
print(
    f"one projection fewer: won {int(short.won.sum())}/{trials}, "
    f"best trial's max_i |A y_i|_inf / d^-4 = {ratio_short:.3g}"
)

if not (at.won.all() and at.queries.max() == 0):
    raise AssertionError(
        "the sketching player should win every trial with no query at (d/2 + k) w "
        "d/2 bits"
    )
if short.won.any() or ratio_short <= 1:
    raise AssertionError(
        "with d/2 + k - 1 projections the sketching player should fail orthogonality "
        "in every trial"
    )
