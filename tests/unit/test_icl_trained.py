"""The in-context transformer (gradient, causality, read-out), its trainer, the linear probe,
and the matching of layers to Newton and GD steps, each against an independent reference."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import Ridge

from memopt.experiments import icl_trained as E
from memopt.nets.in_context import InContextTransformer, fit_in_context
from memopt.nets.probes import fit_probe
from memopt.optim.adaptive import Adam
from memopt.problems.icl import isotropic_prompts
from reference import model_gradients


def tiny(seed=1, **kwargs):
    return InContextTransformer(3, 4, width=8, heads=2, layers=2, seed=seed, dtype=np.float64, **kwargs)


def prompts(n=5, t=4, d=3, seed=0):
    return isotropic_prompts(np.random.default_rng(seed), n, t, d)


def test_gradient_matches_central_differences_in_float64():
    analytic, numeric = model_gradients(tiny(), *prompts()[:2])
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def test_loss_is_the_mean_squared_error_of_forward():
    model = tiny()
    xs, ys, _ = prompts()
    assert model.loss_and_gradient(xs, ys) == pytest.approx(((model.forward(xs, ys) - ys) ** 2).mean())


def test_prediction_i_sees_only_x_1_to_i_and_y_1_to_i_minus_1():
    model = tiny()
    xs, ys, _ = prompts()
    before = model.forward(xs, ys)
    xs2, ys2 = xs.copy(), ys.copy()
    ys2[:, 2] += 1.0  # y_3 (index 2) may change predictions 3.. only (index 3)
    xs2[:, 3] += 1.0  # x_4 (index 3) changes prediction 4 only
    after = model.forward(xs2, ys2)
    np.testing.assert_array_equal(before[:, :3], after[:, :3])
    assert np.all(before[:, 3] != after[:, 3])


def test_hidden_states_one_per_layer_and_the_last_gives_the_prediction():
    model = tiny()
    xs, ys, _ = prompts()
    states = model.hidden_states(xs, ys)
    assert len(states) == 3 and all(h.shape == (5, 4, 8) for h in states)
    readout = model.read_out.forward(model.final_norm.forward(states[-1]))[..., 0]
    np.testing.assert_allclose(readout, model.forward(xs, ys))


def test_bad_inputs_raise_clear_errors():
    model = tiny()
    xs, ys, _ = prompts()
    with pytest.raises(ValueError, match="shape"):
        model.forward(xs[:, :3], ys[:, :3])
    with pytest.raises(TypeError, match="float"):
        model.forward(xs.astype(int), ys)
    bad = xs.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        model.forward(bad, ys)
    with pytest.raises(ValueError, match="multiple of heads"):
        InContextTransformer(3, 4, width=9, heads=2)


def test_fit_in_context_is_reproducible():
    histories, calls = [], []
    for _ in range(2):
        model = tiny(seed=3)
        histories.append(fit_in_context(model, dim=3, examples=4, steps=60, batch_size=16,
                                        rule=Adam(1e-2), seed=5, callback=lambda s, l: calls.append(s)))
    np.testing.assert_array_equal(histories[0], histories[1])
    assert calls[:60] == list(range(1, 61))


def test_fit_in_context_lowers_the_loss_on_fresh_prompts():
    model = tiny(seed=3)
    xs, ys, _ = prompts(n=2000, seed=9)
    before = model.squared_errors(xs, ys).mean()
    fit_in_context(model, dim=3, examples=4, steps=300, batch_size=32, rule=Adam(3e-3), seed=5)
    assert model.squared_errors(xs, ys).mean() < 0.9 * before


def test_probe_agrees_with_scikit_learn_ridge():
    rng = np.random.default_rng(0)
    hidden = rng.normal(size=(3, 50, 6))
    targets = hidden @ rng.normal(size=6) + 0.3 + 0.1 * rng.normal(size=(3, 50))
    probe = fit_probe(hidden, targets, ridge=0.01)
    reference = Ridge(alpha=0.01 * 150).fit(hidden.reshape(-1, 6), targets.ravel())
    np.testing.assert_allclose(probe.weight, reference.coef_, rtol=1e-10)
    assert probe.bias == pytest.approx(reference.intercept_)
    np.testing.assert_allclose(probe.predict(hidden), reference.predict(hidden.reshape(-1, 6)).reshape(3, 50))


def test_probe_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        fit_probe(np.zeros((4, 3)), np.zeros(5))


def plain_newton_prediction(x, y, query, k):
    """Fu et al.'s iteration written out for one prefix: M_0 = S / ||S S^T||_F."""
    s = x.T @ x
    m = s / np.linalg.norm(s @ s.T)
    for _ in range(k):
        m = 2 * m - m @ s @ m
    return query @ m @ (x.T @ y)


def plain_gd_prediction(x, y, query, steps):
    s, w = x.T @ x, np.zeros(x.shape[1])
    eta = 1 / np.linalg.eigvalsh(s)[-1]
    for _ in range(steps):
        w = w - eta * (s @ w - x.T @ y)
    return query @ w


