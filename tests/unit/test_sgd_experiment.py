"""The SGD chapter's experiment at a tiny scale: what it computes matches direct formulas."""

import json

import matplotlib.pyplot as plt
import numpy as np
import pytest

from memopt import cli
from memopt.experiments import sgd

TINY = sgd.Config(runs=4, iterations=400, constant_steps=(0.2, 0.05), batch_sizes=(1, 4), gd_iterations=10)


@pytest.fixture(scope="module")
def result():
    return sgd.run(TINY)


def test_runs_cover_every_setting(result):
    assert set(result.constant) == {0.2, 0.05} and set(result.batches) == {1, 4}
    assert result.decreasing.runs == 4 and result.gd.runs == 1
    assert result.step_pairs() == [(0.2, 0.05)]
    np.testing.assert_allclose(result.x0, np.ones(10))


def test_bounds_are_the_lectures_formulas(result):
    trace = result.constant[0.2]
    sigma_sq = (trace.second_moments).mean(axis=0).max()
    assert result.sigma_sq(trace) == pytest.approx(sigma_sq)
    assert result.floor_bound(0.2, trace) == pytest.approx(result.L * sigma_sq * 0.2 / (4 * result.mu))
    dec = result.decreasing
    assert result.decreasing_bound() == pytest.approx(
        result.L * dec.second_moments.mean(axis=0).max() / (2 * result.mu**2))
    k, scaled = result.decreasing_scaled_gap()
    assert k[0] == 1
    np.testing.assert_allclose(scaled, k * (dec.values.mean(axis=0)[dec.iterations >= 1] - result.f_star))


def test_window_bound_by_hand(result):
    trace = result.batches[4]
    window = trace.iterations >= TINY.floor_window * trace.iterations[-1]
    k = trace.iterations[window]
    gap0 = trace.values.mean(axis=0)[window][0] - result.f_star
    sigma0 = trace.batch_second_moment(4).mean(axis=0)[window].max()
    expected = np.mean((1 - 2 * 0.1 * result.mu) ** (k - k[0]) * gap0) + result.L * sigma0 * 0.1 / (4 * result.mu)
    assert result.window_bound(0.1, trace, 4) == pytest.approx(expected)


def test_figures_are_labelled_and_summary_is_json(result):
    for fig in sgd.figures(result).values():
        for ax in fig.axes:
            assert ax.get_xlabel() and ax.get_ylabel()
        plt.close(fig)
    summary = sgd.summary(result)
    json.dumps(summary)
    assert set(summary["batch_floors"]) == {"1", "4"}


@pytest.mark.parametrize(
    "changes, match",
    [({"mu": 0.0}, "mu must be > 0"), ({"constant_steps": (0.5,)}, r"\(0, 1/\(2 mu\)\)"),
     ({"batch_step": -0.1}, "constant steps"), ({"runs": 1}, "runs >= 2")],
)
def test_config_rejects_settings_the_theorems_exclude(changes, match):
    with pytest.raises(ValueError, match=match):
        sgd.Config(**changes)


def test_cli_lists_and_runs_with_a_cache(tmp_path, monkeypatch, capsys):
    assert cli.main(["list"]) == 0
    assert "sgd" in capsys.readouterr().out
    monkeypatch.setitem(sgd.SCALES, "book", TINY)
    args = ["run", "sgd", "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"), "--quiet"]
    assert cli.main(args) == 0
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "summary.json", "constant_steps.png", "decreasing_step.png", "batches.png"}
    monkeypatch.setattr(sgd, "run", lambda *a, **k: pytest.fail("the cached result was not used"))
    assert cli.main(args) == 0


def test_cli_reports_bad_requests(capsys):
    assert cli.main(["run", "sgd", "--scale", "galactic", "--no-cache"]) == 2
    assert "scale must be one of" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["run", "no-such-experiment"])


@pytest.mark.skipif(__import__("memopt.backend").backend.gpu_available(), reason="this machine has a GPU")
def test_cli_refuses_a_missing_gpu(capsys):
    assert cli.main(["run", "sgd", "--device", "gpu", "--no-cache"]) == 2
    assert "no CUDA device" in capsys.readouterr().err


def test_floors_are_means_over_runs_with_their_error(result):
    trace = result.constant[0.05]
    window = trace.iterations >= TINY.floor_window * trace.iterations[-1]
    per_run = (trace.values[:, window] - result.f_star).mean(axis=1)
    np.testing.assert_allclose(result.run_floors(trace), per_run)
    estimate = result.floor_estimate(trace)
    assert estimate.value == pytest.approx(result.floor(trace))
    half = 2 * per_run.std(ddof=1) / np.sqrt(per_run.size)
    assert (estimate.low, estimate.high) == pytest.approx((per_run.mean() - half, per_run.mean() + half))
    assert "4 runs" in estimate.method
    ratio = result.floor_ratio(result.constant[0.2], trace)
    assert ratio.value == pytest.approx(result.floor(result.constant[0.2]) / result.floor(trace))
    assert ratio.low < ratio.value < ratio.high


def test_ratio_of_means_is_the_delta_method():
    rng = np.random.default_rng(0)
    b = rng.normal(10.0, 1.0, 50)
    a = 3 * b + rng.normal(0.0, 0.5, 50)
    estimate = sgd.ratio_of_means(a, b)
    ratio = a.mean() / b.mean()
    # By hand: the ratio's standard error from the linearisation (a - R b) / mean(b).
    se = np.std(a - ratio * b, ddof=1) / np.sqrt(50) / b.mean()
    assert estimate.value == pytest.approx(ratio)
    assert estimate.high - estimate.value == pytest.approx(2 * se, rel=1e-9)
    # Perfectly proportional samples have an exact ratio: no uncertainty.
    exact = sgd.ratio_of_means(4 * b, b)
    assert exact.value == pytest.approx(4.0) and exact.high - exact.low == pytest.approx(0.0, abs=1e-12)
    # Over many repetitions the interval covers the true ratio about 95% of the time.
    covered = 0
    for seed in range(400):
        r = np.random.default_rng(seed)
        x, y = r.normal(2.0, 0.5, 64), r.normal(1.0, 0.2, 64)
        e = sgd.ratio_of_means(x, y)
        covered += e.low <= 2.0 <= e.high
    assert 0.90 <= covered / 400 <= 0.99
    with pytest.raises(ValueError, match="equal-length"):
        sgd.ratio_of_means([1.0, 2.0], [1.0])


def test_max_of_means_brackets_the_curve():
    samples = np.array([[1.0, 5.0, 2.0], [3.0, 7.0, 2.0], [2.0, 6.0, 2.0]])
    estimate = sgd.max_of_means(samples)
    se = 2 * samples.std(axis=0, ddof=1) / np.sqrt(3)
    assert estimate.value == 6.0
    assert estimate.low == pytest.approx(6.0 - se[1]) and estimate.high == pytest.approx(6.0 + se[1])
    with pytest.raises(ValueError, match="at least 2"):
        sgd.max_of_means(np.ones((1, 3)))


def test_decreasing_estimate_is_the_checked_maximum(result):
    estimate = result.decreasing_scaled_gap_estimate()
    assert estimate.value == pytest.approx(result.decreasing_scaled_gap()[1].max())
    assert estimate.low <= estimate.value <= estimate.high
    assert 0 < result.sigma_sq_error(result.constant[0.2]) < 1
