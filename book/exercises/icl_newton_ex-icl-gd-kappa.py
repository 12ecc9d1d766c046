"""Exercise ex-icl-gd-kappa (chapter: In-context regression, Iterative Newton against GD).

Gradient descent with its best fixed step contracts the error by (kappa_S - 1)/(kappa_S + 1)
per step in the worst direction. Quadruple the covariance's condition number
(kappa -> 4 kappa): by what factor do the GD steps to a prediction error of 1e-3 grow?

Prediction: ln(1/epsilon) / ln((kappa_S + 1)/(kappa_S - 1)) is about (kappa_S / 2) ln(1/epsilon)
steps, linear in the condition number kappa_S of S = X^T X, which is proportional to the
covariance's kappa for the same draws of X: four times the steps. The check, over 32 tasks: the
ratio of the median step counts lies in [3, 5.5].
"""

import numpy as np

from memopt.optim.newton import least_squares_gd
from memopt.problems.icl import icl_tasks

kappa, tasks, level = 25.0, 32, 1e-3
medians = {}
for value in (kappa, 4 * kappa):
    batch = icl_tasks(tasks, dim=20, n_examples=40, kappa=value, seed=0)
    run = least_squares_gd(
        batch.gram,
        batch.moment,
        iterations=20_000,
        error=batch.prediction_error,
        levels=np.full((tasks, 1), level),
    )
    steps = run.steps_to_reach[:, 0]
    if not np.isfinite(steps).all():
        raise AssertionError(
            f"kappa = {value:g}: some task did not reach {level:g} within the budget"
        )
    medians[value] = float(np.median(steps))
    print(
        f"kappa = {value:g}: median GD steps to a prediction error of {level:g}: "
        f"{medians[value]:g}"
    )

ratio = medians[4 * kappa] / medians[kappa]
print(f"ratio {ratio:.2f} (predicted about 4)")
if not 3 <= ratio <= 5.5:
    raise AssertionError(
        f"quadrupling kappa multiplied GD's steps by {ratio:.2f}, outside [3, 5.5]"
    )
