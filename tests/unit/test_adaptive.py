"""The adaptive methods against their closed-form updates: one step from rest, constant
gradients (where every average is known exactly), a per-coordinate scalar loop written from
the formulas, invariances (Adam's step ignores the gradient's scale), precisions and bad input."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memopt.optim.adaptive import Adadelta, AdaGrad, Adam, AdamW, AMSGrad, GradientStep, Momentum, RMSProp


def run(method, x0, gradients):
    x = np.array(x0, dtype=float)
    state = method.init(x)
    for g in gradients:
        method.step(x, np.asarray(g, dtype=float), state)
    return x, state


def scalar_reference(kind, x0, gradients, **h):
    """The lecture's formulas, one coordinate at a time, in plain Python floats."""
    out = []
    for j, x in enumerate(x0):
        m = v = u = vmax = 0.0
        for k, grad in enumerate(gradients, start=1):
            g = float(grad[j])
            lr = h["lr"] * (min(1.0, k / h["warmup"]) if h.get("warmup") else 1.0)
            if h.get("decay") == "inverse_sqrt":
                lr = h["lr"] / math.sqrt(k)
            if kind == "adagrad":
                v += g * g
                x -= lr * g / math.sqrt(v + h["eps"])
            elif kind == "rmsprop":
                v = h["gamma"] * v + (1 - h["gamma"]) * g * g
                x -= lr * g / math.sqrt(v + h["eps"])
            elif kind == "adadelta":
                v = h["rho"] * v + (1 - h["rho"]) * g * g
                d = math.sqrt(u + h["eps"]) / math.sqrt(v + h["eps"]) * g
                x -= lr * d
                u = h["rho"] * u + (1 - h["rho"]) * d * d
            elif kind == "amsgrad":  # Reddi et al. 2018, algorithm 2: no bias correction
                b1, b2 = h["betas"]
                m = b1 * m + (1 - b1) * g
                v = b2 * v + (1 - b2) * g * g
                vmax = max(vmax, v)
                x -= lr * m / (math.sqrt(vmax) + h["eps"])
            else:  # adam / adamw
                b1, b2 = h["betas"]
                if kind == "adamw":
                    x *= 1 - lr * h["weight_decay"]
                else:
                    g += h.get("weight_decay", 0.0) * x
                m = b1 * m + (1 - b1) * g
                v = b2 * v + (1 - b2) * g * g
                x -= lr * (m / (1 - b1**k)) / (math.sqrt(v / (1 - b2**k)) + h["eps"])
        out.append(x)
    return np.array(out)


@pytest.fixture
def gradients():
    return np.random.default_rng(0).standard_normal((25, 4)) * np.array([1e-3, 1.0, 10.0, 1e2])


X0 = [0.5, -1.0, 2.0, 0.0]


@pytest.mark.parametrize("kind, method, hyper", [
    ("adagrad", AdaGrad(lr=0.1, eps=1e-8), {"lr": 0.1, "eps": 1e-8}),
    ("rmsprop", RMSProp(lr=0.01, gamma=0.8, eps=1e-6), {"lr": 0.01, "gamma": 0.8, "eps": 1e-6}),
    ("adadelta", Adadelta(rho=0.9, eps=1e-6), {"lr": 1.0, "rho": 0.9, "eps": 1e-6}),
    ("adam", Adam(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1),
     {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-8, "weight_decay": 0.1}),
    ("adamw", AdamW(lr=1e-3, betas=(0.9, 0.98), weight_decay=1.0, warmup=10),
     {"lr": 1e-3, "betas": (0.9, 0.98), "eps": 1e-8, "weight_decay": 1.0, "warmup": 10}),
    ("amsgrad", AMSGrad(lr=0.05, betas=(0.7, 0.9), eps=1e-8), {"lr": 0.05, "betas": (0.7, 0.9), "eps": 1e-8}),
    ("amsgrad", AMSGrad(lr=0.05, betas=(0.0, 0.1), decay="inverse_sqrt"),
     {"lr": 0.05, "betas": (0.0, 0.1), "eps": 1e-8, "decay": "inverse_sqrt"}),
    ("adam", Adam(lr=0.05, betas=(0.0, 0.1), decay="inverse_sqrt"),
     {"lr": 0.05, "betas": (0.0, 0.1), "eps": 1e-8, "decay": "inverse_sqrt"}),
    ("adagrad", AdaGrad(lr=0.3, decay="inverse_sqrt"), {"lr": 0.3, "eps": 1e-8, "decay": "inverse_sqrt"}),
])
def test_every_method_matches_the_scalar_formulas(kind, method, hyper, gradients):
    x, state = run(method, X0, gradients)
    np.testing.assert_allclose(x, scalar_reference(kind, X0, gradients, **hyper), rtol=1e-12, atol=1e-15)
    assert state.step == len(gradients)


