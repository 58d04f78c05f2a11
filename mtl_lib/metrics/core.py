"""Whole-split AUC and log loss, funnel reach rates, the Bayes ceiling."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from mtl_lib.data.schema import Schema, truth_name

#: Probabilities are clipped to [EPSILON, 1 - EPSILON] before a logarithm or a division
#: (as Keras's binary cross-entropy clips them).
EPSILON = 1e-7


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve of `scores` for 0/1 `labels`, both `(rows,)`.

    Raises:
        ValueError: if `labels` hold a single class, where the AUC is undefined.
    """
    labels = np.asarray(labels).ravel()
    if labels.min() == labels.max():
        raise ValueError(f"AUC is undefined: all {len(labels)} labels are {labels[0]}")
    return float(skm.roc_auc_score(labels, np.asarray(scores).ravel()))


def log_loss(labels: np.ndarray, probs: np.ndarray) -> float:
    """Mean binary cross-entropy of probabilities `probs` for 0/1 `labels`, `(rows,)`."""
    p = np.clip(np.asarray(probs, dtype=float).ravel(), EPSILON, 1 - EPSILON)
    y = np.asarray(labels, dtype=float).ravel()
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def reach_rates(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Share of exposures reaching each step, and of the previous step's rows.

    Returns:
        One row per step: `positives`, `reach_rate` (of all exposures) and
        `conditional_rate` (of the rows that reached the previous step).
    """
    rows, previous = [], len(frame)
    for step in schema.steps:
        positives = int(frame[step].sum())
        rows.append(
            {
                "step": step,
                "positives": positives,
                "reach_rate": positives / len(frame),
                "conditional_rate": positives / previous if previous else np.nan,
            }
        )
        previous = positives
    return pd.DataFrame(rows).set_index("step")


def bayes_ceiling(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """AUC and log loss of the true probabilities: what no model can beat on this split.

    Args:
        frame: An evaluation split with the step labels and the ground-truth columns
            `true_p_<step>` and `true_p_<step>_given_<previous>`.
        schema: Its schema.

    Returns:
        One row per step: `auc` and `log_loss` over all exposures (entire space), and
        `conditional_auc`, `conditional_log_loss` over the rows that reached the previous
        step (NaN for the first step).
    """
    rows = []
    for t, step in enumerate(schema.steps):
        truth = _truth_column(frame, truth_name(step))
        row = {
            "step": step,
            "auc": auc(frame[step], frame[truth]),
            "log_loss": log_loss(frame[step], frame[truth]),
            "conditional_auc": np.nan,
            "conditional_log_loss": np.nan,
        }
        if t > 0:
            prev = schema.steps[t - 1]
            cond = _truth_column(frame, truth_name(step, prev))
            reached = frame[prev].to_numpy() == 1
            row["conditional_auc"] = auc(frame[step][reached], frame[cond][reached])
            row["conditional_log_loss"] = log_loss(frame[step][reached], frame[cond][reached])
        rows.append(row)
    return pd.DataFrame(rows).set_index("step")


def _truth_column(frame: pd.DataFrame, name: str) -> str:
    if name not in frame.columns:
        raise ValueError(
            f"ground-truth column {name!r} is missing: the Bayes ceiling needs "
            "data with known true probabilities (mtl_lib.synthetic)"
        )
    return name
