"""Data with known ground truth."""

from mtl_lib.synthetic.funnel import (
    CREDIT_CARD_REACH_RATES,
    DEFAULT_FIELDS,
    DEFAULT_STEPS,
    FieldSpec,
    FunnelGenerator,
    make_funnel,
    truth_columns,
)

__all__ = [
    "CREDIT_CARD_REACH_RATES",
    "DEFAULT_FIELDS",
    "DEFAULT_STEPS",
    "FieldSpec",
    "FunnelGenerator",
    "make_funnel",
    "truth_columns",
]
