"""The project's one significance rule: paired by seed, a t interval, a tie inside it.

Two models trained with the same seeds (the same data order and, for the same
architecture, the same initial weights) give one difference per seed, d_s = m_A,s − m_B,s.
The rule is the paired t interval of their mean,

    d̄ ± t_{n−1, 0.975} · s_d / √n,

with s_d the standard deviation of the n differences. A is **ahead** of B when the
whole interval is above zero, **behind** when it is below, and **tied** when it
contains zero: a difference inside its interval is never a ranking.

Pairing removes what the two runs of one seed share (the data order, the split);
the t quantile is honest about few seeds (with 3 seeds it is 4.30, not 2; with 5,
2.78). Every notebook uses this module, and nothing else, to say "ahead" or "tied".

    diffs = compare(table, "auc", reference="esmm_chain")   # every model against one
    best = ties_with_best(table, "auc")                       # per step: the best, its ties
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

LEVEL = 0.95
"""Confidence level of every interval in the project."""

AHEAD, TIED, BEHIND = "ahead", "tied", "behind"


@dataclass(frozen=True)
class Interval:
    """The paired difference A − B of one metric: its mean and confidence interval."""

    mean: float
    low: float
    high: float
    seeds: int

    @property
    def verdict(self) -> str:
        """`"ahead"` (all above 0), `"behind"` (all below 0) or `"tied"` (0 inside)."""
        if self.low > 0:
            return AHEAD
        if self.high < 0:
            return BEHIND
        return TIED

    @property
    def half_width(self) -> float:
        """Half the interval's width: how large a difference must be to count."""
        return (self.high - self.low) / 2


