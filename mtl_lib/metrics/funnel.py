"""Evaluating a funnel model's predictions on a whole split, against labels and the truth.

`predictions` is a dict as returned by `mtl_lib.train.predict`: `predictions[step]` the
entire-space probability of reaching each step, `(rows,)`, and, for models that estimate
them, `predictions["<step>_given_<previous>"]` the conditional probabilities.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from mtl_lib.data.schema import POTENTIAL_PREFIX, Schema, conditional_name, truth_name
from mtl_lib.metrics.core import EPSILON, auc, bayes_ceiling, log_loss


def conditional_prediction(
    predictions: Mapping[str, np.ndarray], step: str, previous: str
) -> np.ndarray:
    """P(step | previous, x): the model's own estimate, else the ratio of reach probabilities.

    A model that predicts entire-space probabilities only (v3, AITM, MMoE) implies
    P(step | previous) = P(reach step) / P(reach previous), clipped to [0, 1].
    """
    name = conditional_name(step, previous)
    if name in predictions:
        return np.asarray(predictions[name], dtype=float)
    ratio = np.asarray(predictions[step], float) / np.maximum(predictions[previous], EPSILON)
    return np.clip(ratio, 0.0, 1.0)


def expected_calibration_error(labels: np.ndarray, probs: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate − mean prediction| over equal-count bins, weighted by bin size.

    Equal-count (quantile) bins suit the rare steps, whose predictions crowd near 0.
    """
    table = reliability_curve(labels, probs, bins)
    weights = table["rows"] / table["rows"].sum()
    return float((weights * (table["observed"] - table["predicted"]).abs()).sum())


