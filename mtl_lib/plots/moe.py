"""Figures of mixtures of experts: gate heatmaps, loss curves over repeated runs, spreads."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter

from mtl_lib.plots.style import PALETTE, axes_or_new


def _log_y(ax: Axes) -> None:
    """Log-scale y with plain numbers (0.2, 0.5, 1, 2) instead of powers of ten."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(
        FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else "")
    )


def plot_gates(
    gates: pd.DataFrame,
    *,
    ax: Axes | None = None,
    vmax: float | None = None,
    colorbar: bool = True,
    fmt: str = "{:.2f}",
) -> Axes:
    """Mean gate weight of each task (row) on each expert (column), as a heatmap.

    Args:
        gates: Rows the tasks (or gates), columns the experts, values mean gate weights in
            [0, 1] (each row sums to one); e.g. `pd.DataFrame(gate_outputs.mean(axis=0))`.
        ax: Where to draw.
        vmax: Top of the colour scale (default: the largest weight), to share it between
            figures.
        colorbar: Draw a colour bar.
        fmt: Format of the number in each cell (`""` for none).
    """
    ax = axes_or_new(ax)
    values = gates.to_numpy(dtype=float)
    top = vmax if vmax is not None else max(float(np.nanmax(values)), 1e-9)
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=top, aspect="auto")
    if fmt:
        for (r, c), v in np.ndenumerate(values):
            ax.text(
                c,
                r,
                fmt.format(v),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if v > 0.6 * top else "black",
            )
    ax.set_xticks(range(gates.shape[1]), [str(c) for c in gates.columns], fontsize=8)
    ax.set_yticks(range(gates.shape[0]), [str(i) for i in gates.index], fontsize=8)
    ax.set_xlabel(str(gates.columns.name or "expert"))
    ax.set_ylabel(str(gates.index.name or ""))
    ax.grid(False)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label="mean gate weight", shrink=0.8)
    return ax


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
    """Every run's value as a dot and the groups' means as bars, side by side.

    The MMoE paper's Figure 5 (trainability) as a strip plot: how far the final loss of
    repeated runs of the same model spreads.

    Args:
        values: Tidy rows with columns `x`, `y` and `hue`, one row per run.
        ax: Where to draw.
        x: The condition on the x axis (e.g. `correlation`), in order of appearance.
        y: The value of each run.
        hue: The groups side by side in each condition (e.g. `model`).
        log: Log-scale y.
    """
    ax = axes_or_new(ax)
    conditions = list(dict.fromkeys(values[x]))
    groups = list(dict.fromkeys(values[hue]))
    width = 0.8 / len(groups)
    for i, name in enumerate(groups):
        color = PALETTE[i % len(PALETTE)]
        for j, condition in enumerate(conditions):
            runs = values.loc[(values[hue] == name) & (values[x] == condition), y].to_numpy()
            if not len(runs):
                continue
            pos = j - 0.4 + width * (i + 0.5)
            ax.bar(
                pos,
                runs.mean(),
                width=width * 0.9,
                color=color,
                alpha=0.3,
                label=name if j == 0 else None,
            )
            offsets = np.linspace(-0.25, 0.25, len(runs)) * width if len(runs) > 1 else [0.0]
            ax.scatter(pos + np.asarray(offsets), runs, s=12, color=color, zorder=3)
    ax.set_xticks(range(len(conditions)), [str(c) for c in conditions])
    if log:
        _log_y(ax)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.legend(fontsize=8)
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
