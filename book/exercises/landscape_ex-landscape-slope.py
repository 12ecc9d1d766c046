"""Exercise ex-landscape-slope (chapter: Loss landscapes).

At the initial weights of a small classifier, compare the slope at a = 0 of the loss along
random filter-normalised lines with the slope along the descent direction scaled to the same
length. Predict their ratio.

Prediction: the slope along d is <grad L, d> = |grad L| |d| cos(grad L, d); along the descent
direction of the same length it is |grad L| |d|. The ratio is |cos(grad L, d)|, of order
1/sqrt(p). The check: the descent slope, by a central difference of the loss, agrees with
|grad L| |d| from the backward pass within 1%, and the mean ratio times sqrt(p) lies in
[0.1, 5].
"""

import numpy as np

from memopt.experiments.landscape import line_losses
from memopt.nets import MLPClassifier
from memopt.nets.curvature import filter_normalised_direction, network_gradient
from memopt.problems.digits import digits_split

split = digits_split(300, 100, seed=0)
x, y = split.x_train, split.labels_train
network = MLPClassifier(64, 10, (64, 64), seed=0, dtype=np.float64)
theta = np.array(network.params.vector)
p = theta.size
gradient = network_gradient(network, x, y)(theta)
network.params.load(theta)
h = 1e-3
alphas = np.array([-h, h])


def slope(direction):
    low, high = line_losses(network, theta, direction, alphas, x, y)
    return (high - low) / (2 * h)


rng = np.random.default_rng(0)
ratios = []
for _ in range(20):
    d = filter_normalised_direction(network.params, rng)
    descent = -gradient * (np.linalg.norm(d) / np.linalg.norm(gradient))
    steepest = abs(slope(descent))
    expected = np.linalg.norm(gradient) * np.linalg.norm(d)
    if abs(steepest / expected - 1) > 0.01:
        raise AssertionError(f"descent slope {steepest:.4g} differs from |grad L| |d| = {expected:.4g}")
    ratios.append(abs(slope(d)) / steepest)
mean = float(np.mean(ratios))
print(f"p = {p}: mean slope ratio random/descent = {mean:.2e}, times sqrt(p) = {mean * np.sqrt(p):.2f} "
      f"(1/sqrt(p) = {1 / np.sqrt(p):.2e})")
if not 0.1 <= mean * np.sqrt(p) <= 5:
    raise AssertionError(f"mean ratio times sqrt(p) = {mean * np.sqrt(p):.2f} is outside [0.1, 5]")