def test_one_adamw_step_from_rest_is_the_closed_form():
    # m1 = (1-b1) g and v1 = (1-b2) g^2, so the bias-corrected ratio is g / (|g| + eps):
    # x1 = (1 - a wd) x0 - a g / (|g| + eps), with a = lr / warmup at the first step.
    x0, g = np.array([1.0, -2.0, 3.0]), np.array([0.5, -4.0, 0.0])
    lr, wd, eps, warmup = 1e-3, 1.0, 1e-8, 10
    x, _ = run(AdamW(lr=lr, betas=(0.9, 0.98), eps=eps, weight_decay=wd, warmup=warmup), x0, [g])
    a = lr / warmup
    np.testing.assert_allclose(x, (1 - a * wd) * x0 - a * g / (np.abs(g) + eps), rtol=1e-14)


def test_constant_gradient_closed_forms():
    g, k = np.array([0.3, -2.0]), 40
    alpha, eps, gamma = 0.05, 1e-8, 0.9
    steps = np.arange(1, k + 1)[:, None]
    # Adam: every bias-corrected average equals g exactly, so each step is alpha g / (|g| + eps).
    x, _ = run(Adam(lr=alpha, eps=eps), [0.0, 0.0], [g] * k)
    np.testing.assert_allclose(x, -k * alpha * g / (np.abs(g) + eps), rtol=1e-10)
    # AdaGrad: v_i = i g^2.
    x, _ = run(AdaGrad(lr=alpha, eps=eps), [0.0, 0.0], [g] * k)
    np.testing.assert_allclose(x, -alpha * (g / np.sqrt(steps * g**2 + eps)).sum(axis=0), rtol=1e-12)
    # RMSProp: v_i = (1 - gamma^i) g^2.
    x, _ = run(RMSProp(lr=alpha, gamma=gamma, eps=eps), [0.0, 0.0], [g] * k)
    expected = -alpha * (g / np.sqrt((1 - gamma**steps) * g**2 + eps)).sum(axis=0)
    np.testing.assert_allclose(x, expected, rtol=1e-12)


def test_inverse_sqrt_decay_and_its_bad_combinations():
    assert [AMSGrad(lr=0.3, decay="inverse_sqrt").learning_rate(k) for k in (1, 4, 100)] == pytest.approx(
        [0.3, 0.15, 0.03])
    with pytest.raises(ValueError, match="decay must be one of constant, inverse_sqrt"):
        Adam(decay="cosine")
    with pytest.raises(ValueError, match="warmup and a decaying step"):
        RMSProp(warmup=5, decay="inverse_sqrt")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_subnormal=False), min_size=2, max_size=40),
       st.floats(0.0, 0.99), st.floats(0.0, 0.999))
