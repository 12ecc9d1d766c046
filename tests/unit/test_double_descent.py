"""Random features, minimum-norm and ridge solvers, the digits data and the double-descent
experiment, against independent references: numpy.linalg.pinv / solve, scikit-learn's rbf_kernel
and Ridge, Monte Carlo limits of the feature maps, and direct recomputation."""

import json
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import Ridge
from sklearn.metrics.pairwise import rbf_kernel

from memopt import claims, cli
from memopt.experiments import double_descent as dd
from memopt.features import (
    RandomFourierFeatures,
    RandomReLUFeatures,
    condition_estimate,
    kernel_fit,
    min_norm_path,
    min_norm_solve,
    ridge_path,
    ridge_solve,
)
from memopt.features.solvers import DUAL_UPDATE, QR_PREFIX, SVD
from memopt.problems.digits import digits_split, n_images, one_hot

EPS = np.finfo(np.float64).eps


def system(n, N, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, N)), rng.standard_normal((n, k))


def with_singular_values(n, N, singular_values, seed):
    """An n x N matrix with the given singular values and random singular vectors."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((n, len(singular_values))))
    v, _ = np.linalg.qr(rng.standard_normal((N, len(singular_values))))
    return (u * singular_values) @ v.T


# -- minimum norm --------------------------------------------------------------------------------
@pytest.mark.parametrize("n, N", [(30, 12), (30, 30), (30, 75)], ids=["N<n", "N=n", "N>n"])
def test_min_norm_solve_matches_pinv(n, N):
    phi, y = system(n, N)
    reference = np.linalg.pinv(phi) @ y
    np.testing.assert_allclose(min_norm_solve(phi, y), reference, atol=1e-11)
    np.testing.assert_allclose(min_norm_solve(phi, y[:, 0]), reference[:, 0], atol=1e-11)


@pytest.mark.parametrize("n, N", [(30, 12), (30, 30), (30, 75)], ids=["N<n", "N=n", "N>n"])
def test_min_norm_path_matches_pinv_at_every_size(n, N):
    phi, y = system(n, N, seed=1)
    sizes = sorted({1, 5, N // 2, min(n, N), N})
    path = min_norm_path(phi, y, sizes)
    assert path.sizes == tuple(sizes) and path.fallbacks == ()
    for size, coef, method in zip(sizes, path.coefficients, path.methods):
        np.testing.assert_allclose(coef, np.linalg.pinv(phi[:, :size]) @ y, atol=1e-10)
        assert method == (QR_PREFIX if size <= n else DUAL_UPDATE)
    # Past the threshold the fit interpolates, and its coefficients lie in the row space.
    if N > n:
        np.testing.assert_allclose(phi @ path.coefficients[-1], y, atol=1e-10)
        null = np.linalg.svd(phi)[2][n:]
        assert np.abs(null @ path.coefficients[-1]).max() < 1e-10


def test_min_norm_path_with_one_dimensional_targets_and_in_one_block():
    phi, y = system(20, 50, seed=2)
    path = min_norm_path(phi, y[:, 1], [50])
    assert path.coefficients[0].shape == (50,)
    np.testing.assert_allclose(path.coefficients[0], np.linalg.pinv(phi) @ y[:, 1], atol=1e-11)


def test_min_norm_path_falls_back_to_the_svd_on_rank_deficient_features():
    phi, y = system(10, 30, seed=3)
    phi[:, 4] = 0.0  # a dead feature: every prefix of 5 or more columns is rank deficient
    phi[9] = phi[8]  # two identical samples: no number of features interpolates both targets
    sizes = [3, 5, 8, 20, 30]
    path = min_norm_path(phi, y, sizes)
    assert set(path.fallbacks) == {5, 8, 20, 30}
    assert path.methods[0] == QR_PREFIX and path.conditions[1] == np.inf
    for size, coef in zip(sizes, path.coefficients):
        np.testing.assert_allclose(coef, np.linalg.pinv(phi[:, :size]) @ y, atol=1e-10)


def test_min_norm_path_honours_max_condition():
    phi, y = system(15, 40, seed=4)
    path = min_norm_path(phi, y, [5, 15, 40], max_condition=1.5)
    assert path.methods == [SVD, SVD, SVD]
    for size, coef in zip([5, 15, 40], path.coefficients):
        np.testing.assert_allclose(coef, np.linalg.pinv(phi[:, :size]) @ y, atol=1e-10)


def test_condition_estimate_is_within_a_small_factor_of_the_2_norm_condition():
    r = np.triu(np.random.default_rng(5).standard_normal((40, 40))) + 8 * np.eye(40)
    assert 0.1 <= condition_estimate(r) / np.linalg.cond(r) <= 40
    assert condition_estimate(np.zeros((3, 3))) == np.inf


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([(24, 10), (24, 24), (24, 60), (60, 150)]), st.floats(min_value=1.0, max_value=13.0),
       st.integers(0, 10_000))
def test_min_norm_path_is_stable_at_ill_conditioning(shape, log_condition, seed):
    """With singular values spread over 10^log_condition, the nested sweep's solution stays
    within the error of a backward-stable method of the SVD's (a few eps * kappa, or
    eps * kappa^2 for least squares with a residual), and past the threshold its residual is
    that of a backward-stable method too: the fallback to the SVD takes over where the
    seminormal equations would lose it."""
    n, N = shape
    kappa = 10.0**log_condition
    phi = with_singular_values(n, N, np.geomspace(1.0, 1 / kappa, min(n, N)), seed)
    y = np.random.default_rng(seed + 1).standard_normal((n, 2))
    reference = min_norm_solve(phi, y, rcond=0.0)
    coef = min_norm_path(phi, y, [N // 3, N]).coefficients[-1]
    bound = 1e3 * EPS * (kappa if N >= n else kappa**2)
    assert np.linalg.norm(coef - reference) <= max(bound, 1e-13) * np.linalg.norm(reference)
    if N >= n:
        assert np.linalg.norm(phi @ coef - y) <= 1e3 * EPS * kappa * np.linalg.norm(y)


def test_seminormal_equations_stay_forward_stable_beyond_the_fallback_threshold():
    """Forcing the dual update at kappa = 1e11: the coefficients keep an error of order
    eps * kappa (Paige 1973), though the residual is no longer small; hence the fallback."""
    phi = with_singular_values(24, 60, np.geomspace(1.0, 1e-11, 24), seed=3)
    y = np.random.default_rng(4).standard_normal((24, 2))
    path = min_norm_path(phi, y, [60], max_condition=1e15)
    reference = min_norm_solve(phi, y, rcond=0.0)
    assert path.methods == [DUAL_UPDATE]
    assert np.linalg.norm(path.coefficients[0] - reference) <= 10 * EPS * 1e11 * np.linalg.norm(reference)


@settings(max_examples=30, deadline=None)
@given(st.floats(min_value=-100, max_value=100), st.integers(0, 10_000))
def test_min_norm_is_scale_equivariant_for_huge_and_tiny_features(log_scale, seed):
    phi, y = system(12, 30, seed=seed)
    scale = 10.0**log_scale
    expected = np.linalg.pinv(phi) @ y / scale
    for coef in (min_norm_solve(phi * scale, y), min_norm_path(phi * scale, y, [7, 12, 30]).coefficients[-1]):
        np.testing.assert_allclose(coef, expected, rtol=1e-9, atol=1e-12 * np.abs(expected).max())


def test_float32_and_integer_inputs_are_solved_in_float64():
    phi, y = system(10, 25, seed=6)
    reference = min_norm_solve(phi.astype(np.float32).astype(np.float64), y)
    np.testing.assert_allclose(min_norm_solve(phi.astype(np.float32), y), reference, rtol=1e-12)
    assert min_norm_solve(np.eye(4, dtype=int), np.arange(4)).dtype == np.float64


# -- ridge -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("n, N", [(30, 12), (30, 30), (30, 75)])
def test_ridge_solve_matches_the_closed_form_and_scikit_learn(n, N):
    phi, y = system(n, N, seed=7)
    for ridge in (1e-3, 0.5, 20.0):
        closed = np.linalg.solve(phi.T @ phi + ridge * np.eye(N), phi.T @ y)
        np.testing.assert_allclose(ridge_solve(phi, y, ridge), closed, atol=1e-10)
        sklearn = Ridge(alpha=ridge, fit_intercept=False, solver="svd").fit(phi, y).coef_.T
        np.testing.assert_allclose(ridge_solve(phi, y, ridge), sklearn, atol=1e-9)
    several = ridge_solve(phi, y[:, 0], [0.1, 2.0])
    assert several.shape == (2, N)
    np.testing.assert_allclose(several[1], ridge_solve(phi, y[:, 0], 2.0), atol=1e-14)


def test_ridge_path_matches_the_closed_form_at_every_size():
    phi, y = system(25, 70, seed=8)
    sizes, ridges = [3, 25, 26, 70], [1e-2, 1.0]
    for per_feature in (False, True):
        for size, coefs in zip(sizes, ridge_path(phi, y, sizes, ridges, per_feature=per_feature)):
            assert coefs.shape == (2, size, 3)
            features = phi[:, :size]
            for ridge, coef in zip(ridges, coefs):
                penalty = ridge * size if per_feature else ridge
                closed = features.T @ np.linalg.solve(features @ features.T + penalty * np.eye(25), y)
                np.testing.assert_allclose(coef, closed, atol=1e-10)
    assert ridge_path(phi, y[:, 0], [10], 0.3)[0].shape == (1, 10)


def test_kernel_fit_matches_solve_and_pinv():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((20, 3))
    kernel, y = rbf_kernel(x, gamma=0.5), rng.standard_normal((20, 2))
    np.testing.assert_allclose(kernel_fit(kernel, y, 0.3), np.linalg.solve(kernel + 0.3 * np.eye(20), y), atol=1e-10)
    np.testing.assert_allclose(kernel @ kernel_fit(kernel, y), y, atol=1e-6)
    low_rank = x @ x.T  # rank 3: the minimum-norm fit is the pseudo-inverse's
    np.testing.assert_allclose(kernel_fit(low_rank, y), np.linalg.pinv(low_rank, rcond=1e-12) @ y, atol=1e-8)


# -- feature maps ----------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda m, seed: RandomFourierFeatures(6, m, sigma=0.7, seed=seed),
                                  lambda m, seed: RandomReLUFeatures(6, m, seed=seed, center=np.full(6, 0.3))],
                         ids=["fourier", "relu"])
def test_the_first_features_of_a_larger_draw_are_the_smaller_model(make):
    x = np.random.default_rng(10).random((9, 6))
    large, small = make(50, 11), make(20, 11)
    np.testing.assert_array_equal(large(x)[:, :20], small(x))
    np.testing.assert_array_equal(large.transform(x, 20, 35), large(x)[:, 20:35])
    assert not np.allclose(large(x), make(50, 12)(x))


def test_fourier_features_have_the_stated_form_and_sample_the_gaussian_kernel():
    features = RandomFourierFeatures(5, 200_000, sigma=0.9, seed=12)
    x, y = np.random.default_rng(13).random((4, 5)), np.random.default_rng(14).random((3, 5))
    v, b = features.directions, features.offsets
    np.testing.assert_allclose(features(x, stop=7), np.sqrt(2) * np.cos(x @ v[:, :7] + b[:7]), rtol=1e-14)
    assert v.std() == pytest.approx(1 / 0.9, rel=0.01) and 0 <= b.min() and b.max() < 2 * np.pi
    exact = rbf_kernel(x, y, gamma=1 / (2 * 0.9**2))
    np.testing.assert_allclose(features.kernel(x, y), exact, atol=1e-14)
    np.testing.assert_allclose(features(x) @ features(y).T / 200_000, exact, atol=0.02)


def test_relu_features_sample_the_arc_cosine_kernel():
    center = np.full(5, 0.5)
    features = RandomReLUFeatures(5, 200_000, seed=15, center=center)
    x, y = np.random.default_rng(16).random((4, 5)), np.random.default_rng(17).random((3, 5))
    np.testing.assert_allclose(np.linalg.norm(features.directions, axis=0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(features(x, stop=3), np.maximum((x - center) @ features.directions[:, :3], 0),
                               atol=1e-14)
    # Monte Carlo over the sphere against the closed form of Cho and Saul, divided by d.
    np.testing.assert_allclose(features(x) @ features(y).T / 200_000, features.kernel(x, y), atol=0.01)
    assert features.kernel(x, x).diagonal() == pytest.approx(
        np.sum((x - center) ** 2, axis=1) / (2 * 5), rel=1e-12)


def test_float32_inputs_give_float32_features_close_to_float64():
    features = RandomFourierFeatures(4, 30, sigma=1.0, seed=18)
    x = np.random.default_rng(19).random((5, 4))
    low = features(x.astype(np.float32))
    assert low.dtype == np.float32
    np.testing.assert_allclose(low, features(x), atol=1e-5)


# -- bad input -------------------------------------------------------------------------------------
@pytest.mark.parametrize("call, error, match", [
    (lambda: min_norm_solve(np.ones(3), np.ones(3)), ValueError, "phi must be a non-empty 2-D"),
    (lambda: min_norm_solve(np.ones((3, 2)), np.ones(4)), ValueError, r"y must have shape \(3,\)"),
    (lambda: min_norm_solve(np.array([[np.nan, 1.0]]), np.ones(1)), ValueError, "phi contains NaN"),
    (lambda: min_norm_solve(np.ones((2, 2)), np.array([1.0, np.inf])), ValueError, "y contains NaN"),
    (lambda: min_norm_solve(np.array([["a"]]), np.ones(1)), TypeError, "phi must hold real numbers"),
    (lambda: min_norm_solve(np.ones((2, 2)), np.ones(2), rcond=-1.0), ValueError, "rcond must be"),
    (lambda: ridge_solve(np.ones((2, 2)), np.ones(2), 0.0), ValueError, "ridge must be finite and > 0"),
    (lambda: ridge_solve(np.ones((2, 2)), np.ones(2), "big"), TypeError, "ridge must be a real number"),
    (lambda: min_norm_path(np.ones((2, 4)), np.ones(2), [3, 2]), ValueError, "sizes must increase strictly"),
    (lambda: min_norm_path(np.ones((2, 4)), np.ones(2), [5]), ValueError, r"within \[1, 4\]"),
    (lambda: min_norm_path(np.ones((2, 4)), np.ones(2), []), TypeError, "sizes must be a non-empty"),
    (lambda: min_norm_path(np.ones((2, 4)), np.ones(2), [2.5]), TypeError, "sequence of integers"),
    (lambda: min_norm_path(np.ones((2, 4)), np.ones(2), [2], max_condition=0.5), ValueError, "max_condition"),
    (lambda: ridge_path(np.ones((2, 4)), np.ones(2), [2], [-1.0]), ValueError, "ridge must be finite"),
    (lambda: kernel_fit(np.ones((2, 3)), np.ones(2)), ValueError, "kernel must be square"),
    (lambda: kernel_fit(np.eye(2), np.ones(2), -1.0), ValueError, "ridge must be finite and >= 0"),
    (lambda: RandomFourierFeatures(3, 10, sigma=0.0), ValueError, "sigma"),
    (lambda: RandomFourierFeatures(3, 0, sigma=1.0), ValueError, "max_features must be a positive integer"),
    (lambda: RandomFourierFeatures(0, 5, sigma=1.0), ValueError, "input_dim must be a positive integer"),
    (lambda: RandomFourierFeatures(3, 5, sigma=1.0, seed=-1), ValueError, "seed must be a non-negative"),
    (lambda: RandomReLUFeatures(3, 5, center=np.ones(2)), ValueError, r"center must be a finite vector of shape \(3,\)"),
    (lambda: RandomFourierFeatures(3, 5, 1.0)(np.ones((2, 4))), ValueError, r"x must have shape \(m, 3\)"),
    (lambda: RandomFourierFeatures(3, 5, 1.0)(np.full((2, 3), np.nan)), ValueError, "x contains NaN"),
    (lambda: RandomFourierFeatures(3, 5, 1.0)(np.ones((2, 3)), 4, 2), ValueError, "start < stop"),
    (lambda: RandomFourierFeatures(3, 5, 1.0)(np.ones((2, 3)), 0, 6), ValueError, "max_features = 5"),
    (lambda: RandomFourierFeatures(3, 5, 1.0)(np.ones((2, 3)), 0.5), TypeError, "start must be an integer"),
])
def test_bad_input_is_rejected_with_a_clear_message(call, error, match):
    with pytest.raises(error, match=match):
        call()


# -- digits ----------------------------------------------------------------------------------------
def test_digits_split_is_seeded_disjoint_and_scaled():
    split = digits_split(100, 50, n_validation=30, seed=3)
    assert (split.x_train.shape, split.x_validation.shape, split.x_test.shape) == ((100, 64), (30, 64), (50, 64))
    assert split.x_train.min() >= 0 and split.x_train.max() <= 1 and split.x_train.max() == 1
    rows = [tuple(r) for r in np.vstack([split.x_train, split.x_validation, split.x_test])]
    assert len(set(rows)) == 180  # the bundled images are distinct, so disjoint splits have distinct rows
    again = digits_split(100, 50, n_validation=30, seed=3)
    np.testing.assert_array_equal(split.x_test, again.x_test)
    assert not np.array_equal(split.x_train, digits_split(100, 50, n_validation=30, seed=4).x_train)
    np.testing.assert_array_equal(split.y_train, np.eye(10)[split.labels_train])
    assert digits_split(1000).x_test.shape[0] == n_images() - 1000 == 797


def test_label_noise_corrupts_exactly_the_fraction_and_keeps_the_split():
    clean = digits_split(300, seed=5)
    noisy = clean.with_label_noise(0.2)
    np.testing.assert_array_equal(noisy.x_train, clean.x_train)
    np.testing.assert_array_equal(noisy.labels_test, clean.labels_test)
    assert noisy.corrupted.sum() == 60 and not clean.corrupted.any()
    assert np.all(noisy.labels_train[noisy.corrupted] != clean.labels_train[noisy.corrupted])
    np.testing.assert_array_equal(noisy.clean_labels_train, clean.labels_train)
    np.testing.assert_array_equal(digits_split(300, seed=5, label_noise=0.2).labels_train, noisy.labels_train)
    # Over many corrupted labels the wrong classes are close to uniform.
    many = digits_split(1500, seed=6).with_label_noise(0.9)
    shifts = (many.labels_train - many.clean_labels_train)[many.corrupted] % 10
    assert set(shifts) == set(range(1, 10)) and np.bincount(shifts)[1:].min() > 100


@pytest.mark.parametrize("call, error, match", [
    (lambda: digits_split(0), ValueError, "n_train >= 1"),
    (lambda: digits_split(1500, 400), ValueError, "at most the 1797 images"),
    (lambda: digits_split(10, seed=-2), ValueError, "seed must be"),
    (lambda: digits_split(10.5), TypeError, "n_train must be an integer"),
    (lambda: digits_split(10).with_label_noise(1.0), ValueError, r"fraction .* must lie in \[0, 1\)"),
    (lambda: one_hot(np.array([0, 10])), ValueError, r"labels must lie in \[0, 10\)"),
    (lambda: one_hot(np.array([0.5])), TypeError, "labels must be a 1-D array of integers"),
])
def test_digits_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


# -- the experiment at a tiny scale ----------------------------------------------------------------
TINY = dd.Config(n_train=40, n_validation=20, n_test=100, draws=2, grid_points=6,
                 near_threshold=(0.9, 1.0, 1.1), ridges=(0.1, 1.0), timing_stride=2)


@pytest.fixture(scope="module")
def result():
    return dd.run(TINY)


def test_sizes_cover_the_sweep_and_the_threshold():
    assert TINY.sizes[0] == 2 and TINY.sizes[-1] == 800 and 40 in TINY.sizes
    assert list(TINY.sizes) == sorted(set(TINY.sizes))


def test_curves_match_a_direct_recomputation(result):
    data, noisy = result.data, result.noisy
    draw, j = 1, list(result.sizes).index(44)
    features = RandomFourierFeatures(64, int(result.sizes[-1]), TINY.sigma, seed=draw)
    train, test = features(data.x_train, stop=44), features(data.x_test, stop=44)
    for model, labels in ((dd.CLEAN, data.y_train), (dd.NOISY, noisy.y_train)):
        coef = np.linalg.pinv(train) @ labels
        curves = result.models[model]
        prediction = test @ coef
        assert curves.test_loss[draw, j] == pytest.approx(np.mean(np.sum((prediction - data.y_test) ** 2, 1)))
        assert curves.test_error[draw, j] == pytest.approx(np.mean(prediction.argmax(1) != data.labels_test))
        assert curves.norm[draw, j] == pytest.approx(np.linalg.norm(coef), rel=1e-8)
        assert curves.train_loss[draw, j] < 1e-20
    ridge = np.linalg.solve(train.T @ train + 0.1 * 44 * np.eye(44), train.T @ data.y_train)
    assert result.ridge[dd.CLEAN, 0.1].test_loss[draw, j] == pytest.approx(
        np.mean(np.sum((test @ ridge - data.y_test) ** 2, 1)))
    assert np.isfinite(result.models[dd.RELU].test_loss).all()


def test_claim_quantities_by_hand(result):
    clean = result.models[dd.CLEAN]
    loss, norm = clean.test_loss.mean(0), clean.norm.mean(0)
    assert result.peak_ratio() == result.sizes[np.argmax(loss)] / 40
    peak = np.argmax(norm)
    assert result.norm_fall() == pytest.approx(max(norm[i + 1] / norm[i] for i in range(peak, len(norm) - 1)))
    error = clean.test_error.mean(0)
    assert result.best_error_ratio() == pytest.approx(error[result.sizes >= 80].min() / error[result.sizes <= 20].min())
    assert result.train_loss_past_threshold() == dd.TRAIN_LOSS_RESOLUTION
    assert result.largest_rise(ridge=0) == pytest.approx(np.max(loss[1:] / loss[:-1]))
    fixed = result.ridge[dd.CLEAN, 0.1].test_loss.mean(0)
    assert result.largest_rise(ridge=0.1) == pytest.approx(np.max(fixed[1:] / fixed[:-1]))
    assert result.timing["min_norm_difference"] < 1e-8 and result.timing["ridge_difference"] < 1e-8
    assert sum(result.methods.values()) == 2 * len(result.sizes)


def test_claim_estimates_by_hand(result):
    clean = result.models[dd.CLEAN]
    peaks = result.sizes[np.argmax(clean.test_loss, axis=1)] / 40
    estimate = result.peak_estimate()
    assert (estimate.low, estimate.high) == (peaks.min(), peaks.max()) and "2 draws" in estimate.method
    assert result.train_loss_estimate().high == result.train_loss_past_threshold()
    fall = result.norm_fall_estimate()
    assert fall.value == pytest.approx(result.norm_fall()) and fall.low <= fall.value <= fall.high
    error = clean.test_error
    ratios = error[:, result.sizes >= 80].min(1) / error[:, result.sizes <= 20].min(1)
    assert result.best_error_estimate().high == pytest.approx(ratios.max())
    np.testing.assert_allclose(result.best_error_ratios(), ratios)
    peak = result.local_peak_estimate(ridge=0)
    assert peak.value > 1 and peak.low <= peak.value <= peak.high


def test_ridge_tuned_at_each_size_by_the_validation_loss(result):
    """At every draw and size the tuned fit is the ridge of the grid with the lowest validation
    loss, and its curves are that ridge's."""
    for target in (dd.CLEAN, dd.NOISY):
        choice = result.ridge_choice(target)
        assert choice.shape == (TINY.draws, len(result.sizes))
        tuned, tuned_error = result.tuned(target), result.tuned(target, "test_error")
        for d in range(TINY.draws):
            for j in range(len(result.sizes)):
                validation = [result.ridge[target, r].validation_loss[d, j] for r in TINY.ridges]
                best = TINY.ridges[int(np.argmin(validation))]
                assert TINY.ridges[choice[d, j]] == best
                assert tuned[d, j] == result.ridge[target, best].test_loss[d, j]
                assert tuned_error[d, j] == result.ridge[target, best].test_error[d, j]
        assert sum(result.ridge_choice_counts(target).values()) == choice.size
        np.testing.assert_array_equal(result.curves_of(target, "tuned"), tuned)
        estimate = result.local_peak_estimate(target)
        assert estimate.value == claims.largest_local_peak(tuned).value
        mean = tuned.mean(0)
        assert result.largest_rise(target) == pytest.approx(np.max(mean[1:] / mean[:-1]))


