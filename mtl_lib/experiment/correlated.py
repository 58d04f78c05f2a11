"""One run of the MMoE paper's synthetic experiment, trained to early stopping.

`run_seeds` trains the funnel's models by name on `Splits`; the paper's correlated
regression tasks (`mtl_lib.synthetic.CorrelatedTasks`) have other data and other losses, so
they get their own run, `correlated_run`, callable in this process or, through
`Workers.map`, in two at once:

    build = functools.partial(mtl.models.build_mmoe, 100, num_experts=8, expert_units=(16,))
    with mtl.experiment.Workers(2) as workers:
        runs = workers.map(mtl.experiment.correlated_run, [(build, 0.5, r) for r in range(3)])

Each process keeps one traced model per builder and the rows it drew per correlation, so a
later run of the same builder only resets its weights (`fresh_model`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from mtl_lib import synthetic, train
from mtl_lib.experiment.runs import fresh_model
from mtl_lib.models import gate_name

#: Row streams of `CorrelatedTasks.sample`: training, test and validation rows.
TRAIN_STREAM, TEST_STREAM, VALID_STREAM = 0, 1, 3

#: This process's traced models (builder → model) and drawn rows (see `correlated_run`).
_TRACED: dict = {}
_ROWS: dict = {}


@dataclass
class CorrelatedRun:
    """What `correlated_run` returns: one run's curves, test loss and gates."""

    history: pd.DataFrame
    """One row per epoch: `loss` and `val_loss` (the sum of both tasks' mean squared errors)."""
    test_loss: float
    """The sum of both tasks' mean squared errors on the test rows, at the best epoch."""
    gates: np.ndarray | None
    """`(rows, 2, experts)`: each test row's gate weights per task; None without gates."""

    @property
    def epochs(self) -> int:
        """Epochs trained (the best epoch's weights are the ones kept)."""
        return len(self.history)


def correlated_run(
    build: Callable[[], keras.Model],
    correlation: float,
    run: int,
    *,
    seed: int = 2018,
    rows: tuple[int, int, int] = (20_000, 5_000, 10_000),
    batch_size: int = 256,
    learning_rate: float = 0.005,
    epochs: int = 200,
    patience: int | None = 3,
) -> CorrelatedRun:
    """Train one model on two tasks of cosine `correlation`; score it on the test rows.

    The rows come from `CorrelatedTasks(seed=seed)`: training, validation and test rows from
    streams `TRAIN_STREAM`, `VALID_STREAM` and `TEST_STREAM`, the same for every model and
    run at one correlation. The run seeds everything with `seed + run` (weights and batch
    order), so run r of every model sees the same batches. With `patience`, training stops
    when the validation loss has not improved for that many epochs and keeps the best
    epoch's weights; `epochs` is then the most.

    Args:
        build: Builds the model under the current seed: one dense input `x` and outputs
            `task_1`, `task_2` (and their gates), e.g. a `functools.partial` of
            `mtl_lib.models.build_mmoe` (picklable, for `Workers.map`).
        correlation: p, the cosine of the two tasks' weight vectors.
        run: The run's number r.
        seed: The data's seed; the run's is `seed + run`.
        rows: Training, validation and test rows.
        batch_size: Training batch size.
        learning_rate: Adam's learning rate.
        epochs: Passes over the training rows (the most, with `patience`).
        patience: Early stopping on the validation loss; None trains `epochs` passes.
    """
    x_train, y_train, x_valid, y_valid, x_test, y_test = _rows(seed, correlation, rows)
    train.set_seed(seed + run)
    batches = synthetic.regression_dataset(
        x_train, y_train, batch_size=batch_size, shuffle=True, seed=seed + run
    )
    valid = synthetic.regression_dataset(x_valid, y_valid, batch_size=len(x_valid))
    key = (repr(build), learning_rate)  # by value: each job's builder arrives unpickled anew
    model = fresh_model(_TRACED, key, build)  # this run's initial weights
    if not model.compiled:
        train.compile_model(
            model, dict.fromkeys(synthetic.mmoe.TASKS, "mse"), learning_rate=learning_rate
        )
    history = train.fit(
        model,
        batches,
        validation=valid if patience is not None else None,
        epochs=epochs,
        patience=patience,
        validation_auc=False,
    )
    pred = {k: np.asarray(v) for k, v in model({"x": x_test}, training=False).items()}
    tasks = synthetic.mmoe.TASKS
    test_loss = sum(np.mean((pred[t][:, 0] - y_test[:, k]) ** 2) for k, t in enumerate(tasks))
    keys = [gate_name(task) for task in tasks]
    gates = np.stack([pred[k] for k in keys], axis=1) if keys[0] in pred else None
    curves = history.filter(["loss", "val_loss"]).reset_index(drop=True)
    return CorrelatedRun(curves, float(test_loss), gates)


def _rows(seed: int, correlation: float, rows: tuple[int, int, int]) -> tuple:
    """Training, validation and test `(x, y)` of one correlation, drawn once per process."""
    key = (seed, float(correlation), tuple(rows))
    if key not in _ROWS:
        generator = synthetic.CorrelatedTasks(seed=seed)
        n_train, n_valid, n_test = rows
        _ROWS[key] = (
            *generator.sample(n_train, correlation, stream=TRAIN_STREAM),
            *generator.sample(n_valid, correlation, stream=VALID_STREAM),
            *generator.sample(n_test, correlation, stream=TEST_STREAM),
        )
    return _ROWS[key]
