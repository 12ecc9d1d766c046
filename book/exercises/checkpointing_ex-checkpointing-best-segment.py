"""Exercise ex-checkpointing-best-segment (chapter: Gradient checkpointing).

Checkpoints every s layers: which s holds the fewest activations at once, on a chain of n
layers, and what does it cost in layer evaluations? Sweep s and compare with your prediction.

Prediction: the forward pass keeps about n/s checkpoints, and the backward pass through one
segment recomputes and holds its s activations on top of them, so the peak is about n/s + s,
smallest at s = sqrt(n), where it is about 2 sqrt(n). Recomputing every activation that is not a
checkpoint once costs n - n/s evaluations more than the forward pass: at most 2n whatever s is.
The check: the measured best s lies in [sqrt(n)/2, 2 sqrt(n)], its peak is at most 2 ceil(sqrt(n)),
and every s costs at most 2n evaluations.
"""

import math

import numpy as np

from memopt.nets.checkpointing import TanhChain

n, width, batch = 256, 8, 4
chain = TanhChain(n, width, seed=0)
x = np.random.default_rng(0).standard_normal((batch, width))
peaks, evaluations = {}, {}
for s in (2, 4, 8, 12, 16, 24, 32, 64, 128):
    run = chain.gradient(x, np.zeros_like(x), "checkpointed", segment=s)
    peaks[s], evaluations[s] = run.peak_activations, run.evaluations
    print(
        f"s = {s:>3d}: peak activations {run.peak_activations:>4d}, layer "
        f"evaluations {run.evaluations}"
    )

best = min(peaks, key=peaks.get)
root = math.sqrt(n)
print(
    f"n = {n}: best s = {best} (sqrt(n) = {root:g}), its peak {peaks[best]} (2 "
    f"ceil(sqrt(n)) = {2 * math.ceil(root)})"
)
if not root / 2 <= best <= 2 * root:
    raise AssertionError(
        f"the best segment {best} is not within [sqrt(n)/2, 2 sqrt(n)] = "
        f"[{root / 2:g}, {2 * root:g}]"
    )
if peaks[best] > 2 * math.ceil(root):
    raise AssertionError(
        f"the best peak {peaks[best]} exceeds 2 ceil(sqrt(n)) = {2 * math.ceil(root)}"
    )
if max(evaluations.values()) > 2 * n:
    raise AssertionError(
        f"some segment cost {max(evaluations.values())} evaluations, more than 2n = "
        f"{2 * n}"
    )
