"""Functional model builders; outputs keyed by step (task) name."""

from mtl_lib.data.schema import conditional_name
from mtl_lib.models.common import (
    feature_inputs,
    named_outputs,
    shared_embedding,
)
from mtl_lib.models.counterfactual import build_dcmt, build_escm2
from mtl_lib.models.esmm import (
    build_aitm,
    build_esmm,
    build_esmm_chain,
    build_esmm_concat,
    build_single_task,
)
from mtl_lib.models.mmoe import (
    build_mmoe,
    build_omoe,
    build_ple,
    build_shared_bottom,
    gate_name,
    model_inputs,
)

__all__ = [
    "build_aitm",
    "build_dcmt",
    "build_escm2",
    "build_esmm",
    "build_esmm_chain",
    "build_esmm_concat",
    "build_mmoe",
    "build_omoe",
    "build_ple",
    "build_shared_bottom",
    "build_single_task",
    "conditional_name",
    "feature_inputs",
    "gate_name",
    "model_inputs",
    "named_outputs",
    "shared_embedding",
]
