import matplotlib.pyplot as plt
import numpy as np
import pytest

from memopt import plotting


def test_mean_band_draws_the_mean_and_a_band():
    fig, (ax,) = plotting.figure()
    runs = np.array([[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]])
    line = plotting.mean_band(ax, [1, 2, 3], runs, label="runs")
    np.testing.assert_allclose(line.get_ydata(), [2.0, 3.0, 4.0])
    assert len(ax.collections) == 1  # the band
    plt.close(fig)


def test_single_run_has_no_band():
    fig, (ax,) = plotting.figure()
    plotting.mean_band(ax, [1, 2], [5.0, 6.0], label="one")
    assert len(ax.collections) == 0
    plt.close(fig)


def test_axes_need_labels():
    fig, axes = plotting.figure(ncols=2)
    assert len(axes) == 2
    with pytest.raises(ValueError, match="label"):
        plotting.axes_labels(axes[0], xlabel="", ylabel="y")
    plotting.axes_labels(axes[1], xlabel="steps", ylabel="gap", logx=True, logy=True)
    assert axes[1].get_xscale() == "log" and axes[1].get_xlabel() == "steps"
    plt.close(fig)


def test_palette_and_theory():
    assert len(plotting.palette(5)) == 5
    fig, (ax,) = plotting.figure()
    line = plotting.theory(ax, [1, 2], [3, 4], label="bound")
    assert line.get_linestyle() == "--"
    plt.close(fig)