def reliability_curve(labels: np.ndarray, probs: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean prediction and observed rate in equal-count bins of the prediction.

    With fewer rows than `bins`, each row is a bin. On distinct predictions this is
    scikit-learn's `calibration_curve(strategy="quantile")` (tested); unlike it, it returns
    each bin's size, which ECE weights by, and keeps `bins` equal-size bins where many
    predictions tie (a model that saturates), where scikit-learn's quantile edges coincide
    and its bins empty.

    Returns:
        One row per bin: `predicted` (mean prediction), `observed` (label rate), `rows`.
    """
    probs = np.asarray(probs, dtype=float).ravel()
    labels = np.asarray(labels, dtype=float).ravel()
    order = np.argsort(probs, kind="stable")
    groups = np.array_split(order, min(bins, len(probs)))  # no empty bin on a short split
    return pd.DataFrame(
        {
            "predicted": [probs[g].mean() for g in groups],
            "observed": [labels[g].mean() for g in groups],
            "rows": [len(g) for g in groups],
        }
    )


def spearman(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Spearman's rank correlation, NaN when either input is constant.

    A constant prediction (a model that has collapsed to one value) ranks nothing: its rank
    correlation is undefined, and is reported as NaN rather than with scipy's
    `ConstantInputWarning`.

    Example:
        >>> spearman(np.array([0.1, 0.2, 0.3]), np.array([1.0, 3.0, 2.0]))
        0.5
        >>> spearman(np.array([0.2, 0.2, 0.2]), np.array([1.0, 3.0, 2.0]))
        nan
    """
    predicted, truth = np.asarray(predicted, dtype=float), np.asarray(truth, dtype=float)
    if len(predicted) < 2 or np.ptp(predicted) == 0 or np.ptp(truth) == 0:
        return float("nan")
    return float(stats.spearmanr(predicted, truth).statistic)


def conditional_metrics(
    conditional: np.ndarray, frame: pd.DataFrame, step: str, previous: str
) -> dict[str, float]:
    """How well predicted P(step | previous, x) ranks and matches, where it can be checked.

    Args:
        conditional: Predicted P(step | previous, x) for every row of `frame`, `(rows,)`.
        frame: The evaluation split.
        step: The step, e.g. `"purchase"`.
        previous: The step before it, e.g. `"click"`.

    Returns:
        `conditional_auc` on the rows that reached `previous` (the ESMM paper's CVR AUC);
        with the ground truth `true_p_<step>_given_<previous>`, on the rows that did **not**
        reach it (where no label exists): `unreached_spearman`, the rank correlation with
        the true probability (NaN where the prediction is constant there: a rank
        correlation is then undefined, see `spearman`), and `unreached_bias`, mean
        prediction minus mean truth.
    """
    conditional = np.asarray(conditional, dtype=float).ravel()
    reached = frame[previous].to_numpy() == 1
    out = {"conditional_auc": auc(frame[step].to_numpy()[reached], conditional[reached])}
    truth = truth_name(step, previous)
    if truth in frame.columns and (~reached).any():
        true_cond = frame[truth].to_numpy()[~reached]
        out["unreached_spearman"] = spearman(conditional[~reached], true_cond)
        out["unreached_bias"] = float(conditional[~reached].mean() - true_cond.mean())
    return out


def entire_space_conditional(
    conditional: np.ndarray, frame: pd.DataFrame, step: str, previous: str
) -> pd.DataFrame:
    """Predicted P(step | previous, x) against the truth, on the reached and unreached rows.

    Real logs can score a CVR model only where the conversion label exists: on clicked
    rows. Synthetic data know every exposure's true conditional probability
    `true_p_<step>_given_<previous>` and, when sampled with `potential=True`, its
    potential outcome `potential_<step>` (would it convert had it been clicked), so the
    non-clicked exposures, where ESMM and its counterfactual successors disagree, can be
    scored as well.

    Args:
        conditional: Predicted P(step | previous, x) for every row of `frame`, `(rows,)`.
        frame: An evaluation split with the truth column (and the potential outcome for
            `potential_auc`).
        step: The step, e.g. `"purchase"`.
        previous: The step before it, e.g. `"click"`.

    Returns:
        One row per space (`"reached"`, `"not reached"`, `"all"`) with its `rows`;
        `mean_predicted` and `mean_true`; `bias`, their difference; `mae`, the mean
        absolute error against the true probability (calibration per exposure);
        `spearman`, the rank correlation with it; and `potential_auc`, the AUC against
        the potential outcomes (NaN without them).

    Raises:
        ValueError: if `frame` lacks the truth column, or the prediction's length differs.
    """
    truth_column = truth_name(step, previous)
    if truth_column not in frame.columns:
        raise ValueError(f"the frame has no ground truth {truth_column!r}: use synthetic data")
    conditional = np.asarray(conditional, dtype=float).ravel()
    if len(conditional) != len(frame):
        raise ValueError(f"{len(conditional)} predictions for {len(frame)} rows")
    truth = frame[truth_column].to_numpy(dtype=float)
    potential_column = f"{POTENTIAL_PREFIX}{step}"
    potential = frame[potential_column].to_numpy() if potential_column in frame else None
    reached = frame[previous].to_numpy() == 1
    rows = []
    everyone = np.ones_like(reached)
    for space, keep in (("reached", reached), ("not reached", ~reached), ("all", everyone)):
        row = {"space": space, "rows": int(keep.sum())} | dict.fromkeys(
            ("mean_predicted", "mean_true", "bias", "mae", "spearman", "potential_auc"), np.nan
        )
        if keep.any():
            pred, true = conditional[keep], truth[keep]
            error = pred - true
            row.update(
                mean_predicted=pred.mean(),
                mean_true=true.mean(),
                bias=error.mean(),
                mae=np.abs(error).mean(),
                spearman=spearman(pred, true),
            )
            if potential is not None:
                row["potential_auc"] = auc(potential[keep], pred)
        rows.append(row)
    return pd.DataFrame(rows).set_index("space")


def evaluate_funnel(
    predictions: Mapping[str, np.ndarray],
    frame: pd.DataFrame,
    schema: Schema,
    *,
    ceiling: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every step's metrics on a whole split.

    Args:
        predictions: Output name → `(rows,)` predictions for the rows of `frame`.
        frame: The evaluation split: step labels and, if known, ground-truth columns.
        schema: Its schema.
        ceiling: The split's `bayes_ceiling` (computed here when `frame` has the truth).

    Returns:
        One row per step with, over all exposures (entire space): `auc`, `log_loss`, `ece`,
        `mean_predicted`, `mean_observed`; on the rows that reached the previous step:
        `conditional_auc` (the ESMM paper's CVR AUC is of this kind); `order_violation`,
        the share of rows predicted likelier to reach this step than the previous one. With
        the ground truth: `gap_closed`, the share of the AUC gap between 0.5 and the Bayes
        ceiling that the model closes (entire space and `conditional_gap_closed`), and on
        the rows that did **not** reach the previous step (e.g. non-clicked exposures),
        `unreached_spearman` and `unreached_bias`: rank correlation of the predicted
        conditional probability with the true one, and mean predicted minus mean true.
        Steps a model does not predict (ESMM on a longer funnel) have no row; where the
        previous step is not predicted, the conditional metrics are NaN and the order is
        checked against the last step predicted before.
    """
    truth_known = all(truth_name(s) in frame.columns for s in schema.steps)
    if ceiling is None and truth_known:
        ceiling = bayes_ceiling(frame, schema)
    rows, predicted = [], [s for s in schema.steps if s in predictions]
    if not predicted:
        raise ValueError(f"predictions hold none of the steps {schema.steps}")
    for t, step in enumerate(schema.steps):
        if step not in predictions:
            continue
        y = frame[step].to_numpy()
        p = np.asarray(predictions[step], dtype=float).ravel()
        if len(p) != len(y):
            raise ValueError(f"predictions[{step!r}] has {len(p)} rows, the split {len(y)}")
        row = {
            "step": step,
            "auc": auc(y, p),
            "log_loss": log_loss(y, p),
            "ece": expected_calibration_error(y, p),
            "mean_predicted": p.mean(),
            "mean_observed": y.mean(),
            "conditional_auc": np.nan,
            "order_violation": np.nan,
        }
        prev = schema.steps[t - 1] if t > 0 else None
        if prev in predictions:
            cond = conditional_prediction(predictions, step, prev)
            row.update(conditional_metrics(cond, frame, step, prev))
        before = predicted[: predicted.index(step)]
        if before:
            row["order_violation"] = float(np.mean(p > np.asarray(predictions[before[-1]]) + 1e-9))
        if ceiling is not None:
            row["gap_closed"] = (row["auc"] - 0.5) / (ceiling.loc[step, "auc"] - 0.5)
            if prev in predictions:
                row["conditional_gap_closed"] = (row["conditional_auc"] - 0.5) / (
                    ceiling.loc[step, "conditional_auc"] - 0.5
                )
        rows.append(row)
    return pd.DataFrame(rows).set_index("step")
