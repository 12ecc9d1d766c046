"""Exercise ex-multiscale-memory (chapter: Big steps, little steps).

How much memory does Big-Step-Little-Step keep, and does it grow with kappa? Run it on the
three-cluster quadratic at two condition numbers and compare its peak state with d m floats
(d the dimension, m = 3 the number of scales) and with the d^2 of a method that stores S.

Prediction: BSLS is gradient steps organised by a recursion of depth m - 1: each level of the
recursion keeps a constant number of d-vectors (its starting point and iterate), so the state is
O(d m) floats whatever kappa is, far below d^2 once d is larger than a few m. The check: at both
kappa the peak state is at most 4 d m floats and the same at both, and it is below d^2 / 4.
"""

import numpy as np

from memopt.experiments import multiscale

config = multiscale.Config()
peaks = {}
for kappa in (1e2, 1e4):
    problem = multiscale.make_problem(config, "3 clusters", kappa)
    d, m = problem.dimension, len(problem.scales)
    run = multiscale.METHODS["BSLS"](
        problem, np.zeros(d), tol=config.tol, max_evaluations=config.max_evaluations
    )
    peaks[kappa] = run.state_floats
    print(
        f"kappa = {kappa:g}: d = {d}, m = {m}: peak state {run.state_floats} floats "
        f"(4 d m = {4 * d * m}, d^2 = {d * d}), evaluations {run.evaluations_to_tol}"
    )
if max(peaks.values()) > 4 * d * m:
    raise AssertionError(
        f"BSLS kept {max(peaks.values())} floats, more than 4 d m = {4 * d * m}"
    )
if len(set(peaks.values())) != 1:
    raise AssertionError(f"BSLS's peak state changed with kappa: {peaks}")
if not max(peaks.values()) < d * d / 4:
    raise AssertionError(
        f"BSLS's peak state {max(peaks.values())} is not below d^2/4 = {d * d / 4:g}"
    )
