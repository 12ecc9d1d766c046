import io

import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

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


# -- the layout rule: every figure fits the website's column -------------------------------------
def test_a_grid_that_fits_is_kept():
    layout = plotting.panel_layout(2, 1, (3.0, 2.5))
    assert (layout.per_row, layout.rows) == (2, 1)
    assert layout.panel == (3.0, 2.5) and layout.figsize == (6.0, 2.5)
    assert layout.slots == ((0, 0), (0, 2))


@pytest.mark.parametrize("ncols, nrows, panel, per_row, rows, slots", [
    # two 5 in panels would need narrowing to 66%: one a row, at their own size
    (2, 1, (5.0, 3.8), 1, 2, ((0, 0), (1, 0))),
    # three 3.6 in panels: two narrowed to 92% share a row, the third centred below them
    (3, 1, (3.6, 3.4), 2, 2, ((0, 0), (0, 2), (1, 1))),
    # a 3 x 2 grid of 3 in panels flows into three rows of two, in reading order
    (3, 2, (3.0, 3.5), 2, 3, ((0, 0), (0, 2), (1, 0), (1, 2), (2, 0), (2, 2))),
    # one wide panel is narrowed to the column
    (1, 1, (10.0, 5.0), 1, 1, ((0, 0),)),
])
def test_a_wide_grid_is_flowed_into_rows(ncols, nrows, panel, per_row, rows, slots):
    layout = plotting.panel_layout(ncols, nrows, panel, max_width=6.6)
    assert (layout.per_row, layout.rows, layout.slots) == (per_row, rows, slots)
    scale = min(1.0, 6.6 / (per_row * panel[0]))
    assert layout.panel[0] == pytest.approx(panel[0] * scale)
    assert layout.figsize == pytest.approx((per_row * panel[0] * scale, rows * layout.panel[1]))
    # narrowed panels keep at least 80% of their height, so their text keeps room
    assert layout.panel[1] == pytest.approx(panel[1] * max(scale, 0.8))


@settings(max_examples=200, deadline=None)
@given(ncols=st.integers(1, 6), nrows=st.integers(1, 4),
       width=st.floats(0.5, 14.0), height=st.floats(0.5, 8.0))
def test_every_layout_fits_the_column_and_keeps_the_reading_order(ncols, nrows, width, height):
    layout = plotting.panel_layout(ncols, nrows, (width, height))
    assert layout.figsize[0] <= plotting.MAX_WIDTH + 1e-9
    assert len(layout.slots) == ncols * nrows
    assert layout.rows == -(-ncols * nrows // layout.per_row)
    assert list(layout.slots) == sorted(layout.slots)  # row by row, left to right
    for row in range(layout.rows):
        starts = [start for r, start in layout.slots if r == row]
        assert 1 <= len(starts) <= layout.per_row
        free = 2 * layout.per_row - 2 * len(starts)
        assert starts[0] == free // 2 and starts[-1] + 2 <= 2 * layout.per_row  # centred, inside
    if ncols * width <= plotting.MAX_WIDTH:
        assert layout.per_row == ncols and layout.panel == (width, height)
    elif layout.per_row > 1:  # panels share a row only when narrowed by at most MIN_SCALE
        assert layout.panel[0] >= plotting.MIN_SCALE * width - 1e-9


@pytest.mark.parametrize("ncols, nrows, panel", [(0, 1, (5.0, 4.0)), (2, -1, (5.0, 4.0)),
                                                 (1.5, 1, (5.0, 4.0)), (1, 1, (0.0, 4.0)),
                                                 (1, 1, (5.0, float("nan")))])
def test_bad_layouts_are_refused(ncols, nrows, panel):
    with pytest.raises(ValueError, match="ncols|nrows|panel"):
        plotting.panel_layout(ncols, nrows, panel)


def test_figure_axes_follow_the_layout_and_the_image_fits_the_column():
    fig, axes = plotting.figure(ncols=3, panel=(3.6, 3.4))
    assert len(axes) == 3
    for i, ax in enumerate(axes):
        plotting.axes_labels(ax, xlabel="gradient evaluations (count)", ylabel="f(x) − f*",
                             title=f"panel {i}: a title of some length", logy=True)
        ax.plot([1, 2], [1, 10], label="a curve")
        ax.legend(loc="upper left")
    fig.suptitle("A figure of three panels")
    fig.canvas.draw()
    boxes = [ax.get_position() for ax in axes]
    assert boxes[0].y0 == pytest.approx(boxes[1].y0) and boxes[0].x1 < boxes[1].x0  # side by side
    assert boxes[2].y1 < boxes[0].y0  # the third below them
    assert boxes[0].x0 < boxes[2].x0 < boxes[1].x0  # and centred
    # As the notebooks' inline backend shows it: figure.dpi, tight bounding box.
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi, bbox_inches="tight")
    plt.close(fig)
    with Image.open(buffer) as image:
        assert image.width <= plotting.COLUMN_PX
    # shown unscaled, 7 pt (the smallest legend text the chapters use) is at least 9 px high
    assert 7 * plotting.STYLE["figure.dpi"] / 72 >= 9


def test_long_text_is_wrapped_at_spaces_to_its_width():
    text = "oracle queries to reach epsilon (mean over the runs, 10-90% band)"
    # 2 in at 10 pt: 144 pt of text, about 26 characters of 5.5 pt
    lines = plotting.fit_text(text, 2.0, 10).split("\n")
    assert len(lines) == 3 and " ".join(lines) == text
    assert all(len(line) <= int(2.0 * 72 / (plotting.CHARACTER_EMS * 10)) for line in lines)
    assert plotting.fit_text(text, 20.0, 10) == text  # fits: unchanged
    assert plotting.fit_text("$10^{-6}$ " * 20, 1.0, 10) == "$10^{-6}$ " * 20  # mathtext: as is
    assert plotting.fit_text("a\nb " * 30, 1.0, 10) == "a\nb " * 30  # its own line breaks: as is


def test_axes_labels_wrap_a_title_wider_than_its_panel():
    fig, axes = plotting.figure(ncols=2, panel=(3.3, 3.0))
    title = "The sketch fails by orders of magnitude below k d, at every dimension tried"
    plotting.axes_labels(axes[0], xlabel="message size M / (k d)", ylabel="worst residual",
                         title=title)
    shown = axes[0].get_title()
    assert shown.count("\n") >= 1 and shown.replace("\n", " ") == title
    assert axes[0].get_xlabel() == "message size M / (k d)"  # short enough: one line
    plt.close(fig)
