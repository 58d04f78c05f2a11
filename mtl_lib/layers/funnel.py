"""Layers specific to funnel models: the label-order penalty and AITM's information transfer."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import keras
from keras import ops

from mtl_lib.layers.core import PACKAGE


def order_violation(probs: Sequence[keras.KerasTensor]) -> keras.KerasTensor:
    """Mean over the batch of Σ_{t≥2} max(ŷ_t − ŷ_{t−1}, 0).

    Args:
        probs: Entire-space probabilities of the steps in funnel order, each `(batch, 1)`.

    Returns:
        A scalar: 0 when every later step is predicted no likelier than the step before.
    """
    total = 0.0
    for earlier, later in itertools.pairwise(probs):
        total = total + ops.mean(ops.relu(later - earlier))  # mean of the batch, each step
    return total


@keras.saving.register_keras_serializable(package=PACKAGE)
class LabelOrderPenalty(keras.layers.Layer):
    """Adds α · (1/N) Σ_x Σ_{t≥2} max(ŷ_t − ŷ_{t−1}, 0) to the model's loss.

    A step can only happen after the step before it, so P(reach t) ≤ P(reach t−1). This is
    the v3 label-order penalty and AITM's behavioral expectation calibrator (Xi et al.,
    KDD 2021): averaged over the batch, summed over the steps, in funnel order.

    Args:
        alpha: Weight α of the penalty (0 disables it).

    Call args:
        inputs: The steps' entire-space probabilities in funnel order, each `(batch, 1)`.

    Returns:
        The same probabilities, unchanged.
    """

    def __init__(self, alpha: float = 0.6, **kwargs) -> None:
        super().__init__(**kwargs)
        if alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        self.alpha = float(alpha)

    def call(self, inputs: Sequence[keras.KerasTensor]) -> list[keras.KerasTensor]:
        if len(inputs) < 2:
            raise ValueError(f"the penalty needs at least two steps, got {len(inputs)}")
        if self.alpha:
            self.add_loss(self.alpha * order_violation(inputs))
        return list(inputs)

    def compute_output_shape(self, input_shape: Sequence[tuple]) -> list[tuple]:
        return [tuple(s) for s in input_shape]

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha}


@keras.saving.register_keras_serializable(package=PACKAGE)
class AdaptiveInformationTransfer(keras.layers.Layer):
    """AITM's attention over what the previous step transfers and what this step's tower sees.

    For the two inputs u ∈ {p_{t−1}, q_t}:

        w_u = softmax_u(⟨h2(u), h3(u)⟩ / √k),    z_t = Σ_u w_u · h1(u),

    with h1, h2, h3 learned linear maps to `units` = k dimensions, shared by both inputs.
    As in the authors' code (github.com/xidongbo/AITM: three k × k matrices, no bias), the
    maps are bias-free by default, h(u) = W u; `use_bias=True` adds a bias, h(u) = W u + b.
    `build_aitm` calls one instance at every step after the first, as that code does.

    Args:
        units: k, the width of h1, h2, h3 and of the output.
        use_bias: Give h1, h2, h3 a bias (the authors' code has none).

    Call args:
        inputs: `[transferred, own]`: p_{t−1} and q_t, each `(batch, d)` (same d).

    Returns:
        `(z, weights)`: z `(batch, units)` and the attention weights `(batch, 2)`, column 0
        for the transferred information p_{t−1}, column 1 for the step's own tower q_t.

    Example:
        >>> layer = AdaptiveInformationTransfer(units=4)
        >>> z, weights = layer([ops.ones((3, 8)), ops.zeros((3, 8))])
        >>> tuple(z.shape), tuple(weights.shape), len(layer.h1.weights)  # kernel, no bias
        ((3, 4), (3, 2), 1)
    """

    def __init__(self, units: int = 32, use_bias: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        if units < 1:
            raise ValueError(f"units must be >= 1, got {units}")
        self.units = int(units)
        self.use_bias = bool(use_bias)
        self.h1 = keras.layers.Dense(self.units, use_bias=self.use_bias, name="h1")
        self.h2 = keras.layers.Dense(self.units, use_bias=self.use_bias, name="h2")
        self.h3 = keras.layers.Dense(self.units, use_bias=self.use_bias, name="h3")

    def build(self, input_shape: Sequence[tuple]) -> None:
        shape = tuple(input_shape[0])
        for dense in (self.h1, self.h2, self.h3):
            dense.build(shape)

    def call(
        self, inputs: Sequence[keras.KerasTensor]
    ) -> tuple[keras.KerasTensor, keras.KerasTensor]:
        u = ops.stack(list(inputs), axis=1)  # (batch, 2, d)
        values = self.h1(u)  # (batch, 2, k)
        scores = ops.sum(self.h2(u) * self.h3(u), axis=-1) / ops.sqrt(float(self.units))
        weights = ops.softmax(scores, axis=1)  # (batch, 2), over the two inputs
        z = ops.sum(ops.expand_dims(weights, -1) * values, axis=1)  # (batch, k)
        return z, weights

    def compute_output_shape(self, input_shape: Sequence[tuple]) -> tuple[tuple, tuple]:
        batch = next(iter(input_shape[0]))
        return (batch, self.units), (batch, 2)

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "use_bias": self.use_bias}
