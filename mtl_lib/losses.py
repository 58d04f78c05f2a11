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

from mtl_lib.data.schema import truth_name
from mtl_lib.layers.core import PACKAGE
from mtl_lib.models.counterfactual import COUNTERFACTUAL, ESTIMATORS, Estimator

EPSILON = 1e-7  # as Keras's binary cross-entropy clips probabilities
#: Inverse-propensity weights are capped at this by default (the counterfactual losses' `clip`).
DEFAULT_CLIP = 15.0
#: A propensity is floored at this before it divides, so that a weight is finite before its cap.
PROPENSITY_FLOOR = 1e-6
#: DCMT's default prior weight λ (see `DCMTLoss`).
DCMT_PRIOR_WEIGHT = 1e-3
#: Where a counterfactual loss reads the click propensity: the model's pCTR, or the label
#: column of the true click probability (a control that only synthetic data allows).
PROPENSITIES = ("model", "oracle")
#: How ESCM²-IPS normalises its sum: by the batch's clicks (the authors' code) or by its
#: exposures (the paper's equation).
NORMALISATIONS = ("clicks", "exposures")


def _check_clip(clip: float | None) -> float | None:
    if clip is not None and not clip > 0:
        raise ValueError(f"clip must be positive or None (no cap), got {clip}")
    return None if clip is None else float(clip)


def _check_propensity(propensity: str) -> str:
    if propensity not in PROPENSITIES:
        raise ValueError(f"propensity must be one of {PROPENSITIES}, got {propensity!r}")
    return propensity


