"""Figures of the data: the funnel, id frequencies, populations compared."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from mtl_lib.plots.style import PALETTE, axes_or_new


def _percent(v: float) -> str:
    """A reach rate as a short percentage: two decimals below 1 %, one above."""
    return f"{v:.2%}" if v < 0.01 else f"{v:.1%}"


def plot_funnel(
    rates: pd.DataFrame | pd.Series, *, ax: Axes | None = None, log: bool = True
) -> Axes:
    """Share of exposures reaching each step, one bar group per step.

    The exposure group (every source at 100 %) gets one label; every other bar its own,
    written upright above it when several sources stand side by side, so that the
    labels of neighbouring bars never overlap (up to five sources and five steps). The
    legend, if any, sits to the right of the axes, clear of the labels.

    Args:
        rates: Reach rates in [0, 1], index the steps in funnel order; a Series, or a frame
            `(steps, sources)` with one column per source (e.g. `observed`, `true`, a
            model's name).
        ax: Where to draw.
        log: Log-scale rates, so the rare last steps stay visible.

    Returns:
        The axes, bars labelled with their percentage.
    """
    ax = axes_or_new(ax)
    frame = rates.to_frame() if isinstance(rates, pd.Series) else rates
    steps = ["exposure", *frame.index]
    sources = frame.shape[1]
    width = 0.8 / sources
    x = np.arange(len(steps))
    upright = sources > 1
    for i, (name, col) in enumerate(frame.items()):
        values = np.concatenate([[1.0], col.to_numpy(float)])
        pos = x - 0.4 + width * (i + 0.5)
        bars = ax.bar(
            pos, values, width=width * 0.95, label=str(name), color=PALETTE[i % len(PALETTE)]
        )
        ax.bar_label(
            bars,
            labels=["", *(_percent(v) for v in values[1:])],  # exposure: one label below
            fontsize=7,
            padding=2,
            rotation=90 if upright else 0,
        )
    ax.annotate(
        "100%",
        (0.0, 1.0),
        xytext=(0, 2),
        textcoords="offset points",
        ha="center",
        va="bottom",
        fontsize=7,
    )
    ax.set_xticks(x, steps)
    ax.set_ylabel("share of exposures reaching the step")
    if log:
        ax.set_yscale("log")
        ax.set_ylim(top=2.0)
    else:
        ax.set_ylim(top=1.15)
    if sources > 1:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


def plot_id_frequency(
    frame: pd.DataFrame, fields: Sequence[str], *, ax: Axes | None = None
) -> Axes:
    """Rank-frequency curves of categorical ids, log-log: a straight line is Zipf's law.

    Args:
        frame: Rows with one integer id column per field.
        fields: The fields to draw.
        ax: Where to draw.
    """
    ax = axes_or_new(ax)
    for i, name in enumerate(fields):
        counts = np.sort(frame[name].value_counts().to_numpy())[::-1]
        ax.loglog(
            np.arange(1, len(counts) + 1),
            counts / counts.sum(),
            label=name,
            color=PALETTE[i % len(PALETTE)],
        )
    ax.set_xlabel("id rank (most frequent first)")
    ax.set_ylabel("share of rows")
    ax.legend(fontsize=8)
    return ax


def plot_densities(
    samples: Mapping[str, np.ndarray],
    *,
    ax: Axes | None = None,
    xlabel: str = "",
    bins: int = 60,
    log_x: bool = True,
) -> Axes:
    """Overlaid histograms of the share of each population per bin, to compare them.

    Args:
        samples: Population name → values `(rows,)`; positive values if `log_x`.
        ax: Where to draw.
        xlabel: Label of the quantity.
        bins: Histogram bins, shared by every population.
        log_x: Log-spaced bins and axis (for probabilities spanning decades).
    """
    ax = axes_or_new(ax)
    values = [np.asarray(v, dtype=float) for v in samples.values()]
    lo, hi = min(v.min() for v in values), max(v.max() for v in values)
    edges = np.geomspace(lo, hi, bins + 1) if log_x else np.linspace(lo, hi, bins + 1)
    for i, (name, v) in enumerate(zip(samples, values, strict=True)):
        share = np.full(len(v), 1.0 / len(v))  # each population sums to 1 over the bins
        ax.hist(
            v,
            bins=edges,
            weights=share,
            histtype="stepfilled",
            alpha=0.35,
            color=PALETTE[i],
            label=f"{name} (mean {v.mean():.3f})",
        )
        ax.hist(v, bins=edges, weights=share, histtype="step", color=PALETTE[i])
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("share of rows per bin")
    ax.legend()
    return ax


def plot_coverage(shares: pd.DataFrame, *, ax: Axes | None = None, xlabel: str = "") -> Axes:
    """Share of each population falling in each bin of a quantity (e.g. deciles).

    Args:
        shares: Index the bins (in order), one column per population, each summing to 1.
        ax: Where to draw.
        xlabel: What the bins are.
    """
    ax = axes_or_new(ax)
    width = 0.8 / shares.shape[1]
    x = np.arange(len(shares))
    for i, (name, col) in enumerate(shares.items()):
        ax.bar(
            x - 0.4 + width * (i + 0.5),
            col.to_numpy(),
            width=width * 0.95,
            label=str(name),
            color=PALETTE[i],
        )
    ax.set_xticks(x, [str(b) for b in shares.index])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("share of rows")
    ax.legend()
    return ax
