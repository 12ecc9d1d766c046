"""SAG, SAGA and SVRG against references: the table's meaning, a textbook loop, SciPy's optimum,
the closed-form first SVRG step, unbiasedness of SAGA, and memory counted from the arrays."""

import numpy as np
import pytest
from scipy.optimize import minimize

from memopt.optim import SAG, SAGA, SVRG, DecreasingStep, IndexStream, run_batched, state_bytes
from memopt.problems import planted_logistic


@pytest.fixture
def problem():
    return planted_logistic(25, 4, mu=0.3, seed=5)


@pytest.fixture
def optimum(problem):
    return minimize(problem.value, np.zeros(4), jac=problem.gradient, method="BFGS",
                    options={"gtol": 1e-13}).x


def visit_every_sample(method, problem, x):
    """Call the method once per sample at a fixed point x (its returned iterate ignored)."""
    xs = np.tile(x, (1, 1))
    method.start(problem, xs)
    for i in np.random.default_rng(0).permutation(problem.n_samples):
        method.step(problem, xs, np.array([[i]]), 0)
    return xs


@pytest.mark.parametrize("table", ["glm", "generic"])
def test_sag_table_average_is_the_gradient_after_one_pass(problem, table):
    x = np.array([0.5, -1.0, 2.0, 0.1])
    method = SAG(0.1, table=table)
    xs = visit_every_sample(method, problem, x)
    average = method.total[0] / problem.n_samples + (problem.mu * xs[0] if table == "glm" else 0)
    np.testing.assert_allclose(average, problem.gradient(x), atol=1e-14)


def reference_sag(problem, x0, alpha, indices):
    """SAG written out from the paper's eq. (5), generic table, centred start."""
    a, y, mu, n = problem.features, problem.labels, problem.mu, problem.n_samples
    grad_i = lambda x, i: -y[i] * a[i] / (1 + np.exp(y[i] * a[i] @ x)) + mu * x  # noqa: E731
    full = np.mean([grad_i(x0, i) for i in range(n)], axis=0)
    table = [grad_i(x0, i) - full for i in range(n)]
    x = x0.copy()
    for i in indices:
        table[i] = grad_i(x, i)
        x = x - alpha / n * np.sum(table, axis=0)
    return x


def test_sag_matches_the_papers_update(problem):
    x0 = np.array([1.0, 0.0, -1.0, 2.0])
    trace = run_batched(problem, SAG(0.05, table="generic", init="paper"), x0, iterations=300, seeds=[7])
    indices = np.random.default_rng(7).integers(0, 25, (300, 1))[:, 0]
    np.testing.assert_allclose(trace.final_x[0], reference_sag(problem, x0, 0.05, indices), rtol=1e-11)


@pytest.mark.parametrize(
    "method",
    [SAG(0.2), SAG(0.2, table="generic"), SAG(0.2, normalize_seen=True), SAG(0.2, sampling="lipschitz"),
     SAG(0.02, table="generic", init="paper"), SAGA(0.1), SAGA(0.1, table="generic"),
     SVRG(0.05, epoch_length=50)],
    ids=lambda m: m.describe(),
)
def test_methods_reach_scipys_optimum(problem, optimum, method):
    trace = run_batched(problem, method, np.zeros(4), iterations=20_000, seeds=[0, 1])
    np.testing.assert_allclose(trace.final_x, np.tile(optimum, (2, 1)), atol=1e-7)


@pytest.mark.parametrize("make", [lambda table: SAGA(0.1, table=table),
                                  lambda table: SAG(0.1, table=table, normalize_seen=True)])
def test_glm_and_generic_tables_agree_without_regulariser(make):
    """The tables differ only in where the regulariser's gradient is taken (the GLM table takes
    it at the current iterate): without a regulariser they are the same algorithm."""
    unregularised = planted_logistic(25, 4, mu=0.0, seed=5)
    glm = run_batched(unregularised, make("glm"), np.ones(4), iterations=500, seeds=[3])
    generic = run_batched(unregularised, make("generic"), np.ones(4), iterations=500, seeds=[3])
    np.testing.assert_allclose(glm.final_x, generic.final_x, rtol=1e-10)


def test_svrg_first_step_is_a_gradient_step(problem):
    x0 = np.array([1.0, -2.0, 0.5, 0.0])
    for seed in range(3):
        trace = run_batched(problem, SVRG(0.3, epoch_length=10), x0, iterations=1, seeds=[seed])
        np.testing.assert_allclose(trace.final_x[0], x0 - 0.3 * problem.gradient(x0), atol=1e-15)


