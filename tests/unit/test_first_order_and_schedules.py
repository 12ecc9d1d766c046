"""Gradient descent against its convergence theorem and SciPy; step-size schedules; traces."""

import numpy as np
import pytest
from scipy.optimize import minimize

from memopt.optim import ConstantStep, DecreasingStep, Trace, gradient_descent, log_iterations
from memopt.problems import planted_logistic


@pytest.fixture
def problem():
    return planted_logistic(50, 6, mu=0.05, seed=4)


def test_gd_rate_obeys_the_strongly_convex_theorem(problem):
    """With step 1/L, f(x_k) - f* <= (1 - mu/L)^k (f(x_0) - f*) (Nesterov 2004, thm 2.1.15)."""
    f_star = problem.minimize().value
    trace = gradient_descent(problem, np.ones(6), 1 / problem.L, iterations=200, log_at=range(201))
    gap = trace.suboptimality(f_star)[0]
    bound = (1 - problem.mu / problem.L) ** trace.iterations * gap[0]
    assert np.all(gap <= bound * (1 + 1e-9) + 1e-15)


def test_gd_reaches_scipys_minimiser(problem):
    trace = gradient_descent(problem, np.zeros(6), 1 / problem.L, iterations=3000)
    ref = minimize(problem.value, np.zeros(6), jac=problem.gradient, method="BFGS", options={"gtol": 1e-12})
    np.testing.assert_allclose(trace.final_x[0], ref.x, atol=1e-6)
    np.testing.assert_array_equal(trace.samples, trace.iterations * 50)


def test_gd_rejects_bad_input(problem):
    with pytest.raises(ValueError, match="x0 must have shape"):
        gradient_descent(problem, np.zeros((2, 6)), 0.1, iterations=3)
    with pytest.raises(ValueError, match="> 0"):
        gradient_descent(problem, np.zeros(6), -0.1, iterations=3)
    with pytest.raises(TypeError, match="iterations"):
        gradient_descent(problem, np.zeros(6), 0.1, iterations=2.5)


def test_decreasing_step_is_the_lectures_schedule():
    step = DecreasingStep(mu=2.0)
    assert step(0) == pytest.approx(1 / (2 * 2.0))
    for k in range(1, 50):
        # The identity the lecture's proof rests on: 1 - 2 alpha_k mu = k^2 / (k+1)^2.
        assert 1 - 2 * step(k) * 2.0 == pytest.approx(k**2 / (k + 1) ** 2, rel=1e-12)
    with pytest.raises(ValueError, match="mu"):
        DecreasingStep(0.0)
    assert ConstantStep(0.3)(1000) == 0.3


def test_log_iterations():
    points = log_iterations(20_000)
    assert points[0] == 0 and points[-1] == 20_000
    assert np.all(np.diff(points) > 0)
    assert {1, 2, 3, 10, 100}.issubset(points)  # dense at the start for log axes
    assert np.max(np.diff(points)) <= 20_000 / 200 + 1  # and evenly spread for averages
    np.testing.assert_array_equal(log_iterations(0), [0])
    with pytest.raises(ValueError):
        log_iterations(-3)


def make_trace(values, moments=None, grads=None):
    t = values.shape[1]
    return Trace("t", np.arange(t) * 10, np.arange(t) * 10, values, np.zeros((values.shape[0], 2)),
                 moments, grads)


def test_trace_floor_and_window():
    values = np.array([[5.0, 4.0, 1.0, 3.0], [7.0, 2.0, 3.0, 1.0]])
    trace = make_trace(values)
    np.testing.assert_array_equal(trace.window(0.5), [False, False, True, True])
    assert trace.floor(f_star=1.0, start_fraction=0.5) == pytest.approx(np.mean([1, 3, 3, 1]) - 1)
    np.testing.assert_allclose(trace.expected_suboptimality(1.0), [5, 2, 1, 1])
    with pytest.raises(ValueError):
        trace.window(1.0)


def test_trace_batch_second_moment():
    moments, grads = np.array([[10.0, 4.0]]), np.array([[2.0, 0.0]])
    trace = make_trace(np.ones((1, 2)), moments, grads)
    np.testing.assert_allclose(trace.batch_second_moment(4), [[2 + 8 / 4, 4 / 4]])
    with pytest.raises(ValueError, match="record_second_moment"):
        make_trace(np.ones((1, 2))).batch_second_moment(2)


def test_as_schedule_keeps_an_inverse_time_step():
    from memopt.optim.schedules import InverseTimeStep, as_schedule

    step = InverseTimeStep(0.5, 20.0)
    assert as_schedule(step) is step
    assert [step(k) for k in (0, 20, 60)] == pytest.approx([0.5, 0.25, 0.125])
