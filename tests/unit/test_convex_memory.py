"""The hard function, the ellipsoid, limited-memory cutting planes and projected subgradient
descent against independent references: naive formulas, finite differences, the textbook
volume factor, SciPy solvers, and the chapter's experiment at a tiny scale."""

import json
import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import central_difference
from scipy.optimize import minimize

from memopt import claims
from memopt.experiments import convex_memory as cm
from memopt.optim.cutting_plane import (
    analytic_centre,
    ellipsoid,
    ellipsoid_volume_factor,
    limited_memory_cutting_plane,
)
from memopt.optim.first_order import (
    QueryRun,
    project_to_ball,
    projected_subgradient_descent,
)
from memopt.problems.nemirovski import HardFunction, L1Distance, least_norm_point


# -- references --------------------------------------------------------------------------------
def naive_value(f: HardFunction, x):
    """F(x) written out term by term."""
    barrier = f.eta * max(abs(sum(a * b for a, b in zip(row, x))) for row in f.A) - f.rho
    pieces = [sum(a * b for a, b in zip(v, x)) - (i + 1) * f.gamma for i, v in enumerate(f.V)]
    return f.scale * max(barrier, max(pieces))




def slsqp_minimum(f: HardFunction):
    """min F over the ball as the epigraph problem min t s.t. every piece <= t, ||x|| <= 1,
    solved by SciPy's SLSQP (independent of the least-norm bisection in the library)."""
    d = f.dim

    def constraints(z):
        x, t = z[:d], z[d]
        return np.concatenate([(t + f.rho) / f.eta - f.A @ x, (t + f.rho) / f.eta + f.A @ x,
                               t - (f.V @ x - f.offsets), [1 - x @ x]])

    z0 = np.zeros(d + 1)
    z0[d] = 1.0
    res = minimize(lambda z: z[d], z0, jac=lambda z: np.eye(d + 1)[d], method="SLSQP",
                   constraints=[{"type": "ineq", "fun": constraints}], options={"ftol": 1e-14, "maxiter": 500})
    return f.scale * res.fun, res.x[:d]


@pytest.fixture
def small():
    return HardFunction.draw(8, seed=3)


# -- the hard function -------------------------------------------------------------------------
def test_draw_has_the_papers_distribution_and_constants():
    f = HardFunction.draw(12, seed=1)
    assert f.A.shape == (6, 12) and set(np.unique(f.A)) == {-1.0, 1.0}
    assert f.n_pieces == 3 and np.allclose(np.abs(f.V), 12**-0.5)
    assert f.eta == 12.0**5 and f.rho == 1.0 and f.scale == pytest.approx(12.0**-6)
    assert f.gamma == pytest.approx(0.25 * 3**-1.5)
    # 1-Lipschitz, as the paper's factor d^-6 intends: scale * eta * sqrt(d) = d^-1/2
    assert f.lipschitz == pytest.approx(12**-0.5) and f.lipschitz <= 1
    np.testing.assert_array_equal(f.A, HardFunction.draw(12, seed=1).A)
    assert not np.array_equal(f.A, HardFunction.draw(12, seed=2).A)
    assert HardFunction.draw(9, seed=0).A.shape == (4, 9)  # floor(d/2) rows


def test_value_matches_the_formula(small):
    for x in np.random.default_rng(0).standard_normal((5, 8)) * 0.3:
        assert small.value(x) == pytest.approx(naive_value(small, x), rel=1e-12)
    xs = np.random.default_rng(1).standard_normal((4, 8))
    np.testing.assert_allclose(small.value(xs), [small.value(x) for x in xs], rtol=1e-14)


