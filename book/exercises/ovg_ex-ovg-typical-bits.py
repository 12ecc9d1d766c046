"""Exercise ex-ovg-typical-bits (chapter: The Orthogonal Vector Game).

The chapter derives b* = 5 log2 d + 1 bits per coordinate from the worst case, every rounding
error aligned with a row of A, and observes that a few bits fewer pass in practice. Predict how
many bits a quantised null vector typically needs, and measure.

Prediction: rounding to cells of width 2^(1-b) moves each coordinate by an independent error
uniform on [-e, e], e = 2^-b, of variance e^2/3. So <a_j, y~ - y> is close to a Gaussian of
standard deviation e sqrt(d/3), and the largest of the N = trials k d/2 products over rows,
vectors and trials is about sqrt(2 ln N) times that. The vectors pass once
e sqrt(d/3) sqrt(2 ln N) <= d^-4, that is at
b_typ = ceil(log2(sqrt(d/3) sqrt(2 ln N) d^4)), about 4.5 log2 d + a small term.
The check: the fewest bits with which every quantised vector of every trial passed is within
one bit of b_typ, and below b*.
"""

import math

import numpy as np

from memopt.games import codec, ovg, players

d, trials = 64, 32
k = d // 8
A = ovg.draw_matrices(d, trials, seed=np.random.default_rng(2))
Y = players.null_vectors(A, k)
b_star = players.AnswerStorer.guaranteed_bits(d)

passing = None
for b in range(1, b_star + 1):
    verdict = ovg.judge(A, codec.dequantise(codec.quantise(Y, b), b))
    if (verdict.residuals <= ovg.orthogonality_threshold(d)).all():
        passing = b
        break

products = trials * k * (d // 2)
b_typ = math.ceil(
    math.log2(math.sqrt(d / 3) * math.sqrt(2 * math.log(products)) * d**4)
)
print(
    f"d = {d}, k = {k}, {trials} trials: worst case b* = {b_star}, random-walk "
    "prediction "
    f"b_typ = {b_typ}, fewest bits passing in every trial (measured) = {passing}"
)
if passing is None or abs(passing - b_typ) > 1 or passing >= b_star:
    raise AssertionError(
        f"the measured {passing} bits are not within one bit of the random-walk "
        f"prediction {b_typ} and below b* = {b_star}"
    )
