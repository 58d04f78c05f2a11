"""Compiling and fitting: the loop every notebook shares, and its per-epoch history.

Long (about 420 lines) because `fit`'s callbacks (row counting, epoch timing, validation
AUCs) and the state it swaps in and out of a model belong to `fit` alone.
"""

from __future__ import annotations

import contextlib
import time
import warnings
import weakref
from collections.abc import Mapping, Sequence

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from tensorflow.python.framework.config import is_op_determinism_enabled  # not public

from mtl_lib import optimizers
from mtl_lib.train.predicting import _auc, _forward, _quiet_retracing

DEFAULT_LEARNING_RATE = 1e-3
STEPS_PER_EXECUTION = 32
"""Training steps run by one call of the compiled train function. Each call from Python
costs a fixed overhead (about as much as a small model's whole step on a CPU); running 32
steps in one call pays it once for 32. The updates are the same, step by step."""


def compile_model(
    model: keras.Model,
    losses: Sequence[str] | Mapping[str, str | keras.losses.Loss],
    *,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    loss_weights: Mapping[str, float] | None = None,
    steps_per_execution: int | None = None,
    optimizer: str | keras.optimizers.Optimizer = "adam",
    jit_compile: bool = False,
) -> keras.Model:
    """Compile `model` with a loss on each named output (binary cross-entropy by default).

    Outputs not named get no loss: ESMM's pCVR, AITM's attention weights.

    Args:
        model: A model with dict outputs.
        losses: Output names (each gets binary cross-entropy), or name → loss.
        learning_rate: Adam's learning rate.
        loss_weights: Optional weight per output.
        steps_per_execution: Training steps per call of the compiled function; callbacks
            then see a batch end every that many steps. Default: `STEPS_PER_EXECUTION`,
            or 1 inside a `tf.distribute` strategy's scope, where Keras 3.15's multi-step
            function fails ("You must feed a value for placeholder tensor").
        optimizer: `"adam"` (`mtl_lib.optimizers.Adam`: Adam also on the embedding rows
            a batch repeats, where Keras 3's own Adam is not, in one fused kernel), `"lazy_adam"`
            (`mtl_lib.optimizers.LazyAdam`: a step updates only the embedding rows its
            batch touches, which pays off with tables of millions of rows), or an
            optimizer instance (then `learning_rate` is not used).
        jit_compile: Compile the train, test and predict functions with XLA. A training
            step then runs faster on a CPU, but compiling costs seconds more per model,
            and again for each new batch shape (a short last batch): it pays for long
            trainings, not for a model trained for a few epochs. `make
            benchmark-deepctr` measures both paths (the README has the numbers). Works
            with `"lazy_adam"` too (its `tf.unique` compiles); not while TensorFlow's op
            determinism is on (`set_seed` turns it on on a GPU only).

    Returns:
        The same model, compiled.

    Raises:
        ValueError: if an output named in `losses` does not exist, or XLA is asked for
            where it cannot run.
    """
    if not isinstance(losses, Mapping):
        losses = {name: "binary_crossentropy" for name in losses}
    unknown = [k for k in losses if k not in model.output_names]
    if unknown:
        raise ValueError(
            f"no output {unknown[0]!r} in model {model.name!r}; "
            f"its outputs are {model.output_names}"
        )
    if steps_per_execution is None:
        steps_per_execution = 1 if tf.distribute.has_strategy() else STEPS_PER_EXECUTION
    model.compile(
        optimizer=optimizers.get(optimizer, learning_rate),
        loss=dict(losses),
        loss_weights=dict(loss_weights) if loss_weights else None,
        steps_per_execution=steps_per_execution,
        jit_compile=jit_compile,
    )
    if jit_compile and not model.jit_compile:  # Keras turned XLA off, with a mere warning
        raise ValueError(
            f"jit_compile=True: Keras refuses XLA for {model.name!r}. It needs TensorFlow's "
            f"op determinism off (on in this process: {is_op_determinism_enabled()}; "
            "mtl_lib.train.set_seed turns it on on a GPU only) and layers that support XLA"
        )
    return model