def test_amsgrads_effective_step_never_grows(gradients, beta1, beta2):
    """The property AMSGrad's regret bound rests on (Reddi et al. 2018): with alpha_t = alpha/sqrt(t)
    the denominator sqrt(vmax_t) / alpha_t is non-decreasing in t, coordinate by coordinate."""
    method = AMSGrad(lr=0.1, betas=(beta1, beta2), decay="inverse_sqrt")
    x = np.zeros(1)
    state = method.init(x)
    previous = 0.0
    for k, g in enumerate(gradients, start=1):
        method.step(x, np.array([g]), state)
        denominator = math.sqrt(state["vmax"][0]) / method.learning_rate(k)
        assert denominator >= previous
        previous = denominator


def test_adams_effective_step_can_grow_where_amsgrads_cannot():
    """Reddi et al.'s point in one line: after a large gradient, Adam's v forgets it and its
    effective step alpha / sqrt(v) grows again; AMSGrad's maximum keeps it."""
    gradients = [[3.0], [-1.0], [-1.0]]
    _, adam = run(Adam(betas=(0.0, 0.1)), [0.0], gradients)
    _, ams = run(AMSGrad(betas=(0.0, 0.1)), [0.0], gradients)
    assert adam["v"][0] == pytest.approx(0.1 * (0.1 * 0.9 * 9 + 0.9) + 0.9)
    assert adam["v"][0] < 0.9 * 9 and ams["vmax"][0] == pytest.approx(0.9 * 9)


def test_warmup_is_linear_then_flat():
    method = AdamW(lr=2e-3, warmup=10)
    assert [method.learning_rate(k) for k in (1, 5, 10, 11, 1000)] == pytest.approx(
        [2e-4, 1e-3, 2e-3, 2e-3, 2e-3])
    assert AdamW(lr=2e-3).learning_rate(1) == 2e-3


def test_decoupled_and_coupled_decay_differ():
    # With a zero gradient AdamW still shrinks x by (1 - lr wd) a step; Adam's L2 term instead
    # enters the normalised step, which moves every coordinate by about lr.
    x, _ = run(AdamW(lr=0.1, weight_decay=0.5), [4.0, -0.01], [[0.0, 0.0]] * 3)
    np.testing.assert_allclose(x, np.array([4.0, -0.01]) * 0.95**3, rtol=1e-14)
    x, _ = run(Adam(lr=0.1, weight_decay=0.5), [4.0, -0.01], [[0.0, 0.0]])
    np.testing.assert_allclose(x, [3.9, 0.09], rtol=1e-5)  # eps / |g| = 2e-6 for the second


def test_batched_runs_are_independent_coordinates(gradients):
    runs = np.stack([np.array(X0), np.array(X0) * 2])
    grads = np.stack([gradients, -gradients], axis=1)  # (steps, R, p)
    x, _ = run(AdamW(lr=0.01, weight_decay=0.3), runs, grads)
    for r in range(2):
        single, _ = run(AdamW(lr=0.01, weight_decay=0.3), runs[r], grads[:, r])
        np.testing.assert_array_equal(x[r], single)


def test_float32_follows_float64(gradients):
    x64, _ = run(AdamW(lr=1e-2, weight_decay=0.1), X0, gradients)
    x = np.array(X0, dtype=np.float32)
    method = AdamW(lr=1e-2, weight_decay=0.1)
    state = method.init(x)
    for g in gradients:
        method.step(x, g.astype(np.float32), state)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, x64, rtol=1e-5, atol=1e-6)


@settings(max_examples=100, deadline=None)
@given(st.floats(min_value=1e-30, max_value=1e140), st.floats(min_value=1e-6, max_value=1e6))
def test_adams_first_step_ignores_the_gradients_scale(scale, factor):
    g = np.array([1.0, -0.5, 2e-3]) * scale
    a, _ = run(Adam(lr=1e-3, eps=1e-300), [0.0, 0.0, 0.0], [g])
    b, _ = run(Adam(lr=1e-3, eps=1e-300), [0.0, 0.0, 0.0], [g * factor])
    np.testing.assert_allclose(a, b, rtol=1e-12)
    assert np.all(np.abs(a) <= 1e-3 * (1 + 1e-12))  # the first step has length lr per coordinate


