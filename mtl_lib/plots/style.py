"""The project's look: one palette and one set of matplotlib defaults."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

#: One colour per series, colour-blind safe (Okabe-Ito), used by every figure.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")


def set_style() -> None:
    """Small, clean, PNG-friendly figures (call once in a notebook's set-up)."""
    mpl.rcParams.update(
        {
            "figure.figsize": (6.4, 3.6),
            "figure.dpi": 90,
            "savefig.dpi": 90,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.prop_cycle": mpl.cycler(color=PALETTE),
            "font.size": 10,
            "axes.titlesize": 11,
            "legend.frameon": False,
        }
    )


def axes_or_new(ax: Axes | None) -> Axes:
    """`ax`, or the axes of a new figure."""
    return plt.subplots()[1] if ax is None else ax
