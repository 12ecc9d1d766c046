"""Exercise ex-sgd-batch (chapter: SGD, the noise floor and the 1/k rate).

At a fixed constant step, use mini-batches of B = 4 instead of single samples. By how much does
the floor fall, and is it worth it per sample gradient?

Prediction: a mean of B independent sample gradients has its noise variance divided by B, and
the floor alpha sigma_*^2 / 4 is proportional to that variance, so it falls B-fold per step. Per
sample gradient nothing is gained: after the same number of sample gradients, B = 4 has taken a
quarter of the steps. The check: the ratio floor(B = 1) / floor(B = 4), runs paired by seed, has
its whole delta-method interval in [B/2, 2B].
"""

import numpy as np

from memopt.claims import ratio_of_means
from memopt.optim import sgd
from memopt.problems import planted_logistic

problem = planted_logistic(200, 10, 1.0, seed=0)  # the chapter's problem
f_star = problem.minimize().value
x0 = np.ones(problem.n_features)
step, batch, runs, iterations = 0.1, 4, 16, 4000

floors = {}
for size in (1, batch):
    trace = sgd(
        problem, x0, step, iterations=iterations, seeds=range(runs), batch_size=size
    )
    floors[size] = trace.suboptimality(f_star)[:, trace.window(0.5)].mean(axis=1)
    print(f"B = {size}: floor {floors[size].mean():.3e} (mean over {runs} runs)")

ratio = ratio_of_means(floors[1], floors[batch])
print(
    f"floor(B = 1) / floor(B = {batch}) = {ratio.value:.2f} [{ratio.low:.2f}, "
    f"{ratio.high:.2f}] "
    f"(predicted {batch})"
)
if not (batch / 2 <= ratio.low and ratio.high <= 2 * batch):
    raise AssertionError(
        f"the ratio of floors {ratio.describe()} is not within [B/2, 2B] = "
        f"[{batch / 2:g}, {2 * batch}]"
    )
