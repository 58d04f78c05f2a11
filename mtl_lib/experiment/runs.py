"""Train one model on one data set and predict its test split: `run`, and `run_base`.

result = mtl.experiment.run("aitm", splits, seed=0, epochs=3)
base = mtl.experiment.run_base(splits, seed=0, epochs=3)  # the ESMM paper's BASE
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import partial

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from mtl_lib import losses, models, train
from mtl_lib.data import Schema, conditional_name, make_dataset
from mtl_lib.datasets.splits import Splits
from mtl_lib.experiment.registry import BASE, spec
from mtl_lib.metrics import evaluate_funnel

#: The one training budget of every comparison (notebooks 02–04, 06 and 08): Adam at this
#: learning rate, batches of this size, and early stopping on the validation loss with this
#: patience, keeping the best epoch. `epochs` is only a safety cap: a comparison asserts
#: that every run was ended by early stopping (`RunResult.converged`), never by the cap.
#: Patience 1 suffices here: past its minimum, these models' validation loss rises epoch
#: after epoch (the id embeddings overfit), it does not wander.
BUDGET: dict = {"epochs": 30, "patience": 1, "batch_size": 2048, "learning_rate": 2e-3}

#: The budget of a comparison of counterfactual objectives (notebook 01b): `BUDGET`, with
#: early stopping on the validation cross-entropies of the steps' entire-space outputs
#: (CTR and CTCVR), summed unweighted, instead of each model's own loss. Every model
#: predicts both, and no model's extra terms (an inverse-propensity risk is many times
#: the click loss) decide when it stops. For ESMM the two rules are the same. Batches of
#: 256: 01b's funnels have 30,000 training rows, so that an epoch has about as many steps
#: (117) as `BUDGET`'s on the shipped funnel (98); at 2,048 an epoch is 15 steps, and
#: early stopping after one epoch without improvement ended two of five ESMM runs after
#: 30 steps of Adam, at a click AUC of 0.50 (measured).
COUNTERFACTUAL_BUDGET: dict = {**BUDGET, "batch_size": 256, "select_on": "steps"}

#: `select_on`'s choices: the model's own validation loss, or the steps' cross-entropies.
SELECTIONS = ("loss", "steps")


@dataclass
class RunResult:
    """One trained model (or BASE's set of models) and its test-split outputs."""

    name: str
    seed: int
    predictions: dict[str, np.ndarray]
    history: pd.DataFrame
    params: int
    examples_per_second: float
    models: list[keras.Model]
    epochs: int = 0
    best_epoch: int | None = None
    converged: bool | None = None
    """Whether early stopping ended training (every model's last `patience` epochs did
    not improve its validation loss) rather than the epoch cap; None without early
    stopping. `epochs` is the number trained, `best_epoch` the one kept (BASE: the
    largest of its models')."""
    selected_on: str | None = None
    """The rule early stopping judged by (`run`'s `select_on`), None without it."""
    alternative: RunResult | None = None
    """The same training judged by `run`'s `also_select_on` (its `selected_on`)."""

    def evaluate(self, splits: Splits) -> pd.DataFrame:
        """`mtl_lib.metrics.evaluate_funnel` of the test predictions."""
        return evaluate_funnel(self.predictions, splits.test, splits.schema, ceiling=splits.ceiling)


def _train_one(
    model: keras.Model,
    frame: pd.DataFrame,
    schema: Schema,
    *,
    seed: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    patience: int | None,
    objective: losses.Objective,
    validation: pd.DataFrame | None,
    jit_compile: bool = False,
    validation_auc: bool = False,
    steps_per_epoch: int | None = None,
    select_on: str = "loss",
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> pd.DataFrame:
    if not model.compiled:  # a model reused across seeds keeps its compiled functions
        train.compile_model(
            model,
            objective.losses,
            learning_rate=learning_rate,
            loss_weights=objective.loss_weights or None,
            jit_compile=jit_compile,
        )
    truth = _reads_truth(objective, schema)
    data = make_dataset(
        frame, schema, batch_size=batch_size, shuffle=True, seed=seed, validate=False, truth=truth
    )
    valid = (
        make_dataset(
            validation, schema, batch_size=train.PREDICT_BATCH, validate=False, truth=truth
        )
        if validation is not None
        else None
    )
    return train.fit(
        model,
        data,
        validation=valid,
        epochs=epochs,
        targets=objective.targets,
        patience=patience,
        steps_per_epoch=steps_per_epoch,
        validation_auc=validation_auc,
        monitor=_monitor(objective, schema, select_on),
        callbacks=callbacks,
    )


def _reads_truth(objective: losses.Objective, schema: Schema) -> bool:
    """Whether a loss reads a truth column (an oracle propensity) as a label.

    Raises:
        ValueError: for a label column that is neither a step nor a truth column of the
            data (an oracle objective on data without the truth).
    """
    columns = {
        c
        for cols in objective.targets.values()
        for c in ((cols,) if isinstance(cols, str) else cols)
    }
    unknown = sorted(columns - set(schema.steps) - set(schema.truth))
    if unknown:
        raise ValueError(
            f"the objective reads the label column {unknown[0]!r}, which these data do not "
            f"have (steps {schema.steps}, truth columns {schema.truth}); an oracle "
            "propensity needs a synthetic funnel's truth columns"
        )
    return bool(columns & set(schema.truth))


def _monitor(objective: losses.Objective, schema: Schema, select_on: str) -> str | tuple[str, ...]:
    """What early stopping watches (see `run`'s `select_on`)."""
    if select_on not in SELECTIONS:
        raise ValueError(f"select_on must be one of {SELECTIONS}, got {select_on!r}")
    outputs = tuple(o for o in objective.losses if o in schema.steps)
    weights = objective.loss_weights or {}
    own = set(objective.losses) == set(outputs) and all(weights.get(o, 1.0) == 1.0 for o in outputs)
    if select_on == "loss" or not outputs or own:  # the model's loss is the steps' already
        return "val_loss"
    return tuple(f"val_{o}_loss" for o in outputs)


def run(
    name: str,
    splits: Splits,
    *,
    seed: int = 0,
    epochs: int = 3,
    batch_size: int = 1024,
    learning_rate: float = train.DEFAULT_LEARNING_RATE,
    patience: int | None = None,
    log_validation: bool = False,
    only: Sequence[str] | None = None,
    strategy: tf.distribute.Strategy | None = None,
    reuse: dict | None = None,
    jit_compile: bool = False,
    validation_auc: bool = False,
    select_on: str = "loss",
    also_select_on: str | None = None,
    **build_kwargs,
) -> RunResult:
    """Train model `name` on `splits.train` and predict `splits.test`.

    Args:
        name: A model of the registry (`mtl_lib.experiment.REGISTRY`), or `"base"` (see
            `run_base`, which then gets every other argument). A two-step model
            (`ModelSpec.two_step`) on a longer funnel learns its first and last step only.
        splits: The data.
        seed: Seeds the run: the weights and the shuffling. Python's, NumPy's, Keras's and
            TensorFlow's global generators are seeded with it (`mtl_lib.train.set_seed`),
            and stay so after the run.
        epochs: Passes over the training split (the most, with `patience`).
        batch_size: Examples per training batch.
        learning_rate: Adam's learning rate.
        patience: Early stopping: stop when the validation loss has not improved for this
            many epochs and keep the best epoch's weights.
        log_validation: Log validation losses per epoch (implied by `patience`). `fit`'s
            `validation` is the data; here the rows are `splits.valid`.
        only: For BASE only (see `run_base`).
        strategy: A `tf.distribute` strategy to build, compile and train under (see
            `mtl_lib.train.train_model`); None trains on the default device.
        reuse: A dict kept across calls (as `run_seeds` does): a model of the same
            architecture trained before is then given this seed's initial weights and a
            fresh optimizer state instead of being built, compiled and traced anew. The
            result is bit for bit the same; only the tracing is saved.
        jit_compile: Train with XLA (see `mtl_lib.train.compile_model`): faster steps,
            dearer compiling. Its numbers differ from the default path's in the last bits,
            which training carries into the 4th decimal.
        validation_auc: Also log each output's validation AUC per epoch in the history
            (`val_click_auc`, ...; see `mtl_lib.train.fit`). It costs a second forward
            pass over the validation split every epoch, and a comparison judges on the
            test split, so it is off by default.
        select_on: What early stopping judges an epoch by: `"loss"`, the model's own
            validation loss, or `"steps"`, the sum of the validation cross-entropies of its
            steps' entire-space outputs (click, purchase), unweighted, which every model of
            a funnel predicts (`COUNTERFACTUAL_BUDGET`). It is logged as `val_selected`
            when it differs from the model's own loss. BASE's models each have one loss,
            their own, whichever is asked.
        also_select_on: Also judge the same training by this other rule (see
            `select_on`): `RunResult.alternative` then holds the test predictions of the
            epoch it keeps, and the epoch it stops after (`mtl_lib.train.KeepBest`).
            Training then goes on until both rules have stopped (or the epoch cap), and
            each rule's result is exactly the run that rule alone gives: the same steps up
            to its stop, its kept epoch's weights. Not for BASE.
        **build_kwargs: Passed to the builder (e.g. `alpha`, `tower_units`).

    Returns:
        The predictions on the test split, the per-epoch history, the number of parameters
        and the training examples per second.

    Raises:
        ValueError: for an unknown model, or `only` with a model other than BASE.
    """
    options = {
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "patience": patience,
        "log_validation": log_validation,
        "jit_compile": jit_compile,
        "validation_auc": validation_auc,
        "select_on": select_on,
    }
    if name == BASE:
        if also_select_on is not None:
            raise ValueError("also_select_on is for a single model; BASE's models have one loss")
        return run_base(
            splits, only=only, seed=seed, strategy=strategy, reuse=reuse, **options, **build_kwargs
        )
    if only is not None:
        raise ValueError("`only` selects BASE's models; other models train every step")
    if also_select_on is not None and patience is None:
        raise ValueError("also_select_on judges early stopping: give a patience")
    record = spec(name)
    schema = splits.schema
    steps = schema.steps
    if record.two_step and len(steps) > 2:
        steps = (steps[0], steps[-1])
    train.set_seed(seed)
    with train.scope(strategy):  # models built and compiled by the strategy, if any
        model = fresh_model(
            reuse,
            (name, _shape(schema), steps, (learning_rate, jit_compile), repr(build_kwargs)),
            lambda: record.build(schema.with_steps(steps), **build_kwargs),
        )
        objective = record.objective(steps)
        watch = keep = None
        callbacks: list[keras.callbacks.Callback] = []
        if also_select_on is not None:
            # Both rules watch the same training, which goes on until both have stopped:
            # each rule's kept epoch is then exactly what a run stopped by it gives.
            keep = train.KeepBest(_monitor(objective, schema, select_on), patience)
            watch = train.KeepBest(_monitor(objective, schema, also_select_on), patience)
            callbacks = [keep, watch, train.StopWhenAll((keep, watch))]
        history = _train_one(
            model,
            splits.train,
            schema,
            objective=objective,
            validation=_validation(splits, options.pop("log_validation"), patience),
            seed=seed,
            callbacks=callbacks,
            **{**options, "patience": None if keep is not None else patience},
        )
        full_history = history
        if keep is not None:  # the run as `select_on`'s rule ends it
            model.set_weights(keep.weights)
            history = history.iloc[: keep.stopped_epoch or len(history)]
    predictions = train.predict(model, splits.test, schema)
    result = RunResult(
        name,
        seed,
        predictions,
        history,
        model.count_params(),
        _throughput(history),
        [model],
        *_stopping([history], patience),
    )
    result.selected_on = select_on if patience is not None else None
    if watch is not None:
        result.alternative = _alternative(result, watch, splits, also_select_on, full_history)
    return result


def _alternative(
    result: RunResult, watch: train.KeepBest, splits: Splits, rule: str, history: pd.DataFrame
) -> RunResult:
    """The run as `watch`'s rule ends it: its kept epoch's test predictions."""
    model = result.models[0]
    kept = model.get_weights()
    model.set_weights(watch.weights)
    predictions = train.predict(model, splits.test, splits.schema)
    model.set_weights(kept)
    stopped = watch.stopped_epoch
    epochs = stopped if stopped is not None else len(history)
    return RunResult(
        result.name,
        result.seed,
        predictions,
        history.iloc[:epochs],
        result.params,
        result.examples_per_second,
        [],
        epochs,
        watch.best_epoch,
        stopped is not None,
        selected_on=rule,
    )


def run_base(
    splits: Splits,
    *,
    only: Sequence[str] | None = None,
    seed: int = 0,
    strategy: tf.distribute.Strategy | None = None,
    reuse: dict | None = None,
    **kwargs,
) -> RunResult:
    """The ESMM paper's BASE: one single-task model per step, trained as `run` trains one.

    The first model learns the first step on every exposure; each later one learns its
    step on the rows that reached the step before (the CVR model on clicked rows). Its
    entire-space predictions are products of these conditionals. Each later model takes as
    many gradient steps per epoch as the first (it repeats its smaller data), so that early
    stopping treats them alike, and each stops on its own validation rows: a small
    conditional model is trained as long as it keeps improving rather than for a fixed
    number of passes.

    Args:
        splits: The data.
        only: Train only the models of these steps (e.g. `("purchase",)` for the CVR model
            alone); the predictions then hold their conditional outputs, and reach
            probabilities only where every earlier step was trained too.
        seed: As for `run`.
        strategy: As for `run`.
        reuse: As for `run`.
        **kwargs: `run`'s training options, with its defaults (`epochs`, `batch_size`,
            `learning_rate`, `patience`: each model stops on its own validation rows,
            `log_validation`, `jit_compile`, `validation_auc`, `select_on`); the rest is passed to
            `mtl_lib.models.build_single_task`.

    Returns:
        The result, named `"base"`: its history has each model's columns side by side,
        prefixed by its output (`click/loss`, `purchase_given_click/val_loss`, ...); its
        `best_epoch` is the largest of its models', and it `converged` when all did.

    Raises:
        ValueError: for a step of `only` that the funnel does not have.
    """
    schema, steps = splits.schema, splits.schema.steps
    wanted = steps if only is None else tuple(only)
    unknown = [s for s in wanted if s not in steps]
    if unknown:
        raise ValueError(f"no step {unknown[0]!r} in {steps}")
    options, build_kwargs = _training_options(kwargs)
    learning_rate, jit_compile, patience = (
        options[k] for k in ("learning_rate", "jit_compile", "patience")
    )
    valid = _validation(splits, options.pop("log_validation"), patience)
    # Every model takes as many gradient steps per epoch as one trained on every exposure,
    # so early stopping judges a small conditional model after as much training.
    full_epoch = -(-len(splits.train) // options["batch_size"])
    predictions, histories, fitted, examples, seconds = {}, {}, [], 0.0, 0.0
    reach = None
    train.set_seed(seed)
    with train.scope(strategy):  # models built and compiled by the strategy, if any
        for t, step in enumerate(steps):
            output = step if t == 0 else conditional_name(step, steps[t - 1])
            if step not in wanted:
                reach = None
                continue
            frame, val = splits.train, valid
            if t > 0:  # the CVR model of BASE: trained on the rows that reached the step before
                frame = frame[frame[steps[t - 1]] == 1]
                val = val[val[steps[t - 1]] == 1] if val is not None else None
            model = fresh_model(
                reuse,
                (BASE, _shape(schema), output, (learning_rate, jit_compile), repr(build_kwargs)),
                partial(models.build_single_task, schema, output, **build_kwargs),
            )
            history = _train_one(
                model,
                frame,
                schema,
                objective=losses.Objective({output: "binary_crossentropy"}, {output: step}),
                validation=val,
                steps_per_epoch=full_epoch if t > 0 else None,
                seed=seed,
                **options,
            )
            histories[output] = history
            last = history.iloc[-1]
            examples += last["examples_per_second"] * last["seconds"]
            seconds += last["seconds"]
            cond = train.predict(model, splits.test, schema)[output]
            if t > 0:
                predictions[output] = cond
            if t == 0 or reach is not None:
                reach = cond if reach is None else reach * cond
                predictions[step] = reach
            fitted.append(model)
    history = pd.concat([h.add_prefix(f"{o}/") for o, h in histories.items()], axis=1)
    params = sum(m.count_params() for m in fitted)
    return RunResult(
        BASE,
        seed,
        predictions,
        history,
        params,
        examples / seconds,
        fitted,
        *_stopping(list(histories.values()), patience),
    )


def _validation(splits: Splits, log: bool, patience: int | None) -> pd.DataFrame | None:
    """The validation rows, where validation losses are logged or early stopping needs them."""
    return splits.valid if log or patience is not None else None


#: `run`'s options of how to train (`run_base` takes them as keywords, with `run`'s defaults).
_TRAINING = (
    "epochs",
    "batch_size",
    "learning_rate",
    "patience",
    "log_validation",
    "jit_compile",
    "validation_auc",
    "select_on",
)


def _training_options(kwargs: dict) -> tuple[dict, dict]:
    """`(training options with run's defaults, the rest: builder arguments)` of `kwargs`."""
    defaults = inspect.signature(run).parameters
    options = {k: kwargs[k] if k in kwargs else defaults[k].default for k in _TRAINING}
    return options, {k: v for k, v in kwargs.items() if k not in _TRAINING}


def _stopping(histories: Sequence[pd.DataFrame], patience: int | None) -> tuple:
    """(epochs trained, best epoch, converged) over one run's models (see `RunResult`)."""
    epochs = max(len(h) for h in histories)
    if patience is None:
        return epochs, None, None
    best = [
        int(h[train.SELECTED if train.SELECTED in h else "val_loss"].idxmin()) for h in histories
    ]
    converged = all(b <= len(h) - patience for b, h in zip(best, histories, strict=True))
    return epochs, max(best), converged


def _shape(schema: Schema) -> tuple:
    """What a model's weights depend on in a schema: its fields and their sizes."""
    return tuple((f.name, f.kind, f.size) for f in schema.fields)


def fresh_model(reuse: dict | None, key: Hashable, build: Callable[[], keras.Model]) -> keras.Model:
    """A model with the current seed's initial weights: built, or reused from `reuse`.

    Building is cheap; tracing a model's compiled train, test and predict functions costs
    seconds. A model reused from an earlier seed takes the initial weights of a model just
    built under the current seed, and its optimizer starts afresh (step 0, zero moments),
    so it trains exactly as the newly built model would, with the functions already traced.
    A model built here is returned as it is: compile it, and the next call under `key`
    reuses it.

    Args:
        reuse: Key → the model kept for it; None to always build.
        key: What the model's weights depend on (its builder and data shape).
        build: Builds the model under the current seed.
    """
    model = build()
    if reuse is None:
        return model
    kept = reuse.get(key)
    if kept is None or not kept.compiled:
        reuse[key] = model
        return model
    kept.set_weights(model.get_weights())
    optimizer = kept.optimizer
    learning_rate = optimizer.learning_rate  # the optimizer's variable, kept as it is
    for variable in optimizer.variables:
        if variable is not learning_rate:
            variable.assign(tf.zeros(variable.shape, variable.dtype))
    return kept


def _throughput(history: pd.DataFrame) -> float:
    """Examples per second of the last epoch (the first one also pays for tracing)."""
    return float(history["examples_per_second"].iloc[-1])