def test_largest_local_peak_finds_interior_maxima():
    draws = np.array([1.0, 1.1, 0.9])[:, None]
    falling = draws * np.array([4.0, 3.0, 2.0, 1.0])
    estimate = claims.largest_local_peak(falling)
    # Never rises: the figure is the largest rise into a point, 3/4 at the first interior point.
    assert estimate.value == pytest.approx(0.75) and estimate.low == estimate.high == pytest.approx(0.75)
    peaked = draws * np.array([1.0, 3.0, 2.0, 1.0])
    assert claims.largest_local_peak(peaked).value == pytest.approx(1.5)  # min(3/1, 3/2) at the peak
    # A U (no interior maximum) passes; a rise at the right end alone is not a peak.
    u = draws * np.array([3.0, 1.0, 2.0, 4.0])
    assert claims.largest_local_peak(u).value == pytest.approx(0.5)  # min(2/1, 2/4) = 0.5
    # The paired delta method: noisy draws around a flat curve give an interval around 1.
    noisy = np.array([[1.0, 1.02, 1.0], [1.0, 0.98, 1.0], [1.0, 1.01, 1.0], [1.0, 0.99, 1.0]])
    flat = claims.largest_local_peak(noisy)
    assert flat.low < 1 < flat.high and "4 draws" in flat.method
    with pytest.raises(ValueError, match="at least 3 points"):
        claims.largest_local_peak(np.ones((3, 2)))