def test_algorithm_predictions_match_plain_transcriptions_on_every_prefix():
    xs, ys, _ = prompts(n=3, t=6, d=3, seed=2)
    newton = E.newton_predictions(xs, ys, 6)
    gd = E.gd_predictions(xs, ys, np.array([0, 1, 5, 40]))
    assert newton.shape == (7, 3, 5) and gd.shape == (4, 3, 5)
    for b in range(3):
        for i in range(1, 6):
            x, y, q = xs[b, :i], ys[b, :i], xs[b, i]
            for k in (0, 3, 6):
                assert newton[k, b, i - 1] == pytest.approx(plain_newton_prediction(x, y, q, k), rel=1e-9, abs=1e-12)
            for j, steps in enumerate((0, 1, 5, 40)):
                assert gd[j, b, i - 1] == pytest.approx(plain_gd_prediction(x, y, q, steps), rel=1e-9, abs=1e-12)


def test_newton_converges_to_the_least_squares_prediction():
    xs, ys, _ = prompts(n=4, t=8, d=3, seed=4)
    newton = E.newton_predictions(xs, ys, 40)[-1]
    for b in range(4):
        for i in range(5, 8):  # d + 2 or more examples: S is well conditioned, the solution w*
            w = np.linalg.lstsq(xs[b, :i], ys[b, :i], rcond=None)[0]
            assert newton[b, i - 1] == pytest.approx(xs[b, i] @ w, rel=1e-6)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.1, 10))
def test_similarity_of_errors_is_a_cosine_and_scale_free(seed, scale):
    rng = np.random.default_rng(seed)
    targets, a, b = rng.normal(size=(3, 7, 4))
    same = E.similarity_of_errors(a, a, targets)
    assert same == pytest.approx(1.0)
    scaled = E.similarity_of_errors(targets + scale * (a - targets), b, targets)
    assert scaled == pytest.approx(E.similarity_of_errors(a, b, targets))
    assert -1 - 1e-12 <= E.similarity_of_errors(a, b, targets) <= 1 + 1e-12
    manual = np.mean([np.dot(a[p] - targets[p], b[p] - targets[p])
                      / np.linalg.norm(a[p] - targets[p]) / np.linalg.norm(b[p] - targets[p]) for p in range(7)])
    assert E.similarity_of_errors(a, b, targets) == pytest.approx(manual)


def test_matched_steps_pick_the_most_similar_step():
    similarity = np.array([[0.1, 0.9, 0.3], [0.2, 0.4, 0.8]])
    np.testing.assert_array_equal(E.matched_steps(similarity, [0, 4, 16]), [4, 16])


def test_a_layer_that_is_newton_matches_newton():
    """A predictor equal to Newton's step 3 is matched to step 3, and to no GD step exactly."""
    xs, ys, _ = prompts(n=50, t=8, d=3, seed=6)
    newton = E.newton_predictions(xs, ys, 8)
    similarity = E.similarity_of_errors(newton[3][None], newton, ys[:, 1:])
    assert E.matched_steps(similarity, np.arange(9)) == 3


def test_line_fits_and_ratio_of_a_synthetic_result():
    config = replace(E.Config(), layers=3, batches=2, newton_steps=6)
    newton = np.zeros((2, 4, 7))
    for layer, k in enumerate((0, 2, 4, 6)):
        newton[:, layer, k] = 1
    gd_times = np.array([0, 1, 10, 100])
    gd = np.zeros((2, 4, 4))
    gd[:, np.arange(4), np.arange(4)] = 1
    errors = np.ones((2, 7))
    result = E.Result(config, np.zeros(3), newton, gd, gd_times, errors[:, :2], errors,
                      np.ones((2, 7, 7)), np.ones((2, 4, 7)))
    slopes, r2 = result.line_fits()
    np.testing.assert_allclose(slopes, 2.0)
    np.testing.assert_allclose(r2, 1.0)
    np.testing.assert_allclose(result.step_ratio(), 100 / 6)
    newton_distance, gd_distance = result.conditioned_distances()
    np.testing.assert_allclose(newton_distance, 0.0)


def test_conditioned_prompts_have_the_two_cluster_spectrum_at_trace_dim():
    xs, ys = E.conditioned_prompts(np.random.default_rng(0), 4000, 10, 4, 100.0)
    values = np.linalg.eigvalsh(np.cov(xs.reshape(-1, 4).T))
    assert values.sum() == pytest.approx(4, rel=0.05)
    assert values[-1] / values[0] == pytest.approx(100, rel=0.2)
    np.testing.assert_allclose(ys.shape, (4000, 10))


def test_config_refuses_bad_values():
    with pytest.raises(ValueError, match="batches"):
        E.Config(batches=1)
    with pytest.raises(ValueError, match="dtype"):
        E.Config(dtype="float16")
    with pytest.raises(TypeError, match="integer"):
        E.Config(layers=2.5)


def test_a_tiny_run_end_to_end():
    config = replace(E.Config(), dim=2, examples=4, width=8, layers=2, steps=20, probe_prompts=50,
                     batch_prompts=20, batches=2, newton_steps=4, gd_steps=16, gd_grid=5)
    result = E.run(config)
    summary = E.summary(result)
    assert len(summary["matched_newton_steps"]) == 2 and len(summary["matched_newton_steps"][0]) == 2
    assert result.newton_similarity.shape == (2, 3, 5)
    assert set(E.figures(result)) >= {"matching"}
