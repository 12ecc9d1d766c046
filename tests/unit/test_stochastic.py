"""The batched stochastic engine and SGD against plain-loop references."""

import numpy as np
import pytest

from memopt.optim import DecreasingStep, IndexStream, sgd, stochastic
from memopt.problems import planted_logistic


@pytest.fixture
def problem():
    return planted_logistic(30, 4, mu=0.5, seed=2)


def reference_sgd(problem, x0, alphas, index_rows):
    """SGD written out with the textbook per-sample gradient, one run, no batching."""
    a, y, mu = problem.features, problem.labels, problem.mu
    x = np.array(x0, dtype=float)
    for alpha, rows in zip(alphas, index_rows):
        grads = [-y[i] * a[i] / (1 + np.exp(y[i] * a[i] @ x)) + mu * x for i in rows]
        x = x - alpha * np.mean(grads, axis=0)
    return x


def test_index_stream_is_each_runs_own_generator():
    stream = IndexStream(17, seeds=[5, 9], batch_size=3)
    draws = stream.draw(4)
    assert draws.shape == (4, 2, 3) and draws.dtype.kind == "i"
    for r, seed in enumerate([5, 9]):
        np.testing.assert_array_equal(draws[:, r], np.random.default_rng(seed).integers(0, 17, (4, 3)))


def test_index_stream_continues_across_draws():
    whole = IndexStream(1000, seeds=[1, 2, 3], batch_size=5).draw(15)
    stream = IndexStream(1000, seeds=[1, 2, 3], batch_size=5)
    np.testing.assert_array_equal(np.concatenate([stream.draw(10), stream.draw(5)]), whole)


def test_sgd_matches_the_reference_loop(problem):
    x0 = np.array([1.0, -2.0, 0.5, 0.0])
    steps, batch = 50, 3
    trace = sgd(problem, x0, DecreasingStep(problem.mu), iterations=steps, seeds=[11], batch_size=batch)
    rows = np.random.default_rng(11).integers(0, 30, (steps, batch))
    alphas = [DecreasingStep(problem.mu)(k) for k in range(steps)]
    np.testing.assert_allclose(trace.final_x[0], reference_sgd(problem, x0, alphas, rows), rtol=1e-12)


def test_batched_runs_equal_separate_runs(problem):
    x0 = np.ones(4)
    seeds = [3, 1, 4, 1, 5]
    batched = sgd(problem, x0, 0.1, iterations=300, seeds=seeds, batch_size=2, record_second_moment=True)
    for r, seed in enumerate(seeds):
        single = sgd(problem, x0, 0.1, iterations=300, seeds=[seed], batch_size=2, record_second_moment=True)
        np.testing.assert_allclose(batched.final_x[r], single.final_x[0], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(batched.values[r], single.values[0], rtol=1e-13)
        np.testing.assert_allclose(batched.second_moments[r], single.second_moments[0], rtol=1e-12)


def test_index_chunking_does_not_change_the_path(problem, monkeypatch):
    full = sgd(problem, np.zeros(4), 0.05, iterations=100, seeds=[0, 1])
    monkeypatch.setattr(stochastic, "INDEX_CHUNK_ENTRIES", 7)  # many small chunks
    chunked = sgd(problem, np.zeros(4), 0.05, iterations=100, seeds=[0, 1])
    np.testing.assert_array_equal(full.final_x, chunked.final_x)


def test_one_sgd_step_is_unbiased(problem):
    """Averaged over every sample, one SGD step is one GD step (E grad f_i = grad f)."""
    x = np.random.default_rng(0).standard_normal(4)
    every = np.arange(30)[:, None]
    steps = x - 0.1 * problem.batch_gradient(np.tile(x, (30, 1)), every)
    np.testing.assert_allclose(steps.mean(axis=0), x - 0.1 * problem.gradient(x), atol=1e-15)


def test_trace_records_what_it_says(problem):
    x0 = np.full(4, 2.0)
    trace = sgd(problem, x0, 0.1, iterations=40, seeds=[0, 1, 2], batch_size=4,
                log_at=[0, 10, 40], record_second_moment=True)
    np.testing.assert_array_equal(trace.iterations, [0, 10, 40])
    np.testing.assert_array_equal(trace.samples, [0, 40, 160])
    np.testing.assert_allclose(trace.values[:, 0], problem.value(x0))
    np.testing.assert_allclose(trace.values[:, -1], problem.value(trace.final_x))
    np.testing.assert_allclose(trace.second_moments[:, -1], problem.second_moment(trace.final_x))
    g = problem.gradient(trace.final_x)
    np.testing.assert_allclose(trace.gradient_norms_sq[:, -1], np.sum(g * g, axis=1))
    assert trace.runs == 3 and trace.label.startswith("SGD")


def test_zero_iterations_logs_the_start(problem):
    trace = sgd(problem, np.ones(4), 0.1, iterations=0, seeds=[0])
    np.testing.assert_array_equal(trace.iterations, [0])
    np.testing.assert_array_equal(trace.final_x, np.ones((1, 4)))


def test_per_run_starting_points(problem):
    x0 = np.arange(8.0).reshape(2, 4)
    trace = sgd(problem, x0, 0.1, iterations=0, seeds=[0, 1])
    np.testing.assert_array_equal(trace.final_x, x0)


def test_decreasing_step_converges(problem):
    trace = sgd(problem, np.ones(4), DecreasingStep(problem.mu), iterations=20_000, seeds=range(8))
    f_star = problem.minimize().value
    assert trace.expected_suboptimality(f_star)[-1] < 1e-3 * trace.expected_suboptimality(f_star)[0]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"step": 0.0}, ValueError, "step size alpha must be finite and > 0"),
        ({"step": -1.0}, ValueError, "> 0"),
        ({"step": float("nan")}, ValueError, "finite"),
        ({"step": "big"}, TypeError, "real number"),
        ({"batch_size": 0}, ValueError, "batch_size must be a positive integer"),
        ({"batch_size": 1.5}, TypeError, "batch_size"),
        ({"seeds": []}, ValueError, "seeds must be a non-empty"),
        ({"seeds": [0.5]}, ValueError, "seeds"),
        ({"iterations": -1}, ValueError, "iterations must be"),
        ({"x0": np.ones(3)}, ValueError, "x0 must have shape"),
        ({"x0": np.array([np.nan, 0, 0, 0])}, ValueError, "NaN"),
    ],
)
def test_bad_input_is_rejected(problem, kwargs, error, match):
    args = {"x0": np.zeros(4), "step": 0.1, "iterations": 5, "seeds": [0], "batch_size": 1}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        sgd(problem, args.pop("x0"), args.pop("step"), **args)


