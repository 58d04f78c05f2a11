"""Figures of training and evaluation: curves, metric bars, calibration, truth, heatmaps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from mtl_lib.plots.style import PALETTE, axes_or_new


def plot_history(
    history: pd.DataFrame, columns: Sequence[str], *, ax: Axes | None = None, ylabel: str = "loss"
) -> Axes:
    """Per-epoch curves, e.g. training and validation losses.

    Args:
        history: One row per epoch (as returned by `mtl_lib.train.fit`).
        columns: The columns to draw; `val_*` columns are dashed in their base's colour.
        ax: Where to draw.
        ylabel: What the curves are.
    """
    ax = axes_or_new(ax)
    bases = list(dict.fromkeys(c.removeprefix("val_") for c in columns))
    for c in columns:
        base = c.removeprefix("val_")
        ax.plot(
            history.index,
            history[c],
            marker="o",
            ms=3,
            label=c,
            color=PALETTE[bases.index(base) % len(PALETTE)],
            ls="--" if c.startswith("val_") else "-",
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return ax


def plot_metric_bars(
    table: pd.DataFrame,
    metric: str,
    *,
    ax: Axes | None = None,
    models: Sequence[str] | None = None,
    ylabel: str | None = None,
    ylim: tuple[float, float] | None = None,
) -> Axes:
    """Mean ± standard deviation over seeds of one metric, grouped by step.

    Args:
        table: Tidy results with columns `model`, `seed`, `step` and `metric` (as returned
            by `mtl_lib.experiment.run_seeds`).
        metric: The column to draw.
        ax: Where to draw.
        models: Which models, in this order (default: all, in order of appearance).
        ylabel: Axis label (default: the metric's name).
        ylim: Optional y range (AUCs differ in the third decimal).
    """
    ax = axes_or_new(ax)
    models = list(models or dict.fromkeys(table["model"]))
    steps = list(dict.fromkeys(table["step"]))
    stats = table.groupby(["model", "step"])[metric].agg(["mean", "std"])
    width = 0.8 / len(models)
    x = np.arange(len(steps))
    for i, model in enumerate(models):
        rows = stats.loc[model].reindex(steps)
        ax.bar(
            x - 0.4 + width * (i + 0.5),
            rows["mean"],
            width=width * 0.92,
            yerr=rows["std"].fillna(0.0),
            capsize=2,
            label=model,
            color=PALETTE[i % len(PALETTE)],
            error_kw={"lw": 0.8},
        )
    ax.set_xticks(x, steps)
    ax.set_ylabel(ylabel or metric)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.legend(fontsize=8, ncols=min(len(models), 4))
    return ax


def plot_seed_dots(
    table: pd.DataFrame,
    metric: str,
    *,
    ax: Axes | None = None,
    models: Sequence[str] | None = None,
    colors: Mapping[str, str] | None = None,
    xlabel: str | None = None,
    reference: float | None = None,
) -> Axes:
    """One row per model: each seed's value as a dot, the mean as a bar ± one std.

    Many models and a few seeds read better as dots than as bars: the spread between seeds
    is seen next to the difference between models.

    Args:
        table: Tidy results of one step, with columns `model`, `seed` and `metric`.
        metric: The column to draw.
        ax: Where to draw.
        models: Which models, top to bottom (default: all, in order of appearance).
        colors: Model → colour (default: the palette in order).
        xlabel: Axis label (default: the metric's name).
        reference: Optional value drawn as a dotted vertical line (e.g. the Bayes ceiling).
    """
    ax = axes_or_new(ax)
    models = list(models or dict.fromkeys(table["model"]))
    colors = colors or {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(models)}
    for row, model in enumerate(models):
        values = table.loc[table["model"] == model, metric].to_numpy(float)
        values = values[~np.isnan(values)]
        if not len(values):
            continue
        y = len(models) - 1 - row
        color = colors[model]
        ax.errorbar(
            values.mean(),
            y,
            xerr=values.std(ddof=1) if len(values) > 1 else 0.0,
            fmt="|",
            ms=14,
            mew=2,
            color=color,
            capsize=3,
        )
        ax.scatter(values, np.full(len(values), y), s=14, color=color, alpha=0.55, zorder=3)
    if reference is not None:
        ax.axvline(reference, color="grey", ls=":", lw=1)
    ax.set_yticks(range(len(models)), models[::-1], fontsize=8)
    ax.set_ylim(-0.7, len(models) - 0.3)
    ax.set_xlabel(xlabel or metric)
    ax.grid(axis="y", alpha=0.0)
    return ax


def plot_reliability(
    curves: Mapping[str, pd.DataFrame],
    *,
    ax: Axes | None = None,
    log: bool = True,
    colors: Mapping[str, str] | None = None,
    legend: bool = True,
) -> Axes:
    """Reliability diagram: observed rate against mean prediction, per bin.

    Args:
        curves: Name → `mtl_lib.metrics.reliability_curve` table.
        ax: Where to draw.
        log: Log axes, for rare steps.
        colors: Name → colour (default: the palette in order).
        legend: Draw the legend.
    """
    ax = axes_or_new(ax)
    lo, hi = 1.0, 0.0
    for i, (name, curve) in enumerate(curves.items()):
        ax.plot(
            curve["predicted"],
            curve["observed"],
            marker="o",
            ms=3,
            label=name,
            color=colors[name] if colors else PALETTE[i % len(PALETTE)],
        )
        positive = curve[["predicted", "observed"]].to_numpy()
        positive = positive[positive > 0]
        lo, hi = min(lo, positive.min()), max(hi, positive.max())
    ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls=":", label="perfect calibration")
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel("mean prediction in bin")
    ax.set_ylabel("observed rate in bin")
    if legend:
        ax.legend(fontsize=8)
    return ax


def plot_against_truth(
    predictions: Mapping[str, np.ndarray],
    truth: np.ndarray,
    *,
    ax: Axes | None = None,
    bins: int = 20,
    xlabel: str = "true probability",
    ylabel: str = "mean prediction",
) -> Axes:
    """Mean prediction per quantile bin of the true probability, one line per model.

    On the diagonal a model is unbiased; a flat line means it cannot rank the rows.

    Args:
        predictions: Model name → predictions `(rows,)`.
        truth: True probabilities of the same rows, `(rows,)`.
        ax: Where to draw.
        bins: Equal-count bins of the truth.
        xlabel: Label of the truth axis.
        ylabel: Label of the prediction axis.
    """
    ax = axes_or_new(ax)
    truth = np.asarray(truth, dtype=float)
    groups = np.array_split(np.argsort(truth, kind="stable"), bins)
    x = np.array([truth[g].mean() for g in groups])
    for i, (name, pred) in enumerate(predictions.items()):
        pred = np.asarray(pred, dtype=float)
        ax.plot(
            x,
            [pred[g].mean() for g in groups],
            marker="o",
            ms=3,
            label=name,
            color=PALETTE[i % len(PALETTE)],
        )
    ax.plot(
        [x.min(), x.max()],
        [x.min(), x.max()],
        color="grey",
        lw=0.8,
        ls=":",
        label="prediction = truth",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return ax


def plot_heatmap(
    frame: pd.DataFrame,
    *,
    ax: Axes | None = None,
    fmt: str = "{:+.3f}",
    annotations: pd.DataFrame | None = None,
    cmap: str = "RdBu",
    label: str = "",
    center: float | None = 0.0,
) -> Axes:
    """A table of numbers as coloured cells, centred on 0 (e.g. ESMM − BASE).

    Args:
        frame: Rows and columns as they should appear; numeric values (NaN: blank cell).
        ax: Where to draw.
        fmt: Format of each cell's number.
        annotations: Optional text per cell (same shape), drawn below the number.
        cmap: A diverging colour map, or a sequential one with `center=None`.
        label: Colour bar label.
        center: The value at the middle of a diverging map; `None` spans the values' range
            (for a sequential map, e.g. shares in [0, 1]).
    """
    ax = axes_or_new(ax)
    values = frame.to_numpy(dtype=float)
    if center is None:
        vmin, vmax = np.nanmin(values), np.nanmax(values)
    else:
        limit = np.nanmax(np.abs(values - center)) or 1.0
        vmin, vmax = center - limit, center + limit
    image = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    for (r, c), v in np.ndenumerate(values):
        if np.isnan(v):
            continue
        text = fmt.format(v)
        if annotations is not None:
            text += f"\n{annotations.iat[r, c]}"
        middle, span = (vmin + vmax) / 2, (vmax - vmin) or 1.0
        # dark cells: both ends of a diverging map, the top of a sequential one
        strong = abs(v - middle) > 0.3 * span if center is not None else v - middle > 0.1 * span
        ax.text(
            c,
            r,
            text,
            ha="center",
            va="center",
            fontsize=9,
            color="white" if strong else "black",
        )
    ax.set_xticks(range(frame.shape[1]), [str(c) for c in frame.columns])
    ax.set_yticks(range(frame.shape[0]), [str(i) for i in frame.index])
    ax.set_xlabel(str(frame.columns.name or ""))
    ax.set_ylabel(str(frame.index.name or ""))
    ax.grid(False)
    ax.figure.colorbar(image, ax=ax, label=label, shrink=0.8)
    return ax


def plot_boxes(
    samples: Mapping[str, np.ndarray], *, ax: Axes | None = None, ylabel: str = ""
) -> Axes:
    """Box plots of several samples side by side (quartiles, whiskers at 5 % and 95 %)."""
    ax = axes_or_new(ax)
    data = [np.asarray(v, dtype=float) for v in samples.values()]
    parts = ax.boxplot(data, whis=(5, 95), showfliers=False, patch_artist=True)
    for i, box in enumerate(parts["boxes"]):
        box.set_facecolor(PALETTE[i % len(PALETTE)])
        box.set_alpha(0.6)
    ax.set_xticks(range(1, len(data) + 1), list(samples), rotation=0, fontsize=8)
    ax.set_ylabel(ylabel)
    return ax


#: Verdict → colour in `plot_differences`: ahead, tied, behind.
VERDICT_COLORS = {"ahead": "#009E73", "tied": "#999999", "behind": "#D55E00"}


def plot_differences(
    differences: pd.DataFrame,
    *,
    ax: Axes | None = None,
    models: Sequence[str] | None = None,
    xlabel: str = "difference",
) -> Axes:
    """The significance rule as a picture: one paired interval per model, zero marked.

    An interval that crosses the dotted zero line is a tie; green is ahead of the
    reference, orange behind (`mtl_lib.metrics.compare`).

    Args:
        differences: Rows of one step from `mtl_lib.metrics.compare`: columns `model`,
            `difference`, `low`, `high` and `verdict`.
        ax: Where to draw.
        models: Which models, top to bottom (default: all, in order of appearance).
        xlabel: What the difference is (e.g. "AUC − v2 chain's").
    """
    ax = axes_or_new(ax)
    rows = differences.set_index("model")
    models = [m for m in (models or rows.index) if m in rows.index]
    for i, model in enumerate(models):
        row = rows.loc[model]
        y = len(models) - 1 - i
        color = VERDICT_COLORS[row["verdict"]]
        ax.plot([row["low"], row["high"]], [y, y], color=color, lw=2.5, solid_capstyle="butt")
        ax.plot(row["difference"], y, "o", color=color, ms=5)
    ax.axvline(0.0, color="black", ls=":", lw=1)
    ax.set_yticks(range(len(models)), models[::-1], fontsize=8)
    ax.set_ylim(-0.7, len(models) - 0.3)
    ax.set_xlabel(xlabel)
    ax.grid(axis="y", alpha=0.0)
    return ax
