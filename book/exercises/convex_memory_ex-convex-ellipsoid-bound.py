"""Exercise ex-convex-ellipsoid-bound (chapter: Memory against queries in convex optimization).

Run the ellipsoid on the simple function ||x - c||_1 / sqrt(d) in dimension d = 8, down to a
relative accuracy of 2^-12. Compute the theorem's bound on its queries, and predict how many
queries each halving of epsilon costs.

Prediction: each cut shrinks the volume by at least exp(-1/(2(d + 1))), so after
2d(d + 1) ln(osc/epsilon) cuts the best centre is epsilon-accurate (osc = 2G over the unit ball,
G the Lipschitz constant): every run stays under the bound, and each halving of epsilon costs
at most 2d(d + 1) ln 2 queries, the bound's own slope. The check, on eight instances: every
run's queries at every accuracy are at most the bound, and the mean queries per halving of
epsilon between 2^-4 and 2^-12 are positive and at most 2d(d + 1) ln 2.
"""

import math

import numpy as np

from memopt.experiments.convex_memory import draw, ellipsoid_bound_queries
from memopt.optim import ellipsoid

d, instances = 8, 8
eps = 2.0 ** -np.arange(1, 13)
per_halving, worst = [], 0.0
for index in range(instances):
    f = draw("l1", d, index)
    f_star, f_start = f.minimize().value, float(f.value(np.zeros(d)))
    run = ellipsoid(
        f.oracle, d, queries=40 * d * d, target=f_star + eps[-1] * (f_start - f_star)
    )
    queries = run.queries_to_accuracy(f_star, f_start, eps)[0]
    if not np.isfinite(queries).all():
        raise AssertionError(
            f"instance {index}: the ellipsoid did not reach 2^-12 within its budget"
        )
    bound = ellipsoid_bound_queries(eps * (f_start - f_star), d, 2 * f.lipschitz)
    worst = max(worst, float((queries / bound).max()))
    per_halving.append(
        (queries[-1] - queries[3]) / 8
    )  # from 2^-4 to 2^-12: eight halvings

slope_bound = 2 * d * (d + 1) * math.log(2)
mean = float(np.mean(per_halving))
print(f"d = {d}, {instances} instances: largest queries / bound = {worst:.3f}")
print(
    f"queries per halving of epsilon (2^-4 to 2^-12): {mean:.1f} (bound's slope 2d(d "
    f"+ 1) ln 2 = {slope_bound:.1f})"
)
if worst > 1:
    raise AssertionError(
        f"a run needed {worst:.3f} times the bound 2d(d + 1) ln(osc/epsilon)"
    )
if not 0 < mean <= slope_bound:
    raise AssertionError(
        f"the queries per halving {mean:.1f} are not in (0, 2d(d + 1) ln 2 = "
        f"{slope_bound:.1f}]"
    )