@pytest.mark.parametrize("eta", [8.0, 8.0**5])
def test_subgradients_match_finite_differences_where_differentiable(eta):
    f = HardFunction.draw(8, seed=5, eta=eta, scale=1.0)
    rng = np.random.default_rng(2)
    seen = {"barrier": 0, "piece": 0}
    for _ in range(200):
        # points near null(A) reach the Nemirovski pieces; random points hit the barrier
        x = rng.standard_normal(8)
        if rng.random() < 0.5:
            x -= np.linalg.lstsq(f.A, f.A @ x, rcond=None)[0]
            x += rng.standard_normal(8) * 0.1 / eta
        x *= 0.5 / np.linalg.norm(x)
        barrier, nemirovski, _, _, _ = f._parts(x)
        pieces = np.sort(f.V @ x - f.offsets)
        rows = np.sort(np.abs(f.A @ x))
        h = 1e-5 / eta  # F is piecewise linear: no truncation error, rounding ~ 1e-16 / h
        reach = h * eta * np.sqrt(8)  # how far a step of h moves the barrier
        if abs(barrier - nemirovski) < 2 * reach or pieces[-1] - pieces[-2] < 2 * h or rows[-1] - rows[-2] < 2 * h * np.sqrt(8):
            continue  # too close to a kink for a finite difference
        _, g = f.oracle(x)
        np.testing.assert_allclose(g, central_difference(f.value, x, h), rtol=1e-5, atol=1e-6)
        seen["barrier" if barrier > nemirovski else "piece"] += 1
    assert seen["barrier"] >= 5 and seen["piece"] >= 5


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([1.0, 6.0**5, 1e12]), st.floats(1e-6, 1.0))
def test_oracle_answers_are_subgradients(seed, eta, size):
    """F(y) >= F(x) + g^T (y - x) for every y (convexity), at kinks and huge eta included."""
    f = HardFunction.draw(6, seed=seed % 50, eta=eta, scale=1.0)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(6) * size
    if seed % 3 == 0:
        x = np.zeros(6)  # every piece of the barrier ties at 0
    value, g = f.oracle(x)
    ys = x + rng.standard_normal((50, 6)) * size
    slack = f.value(ys) - (value + (ys - x) @ g)
    assert np.all(slack >= -1e-9 * max(1.0, eta) * (abs(value) + size))


def test_oracle_reveals_the_first_maximal_piece(small):
    f = HardFunction(np.ones((1, 2)), np.array([[1.0, 0.0], [1.0, 0.0]]), eta=1.0, rho=10.0, gamma=0.0)
    _, g = f.oracle(np.array([0.5, -0.5]))  # both pieces tie: the first is reported
    np.testing.assert_array_equal(g, [1.0, 0.0])
    assert f.active_piece(np.array([0.5, -0.5])) == 0
    assert small.active_piece(np.ones(8)) == -1  # far from null(A): the barrier answers


def test_least_norm_point_matches_scipy():
    rng = np.random.default_rng(4)
    for _ in range(10):
        rows = rng.standard_normal((6, 4))
        bounds = rng.standard_normal(6) - 1.0
        x = least_norm_point(rows, bounds)
        constraint = {"type": "ineq", "fun": lambda z, b=bounds, r=rows: b - r @ z,
                      "jac": lambda z, r=rows: -r}
        res = minimize(lambda z: z @ z, np.zeros(4), jac=lambda z: 2 * z, method="SLSQP",
                       constraints=[constraint], options={"ftol": 1e-14, "maxiter": 500})
        if x is None:
            assert not res.success or np.any(rows @ res.x > bounds + 1e-6)
            continue
        assert np.all(rows @ x <= bounds + 1e-9)
        np.testing.assert_allclose(x, res.x, atol=1e-6)
    assert least_norm_point(np.array([[1.0], [-1.0]]), np.array([-1.0, -1.0])) is None  # x<=-1, x>=1


@pytest.mark.parametrize("dim, eta", [(6, None), (8, None), (8, 8.0), (10, 10.0)])
def test_minimum_matches_slsqp_and_random_search(dim, eta):
    f = HardFunction.draw(dim, seed=dim, eta=eta)
    found = f.minimize()
    reference, _ = slsqp_minimum(f)
    gap = float(f.value(np.zeros(dim))) - found.value
    assert found.value == pytest.approx(reference, abs=1e-7 * gap)
    assert np.linalg.norm(found.x) <= 1 + 1e-12
    assert float(f.value(found.x)) == pytest.approx(found.value, abs=1e-6 * gap)
    samples = np.random.default_rng(0).standard_normal((5000, dim))
    samples *= np.random.default_rng(1).random((5000, 1)) ** (1 / dim) / np.linalg.norm(samples, axis=1, keepdims=True)
    assert f.value(samples).min() >= found.value - 1e-12 * gap


