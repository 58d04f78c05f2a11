"""`correlated_run`, the MMoE paper's synthetic runs, and `Workers.map`, which spreads them."""

from functools import partial

import numpy as np
import pytest

import mtl_lib as mtl

DIM = mtl.synthetic.CorrelatedTasks().dim
SMALL = {"rows": (1_000, 300, 400), "batch_size": 128, "epochs": 3, "patience": None}
MMOE = partial(mtl.models.build_mmoe, DIM, num_experts=4, expert_units=(8,))
SHARED_BOTTOM = partial(mtl.models.build_shared_bottom, DIM, bottom_units=(16,))


def _same(a, b):
    assert a.test_loss == b.test_loss
    np.testing.assert_array_equal(a.history.to_numpy(), b.history.to_numpy())
    if a.gates is None:
        assert b.gates is None
    else:
        np.testing.assert_array_equal(a.gates, b.gates)


def test_a_run_is_its_seed_and_a_reused_model_trains_as_a_new_one():
    first = mtl.experiment.correlated_run(MMOE, 0.5, 0, **SMALL)
    other = mtl.experiment.correlated_run(MMOE, 0.5, 1, **SMALL)  # reuses the traced model
    again = mtl.experiment.correlated_run(MMOE, 0.5, 0, **SMALL)
    _same(first, again)
    assert other.test_loss != first.test_loss
    assert first.epochs == 3 and list(first.history.columns) == ["loss"]
    assert first.gates.shape == (400, 2, 4)  # (rows, tasks, experts)
    fresh = partial(mtl.models.build_mmoe, DIM, num_experts=4, expert_units=(8,))
    mtl.experiment.correlated._TRACED.clear()  # a newly built, newly traced model
    _same(first, mtl.experiment.correlated_run(fresh, 0.5, 0, **SMALL))


def test_early_stopping_keeps_the_best_epoch_and_logs_validation():
    result = mtl.experiment.correlated_run(
        SHARED_BOTTOM, 1.0, 0, **{**SMALL, "epochs": 40, "patience": 1}
    )
    assert list(result.history.columns) == ["loss", "val_loss"]
    assert result.epochs < 40  # stopped early
    assert result.history["val_loss"].idxmin() == result.epochs - 2  # best, then one worse
    assert result.gates is None  # a Shared-Bottom has no gates
    # the weights kept are the best epoch's: they score as a run that ended there
    best = mtl.experiment.correlated_run(
        SHARED_BOTTOM, 1.0, 0, **{**SMALL, "epochs": result.epochs - 1}
    )
    last = mtl.experiment.correlated_run(
        SHARED_BOTTOM, 1.0, 0, **{**SMALL, "epochs": result.epochs}
    )
    assert result.test_loss == best.test_loss != last.test_loss


@pytest.mark.slow
def test_workers_map_gives_each_call_in_order_as_one_process_does():
    jobs = [(MMOE, 0.5, 0), (SHARED_BOTTOM, 0.5, 0), (MMOE, 0.5, 1), (MMOE, 1.0, 0)]
    alone = [mtl.experiment.correlated_run(*job, **SMALL) for job in jobs]
    with mtl.experiment.Workers(2) as workers:
        spread = workers.map(partial(mtl.experiment.correlated_run, **SMALL), jobs)
        assert workers.map(divmod, [(7, 2), (9, 4)], key=lambda job: job) == [(3, 1), (2, 1)]
    for a, b in zip(alone, spread, strict=True):
        _same(a, b)


@pytest.mark.slow
def test_workers_map_raises_a_calls_error():
    with mtl.experiment.Workers(2) as workers, pytest.raises(ZeroDivisionError):
        workers.map(divmod, [(1, 1), (1, 0)], key=lambda job: job)
