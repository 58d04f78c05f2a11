"""Keras 3 layers, all serializable (registered under the package name `mtl_lib`)."""

from mtl_lib.layers.core import MLP, FieldEmbedding
from mtl_lib.layers.funnel import AdaptiveInformationTransfer, LabelOrderPenalty, order_violation
from mtl_lib.layers.moe import ExpertBank, ExtractionLayer, MixtureOfExperts

__all__ = [
    "MLP",
    "AdaptiveInformationTransfer",
    "ExpertBank",
    "ExtractionLayer",
    "FieldEmbedding",
    "LabelOrderPenalty",
    "MixtureOfExperts",
    "order_violation",
]
