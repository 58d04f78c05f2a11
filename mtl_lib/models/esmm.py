"""The ESMM family: BASE, ESMM, the multi-step chain (v2), information concat (v3), AITM (v4).

Every builder takes the `Schema` and returns an uncompiled functional `keras.Model` whose
outputs are keyed by step name: `outputs[step]` is the **entire-space** probability that an
exposure reaches `step`, `(batch, 1)`. Models that estimate conditional probabilities also
output `outputs["<step>_given_<previous>"]` (ESMM's pCVR is `purchase_given_click`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import keras

from mtl_lib.data.schema import Schema, conditional_name
from mtl_lib.layers import MLP, AdaptiveInformationTransfer, LabelOrderPenalty
from mtl_lib.models.common import (
    DEFAULT_EMBEDDING_DIM,
    check_steps,
    feature_inputs,
    named_outputs,
    shared_embedding,
)

DEFAULT_TOWER_UNITS = (64, 32)
AttentionSharing = Literal["shared", "per_step"]
#: AITM's attention units: one for every step (the authors' code), or one per step.
ATTENTION_SHARING: tuple[AttentionSharing, ...] = ("shared", "per_step")


def _head(x: keras.KerasTensor, name: str) -> keras.KerasTensor:
    return keras.layers.Dense(1, activation="sigmoid", name=name)(x)


def build_single_task(
    schema: Schema,
    output: str,
    *,
    embedding_dim: int = DEFAULT_EMBEDDING_DIM,
    tower_units: Sequence[int] = DEFAULT_TOWER_UNITS,
    name: str | None = None,
) -> keras.Model:
    """One embedding, one tower, one probability: a model of BASE (Ma et al., SIGIR 2018).

    The ESMM paper's BASE is two such models: a CTR model trained on every exposure, and a
    CVR model trained on clicked rows only; its pCTCVR is pCTR × pCVR.

    Args:
        schema: Features of the data.
        output: The output's name, e.g. `"click"` or `"purchase_given_click"`.
        embedding_dim: Width of every field's embedding.
        tower_units: Hidden widths of the tower.
        name: The model's name (default: `base_<output>`).

    Returns:
        A model mapping a feature dict to `{output: (batch, 1)}`.
    """
    inputs = feature_inputs(schema)
    x = shared_embedding(schema, inputs, embedding_dim)
    x = MLP(tower_units, name=f"{output}_tower")(x)
    outputs = named_outputs({output: _head(x, f"{output}_head")})
    return keras.Model(inputs, outputs, name=name or f"base_{output}")


def build_esmm_chain(
    schema: Schema,
    *,
    embedding_dim: int = DEFAULT_EMBEDDING_DIM,
    tower_units: Sequence[int] = DEFAULT_TOWER_UNITS,
    share_embedding: bool = True,
    name: str = "esmm_chain",
) -> keras.Model:
    """ESMM chained over every step of the funnel (the business iteration v2).

    One tower per step estimates the conditional probability of the step given the one
    before; the entire-space probability of reaching step t is their product,

        P(reach t | x) = Π_{u ≤ t} P(y_u = 1 | y_{u−1} = 1, x),

    so a loss on every step's label over all exposures trains every tower on the entire
    exposure space. Outputs are monotone along the funnel by construction.

    Args:
        schema: Features and at least two funnel steps.
        embedding_dim: Width of every field's embedding (one table per field, shared).
        tower_units: Hidden widths of each step's tower.
        share_embedding: One embedding shared by every tower (ESMM); `False` gives each
            tower its own (the paper's ESMM-NS ablation).
        name: The model's name.

    Returns:
        A model mapping a feature dict to `{step: P(reach step)}` for every step and
        `{"<step>_given_<previous>": P(step | previous)}` for every step after the first,
        each `(batch, 1)`.
    """
    steps = check_steps(schema, "the ESMM chain")
    inputs = feature_inputs(schema)
    if share_embedding:
        embedded = [shared_embedding(schema, inputs, embedding_dim)] * len(steps)
    else:
        embedded = [
            shared_embedding(schema, inputs, embedding_dim, name=f"{step}_embedding")
            for step in steps
        ]
    conditional = [
        _head(MLP(tower_units, name=f"{step}_tower")(x), f"{step}_head")
        for step, x in zip(steps, embedded, strict=True)
    ]
    outputs = {steps[0]: conditional[0]}
    reach = conditional[0]
    for t in range(1, len(steps)):
        # P(reach t) = P(reach t-1) * P(t | t-1)
        reach = keras.layers.Multiply(name=f"{steps[t]}_reach")([reach, conditional[t]])
        outputs[steps[t]] = reach
        outputs[conditional_name(steps[t], steps[t - 1])] = conditional[t]
    return keras.Model(inputs, named_outputs(outputs), name=name)


def build_esmm(
    schema: Schema,
    *,
    embedding_dim: int = DEFAULT_EMBEDDING_DIM,
    tower_units: Sequence[int] = DEFAULT_TOWER_UNITS,
    share_embedding: bool = True,
    name: str = "esmm",
) -> keras.Model:
    """Entire Space Multi-task Model (Ma et al., SIGIR 2018).

    pCTCVR = pCTR × pCVR, trained with the click and click-and-convert labels over every
    exposure, so the CVR tower is never fit on clicked rows alone:

        loss = BCE(click, pCTR) + BCE(click ∧ purchase, pCTCVR),

    and no loss on pCVR. It is `build_esmm_chain` on a two-step funnel.

    Args:
        schema: Features and exactly two steps, e.g. `("click", "purchase")`.
        embedding_dim: Width of every field's embedding (shared by both towers).
        tower_units: Hidden widths of the CTR and CVR towers.
        share_embedding: Share the embedding between the towers (`False`: ESMM-NS).
        name: The model's name.

    Returns:
        A model mapping a feature dict to `{click: pCTR, purchase: pCTCVR,
        purchase_given_click: pCVR}` (with the schema's step names), each `(batch, 1)`.
    """
    check_steps(schema, "ESMM", exactly=2)
    return build_esmm_chain(
        schema,
        embedding_dim=embedding_dim,
        tower_units=tower_units,
        share_embedding=share_embedding,
        name=name,
    )


def build_esmm_concat(
    schema: Schema,
    *,
    alpha: float = 0.6,
    embedding_dim: int = DEFAULT_EMBEDDING_DIM,
    tower_units: Sequence[int] = DEFAULT_TOWER_UNITS,
    fusion_units: Sequence[int] = (32,),
    name: str = "esmm_concat",
) -> keras.Model:
    """Information concat (the business iteration v3).

    Each step has a tower q_t on the shared embedding. The first step's representation is
    its tower, z_1 = q_1; every later step fuses the previous step's last hidden
    representation with its own tower, z_t = MLP_t([z_{t−1}, q_t]), and predicts the
    entire-space probability directly, ŷ_t = sigmoid(w_tᵀ z_t). The loss adds the
    label-order penalty, Σ_t BCE(y_t, ŷ_t) + α · Σ_{t≥2} mean(max(ŷ_t − ŷ_{t−1}, 0)).

    Args:
        schema: Features and at least two funnel steps.
        alpha: Weight of the label-order penalty.
        embedding_dim: Width of every field's embedding.
        tower_units: Hidden widths of each step's tower.
        fusion_units: Hidden widths of the network after each concatenation.
        name: The model's name.

    Returns:
        A model mapping a feature dict to `{step: P(reach step)}`, each `(batch, 1)`.
    """
    steps = check_steps(schema, "information concat (v3)")
    inputs = feature_inputs(schema)
    shared = shared_embedding(schema, inputs, embedding_dim)
    towers = [MLP(tower_units, name=f"{step}_tower")(shared) for step in steps]
    z = towers[0]
    probs = [_head(z, f"{steps[0]}_head")]
    for t in range(1, len(steps)):
        fused = keras.layers.Concatenate(name=f"{steps[t]}_concat")([z, towers[t]])
        z = MLP(fusion_units, name=f"{steps[t]}_fusion")(fused)  # z_t = MLP([z_{t-1}, q_t])
        probs.append(_head(z, f"{steps[t]}_head"))
    probs = LabelOrderPenalty(alpha, name="label_order_penalty")(probs)
    return keras.Model(inputs, named_outputs(dict(zip(steps, probs, strict=True))), name=name)


def build_aitm(
    schema: Schema,
    *,
    alpha: float = 0.6,
    embedding_dim: int = DEFAULT_EMBEDDING_DIM,
    tower_units: Sequence[int] = DEFAULT_TOWER_UNITS,
    transfer_units: Sequence[int] | None = None,
    attention: AttentionSharing = "shared",
    name: str = "aitm",
) -> keras.Model:
    """Adaptive Information Transfer Multi-task model (Xi et al., KDD 2021): v4.

    q_t = tower_t(embedding); z_1 = q_1; for t ≥ 2 the previous step transfers
    p_{t−1} = g_{t−1}(z_{t−1}) and an attention unit weighs it against the step's own tower,

        z_t = Σ_{u ∈ {p_{t−1}, q_t}} w_u · h1(u),   w_u = softmax_u(⟨h2(u), h3(u)⟩ / √k),

    then ŷ_t = sigmoid(w_tᵀ z_t). The loss adds the behavioral expectation calibrator,
    Σ_t BCE(y_t, ŷ_t) + α · (1/N) Σ_x Σ_{t≥2} max(ŷ_t − ŷ_{t−1}, 0).

    The authors' code (github.com/xidongbo/AITM) has **one** attention unit, its bias-free
    h1, h2, h3 shared by every step t ≥ 2: that is the default, `attention="shared"`, one
    `AdaptiveInformationTransfer` layer named `"ait"` (`model.get_layer("ait")`).
    `attention="per_step"` gives each step t ≥ 2 its own unit, named `"<step>_ait"`.

    Args:
        schema: Features and at least two funnel steps.
        alpha: Weight of the calibrator.
        embedding_dim: Width of every field's embedding.
        tower_units: Hidden widths of each step's tower; k is the last.
        transfer_units: Hidden widths of each transfer network g (its last must be k);
            default `(k,)`.
        attention: `"shared"` (one attention unit for every step, the authors' code) or
            `"per_step"` (one unit per step after the first).
        name: The model's name.

    Returns:
        A model mapping a feature dict to `{step: P(reach step)}` for every step, and
        `{"<step>_attention": (batch, 2)}` for every step after the first: the weights of
        the transferred information (column 0) and of the step's own tower (column 1).

    Raises:
        ValueError: if `attention` is not `"shared"` or `"per_step"`, or `transfer_units`
            does not end in k.
    """
    if attention not in ATTENTION_SHARING:
        allowed = ", ".join(repr(a) for a in ATTENTION_SHARING)
        raise ValueError(f"attention must be one of {allowed}, got {attention!r}")
    steps = check_steps(schema, "AITM")
    k = int(tower_units[-1])
    transfer_units = tuple(transfer_units or (k,))
    if transfer_units[-1] != k:
        raise ValueError(
            f"transfer_units must end in k = tower_units[-1] = {k}, got {transfer_units}"
        )
    inputs = feature_inputs(schema)
    shared = shared_embedding(schema, inputs, embedding_dim)
    towers = [MLP(tower_units, name=f"{step}_tower")(shared) for step in steps]
    shared_ait = AdaptiveInformationTransfer(k, name="ait") if attention == "shared" else None
    z = towers[0]  # z_1 = q_1
    probs, attention_weights = [_head(z, f"{steps[0]}_head")], {}
    for t in range(1, len(steps)):
        transferred = MLP(transfer_units, name=f"{steps[t - 1]}_transfer")(z)  # p_{t-1}
        if shared_ait is None:
            ait = AdaptiveInformationTransfer(k, name=f"{steps[t]}_ait")
        else:
            ait = shared_ait
        z, weights = ait([transferred, towers[t]])  # z_t from p_{t-1} and q_t
        probs.append(_head(z, f"{steps[t]}_head"))
        attention_weights[f"{steps[t]}_attention"] = weights
    probs = LabelOrderPenalty(alpha, name="behavioral_expectation_calibrator")(probs)
    outputs = named_outputs({**dict(zip(steps, probs, strict=True)), **attention_weights})
    return keras.Model(inputs, outputs, name=name)
