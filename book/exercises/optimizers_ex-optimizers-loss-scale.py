"""Exercise ex-optimizers-loss-scale (chapter: Optimizers side by side on a small network).

Multiply the loss by 100 (so every gradient is 100 times larger) and train the chapter's network
again with SGD and with Adam, each at the learning rate it would use on the plain loss. Predict
what happens to each.

Prediction: Adam divides the first moment m_k by sqrt(v_k), and both scale with the gradient,
so its steps are unchanged up to eps. With the default eps = 1e-8 that is not quite true here:
some coordinates have gradients near 1e-8 (weights of nearly blank pixels), and a chaotic run
amplifies the difference, so we give Adam eps = 1e-12. Then the run with the scaled loss
follows the plain one, and its training loss after a few epochs (of the *plain* loss) agrees
within 1%. SGD's step is the gradient times alpha, so scaling the loss by 100 is SGD at
100 alpha, far above the largest stable rate of the chapter's tuning grid: it diverges, and ends
(if its loss does not overflow) worse than uniform guessing, whose loss is ln 10. The check:
Adam's two losses agree within 1% relatively; SGD's scaled run overflows or ends above ln 10.
"""

import math

import numpy as np

from memopt.nets import MLPClassifier
from memopt.nets.training import BatchOrder
from memopt.optim import Adam, GradientStep
from memopt.problems.digits import N_CLASSES, digits_split

split = digits_split(500, n_validation=0, seed=0)
EPOCHS, BATCH = 5, 32


def train(method, scale: float) -> float:
    """The plain training loss after EPOCHS epochs when the gradient is multiplied by scale."""
    network = MLPClassifier(split.input_dim, N_CLASSES, (64, 64), seed=0, dtype=np.float64)
    state = method.init(network.params.vector)
    order = BatchOrder(split.n_train, BATCH, seed=0)
    with np.errstate(over="ignore", invalid="ignore"):
        for step in range(EPOCHS * order.per_epoch):
            rows = order.rows(step)
            network.loss_and_gradient(split.x_train[rows], split.labels_train[rows])
            method.step(network.params.vector, scale * network.params.grad, state)
        return network.evaluate(split.x_train, split.labels_train)[0]


losses = {}
for name, make in {"SGD": lambda: GradientStep(0.3), "Adam": lambda: Adam(0.01, eps=1e-12)}.items():
    losses[name] = [train(make(), 1.0), train(make(), 100.0)]
    print(
        f"{name}: training loss after {EPOCHS} epochs {losses[name][0]:.4g} (plain loss), "
        f"{losses[name][1]:.4g} (loss x 100)"
    )
plain, scaled = losses["Adam"]
if abs(scaled - plain) > 0.01 * plain:
    raise AssertionError(f"Adam's losses differ by more than 1%: {plain:.4g} vs {scaled:.4g}")
plain, scaled = losses["SGD"]
if math.isfinite(scaled) and scaled <= math.log(N_CLASSES):
    raise AssertionError(f"SGD with the loss x 100 ended at {scaled:.4g}, below ln 10")
