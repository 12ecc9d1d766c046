"""Exercise ex-icl-trained-read-in (chapter: A trained transformer against Newton's method).

Fit a linear probe on the read-in layer (layer 0) of an untrained InContextTransformer and
measure its relative squared error on fresh prompts at every position.

Prediction: the read-in state at x_i holds only x_i and the position, and E[y_i | x_i] = 0 when
w ~ N(0, I), so the best affine probe predicts about 0: a relative error near 1 everywhere
(accepted: between 0.9 and 1.1 at every position).
"""

import numpy as np

from memopt.nets.in_context import InContextTransformer
from memopt.nets.probes import fit_probe
from memopt.problems.icl import isotropic_prompts

dim, examples = 5, 10
model = InContextTransformer(dim, examples, width=32, layers=2, dtype=np.float64)
xs, ys, _ = isotropic_prompts(np.random.default_rng(0), 2000, examples, dim)
probe = fit_probe(model.hidden_states(xs, ys)[0], ys)
xs, ys, _ = isotropic_prompts(np.random.default_rng(1), 2000, examples, dim)
predictions = probe.predict(model.hidden_states(xs, ys)[0])
errors = ((predictions - ys) ** 2).mean(0) / (ys**2).mean()
print("relative error of the read-in probe by position:", np.round(errors, 2))
assert np.all((errors > 0.9) & (errors < 1.1)), errors
