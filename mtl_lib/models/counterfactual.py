"""Counterfactual CVR estimators on ESMM's architecture: ESCM² (IPS, DR) and DCMT."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import keras

from mtl_lib.data.schema import Schema, conditional_name
from mtl_lib.layers import MLP
from mtl_lib.models.common import (
    DEFAULT_EMBEDDING_DIM,
    check_steps,
    feature_inputs,
    named_outputs,
    shared_embedding,
)
from mtl_lib.models.esmm import DEFAULT_TOWER_UNITS

Estimator = Literal["ips", "dr"]
ESTIMATORS: tuple[Estimator, ...] = ("ips", "dr")
#: Output that packs what a counterfactual loss reads (`mtl_lib.losses`): `[pCTR, pCVR]`
#: for ESCM²-IPS, `[pCTR, pCVR, imputed error]` for ESCM²-DR, `[pCTR, pCVR,
#: counterfactual pCVR]` for DCMT; its label is `[click, click ∧ conversion]`.
COUNTERFACTUAL = "counterfactual_cvr"


def _tower(x: keras.KerasTensor, units: Sequence[int], name: str) -> keras.KerasTensor:
    hidden = MLP(units, name=f"{name}_tower")(x)
    return keras.layers.Dense(1, activation="sigmoid", name=f"{name}_head")(hidden)


def build_escm2(
    schema: Schema,
    *,
    estimator: Estimator = "ips",
    embedding_dim: int = DEFAULT_EMBEDDING_DIM,
    tower_units: Sequence[int] = DEFAULT_TOWER_UNITS,
    name: str | None = None,
) -> keras.Model:
    """ESCM² (Wang et al., SIGIR 2022): ESMM plus a counterfactual CVR risk on pCVR.

    The architecture is ESMM's (`build_esmm`): one shared embedding, a CTR and a CVR tower,
    pCTCVR = pCTR × pCVR. DR adds an imputation tower of the same shape, whose sigmoid
    output δ estimates each exposure's CVR loss. The extra output `counterfactual_cvr`
    packs what `mtl_lib.losses.CounterfactualCVRLoss` reads; compile and feed the model
    with `mtl_lib.losses.escm2(steps, estimator)` (`mtl_lib.experiment.run` does).

    The authors' code builds the same losses on an MMoE backbone (8 experts); ESMM's
    backbone here keeps the comparison with ESMM about the loss alone.

    Args:
        schema: Features and exactly two steps (click, conversion).
        estimator: `"ips"` or `"dr"`.
        embedding_dim: Width of every field's embedding.
        tower_units: Hidden widths of every tower.
        name: The model's name (default `escm2_<estimator>`).

    Returns:
        A model mapping a feature dict to `{click: pCTR, purchase: pCTCVR,
        purchase_given_click: pCVR}` (with the schema's step names), each `(batch, 1)`,
        and `counterfactual_cvr`: `(batch, 2)` [pCTR, pCVR], or `(batch, 3)` with δ for DR.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    click, conversion = check_steps(schema, "ESCM²", exactly=2)
    inputs = feature_inputs(schema)
    x = shared_embedding(schema, inputs, embedding_dim)
    ctr = _tower(x, tower_units, click)
    cvr = _tower(x, tower_units, conversion)
    packed = [ctr, cvr]
    if estimator == "dr":
        packed.append(_tower(x, tower_units, "imputation"))
    outputs = {
        click: ctr,
        conversion: keras.layers.Multiply(name=f"{conversion}_reach")([ctr, cvr]),
        conditional_name(conversion, click): cvr,
        COUNTERFACTUAL: keras.layers.Concatenate(name="packed")(packed),
    }
    return keras.Model(inputs, named_outputs(outputs), name=name or f"escm2_{estimator}")


def build_dcmt(
    schema: Schema,
    *,
    embedding_dim: int = DEFAULT_EMBEDDING_DIM,
    tower_units: Sequence[int] = DEFAULT_TOWER_UNITS,
    name: str = "dcmt",
) -> keras.Model:
    """DCMT (Zhu et al., ICDE 2023): ESMM with a factual and a counterfactual CVR tower.

    One shared embedding feeds a CTR tower and twin CVR towers: the factual r̂ (served as
    pCVR; pCTCVR = pCTR × r̂) and the counterfactual r̂*, trained on the non-clicked rows
    and tied to r̂ by the prior r̂ + r̂* ≈ 1 (`mtl_lib.losses.DCMTLoss`). Compile and feed
    it with `mtl_lib.losses.dcmt(steps)` (`mtl_lib.experiment.run` does). The paper also
    splits the input into a wide (linear) and a deep part; here every tower is an MLP,
    as ESMM's are, so that the comparison is about the training signal.

    Args:
        schema: Features and exactly two steps (click, conversion).
        embedding_dim: Width of every field's embedding.
        tower_units: Hidden widths of every tower.
        name: The model's name.

    Returns:
        A model mapping a feature dict to `{click: pCTR, purchase: pCTCVR,
        purchase_given_click: r̂}` (with the schema's step names), each `(batch, 1)`, and
        `counterfactual_cvr`: `(batch, 3)` [pCTR, r̂, r̂*].
    """
    click, conversion = check_steps(schema, "DCMT", exactly=2)
    inputs = feature_inputs(schema)
    x = shared_embedding(schema, inputs, embedding_dim)
    ctr = _tower(x, tower_units, click)
    factual = _tower(x, tower_units, conversion)
    counterfactual = _tower(x, tower_units, f"{conversion}_counterfactual")
    outputs = {
        click: ctr,
        conversion: keras.layers.Multiply(name=f"{conversion}_reach")([ctr, factual]),
        conditional_name(conversion, click): factual,
        COUNTERFACTUAL: keras.layers.Concatenate(name="packed")([ctr, factual, counterfactual]),
    }
    return keras.Model(inputs, named_outputs(outputs), name=name)
