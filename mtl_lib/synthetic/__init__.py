"""Data with known ground truth: a conversion funnel, and the MMoE paper's correlated tasks."""

from mtl_lib.synthetic.funnel import (
    CREDIT_CARD_REACH_RATES,
    DEFAULT_FIELDS,
    DEFAULT_STEPS,
    FieldSpec,
    FunnelGenerator,
    make_funnel,
    truth_columns,
)
from mtl_lib.synthetic.mmoe import CorrelatedTasks, make_correlated_tasks, regression_dataset

__all__ = [
    "CREDIT_CARD_REACH_RATES",
    "DEFAULT_FIELDS",
    "DEFAULT_STEPS",
    "CorrelatedTasks",
    "FieldSpec",
    "FunnelGenerator",
    "make_correlated_tasks",
    "make_funnel",
    "regression_dataset",
    "truth_columns",
]
