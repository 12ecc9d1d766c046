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
