"""Exercise ex-sag-passes-vs-n (chapter: Variance reduction: SAG, SAGA and SVRG).

Double the number of samples of the lecture's problem (n = 200 -> 2n, same dimension and mu)
and run SAG at the theorem's step 1/(16 L_max). Does it need more passes over the data?

Prediction: Theorem 1's rate per step is 1 - min{mu/(16 L), 1/(8n)}. On the lecture's problem
L_max is a few units and mu = 1, so mu/(16 L) is far larger than 1/(8n): the rate is set by n,
(1 - 1/(8n))^(n p) ~ exp(-p/8) after p passes, whatever n is. So the passes to a given accuracy
should not depend on n. The check: the number of passes to f - f* <= 1e-8 (mean over the runs)
with 2n samples over that with n lies in [1/2, 2], and both problems are in the regime
1/(8n) < mu/(16 L_max) where the prediction applies.
"""

import numpy as np

from memopt.optim import SAG, run_batched
from memopt.problems import planted_logistic

runs, passes, target = 4, 60, 1e-8
measured = {}
for n in (200, 400):
    problem = planted_logistic(n, 10, 1.0, seed=0)
    f_star = problem.minimize().value
    regime = 1 / (8 * n) < problem.mu / (16 * problem.L_max)
    trace = run_batched(
        problem,
        SAG(1 / (16 * problem.L_max)),
        np.zeros(problem.n_features),
        iterations=passes * n,
        seeds=range(runs),
    )
    gaps = trace.suboptimality(f_star)
    reached = gaps <= target
    if not reached.any(axis=1).all():
        raise AssertionError(
            f"n = {n}: SAG did not reach {target:g} within {passes} passes on every run"
        )
    first = trace.passes(n)[reached.argmax(axis=1)]
    measured[n] = float(first.mean())
    print(
        f"n = {n}: L_max = {problem.L_max:.2f}, 1/(8n) < mu/(16 L_max): {regime}; "
        f"passes to {target:g}: {measured[n]:.1f} (mean over {runs} runs)"
    )
    if not regime:
        raise AssertionError(
            f"n = {n} is not in the regime 1/(8n) < mu/(16 L_max) the prediction "
            "assumes"
        )

ratio = measured[400] / measured[200]
print(f"passes with 2n / passes with n = {ratio:.2f} (predicted about 1)")
if not 0.5 <= ratio <= 2:
    raise AssertionError(
        f"doubling n changed the passes SAG needs by a factor {ratio:.2f}, outside "
        "[1/2, 2]"
    )