def test_l1_distance():
    f = L1Distance.draw(5, seed=2)
    assert np.linalg.norm(f.centre) == pytest.approx(0.5)
    x = np.random.default_rng(0).standard_normal(5)
    assert f.value(x) == pytest.approx(np.sum(np.abs(x - f.centre)) / np.sqrt(5))
    np.testing.assert_allclose(f.oracle(x)[1], central_difference(f.value, x, 1e-7), atol=1e-7)
    assert f.minimize().value == 0 and f.value(f.centre) == 0
    batch = L1Distance.draw(5, runs=3, seed=2)
    xs = np.random.default_rng(1).standard_normal((3, 5))
    np.testing.assert_allclose(batch.value(xs), [L1Distance(c).value(x) for c, x in zip(batch.centre, xs)])


# -- the ellipsoid -----------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [2, 3, 5, 10, 40])
def test_ellipsoid_volume_shrinks_by_the_textbook_factor(dim):
    f = HardFunction.draw(max(dim, 4), seed=1, eta=3.0, scale=1.0) if dim >= 4 else L1Distance.draw(dim, seed=1)
    _, log_volumes = ellipsoid(f.oracle, dim, queries=60, record_volume=True)
    steps = np.diff(np.concatenate([[0.0], log_volumes]))
    # the volume ratio (d/(d+1)) (d^2/(d^2-1))^((d-1)/2), computed here without the library
    d = float(dim)
    textbook = np.log(d / (d + 1)) + (d - 1) / 2 * np.log(d * d / (d * d - 1))
    np.testing.assert_allclose(steps, textbook, rtol=1e-9, atol=1e-12)
    assert math.log(ellipsoid_volume_factor(dim)) == pytest.approx(textbook, rel=1e-13)
    assert ellipsoid_volume_factor(dim) <= math.exp(-1 / (2 * (dim + 1)))


def test_ellipsoid_factor_update_is_the_textbook_matrix_update():
    """Two steps of the factored update equal P <- d^2/(d^2-1) (P - 2/(d+1) b b^T)."""
    f = L1Distance.draw(4, seed=3)
    d, P, c = 4, np.eye(4), np.zeros(4)
    for _ in range(3):
        _, g = f.oracle(c)
        b = P @ g / np.sqrt(g @ P @ g)
        c = c - b / (d + 1)
        P = d * d / (d * d - 1) * (P - 2 / (d + 1) * np.outer(b, b))
    run = ellipsoid(f.oracle, 4, queries=4)
    # the fourth query is at the centre after three cuts, if no ball cut intervened
    assert np.linalg.norm(c) <= 1
    values = run.values[0]
    assert values[3] == pytest.approx(float(f.value(c)), rel=1e-12)


@pytest.mark.parametrize("problem", ["hard", "l1"])
def test_ellipsoid_reaches_the_reference_minimum(problem):
    f = HardFunction.draw(6, seed=2) if problem == "hard" else L1Distance.draw(6, seed=2)
    best = f.minimize().value
    gap = float(f.value(np.zeros(6))) - best
    run = ellipsoid(f.oracle, 6, queries=3000)
    assert run.output_values[0, -1] - best <= 1e-6 * gap
    assert run.state_floats == 6 * 6 + 6 and run.output_floats == 7
    assert np.all(np.diff(run.output_values[0]) <= 0)  # best value so far


