"""Exercise ex-icl-trained-newton-line (chapter: A trained transformer against Newton's method).

Treat the predictions of Iterative Newton's step k (k = 2, 4, 6) as if they were a layer's and
match each to gradient descent (step 1/lambda_max) by Fu et al.'s similarity of errors.

Prediction: each Newton step squares the residual of every eigendirection, which GD matches only
by doubling its steps, so the matched GD step grows faster than linearly in k: the gap from
k = 4 to 6 is larger than the gap from k = 2 to 4.
"""

import numpy as np

from memopt.experiments.icl_trained import (
    gd_predictions,
    matched_steps,
    newton_predictions,
    similarity_of_errors,
)
from memopt.problems.icl import isotropic_prompts

xs, ys, _ = isotropic_prompts(np.random.default_rng(0), 200, 12, 5)
targets = ys[:, 1:]
times = np.unique(np.round(np.geomspace(1, 2048, 60)).astype(int))
newton = newton_predictions(xs, ys, 6)
gd = gd_predictions(xs, ys, times)
matched = {}
for k in (2, 4, 6):
    similarity = similarity_of_errors(newton[k][None], gd, targets)
    matched[k] = int(matched_steps(similarity, times))
print("GD steps matched to Newton steps 2, 4, 6:", matched)
assert matched[6] - matched[4] > matched[4] - matched[2] > 0, matched
