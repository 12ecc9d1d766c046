"""Exercise ex-sag-below-floor (chapter: Variance reduction: SAG, SAGA and SVRG).

Run SAG and constant-step SGD at the same step 1/L_max on the lecture's problem for the same
number of passes. Predict where each ends.

Prediction: SGD stalls at its noise floor, about alpha sigma_*^2 / 4 with sigma_*^2 =
E_i ||grad f_i(x*)||^2 (the SGD chapter's floor, in its first-order form); SAG's table of stored
gradients makes its step's noise vanish at x*, so it converges linearly below that floor, to the
resolution of float64. The check: SGD's mean final gap lies within a factor 2 of
alpha sigma_*^2 / 4, and SAG's mean final gap is more than 10^4 times smaller than SGD's.
"""

import numpy as np

from memopt.optim import SAG, run_batched, sgd
from memopt.problems import planted_logistic

problem = planted_logistic(200, 10, 1.0, seed=0)  # the lecture's problem
optimum = problem.minimize()
step = 1 / problem.L_max
runs, passes = 8, 60
iterations = passes * problem.n_samples
x0 = np.zeros(problem.n_features)

sgd_trace = sgd(problem, x0, step, iterations=iterations, seeds=range(runs))
sag_trace = run_batched(
    problem, SAG(step), x0, iterations=iterations, seeds=range(runs)
)
sgd_floor = float(
    sgd_trace.suboptimality(optimum.value)[:, sgd_trace.window(0.5)].mean()
)
sag_final = float(sag_trace.suboptimality(optimum.value)[:, -1].mean())
predicted = step * float(problem.second_moment(optimum.x)) / 4
print(f"step 1/L_max = {step:.3f}, {passes} passes, {runs} runs")
print(
    f"SGD floor {sgd_floor:.3e} (predicted alpha sigma*^2/4 = {predicted:.3e}); SAG "
    f"final gap {sag_final:.3e}"
)
if not predicted / 2 <= sgd_floor <= 2 * predicted:
    raise AssertionError(
        f"SGD's floor {sgd_floor:.3e} is not within a factor 2 of {predicted:.3e}"
    )
if not sag_final < sgd_floor * 1e-4:
    raise AssertionError(
        f"SAG's final gap {sag_final:.3e} is not 10^4 times below SGD's floor "
        f"{sgd_floor:.3e}"
    )