def _targets(
    model: keras.Model, targets: Mapping[str, str | tuple[str, ...]] | None
) -> dict[str, str | tuple[str, ...]]:
    if not isinstance(model.loss, Mapping):
        raise ValueError(f"compile {model.name!r} with mtl_lib.train.compile_model first")
    return dict(targets) if targets else {name: name for name in model.loss}


def _select(
    dataset: tf.data.Dataset, targets: Mapping[str, str | tuple[str, ...]]
) -> tf.data.Dataset:
    """Keep the labels the losses need, renamed to their outputs.

    A target that names several columns gets them stacked, `(batch, k)` (ESCM²'s
    counterfactual loss reads click and conversion together).
    """

    def label(labels: dict, columns: str | tuple[str, ...]) -> tf.Tensor:
        if isinstance(columns, str):
            return labels[columns]
        return tf.stack([tf.cast(tf.reshape(labels[c], [-1]), tf.float32) for c in columns], -1)

    return dataset.map(
        lambda features, labels: (
            features,
            {out: label(labels, cols) for out, cols in targets.items()},
        )
    )


class _RowCounter(keras.callbacks.Callback):
    """Rows and batches of a stream, counted as training reads them (no pass of its own).

    A stream from a file is counted this way rather than by reading the file once more
    before training. An epoch that is a full pass reads every row once: the rows read
    during the epoch are its examples. With `steps_per_epoch`, reading can run ahead of the
    steps taken (prefetching), so the epoch's examples are its steps times the mean rows per
    batch read: exact but for a short last batch.
    """

    def __init__(self, steps_per_epoch: int | None) -> None:
        super().__init__()
        self.steps_per_epoch = steps_per_epoch
        self.rows = tf.Variable(0, dtype=tf.int64, trainable=False, name="rows_read")
        self.batches = tf.Variable(0, dtype=tf.int64, trainable=False, name="batches_read")
        self.examples: list[float] = []

    def wrap(self, dataset: tf.data.Dataset) -> tf.data.Dataset:
        def count(features: dict, labels: dict) -> tuple[dict, dict]:
            rows = tf.shape(next(iter(labels.values())), out_type=tf.int64)[0]
            with tf.control_dependencies([self.rows.assign_add(rows), self.batches.assign_add(1)]):
                return features, tf.nest.map_structure(tf.identity, labels)

        return dataset.map(count)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = int(self.rows.numpy())

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.steps_per_epoch is None:
            self.examples.append(float(int(self.rows.numpy()) - self._start))
        else:
            batches = int(self.batches.numpy())
            per_batch = int(self.rows.numpy()) / batches if batches else 0.0
            self.examples.append(self.steps_per_epoch * per_batch)


_EMPTY_VALIDATION = (
    "the validation data are empty (an empty validation split): per-epoch validation AUCs "
    "and early stopping need validation rows; train without them (`mtl_lib.experiment.run`: "
    "log_validation=False and no patience; `fit`: validation=None and patience=None), or keep "
    "rows for validation (e.g. a valid_fraction > 0)"
)


