"""The statistics the chapter "Linear regression: memory against samples" checks its claims on:
each is a statistic over the trials with its interval (memopt.claims), computed here against
a direct calculation from the per-trial sample counts of a toy run."""

import math

import numpy as np
import pytest

from memopt import claims
from memopt.experiments import regression_memory

# d = 60: the paper's noise 2^(-12) sits well below the accuracy 1e-2.
TOY = regression_memory.Config(dimension=60, accuracy=1e-2, trials=6, windows=(3, 30, 60), window_trials=4,
                               kappa_dimension=6, kappas=(1, 10, 30, 100), kappa_fit_from=10, kappa_trials=4,
                               spread_dimension=6, spread_kappas=(10, 100, 1000), spread_trials=4,
                               spread_windows=(2, 3))


@pytest.fixture(scope="module")
def result():
    return regression_memory.run(TOY)


def mean_and_half_width(values):
    values = np.asarray(values, dtype=float)
    return values.mean(), 2 * values.std(ddof=1) / math.sqrt(values.size)


def test_exact_samples_are_a_median_with_the_range_of_every_trial(result):
    estimate = result.exact_samples_estimate()
    samples = result.isotropic[regression_memory.EXACT].samples_to_accuracy
    assert (estimate.value, estimate.low, estimate.high) == (np.median(samples), samples.min(), samples.max())
    assert estimate.value == result.exact_median_samples() == TOY.dimension
    assert "over 6 trials" in estimate.method


def test_kaczmarz_ratio_is_a_mean_with_two_standard_errors(result):
    estimate = result.kaczmarz_ratio_estimate()
    mean, half = mean_and_half_width(result.kaczmarz_ratios())
    assert estimate.value == pytest.approx(mean)
    assert (estimate.low, estimate.high) == pytest.approx((mean - half, mean + half))


def test_window_increases_are_paired_by_trial(result):
    sizes = result.window_sizes()
    estimates = result.window_increase_estimates()
    assert len(estimates) == len(sizes) - 1
    for (a, b), estimate in zip(zip(sizes[:-1], sizes[1:]), estimates):
        mean, half = mean_and_half_width(result.window_samples(b) - result.window_samples(a))
        assert estimate.value == pytest.approx(mean) and estimate.high == pytest.approx(mean + half)
    worst, pair = result.largest_window_increase_estimate()
    assert worst.high == max(e.high for e in estimates)
    assert pair[1] == sizes[sizes.index(pair[0]) + 1]
    # the paired means are the differences of the means the figure shows
    np.testing.assert_allclose([e.value for e in estimates], np.diff(result.window_mean_samples()))
    assert worst.high < 0  # every pair falls, even at this toy scale


def test_window_ratios_and_the_worst_one(result):
    estimates = result.window_ratio_estimates()
    predicted = result.predicted_window_samples()
    for m, p, estimate in zip(result.window_sizes(), predicted, estimates):
        mean, half = mean_and_half_width(result.window_samples(m) / p)
        assert estimate.value == pytest.approx(mean) and estimate.low == pytest.approx(mean - half)
    worst, m = result.worst_window_ratio_estimate()
    reach = max(abs(worst.low - 1), abs(worst.high - 1))
    assert all(max(abs(e.low - 1), abs(e.high - 1)) <= reach for e in estimates)
    assert m in result.window_sizes()


def test_kappa_exponent_is_fitted_per_trial(result):
    exponents = result.kappa_trial_exponents()
    assert exponents.shape == (TOY.kappa_trials,)
    keep = result.kappas >= TOY.kappa_fit_from
    samples = result.kappa_samples(regression_memory.KACZMARZ)
    for trial, exponent in enumerate(exponents):
        slope = np.polyfit(np.log(result.kappas[keep]), np.log(samples[keep, trial]), 1)[0]
        assert exponent == pytest.approx(slope)
    estimate = result.kappa_exponent_estimate()
    assert estimate.value == pytest.approx(exponents.mean())
    assert 0 < estimate.value < 2


