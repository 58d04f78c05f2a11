"""Compile, train and predict: the loop every notebook shares.

mtl.train.set_seed(0)
model = mtl.models.build_esmm(schema)
mtl.train.compile_model(model, schema.steps)          # BCE on each step's output
history = mtl.train.fit(model, train_ds, validation=valid_ds, epochs=3)
predictions = mtl.train.predict(model, test_frame, schema)

The same, replicated by a `tf.distribute` strategy (the model is built and compiled under
its scope; see `train_model` for running on a cluster):

model, history = mtl.train.train_model(
    lambda: mtl.models.build_esmm(schema), train_ds, schema.steps,
    strategy=tf.distribute.MirroredStrategy(), epochs=3,
)
"""

from __future__ import annotations

import contextlib
import random
import time
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.metrics import roc_auc_score
from tensorflow.python.eager import context as tf_context  # no public API for these two
from tensorflow.python.framework.config import is_op_determinism_enabled

from mtl_lib import optimizers
from mtl_lib.data import Schema, make_dataset

DEFAULT_LEARNING_RATE = 1e-3
PREDICT_BATCH = 8192
STEPS_PER_EXECUTION = 32
"""Training steps run by one call of the compiled train function. Each call from Python
costs a fixed overhead (about as much as a small model's whole step on a CPU); running 32
steps in one call pays it once for 32. The updates are the same, step by step."""


def set_seed(seed: int) -> None:
    """Seed Python, NumPy, Keras and TensorFlow; on a GPU, make TensorFlow's ops deterministic.

    With this (and `TF_ENABLE_ONEDNN_OPTS=0`, which `import mtl_lib` sets), training the
    same model on the same data twice gives identical weights. On a CPU, TensorFlow's
    kernels are deterministic already: the same runs with and without op determinism gave
    the same bits (`tests/test_reproducible.py` trains twice in fresh processes, with XLA
    and without). Op determinism is switched on only where a GPU is visible, whose
    kernels need it; on a CPU it would only forbid XLA (`compile_model`'s `jit_compile`).

    It does what `keras.utils.set_random_seed` does, but for one side effect of
    `tf.random.set_seed`: that also empties TensorFlow's cache of instantiated kernels,
    so the next call of every traced function builds its kernels again (1.2 to 1.5 s for
    a PLE, once per run of `mtl_lib.experiment.run_seeds`). Ops created afterwards get
    the same seeds either way; no kernel here keeps a random state to reset (Keras draws
    stateless random numbers, the pipelines' shuffles keep theirs in their iterators).
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
        optimizer: `"adam"` (Keras's), `"lazy_adam"` (`mtl_lib.optimizers.LazyAdam`:
            a step updates only the embedding rows its batch touches, which pays off
            with tables of millions of rows), or an optimizer instance (then
            `learning_rate` is not used).
        jit_compile: Compile the train, test and predict functions with XLA. A training
            step then runs about 1.5 times faster on a CPU (PLE and the v2 chain, batches
            of 2,048), but compiling costs 5 to 20 seconds more per model, and again for
            each new batch shape (a short last batch): it pays for long trainings (a
            stream of millions of rows), not for a model trained for a few epochs of
            200,000 rows. See `benchmarks/` and the README for the measurements. Works
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
    "validation=False and no patience; `fit`: validation=None and patience=None), or keep "
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
    if steps_per_epoch is not None:
        train = train.repeat()
        # Keras runs whole executions of `steps_per_execution` steps on repeated data: make
        # it divide the epoch, so that an epoch is exactly `steps_per_epoch` steps.
        per_call = _largest_divisor(steps_per_epoch, model.steps_per_execution)
        if per_call != model.steps_per_execution:
            model.steps_per_execution = per_call
            model.train_function = None  # traced anew for the new count
    validation = _select(validation, targets) if validation is not None else None
    scored = (
        [out for out, cols in targets.items() if isinstance(cols, str)] if validation_auc else []
    )
    log = _EpochLog(validation, scored)
    extra = list(callbacks)
    if counter is not None:
        extra.append(counter)
    if patience is not None:
        if validation is None:
            raise ValueError("early stopping (patience) needs validation data")
        extra.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=patience, restore_best_weights=True
            )
        )
    with warnings.catch_warnings(), _quiet_retracing():
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
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        _reduce_each_value(strategy)
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


def _reduce_each_value(strategy: tf.distribute.Strategy) -> None:
    """Adapt `strategy.reduce` to how Keras 3's `fit` calls it under this strategy.

    With `MultiWorkerMirroredStrategy`, Keras 3 (3.15 at least) calls
    `strategy.reduce` on a whole input batch (a dict of features), which the strategy takes
    only one value at a time (keras-team/keras#20329), and reduces each step's scalar loss
    with `axis=0`, which a scalar has not (keras-team/keras#20585): `fit` fails. Reducing
    each value of a structure in turn, and a scalar over the replicas alone, is what those
    calls mean.
    """
    reduce = strategy.reduce
    if getattr(reduce, "reduces_each_value", False):
        return

    def reduce_one(reduce_op, value, axis):
        rank = strategy.experimental_local_results(value)[0].shape.rank
        return reduce(reduce_op, value, axis=None if rank == 0 else axis)

    def reduce_each(reduce_op, value, axis=None):
        return tf.nest.map_structure(lambda v: reduce_one(reduce_op, v, axis), value)

    reduce_each.reduces_each_value = True
    strategy.reduce = reduce_each


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