# -- limited-memory cutting planes -------------------------------------------------------------
def test_analytic_centre_matches_scipy():
    rng = np.random.default_rng(5)
    normals = rng.standard_normal((7, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    offsets = rng.random(7) * 0.5 + 0.1  # 0 is strictly inside
    x, factor = analytic_centre(normals, offsets, 1.0, np.zeros(3))

    def phi(z):
        s = offsets - normals @ z
        return np.inf if np.any(s <= 0) or z @ z >= 1 else -np.log(s).sum() - np.log(1 - z @ z)

    ref = minimize(phi, np.zeros(3), method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20000})
    np.testing.assert_allclose(x, ref.x, atol=1e-6)
    s = offsets - normals @ x
    hessian = (normals / s[:, None] ** 2).T @ normals + 2 / (1 - x @ x) * np.eye(3) + 4 * np.outer(x, x) / (1 - x @ x) ** 2
    np.testing.assert_allclose(factor.T @ factor, hessian, rtol=1e-9)


@pytest.mark.parametrize("problem, dim", [("hard", 6), ("l1", 5), ("hard", 10)])
def test_cutting_planes_reach_the_reference_minimum(problem, dim):
    f = HardFunction.draw(dim, seed=4) if problem == "hard" else L1Distance.draw(dim, seed=4)
    best = f.minimize().value
    gap = float(f.value(np.zeros(dim))) - best
    run = limited_memory_cutting_plane(f.oracle, dim, 4 * dim, queries=600, target=best + 1e-6 * gap)
    assert run.output_values[0, -1] - best <= 1e-6 * gap
    assert run.state_floats <= 4 * dim * (dim + 1) + dim + 1


def test_cut_memory_is_counted_and_capped():
    f = HardFunction.draw(8, seed=1)
    for m in (3, 12):
        run = limited_memory_cutting_plane(f.oracle, 8, m, queries=200)
        assert run.state_floats == m * 9 + 8 + 1  # m cuts of d + 1 floats, the centre, f_best
        assert run.queries == 200  # runs that stopped early are padded with their last output


def test_too_few_cuts_stop_on_a_cycle_not_at_the_budget():
    f = HardFunction.draw(16, seed=0)
    run = limited_memory_cutting_plane(f.oracle, 16, 8, queries=5000)
    best = f.minimize().value
    start = float(f.value(np.zeros(16)))
    assert np.isinf(run.queries_to_accuracy(best, start, [0.5])[0, 0])


# -- projected subgradient descent -------------------------------------------------------------
def reference_subgradient(f, x0, queries):
    """The method written out for one run: x <- P(x - D/(G sqrt(k+1)) g), weighted average."""
    x, total, weight, outputs = np.array(x0, float), np.zeros_like(x0), 0.0, []
    for k in range(queries):
        _, g = f.oracle(x)
        step = 1.0 / math.sqrt(k + 1)
        weight += step
        total += step * x
        outputs.append(float(f.value(total / weight)))
        x = x - step * g
        x = x / max(1.0, np.linalg.norm(x))
    return np.asarray(outputs)


def test_subgradient_descent_matches_the_reference_loop_and_batches():
    f = L1Distance.draw(6, runs=3, seed=1)
    run = projected_subgradient_descent(f.oracle, np.zeros((3, 6)), lipschitz=1.0, queries=300,
                                        distance=1.0, value=f.value)
    for r in range(3):
        single = L1Distance(f.centre[r])
        np.testing.assert_allclose(run.output_values[r], reference_subgradient(single, np.zeros(6), 300), rtol=1e-10)
    assert run.state_floats == 6 and run.output_floats == 7


def test_subgradient_descent_obeys_the_textbook_bound():
    f = L1Distance.draw(10, runs=4, seed=0)
    run = projected_subgradient_descent(f.oracle, np.zeros((4, 10)), lipschitz=1.0, queries=2000,
                                        distance=1.0, value=f.value)
    k = np.arange(1, 2001)
    steps = 1 / np.sqrt(k)
    bound = (1 + np.cumsum(steps**2)) / (2 * np.cumsum(steps))
    assert np.all(run.output_values <= bound[None, :] + 1e-12)
    # the chapter's closed-form count is conservative: the exact bound is met by then
    for eps in (0.2, 0.1):
        count = int(cm.subgradient_bound_queries(eps, 1.0, 1.0)[0])
        assert count <= 2000 and bound[count - 1] <= eps


def test_projection_and_accuracy_counts():
    np.testing.assert_allclose(project_to_ball(np.array([[3.0, 4.0], [0.3, 0.4]]), 1.0), [[0.6, 0.8], [0.3, 0.4]])
    run = QueryRun("t", np.zeros((2, 4)), np.array([[1.0, 0.5, 0.3, 0.3], [0.9, 0.9, 0.9, 0.05]]), 3, 4, np.zeros((2, 1)))
    counts = run.queries_to_accuracy(0.0, 1.0, [0.5, 0.1])
    np.testing.assert_array_equal(counts, [[2, np.inf], [4, 4]])
    assert run.state_bits() == 192


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    ({"A": np.ones((2, 3)), "V": np.ones((1, 4))}, "as many columns"),
    ({"A": np.ones((2, 3)), "V": np.ones((1, 3)), "eta": 0.0}, "eta must be finite and > 0"),
    ({"A": np.ones((2, 3)), "V": np.ones((1, 3)), "gamma": -1.0}, "gamma must be finite and >= 0"),
    ({"A": np.full((2, 3), np.nan), "V": np.ones((1, 3))}, "finite"),
    ({"A": np.ones((2, 3)), "V": np.ones((1, 3)), "scale": np.inf}, "scale must be finite"),
])
def test_hard_function_rejects_bad_parameters(kwargs, match):
    params = {"eta": 1.0, "rho": 1.0, "gamma": 0.1, **kwargs}
    with pytest.raises(ValueError, match=match):
        HardFunction(params.pop("A"), params.pop("V"), **params)