def paired_interval(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    level: float = LEVEL,
) -> Interval:
    """The paired t interval of mean(a − b); `a[i]` and `b[i]` come from the same seed.

    Args:
        a: (n,) one metric of model A, one value per seed.
        b: (n,) the same metric of model B, in the same seed order.
        level: The confidence level.

    Raises:
        ValueError: Different lengths, fewer than 2 seeds, or a value that is not finite
            (a metric that could not be computed must not be ranked).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"need two 1-D arrays of the same length, got {a.shape} and {b.shape}")
    if len(a) < 2:
        raise ValueError(f"a paired interval needs at least 2 seeds, got {len(a)}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("a paired interval needs finite values; got NaN or inf")
    d = a - b
    mean = float(d.mean())
    half = float(stats.t.ppf(0.5 + level / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)))
    return Interval(mean, mean - half, mean + half, len(d))


def _by_seed(table: pd.DataFrame, metric: str, step: str | None) -> pd.DataFrame:
    """A seed × model frame of one metric at one step (or of a table without steps)."""
    for column in ("model", "seed", metric):
        if column not in table.columns:
            raise ValueError(f"the results table has no column {column!r}")
    rows = table if step is None else table[table["step"] == step]
    wide = rows.pivot_table(index="seed", columns="model", values=metric, aggfunc="first")
    return wide.reindex(columns=list(dict.fromkeys(rows["model"])))


def _steps(table: pd.DataFrame) -> list[str | None]:
    return list(dict.fromkeys(table["step"])) if "step" in table.columns else [None]


def compare(
    table: pd.DataFrame,
    metric: str,
    reference: str,
    *,
    level: float = LEVEL,
    higher_is_better: bool = True,
) -> pd.DataFrame:
    """Every model against one reference, at every step, by the paired rule.

    Args:
        table: Tidy results: columns `model`, `seed`, `metric` and optionally `step`
            (as `mtl_lib.experiment.run_seeds` returns).
        metric: The column to compare.
        reference: The model every other one is compared with.
        level: The confidence level.
        higher_is_better: False for a loss: then "ahead" means a lower value.

    Returns:
        One row per (step, model ≠ reference) where both have the metric: `difference`
        (model − reference), `low`, `high`, `seeds` and `verdict` (the model against
        the reference: ahead, tied or behind). Seeds missing for either model are
        dropped from that pair.
    """
    rows = []
    for step in _steps(table):
        wide = _by_seed(table, metric, step)
        if reference not in wide.columns:
            continue
        for model in wide.columns.drop(reference):
            pair = wide[[model, reference]].dropna()
            if pair.empty:
                continue
            interval = paired_interval(pair[model], pair[reference], level=level)
            verdict = interval.verdict
            if not higher_is_better and verdict != TIED:
                verdict = BEHIND if verdict == AHEAD else AHEAD
            rows.append(
                {
                    "step": step,
                    "model": model,
                    "difference": interval.mean,
                    "low": interval.low,
                    "high": interval.high,
                    "seeds": interval.seeds,
                    "verdict": verdict,
                }
            )
    frame = pd.DataFrame(rows)
    if "step" not in table.columns and not frame.empty:
        frame = frame.drop(columns="step")
    return frame


def ties_with_best(
    table: pd.DataFrame, metric: str, *, level: float = LEVEL, higher_is_better: bool = True
) -> pd.DataFrame:
    """Per step: the model with the best mean, and which models the rule cannot separate.

    Returns:
        One row per step: `best`, its `mean`, `tied` (the models whose paired interval
        against the best contains zero, best first among them by mean), `behind` (the
        others) and `runner_up` with its `lead` interval (`lead`, `low`, `high`).
    """
    rows = []
    for step in _steps(table):
        wide = _by_seed(table, metric, step).dropna(axis=1, how="all")
        means = wide.mean().sort_values(ascending=not higher_is_better)
        best = means.index[0]
        sign = 1.0 if higher_is_better else -1.0
        verdicts = {}
        for model in means.index[1:]:
            pair = wide[[best, model]].dropna()
            verdicts[model] = paired_interval(sign * pair[best], sign * pair[model], level=level)
        runner = means.index[1]
        rows.append(
            {
                "step": step,
                "best": best,
                "mean": float(means.iloc[0]),
                "tied": [m for m, i in verdicts.items() if i.verdict == TIED],
                "behind": [m for m, i in verdicts.items() if i.verdict != TIED],
                "runner_up": runner,
                "lead": verdicts[runner].mean,
                "low": verdicts[runner].low,
                "high": verdicts[runner].high,
            }
        )
    frame = pd.DataFrame(rows)
    return frame.set_index("step") if "step" in table.columns else frame


def interval_text(differences: pd.DataFrame, *, digits: int = 4) -> pd.Series:
    """Each row of `compare` as one readable cell: `+0.0196 [+0.0124, +0.0269] ahead`."""
    return pd.Series(
        [
            f"{d:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}] {v}"
            for d, lo, hi, v in zip(
                differences["difference"],
                differences["low"],
                differences["high"],
                differences["verdict"],
                strict=True,
            )
        ],
        index=differences.index,
        dtype=object,
    )


def net_wins(
    table: pd.DataFrame, metric: str, *, level: float = LEVEL, higher_is_better: bool = True
) -> pd.DataFrame:
    """How a model fares against all others by the rule: wins minus losses, ties count 0.

    At each step, the number of models a model is ahead of minus the number ahead of it
    (a Copeland score). Ties add nothing either way, so a model whose runs vary so much
    that it ties with everything scores 0, neither rewarded nor punished for its noise.

    Returns:
        A model × step frame of net wins (NaN where a model has no value at a step).
    """
    scores = {}
    for step in _steps(table):
        wide = _by_seed(table, metric, step).dropna(axis=1, how="all")
        column = dict.fromkeys(wide.columns, 0)
        for model, other in itertools.combinations(wide.columns, 2):  # each pair once
            pair = wide[[model, other]].dropna()
            verdict = paired_interval(pair[model], pair[other], level=level).verdict
            if verdict != TIED:
                won = 1 if (verdict == AHEAD) == higher_is_better else -1
                column[model] += won
                column[other] -= won
        scores[step] = pd.Series(column, dtype=float)
    frame = pd.DataFrame(scores)
    return frame.reindex(index=list(dict.fromkeys(table["model"])))