def test_largest_ratio_of_means_is_the_paired_delta_method():
    # Every draw falls by 10% at the first step, then falls or rises by 1%: the mean falls, but
    # the second step's interval reaches above 1.
    base = np.array([[10.0, 9.0, 9.0 * 0.99], [20.0, 18.0, 18.0 * 1.01], [30.0, 27.0, 27.0 * 0.99]])
    estimate = claims.largest_ratio_of_means(base)
    mean = base.mean(0)
    assert estimate.value == pytest.approx(max(mean[1:] / mean[:-1]))
    ratio = mean[1:] / mean[:-1]
    half = 2 * (base[:, 1:] - ratio * base[:, :-1]).std(0, ddof=1) / np.sqrt(3) / mean[:-1]
    # At a ratio near 1 this is the standard error of the paired differences.
    steps = np.diff(base, axis=1)
    assert half[1] == pytest.approx(2 * steps[:, 1].std(ddof=1) / np.sqrt(3) / mean[1], rel=0.05)
    assert estimate.low == pytest.approx(max(mean[1:] / mean[:-1] - half))
    assert estimate.high == pytest.approx(max(mean[1:] / mean[:-1] + half))
    assert estimate.value < 1 < estimate.high
    # Draws that move together have an exact ratio whatever their spread.
    together = np.outer([1.0, 5.0, 50.0], [4.0, 2.0, 1.0])
    exact = claims.largest_ratio_of_means(together)
    assert exact.value == exact.low == exact.high == pytest.approx(0.5)
    with pytest.raises(ValueError, match="at least 2"):
        claims.largest_ratio_of_means(np.ones((1, 4)))


