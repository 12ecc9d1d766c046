"""Exercise ex-arch-kaczmarz-floor (chapter: Memory across architectures).

After exactly d examples, exact least squares predicts the next label without error.
What test error does one-pass Kaczmarz (d floats of memory) leave at the same point,
and how does it change from d = 4 to d = 16?

Prediction: each projection keeps 1 - 1/d of the expected squared error on isotropic
rows, so after d examples the error of the next prediction is (1 - 1/d)^d of the
initial one, which rises towards 1/e ~ 0.37 as d grows: 0.32 at d = 4, 0.36 at d = 16.
It does not shrink with d. The check: over 4000 prompts, the measured error at
position d + 1 lies within 10% of (1 - 1/d)^d for both dimensions, and the d = 16
value exceeds the d = 4 value.
"""

import numpy as np

from memopt.experiments.icl_architectures import streaming_errors
from memopt.optim.streaming import Kaczmarz
from memopt.problems.icl import isotropic_prompts

prompts = 4000
measured = {}
for d in (4, 16):
    xs, ys, _ = isotropic_prompts(np.random.default_rng(d), prompts, d + 1, d)
    errors = streaming_errors(Kaczmarz(d, trials=prompts), xs, ys)
    measured[d] = errors[:, d].mean()  # column d: the prediction after d examples
    predicted = (1 - 1 / d) ** d
    print(
        f"d = {d}: Kaczmarz error after d examples {measured[d]:.3f}, "
        f"predicted {predicted:.3f}"
    )
    if abs(measured[d] / predicted - 1) > 0.1:
        raise AssertionError(
            f"d = {d}: measured {measured[d]:.3f} is not within 10% of {predicted:.3f}"
        )
if not measured[16] > measured[4]:
    raise AssertionError("the error after d examples should grow towards 1/e with d")
