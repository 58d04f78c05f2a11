"""The one annotated heatmap behind `plot_heatmap` and `plot_gates` (seaborn draws the cells)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

from mtl_lib.plots.style import axes_or_new


def cell_texts(
    frame: pd.DataFrame, fmt: str, annotations: pd.DataFrame | None = None
) -> np.ndarray:
    """Each cell's number formatted with `fmt`, and its annotation on a second line.

    Args:
        frame: Numeric values, `(rows, columns)`; NaN cells get an empty text.
        fmt: A Python format string, e.g. `"{:+.3f}"` or `"{:.1%}"`.
        annotations: Optional text per cell, the same shape as `frame`.

    Returns:
        An object array of strings, `(rows, columns)`.
    """
    values = frame.to_numpy(dtype=float)
    texts = np.full(values.shape, "", dtype=object)
    for (r, c), v in np.ndenumerate(values):
        if np.isnan(v):
            continue
        texts[r, c] = fmt.format(v)
        if annotations is not None:
            texts[r, c] += f"\n{annotations.iat[r, c]}"
    return texts


def annotated_heatmap(
    frame: pd.DataFrame,
    *,
    ax: Axes | None,
    cmap: str,
    vmin: float,
    vmax: float,
    texts: np.ndarray | None = None,
    fontsize: float = 9,
    tick_fontsize: float | None = None,
    colorbar: bool = True,
    label: str = "",
    xlabel: str = "",
) -> Axes:
    """`seaborn.heatmap` of a frame, in the project's style: text per cell, labelled axes.

    seaborn leaves NaN cells blank and writes dark text on light cells, white on dark ones.

    Args:
        frame: Rows and columns as they should appear, numeric values `(rows, columns)`.
        ax: Where to draw (a new figure if `None`).
        cmap: Colour map.
        vmin: Value at the bottom of the colour map.
        vmax: Value at the top of the colour map.
        texts: Text per cell, `(rows, columns)` (e.g. from `cell_texts`); `None` for none.
        fontsize: Size of the cells' texts.
        tick_fontsize: Size of the row and column names (default: matplotlib's).
        colorbar: Draw a colour bar.
        label: Colour bar label.
        xlabel: Label of the columns when they have no name.

    Returns:
        The axes.
    """
    ax = axes_or_new(ax)
    sns.heatmap(
        frame.astype(float),
        ax=ax,
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        annot=texts if texts is not None else False,
        fmt="",
        annot_kws={"fontsize": fontsize},
        xticklabels=[str(c) for c in frame.columns],
        yticklabels=[str(i) for i in frame.index],
        cbar=colorbar,
        cbar_kws={"label": label, "shrink": 0.8},
    )
    ax.tick_params(axis="x", labelrotation=0, labelsize=tick_fontsize)
    ax.tick_params(axis="y", labelrotation=0, labelsize=tick_fontsize)
    ax.set_xlabel(str(frame.columns.name or xlabel))
    ax.set_ylabel(str(frame.index.name or ""))
    ax.grid(False)
    return ax