def test_limits_are_kernel_regressions(result):
    data = result.data
    kernel = rbf_kernel(data.x_train, gamma=1 / (2 * TINY.sigma**2))
    coef = np.linalg.solve(kernel, data.y_train)
    prediction = rbf_kernel(data.x_test, data.x_train, gamma=1 / (2 * TINY.sigma**2)) @ coef
    limit = result.limits[dd.CLEAN]
    assert limit.test_loss == pytest.approx(np.mean(np.sum((prediction - data.y_test) ** 2, 1)), rel=1e-6)
    assert limit.rkhs_norm == pytest.approx(np.sqrt(np.sum(data.y_train * coef)), rel=1e-6)


def test_figures_are_labelled_and_summary_is_json(result):
    for fig in dd.figures(result).values():
        for ax in fig.axes:
            if ax.axison:
                assert ax.get_xlabel() and ax.get_ylabel()
        plt.close(fig)
    summary = dd.summary(result)
    json.dumps(summary)
    assert set(summary["models"]) == {dd.CLEAN, dd.NOISY, dd.RELU}


@pytest.mark.parametrize("changes, match", [
    ({"n_train": 5}, "n_train >= 10"), ({"sigma": -1.0}, "sigma"), ({"draws": 1}, "draws must be >= 2"),
    ({"max_ratio": 0.5}, "max_ratio"), ({"label_noise": 1.0}, "label_noise"), ({"ridges": (0.0,)}, "ridges"),
    ({"timing_stride": 0}, "timing_stride"),
])
def test_config_rejects_bad_settings(changes, match):
    with pytest.raises(ValueError, match=match):
        dd.Config(**changes)


