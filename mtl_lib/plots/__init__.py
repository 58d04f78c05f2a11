"""Figures for the notebooks: each draws arrays or frames on one `Axes`, never model code.

Every function has the signature `plot_x(data, *, ax=None, ...) -> Axes`: it draws on `ax`
(a new figure if `None`) and returns it, so a notebook cell holds one figure.
"""

from mtl_lib.plots.data import plot_coverage, plot_densities, plot_funnel, plot_id_frequency
from mtl_lib.plots.evaluation import (
    plot_against_truth,
    plot_boxes,
    plot_comparison,
    plot_differences,
    plot_heatmap,
    plot_history,
    plot_metric_bars,
    plot_reliability,
    plot_seed_dots,
)
from mtl_lib.plots.moe import plot_curve_and_points, plot_gates, plot_loss_bands, plot_spread
from mtl_lib.plots.style import PALETTE, axes_or_new, compact_png, set_style

__all__ = [
    "PALETTE",
    "axes_or_new",
    "compact_png",
    "plot_against_truth",
    "plot_boxes",
    "plot_comparison",
    "plot_coverage",
    "plot_curve_and_points",
    "plot_densities",
    "plot_differences",
    "plot_funnel",
    "plot_gates",
    "plot_heatmap",
    "plot_history",
    "plot_id_frequency",
    "plot_loss_bands",
    "plot_metric_bars",
    "plot_reliability",
    "plot_seed_dots",
    "plot_spread",
    "set_style",
]
