"""The landscape chapter's experiment: projections, cosines, rises and curvature ratios
against independent references (a plain NumPy transcription of the network's loss, SciPy,
closed forms), and a tiny end-to-end run."""

from __future__ import annotations

import dataclasses

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cosine as scipy_cosine_distance
from scipy.special import logsumexp

from memopt.experiments import landscape
from memopt.nets import MLPClassifier
from memopt.nets.curvature import extreme_eigenvalues


def reference_loss(network: MLPClassifier, theta: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy of a ReLU MLP (with skips where widths agree), written from scratch."""
    widths = (network.input_length, *network.hidden, network.classes)
    h, start, layers = x, 0, []
    for d_in, d_out in zip(widths[:-1], widths[1:]):
        w = theta[start:start + d_in * d_out].reshape(d_in, d_out)
        start += d_in * d_out
        b = theta[start:start + d_out]
        start += d_out
        layers.append((w, b))
    for i, (w, b) in enumerate(layers[:-1]):
        out = np.maximum(h @ w + b, 0.0)
        h = h + out if network.residual and w.shape[0] == w.shape[1] else out
    logits = h @ layers[-1][0] + layers[-1][1]
    return float(np.mean(logsumexp(logits, axis=1) - logits[np.arange(len(y)), y]))


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    x = rng.random((30, 6))
    y = rng.integers(0, 3, 30)
    return x, y


@pytest.mark.parametrize("residual", [False, True])
def test_line_losses_match_a_transcription_and_restore_the_weights(problem, residual):
    x, y = problem
    network = MLPClassifier(6, 3, (5, 5), residual=residual, seed=1, dtype=np.float64)
    theta = np.array(network.params.vector)
    d = np.random.default_rng(2).standard_normal(theta.size) * 0.3
    alphas = np.array([-1.0, -0.25, 0.0, 0.5])
    losses = landscape.line_losses(network, theta, d, alphas, x, y)
    expected = [reference_loss(network, theta + a * d, x, y) for a in alphas]
    np.testing.assert_allclose(losses, expected, rtol=1e-12)
    np.testing.assert_array_equal(network.params.vector, theta)


def test_plane_losses_are_indexed_rows_b_columns_a(problem):
    x, y = problem
    network = MLPClassifier(6, 3, (4,), seed=3, dtype=np.float64)
    theta = np.array(network.params.vector)
    rng = np.random.default_rng(4)
    d1, d2 = rng.standard_normal((2, theta.size)) * 0.2
    grid = np.array([-1.0, 0.0, 0.5])
    plane = landscape.plane_losses(network, theta, d1, d2, grid, x, y)
    for i, b in enumerate(grid):
        for j, a in enumerate(grid):
            assert plane[i, j] == pytest.approx(reference_loss(network, theta + a * d1 + b * d2, x, y), rel=1e-12)
    np.testing.assert_array_equal(network.params.vector, theta)


def test_line_losses_reject_a_direction_of_the_wrong_shape(problem):
    x, y = problem
    network = MLPClassifier(6, 3, (4,), seed=0, dtype=np.float64)
    with pytest.raises(ValueError, match="direction must have the shape"):
        landscape.line_losses(network, network.params.vector, np.ones(3), [0.0], x, y)


@given(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=20).filter(lambda v: np.linalg.norm(v) > 1e-3),
       st.integers(0, 2**31))
@settings(max_examples=50, deadline=None)
def test_cosine_agrees_with_scipy(u, seed):
    u = np.array(u)
    v = np.random.default_rng(seed).standard_normal(u.size)
    assert landscape.cosine(u, v) == pytest.approx(1 - scipy_cosine_distance(u, v), abs=1e-12)


def test_cosine_of_a_zero_vector_is_an_error():
    with pytest.raises(ValueError, match="zero vector"):
        landscape.cosine(np.zeros(3), np.ones(3))


def test_local_rise_of_a_parabola_is_its_closed_form():
    alphas = np.linspace(-1, 1, 41)
    c, shift = 2.0, 0.01
    losses = c * (alphas - shift) ** 2
    # min over a = +-0.05 of c (a - shift)^2 - c shift^2 is at a = +0.05
    assert landscape.local_rise(losses, alphas, 0.05) == pytest.approx(c * (0.05 - shift) ** 2 - c * shift**2)
    assert landscape.local_rise(-losses, alphas, 0.05) < 0
    with pytest.raises(ValueError, match="not on the line's grid"):
        landscape.local_rise(losses, alphas, 0.07)


@given(st.floats(-1e6, 1e6), st.floats(1e-6, 1e6))
def test_curvature_ratio_is_zero_for_positive_definite_and_the_ratio_otherwise(smallest, largest):
    ratio = landscape.curvature_ratio(smallest, largest)
    assert ratio >= 0
    assert ratio == (0.0 if smallest >= 0 else pytest.approx(-smallest / largest))


def test_curvature_ratio_needs_a_positive_largest_eigenvalue():
    with pytest.raises(ValueError, match="largest eigenvalue must be positive"):
        landscape.curvature_ratio(-1.0, 0.0)


def test_curvature_ratio_of_a_quadratic_matches_numpy_eigenvalues():
    rng = np.random.default_rng(5)
    q = np.linalg.qr(rng.standard_normal((12, 12)))[0]
    eigenvalues = np.linspace(-0.7, 3.0, 12)
    hessian = q @ np.diag(eigenvalues) @ q.T
    low, high = extreme_eigenvalues(lambda theta: hessian @ theta, rng.standard_normal(12))
    reference = np.linalg.eigvalsh(hessian)
    assert landscape.curvature_ratio(low.value, high.value) == pytest.approx(
        abs(reference[0]) / reference[-1], rel=1e-6)


TINY = landscape.Config(n_train=120, n_test=60, hidden=(8,), depth=2, width=4, steps=6, polish_steps=2,
                        batch_size=20, seeds=(0, 1), deep_seeds=(0, 1), directions=2, line_points=5,
                        plane_points=3, deep_span=0.5, curvature_points=3, curvature_rows=20, small=0.5)


@pytest.mark.parametrize("change", [dict(n_train=0), dict(seeds=(0,)), dict(line_points=4), dict(small=2.0),
                                    dict(directions=1), dict(span=-1.0), dict(polish_steps=-1),
                                    dict(n_train=1500, n_test=400), dict(deep_activation="sigmoid")])
def test_config_rejects_bad_values_with_a_message(change):
    with pytest.raises(ValueError):
        dataclasses.replace(TINY, **change)


def test_scales_have_book_and_paper():
    assert set(landscape.SCALES) >= {"book", "paper"}
    assert landscape.SCALES["paper"].plane_points > landscape.SCALES["book"].plane_points


def test_tiny_run_is_consistent():
    result = landscape.run(TINY)
    for (variant, seed), trained in result.shallow.items():
        centre = TINY.line_points // 2
        # every line through the final point passes through L(final) at a = 0
        np.testing.assert_allclose(trained.lines["final", "train"][:, centre], trained.final_train_loss, rtol=1e-12)
        assert (trained.plane is not None) == (seed == TINY.seeds[0])
        assert len(trained.cosines) == 1
    assert result.rises("no dropout").shape == (len(TINY.seeds) * TINY.directions,)
    assert result.ratio_differences().shape == (len(TINY.deep_seeds),)
    assert np.all(result.deep["skips", 0].largest > 0)
    summary = landscape.summary(result)
    assert set(summary) == {"shallow", "deep", "scaled_cosines", "ratio_differences", "strong_fraction_differences"}
    assert 0 <= result.strong_fraction("skips", 0) <= 1
    figures = landscape.figures(result)
    assert set(figures) >= {"plane", "deep"}