def test_saga_direction_is_unbiased(problem):
    """Averaged over the sampled index, SAGA's direction is the full gradient at x."""
    method = SAGA(1.0)
    x_table = np.array([[0.3, 0.1, -0.2, 0.4]])
    method.start(problem, x_table)  # table holds the gradients at x_table
    x = np.array([[1.0, -1.0, 0.5, 2.0]])
    table, total = method.table.copy(), method.total.copy()
    directions = []
    for i in range(problem.n_samples):
        method.table, method.total = table.copy(), total.copy()
        directions.append(x[0] - method.step(problem, x, np.array([[i]]), 0)[0])
    np.testing.assert_allclose(np.mean(directions, axis=0), problem.gradient(x[0]), atol=1e-14)


@pytest.mark.parametrize("make", [lambda: SAG(0.1, normalize_seen=True), lambda: SAGA(0.1),
                                  lambda: SVRG(0.1, epoch_length=30)])
def test_batched_runs_equal_separate_runs(problem, make):
    batched = run_batched(problem, make(), np.ones(4), iterations=400, seeds=[4, 8, 15])
    for r, seed in enumerate([4, 8, 15]):
        single = run_batched(problem, make(), np.ones(4), iterations=400, seeds=[seed])
        np.testing.assert_allclose(batched.final_x[r], single.final_x[0], rtol=1e-12, atol=1e-15)


def test_state_is_counted_from_the_arrays(problem):
    n, p, x = problem.n_samples, problem.n_features, np.zeros((1, 4))
    for method, floats in [(SAG(0.1), n + 2 * p), (SAG(0.1, table="generic"), n * p + 2 * p),
                           (SAGA(0.1), n + 2 * p), (SAGA(0.1, table="generic"), n * p + 2 * p)]:
        method.start(problem, x)
        assert state_bytes(method, x) == 8 * floats
    svrg = SVRG(0.1, epoch_length=5)
    svrg.start(problem, x)
    svrg.step(problem, x, np.array([[0]]), 0)
    assert state_bytes(svrg, x) == 8 * 3 * p


def test_lipschitz_sampling_probabilities(problem):
    q = SAG(0.1, sampling="lipschitz").probabilities(problem)
    lipschitz = problem.sample_lipschitz
    np.testing.assert_allclose(q, 0.5 / 25 + 0.5 * lipschitz / lipschitz.sum())
    draws = IndexStream(25, seeds=[0], probabilities=q).draw(200_000)[:, 0, 0]
    frequencies = np.bincount(draws, minlength=25) / draws.size
    np.testing.assert_allclose(frequencies, q, atol=4 * np.sqrt(q.max() / draws.size))


def test_stop_below_ends_the_run(problem, optimum):
    f_star = problem.value(optimum)
    trace = run_batched(problem, SAG(0.2), np.zeros(4), iterations=50_000, seeds=[0, 1],
                        stop_below=(f_star, 1e-8))
    assert trace.iterations[-1] < 50_000
    assert np.all(trace.values[:, -1] - f_star <= 1e-8)
    assert np.any(trace.values[:, -2] - f_star > 1e-8) and trace.values.shape[1] == trace.iterations.size


def test_capped_decreasing_step():
    step = DecreasingStep(mu=1e-3, cap=0.5)
    assert step(0) == 0.5 and step(10**7) == pytest.approx((2e7 + 1) / (2e-3 * (1e7 + 1) ** 2))


