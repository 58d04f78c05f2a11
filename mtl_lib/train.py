"""Compile, train and predict: the loop every notebook shares.

mtl.train.set_seed(0)
model = mtl.models.build_esmm(schema)
mtl.train.compile_model(model, schema.steps)          # BCE on each step's output
history = mtl.train.fit(model, train_ds, validation=valid_ds, epochs=3)
predictions = mtl.train.predict(model, test_frame, schema)
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.metrics import roc_auc_score

from mtl_lib.data import Schema, make_dataset

DEFAULT_LEARNING_RATE = 1e-3
PREDICT_BATCH = 8192


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow once, and make TensorFlow's ops deterministic.

    With this (and `TF_ENABLE_ONEDNN_OPTS=0`, which `import mtl_lib` sets), training the
    same model on the same data twice on a CPU gives identical weights.
    """
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def compile_model(
    model: keras.Model,
    losses: Sequence[str] | Mapping[str, str | keras.losses.Loss],
    *,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    loss_weights: Mapping[str, float] | None = None,
) -> keras.Model:
    """Compile `model` with a loss on each named output (binary cross-entropy by default).

    Outputs not named get no loss: ESMM's pCVR, AITM's attention weights.

    Args:
        model: A model with dict outputs.
        losses: Output names (each gets binary cross-entropy), or name → loss.
        learning_rate: Adam's learning rate.
        loss_weights: Optional weight per output.

    Returns:
        The same model, compiled.
    """
    if not isinstance(losses, Mapping):
        losses = {name: "binary_crossentropy" for name in losses}
    unknown = [k for k in losses if k not in model.output_names]
    if unknown:
        raise ValueError(
            f"no output {unknown[0]!r} in model {model.name!r}; "
            f"its outputs are {model.output_names}"
        )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=dict(losses),
        loss_weights=dict(loss_weights) if loss_weights else None,
    )
    return model


def _targets(model: keras.Model, targets: Mapping[str, str] | None) -> dict[str, str]:
    if not isinstance(model.loss, Mapping):
        raise ValueError(f"compile {model.name!r} with mtl_lib.train.compile_model first")
    return dict(targets) if targets else {name: name for name in model.loss}


def _select(dataset: tf.data.Dataset, targets: Mapping[str, str]) -> tf.data.Dataset:
    """Keep the labels the losses need, renamed to their outputs."""
    return dataset.map(
        lambda features, labels: (features, {out: labels[col] for out, col in targets.items()})
    )


class _EpochLog(keras.callbacks.Callback):
    """Times each epoch's training pass and, given validation data, logs whole-split AUCs."""

    def __init__(self, validation: tf.data.Dataset | None, outputs: Sequence[str]) -> None:
        super().__init__()
        self.validation, self.outputs = validation, tuple(outputs)
        self.seconds: list[float] = []
        self.auc: list[dict[str, float]] = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start, self._train_end = time.perf_counter(), None

    def on_test_begin(self, logs: dict | None = None) -> None:
        if self._train_end is None:  # the validation pass starts: training is over
            self._train_end = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append((self._train_end or time.perf_counter()) - self._start)
        if self.validation is None:
            return
        labels = {k: [] for k in self.outputs}
        for _, batch in self.validation:
            for k in self.outputs:
                labels[k].append(batch[k].numpy().ravel())
        pred = self.model.predict(self.validation.map(lambda f, _: f), verbose=0)
        self.auc.append(
            {f"val_{k}_auc": _auc(np.concatenate(labels[k]), pred[k].ravel()) for k in self.outputs}
        )


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    return float(roc_auc_score(labels, scores)) if 0 < labels.sum() < len(labels) else np.nan


def fit(
    model: keras.Model,
    train: tf.data.Dataset,
    *,
    validation: tf.data.Dataset | None = None,
    epochs: int = 3,
    targets: Mapping[str, str] | None = None,
    patience: int | None = None,
    steps_per_epoch: int | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int = 0,
) -> pd.DataFrame:
    """Train a compiled model; return its per-epoch history as a tidy frame.

    Args:
        model: A model compiled with `compile_model`.
        train: Batches of `(features, labels)` from `mtl_lib.data.make_dataset`, labels keyed
            by step.
        validation: Optional validation batches, in the same form.
        epochs: Passes over `train`.
        targets: Output name → label column, when they differ (BASE's CVR model:
            `{"purchase_given_click": "purchase"}`); default: each loss's output name.
        patience: Stop when the validation loss has not improved for this many epochs and
            restore the best epoch's weights (needs `validation`); `epochs` is then the most.
        steps_per_epoch: Gradient steps per epoch, repeating `train` as needed (default:
            one pass). A model trained on a small subset can so take as many steps between
            two validations as a model trained on everything.
        callbacks: More Keras callbacks.
        verbose: Keras verbosity; 0 (default) keeps notebooks quiet, 2 prints a line an
            epoch.

    Returns:
        One row per epoch: the losses Keras logs (`loss`, `click_loss`, `val_loss`, ...),
        with validation data each output's AUC over the whole validation split
        (`val_click_auc`, ...), and the epoch's training `seconds` and
        `examples_per_second` (the validation pass not included).
    """
    targets = _targets(model, targets)
    train = _select(train, targets)
    rows, batches = (
        int(v)
        for v in train.reduce(
            (np.int64(0), np.int64(0)),
            lambda acc, batch: (
                acc[0] + tf.cast(tf.shape(next(iter(batch[1].values())))[0], tf.int64),
                acc[1] + 1,
            ),
        )
    )
    if steps_per_epoch is not None:
        train = train.repeat()
        rows = rows * steps_per_epoch / batches  # examples seen per epoch
    validation = _select(validation, targets) if validation is not None else None
    log = _EpochLog(validation, list(targets))
    extra = list(callbacks)
    if patience is not None:
        if validation is None:
            raise ValueError("early stopping (patience) needs validation data")
        extra.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=patience, restore_best_weights=True
            )
        )
    history = model.fit(
        train,
        validation_data=validation,
        epochs=epochs,
        shuffle=False,
        callbacks=[log, *extra],
        steps_per_epoch=steps_per_epoch,
        verbose=verbose,
    )
    frame = pd.DataFrame(history.history)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="epoch")
    if log.auc:
        frame = frame.join(pd.DataFrame(log.auc, index=frame.index))
    frame["seconds"] = log.seconds
    frame["examples_per_second"] = rows / frame["seconds"]
    return frame


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
    out = model.predict(features, verbose=0)
    return {name: (v[:, 0] if v.ndim == 2 and v.shape[1] == 1 else v) for name, v in out.items()}