def test_cli_runs_the_experiment(tmp_path, monkeypatch):
    monkeypatch.setitem(dd.SCALES, "book", TINY)
    args = ["run", "double_descent", "--out", str(tmp_path), "--no-cache", "--quiet"]
    assert cli.main(args) == 0
    assert {p.name for p in tmp_path.iterdir()} == {
        "summary.json", "double_descent.png", "ridge.png", "reuse.png", "relu.png"}


# -- the chapter's sweep ---------------------------------------------------------------------------
def test_a_fit_is_the_same_whatever_the_draw_it_is_a_prefix_of():
    """Nested features: the first N features of a wider draw give the fit of a draw of N (to
    rounding of the matrix product), and the ridge grid beside a fit is the fits of its
    penalties."""
    from memopt import sweep

    base = sweep.RandomFeaturesFit(width=30, n_train=40, n_validation=20, n_test=100, seed=1,
                                   label_noise=0.2, ridges=(0.1, 1.0))
    alone, prefix = dd.fit_width(base), dd.fit_width(replace(base, draw_width=90))
    for name in dd.METRICS:
        assert prefix[name] == pytest.approx(alone[name], rel=1e-10)
        np.testing.assert_allclose(prefix[f"ridges_{name}"], alone[f"ridges_{name}"], rtol=1e-10)
    for i, ridge in enumerate(base.ridges):
        single = dd.fit_width(replace(base, ridge=ridge, ridges=()))
        assert single["method"] == "ridge" and np.isnan(single["condition"])
        for name in dd.METRICS:
            assert single[name] == pytest.approx(alone[f"ridges_{name}"][i], rel=1e-12)
    assert alone["method"] == "qr prefix" and alone["condition"] >= 1