def test_exact_kappa_estimate_covers_every_kappa_and_trial(result):
    estimate = result.exact_kappa_estimate()
    assert estimate.low == estimate.high == estimate.value == 1
    assert f"over {len(TOY.kappas) * TOY.kappa_trials} trials and κ" in estimate.method
    assert estimate.value == result.exact_kappa_samples_over_d()


def test_the_estimates_decide_claims(result):
    """Each estimate is accepted by claims.check's machinery, and an interval across the
    threshold is undecided."""
    verdict = claims.evaluate("x", result.kaczmarz_ratio_estimate(), claims.between(0.5, 10.0), source="s")
    assert verdict.status == claims.PASS
    straddling = claims.Estimate(1.0, 0.9, 1.1, "mean ± 2 s.e. over 4 trials")
    assert claims.evaluate("x", straddling, claims.at_most(1.0), source="s").status == claims.UNDECIDED


def test_spread_exponents_are_fitted_per_trial(result):
    kappas = np.array(TOY.spread_kappas, dtype=float)
    np.testing.assert_array_equal(result.spread_kappas, kappas)
    assert result.spread_methods() == ["Kaczmarz", "SGD", "window m = 2", "window m = 3", "exact"]
    for name in result.spread_methods():
        samples = result.spread_samples(name)
        assert samples.shape == (3, TOY.spread_trials) and not np.isnan(samples).any()
        exponents = result.spread_trial_exponents(name)
        for trial, exponent in enumerate(exponents):
            assert exponent == pytest.approx(np.polyfit(np.log(kappas), np.log(samples[:, trial]), 1)[0], abs=1e-12)
        mean, half = mean_and_half_width(exponents)
        estimate = result.spread_exponent_estimate(name)
        assert estimate.value == pytest.approx(mean) and estimate.high == pytest.approx(mean + half)
    # exact least squares: d samples at every kappa, exponent exactly 0
    assert (result.spread_samples("exact") == TOY.spread_dimension).all()
    assert (result.spread_trial_exponents("exact") == 0).all()
    assert result.spread_exponent_estimate("Kaczmarz").value > 0.3


def test_spread_theory_against_closed_forms(result):
    d = TOY.spread_dimension
    kappas = np.array(TOY.spread_kappas, dtype=float)
    # tr Sigma / lambda_min = sum_j r^j, r = kappa^(1/(d-1)): a geometric sum
    r = kappas ** (1 / (d - 1))
    np.testing.assert_allclose(result.spread_trace_ratios(), (r**d - 1) / (r - 1), rtol=1e-12)
    predicted = result.spread_predicted_exponents()
    slope = np.polyfit(np.log(kappas), np.log((r**d - 1) / (r - 1)), 1)[0]
    assert predicted["trace ratio"] == pytest.approx(slope)
    # the guarantee is 2 ln(1/eps) / p_min with p_min <= ... ~ lambda_min / tr Sigma: same order
    ratio = result.spread_bound_samples() / (2 * math.log(1 / TOY.spread_accuracy) * result.spread_trace_ratios())
    assert np.all((ratio > 0.05) & (ratio < 1.5))
    # window m = 1 keeps every direction: its heuristic is Kaczmarz's guarantee
    assert result.spread_window_heuristic(1) == pytest.approx(predicted["Kaczmarz guarantee"])
    assert result.spread_window_heuristic(3) < predicted["Kaczmarz guarantee"]
    assert result.spread_window_heuristic(d) == 0  # one direction left: exact, at any kappa
    memory = result.spread_memory()
    assert memory["Kaczmarz"] == memory["SGD"] == d and memory["exact"] == d * d + d
    assert memory["window m = 3"] == 2 * (d + 2) + d


def test_spread_config_is_checked():
    with pytest.raises(ValueError, match="spread_kappas"):
        regression_memory.Config(spread_kappas=(100, 10))
    with pytest.raises(ValueError, match="spread_windows"):
        regression_memory.Config(spread_dimension=6, spread_windows=(3, 8))
    with pytest.raises(ValueError, match="spread sweep"):
        regression_memory.Config(spread_accuracy=2.0)