# -- momentum ------------------------------------------------------------------------------------

def reference_momentum(problem, x0, alpha, beta, nesterov, index_rows):
    """Heavy ball / Nesterov written out from the formulas, one run: v = beta v + g, then
    x -= alpha v, or x -= alpha (g + beta v)."""
    a, y, mu = problem.features, problem.labels, problem.mu
    x, v = np.array(x0, dtype=float), np.zeros(len(x0))
    for rows in index_rows:
        g = np.mean([-y[i] * a[i] / (1 + np.exp(y[i] * a[i] @ x)) + mu * x for i in rows], axis=0)
        v = beta * v + g
        x = x - alpha * (g + beta * v if nesterov else v)
    return x


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("batch", [1, 3])
def test_momentum_matches_the_reference_loop(problem, nesterov, batch):
    x0 = np.array([1.0, -2.0, 0.5, 0.0])
    steps = 80
    trace = sgd(problem, x0, 0.05, iterations=steps, seeds=[7], batch_size=batch, momentum=0.8,
                nesterov=nesterov)
    rows = np.random.default_rng(7).integers(0, 30, (steps, batch))
    expected = reference_momentum(problem, x0, 0.05, 0.8, nesterov, rows)
    np.testing.assert_allclose(trace.final_x[0], expected, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("nesterov", [False, True])
def test_batched_momentum_runs_equal_separate_runs(problem, nesterov):
    x0 = np.ones(4)
    seeds = [3, 1, 4, 1, 5]
    batched = sgd(problem, x0, 0.02, iterations=300, seeds=seeds, momentum=0.9, nesterov=nesterov)
    for r, seed in enumerate(seeds):
        single = sgd(problem, x0, 0.02, iterations=300, seeds=[seed], momentum=0.9, nesterov=nesterov)
        np.testing.assert_allclose(batched.final_x[r], single.final_x[0], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(batched.values[r], single.values[0], rtol=1e-13)


def test_momentum_keeps_a_velocity_and_says_what_it_is(problem):
    method = stochastic.SGD(0.1, momentum=0.5)
    x = np.ones((3, 4))
    method.start(problem, x)
    assert stochastic.state_bytes(method, x) == 2 * 4 * 8  # iterate and velocity
    assert "heavy ball" in method.describe() and "Nesterov" in stochastic.SGD(0.1, 0.5, True).describe()
    assert stochastic.state_bytes(stochastic.SGD(0.1), x) == 4 * 8


def test_momentum_zero_is_plain_sgd(problem):
    plain = sgd(problem, np.ones(4), 0.1, iterations=50, seeds=[0, 1])
    zero = sgd(problem, np.ones(4), 0.1, iterations=50, seeds=[0, 1], momentum=0.0)
    np.testing.assert_array_equal(plain.final_x, zero.final_x)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"momentum": 1.0}, ValueError, r"momentum beta must lie in \[0, 1\)"),
        ({"momentum": 1.5}, ValueError, "momentum beta"),
        ({"momentum": -0.1}, ValueError, "momentum beta"),
        ({"momentum": "high"}, TypeError, "momentum must be a real number"),
        ({"momentum": 0.0, "nesterov": True}, ValueError, "nesterov=True needs a momentum"),
        ({"momentum": 0.5, "nesterov": 1}, TypeError, "nesterov must be True or False"),
        ({"momentum": 0.5, "step": -0.1}, ValueError, "step size alpha must be finite and > 0"),
        ({"momentum": 0.5, "step": DecreasingStep(1.0)}, TypeError, "constant step"),
    ],
)
def test_bad_momentum_is_rejected(problem, kwargs, error, match):
    args = {"step": 0.1, **kwargs}
    with pytest.raises(error, match=match):
        sgd(problem, np.zeros(4), args.pop("step"), iterations=5, seeds=[0], **args)


