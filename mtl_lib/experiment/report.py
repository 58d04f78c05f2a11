"""Tables of results: `mean ± std` over seeds, and markdown for a README."""

from __future__ import annotations

import numpy as np
import pandas as pd


def summarize(table: pd.DataFrame, metric: str, *, digits: int = 4) -> pd.DataFrame:
    """`mean ± std` over seeds of one metric: a row per model, a column per step.

    A step where a model has no value (NaN) is left NaN, and a model with no value at any
    step (e.g. BASE's pCVR metrics) has no row.
    """
    grouped = table.groupby(["model", "step"], sort=False)[metric]
    stats = grouped.agg(["mean", "std"]).reset_index()
    stats["value"] = [
        np.nan if np.isnan(m) else f"{m:.{digits}f} ± {s:.{digits}f}"
        for m, s in zip(stats["mean"], stats["std"].fillna(0.0), strict=True)
    ]
    wide = stats.pivot(index="model", columns="step", values="value").reindex(
        index=list(dict.fromkeys(table["model"])), columns=list(dict.fromkeys(table["step"]))
    )
    return wide.dropna(how="all")  # a model without this metric at any step has no row


def markdown_table(frame: pd.DataFrame) -> str:
    """`frame` as a GitHub markdown table, its index as the first column."""
    header = [frame.index.name or "", *frame.columns]
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, [i, *row])) + " |" for i, row in frame.iterrows()]
    return "\n".join(lines)
