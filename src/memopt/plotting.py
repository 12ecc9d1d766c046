"""One plotting style for the whole book: measured runs as a mean with a band, theory dashed.

Every figure goes through :func:`axes_labels`, which refuses an axis without a label, so no
figure in the book leaves its reader guessing what is plotted or in which unit.

Every figure is also made to fit the website's content column (:data:`COLUMN_PX` pixels; at the
inline backend's ``figure.dpi`` a figure at most :data:`MAX_WIDTH` inches wide fits it): a figure
no wider than the column is shown at its natural size, so its text shows at its point size (10 pt
at 100 dpi is 14 px, 7 pt is 10 px) instead of being shrunk by the browser.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "figure.figsize": (6.6, 4.2),
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "legend.fontsize": 9,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "figure.titlesize": 11,
}

# Importing this module sets the book's style, so every figure of a chapter looks alike.
plt.rcParams.update(STYLE)

#: Band drawn around the mean: these quantiles of the runs.
BAND = (0.1, 0.9)

#: Width, in pixels, of the website's text column at about its narrowest on a desktop screen
#: (the theme's column at 1280 px with the page's contents beside it; the site's own style
#: widens it to 940 px or more from 1280 px on, so figures also fit a narrower window).
COLUMN_PX = 684
#: Widest figure, in inches at the inline backend's resolution (figures are shown at
#: ``figure.dpi``): the column less the 0.1 in that the backend's tight bounding box pads on
#: each side, and a few pixels for the rounding of that box.
MAX_WIDTH = (COLUMN_PX - 24) / STYLE["figure.dpi"]
#: Panels are narrowed by no more than this factor to share a row: their text and legends do not
#: shrink with them, so a panel narrowed further would be left mostly text. Beyond it, the panels
#: go into more rows.
MIN_SCALE = 0.8


@dataclass(frozen=True)
class PanelLayout:
    """Where the panels of a figure go: ``per_row`` panels a row, ``rows`` rows, each panel
    ``panel`` inches (width, height), the figure ``figsize`` inches. ``slots[i]`` is the row of
    panel ``i`` (in reading order) and its first column in half-panel units, so that a last row
    with fewer panels is centred."""

    per_row: int
    rows: int
    panel: tuple[float, float]
    figsize: tuple[float, float]
    slots: tuple[tuple[int, int], ...]


def panel_layout(ncols: int, nrows: int, panel: tuple[float, float],
                 max_width: float = MAX_WIDTH) -> PanelLayout:
    """Lay out ``nrows x ncols`` panels of ``panel`` inches within ``max_width`` inches.

    A grid that fits is kept as asked. A wider one is flowed, in reading order, into rows of as
    many panels as fit once narrowed by at most :data:`MIN_SCALE` (at least one panel a row,
    narrowed to the width if it is wider on its own), the last row centred. A narrowed panel
    keeps ``max(scale, MIN_SCALE)`` of its height, so that its text keeps room.
    """
    for name, value in (("ncols", ncols), ("nrows", nrows)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    width, height = (float(v) for v in panel)
    if not (math.isfinite(width) and math.isfinite(height) and width > 0 and height > 0):
        raise ValueError(f"panel must be a positive (width, height) in inches, got {panel!r}")
    if not max_width > 0:
        raise ValueError(f"max_width must be positive, got {max_width!r}")
    count = ncols * nrows
    if ncols * width <= max_width:
        per_row = ncols
    else:
        per_row = max(1, min(ncols, int(max_width // (MIN_SCALE * width))))
    rows = math.ceil(count / per_row)
    scale = min(1.0, max_width / (per_row * width))
    size = (width * scale, height * max(scale, MIN_SCALE))
    slots = []
    for i in range(count):
        row, column = divmod(i, per_row)
        in_row = min(per_row, count - row * per_row)
        slots.append((row, 2 * column + (per_row - in_row)))
    return PanelLayout(per_row, rows, size, (per_row * size[0], rows * size[1]), tuple(slots))


def figure(ncols: int = 1, nrows: int = 1, panel: tuple[float, float] = (5.0, 3.8)):
    """A new figure of ``nrows x ncols`` panels in the book's style; returns (fig, flat axes).

    The axes come in reading order of the grid asked for, but a grid wider than the website's
    column is narrowed or flowed into more rows (:func:`panel_layout`), so that the figure is
    shown at its natural size and its text stays readable.
    """
    layout = panel_layout(ncols, nrows, panel)
    fig = plt.figure(figsize=layout.figsize, layout="constrained")
    grid = fig.add_gridspec(layout.rows, 2 * layout.per_row)
    axes = [fig.add_subplot(grid[row, start:start + 2]) for row, start in layout.slots]
    return fig, np.array(axes, dtype=object)


def palette(count: int, name: str = "viridis") -> list:
    """``count`` colours spread over a sequential colormap (ordered settings: steps, sizes)."""
    cmap = matplotlib.colormaps[name]
    return [cmap(t) for t in np.linspace(0.0, 0.85, max(count, 1))]


def mean_band(ax, x, runs, *, label: str, color=None, positive: bool = True):
    """Plot the mean over runs (axis 0 of ``runs``) as a line and the 10-90% band around it.

    ``positive`` clips the band at the smallest positive float so log axes stay drawable.
    """
    runs = np.asarray(runs, dtype=float)
    if runs.ndim == 1:
        runs = runs[None, :]
    mean = runs.mean(axis=0)
    line = ax.plot(x, mean, label=label, color=color, lw=1.6)[0]
    if runs.shape[0] > 1:
        low, high = np.quantile(runs, BAND, axis=0)
        if positive:
            tiny = np.finfo(float).tiny
            low, high = np.maximum(low, tiny), np.maximum(high, tiny)
        ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, lw=0)
    return line


def theory(ax, x, y, *, label: str, color="black"):
    """A theoretical curve or bound, dashed, beside the measurement it predicts."""
    return ax.plot(x, y, ls="--", lw=1.2, color=color, label=label)[0]


def axes_labels(ax, *, xlabel: str, ylabel: str, title: str | None = None, logx=False, logy=False):
    """Label an axis (both labels are required) and set log scales where rates are the point.

    Labels and a title longer than their panel are wrapped onto more lines (:func:`fit_text`).
    """
    if not xlabel or not ylabel:
        raise ValueError("every axis needs an x label and a y label, with units")
    width, height = _panel_inches(ax)
    # Centred on the axes, labels may reach over the tick labels but not past the panel's slot;
    # the y label runs between the x label and the title.
    ax.set_xlabel(fit_text(xlabel, width - 0.3, plt.rcParams["axes.labelsize"]))
    ax.set_ylabel(fit_text(ylabel, height - 0.5, plt.rcParams["axes.labelsize"]))
    if title:
        ax.set_title(fit_text(title, width - 0.3, plt.rcParams["axes.titlesize"]))
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    return ax


#: Average advance of a character of the book's sans-serif font, in ems (DejaVu Sans: ~0.55).
CHARACTER_EMS = 0.55


def fit_text(text: str, inches: float, size) -> str:
    """``text`` broken at spaces into lines of at most ``inches`` at font ``size`` (points or a
    name such as "large"). Text with mathtext (``$...$``) or line breaks of its own is left as is."""
    if "$" in text or "\n" in text:
        return text
    points = matplotlib.font_manager.FontProperties(size=size).get_size_in_points()
    chars = max(12, int(inches * 72 / (CHARACTER_EMS * points)))
    if len(text) <= chars:
        return text
    return "\n".join(textwrap.wrap(text, chars, break_long_words=False, break_on_hyphens=False))


def _panel_inches(ax) -> tuple[float, float]:
    """Width and height of the grid slot ``ax`` was made in (the whole figure for an axes made
    outside a grid)."""
    fig_width, fig_height = ax.get_figure().get_size_inches()
    spec = ax.get_subplotspec()
    if spec is None:
        return float(fig_width), float(fig_height)
    grid = spec.get_gridspec()
    return (float(fig_width) * len(spec.colspan) / grid.ncols,
            float(fig_height) * len(spec.rowspan) / grid.nrows)
