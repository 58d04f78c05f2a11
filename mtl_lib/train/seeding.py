"""Seeding: the same seed, the same weights and data order, run to run."""

from __future__ import annotations

import contextlib
import random

import keras
import tensorflow as tf
from tensorflow.python.eager import context as tf_context  # no public API for this


def set_seed(seed: int) -> None:
    """Seed Python, NumPy, Keras and TensorFlow; on a GPU, make TensorFlow's ops deterministic.

    With this, on one float path (e.g. the Makefile's `TF_ENABLE_ONEDNN_OPTS=0`), training
    the same model on the same data twice gives identical weights. On a CPU, TensorFlow's
    kernels are deterministic already: the same runs with and without op determinism gave
    the same bits (`tests/test_reproducible.py` trains twice in fresh processes, with XLA
    and without). Op determinism is switched on only where a GPU is visible, whose
    kernels need it; on a CPU it would only forbid XLA (`compile_model`'s `jit_compile`).

    It does what `keras.utils.set_random_seed` does, but for one side effect of
    `tf.random.set_seed`: that also empties TensorFlow's cache of instantiated kernels,
    so the next call of every traced function builds its kernels again (once per run of
    `mtl_lib.experiment.run_seeds`; the README's *Where the time goes* has the cost).
    Ops created afterwards get the same seeds either way; no kernel here keeps a random
    state to reset (Keras draws stateless random numbers, the pipelines' shuffles keep
    theirs in their iterators).
    One difference remains: an eager stateful op such as `tf.random.uniform(shape,
    seed=1)`, called again after `set_seed`, continues its sequence rather than restart it.
    """
    with _kernel_cache_kept():
        keras.utils.set_random_seed(seed)
    if tf.config.list_physical_devices("GPU"):
        tf.config.experimental.enable_op_determinism()


@contextlib.contextmanager
def _kernel_cache_kept():
    """TensorFlow's global seed set, meanwhile, without emptying its kernel cache.

    See `set_seed`. Where TensorFlow's eager context is not as expected (another version),
    `tf.random.set_seed` empties the cache as before.
    """
    ctx = tf_context.context()
    if not (hasattr(ctx, "_set_global_seed") and hasattr(ctx, "_rng")):
        yield
        return

    def set_global_seed(seed: int) -> None:
        ctx._seed = seed
        ctx._rng = random.Random(seed)

    ctx._set_global_seed = set_global_seed
    try:
        yield
    finally:
        del ctx._set_global_seed  # the class's method again