def test_bad_points_and_draws_are_rejected(small):
    with pytest.raises(ValueError, match="x must have shape"):
        small.value(np.zeros(7))
    with pytest.raises(ValueError, match="NaN"):
        small.oracle(np.full(8, np.nan))
    with pytest.raises(TypeError, match="real numbers"):
        small.value(np.array(["a"] * 8))
    with pytest.raises(ValueError, match="dim must be >= 2"):
        HardFunction.draw(1)
    with pytest.raises(ValueError, match="n_pieces must be a positive integer"):
        HardFunction.draw(8, n_pieces=0)
    with pytest.raises(ValueError, match="distance must be < 1"):
        L1Distance.draw(4, distance=1.5)


def test_methods_reject_bad_arguments(small):
    with pytest.raises(ValueError, match="dim must be an integer >= 2"):
        ellipsoid(small.oracle, 1, queries=10)
    with pytest.raises(ValueError, match="queries must be a positive integer"):
        ellipsoid(small.oracle, 8, queries=0)
    with pytest.raises(ValueError, match="radius must be a finite number > 0"):
        limited_memory_cutting_plane(small.oracle, 8, 4, queries=10, radius=-1.0)
    with pytest.raises(ValueError, match="max_cuts must be a positive integer"):
        limited_memory_cutting_plane(small.oracle, 8, 0, queries=10)
    with pytest.raises(ValueError, match="subgradient of shape"):
        ellipsoid(lambda x: (0.0, np.zeros(3)), 8, queries=10)
    with pytest.raises(ValueError, match="lipschitz must be a finite number > 0"):
        projected_subgradient_descent(small.oracle, np.zeros(8), lipschitz=0.0, queries=5, value=small.value)
    with pytest.raises(TypeError, match="value must be a callable"):
        projected_subgradient_descent(small.oracle, np.zeros(8), lipschitz=1.0, queries=5, value=None)
    with pytest.raises(ValueError, match="f_start must exceed f_star"):
        ellipsoid(small.oracle, 8, queries=3).queries_to_accuracy(1.0, 0.0, [0.1])
    with pytest.raises(ValueError, match="eps must be positive"):
        ellipsoid(small.oracle, 8, queries=3).queries_to_accuracy(0.0, 1.0, [0.0])


