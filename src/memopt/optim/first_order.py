"""Deterministic first-order methods."""

from __future__ import annotations

from numbers import Integral

from memopt.backend import array_module
from memopt.optim.schedules import as_schedule
from memopt.optim.trace import Recorder, Trace, log_iterations


def gradient_descent(
    problem, x0, step, *, iterations: int, log_at=None, record_second_moment: bool = False
) -> Trace:
    """x_{k+1} = x_k - alpha_k grad f(x_k) (lecture 2, eq. GD), as one run (R = 1).

    Every step evaluates all n sample gradients, so after k steps ``samples`` is k n.
    """
    if isinstance(iterations, bool) or not isinstance(iterations, Integral) or iterations < 0:
        raise ValueError(f"iterations must be a non-negative integer, got {iterations!r}")
    schedule = as_schedule(step)
    xp = array_module(problem.features)
    x = xp.asarray(x0, dtype=problem.dtype)
    if x.shape != (problem.n_features,):
        raise ValueError(f"x0 must have shape ({problem.n_features},), got {x.shape}")
    x = x[None, :]  # the run axis, so the trace has the same shape as a batched run's
    recorder = Recorder(
        problem, log_iterations(iterations) if log_at is None else log_at, record_second_moment
    )
    for k in range(iterations + 1):
        if recorder.wants(k):
            recorder.record(x, k * problem.n_samples)
        if k < iterations:
            x = x - schedule(k) * problem.gradient(x)
    return recorder.trace(f"GD, {schedule.describe()}", x)
