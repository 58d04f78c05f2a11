"""Run one model, or many over seeds, on the same data, and collect tidy results.

splits = mtl.experiment.Splits.load("data/funnel")
result = mtl.experiment.run("aitm", splits, seed=0, epochs=3)
table = mtl.experiment.run_seeds(["esmm_chain", "aitm"], splits, seeds=[0, 1, 2])
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import weakref
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from mtl_lib import losses, models, train
from mtl_lib.data import Schema, make_dataset, read_frame, split_path
from mtl_lib.metrics import bayes_ceiling, evaluate_funnel
from mtl_lib.models.common import conditional_name
from mtl_lib.synthetic import FunnelGenerator

#: Model name → builder `f(schema, **kwargs) -> keras.Model` with outputs keyed by step.
#: The mixture family's sizes make every multi-task model of the funnel comparable: 55k to
#: 70k parameters above the shared embedding (151k on the shipped funnel), as the ESMM
#: family's towers have with their defaults (ESMM's two towers: 30k; ESMM-NS also has a
#: second embedding; ESCM²-DR a third tower, for the imputed error, and DCMT one for the
#: counterfactual CVR: 45k).
MODELS: dict[str, Callable[..., keras.Model]] = {
    "esmm": models.build_esmm,
    "esmm_ns": partial(models.build_esmm, share_embedding=False, name="esmm_ns"),
    "esmm_chain": models.build_esmm_chain,
    "esmm_concat": models.build_esmm_concat,
    "aitm": models.build_aitm,
    "escm2_ips": partial(models.build_escm2, estimator="ips"),
    "escm2_dr": partial(models.build_escm2, estimator="dr"),
    "dcmt": models.build_dcmt,
    "shared_bottom": partial(models.build_shared_bottom, bottom_units=(192, 64), tower_units=(32,)),
    "omoe": partial(models.build_omoe, num_experts=8, expert_units=(32,), tower_units=(16,)),
    "mmoe": partial(models.build_mmoe, num_experts=8, expert_units=(32,), tower_units=(16,)),
    "mmoe_2_layers": partial(
        models.build_mmoe,
        num_experts=8,
        expert_units=(32,),
        num_layers=2,
        tower_units=(16,),
        name="mmoe_2_layers",
    ),
    "ple": partial(
        models.build_ple,
        num_task_experts=2,
        num_shared_experts=2,
        expert_units=(24,),
        num_levels=2,
        tower_units=(16,),
    ),
}
#: Models trained with more than a cross-entropy per step: model name → `f(steps) ->
#: mtl_lib.losses.Objective` (the others get `mtl_lib.losses.cross_entropy`).
OBJECTIVES: dict[str, Callable[[Sequence[str]], losses.Objective]] = {
    "escm2_ips": partial(losses.escm2, estimator="ips"),
    "escm2_dr": partial(losses.escm2, estimator="dr"),
    "dcmt": losses.dcmt,
}
#: The one training budget of every comparison (notebooks 02–04, 06 and 08): Adam at this
#: learning rate, batches of this size, and early stopping on the validation loss with this
#: patience, keeping the best epoch. `epochs` is only a safety cap: a comparison asserts
#: that every run was ended by early stopping (`RunResult.converged`), never by the cap.
#: Patience 1 suffices here: past its minimum, these models' validation loss rises epoch
#: after epoch (the id embeddings overfit), it does not wander.
BUDGET: dict = {"epochs": 30, "patience": 1, "batch_size": 2048, "learning_rate": 2e-3}
#: Row stream of a synthetic world's shared test split (see `Splits.from_generator`): the
#: seeds' training and validation rows come from streams 0, 1, 2, ..., never this one.
TEST_STREAM = 99
#: "base" is not a single model: one per step, each on the rows that reached the step before.
BASE = "base"
#: Models of two steps: on a longer funnel they learn its first and last step (exposure →
#: click → activate), as the original ESMM would be applied to it, without the labels between.
TWO_STEP = ("esmm", "esmm_ns", "escm2_ips", "escm2_dr", "dcmt")
#: How figures and tables name each model.
LABELS: dict[str, str] = {
    BASE: "BASE",
    "esmm": "ESMM",
    "esmm_ns": "ESMM-NS",
    "esmm_chain": "v2 chain",
    "esmm_concat": "v3 concat",
    "aitm": "v4 AITM",
    "escm2_ips": "ESCM²-IPS",
    "escm2_dr": "ESCM²-DR",
    "dcmt": "DCMT",
    "shared_bottom": "Shared-Bottom",
    "omoe": "OMoE",
    "mmoe": "MMoE",
    "mmoe_2_layers": "MMoE, 2 layers",
    "ple": "PLE",
}


@dataclass
class Splits:
    """Train, validation and test frames of one data set, with its schema."""

    schema: Schema
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    ceiling: pd.DataFrame | None = field(default=None, repr=False)

    @classmethod
    def load(
        cls,
        folder: str | Path,
        steps: Sequence[str] | None = None,
        *,
        drop_inconsistent: bool = False,
    ) -> Splits:
        """Read and validate `train`, `valid`, `test` from a data folder.

        Args:
            folder: A folder in the project's layout, or the original project's
                (`info_v4.csv`, `embedding_number_v4.json`, `sample_*.csv`; see
                `data/README.md`).
            steps: Optionally, the first steps only (e.g. `("click", "apply")`). When the
                feature list does not mark them all as targets (the original project's
                list marks one), they name the funnel's label columns in funnel order.
            drop_inconsistent: Drop training, validation and test rows that reach a step
                without the one before (real logs have a few), with a warning.
        """
        schema = Schema.load(folder)
        if steps is not None and not set(steps) <= set(schema.steps):
            schema = Schema.load(folder, steps=steps)  # the labels named by the caller
        frames = {
            name: read_frame(split_path(folder, name), schema, drop_inconsistent=drop_inconsistent)
            for name in ("train", "valid", "test")
        }
        return cls.from_frames(schema, **frames, steps=steps)

    @classmethod
    def from_frames(
        cls,
        schema: Schema,
        train: pd.DataFrame,
        valid: pd.DataFrame,
        test: pd.DataFrame,
        steps: Sequence[str] | None = None,
    ) -> Splits:
        """Splits of in-memory frames (e.g. from `mtl_lib.synthetic`)."""
        if steps is not None:
            steps = tuple(steps)
            if steps != schema.steps[: len(steps)]:
                raise ValueError(f"steps must be the first steps of {schema.steps}, got {steps}")
            truth = [
                c
                for c in schema.truth
                if any(c == f"true_p_{s}" or c.startswith(f"true_p_{s}_given_") for s in steps)
            ]
            schema = schema.with_steps(steps, truth)
        splits = cls(schema, train, valid, test)
        if all(f"true_p_{s}" in test.columns for s in schema.steps):
            splits.ceiling = bayes_ceiling(test, schema)
        return splits

    @classmethod
    def from_generator(
        cls,
        generator: FunnelGenerator,
        seed: int,
        *,
        train_rows: int,
        valid_rows: int,
        test: pd.DataFrame,
    ) -> Splits:
        """One seed's splits of a synthetic world: rows of its own, and a shared test split.

        Seed s draws its training rows from the generator's row stream 2s and its
        validation rows from stream 2s + 1, so every seed trains on a fresh sample of the
        same world and no two seeds share a row. Every seed is judged on the same test
        rows: draw them once, from a stream no seed uses (`TEST_STREAM`), and pass them.

        Args:
            generator: The world, e.g. `mtl_lib.synthetic.FunnelGenerator(...)`.
            seed: The seed, 0 or more.
            train_rows: Training exposures to draw.
            valid_rows: Validation exposures to draw.
            test: The shared test split, e.g. `generator.sample(rows, TEST_STREAM)`.

        Raises:
            ValueError: if `seed` is negative or its streams would include `TEST_STREAM`.

        Example:
            >>> gen = mtl.synthetic.FunnelGenerator(("click", "purchase"))  # doctest: +SKIP
            >>> test = gen.sample(40_000, TEST_STREAM)  # doctest: +SKIP
            >>> splits = Splits.from_generator(
            ...     gen, 3, train_rows=30_000, valid_rows=6_000, test=test
            ... )  # doctest: +SKIP
        """
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if TEST_STREAM in (2 * seed, 2 * seed + 1):
            raise ValueError(
                f"seed {seed} would draw its rows from streams {2 * seed} and {2 * seed + 1}, "
                f"and stream {TEST_STREAM} holds the test split: choose another seed"
            )
        train = generator.sample(train_rows, stream=2 * seed)
        valid = generator.sample(valid_rows, stream=2 * seed + 1)
        return cls.from_frames(generator.schema, train, valid, test)


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
) -> pd.DataFrame:
    if not model.compiled:  # a model reused across seeds keeps its compiled functions
        train.compile_model(
            model,
            objective.losses,
            learning_rate=learning_rate,
            loss_weights=objective.loss_weights or None,
            jit_compile=jit_compile,
        )
    data = make_dataset(
        frame, schema, batch_size=batch_size, shuffle=True, seed=seed, validate=False
    )
    valid = (
        make_dataset(validation, schema, batch_size=8192, validate=False)
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
    )


def run(
    name: str,
    splits: Splits,
    *,
    seed: int = 0,
    epochs: int = 3,
    batch_size: int = 1024,
    learning_rate: float = train.DEFAULT_LEARNING_RATE,
    patience: int | None = None,
    validation: bool = False,
    only: Sequence[str] | None = None,
    strategy: tf.distribute.Strategy | None = None,
    reuse: dict | None = None,
    jit_compile: bool = False,
    validation_auc: bool = False,
    **build_kwargs,
) -> RunResult:
    """Train model `name` on `splits.train` and predict `splits.test`.

    Args:
        name: A key of `MODELS`, or `"base"`: one single-task model per step, the first on
            every exposure, each later one on the rows that reached the step before (the
            ESMM paper's BASE); its entire-space predictions are products of conditionals.
            Each of its later models takes as many gradient steps per epoch as the first
            (it repeats its smaller data), so that early stopping treats them alike. A
            model of `TWO_STEP` on a longer funnel learns its first and last step only.

        splits: The data.
        seed: Seeds the weights and the shuffling (`mtl_lib.train.set_seed`).
        epochs: Passes over the training split (the most, with `patience`).
        batch_size: Examples per training batch.
        learning_rate: Adam's learning rate.
        patience: Early stopping: stop when the validation loss has not improved for this
            many epochs and keep the best epoch's weights. Each of BASE's models stops on
            its own validation rows, so its small conditional models are trained as long as
            they keep improving rather than for a fixed number of passes.
        validation: Log validation losses per epoch (implied by `patience`).
        only: For BASE, train only the models of these steps (e.g. `("purchase",)` for
            the CVR model alone); its predictions then hold their conditional outputs, and
            reach probabilities only where every earlier step was trained too.
        strategy: A `tf.distribute` strategy to build, compile and train under (see
            `mtl_lib.train.train_model`); None trains on the default device.
        reuse: A dict kept across calls (as `run_seeds` does): a model of the same
            architecture trained before is then given this seed's initial weights and a
            fresh optimizer state instead of being built, compiled and traced anew. The
            result is bit for bit the same; only the tracing (seconds per model) is saved.
        jit_compile: Train with XLA (see `mtl_lib.train.compile_model`): faster steps,
            dearer compiling. Its numbers differ from the default path's in the last bits,
            which training carries into the 4th decimal.
        validation_auc: Also log each output's validation AUC per epoch in the history
            (`val_click_auc`, ...; see `mtl_lib.train.fit`). It costs a second forward
            pass over the validation split every epoch (about a tenth of a comparison's
            time), and a comparison judges on the test split, so it is off by default.
        **build_kwargs: Passed to the builder (e.g. `alpha`, `tower_units`).

    Returns:
        The predictions on the test split, the per-epoch history (for BASE, the sum of its
        models' losses), the number of parameters and the training examples per second.
    """
    schema = splits.schema
    valid = splits.valid if validation or patience is not None else None
    options = {
        "seed": seed,
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "patience": patience,
        "jit_compile": jit_compile,
        "validation_auc": validation_auc,
    }
    train.set_seed(seed)
    with train.scope(strategy):  # models built and compiled by the strategy, if any
        if name == BASE:
            return _run_base(splits, valid, options, build_kwargs, only, reuse)
        if only is not None:
            raise ValueError("`only` selects BASE's models; other models train every step")
        if name not in MODELS:
            raise ValueError(f"unknown model {name!r}; choose from {[BASE, *MODELS]}")
        steps = schema.steps
        if name in TWO_STEP and len(steps) > 2:
            steps = (steps[0], steps[-1])
        model = fresh_model(
            reuse,
            (name, _shape(schema), steps, _compiled_as(options), repr(build_kwargs)),
            lambda: MODELS[name](schema.with_steps(steps), **build_kwargs),
        )
        history = _train_one(
            model,
            splits.train,
            schema,
            objective=OBJECTIVES.get(name, losses.cross_entropy)(steps),
            validation=valid,
            **options,
        )
    predictions = train.predict(model, splits.test, schema)
    return RunResult(
        name,
        seed,
        predictions,
        history,
        model.count_params(),
        _throughput(history),
        [model],
        *_stopping([history], patience),
    )


def _stopping(histories: Sequence[pd.DataFrame], patience: int | None) -> tuple:
    """(epochs trained, best epoch, converged) over one run's models (see `RunResult`)."""
    epochs = max(len(h) for h in histories)
    if patience is None:
        return epochs, None, None
    best = [int(h["val_loss"].idxmin()) for h in histories]
    converged = all(b <= len(h) - patience for b, h in zip(best, histories, strict=True))
    return epochs, max(best), converged


def _run_base(
    splits: Splits,
    valid: pd.DataFrame | None,
    options: dict,
    build_kwargs: dict,
    only: Sequence[str] | None = None,
    reuse: dict | None = None,
) -> RunResult:
    schema, steps = splits.schema, splits.schema.steps
    wanted = steps if only is None else tuple(only)
    unknown = [s for s in wanted if s not in steps]
    if unknown:
        raise ValueError(f"no step {unknown[0]!r} in {steps}")
    # Every model takes as many gradient steps per epoch as one trained on every exposure,
    # so early stopping judges a small conditional model after as much training.
    full_epoch = -(-len(splits.train) // options["batch_size"])
    predictions, histories, fitted, examples, seconds = {}, {}, [], 0.0, 0.0
    reach = None
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
            (BASE, _shape(schema), output, _compiled_as(options), repr(build_kwargs)),
            partial(models.build_single_task, schema, output, **build_kwargs),
        )
        history = _train_one(
            model,
            frame,
            schema,
            objective=losses.Objective({output: "binary_crossentropy"}, {output: step}),
            validation=val,
            steps_per_epoch=full_epoch if t > 0 else None,
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
        options["seed"],
        predictions,
        history,
        params,
        examples / seconds,
        fitted,
        *_stopping(list(histories.values()), options["patience"]),
    )


def _compiled_as(options: dict) -> tuple:
    """What a model's compiled functions depend on among a run's options."""
    return options["learning_rate"], options["jit_compile"]


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
    learning_rate = optimizer._learning_rate  # a variable of the optimizer, kept as it is
    for variable in optimizer.variables:
        if variable is not learning_rate:
            variable.assign(tf.zeros(variable.shape, variable.dtype))
    return kept


def _throughput(history: pd.DataFrame) -> float:
    """Examples per second of the last epoch (the first one also pays for tracing)."""
    return float(history["examples_per_second"].iloc[-1])


def run_seeds(
    names: Iterable[str] | Mapping[str, Mapping],
    splits: Splits | Mapping[int, Splits] | Callable[[int], Splits],
    seeds: Sequence[int] = (0, 1, 2),
    *,
    keep: bool = False,
    reuse: dict | None = None,
    workers: int | Workers = 1,
    progress: bool = False,
    **kwargs,
) -> pd.DataFrame | tuple[pd.DataFrame, list[RunResult]]:
    """Run every model with every seed; return one tidy row per (model, seed, step).

    Args:
        names: Model names (see `run`), or model name → its own builder arguments.
        splits: The data, or seed → the data of that seed (each seed its own draw of
            training rows, e.g. from `Splits.from_generator`), as a mapping or as a
            function of the seed (e.g. a `functools.partial` of `Splits.from_generator`),
            called once per seed, when the seed's first run starts; worker processes
            are sent what it returns (cheaper than drawing 100,000 rows in each).
        seeds: One run per seed.
        keep: Also return the `RunResult`s (predictions, histories, models).
        reuse: The dict of traced models to reuse (see `run`); pass the same dict to
            several calls to share them across calls too. Default: a new one per call.
            Not with `workers` > 1 (each worker process keeps its own).
        workers: Processes that train at once, or a `Workers` pool kept across calls (so
            that its processes start and trace each architecture once). Each process
            takes the runs of the architectures it has traced first (see `_scheduled`).
            How much sooner two processes finish depends on the CPU: on some 2-core
            machines two runs at once get about 1.45 cores, on others (two vCPUs that
            share one core's vector units) about 1.1. Every run gives the numbers it
            gives alone (each seeds itself; see `run`), and the table comes back in the
            same order; the kept results then have no `models` (they stay in their
            process).
        progress: Print one line per run as it ends (model, seed, epochs, the test AUC
            of the last step), in the table's order whatever the workers.
        **kwargs: Passed to `run` for every model (epochs, batch size, builder arguments).

    Each architecture is built, compiled and traced once per process: its later seeds
    reuse the model with their own initial weights (see `run`'s `reuse`), which gives the
    same numbers. The kept results of one architecture therefore share their `models`,
    which hold the last seed's weights; predictions, histories and metrics are each
    seed's own.

    Returns:
        A frame with columns `model`, `seed`, `step`, the metrics of `evaluate_funnel`,
        `params`, `examples_per_second`, and `epochs`, `best_epoch` and `converged` (see
        `RunResult`); with `keep`, also the list of results. A
        two-step model on a longer funnel has rows for its two steps only, and a run that
        predicts no step (BASE with `only` a later step) has none: keep its result.
    """
    if not isinstance(names, Mapping):
        names = {name: {} for name in names}
    if isinstance(splits, Mapping):
        missing = [seed for seed in seeds if seed not in splits]
        if missing:
            raise ValueError(f"no splits for seeds {missing}; splits are for {list(splits)}")
    if not isinstance(workers, Workers) and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    jobs = [(name, seed, {**kwargs, **own}) for name, own in names.items() for seed in seeds]
    if workers == 1:
        reuse = {} if reuse is None else reuse
        per_seed = {seed: _of_seed(splits, seed) for seed in seeds}  # each drawn once
        outcomes = (
            _run_and_table(*job, splits=per_seed[job[1]], reuse=reuse, keep=keep) for job in jobs
        )
    else:
        if reuse is not None or kwargs.get("strategy") is not None:
            raise ValueError(
                "workers > 1 keeps traced models per process: pass no `reuse` and no `strategy`"
            )
        if isinstance(workers, Workers):
            outcomes = workers.run(jobs, splits, keep)
        else:
            outcomes = _in_processes(jobs, splits, keep, workers)
    tables, results = [], []
    for table, result in outcomes:
        tables.append(table)
        if keep:
            results.append(result)
        if progress:
            print(_progress_line(table))
    frame = pd.concat(tables, ignore_index=True)
    return (frame, results) if keep else frame


def _run_and_table(
    name: str, seed: int, kwargs: dict, *, splits: Splits, reuse: dict, keep: bool
) -> tuple[pd.DataFrame, RunResult | None]:
    """One run of `run_seeds`: its rows of the table and, with `keep`, its result."""
    result = run(name, splits, seed=seed, reuse=reuse, **kwargs)
    if any(step in result.predictions for step in splits.schema.steps):
        table = result.evaluate(splits).reset_index()
    else:  # e.g. BASE's model of one conditional step alone (`only`): no step to evaluate
        table = pd.DataFrame({"step": pd.Series(dtype=object)})
    table.insert(0, "seed", seed)
    table.insert(0, "model", name)
    table["params"] = result.params
    table["examples_per_second"] = result.examples_per_second
    table["epochs"] = result.epochs
    table["best_epoch"] = result.best_epoch
    table["converged"] = result.converged
    return table, (result if keep else None)


def _progress_line(table: pd.DataFrame) -> str:
    """`esmm_chain, seed 2: 3 epochs (best 2), test AUC activate 0.8412`."""
    last = table.iloc[-1]
    best = "" if pd.isna(last["best_epoch"]) else f" (best {int(last['best_epoch'])})"
    return (
        f"{last['model']}, seed {last['seed']}: {last['epochs']} epochs{best}, "
        f"test AUC {last['step']} {last['auc']:.4f}"
    )


def _of_seed(splits: Splits | Mapping[int, Splits] | Callable[[int], Splits], seed: int):
    """The data of one seed: `splits` itself, its entry for `seed`, or `splits(seed)`."""
    if isinstance(splits, Mapping):
        return splits[seed]
    return splits if isinstance(splits, Splits) else splits(seed)


#: A worker process's data and traced models (see `_in_processes`).
_WORKER: dict = {}


def _start_worker(splits: Splits | Mapping[int, Splits] | None) -> None:
    _WORKER.update(splits=splits, reuse={})


def _work(name: str, seed: int, kwargs: dict, keep: bool, splits=None) -> tuple:
    splits = _of_seed(_WORKER["splits"] if splits is None else splits, seed)
    table, result = _run_and_table(
        name, seed, kwargs, splits=splits, reuse=_WORKER["reuse"], keep=keep
    )
    if result is not None:  # Keras models stay in the worker; the rest is plain data
        result = dataclasses.replace(result, models=[])
    return table, result


def _spawned_process(splits: Splits | Mapping[int, Splits] | None) -> ProcessPoolExecutor:
    """One worker process, spawned (not forked: TensorFlow's threads do not survive a fork)."""
    return ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(splits,),
    )


def _architecture(job: tuple) -> tuple[str, str]:
    """What a job's traced model depends on: its model name and its arguments."""
    name, _, kwargs = job
    return name, repr(sorted(kwargs.items()))


def _scheduled(processes: list, traced: list[set], jobs: list, args: Callable) -> Iterator:
    """Each job's outcome in the jobs' order, jobs given to the processes by architecture.

    A process traces a model's functions once and reuses them for every later seed of the
    same architecture (see `run`'s `reuse`), so a free process takes, in this order: the
    next job of an architecture it has traced; else one of an architecture no other
    process has traced; else the next job. Fifty runs of ten architectures on two
    processes so trace each architecture about once instead of once per process. Which
    process runs a job does not change its numbers (each run seeds itself).

    Args:
        processes: One single-process executor per worker.
        traced: Per worker, the architectures it has traced (updated here).
        jobs: `(name, seed, kwargs)` tuples.
        args: Job → the arguments of `_work`.
    """
    keys = [_architecture(job) for job in jobs]
    pending, running, finished = list(range(len(jobs))), {}, {}
    idle, ahead = list(range(len(processes))), 0
    while ahead < len(jobs):
        while idle and pending:
            worker = idle.pop(0)
            others = set().union(*(t for w, t in enumerate(traced) if w != worker))
            mine = [i for i in pending if keys[i] in traced[worker]]
            new = [i for i in pending if keys[i] not in others]
            index = (mine or new or pending)[0]
            pending.remove(index)
            traced[worker].add(keys[index])
            future = processes[worker].submit(_work, *args(jobs[index]))
            running[future] = (worker, index)
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in done:
            worker, index = running.pop(future)
            idle.append(worker)
            finished[index] = future.result()  # a failed run raises here; no job starts after
        while ahead in finished:
            yield finished.pop(ahead)
            ahead += 1


def _sending(splits, keep: bool) -> Callable[[tuple], tuple]:
    """Job → `_work`'s arguments with the job's data, each seed's drawn once per call."""
    drawn: dict[int, Splits] = {}

    def args(job: tuple) -> tuple:
        seed = job[1]
        if seed not in drawn:
            drawn[seed] = _of_seed(splits, seed)
        return (*job, keep, drawn[seed])

    return args


def _in_processes(
    jobs: list, splits: Splits | Mapping[int, Splits] | Callable, keep: bool, workers: int
) -> Iterator[tuple]:
    """Each job in a pool of fresh processes; outcomes yielded in the jobs' order.

    The processes get the data once (a function of the seed is called here, once per seed,
    and its data sent with each job), and keep the models they traced for later jobs of
    the same architecture.
    """
    if callable(splits):
        shared, args = None, _sending(splits, keep)
    else:
        shared, args = splits, lambda job: (*job, keep)
    processes = [_spawned_process(shared) for _ in range(min(workers, len(jobs)))]
    try:
        yield from _scheduled(processes, [set() for _ in processes], jobs, args)
    finally:
        for process in processes:
            process.shutdown(cancel_futures=True)


class Workers:
    """Processes that train at once, kept across calls of `run_seeds`.

    `run_seeds(..., workers=2)` starts its processes for one call; a notebook that calls it
    for many cells of a sweep would pay for starting them, and for tracing each
    architecture in them, once per call. A `Workers` pool pays once: its processes start
    at its first run and keep the models they traced for every later run of the same
    architecture, until `close` (or the end of a `with` block, or of the program). Each job
    carries its own data. Every run gives the numbers it gives alone (each seeds itself;
    see `run`).

    Args:
        processes: How many runs train at once (see `run_seeds`' `workers`).

    Example:
        >>> with mtl.experiment.Workers(2) as workers:  # doctest: +SKIP
        ...     table = mtl.experiment.run_seeds(["esmm"], {0: a, 1: b}, (0, 1),
        ...                                      workers=workers)
    """

    def __init__(self, processes: int = 2) -> None:
        if processes < 2:
            raise ValueError(f"a Workers pool needs at least 2 processes, got {processes}")
        self.processes = processes
        self._pool: list[ProcessPoolExecutor] | None = None
        self._traced: list[set] = [set() for _ in range(processes)]
        self._closed = False

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Stop the processes (their traced models go with them)."""
        if self._pool is not None:
            for process in self._pool:
                process.shutdown(cancel_futures=True)
            self._pool = None
        self._closed = True

    def run(self, jobs: list, splits, keep: bool) -> Iterator[tuple]:
        """Each `(name, seed, kwargs)` job on its seed's data; outcomes in the jobs' order."""
        if self._closed:
            raise RuntimeError("this Workers pool is closed: make a new one")
        if self._pool is None:
            self._pool = [_spawned_process(None) for _ in range(self.processes)]
            for process in self._pool:
                weakref.finalize(self, process.shutdown, cancel_futures=True)
        return _scheduled(self._pool, self._traced, jobs, _sending(splits, keep))


def summarize(table: pd.DataFrame, metric: str, *, digits: int = 4) -> pd.DataFrame:
    """`mean ± std` over seeds of one metric: a row per model, a column per step.

    A step where a model has no value (NaN) is left NaN, and a model with no value at any
    step (e.g. BASE's pCVR metrics) has no row.
    """
    grouped = table.groupby(["model", "step"], sort=False)[metric]
    stats = grouped.agg(["mean", "std"]).reset_index()
    stats["value"] = [
        np.nan if np.isnan(m) else f"{m:.{digits}f} ± {s:.{digits}f}"
        for m, s in zip(stats["mean"], stats["std"].fillna(0.0), strict=True)
    ]
    wide = stats.pivot(index="model", columns="step", values="value").reindex(
        index=list(dict.fromkeys(table["model"])), columns=list(dict.fromkeys(table["step"]))
    )
    return wide.dropna(how="all")  # a model without this metric at any step has no row


def markdown_table(frame: pd.DataFrame) -> str:
    """`frame` as a GitHub markdown table, its index as the first column."""
    header = [frame.index.name or "", *frame.columns]
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, [i, *row])) + " |" for i, row in frame.iterrows()]
    return "\n".join(lines)
