"""Exercise ex-landscape-orthogonal (chapter: Loss landscapes).

Draw pairs of filter-normalised directions for untrained classifiers of hidden widths 16, 64
and 256. How does the typical |cos(d1, d2)| change with the number of weights p?

Prediction: <d1, d2> is a sum of p independent zero-mean terms, so |cos| falls like 1/sqrt(p)
and |cos| sqrt(p) stays of order one. The check: the mean of |cos| sqrt(p) over 30 pairs lies
in [0.4, 2.5] at every width, and the mean |cos| falls as the width grows.
"""

import numpy as np

from memopt.experiments.landscape import cosine
from memopt.nets import MLPClassifier
from memopt.nets.curvature import filter_normalised_direction

pairs = 30
means = []
for width in (16, 64, 256):
    network = MLPClassifier(64, 10, (width, width), seed=0, dtype=np.float64)
    rng = np.random.default_rng(width)
    p = network.params.size
    values = [abs(cosine(filter_normalised_direction(network.params, rng),
                         filter_normalised_direction(network.params, rng))) for _ in range(pairs)]
    mean = float(np.mean(values))
    means.append(mean)
    print(f"width {width:>3}: p = {p:>6}, mean |cos| = {mean:.2e}, "
          f"mean |cos| sqrt(p) = {mean * np.sqrt(p):.2f}")
    if not 0.4 <= mean * np.sqrt(p) <= 2.5:
        raise AssertionError(f"width {width}: mean |cos| sqrt(p) = {mean * np.sqrt(p):.2f} "
                             "is outside [0.4, 2.5]")
if not means[0] > means[1] > means[2]:
    raise AssertionError(f"mean |cos| does not fall with the width: {means}")