def _inverse(propensity: keras.KerasTensor, clip: float | None) -> keras.KerasTensor:
    """1 / max(p, floor), capped at `clip` unless it is None; no gradient flows through it."""
    weight = 1 / ops.maximum(propensity, PROPENSITY_FLOOR)
    return ops.stop_gradient(weight if clip is None else ops.minimum(weight, clip))


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
    n instead of its B exposures, which scales the term by about 1/CTR; we follow the code
    by default (`normalisation="clicks"`), and `normalisation="exposures"` gives the
    paper's: w_i = min(1 / max(p_i, 10⁻⁶), clip).

    **DR**, with δ_i the imputation tower's estimate of ℓ_i (a probability in (0, 1), as in
    the code) and e_i = ℓ_i − δ_i:

        u_i = o_i · min(1 / max(p_i, 10⁻⁶), clip)            (no gradient through u_i)
        L_DR = (1/B) Σ_i [ δ_i + u_i e_i  +  u_i e_i² ]

    The first two terms are the doubly robust estimate of the CVR risk over every exposure
    (imputed everywhere, corrected on the clicked rows); the last trains the imputation
    tower on the clicked rows. Gradients flow into pCVR (through ℓ_i) and into δ_i; none
    flows through a weight into the propensity. (pCTR still learns from more than the
    click loss: the CTCVR loss trains it through pCTCVR = pCTR · pCVR.)

    Rows covered: every exposure enters the batch mean; only clicked rows carry ℓ_i.
    Propensities are clipped from below at 10⁻⁶ and the weights from above at `clip` (15
    in the code, "an online trick"; None: no cap).

    With `propensity="oracle"`, p_i is read from a third label column instead of pCTR: the
    true click probability, which only a synthetic funnel knows (`escm2(...,
    propensity="oracle")` feeds it). It separates the estimator from its propensity model.

    Args:
        estimator: `"ips"` or `"dr"`.
        clip: Largest inverse-propensity weight (before IPS's × B), or None for no cap.
        name: The loss's name.
        normalisation: IPS only: `"clicks"` (the code's) or `"exposures"` (the paper's).
        propensity: `"model"` (pCTR) or `"oracle"` (the third label column).

    Call args:
        y_true: `(batch, 2)`: click, click ∧ conversion; `(batch, 3)` with the true click
            probability for `propensity="oracle"`.
        y_pred: `(batch, 2)` pCTR, pCVR for IPS; `(batch, 3)` with the imputed error for DR.

    Returns:
        `(batch,)` per-row terms; Keras's default reduction takes their mean.
    """

    def __init__(
        self,
        estimator: Estimator = "ips",
        clip: float | None = DEFAULT_CLIP,
        name: str | None = None,
        *,
        normalisation: str = "clicks",
        propensity: str = "model",
        **kwargs,
    ) -> None:
        if estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
        if normalisation not in NORMALISATIONS:
            raise ValueError(
                f"normalisation must be one of {NORMALISATIONS}, got {normalisation!r}"
            )
        if estimator == "dr" and normalisation != "clicks":
            raise ValueError("normalisation applies to IPS only; DR averages over exposures")
        super().__init__(name=name or f"escm2_{estimator}", **kwargs)
        self.estimator, self.clip = estimator, _check_clip(clip)
        self.normalisation, self.propensity = normalisation, _check_propensity(propensity)

    def call(self, y_true: keras.KerasTensor, y_pred: keras.KerasTensor) -> keras.KerasTensor:
        """Per-row terms, `(batch,)`, as the class docstring defines them."""
        y_true = ops.cast(y_true, y_pred.dtype)
        click, label = y_true[:, 0], y_true[:, 1]
        propensity = y_true[:, 2] if self.propensity == "oracle" else y_pred[:, 0]
        cvr = y_pred[:, 1]
        loss = _bce(label, cvr)
        if self.estimator == "ips":
            if self.normalisation == "exposures":  # the paper: (1/B) Σ o ℓ / p
                return click * _inverse(propensity, self.clip) * loss
            rows = ops.cast(ops.shape(click)[0], y_pred.dtype)
            clicks = ops.sum(click)
            return click * _inverse(propensity * clicks, self.clip) * rows * loss
        imputed = y_pred[:, 2]
        weight = click * _inverse(propensity, self.clip)
        error = loss - imputed
        return imputed + weight * error + weight * ops.square(error)

    def get_config(self) -> dict:
        """The loss's settings, for saving with a compiled model."""
        return {
            **super().get_config(),
            "estimator": self.estimator,
            "clip": self.clip,
            "normalisation": self.normalisation,
            "propensity": self.propensity,
        }


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

        u_i = 1 / max(p_i, 10⁻⁶),  v_i = 1 / max(1 − p_i, 10⁻⁶)   (each capped at `clip`, if set)
        L = (1/B) Σ_i [ o_i u_i BCE(r_i, r̂_i) + (1 − o_i) v_i BCE(1 − r_i, r̂*_i)
                        + λ |1 − (r̂_i + r̂*_i)| ]

    with p_i = pCTR and no gradient through u_i, v_i. The equation is the paper's, which
    caps no weight: `clip=None` by default (ESCM²'s code caps at 15, `clip=15.0` does so
    here). The authors' code was not available to this project; λ defaults to
    `DCMT_PRIOR_WEIGHT` = 0.001, the value the public re-implementations of DCMT use
    (the paper tunes the loss weights per data set). With λ = 1 the prior dominates the
    non-clicked rows' term: r̂* saturates near 1 and the prior pulls r̂ towards 0
    (notebook 01b measures both settings).

    Args:
        prior_weight: λ, the weight of the counterfactual prior.
        clip: Largest inverse-propensity weight, or None (the paper's) for no cap.
        name: The loss's name.

    Call args:
        y_true: `(batch, 2)`: click, click ∧ conversion.
        y_pred: `(batch, 3)`: pCTR, factual r̂, counterfactual r̂*.

    Returns:
        `(batch,)` per-row terms; Keras's default reduction takes their mean.
    """

    def __init__(
        self,
        prior_weight: float = DCMT_PRIOR_WEIGHT,
        clip: float | None = None,
        name: str = "dcmt",
        **kwargs,
    ) -> None:
        if not prior_weight >= 0:
            raise ValueError(f"prior_weight must be >= 0, got {prior_weight}")
        super().__init__(name=name, **kwargs)
        self.prior_weight, self.clip = float(prior_weight), _check_clip(clip)

    def call(self, y_true: keras.KerasTensor, y_pred: keras.KerasTensor) -> keras.KerasTensor:
        """Per-row terms, `(batch,)`, as the class docstring defines them."""
        y_true = ops.cast(y_true, y_pred.dtype)
        click, label = y_true[:, 0], y_true[:, 1]
        propensity, factual, counterfactual = y_pred[:, 0], y_pred[:, 1], y_pred[:, 2]
        return (
            click * _inverse(propensity, self.clip) * _bce(label, factual)
            + (1 - click) * _inverse(1 - propensity, self.clip) * _bce(1 - label, counterfactual)
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
    steps: Sequence[str],
    loss: keras.losses.Loss,
    weight: float,
    ctcvr_weight: float,
    oracle: bool = False,
) -> Objective:
    """ESMM's two cross-entropies (CTCVR's weighted) and `loss` on the packed output.

    With `oracle`, the packed output's label also carries the click step's true
    probability (`true_p_<click>`, a truth column of the schema).
    """
    click, conversion = steps
    packed = (click, conversion, truth_name(click)) if oracle else (click, conversion)
    return Objective(
        losses={
            click: "binary_crossentropy",
            conversion: "binary_crossentropy",
            COUNTERFACTUAL: loss,
        },
        targets={click: click, conversion: conversion, COUNTERFACTUAL: packed},
        loss_weights={click: 1.0, conversion: ctcvr_weight, COUNTERFACTUAL: weight},
    )


def escm2(
    steps: Sequence[str],
    estimator: Estimator = "ips",
    *,
    counterfactual_weight: float = 0.5,
    ctcvr_weight: float = 0.5,
    clip: float | None = DEFAULT_CLIP,
    normalisation: str = "clicks",
    propensity: str = "model",
) -> Objective:
    """ESCM²'s objective on a two-step funnel (click, conversion).

        L = L_CTR + λ_c · L_IPS|DR + λ_g · L_CTCVR,

    with λ_c = `counterfactual_weight` and λ_g = `ctcvr_weight`, both 0.5 in the authors'
    configuration (`counterfactual_w`, `global_w`). `clip`, `normalisation` and
    `propensity` are `CounterfactualCVRLoss`'s; with `propensity="oracle"` the training
    data must hold the click's truth column (`true_p_click`), as synthetic funnels do.
    """
    loss = CounterfactualCVRLoss(
        estimator, clip, normalisation=normalisation, propensity=propensity
    )
    return _with_counterfactual(
        steps, loss, counterfactual_weight, ctcvr_weight, oracle=propensity == "oracle"
    )


def dcmt(
    steps: Sequence[str],
    *,
    cvr_weight: float = 1.0,
    ctcvr_weight: float = 1.0,
    prior_weight: float = DCMT_PRIOR_WEIGHT,
    clip: float | None = None,
) -> Objective:
    """DCMT's objective on a two-step funnel (click, conversion).

        L = L_CTR + w_cvr · L_DCMT + w_ctcvr · L_CTCVR

    (the paper's, without its L2 term). The weights default to 1, λ (`prior_weight`) to
    0.001 and the propensity weights to no cap (see `DCMTLoss`).
    """
    return _with_counterfactual(steps, DCMTLoss(prior_weight, clip), cvr_weight, ctcvr_weight)