@pytest.mark.parametrize("kwargs, match", [
    ({"dim": 10}, "must be one of dims"),
    ({"eps_fixed": 0.3}, "eps_fixed must be one of eps"),
    ({"runs": 1}, "runs >= 2"),
    ({"sgd_fit": (0.5, 0.25)}, "sgd_fit"),
    ({"shape_range": (2.0**-12, 2.0**-5)}, "geometric middle"),
    ({"shape_dims": (16, 64)}, "shape_dims"),
    ({"cut_multiples": (0.0, 1.0)}, "cut counts must be positive"),
])
def test_config_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        cm.Config(**kwargs)


# -- the experiment at a tiny scale ------------------------------------------------------------
TINY = cm.Config(dim=6, dims=(4, 6), eps=tuple(2.0**-k for k in range(1, 6)), eps_fixed=2.0**-3,
                 runs=2, ellipsoid_runs=3, sgd_queries=3000, sgd_hard_queries=200, sgd_hard_runs=1,
                 cut_queries_per_d2=20, cut_sweep_queries=200, cut_multiples=(0.5, 2.0, 4.0),
                 sgd_fit=(2.0**-5, 2.0**-2), shape_range=(2.0**-5, 2.0**-1), shape_dims=(6,))


@pytest.fixture(scope="module")
def result():
    return cm.run(TINY)


def test_experiment_runs_every_setting(result):
    assert set(result.sweeps) == {"hard", "l1"}
    assert result.sweep("hard", "ellipsoid").queries.shape == (3, 5)
    # the peak state over the runs: at most 4d cuts of d + 1 floats, the centre and f_best
    assert 5 + 4 + 1 < result.sweep("l1", "cuts", 4).state_floats <= 16 * 5 + 4 + 1
    assert result.state_floats("ellipsoid", 4) == 20 and result.state_floats("subgradient", 6, "l1") == 6
    assert sorted(result.cut_sweeps["hard"]) == [3, 12, 24]
    assert result.sgd_hard_accuracy.shape == (1,) and result.sgd_hard_bound > 1e6


def test_claim_statistics_by_hand(result):
    eps = np.array([0.5, 0.25, 0.125])
    queries = np.array([7 * eps**-2.0, 3 * eps**-1.5])
    np.testing.assert_allclose(cm.instance_slopes(eps, queries, (0.125, 0.5)), [2.0, 1.5])
    np.testing.assert_allclose(cm.instance_slopes(eps, queries, (0.25, 0.5)), [2.0, 1.5])
    with pytest.raises(ValueError, match="did not reach"):
        cm.instance_slopes(eps, np.array([[1.0, np.inf, 3.0], [1.0, 2.0, 3.0]]), (0.125, 0.5))
    # the subgradient exponent: per-instance slopes over sgd_fit, mean +- 2 s.e.
    sweep = result.sweep("l1", "subgradient")
    slopes = cm.instance_slopes(sweep.eps, sweep.queries, TINY.sgd_fit)
    estimate = result.sgd_exponent()
    assert estimate.value == pytest.approx(slopes.mean())
    assert estimate.high - estimate.value == pytest.approx(2 * slopes.std(ddof=1) / math.sqrt(slopes.size))
    # the shape: queries per halving 2^-1 -> 2^-3 and 2^-3 -> 2^-5, late over early
    q = result.sweep("hard", "ellipsoid", 6).queries
    early, late, halvings = result.ellipsoid_halvings(6)
    assert halvings == 2
    np.testing.assert_allclose(early, (q[:, 2] - q[:, 0]) / 2)
    np.testing.assert_allclose(late, (q[:, 4] - q[:, 2]) / 2)
    if early.mean() > 0:
        assert result.ellipsoid_shape(6).value == pytest.approx(late.mean() / early.mean())
    # the bound: every run's largest ratio of queries to 2d(d+1) ln(osc/eps)
    ratios = result.ellipsoid_bound_ratios()
    assert ratios.size == 2 * TINY.runs + TINY.ellipsoid_runs + TINY.runs  # hard at d=6 has ellipsoid_runs
    assert result.ellipsoid_bound_ratio().high == pytest.approx(ratios.max())
    assert np.all(ratios > 0) and np.all(ratios <= 1)
    # the cut claims: per-instance ratios between consecutive m, and fewest over most
    counts, lower, _ = result.cut_queries("hard")
    runs = [result.cut_sweeps["hard"][m].at_budget(TINY.eps_fixed) for m in counts]
    assert result.cut_ratio("hard").value == pytest.approx(np.mean(runs[0] / runs[-1]))
    for m, larger, ratio in result.cut_pairs("hard"):
        k = list(counts).index(m)
        assert counts[k + 1] == larger
        assert np.isfinite(result.cut_sweeps["hard"][larger].at(TINY.eps_fixed)).all()
        assert ratio.value == pytest.approx(np.mean(runs[k + 1] / runs[k]))
    # the first version's statistic is kept for the record
    _, increments = result.ellipsoid_increments()
    assert result.increment_spread() == pytest.approx(np.max(np.abs(increments / increments.mean() - 1)))