# -- growing batches -----------------------------------------------------------------------------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def test_growing_batch_schedule_is_the_ceiling():
    doubling = stochastic.GrowingBatch(1, 0.5)
    assert [doubling(k) for k in range(6)] == [1, 2, 4, 8, 16, 32]
    schedule = stochastic.GrowingBatch(3, 0.9)
    assert [schedule(k) for k in range(5)] == [int(np.ceil(3 * 0.9 ** -k)) for k in range(5)]
    assert schedule.total(4) == sum(schedule(k) for k in range(4)) and schedule.total(0) == 0
    assert stochastic.GrowingBatch(10, 0.1)(2) == 1000  # 10 * 0.1^-2, an integer up to rounding


@given(initial=st.floats(1.0, 50.0), rho=st.floats(0.05, 0.99), k=st.integers(0, 60))
def test_growing_batch_properties(initial, rho, k):
    schedule = stochastic.GrowingBatch(initial, rho)
    exact = initial * rho ** (-k)
    assert exact * (1 - 1e-9) <= schedule(k) < exact + 1
    assert schedule(k + 1) >= schedule(k) >= 1


@pytest.mark.parametrize(
    "initial, rho, error, match",
    [
        (0.5, 0.9, ValueError, "B_0 must be >= 1"),
        (0, 0.9, ValueError, "B_0 must be >= 1"),
        (-3, 0.9, ValueError, "B_0 must be >= 1"),
        (float("nan"), 0.9, TypeError, "finite"),
        (1, 0.0, ValueError, r"rho must lie in \(0, 1\)"),
        (1, 1.0, ValueError, r"rho must lie in \(0, 1\)"),
        (1, 1.5, ValueError, "rho must lie"),
        (1, -0.2, ValueError, "rho must lie"),
        (1, "slow", TypeError, "rho must be a real number"),
    ],
)
def test_growing_batch_rejects_bad_arguments(initial, rho, error, match):
    with pytest.raises(error, match=match):
        stochastic.GrowingBatch(initial, rho)


def reference_growing(problem, x0, alpha, schedule, steps, seed):
    """SGD with |B_k| indices drawn one step at a time and the textbook per-sample gradient."""
    rng = np.random.default_rng(seed)
    return reference_sgd(problem, x0, [alpha] * steps,
                         [rng.integers(0, problem.n_samples, schedule(k)) for k in range(steps)])


def test_growing_batch_matches_the_reference_loop(problem):
    x0 = np.array([1.0, -2.0, 0.5, 0.0])
    schedule = stochastic.GrowingBatch(2, 0.7)
    trace = stochastic.sgd_growing_batch(problem, x0, 0.3, schedule, iterations=12, seeds=[4, 9],
                                         log_at=range(13))
    for r, seed in enumerate([4, 9]):
        expected = reference_growing(problem, x0, 0.3, schedule, 12, seed)
        np.testing.assert_allclose(trace.final_x[r], expected, rtol=1e-11, atol=1e-13)
    np.testing.assert_array_equal(trace.samples, [schedule.total(k) for k in range(13)])
    np.testing.assert_allclose(trace.values[:, -1], problem.value(trace.final_x))


def test_growing_batch_chunks_and_runs_do_not_change_the_path(problem, monkeypatch):
    schedule = stochastic.GrowingBatch(1, 0.6)
    whole = stochastic.sgd_growing_batch(problem, np.zeros(4), 0.2, schedule, iterations=10, seeds=[0, 1, 2])
    single = stochastic.sgd_growing_batch(problem, np.zeros(4), 0.2, schedule, iterations=10, seeds=[1])
    np.testing.assert_allclose(whole.final_x[1], single.final_x[0], rtol=1e-13)
    monkeypatch.setattr(stochastic, "INDEX_CHUNK_ENTRIES", 5)
    chunked = stochastic.sgd_growing_batch(problem, np.zeros(4), 0.2, schedule, iterations=10, seeds=[0, 1, 2])
    np.testing.assert_allclose(whole.final_x, chunked.final_x, rtol=1e-13)


def test_growing_batch_rejects_bad_input(problem):
    schedule = stochastic.GrowingBatch(1, 0.5)
    with pytest.raises(TypeError, match="GrowingBatch"):
        stochastic.sgd_growing_batch(problem, np.zeros(4), 0.1, 4, iterations=3, seeds=[0])
    with pytest.raises(ValueError, match="step size alpha"):
        stochastic.sgd_growing_batch(problem, np.zeros(4), -0.1, schedule, iterations=3, seeds=[0])
    with pytest.raises(ValueError, match="seeds"):
        stochastic.sgd_growing_batch(problem, np.zeros(4), 0.1, schedule, iterations=3, seeds=[])
