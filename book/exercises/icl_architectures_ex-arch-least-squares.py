"""Exercise ex-arch-least-squares (chapter: Memory across architectures).

Before it has d examples, exact least squares does not know w. Predict the test error
of its (minimum-norm) prediction of y_{k+1} after k < d examples, for d = 6.

Prediction: the minimum-norm solution is the projection of w onto the span of the k
examples seen; the part of w outside that span, a uniformly random (d - k)-dimensional
subspace, is missing, and it carries (d - k)/d of E ||w||^2. The error of the next
prediction is therefore (d - k)/d: 1, 5/6, ..., 1/6, and 0 from k = d on. A straight
line down to zero at d, where Kaczmarz is still at (1 - 1/d)^d. The check: over 4000
prompts each measured value lies within 0.05 of (d - k)/d (three standard errors), and
the error is below 1e-20 from k = d on.
"""

import numpy as np

from memopt.experiments.icl_architectures import streaming_errors
from memopt.optim.streaming import ExactLeastSquares
from memopt.problems.icl import isotropic_prompts

d, prompts = 6, 4000
xs, ys, _ = isotropic_prompts(np.random.default_rng(0), prompts, d + 2, d)
method = ExactLeastSquares(d, trials=prompts)
measured = streaming_errors(method, xs, ys).mean(axis=0)
predicted = np.maximum(d - np.arange(d + 2), 0) / d
for k, (m, p) in enumerate(zip(measured, predicted)):
    print(f"after k = {k} examples: error {m:.3f}, predicted {p:.3f}")
if np.abs(measured[:d] - predicted[:d]).max() > 0.05:
    raise AssertionError("the error before d examples is not (d - k)/d")
if measured[d:].max() > 1e-20:
    raise AssertionError("least squares should be exact from d examples on")
