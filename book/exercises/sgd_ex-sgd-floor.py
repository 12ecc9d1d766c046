"""Exercise ex-sgd-floor (chapter: SGD, the noise floor and the 1/k rate).

Run SGD on the chapter's problem at a constant step alpha and at alpha/4, and predict both
floors, not only their ratio.

Prediction: near x*, f is close to a quadratic with Hessian H, and the sample gradients have
mean 0 and covariance Sigma with trace sigma_*^2 = E_i ||grad f_i(x*)||^2. The stationary
covariance P of the iterates solves H P + P H = alpha Sigma to first order in alpha, so
E f(x_k) - f* = tr(H P) / 2 = alpha sigma_*^2 / 4: the floor is proportional to alpha, its
constant does not depend on L or mu, and alpha/4 divides it by four. The check: each measured
floor (mean over the runs of their window averages, +- 2 s.e.) lies within a factor 1.5 of
alpha sigma_*^2 / 4, and the ratio of the two floors (delta-method interval) lies in [2, 8].
"""

import numpy as np

from memopt.claims import ratio_of_means
from memopt.optim import sgd
from memopt.problems import planted_logistic

problem = planted_logistic(200, 10, 1.0, seed=0)  # the chapter's problem
optimum = problem.minimize()
sigma_star = float(problem.second_moment(optimum.x))
x0 = np.ones(problem.n_features)
alpha, runs, iterations = 0.1, 16, 6000

floors = {}
for step in (alpha, alpha / 4):
    trace = sgd(problem, x0, step, iterations=iterations, seeds=range(runs))
    window = trace.window(0.5)
    floors[step] = trace.suboptimality(optimum.value)[:, window].mean(
        axis=1
    )  # each run's floor
    mean = floors[step].mean()
    error = 2 * floors[step].std(ddof=1) / np.sqrt(runs)
    predicted = step * sigma_star / 4
    print(
        f"alpha = {step:g}: floor {mean:.3e} +- {error:.1e}, predicted alpha "
        f"sigma*^2/4 = {predicted:.3e}, "
        f"ratio {mean / predicted:.2f}"
    )
    if not (predicted / 1.5 <= mean - error and mean + error <= 1.5 * predicted):
        raise AssertionError(
            f"alpha = {step:g}: the floor {mean:.3e} +- {error:.1e} is not within a "
            f"factor 1.5 of alpha sigma*^2/4 = {predicted:.3e}"
        )

ratio = ratio_of_means(floors[alpha], floors[alpha / 4])
print(
    f"floor(alpha) / floor(alpha/4) = {ratio.value:.2f} [{ratio.low:.2f}, "
    f"{ratio.high:.2f}] (predicted 4)"
)
if not (2 <= ratio.low and ratio.high <= 8):
    raise AssertionError(f"the ratio of floors {ratio.describe()} is not within [2, 8]")
