"""Training replicated by a `tf.distribute` strategy: on one machine's devices or a cluster."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence

import keras
import pandas as pd
import tensorflow as tf

from mtl_lib.train.fitting import DEFAULT_LEARNING_RATE, compile_model, fit


def scope(strategy: tf.distribute.Strategy | None) -> contextlib.AbstractContextManager:
    """`strategy.scope()`, or a context that does nothing when `strategy` is None.

    Build and compile a model inside it: its variables are then created by the strategy
    (mirrored on every replica), and Keras's `fit` and `predict` split each batch across the
    replicas.

    Raises:
        TypeError: if `strategy` is neither None nor a `tf.distribute.Strategy`.
        NotImplementedError: for a `ParameterServerStrategy` (see `train_model`).
    """
    if strategy is None:
        return contextlib.nullcontext()
    if not isinstance(strategy, tf.distribute.Strategy):
        raise TypeError(
            f"strategy must be a tf.distribute.Strategy or None, got {type(strategy).__name__}"
        )
    if isinstance(strategy, tf.distribute.ParameterServerStrategy):
        raise NotImplementedError(
            "ParameterServerStrategy is not supported: Keras 3's fit has no parameter-server "
            "training path; use MirroredStrategy or MultiWorkerMirroredStrategy"
        )
    return strategy.scope()


def train_model(
    build: Callable[[], keras.Model],
    train: tf.data.Dataset,
    losses: Sequence[str] | Mapping[str, str | keras.losses.Loss],
    *,
    strategy: tf.distribute.Strategy | None = None,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    loss_weights: Mapping[str, float] | None = None,
    steps_per_execution: int | None = None,
    jit_compile: bool = False,
    **fit_kwargs,
) -> tuple[keras.Model, pd.DataFrame]:
    """Build, compile and train a model, on one device or replicated by a strategy.

    The model is built and compiled under `strategy.scope()`; Keras then splits every batch
    of `train` (the *global* batch) across the replicas, averages their gradients and
    updates every copy of the weights alike, so one step sees the same examples as on one
    device.

    Strategies, from one machine to a cluster:

    - `tf.distribute.MirroredStrategy()`: every GPU (or logical CPU device) of one machine.
    - `tf.distribute.MultiWorkerMirroredStrategy()`: the same across machines. Start the
      same script on every worker with its own `TF_CONFIG`, e.g. on worker 0 of two:
      `{"cluster": {"worker": ["host0:12345", "host1:12345"]}, "task": {"type": "worker",
      "index": 0}}` (index 1 on the other). Create the strategy first thing, before other
      TensorFlow calls. Each worker reads its own shard of the data (by file when the data
      are several files, else every worker reads everything and keeps its share of the
      batches); worker 0 (the chief) should write checkpoints and exports.
    - Not `tf.distribute.ParameterServerStrategy`: Keras 3's `fit` has no
      parameter-server training path (Keras 2's coordinator-driven `fit` is gone), so
      `scope` refuses it with a clear error rather than fail deep inside Keras. Embedding
      tables larger than one machine's memory need a custom training loop or a sharded
      embedding library; they are outside this project.

    Args:
        build: Makes the uncompiled model, e.g. `lambda: build_esmm(schema)`; called under
            the strategy's scope.
        train: Batches of `(features, labels)`, as for `fit`; each batch is global.
        losses: As for `compile_model`.
        strategy: A `tf.distribute.Strategy`, or None to train on the default device.
        learning_rate: Adam's learning rate.
        loss_weights: Optional weight per output.
        steps_per_execution: As for `compile_model`.
        jit_compile: As for `compile_model`.
        **fit_kwargs: Passed to `fit` (`validation`, `epochs`, `steps_per_epoch`, ...).

    Returns:
        The trained model and its history (see `fit`).

    Raises:
        TypeError: if `strategy` is not a `tf.distribute.Strategy`.

    Example:
        >>> strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])  # doctest: +SKIP
        >>> model, history = train_model(
        ...     lambda: build_esmm(schema), train_ds, schema.steps, strategy=strategy
        ... )  # doctest: +SKIP
    """
    with scope(strategy):
        model = build()
        compile_model(
            model,
            losses,
            learning_rate=learning_rate,
            loss_weights=loss_weights,
            steps_per_execution=steps_per_execution,
            jit_compile=jit_compile,
        )
    history = fit(model, train, **fit_kwargs)
    return model, history
