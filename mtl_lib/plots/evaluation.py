"""Figures of training and evaluation: curves, seed dots, comparisons, calibration, truth."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from mtl_lib.plots.heatmap import annotated_heatmap, cell_texts
from mtl_lib.plots.style import PALETTE, axes_or_new, palette


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
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return ax


def _mean_std_interval(
    values: pd.Series, low: float = -np.inf, high: float = np.inf
) -> tuple[float, float]:
    """Mean ± one standard deviation (0 for a single value), clipped to [`low`, `high`]."""
    v = np.asarray(values, dtype=float)
    mean = v.mean()
    std = v.std(ddof=1) if len(v) > 1 else 0.0
    return max(mean - std, low), min(mean + std, high)


def _mean_std_in_unit_interval(values: pd.Series) -> tuple[float, float]:
    """Mean ± one standard deviation, clipped to [0, 1] (shares, AUCs)."""
    return _mean_std_interval(values, 0.0, 1.0)


def plot_metric_bars(
    table: pd.DataFrame,
    metric: str,
    *,
    ax: Axes | None = None,
    models: Sequence[str] | None = None,
    ylabel: str | None = None,
    ylim: tuple[float, float] | None = None,
) -> Axes:
    """Dot plot of one metric per step and model: every seed, and the mean ± one std.

    Each seed is a small translucent dot (`seaborn.stripplot`); the mean is a larger marker
    with an interval of ± one standard deviation over seeds, clipped to [0, 1] so that a
    share or an AUC never reaches past its range (`seaborn.pointplot`). Dots, not bars: the
    y axis can zoom on differences of 0.002 without a bar's length lying about them.

    Args:
        table: Tidy results, one row per model, seed and step, with columns `model`, `seed`,
            `step` and `metric` (as returned by `mtl_lib.experiment.run_seeds`); NaN
            values are left out.
        metric: The column to draw, a value in [0, 1] (e.g. `auc`, `order_violation`).
        ax: Where to draw.
        models: Which models, in this order, side by side within each step (default: all,
            in order of appearance); colours follow `PALETTE` in this order.
        ylabel: Axis label (default: the metric's name).
        ylim: Optional y range (AUCs differ in the third decimal).

    Returns:
        The axes: steps at x = 0, 1, … in order of appearance, one legend entry per model.
    """
    ax = axes_or_new(ax)
    models = list(models or dict.fromkeys(table["model"]))
    steps = list(dict.fromkeys(table["step"]))
    common = {
        "data": table[table["model"].isin(models)],
        "x": "step",
        "y": metric,
        "hue": "model",
        "order": steps,
        "hue_order": models,
        "palette": palette(models),
        "ax": ax,
    }
    sns.stripplot(**common, dodge=True, size=3, alpha=0.4, legend=False)
    sns.pointplot(
        **common,
        dodge=0.8 - 0.8 / len(models),  # the strips' centres
        errorbar=_mean_std_in_unit_interval,
        linestyle="none",
        markersize=5,
        err_kws={"linewidth": 1.5},
    )
    ax.set_xlabel("")
    ax.set_ylabel(ylabel or metric)
    if ylim is not None:
        ax.set_ylim(*ylim)
    sns.move_legend(ax, "best", fontsize=8, ncols=min(len(models), 4), title=None)
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
    """One row per model: each seed's value as a dot, the mean as a tick ± one std.

    Many models and a few seeds read better as dots than as bars: the spread between seeds
    is seen next to the difference between models. Drawn with `seaborn.stripplot` (seeds)
    and `seaborn.pointplot` (mean and interval), horizontally.

    Args:
        table: Tidy results of one step, one row per model and seed, with columns `model`,
            `seed` and `metric`.
        metric: The column to draw.
        ax: Where to draw.
        models: Which models, top to bottom (default: all, in order of appearance); a model
            with no value (NaN or absent) keeps its row, empty.
        colors: Model → colour (default: the palette in order).
        xlabel: Axis label (default: the metric's name).
        reference: Optional value drawn as a dotted vertical line (e.g. the Bayes ceiling).

    Returns:
        The axes: model `models[i]` at y = i, the first on top.
    """
    ax = axes_or_new(ax)
    models = list(models or dict.fromkeys(table["model"]))
    colors = colors or palette(models)
    rows = table[table["model"].isin(models)].dropna(subset=[metric])
    common = {
        "data": rows,
        "x": metric,
        "y": "model",
        "hue": "model",
        "order": models,
        "hue_order": models,
        "palette": {m: colors[m] for m in models},
        "orient": "h",
        "legend": False,
        "ax": ax,
    }
    if len(rows):
        sns.stripplot(**common, jitter=False, size=4, alpha=0.55, zorder=3)
        sns.pointplot(
            **common,
            errorbar=_mean_std_interval,
            markers="|",
            markersize=14,
            markeredgewidth=2,
            linestyle="none",
            capsize=0.12,
            err_kws={"linewidth": 1.5},
        )
    else:
        ax.set_yticks(range(len(models)), models)
        ax.set_ylim(len(models) - 0.5, -0.5)
    if reference is not None:
        ax.axvline(reference, color="grey", ls=":", lw=1)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlabel(xlabel or metric)
    ax.set_ylabel("")
    ax.grid(axis="y", alpha=0.0)
    return ax


def plot_comparison(
    table: pd.DataFrame,
    metric: str = "auc",
    step: str | None = None,
    *,
    models: Sequence[str] | None = None,
    colors: Mapping[str, str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """One call over a results table: every model's seeds at one step, for one metric.

    The table is `run_seeds`'s, or a results file read back with
    `mtl.experiment.load_results`: a row per model, seed and step. Each model's seeds are
    dots and its mean ± one std a tick (`plot_seed_dots`); the dotted line is the best
    mean, and the title says how many seeds each model has.

    Args:
        table: Tidy results with columns `model`, `seed`, `step` and `metric`.
        metric: The column to compare, e.g. `"auc"`, `"gap_closed"` or `"ece"`.
        step: The step (default: the table's last, the funnel's goal).
        models: Which models, top to bottom (default: every model with a value there).
        colors: Model → colour (default: the palette).
        ax: Where to draw.

    Returns:
        The axes.

    Raises:
        ValueError: naming the unknown step, metric or models, and the known ones.
    """
    if metric not in table.columns:
        raise ValueError(f"plot_comparison: no column {metric!r}; the table has {list(table)}")
    steps = list(dict.fromkeys(table["step"]))
    step = steps[-1] if step is None else step
    if step not in steps:
        raise ValueError(f"plot_comparison: no step {step!r}; the table has {steps}")
    rows = table[table["step"] == step].dropna(subset=[metric])
    known = list(dict.fromkeys(rows["model"]))
    models = known if models is None else list(models)
    unknown = [m for m in models if m not in known]
    if unknown:
        raise ValueError(
            f"plot_comparison: no {metric} at {step!r} for {unknown}; models there: {known}"
        )
    ax = plot_seed_dots(rows, metric, ax=ax, models=models, colors=colors, xlabel=metric)
    if models:
        means = rows[rows["model"].isin(models)].groupby("model")[metric].mean()
        ax.axvline(means.max(), color="grey", ls=":", lw=1)
    seeds = rows[rows["model"].isin(models)].groupby("model")["seed"].nunique()
    count = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()}–{seeds.max()}"
    ax.set_title(f"{step}: {metric}, {count} seeds per model (dotted: best mean)", fontsize=10)
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

    `seaborn.heatmap` with each cell's text already formatted; text is white on dark cells.

    Args:
        frame: Rows and columns as they should appear, `(rows, columns)`; numeric values
            (NaN: blank cell). The index and column names label the axes.
        ax: Where to draw.
        fmt: Python format string of each cell's number (e.g. `"{:+.3f}"`, `"{:.1%}"`).
        annotations: Optional text per cell (same shape), drawn below the number.
        cmap: A diverging colour map, or a sequential one with `center=None`.
        label: Colour bar label.
        center: The value at the middle of a diverging map; `None` spans the values' range
            (for a sequential map, e.g. shares in [0, 1]).

    Returns:
        The axes (the colour bar is a second axes of the same figure).
    """
    values = frame.to_numpy(dtype=float)
    if center is None:
        vmin, vmax = float(np.nanmin(values)), float(np.nanmax(values))
    else:
        limit = float(np.nanmax(np.abs(values - center))) or 1.0
        vmin, vmax = center - limit, center + limit
    return annotated_heatmap(
        frame,
        ax=ax,
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        texts=cell_texts(frame, fmt, annotations),
        label=label,
    )


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
        models: Which models, top to bottom (default: all, in order of appearance). Each
            has its row, by name, even where `differences` has none of it (an empty row
            with its label), so panels of several steps with shared y axes line up.
        xlabel: What the difference is (e.g. "AUC − v2 chain's").
    """
    ax = axes_or_new(ax)
    rows = differences.set_index("model")
    models = list(models or rows.index)
    for i, model in enumerate(models):
        if model not in rows.index:
            continue  # no output at this step (e.g. ESMM's `apply`): an empty row
        row = rows.loc[model]
        y = len(models) - 1 - i
        color = VERDICT_COLORS[row["verdict"]]
        ax.plot([row["low"], row["high"]], [y, y], color=color, lw=2.5, solid_capstyle="butt")
        ax.plot(row["difference"], y, "o", color=color, ms=5)
    ax.axvline(0.0, color="black", ls=":", lw=1)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5))  # long tick labels must not overlap
    ax.set_yticks(range(len(models)), models[::-1], fontsize=8)
    ax.set_ylim(-0.7, len(models) - 0.3)
    ax.set_xlabel(xlabel)
    ax.grid(axis="y", alpha=0.0)
    return ax
