"""Tables of results: `mean ± std` over seeds, markdown for a README, and results files."""

from __future__ import annotations

import os
from pathlib import Path

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


RESULTS_ENV = "MTL_RESULTS"
# Columns that measure time: they differ run to run, so a results file leaves them out.
TIMING_COLUMNS = ("examples_per_second",)


def results_folder() -> Path:
    """Where a notebook writes the results a reader explores without re-running it.

    In order: `$MTL_RESULTS` if set (the tests set it to a temporary folder, so that a
    test run leaves the work tree as it was); the repository's `results/` when `mtl_lib`
    runs from a clone; else `results/` in the current folder.
    """
    if os.environ.get(RESULTS_ENV):
        return Path(os.environ[RESULTS_ENV])
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "notebooks").is_dir() and (checkout / "mtl_lib").is_dir():
        return checkout / "results"
    return Path.cwd() / "results"


def save_results(table: pd.DataFrame, path: str | Path) -> Path:
    """Write `run_seeds`'s tidy table as CSV, the same bytes for the same results.

    One row per model, seed and step, every metric, the epochs and the parameters; the
    timing columns (`TIMING_COLUMNS`) are left out, and floats are written with 6
    significant digits, so that re-running the same seeds on the same machine rewrites
    the file byte for byte (`git diff` stays empty).

    Args:
        table: Tidy results, with columns `model`, `seed` and `step`.
        path: The CSV file; its folder is made if need be.

    Returns:
        The path written.

    Raises:
        ValueError: if `model`, `seed` or `step` is missing, or a (model, seed, step)
            appears twice (the file would not say which row is which).
    """
    keys = ["model", "seed", "step"]
    missing = [k for k in keys if k not in table.columns]
    if missing:
        raise ValueError(f"save_results: the table has no column {missing}; it needs {keys}")
    twice = table.duplicated(keys)
    if twice.any():
        first = table.loc[twice, keys].iloc[0].to_dict()
        raise ValueError(
            f"save_results: {int(twice.sum())} repeated (model, seed, step) rows, first {first}"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = table.drop(columns=[c for c in TIMING_COLUMNS if c in table.columns])
    out.to_csv(path, index=False, float_format="%.6g", lineterminator="\n")
    return path


def load_results(path: str | Path) -> pd.DataFrame:
    """A table written by `save_results`, for plots and comparisons without re-running.

    Raises:
        FileNotFoundError: naming the file and the notebook call that writes it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no results file; the notebook that writes it calls "
            "mtl.experiment.save_results(results, path)"
        )
    return pd.read_csv(path)
