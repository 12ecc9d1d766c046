"""Exercise ex-regression-window (chapter: Linear regression, memory against samples).

Give the window-projection method a window of m = d/2 samples (about d^2/8 stored numbers,
between Kaczmarz's d and Gaussian elimination's d^2). How many samples does it need to reach
accuracy 1e-6 in d = 50 dimensions, compared with Kaczmarz?

Prediction: once the window is full, the iterate already satisfies the m - 1 stored equations,
so the error lives in a subspace of dimension n = d - m + 1 and each new sample projects it on a
random hyperplane of that subspace: ln ||e||^2 falls by psi(n/2) - psi((n - 1)/2) per sample,
about 1/n, instead of about 1/d for Kaczmarz. So with m = d/2 the count is roughly halved. The
check, over 16 trials: the mean count of the window method is within 10% of
predicted_projection_samples(d, m, epsilon), and its ratio to Kaczmarz's mean count on the same
samples lies in [0.4, 0.65].
"""

import math

import numpy as np

from memopt.optim.stream_runs import run_methods
from memopt.optim.streaming import Kaczmarz, WindowProjection
from memopt.optim.streaming_theory import predicted_projection_samples
from memopt.problems.regression import GaussianRegression

d, accuracy, trials = 50, 1e-6, 16
m = d // 2
problem = GaussianRegression(d, noise_bound=0.0)
predicted = predicted_projection_samples(d, m, accuracy)
runs = run_methods(
    {"Kaczmarz": Kaczmarz(d, trials), "window": WindowProjection(d, m, trials)},
    problem.stream(range(trials)),
    accuracy=accuracy,
    max_samples=3 * predicted_projection_samples(d, 1, accuracy),
)
counts = {name: run.samples_to_accuracy for name, run in runs.items()}
if any(np.isnan(c).any() for c in counts.values()):
    raise AssertionError("some trial did not reach the accuracy within the budget")
window, kaczmarz = counts["window"].mean(), counts["Kaczmarz"].mean()
print(
    f"d = {d}, window m = {m} ({runs['window'].memory_floats} floats, Kaczmarz "
    f"{runs['Kaczmarz'].memory_floats}): "
    f"window {window:.0f} samples (predicted {predicted}), Kaczmarz {kaczmarz:.0f}, "
    f"ratio {window / kaczmarz:.2f}"
)
if abs(window / predicted - 1) > 0.1:
    raise AssertionError(
        f"the window method's mean count {window:.0f} is not within 10% of {predicted}"
    )
if not 0.4 <= window / kaczmarz <= 0.65:
    raise AssertionError(
        f"the ratio to Kaczmarz {window / kaczmarz:.2f} is outside [0.4, 0.65]"
    )
