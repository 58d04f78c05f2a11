"""Predicting: one traced forward pass per model, for predictions and validation AUCs."""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.metrics import roc_auc_score

from mtl_lib.data import Schema, make_dataset

PREDICT_BATCH = 8192
"""Rows per batch when a whole split is scored (predictions, validation AUCs)."""


@contextlib.contextmanager
def _quiet_retracing():
    """Mute TensorFlow's warning about "frequent retracing" meanwhile.

    TensorFlow warns when many functions are traced in a short time. A comparison of many
    models traces each model's own train and predict functions by design (each once, see
    `mtl_lib.experiment.run_seeds`), so the warning says nothing there; it is muted while
    `fit`, `predict` and the validation scorer trace and run.
    """
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(level)


#: Model → its traced forward passes, by input structure (see `_forward`). Weak keys: a
#: model's functions go when the model goes, and nothing is stored on the model itself.
_FORWARD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _forward(model: keras.Model, spec: dict) -> Callable:
    """The model's forward pass (`training=False`), traced once per model and input structure.

    Any batch size takes the same trace, so a model reused across seeds
    (`mtl_lib.experiment.run_seeds`) is not traced again. It scores the validation split
    after every epoch and predicts (`predict`). TensorFlow warns about "frequent
    retracing" when many models each trace their own copy of one function; here that is by
    design, so the warning is muted while the function traces.
    """
    functions = _FORWARD.setdefault(model, {})
    spec = tf.nest.map_structure(lambda s: tf.TensorSpec((None, *s.shape[1:]), s.dtype), spec)
    key = repr(spec)
    if key not in functions:
        traced = tf.function(
            lambda features: model(features, training=False), input_signature=[spec]
        )

        def forward(features: dict) -> dict:
            with _quiet_retracing():
                return traced(features)

        functions[key] = forward
    return functions[key]


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """The ROC AUC, or NaN where the labels are all one class (it is undefined there)."""
    return float(roc_auc_score(labels, scores)) if 0 < labels.sum() < len(labels) else np.nan


def predict(
    model: keras.Model,
    data: pd.DataFrame | tf.data.Dataset,
    schema: Schema | None = None,
    *,
    batch_size: int = PREDICT_BATCH,
) -> dict[str, np.ndarray]:
    """Every output of `model` on a whole split.

    Args:
        model: Any model of the project.
        data: A data frame with the schema's columns (needs `schema`), or a dataset of
            `(features, labels)` batches in order.
        schema: The data's schema, when `data` is a frame.
        batch_size: Rows per prediction batch.

    Returns:
        Output name → array: `(rows,)` for a `(batch, 1)` output, else `(rows, width)`.
    """
    if isinstance(data, pd.DataFrame):
        if schema is None:
            raise ValueError("predicting on a data frame needs its schema")
        data = make_dataset(data, schema, batch_size=batch_size, validate=False)
    features = data.map(lambda f, *_: f)
    forward = _forward(model, features.element_spec)
    parts: dict[str, list[np.ndarray]] = {}
    for batch in features:  # one traced forward pass per batch, any batch size
        for name, value in forward(batch).items():
            parts.setdefault(name, []).append(value.numpy())
    if not parts:
        raise ValueError("no rows to predict: the data are empty")
    out = {name: np.concatenate(values) for name, values in parts.items()}
    return {name: (v[:, 0] if v.ndim == 2 and v.shape[1] == 1 else v) for name, v in out.items()}
