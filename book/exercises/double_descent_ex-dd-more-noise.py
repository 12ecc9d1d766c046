"""Exercise ex-dd-more-noise (chapter: Double descent).

Corrupt twice the chapter's fraction of training labels. Where is the peak of the test squared
loss, and how high is it compared with the chapter's noise level?

Prediction: the peak stays at the interpolation threshold N = n, which depends only on the
number of training points, not on the labels. Its height grows: at N = n the minimum-norm
interpolant must fit every corrupted label exactly, and the coefficient norm it needs to do so,
and with it the error on the test digits, grows with the fraction of labels that disagree with
the smooth part of the target. The check, on each of three feature draws (paired): the peak of
the test squared loss lies in [0.8 n, 1.25 n] at both noise levels, and the peak with twice the
noise is higher than with the chapter's.
"""

import numpy as np

from memopt.experiments.double_descent import Config, squared_loss
from memopt.features import RandomFourierFeatures, min_norm_path
from memopt.problems import digits_split

chapter = Config()
n = chapter.n_train
data = digits_split(
    n, n_test=chapter.n_test, n_validation=chapter.n_validation, seed=chapter.data_seed
)
levels = (chapter.label_noise, 2 * chapter.label_noise)
noisy = {level: data.with_label_noise(level) for level in levels}
ratios = np.unique(
    np.concatenate([np.geomspace(1 / 4, 4, 9), [0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.25]])
)
sizes = tuple(int(s) for s in np.unique(np.round(ratios * n)))

for draw in range(3):
    features = RandomFourierFeatures(
        data.input_dim, sizes[-1], chapter.sigma, seed=draw
    )
    phi_train, phi_test = features(data.x_train), features(data.x_test)
    targets = np.hstack(
        [noisy[level].y_train for level in levels]
    )  # one factorization for both
    path = min_norm_path(phi_train, targets, sizes)
    heights = {}
    for column, level in enumerate(levels):
        block = slice(10 * column, 10 * (column + 1))
        losses = [
            squared_loss(phi_test[:, :size] @ coef[:, block], data.y_test)
            for size, coef in zip(sizes, path.coefficients)
        ]
        peak = sizes[int(np.argmax(losses))]
        heights[level] = max(losses)
        print(
            f"draw {draw}, label noise {level:g}: peak at N/n = {peak / n:.2f}, "
            f"height {max(losses):.3g}"
        )
        if not 0.8 <= peak / n <= 1.25:
            raise AssertionError(
                f"draw {draw}, noise {level:g}: the peak at N/n = {peak / n:.2f} is "
                "outside [0.8, 1.25]"
            )
    if not heights[levels[1]] > heights[levels[0]]:
        raise AssertionError(
            f"draw {draw}: the peak with noise {levels[1]:g} "
            f"({heights[levels[1]]:.3g}) is not "
            f"higher than with {levels[0]:g} ({heights[levels[0]]:.3g})"
        )
