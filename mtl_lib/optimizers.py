"""Optimizers for embedding tables: Adam proper, and Adam that updates only the rows used."""

from __future__ import annotations

import keras
import tensorflow as tf

from mtl_lib.layers.core import PACKAGE


@keras.saving.register_keras_serializable(package=PACKAGE)
class Adam(keras.optimizers.Adam):
    """Adam, also on an embedding row that a batch looks up more than once; one fused kernel.

    Keras 3's Adam is not Adam on such a row: it squares a sparse gradient's per-lookup
    values before their repeats are summed (`keras.ops.square` on a `tf.IndexedSlices`),
    so a row looked up k times with gradient g gets the second moment of k g² instead of
    (k g)², and moves up to √k times Adam's step (tested). `tf_keras`'s Adam (so
    DeepCTR's), PyTorch's and `LazyAdam` sum the repeats first; so does this class, which
    then applies, for a weight w with (summed) gradient g at step t,

        m ← m + (1 − β₁)(g − m)
        v ← v + (1 − β₂)(g² − v)
        w ← w − lr · √(1 − β₂ᵗ) / (1 − β₁ᵗ) · m / (√v + ε)

    with TensorFlow's fused kernel (`ResourceApplyAdam`, the one `tf_keras` uses): one
    operation per weight to trace and run instead of Keras's dozen, and a sparse gradient
    made dense once instead of twice. On dense weights it is Keras's update to float32
    precision (the kernel computes 1 − β in float32, Keras in Python), not bit for bit.

    It is the project's Adam: `compile_model`'s default `"adam"` is this class, and every
    notebook was trained with it. `keras.optimizers.Adam` can still be passed as an
    instance; the README's *Against DeepCTR* measures both
    (`benchmarks/deepctr.py --adam keras`).

    Args:
        learning_rate, beta_1, beta_2, epsilon, **kwargs: As `keras.optimizers.Adam`.
            With `amsgrad=True` or a `weight_decay`, which the fused kernel does not do,
            every step is Keras's own.
    """

    def update_step(self, gradient, variable, learning_rate) -> None:
        """One fused step for `variable` (a sparse gradient is made dense once)."""
        if self.amsgrad or self.weight_decay is not None:
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        gradient = tf.cast(tf.convert_to_tensor(gradient), dtype)  # IndexedSlices: summed
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        index = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=self._momentums[index].handle,
            v=self._velocities[index].handle,
            beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype),
            grad=gradient,
        )
        return None


@keras.saving.register_keras_serializable(package=PACKAGE)
class LazyAdam(Adam):
    """Adam whose sparse updates read and write only the rows a batch touches.

    Keras 3's Adam treats the gradient of an embedding table as dense: at every step it
    decays the moments of every row and moves every row, touched or not, so one step
    costs time in proportion to the whole table (millions of rows on Ali-CCP) rather than
    to the batch. `LazyAdam` applies the same update to the rows in the gradient's
    indices only, the "lazy" Adam of TensorFlow 1's `LazyAdamOptimizer`, TF Addons and
    PyTorch's `SparseAdam`. For a row i that the batch touches, with g_i its gradient
    summed over the batch's repeats of i and t the step:

        m_i ← β₁ m_i + (1 − β₁) g_i
        v_i ← β₂ v_i + (1 − β₂) g_i²
        w_i ← w_i − lr · √(1 − β₂ᵗ) / (1 − β₁ᵗ) · m_i / (√v_i + ε)

    and rows the batch does not touch keep their weights and their moments. Dense
    gradients (every other weight) get `Adam`'s fused step unchanged, so a model without
    an embedding table trains exactly as with `Adam`. The two differ only
    on rows a step skips: plain Adam keeps moving them with their decaying momentum.

    Args:
        learning_rate, beta_1, beta_2, epsilon, **kwargs: As `keras.optimizers.Adam`.

    Raises:
        ValueError: with `amsgrad=True`, which has no lazy form here, or with a
            `weight_decay`, which Keras applies to every row of a table at every step.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.amsgrad:
            raise ValueError("LazyAdam does not support amsgrad=True")
        if self.weight_decay is not None:
            raise ValueError(
                f"LazyAdam does not support weight_decay (got {self.weight_decay!r}): Keras "
                "decays every row of an embedding table at every step, touched or not, which "
                "undoes the lazy update; use keras.optimizers.AdamW for decoupled weight "
                "decay, or an L2 regularizer on the layer (e.g. embeddings_regularizer)"
            )

    def update_step(self, gradient, variable, learning_rate) -> None:
        """One step for `variable`; sparse (`tf.IndexedSlices`) gradients update lazily."""
        if not isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        rows, positions = tf.unique(gradient.indices)  # each touched row once
        grad = tf.math.unsorted_segment_sum(
            tf.cast(gradient.values, dtype), positions, tf.shape(rows)[0]
        )
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        alpha = (
            tf.cast(learning_rate, dtype)
            * tf.sqrt(1 - tf.pow(beta_2, step))
            / (1 - tf.pow(beta_1, step))
        )
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        m_rows = beta_1 * tf.gather(m.value, rows) + (1 - beta_1) * grad
        v_rows = beta_2 * tf.gather(v.value, rows) + (1 - beta_2) * tf.square(grad)
        self.assign(m, tf.IndexedSlices(m_rows, rows))
        self.assign(v, tf.IndexedSlices(v_rows, rows))
        self.assign_sub(
            variable, tf.IndexedSlices(alpha * m_rows / (tf.sqrt(v_rows) + self.epsilon), rows)
        )
        return None


def get(name: str | keras.optimizers.Optimizer, learning_rate: float) -> keras.optimizers.Optimizer:
    """An optimizer by name: `"adam"` (`Adam`) or `"lazy_adam"` (`LazyAdam`), or as given.

    Raises:
        ValueError: for any other name.
    """
    if isinstance(name, keras.optimizers.Optimizer):
        return name
    known = {"adam": Adam, "lazy_adam": LazyAdam}
    if name not in known:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {sorted(known)}")
    return known[name](learning_rate)
