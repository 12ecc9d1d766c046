"""Exercise ex-init-pytorch (chapter: Initialisation, vanishing and exploding gradients).

PyTorch's default for a linear layer draws the weights uniformly on +-1/sqrt(fan_in). Going one
layer towards the input, by what factor is ||dL/dh|| multiplied in a deep ReLU network of equal
widths initialised this way?

Prediction: a uniform weight on +-b has variance b^2 / 3 = 1 / (3 fan_in), which is He's
2 / fan_in times gain^2 = 1/6. A ReLU layer multiplies the backward second moment by
width * variance * E[relu'^2] = gain^2, so the norm by 1/sqrt(6) = 0.41 per layer: the default
makes deep ReLU gradients vanish. (The uniform biases do not enter: ReLU' is 1 on half the
units whatever the pre-activation's variance.) The check: the fitted factor, mean over seeds,
lies within 10% of 1/sqrt(6).
"""

import math

import numpy as np

from memopt.experiments.initialisation import backprop, fitted_factor
from memopt.nets import MLPClassifier
from memopt.problems.digits import digits_split

depth, width, seeds = 20, 128, 4
data = digits_split(200)
x, labels = data.x_train, data.labels_train
layers = np.arange(3, depth - 2)  # the fit leaves out the layers at both ends
factors = []
for seed in range(seeds):
    net = MLPClassifier(
        64, 10, (width,) * depth, init="pytorch", seed=seed, dtype=np.float64
    )
    signal, _, _ = backprop(net, x, labels)
    factors.append(fitted_factor(signal, layers))
measured, predicted = float(np.mean(factors)), 1 / math.sqrt(6)
print(
    f"per-layer factor of ||dL/dh||: measured {measured:.3f}, "
    f"predicted {predicted:.3f}"
)
if abs(measured / predicted - 1) > 0.10:
    raise AssertionError(f"factor {measured:.3f} is more than 10% from 1/sqrt(6)")