class _EpochLog(keras.callbacks.Callback):
    """Times each epoch's training pass and, given validation data, logs whole-split AUCs.

    An output whose validation labels are all one class has no AUC: it is logged as NaN,
    with a `RuntimeWarning` the first time in a fit.
    """

    def __init__(self, validation: tf.data.Dataset | None, outputs: Sequence[str]) -> None:
        super().__init__()
        self.validation, self.outputs = validation, tuple(outputs)
        self.seconds: list[float] = []
        self.auc: list[dict[str, float]] = []
        self._undefined: set[str] = set()  # outputs already warned about

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start, self._train_end = time.perf_counter(), None

    def on_test_begin(self, logs: dict | None = None) -> None:
        if self._train_end is None:  # the validation pass starts: training is over
            self._train_end = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append((self._train_end or time.perf_counter()) - self._start)
        if self.validation is None or not self.outputs:
            return
        # Each batch's labels and scores come from the same read of it, so they stay paired
        # even if the validation data are shuffled. The forward pass is traced once per
        # model and input structure, for any batch size (see `_forward`).
        score = _forward(self.model, self.validation.element_spec[0])
        labels, scores = {k: [] for k in self.outputs}, {k: [] for k in self.outputs}
        for features, batch in self.validation:
            pred = score(features)
            for k in self.outputs:
                labels[k].append(batch[k].numpy().ravel())
                scores[k].append(pred[k].numpy().ravel())
        if self.outputs and not labels[self.outputs[0]]:  # a stream of unknown size
            raise ValueError(_EMPTY_VALIDATION)
        aucs = {}
        for k in self.outputs:
            y = np.concatenate(labels[k])
            aucs[f"val_{k}_auc"] = _auc(y, np.concatenate(scores[k]))
            if np.isnan(aucs[f"val_{k}_auc"]) and k not in self._undefined:
                self._undefined.add(k)
                warnings.warn(
                    f"validation AUC of {k!r} is undefined: all {len(y)} labels of the "
                    f"validation split are {y[0]:g}; val_{k}_auc is logged as NaN",
                    RuntimeWarning,
                    stacklevel=2,
                )
        self.auc.append(aucs)


#: The history column of a summed `monitor` (see `fit`).
SELECTED = "val_selected"


def _summed(logs: dict, names: tuple[str, ...], who: str) -> float:
    """The sum of the logged values `names`, or an error naming the first not logged."""
    missing = [n for n in names if n not in logs]
    if missing:
        raise ValueError(f"{who} {missing[0]!r}, which is not logged; logged: {sorted(logs)}")
    return float(sum(logs[n] for n in names))


class _Summed(keras.callbacks.Callback):
    """Logs the sum of some logged values at each epoch's end, for the callbacks after it."""

    def __init__(self, names: tuple[str, ...], into: str) -> None:
        super().__init__()
        self.names, self.into = names, into

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs[self.into] = _summed(logs, self.names, "fit's monitor names")


class KeepBest(keras.callbacks.Callback):
    """Watches a second rule of early stopping, without stopping: what it would have kept.

    With the same `patience` as `keras.callbacks.EarlyStopping` (mode min, min_delta 0),
    it records the epoch and the weights that early stopping on `monitor` would have kept,
    and the epoch at which it would have stopped. Training up to that epoch is the same
    whichever rule stops it, so one run judged by two rules gives, for the rule that would
    have stopped first, exactly what a run stopped by it gives (when it stops first).

    Args:
        monitor: A logged value (`"val_loss"`), or several whose sum is watched.
        patience: Epochs without improvement after which the rule would stop.

    Attributes:
        best_epoch: The epoch it keeps (1-based), None before the first.
        weights: That epoch's weights (`model.get_weights()`).
        stopped_epoch: The epoch after which it would have stopped; None if training
            ended first.
    """

    def __init__(self, monitor: str | Sequence[str], patience: int) -> None:
        super().__init__()
        self.names = (monitor,) if isinstance(monitor, str) else tuple(monitor)
        self.patience = patience
        self.best, self.wait = np.inf, 0
        self.best_epoch: int | None = None
        self.weights: list[np.ndarray] | None = None
        self.stopped_epoch: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Keep this epoch's weights if the watched value improved; else count a miss."""
        if self.stopped_epoch is not None or logs is None:
            return
        value = _summed(logs, self.names, "KeepBest watches")
        if value < self.best:
            self.best, self.wait = value, 0
            self.best_epoch, self.weights = epoch + 1, self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch + 1


