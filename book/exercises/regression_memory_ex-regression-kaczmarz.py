"""Exercise ex-regression-kaczmarz (chapter: Linear regression, memory against samples).

Run randomized Kaczmarz on the isotropic stream in a smaller dimension (d = 50, no noise) to
accuracy 1e-6, and predict its mean number of samples before running it.

Prediction: each sample projects the error onto a hyperplane with a uniformly random normal, so
ln ||e||^2 falls by psi(d/2) - psi((d - 1)/2) on average per sample; by Wald's identity the
mean first-passage time to ||e|| <= epsilon from ||e_0|| = 1 is
2 ln(1/epsilon) / (psi(d/2) - psi((d - 1)/2)), slightly less than 2 d ln(1/epsilon). The check,
over 16 trials: the mean measured count lies within 10% of the prediction, and the whole
interval mean +- 2 s.e. lies below 2 d ln(1/epsilon).
"""

import math

import numpy as np

from memopt.optim.stream_runs import run_methods
from memopt.optim.streaming import Kaczmarz
from memopt.optim.streaming_theory import predicted_projection_samples
from memopt.problems.regression import GaussianRegression

d, accuracy, trials = 50, 1e-6, 16
problem = GaussianRegression(d, noise_bound=0.0)
predicted = predicted_projection_samples(d, 1, accuracy)
runs = run_methods(
    {"Kaczmarz": Kaczmarz(d, trials)},
    problem.stream(range(trials)),
    accuracy=accuracy,
    max_samples=3 * predicted,
)
samples = runs["Kaczmarz"].samples_to_accuracy
if np.isnan(samples).any():
    raise AssertionError(
        "some trial did not reach the accuracy within three times the prediction"
    )
mean, error = samples.mean(), 2 * samples.std(ddof=1) / math.sqrt(trials)
upper = 2 * d * math.log(1 / accuracy)
print(
    f"d = {d}, accuracy {accuracy:g}: samples {mean:.0f} +- {error:.0f} (mean +- 2 "
    f"s.e. over {trials} trials); "
    f"Wald's prediction {predicted}; 2 d ln(1/eps) = {upper:.0f}"
)
if abs(mean / predicted - 1) > 0.1:
    raise AssertionError(
        f"the mean count {mean:.0f} is not within 10% of the prediction {predicted}"
    )
if not mean + error < upper:
    raise AssertionError(
        f"the mean count's interval reaches 2 d ln(1/eps) = {upper:.0f}"
    )
