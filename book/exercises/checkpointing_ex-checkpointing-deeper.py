"""Exercise ex-checkpointing-deeper (chapter: Gradient checkpointing).

Make the chain four times deeper (n -> 4n). By what factor does each strategy's peak memory and
its layer evaluations grow?

Prediction: vanilla keeps every activation and evaluates each layer once: memory and compute
both grow 4-fold. Memory poor keeps a constant number of activations but recomputes from h_0,
about n^2/2 evaluations: memory x1, compute x16. Checkpointed every ceil(sqrt(n)) layers holds
about 2 sqrt(n) activations and evaluates fewer than 2n layers: memory x2 (sqrt(4)), compute
x4. The check: every measured factor lies within 15% of the predicted one.
"""

import numpy as np

from memopt.nets.checkpointing import STRATEGIES, TanhChain

n, width, batch = 64, 8, 4
predicted = {"vanilla": (4, 4), "memory_poor": (1, 16), "checkpointed": (2, 4)}
measured = {}
for depth in (n, 4 * n):
    chain = TanhChain(depth, width, seed=0)
    x = np.random.default_rng(0).standard_normal((batch, width))
    for strategy in STRATEGIES:
        run = chain.gradient(x, np.zeros_like(x), strategy)
        measured[strategy, depth] = (run.peak_activations, run.evaluations)

failures = []
for strategy in STRATEGIES:
    (peak, evals), (peak4, evals4) = measured[strategy, n], measured[strategy, 4 * n]
    factors = (peak4 / peak, evals4 / evals)
    print(
        f"{strategy:>12}: peak x{factors[0]:.2f} (predicted "
        f"x{predicted[strategy][0]}), "
        f"evaluations x{factors[1]:.2f} (predicted x{predicted[strategy][1]})"
    )
    for what, got, want in zip(("peak", "evaluations"), factors, predicted[strategy]):
        if abs(got / want - 1) > 0.15:
            failures.append(f"{strategy} {what}: x{got:.2f} instead of x{want}")
if failures:
    raise AssertionError(
        "factors more than 15% from the prediction: " + "; ".join(failures)
    )
