"""Figures of mixtures of experts: gate heatmaps, loss curves over repeated runs, spreads."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter

from mtl_lib.plots.heatmap import annotated_heatmap, cell_texts
from mtl_lib.plots.style import PALETTE, axes_or_new, palette


def _log_y(ax: Axes) -> None:
    """Log-scale y with plain numbers (0.2, 0.5, 1, 2) instead of powers of ten.

    Between the decades, more ticks are labelled the shorter the axis's span: every tick
    below 0.7 decade, 2, 3, 5 and 7 up to 1.5 decades, 2 and 5 up to 3, none beyond, so a
    short axis never shows only two numbers.
    """
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))

    def minor(v: float, _: int) -> str:
        low, high = sorted(ax.get_ylim())
        decades = np.log10(high / low) if low > 0 else np.inf
        keep = "23456789" if decades < 0.7 else "2357" if decades < 1.5 else "25"
        return f"{v:g}" if decades <= 3 and f"{v:.0e}"[0] in keep else ""

    ax.yaxis.set_minor_formatter(FuncFormatter(minor))


def plot_gates(
    gates: pd.DataFrame,
    *,
    ax: Axes | None = None,
    vmax: float | None = None,
    colorbar: bool = True,
    fmt: str = "{:.2f}",
) -> Axes:
    """Mean gate weight of each task (row) on each expert (column), as a heatmap.

    `seaborn.heatmap` in blues from 0 to `vmax`; text is white on dark cells.

    Args:
        gates: Rows the tasks (or gates), columns the experts, values mean gate weights in
            [0, 1] (each row sums to one); e.g. `pd.DataFrame(gate_outputs.mean(axis=0))`.
        ax: Where to draw.
        vmax: Top of the colour scale (default: the largest weight), to share it between
            figures.
        colorbar: Draw a colour bar.
        fmt: Python format string of the number in each cell (`""` for none).

    Returns:
        The axes.
    """
    values = gates.to_numpy(dtype=float)
    top = vmax if vmax is not None else max(float(np.nanmax(values)), 1e-9)
    return annotated_heatmap(
        gates,
        ax=ax,
        cmap="Blues",
        vmin=0.0,
        vmax=top,
        texts=cell_texts(gates, fmt) if fmt else None,
        fontsize=7,
        tick_fontsize=8,
        colorbar=colorbar,
        label="mean gate weight",
        xlabel="expert",
    )


def plot_loss_bands(
    curves: pd.DataFrame,
    *,
    ax: Axes | None = None,
    x: str = "epoch",
    y: str = "loss",
    hue: str = "model",
    band: str = "range",
    log: bool = False,
) -> Axes:
    """Mean curve of repeated runs with a shaded band, one colour per group.

    The MMoE paper's Figure 4: training loss against training time, averaged over runs.

    Args:
        curves: Tidy rows with columns `x`, `y`, `hue` and one row per run and x.
        ax: Where to draw.
        x: The time axis (e.g. `epoch`).
        y: The curve (e.g. `loss`).
        hue: The groups (e.g. `model`), drawn in order of appearance.
        band: `"range"` (min to max over runs) or `"std"` (mean ± one standard deviation).
        log: Log-scale y.
    """
    if band not in ("range", "std"):
        raise ValueError(f"band must be 'range' or 'std', got {band!r}")
    ax = axes_or_new(ax)
    for i, (name, group) in enumerate(curves.groupby(hue, sort=False)):
        stats = group.groupby(x)[y].agg(["mean", "std", "min", "max", "count"])
        lo, hi = (
            (stats["min"], stats["max"])
            if band == "range"
            else (stats["mean"] - stats["std"], stats["mean"] + stats["std"])
        )
        color = PALETTE[i % len(PALETTE)]
        runs = int(stats["count"].max())
        ax.plot(stats.index, stats["mean"], color=color, label=f"{name} ({runs} runs)")
        ax.fill_between(stats.index, lo, hi, color=color, alpha=0.2, lw=0)
    if log:
        _log_y(ax)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.legend(fontsize=8)
    return ax


def plot_spread(
    values: pd.DataFrame,
    *,
    ax: Axes | None = None,
    x: str = "correlation",
    y: str = "loss",
    hue: str = "model",
    log: bool = False,
) -> Axes:
    """Every run's value as a dot and each group's median as a wide tick, side by side.

    The MMoE paper's Figure 5 (trainability) as a strip plot (`seaborn.stripplot`, the
    medians by `seaborn.pointplot`): how far the final loss of repeated runs of the same
    model spreads. Dots, not bars, so that a log axis shows values rather than bar lengths.

    Args:
        values: Tidy rows with columns `x`, `y` and `hue`, one row per run.
        ax: Where to draw.
        x: The condition on the x axis (e.g. `correlation`), in order of appearance.
        y: The value of each run.
        hue: The groups side by side in each condition (e.g. `model`), in order of
            appearance; colours from `PALETTE`.
        log: Log-scale y, labelled with plain numbers at enough ticks to read it.

    Returns:
        The axes: conditions at x = 0, 1, …, one legend entry per group.
    """
    ax = axes_or_new(ax)
    groups = list(dict.fromkeys(values[hue]))
    common = {
        "data": values,
        "x": x,
        "y": y,
        "hue": hue,
        "order": list(dict.fromkeys(values[x])),
        "hue_order": groups,
        "palette": palette(groups),
        "ax": ax,
    }
    sns.stripplot(**common, dodge=True, size=4, alpha=0.6)
    sns.pointplot(
        **common,
        dodge=0.8 - 0.8 / len(groups),  # the strips' centres
        estimator="median",
        errorbar=None,
        markers="_",
        markersize=18,
        markeredgewidth=2.5,
        linestyle="none",
        legend=False,
    )
    if log:
        _log_y(ax)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    sns.move_legend(ax, "best", fontsize=8, title=None)
    return ax


def plot_curve_and_points(
    curve: pd.Series,
    points: Mapping[float, float],
    *,
    ax: Axes | None = None,
    curve_label: str = "",
    points_label: str = "",
    xlabel: str = "",
    ylabel: str = "",
) -> Axes:
    """A computed curve beside a few reference points (e.g. values read off a paper).

    Args:
        curve: Index the x values, values the curve.
        points: x → y of the reference points.
        ax: Where to draw.
        curve_label: Legend entry of the curve.
        points_label: Legend entry of the points.
        xlabel: Label of x.
        ylabel: Label of y.
    """
    ax = axes_or_new(ax)
    ax.plot(curve.index, curve.to_numpy(), color=PALETTE[0], marker="o", ms=3, label=curve_label)
    ax.scatter(
        list(points),
        list(points.values()),
        color=PALETTE[3],
        marker="s",
        s=40,
        zorder=3,
        label=points_label,
    )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return ax