class StopWhenAll(keras.callbacks.Callback):
    """Stops training once every one of several `KeepBest` rules would have stopped.

    With two rules of early stopping watching one training, the run goes on until the
    later of the two stops, so that each rule's kept epoch is known.

    Args:
        rules: The `KeepBest` callbacks, also passed to `fit`, before this one.
    """

    def __init__(self, rules: Sequence[KeepBest]) -> None:
        super().__init__()
        self.rules = tuple(rules)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Stop the training when no rule is still waiting."""
        if all(rule.stopped_epoch is not None for rule in self.rules):
            self.model.stop_training = True


def fit(
    model: keras.Model,
    train: tf.data.Dataset,
    *,
    validation: tf.data.Dataset | None = None,
    epochs: int = 3,
    targets: Mapping[str, str | tuple[str, ...]] | None = None,
    patience: int | None = None,
    steps_per_epoch: int | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int = 0,
    validation_auc: bool = True,
    monitor: str | Sequence[str] = "val_loss",
) -> pd.DataFrame:
    """Train a compiled model; return its per-epoch history as a tidy frame.

    Args:
        model: A model compiled with `compile_model`.
        train: Batches of `(features, labels)` from `mtl_lib.data.make_dataset`, labels keyed
            by step.
        validation: Optional validation batches, in the same form.
        epochs: Passes over `train`.
        targets: Output name → label column, when they differ (BASE's CVR model:
            `{"purchase_given_click": "purchase"}`), or a tuple of columns stacked into
            one `(batch, k)` label (ESCM², `mtl_lib.losses.escm2`); default: each loss's
            output name. Validation AUCs are logged for single-column targets.
        patience: Stop when the validation loss has not improved for this many epochs and
            restore the best epoch's weights (needs `validation`); `epochs` is then the most.
        steps_per_epoch: Gradient steps per epoch, repeating `train` as needed (default:
            one pass). A model trained on a small subset can so take as many steps between
            two validations as a model trained on everything.
        callbacks: More Keras callbacks.
        verbose: Keras verbosity; 0 (default) keeps notebooks quiet, 2 prints a line an
            epoch.
        validation_auc: Log each output's validation AUC after every epoch (a second
            forward pass over the validation split, beside the one Keras makes for the
            validation losses); False logs the losses only.
        monitor: What early stopping watches: a logged value (`"val_loss"`, the model's
            own weighted loss), or several (`("val_click_loss", "val_purchase_loss")`),
            whose sum is then logged each epoch as `val_selected` and watched. The sum
            of the steps' cross-entropies judges every model by the same yardstick,
            whatever extra terms its own loss has.

    Returns:
        One row per epoch: the losses Keras logs (`loss`, `click_loss`, `val_loss`, ...),
        with validation data each output's AUC over the whole validation split
        (`val_click_auc`, ...; NaN, with a warning, where its labels are all one class),
        and the epoch's training `seconds` and `examples_per_second` (the validation pass
        not included).

    Data whose size is known (held in memory) are counted by one cheap pass before
    training; a stream from a file is counted as training reads it, so the file is read
    once per epoch and no more.

    Raises:
        ValueError: if `validation` is empty, or `patience` is given without it.
    """
    if validation is not None and int(validation.cardinality()) == 0:
        raise ValueError(_EMPTY_VALIDATION)
    targets = _targets(model, targets)
    train = _select(train, targets)
    sized = int(train.cardinality()) >= 0  # in memory; a stream from a file has no known size
    counter = None
    if sized:
        rows, batches = _count(train)  # in memory: one cheap pass (a gather per batch)
    else:
        counter = _RowCounter(steps_per_epoch)  # a stream is counted as training reads it
        train = counter.wrap(train)
    per_call = model.steps_per_execution
    if steps_per_epoch is not None:
        train = train.repeat()
        # Keras runs whole executions of `steps_per_execution` steps on repeated data: make
        # it divide the epoch, so that an epoch is exactly `steps_per_epoch` steps.
        per_call = _largest_divisor(steps_per_epoch, model.steps_per_execution)
    validation = _select(validation, targets) if validation is not None else None
    scored = (
        [out for out, cols in targets.items() if isinstance(cols, str)] if validation_auc else []
    )
    log = _EpochLog(validation, scored)
    extra = list(callbacks)
    if counter is not None:
        extra.append(counter)
    if not isinstance(monitor, str):
        if validation is None:
            raise ValueError("a monitor of validation losses needs validation data")
        extra.append(_Summed(tuple(monitor), SELECTED))
        monitor = SELECTED
    if patience is not None:
        if validation is None:
            raise ValueError("early stopping (patience) needs validation data")
        extra.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor, mode="min", patience=patience, restore_best_weights=True
            )
        )
    with (
        warnings.catch_warnings(),
        _quiet_retracing(),
        _steps_per_execution(model, per_call),
        _reducing_each_value(model.distribute_strategy),
    ):
        # A stream's length is unknown until it ends; ending is how its epoch ends.
        warnings.filterwarnings("ignore", "Your input ran out of data", UserWarning)
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
    if counter is not None:
        examples = np.asarray(counter.examples)
    elif steps_per_epoch is not None:
        examples = rows * steps_per_epoch / batches  # examples seen per epoch
    else:
        examples = rows
    frame["examples_per_second"] = examples / frame["seconds"]
    return frame


#: Model → its compiled functions for a count of steps per call other than its own
#: (`_steps_per_execution`). Weak keys: nothing is kept on the model, or after it.
_FUNCTIONS_PER_CALL: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_COMPILED = ("train_function", "test_function", "predict_function")


@contextlib.contextmanager
def _steps_per_execution(model: keras.Model, per_call: int):
    """The model runs `per_call` steps per call meanwhile, and is left as it was found.

    Keras traces its train, test and predict functions for the model's count of steps per
    call. The functions traced for another count are kept here, by model, so that a model
    fitted again with the same count (BASE's conditional models, reused across seeds) is not
    traced again.
    """
    own = model.steps_per_execution
    if per_call == own:
        yield
        return
    kept = {name: getattr(model, name) for name in _COMPILED}
    other = _FUNCTIONS_PER_CALL.setdefault(model, {}).get(per_call, dict.fromkeys(_COMPILED))
    model.steps_per_execution = per_call
    for name, function in other.items():
        setattr(model, name, function)
    try:
        yield
    finally:
        _FUNCTIONS_PER_CALL[model][per_call] = {name: getattr(model, name) for name in _COMPILED}
        model.steps_per_execution = own
        for name, function in kept.items():
            setattr(model, name, function)


def _largest_divisor(n: int, at_most: int) -> int:
    """The largest divisor of `n` that is at most `at_most` (1 at least)."""
    return max(d for d in range(1, max(1, min(n, at_most)) + 1) if n % d == 0)


def _count(dataset: tf.data.Dataset) -> tuple[int, int]:
    """Rows and batches of a dataset of `(features, labels)`, by one pass over it."""
    rows, batches = dataset.reduce(
        (np.int64(0), np.int64(0)),
        lambda acc, batch: (
            acc[0] + tf.cast(tf.shape(next(iter(batch[1].values())))[0], tf.int64),
            acc[1] + 1,
        ),
    )
    return int(rows), int(batches)


@contextlib.contextmanager
def _reducing_each_value(strategy: tf.distribute.Strategy):
    """Meanwhile, `strategy.reduce` as Keras 3's `fit` calls it under this strategy.

    With `MultiWorkerMirroredStrategy`, Keras 3 (3.15 at least) calls
    `strategy.reduce` on a whole input batch (a dict of features), which the strategy takes
    only one value at a time (keras-team/keras#20329), and reduces each step's scalar loss
    with `axis=0`, which a scalar has not (keras-team/keras#20585): `fit` fails. Reducing
    each value of a structure in turn, and a scalar over the replicas alone, is what those
    calls mean. The strategy's own `reduce` is back after the block; other strategies are
    left alone.
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        yield
        return
    reduce, own = strategy.reduce, vars(strategy).get("reduce")

    def reduce_one(reduce_op, value, axis):
        rank = strategy.experimental_local_results(value)[0].shape.rank
        return reduce(reduce_op, value, axis=None if rank == 0 else axis)

    def reduce_each(reduce_op, value, axis=None):
        return tf.nest.map_structure(lambda v: reduce_one(reduce_op, v, axis), value)

    strategy.reduce = reduce_each  # an attribute of this object, over its class's method
    try:
        yield
    finally:
        if own is None:
            del strategy.reduce
        else:
            strategy.reduce = own