def test_the_result_is_the_sweeps_table_and_a_cached_sweep_resumes(tmp_path, result):
    from memopt import sweep
    from memopt.cache import ResultCache

    cache = ResultCache(tmp_path)
    first = dd.run(TINY, cache=cache)
    assert first.cells == TINY.draws * len(TINY.sizes) * 3
    stored = len(list((tmp_path / sweep.cell_of(dd.NAME).cache_name).iterdir()))
    assert stored == first.cells
    again = dd.run(TINY, cache=cache)  # every cell from the cache, none computed
    for model in first.models:
        for name in dd.METRICS:
            np.testing.assert_array_equal(getattr(again.models[model], name), getattr(first.models[model], name))
            np.testing.assert_array_equal(getattr(result.models[model], name), getattr(first.models[model], name))
    for key in first.ridge:
        np.testing.assert_array_equal(again.ridge[key].validation_loss, first.ridge[key].validation_loss)
    # the table's row for one cell is that cell
    cell = sweep.cell_of(dd.NAME)
    config = replace(dd.fit_base(TINY), seed=1, label_noise=TINY.label_noise, width=TINY.sizes[3])
    row = sweep.compute_cell(cell, config)
    assert row["test_loss"] == first.models[dd.NOISY].test_loss[1, 3]
    assert row["ridges_validation_loss"][1] == first.ridge[dd.NOISY, TINY.ridges[1]].validation_loss[1, 3]


def test_a_table_missing_cells_is_a_clear_error(tmp_path):
    from memopt import sweep
    from memopt.cache import ResultCache

    table = sweep.run_sweep(sweep.cell_of(dd.NAME), {"seed": [0], "label_noise": [0.0, 0.2], "width": [2, 5]},
                            base=dd.fit_base(TINY), cache=ResultCache(tmp_path)).table
    with pytest.raises(ValueError, match="lacks cells"):
        dd.from_tables(TINY, table)


@pytest.mark.parametrize("changes, match", [
    ({"features": "gelu"}, "features must be 'fourier' or 'relu'"), ({"ridges": (0.1, 0.0)}, "ridges must be > 0"),
    ({"ridges": (-1.0,)}, "ridges must be finite"), ({"draw_width": -1}, "draw_width"), ({"width": 0}, "width"),
    ({"n_test": -1}, "n_test >= 0"),
])
def test_a_fit_rejects_bad_settings(changes, match):
    from memopt import sweep

    with pytest.raises(ValueError, match=match):
        sweep.RandomFeaturesFit(**changes)
