"""Keras 3 layers, all serializable (registered under the package name `mtl_lib`)."""

from mtl_lib.layers.core import MLP, FieldEmbedding
from mtl_lib.layers.funnel import AdaptiveInformationTransfer, LabelOrderPenalty, order_violation

__all__ = [
    "MLP",
    "AdaptiveInformationTransfer",
    "FieldEmbedding",
    "LabelOrderPenalty",
    "order_violation",
]