@pytest.mark.parametrize(
    "build, error, match",
    [
        (lambda: SAG(0.0), ValueError, "> 0"),
        (lambda: SAG(DecreasingStep(1.0)), TypeError, "constant step"),
        (lambda: SAG(0.1, table="sparse"), ValueError, "table must be one of"),
        (lambda: SAG(0.1, init="paper"), ValueError, "needs table='generic'"),
        (lambda: SAG(0.1, init="ones"), ValueError, "init must be"),
        (lambda: SAG(0.1, sampling="greedy"), ValueError, "sampling must be"),
        (lambda: SAGA(-1.0), ValueError, "> 0"),
        (lambda: SVRG(0.1, epoch_length=0), ValueError, "epoch_length"),
        (lambda: IndexStream(3, [0], probabilities=[0.5, 0.5, 0.5]), ValueError, "sum to 1"),
        (lambda: IndexStream(3, [0], probabilities=[1.0, 0.0]), ValueError, "3 finite non-negative"),
    ],
)
def test_bad_input_is_rejected(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_table_methods_take_one_sample_a_step(problem):
    with pytest.raises(ValueError, match="batch_size=1"):
        run_batched(problem, SAG(0.1), np.zeros(4), iterations=3, seeds=[0], batch_size=2)


# -- SAG with the backtracking estimate of L (Schmidt, Le Roux, Bach 2017, section 4.6) ----------
def reference_backtracking_sag(problem, x0, indices, L0):
    """The line search written out as in the authors' released loop (SAGlineSearch_logistic),
    plain Python floats: GLM table, sum divided by the samples seen, test on the loss part
    f_i(x) = log(1 + exp(-y_i <a_i, x>)), step 1/(L + mu), L shrunk by 2^(-1/n) each step.
    Returns the iterates and L after every step."""
    import math  # noqa: PLC0415 - only this transcription uses it

    a, y, mu, n = problem.features.tolist(), problem.labels.tolist(), problem.mu, problem.n_samples
    p = len(a[0])
    x, d, g, covered, L = list(map(float, x0)), [0.0] * p, [0.0] * n, [False] * n, L0
    xs, Ls = [], []
    for i in indices:
        z = sum(a[i][j] * x[j] for j in range(p))
        sig = -y[i] / (1 + math.exp(y[i] * z))
        d = [d[j] + (sig - g[i]) * a[i][j] for j in range(p)]
        g[i] = sig
        covered[i] = True
        f_i = math.log1p(math.exp(-y[i] * z))
        xtx = sum(v * v for v in a[i])
        gg = sig * sig * xtx
        f_new = math.log1p(math.exp(-y[i] * (z - xtx * sig / L)))
        while gg > 2.0**-26 and f_new > f_i - gg / (2 * L):
            L *= 2
            f_new = math.log1p(math.exp(-y[i] * (z - xtx * sig / L)))
        alpha = 1 / (L + mu)
        seen = sum(covered)
        x = [(1 - alpha * mu) * x[j] - alpha / seen * d[j] for j in range(p)]
        L *= 2.0 ** (-1.0 / n)
        xs.append(x)
        Ls.append(L)
    return np.array(xs), np.array(Ls)


def test_backtracking_follows_the_papers_rule(problem):
    x0, L0 = np.array([0.5, -0.2, 0.1, 1.0]), 1e-3
    indices = np.random.default_rng(11).integers(0, problem.n_samples, 200)
    expected_x, expected_L = reference_backtracking_sag(problem, x0, indices, L0)
    method = SAG("backtracking", normalize_seen=True, lipschitz_init=L0)
    x = x0[None, :].copy()
    method.start(problem, x)
    for k, i in enumerate(indices):
        x = method.step(problem, x, np.array([[i]]), k)
        np.testing.assert_allclose(method.lipschitz, [expected_L[k]], rtol=1e-12)
        np.testing.assert_allclose(x[0], expected_x[k], rtol=1e-10, atol=1e-13)
    # The estimate climbed from L0 by doublings: it is L0 times a power of 2 times 2^(-k/n).
    climbs = np.log2(expected_L / L0) + np.arange(1, 201) / problem.n_samples
    np.testing.assert_allclose(climbs, np.round(climbs), atol=1e-9)
    assert expected_L.max() > 100 * L0


def test_backtracking_runs_batched_like_one_run_at_a_time(problem):
    """run_batched (which would use the compiled kernel for the GLM table) takes the loop, and
    each run of a batch follows its own estimate of L."""
    method = lambda: SAG("backtracking", normalize_seen=True, lipschitz_init=0.01)  # noqa: E731
    batch = run_batched(problem, method(), np.zeros(4), iterations=300, seeds=[3, 4])
    for r, seed in enumerate((3, 4)):
        alone = run_batched(problem, method(), np.zeros(4), iterations=300, seeds=[seed])
        np.testing.assert_allclose(batch.final_x[r], alone.final_x[0], rtol=1e-12)
        indices = np.random.default_rng(seed).integers(0, problem.n_samples, (300, 1))[:, 0]
        np.testing.assert_allclose(alone.final_x[0], reference_backtracking_sag(problem, np.zeros(4), indices, 0.01)[0][-1],
                                   rtol=1e-10)


def test_backtracking_reaches_scipys_optimum(problem, optimum):
    trace = run_batched(problem, SAG("backtracking", normalize_seen=True), np.zeros(4), iterations=20_000,
                        seeds=[0, 1])
    np.testing.assert_allclose(trace.final_x, np.tile(optimum, (2, 1)), atol=1e-7)
    assert "backtracking" in SAG("backtracking").describe()


@pytest.mark.parametrize("arguments, message", [
    (dict(step="backtrack"), "'backtracking'"),
    (dict(step="backtracking", table="generic"), "table='glm'"),
    (dict(step="backtracking", sampling="lipschitz"), "sampling='uniform'"),
    (dict(step="backtracking", lipschitz_init=0.0), "lipschitz_init"),
    (dict(step="backtracking", lipschitz_init=float("nan")), "lipschitz_init"),
])
def test_backtracking_rejects_bad_arguments(arguments, message):
    step = arguments.pop("step")
    with pytest.raises(ValueError, match=message):
        SAG(step, **arguments)


@pytest.mark.parametrize("start", [True, "1", None])
def test_backtracking_start_must_be_a_number(start):
    with pytest.raises(TypeError, match="lipschitz_init must be a number"):
        SAG("backtracking", lipschitz_init=start)