def test_ratio_of_means_by_hand():
    numerators, denominators = np.array([2.0, 4.0, 3.0, 5.0]), np.array([1.0, 2.0, 2.0, 3.0])
    estimate = claims.ratio_of_means(numerators, denominators, what="instances")
    ratio = numerators.mean() / denominators.mean()
    linearised = (numerators - ratio * denominators) / denominators.mean()
    assert estimate.value == pytest.approx(ratio)
    assert estimate.high - estimate.value == pytest.approx(2 * linearised.std(ddof=1) / 2)
    assert "delta method" in estimate.method and "4 instances" in estimate.method
    exact = claims.ratio_of_means(2 * denominators, denominators)
    assert exact.value == exact.low == exact.high == pytest.approx(2.0)
    with pytest.raises(ValueError, match="positive"):
        claims.ratio_of_means(numerators, -denominators)
    with pytest.raises(ValueError, match="paired"):
        claims.ratio_of_means(numerators, denominators[:3])


def test_ellipsoid_dim_exponent_pairs_instances_by_index(result):
    dims = np.asarray(TINY.dims, dtype=float)
    queries = np.array([result.sweep("hard", "ellipsoid", d).queries[:TINY.runs, result._fixed]
                        for d in TINY.dims]).T
    slopes = np.log(queries[:, 1] / queries[:, 0]) / np.log(dims[1] / dims[0])  # two dimensions
    estimate = result.ellipsoid_dim_exponent("hard")
    assert estimate.value == pytest.approx(slopes.mean())
    assert "instances per d" in estimate.method


def test_theorem_shapes_end_where_the_theorems_say():
    shapes = cm.theorem_shapes(16)
    memory, queries = shapes["marsden2022"]
    assert memory[0] == pytest.approx(16**1.25) and queries[0] == pytest.approx(16)
    assert memory[-1] == pytest.approx(16) and queries[-1] == pytest.approx(16 ** (4 / 3))
    memory, queries = shapes["blanchard2023"]
    assert memory[0] == pytest.approx(256) and queries[-1] == pytest.approx(16 ** (4 / 3))


def test_ellipsoid_bound_holds_on_the_runs(result):
    sweep = result.sweep("hard", "ellipsoid")
    finite = np.isfinite(sweep.queries)
    assert np.all(sweep.queries[finite] <= sweep.bound[finite])


def test_figures_are_labelled_and_summary_is_json(result):
    for fig in cm.figures(result).values():
        for ax in fig.axes:
            assert ax.get_xlabel() and ax.get_ylabel()
        plt.close(fig)
    summary = cm.summary(result)
    json.dumps(summary)
    assert summary["state_floats"]["ellipsoid"]["6"] == 42
    assert set(summary["ellipsoid_late_over_early_queries_per_halving"]) == {"6"}
