"""Exercise ex-convex-dimension (chapter: Memory against queries in convex optimization).

Double the dimension, at a fixed relative accuracy epsilon = 2^-6. How do the queries of
projected subgradient descent on the simple function ||x - c||_1 / sqrt(d) change, and how do
those of the ellipsoid on the hard function change?

Prediction: subgradient descent's guarantee G D / sqrt(k) (up to a logarithm) does not involve
d: here G = 1 (the subgradients sign(x - c)/sqrt(d) have norm at most 1) and D = 1, so its
queries stay about the same. The ellipsoid needs about d^2 log(1/epsilon) queries on a hard
function, so doubling d multiplies them by about four. (On the simple function the ellipsoid is
far faster than this worst case, as the chapter shows.) The check, on eight instances each:
the ratio of the mean queries at 2d over those at d lies in [1/2, 2] for subgradient descent
and in [2, 8] for the ellipsoid.
"""

import numpy as np

from memopt.experiments.convex_memory import draw
from memopt.optim import ellipsoid, projected_subgradient_descent
from memopt.problems.nemirovski import L1Distance

d, instances, eps = 8, 8, 2.0**-6
means = {}
for dim in (d, 2 * d):
    f = L1Distance.draw(dim, runs=instances, seed=dim)
    x0 = np.zeros((instances, dim))
    run = projected_subgradient_descent(
        f.oracle, x0, lipschitz=f.lipschitz, queries=20_000, distance=1.0, value=f.value
    )
    sgd_queries = run.queries_to_accuracy(0.0, f.value(x0), np.array([eps]))[:, 0]
    ellipsoid_queries = []
    for index in range(instances):
        g = draw("hard", dim, index)
        g_star, g_start = g.minimize().value, float(g.value(np.zeros(dim)))
        cut = ellipsoid(
            g.oracle,
            dim,
            queries=40 * dim * dim,
            target=g_star + eps * (g_start - g_star),
        )
        ellipsoid_queries.append(
            cut.queries_to_accuracy(g_star, g_start, np.array([eps]))[0, 0]
        )
    means[dim] = (float(np.mean(sgd_queries)), float(np.mean(ellipsoid_queries)))
    print(
        f"d = {dim}: mean queries to 2^-6, subgradient descent (simple function) "
        f"{means[dim][0]:.0f}, "
        f"ellipsoid (hard function) {means[dim][1]:.0f}"
    )

if not np.isfinite([*means[d], *means[2 * d]]).all():
    raise AssertionError("some run did not reach 2^-6 within its budget")
sgd_ratio, ellipsoid_ratio = (means[2 * d][i] / means[d][i] for i in (0, 1))
print(
    f"doubling d: subgradient descent x{sgd_ratio:.2f} (predicted about 1), "
    f"ellipsoid x{ellipsoid_ratio:.2f} "
    f"(predicted about 4)"
)
if not 0.5 <= sgd_ratio <= 2:
    raise AssertionError(
        f"subgradient descent's queries changed by x{sgd_ratio:.2f}, outside [1/2, 2]"
    )
if not 2 <= ellipsoid_ratio <= 8:
    raise AssertionError(
        f"the ellipsoid's queries changed by x{ellipsoid_ratio:.2f}, outside [2, 8]"
    )
