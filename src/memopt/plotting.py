"""One plotting style for the whole book: measured runs as a mean with a band, theory dashed.

Every figure goes through :func:`axes_labels`, which refuses an axis without a label, so no
figure in the book leaves its reader guessing what is plotted or in which unit.
"""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "figure.figsize": (7.0, 4.2),
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "legend.fontsize": 9,
    "font.size": 10,
}

# Importing this module sets the book's style, so every figure of a chapter looks alike.
plt.rcParams.update(STYLE)

#: Band drawn around the mean: these quantiles of the runs.
BAND = (0.1, 0.9)


def figure(ncols: int = 1, nrows: int = 1, panel: tuple[float, float] = (5.0, 3.8)):
    """A new figure of ``nrows x ncols`` panels in the book's style; returns (fig, flat axes)."""
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(panel[0] * ncols, panel[1] * nrows), squeeze=False,
        layout="constrained",
    )
    return fig, axes.ravel()


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
    """Label an axis (both labels are required) and set log scales where rates are the point."""
    if not xlabel or not ylabel:
        raise ValueError("every axis needs an x label and a y label, with units")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    return ax
