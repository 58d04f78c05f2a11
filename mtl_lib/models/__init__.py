"""Functional model builders; outputs keyed by step (task) name."""

from mtl_lib.models.common import (
    conditional_name,
    feature_inputs,
    named_outputs,
    shared_embedding,
)
from mtl_lib.models.esmm import (
    build_aitm,
    build_esmm,
    build_esmm_chain,
    build_esmm_concat,
    build_single_task,
)

__all__ = [
    "build_aitm",
    "build_esmm",
    "build_esmm_chain",
    "build_esmm_concat",
    "build_single_task",
    "conditional_name",
    "feature_inputs",
    "named_outputs",
    "shared_embedding",
]
