"""Evaluation over a whole split, never averaged per batch.

Every function takes arrays or a frame holding the full evaluation split, so an AUC is the
AUC of the split, not a mean of per-batch AUCs.
"""

from mtl_lib.metrics.compare import (
    Interval,
    compare,
    interval_text,
    net_wins,
    paired_interval,
    ties_with_best,
)
from mtl_lib.metrics.core import auc, bayes_ceiling, log_loss, reach_rates
from mtl_lib.metrics.funnel import (
    conditional_metrics,
    conditional_prediction,
    entire_space_conditional,
    evaluate_funnel,
    expected_calibration_error,
    reliability_curve,
    spearman,
)

__all__ = [
    "Interval",
    "auc",
    "bayes_ceiling",
    "compare",
    "conditional_metrics",
    "conditional_prediction",
    "entire_space_conditional",
    "evaluate_funnel",
    "expected_calibration_error",
    "interval_text",
    "log_loss",
    "net_wins",
    "paired_interval",
    "reach_rates",
    "reliability_curve",
    "spearman",
    "ties_with_best",
]
