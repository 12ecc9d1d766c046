"""Exercise ex-dd-half-n (chapter: Double descent).

Train the random Fourier features model on half as many digits (n/2 instead of the chapter's n).
Where is the peak of the test squared loss now?

Prediction: the peak sits at the interpolation threshold, where the number of features equals
the number of training points: with n/2 points it moves to N = n/2. The check, on each of three
feature draws: the N of the largest test squared loss, over a grid of N from n'/8 to 4n'
(n' = n/2) that is denser near n', lies in [0.8 n', 1.25 n'], the chapter's band.
"""

import numpy as np

from memopt.experiments.double_descent import Config, squared_loss
from memopt.features import RandomFourierFeatures, min_norm_path
from memopt.problems import digits_split

chapter = Config()
n = chapter.n_train // 2
data = digits_split(n, n_test=chapter.n_test, seed=chapter.data_seed)
ratios = np.unique(
    np.concatenate([np.geomspace(1 / 8, 4, 13), [0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.25]])
)
sizes = tuple(int(s) for s in np.unique(np.round(ratios * n)))

for draw in range(3):
    features = RandomFourierFeatures(
        data.input_dim, sizes[-1], chapter.sigma, seed=draw
    )
    phi_train, phi_test = features(data.x_train), features(data.x_test)
    path = min_norm_path(phi_train, data.y_train, sizes)
    losses = [
        squared_loss(phi_test[:, :size] @ coef, data.y_test)
        for size, coef in zip(sizes, path.coefficients)
    ]
    peak = sizes[int(np.argmax(losses))]
    print(
        f"draw {draw}: n' = {n}, test squared loss peaks at N = {peak} (N/n' = "
        f"{peak / n:.2f}), "
        f"height {max(losses):.3g}, at N = 4n' {losses[-1]:.3g}"
    )
    if not 0.8 <= peak / n <= 1.25:
        raise AssertionError(
            f"draw {draw}: the peak at N/n' = {peak / n:.2f} is outside [0.8, 1.25]"
        )
