"""Exercise ex-init-halve-gain (chapter: Initialisation, vanishing and exploding gradients).

A ReLU network with D hidden layers starts from He's initialisation times gain 0.5. Halve the
gain to 0.25 (same seed, so every weight is halved). By what factor does the gradient of each
layer's weights shrink, and does the first layer suffer more than the last?

Prediction: with zero biases the network is positively homogeneous: halving the weights of
every one of the D + 1 layers multiplies layer i's input h_{i-1} by 2^-(i-1) and the
backpropagated dL/dz_i by 2^-(D+1-i) (the loss's gradient at the logits barely changes: the
logits are already tiny, the softmax nearly uniform). Their
product, dL/dW_i = h_{i-1}^T dL/dz_i, shrinks by 2^-D in every layer alike: no layer suffers
more. The check: every layer's ratio lies within 5% of 2^-D.
"""

import numpy as np

from memopt.nets import MLPClassifier
from memopt.problems.digits import digits_split

depth, width = 10, 64
data = digits_split(200)
norms = {}
for gain in (0.5, 0.25):
    net = MLPClassifier(
        64, 10, (width,) * depth, init="he", init_gain=gain, seed=0, dtype=np.float64
    )
    net.loss_and_gradient(data.x_train, data.labels_train)
    norms[gain] = np.array(
        [
            np.linalg.norm(net.params.gradient(f"layer{i}.weight"))
            for i in range(depth + 1)
        ]
    )
ratio = norms[0.25] / norms[0.5]
predicted = 2.0 ** -depth
print(f"ratio x 2^D per layer: {np.array2string(ratio / predicted, precision=3)}")
if np.abs(ratio / predicted - 1).max() > 0.05:
    raise AssertionError("some layer's weight gradient is not divided by 2^D within 5%")