@settings(max_examples=50, deadline=None)
@given(st.floats(min_value=1e-100, max_value=1e100))
def test_adagrads_steps_ignore_the_gradients_scale(scale):
    x, state = run(AdaGrad(lr=1.0, eps=1e-300), [0.0], [[scale]] * 5)
    # with a constant gradient g and eps << g^2, after k steps x = -sum_i 1/sqrt(i)
    assert x[0] == pytest.approx(-sum(1 / math.sqrt(i) for i in range(1, 6)), rel=1e-10)


@pytest.mark.parametrize("make, match", [
    (lambda: AdamW(lr=0.0), r"lr must lie in \(0"),
    (lambda: AdamW(lr=float("nan")), "lr must lie in"),
    (lambda: AdamW(betas=(0.9, 1.0)), r"beta2 must lie in \[0, 1\)"),
    (lambda: AdamW(betas=(0.9,)), "pair"),
    (lambda: AdamW(eps=0.0), "eps must lie in"),
    (lambda: AdamW(weight_decay=-1.0), "weight_decay must lie in"),
    (lambda: AdamW(warmup=-1), "warmup must be a non-negative integer"),
    (lambda: RMSProp(gamma=1.5), "gamma must lie in"),
    (lambda: Adadelta(rho=-0.1), "rho must lie in"),
])
def test_bad_hyperparameters_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_arrays_are_refused():
    method = AdamW()
    with pytest.raises(TypeError, match="lr must be a real number"):
        AdamW(lr="0.1")
    with pytest.raises(TypeError, match="floating-point"):
        method.init(np.zeros(3, dtype=int))
    x = np.zeros(3)
    state = method.init(x)
    with pytest.raises(ValueError, match="gradient shape"):
        method.step(x, np.zeros(4), state)
    with pytest.raises(TypeError, match="gradient dtype"):
        method.step(x, np.zeros(3, dtype=np.float32), state)
    with pytest.raises(ValueError, match="another shape"):
        method.step(np.zeros(2), np.zeros(2), state)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=1, max_size=6), st.floats(0.0, 0.99), st.booleans())
def test_momentum_matches_the_heavy_ball_recursion(gradients, beta, nesterov):
    """v_k = beta v_{k-1} + g_k; heavy ball: x_k = x_{k-1} - alpha g_k + beta (x_{k-1} - x_{k-2});
    Nesterov (Sutskever et al.'s form): x_k = x_{k-1} - alpha (g_k + beta v_k)."""
    alpha = 0.1
    x, _ = run(Momentum(lr=alpha, beta=beta, nesterov=nesterov), [1.0], [[g] for g in gradients])
    previous = current = 1.0
    v = 0.0
    for g in gradients:
        v = beta * v + g
        if nesterov:
            previous, current = current, current - alpha * (g + beta * v)
        else:
            previous, current = current, current - alpha * g + beta * (current - previous)
    assert x[0] == pytest.approx(current, rel=1e-12, abs=1e-12)


def test_gradient_step_is_sgd_and_keeps_no_memory():
    x, state = run(GradientStep(lr=0.5), [1.0, -2.0], [[1.0, 2.0], [3.0, -1.0]])
    np.testing.assert_array_equal(x, [1.0 - 0.5 - 1.5, -2.0 - 1.0 + 0.5])
    assert set(state.arrays) == {"scratch"} and state.memory == {}
    assert set(AMSGrad().init(np.zeros(3)).memory) == {"m", "v", "vmax"}


@pytest.mark.parametrize("make, match", [
    (lambda: Momentum(beta=1.0), "beta must lie"),
    (lambda: Momentum(lr=-1.0), "lr must lie"),
    (lambda: Momentum(nesterov=1), "nesterov"),
])
def test_bad_momentum_arguments_are_refused(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()
