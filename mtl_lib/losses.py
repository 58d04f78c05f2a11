"""Training objectives beyond one cross-entropy per output: ESCM²'s counterfactual CVR risk.

An `Objective` says how a model is compiled and fed: a loss per output, its weight, and the
label column (or columns) each loss reads. Most models of the project need only the
default, binary cross-entropy on every step; ESCM² (Wang et al., SIGIR 2022,
https://arxiv.org/abs/2204.05125) adds a loss that reads two labels (click and
conversion) and three predictions (pCTR, pCVR and, for DR, the imputed error), which is
what `CounterfactualCVRLoss` computes from one packed output. DCMT (Zhu et al., ICDE
2023) reads the same labels and a twin of the CVR tower (`DCMTLoss`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import keras
from keras import ops

from mtl_lib.layers.core import PACKAGE
from mtl_lib.models.counterfactual import COUNTERFACTUAL, ESTIMATORS, Estimator

EPSILON = 1e-7  # as Keras's binary cross-entropy clips probabilities
#: Inverse-propensity weights are capped at this by default (the counterfactual losses' `clip`).
DEFAULT_CLIP = 15.0
#: A propensity is floored at this before it divides, so that a weight is finite before its cap.
PROPENSITY_FLOOR = 1e-6


def _bce(labels: keras.KerasTensor, probs: keras.KerasTensor) -> keras.KerasTensor:
    probs = ops.clip(probs, EPSILON, 1 - EPSILON)
    return -(labels * ops.log(probs) + (1 - labels) * ops.log(1 - probs))


@keras.saving.register_keras_serializable(package=PACKAGE)
class CounterfactualCVRLoss(keras.losses.Loss):
    """ESCM²'s counterfactual CVR risk, by inverse propensity (IPS) or doubly robust (DR).

    ESMM's pCVR gets no loss of its own; ESCM² gives it one on the clicked rows, reweighted
    so that the clicked rows stand for the whole exposure space. With o_i the click label,
    r_i the conversion label (click ∧ conversion, so 0 on non-clicked rows), p_i = pCTR (the
    propensity), q_i = pCVR and ℓ_i = BCE(r_i, q_i), on a batch of B rows with
    n = Σ_i o_i clicks, as the authors' PaddleRec code computes it
    (`models/multitask/escm2/static_model.py`):

    **IPS** (one term per row, then the batch mean):

        w_i = min(1 / max(p_i · n, 10⁻⁶), clip) · B        (no gradient through w_i)
        L_IPS = (1/B) Σ_i o_i · w_i · ℓ_i  =  Σ_{clicked i} min(1/(p_i n), clip) · ℓ_i

    The paper writes (1/|D|) Σ_i o_i ℓ_i / p_i. The code normalises by the batch's clicks
    n instead of its B exposures, which scales the term by about 1/CTR; we follow the code.

    **DR**, with δ_i the imputation tower's estimate of ℓ_i (a probability in (0, 1), as in
    the code) and e_i = ℓ_i − δ_i:

        u_i = min(o_i / max(p_i, 10⁻⁶), clip)                (no gradient through u_i)
        L_DR = (1/B) Σ_i [ δ_i + u_i e_i  +  u_i e_i² ]

    The first two terms are the doubly robust estimate of the CVR risk over every exposure
    (imputed everywhere, corrected on the clicked rows); the last trains the imputation
    tower on the clicked rows. Gradients flow into pCVR (through ℓ_i) and into δ_i, never
    into the propensity: pCTR learns from the click loss alone.

    Rows covered: every exposure enters the batch mean; only clicked rows carry ℓ_i.
    Propensities are clipped from below at 10⁻⁶ and the weights from above at `clip` (15
    in the code, "an online trick").

    Args:
        estimator: `"ips"` or `"dr"`.
        clip: Largest inverse-propensity weight (before IPS's × B).
        name: The loss's name.

    Call args:
        y_true: `(batch, 2)`: click, click ∧ conversion.
        y_pred: `(batch, 2)` pCTR, pCVR for IPS; `(batch, 3)` with the imputed error for DR.

    Returns:
        `(batch,)` per-row terms; Keras's default reduction takes their mean.
    """

    def __init__(
        self,
        estimator: Estimator = "ips",
        clip: float = DEFAULT_CLIP,
        name: str | None = None,
        **kwargs,
    ) -> None:
        if estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
        if not clip > 0:
            raise ValueError(f"clip must be positive, got {clip}")
        super().__init__(name=name or f"escm2_{estimator}", **kwargs)
        self.estimator, self.clip = estimator, float(clip)

    def call(self, y_true: keras.KerasTensor, y_pred: keras.KerasTensor) -> keras.KerasTensor:
        """Per-row terms, `(batch,)`, as the class docstring defines them."""
        y_true = ops.cast(y_true, y_pred.dtype)
        click, label = y_true[:, 0], y_true[:, 1]
        propensity, cvr = y_pred[:, 0], y_pred[:, 1]
        loss = _bce(label, cvr)
        if self.estimator == "ips":
            rows = ops.cast(ops.shape(click)[0], y_pred.dtype)
            clicks = ops.sum(click)
            weight = (
                ops.minimum(1 / ops.maximum(propensity * clicks, PROPENSITY_FLOOR), self.clip)
                * rows
            )
            return click * ops.stop_gradient(weight) * loss
        imputed = y_pred[:, 2]
        weight = ops.stop_gradient(
            ops.minimum(click / ops.maximum(propensity, PROPENSITY_FLOOR), self.clip)
        )
        error = loss - imputed
        return imputed + weight * error + weight * ops.square(error)

    def get_config(self) -> dict:
        """The loss's settings, for saving with a compiled model."""
        return {**super().get_config(), "estimator": self.estimator, "clip": self.clip}


@keras.saving.register_keras_serializable(package=PACKAGE)
class DCMTLoss(keras.losses.Loss):
    """DCMT's direct entire-space CVR risk (Zhu et al., ICDE 2023, arXiv 2302.06141).

    DCMT gives the CVR a twin: a factual tower r̂ (the conversion rate in the world where
    the exposure was clicked) and a counterfactual tower r̂* (where it was not). Clicked
    rows train r̂ on their conversion label r, weighted by the inverse click propensity;
    non-clicked rows train r̂* on the counterfactual label r* = 1 − r (= 1, since a
    non-clicked exposure has r = 0), weighted by the inverse non-click propensity; and a
    soft prior ties the twins, r̂ + r̂* ≈ 1, which carries what r̂* learns on the
    non-clicked rows over to r̂:

        u_i = min(1 / max(p_i, 10⁻⁶), clip),  v_i = min(1 / max(1 − p_i, 10⁻⁶), clip)
        L = (1/B) Σ_i [ o_i u_i BCE(r_i, r̂_i) + (1 − o_i) v_i BCE(1 − r_i, r̂*_i)
                        + λ |1 − (r̂_i + r̂*_i)| ]

    with p_i = pCTR and no gradient through u_i, v_i. The equation is the paper's; the
    authors' code was not available to this project, so the propensity clipping (at
    `clip`, as ESCM²'s code does) and the default weights are our choices, not theirs.

    Args:
        prior_weight: λ, the weight of the counterfactual prior.
        clip: Largest inverse-propensity weight.
        name: The loss's name.

    Call args:
        y_true: `(batch, 2)`: click, click ∧ conversion.
        y_pred: `(batch, 3)`: pCTR, factual r̂, counterfactual r̂*.

    Returns:
        `(batch,)` per-row terms; Keras's default reduction takes their mean.
    """

    def __init__(
        self, prior_weight: float = 1.0, clip: float = DEFAULT_CLIP, name: str = "dcmt", **kwargs
    ) -> None:
        if not prior_weight >= 0:
            raise ValueError(f"prior_weight must be >= 0, got {prior_weight}")
        if not clip > 0:
            raise ValueError(f"clip must be positive, got {clip}")
        super().__init__(name=name, **kwargs)
        self.prior_weight, self.clip = float(prior_weight), float(clip)

    def call(self, y_true: keras.KerasTensor, y_pred: keras.KerasTensor) -> keras.KerasTensor:
        """Per-row terms, `(batch,)`, as the class docstring defines them."""
        y_true = ops.cast(y_true, y_pred.dtype)
        click, label = y_true[:, 0], y_true[:, 1]
        propensity, factual, counterfactual = y_pred[:, 0], y_pred[:, 1], y_pred[:, 2]
        clicked = ops.stop_gradient(
            ops.minimum(1 / ops.maximum(propensity, PROPENSITY_FLOOR), self.clip)
        )
        skipped = ops.stop_gradient(
            ops.minimum(1 / ops.maximum(1 - propensity, PROPENSITY_FLOOR), self.clip)
        )
        return (
            click * clicked * _bce(label, factual)
            + (1 - click) * skipped * _bce(1 - label, counterfactual)
            + self.prior_weight * ops.abs(1 - factual - counterfactual)
        )

    def get_config(self) -> dict:
        """The loss's settings, for saving with a compiled model."""
        return {**super().get_config(), "prior_weight": self.prior_weight, "clip": self.clip}


@dataclass(frozen=True)
class Objective:
    """How to compile and feed a model: output → loss, output → weight, output → label(s).

    A target is one label column, or a tuple of columns stacked into a `(batch, k)` label
    (`mtl_lib.train.fit` builds it).
    """

    losses: dict[str, str | keras.losses.Loss]
    targets: dict[str, str | tuple[str, ...]]
    loss_weights: dict[str, float] = field(default_factory=dict)


def cross_entropy(steps: Sequence[str]) -> Objective:
    """The default: binary cross-entropy on every step's output, weight 1."""
    return Objective({s: "binary_crossentropy" for s in steps}, {s: s for s in steps})


def _with_counterfactual(
    steps: Sequence[str], loss: keras.losses.Loss, weight: float, ctcvr_weight: float
) -> Objective:
    """ESMM's two cross-entropies (CTCVR's weighted) and `loss` on the packed output."""
    click, conversion = steps
    return Objective(
        losses={
            click: "binary_crossentropy",
            conversion: "binary_crossentropy",
            COUNTERFACTUAL: loss,
        },
        targets={click: click, conversion: conversion, COUNTERFACTUAL: (click, conversion)},
        loss_weights={click: 1.0, conversion: ctcvr_weight, COUNTERFACTUAL: weight},
    )


def escm2(
    steps: Sequence[str],
    estimator: Estimator = "ips",
    *,
    counterfactual_weight: float = 0.5,
    ctcvr_weight: float = 0.5,
    clip: float = DEFAULT_CLIP,
) -> Objective:
    """ESCM²'s objective on a two-step funnel (click, conversion).

        L = L_CTR + λ_c · L_IPS|DR + λ_g · L_CTCVR,

    with λ_c = `counterfactual_weight` and λ_g = `ctcvr_weight`, both 0.5 in the authors'
    configuration (`counterfactual_w`, `global_w`).
    """
    return _with_counterfactual(
        steps, CounterfactualCVRLoss(estimator, clip), counterfactual_weight, ctcvr_weight
    )


def dcmt(
    steps: Sequence[str],
    *,
    cvr_weight: float = 1.0,
    ctcvr_weight: float = 1.0,
    prior_weight: float = 1.0,
    clip: float = DEFAULT_CLIP,
) -> Objective:
    """DCMT's objective on a two-step funnel (click, conversion).

        L = L_CTR + w_cvr · L_DCMT + w_ctcvr · L_CTCVR

    (the paper's, without its L2 term). The weights default to 1: the paper tunes them
    per data set, and its code was not available here.
    """
    return _with_counterfactual(steps, DCMTLoss(prior_weight, clip), cvr_weight, ctcvr_weight)
