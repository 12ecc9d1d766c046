"""Exercise ex-optimizers-momentum-step (chapter: Optimizers side by side on a small network).

Train the chapter's network with momentum (beta = 0.9) at a small learning rate alpha, with SGD
at the same alpha, and with SGD at alpha / (1 - beta). Which two runs end close to each other?

Prediction: with v_k = beta v_{k-1} + g_k, a gradient moves the weights by alpha (1 + beta +
beta^2 + ...) = alpha / (1 - beta) over the following steps. When alpha / (1 - beta) is small
enough that the gradient changes little over the 1 / (1 - beta) = 10 steps that momentum
remembers, momentum at alpha is SGD at the effective step alpha / (1 - beta) (the SGD chapter
shows the same for its noise floor), only some beta / (1 - beta) = 9 steps behind while v
builds up. So after 20 epochs at alpha = 0.01, momentum's training loss is far closer to that
of SGD at 0.1 than to that of SGD at 0.01. The check: (L_momentum - L_SGD(0.1)) /
(L_SGD(0.01) - L_SGD(0.1)) lies in [-0.1, 0.1].
"""

import numpy as np

from memopt.nets import MLPClassifier
from memopt.nets.training import BatchOrder
from memopt.optim import GradientStep, Momentum
from memopt.problems.digits import N_CLASSES, digits_split

split = digits_split(500, n_validation=0, seed=0)
EPOCHS, BATCH, ALPHA, BETA = 20, 32, 0.01, 0.9


def train(method) -> float:
    """The training loss after EPOCHS epochs of ``method`` from the same weights and batches."""
    network = MLPClassifier(split.input_dim, N_CLASSES, (64, 64), seed=0, dtype=np.float64)
    state = method.init(network.params.vector)
    order = BatchOrder(split.n_train, BATCH, seed=0)
    for step in range(EPOCHS * order.per_epoch):
        rows = order.rows(step)
        network.loss_and_gradient(split.x_train[rows], split.labels_train[rows])
        method.step(network.params.vector, network.params.grad, state)
    return network.evaluate(split.x_train, split.labels_train)[0]


runs = {
    f"momentum, alpha = {ALPHA:g}": train(Momentum(ALPHA, beta=BETA)),
    f"SGD, alpha / (1 - beta) = {ALPHA / (1 - BETA):g}": train(GradientStep(ALPHA / (1 - BETA))),
    f"SGD, alpha = {ALPHA:g}": train(GradientStep(ALPHA)),
}
for name, loss in runs.items():
    print(f"{name}: training loss after {EPOCHS} epochs {loss:.4g}")
momentum, effective, plain = runs.values()
share = (momentum - effective) / (plain - effective)
print(f"momentum's place between SGD at the effective step (0) and at the raw step (1): {share:.3f}")
if not -0.1 <= share <= 0.1:
    raise AssertionError(f"momentum is not close to SGD at the effective step: {share:.3f} of the way")
