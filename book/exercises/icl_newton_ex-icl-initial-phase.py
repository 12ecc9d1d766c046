"""Exercise ex-icl-initial-phase (chapter: In-context regression, Iterative Newton against GD).

Multiply the condition number of the covariance by 100 (kappa -> 100 kappa) and run Iterative
Newton with the chapter's alpha. How many more steps does it need to bring ||I - M_k S||_2 below
1e-8?

Prediction: the residual on an eigenvalue lambda is (1 - alpha lambda^2)^(2^k). The chapter's
alpha scales like 1/lambda_max^2 (it is 1 over the squared Frobenius norm of S, dominated by the
large cluster, which grows with kappa), while the small cluster stays near 1: alpha lambda_min^2
falls about 100^2-fold, and the initial phase, about log2(1/(alpha lambda_min^2)) steps, grows
by about log2(100^2) = 13.3 steps. The local phase, from 1/2 to 1e-8, squares the residual each
step and takes the same handful of steps at any kappa. The check, over 32 tasks: the
difference of the median step counts lies within 2 of log2(100^2).
"""

import math

import numpy as np

from memopt.optim.newton import iterative_newton
from memopt.problems.icl import icl_tasks

kappa, factor, tasks, tolerance = 100.0, 100.0, 32, 1e-8
medians = {}
for value in (kappa, factor * kappa):
    batch = icl_tasks(tasks, dim=20, n_examples=40, kappa=value, seed=0)
    run = iterative_newton(batch.gram, steps=60)
    below = run.residual_norms <= tolerance  # (steps + 1, tasks)
    if not below.any(axis=0).all():
        raise AssertionError(
            f"kappa = {value:g}: some task did not reach {tolerance:g} in 60 steps"
        )
    medians[value] = float(np.median(below.argmax(axis=0)))
    print(
        f"kappa = {value:g}: median Newton steps to ||I - M_k S||_2 <= "
        f"{tolerance:g}: {medians[value]:g}"
    )

extra, predicted = medians[factor * kappa] - medians[kappa], math.log2(factor**2)
print(f"extra steps: {extra:g} (predicted log2(100^2) = {predicted:.1f})")
if abs(extra - predicted) > 2:
    raise AssertionError(
        f"the initial phase grew by {extra:g} steps, not within 2 of {predicted:.1f}"
    )
