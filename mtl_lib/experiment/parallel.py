"""Many runs, over models and seeds, in one process or in several at once: `run_seeds`.

table, _ = mtl.experiment.run_seeds(["esmm_chain", "aitm"], splits, seeds=[0, 1, 2])
with mtl.experiment.Workers(2) as workers:  # processes kept across calls
    table = mtl.experiment.run_seeds(["esmm"], per_seed_splits, (0, 1), workers=workers).table
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import operator
import weakref
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import NamedTuple

import pandas as pd

from mtl_lib.datasets.splits import Splits
from mtl_lib.experiment.runs import RunResult, run


class SeedRuns(NamedTuple):
    """What `run_seeds` returns: `table, runs = run_seeds(...)`, or `.table` alone."""

    table: pd.DataFrame
    """One tidy row per (model, seed, step)."""
    runs: list[RunResult]
    """Each run's result, in the table's order; empty unless `run_seeds(keep=True)`."""


def run_seeds(
    names: Iterable[str] | Mapping[str, Mapping],
    splits: Splits | Mapping[int, Splits] | Callable[[int], Splits],
    seeds: Sequence[int] = (0, 1, 2),
    *,
    keep: bool = False,
    reuse: dict | None = None,
    workers: int | Workers = 1,
    progress: bool | str = False,
    **kwargs,
) -> SeedRuns:
    """Run every model with every seed; return one tidy row per (model, seed, step).

    Args:
        names: Model names (see `run`), or model name → its own builder arguments.
        splits: The data, or seed → the data of that seed (each seed its own draw of
            training rows, e.g. from `Splits.from_generator`), as a mapping or as a
            function of the seed (e.g. a `functools.partial` of `Splits.from_generator`),
            called once per seed, when the seed's first run starts; worker processes
            are sent what it returns (cheaper than drawing 100,000 rows in each).
        seeds: One run per seed.
        keep: Also keep the `RunResult`s (predictions, histories, models) in `runs`.
        reuse: The dict of traced models to reuse (see `run`); pass the same dict to
            several calls to share them across calls too. Default: a new one per call.
            Not with `workers` > 1 (each worker process keeps its own).
        workers: Processes that train at once, or a `Workers` pool kept across calls (so
            that its processes start and trace each architecture once). Each process
            takes the runs of the architectures it has traced first (see `_scheduled`).
            How much sooner two processes finish depends on the CPU (the README's
            *Where the time goes* has measurements). Every run gives the numbers it
            gives alone (each seeds itself; see `run`), and the table comes back in the
            same order; the kept results then have no `models` (they stay in their
            process).
        progress: Print one line per run as it ends (model, seed, epochs, the test AUC
            of the last step), in the table's order whatever the workers. A string is
            printed in place of the model's name: the label of a registered model trained
            at other sizes (`"MMoE, deep experts"` for `mmoe` with deeper experts).
        **kwargs: Passed to `run` for every model (epochs, batch size, builder arguments).

    Each architecture is built, compiled and traced once per process: its later seeds
    reuse the model with their own initial weights (see `run`'s `reuse`), which gives the
    same numbers. The kept results of one architecture therefore share their `models`,
    which hold the last seed's weights; predictions, histories and metrics are each
    seed's own.

    Returns:
        `SeedRuns(table, runs)`, whatever `keep`: `table` a frame with columns `model`,
        `seed`, `step`, the metrics of `evaluate_funnel`, `params`, `examples_per_second`,
        and `epochs`, `best_epoch` and `converged` (see `RunResult`), and with `run`'s
        `also_select_on` a column `selected_on` and a second row set per run, the same
        training judged by the other rule (`RunResult.alternative`); `runs` the results,
        in the table's order, with `keep` (else empty). A
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
            print(_progress_line(table, progress if isinstance(progress, str) else None))
    frame = pd.concat(tables, ignore_index=True)
    return SeedRuns(frame, results)


def _run_and_table(
    name: str, seed: int, kwargs: dict, *, splits: Splits, reuse: dict, keep: bool
) -> tuple[pd.DataFrame, RunResult | None]:
    """One run of `run_seeds`: its rows of the table and, with `keep`, its result."""
    result = run(name, splits, seed=seed, reuse=reuse, **kwargs)
    table = _rows(name, seed, result, splits)
    if result.alternative is not None:  # one training judged by two rules: a row set each
        table["selected_on"] = result.selected_on
        alternative = _rows(name, seed, result.alternative, splits)
        alternative["selected_on"] = result.alternative.selected_on
        table = pd.concat([table, alternative], ignore_index=True)
    return table, (result if keep else None)


def _rows(name: str, seed: int, result: RunResult, splits: Splits) -> pd.DataFrame:
    """One result's rows of `run_seeds`'s table."""
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
    return table


def _progress_line(table: pd.DataFrame, label: str | None = None) -> str:
    """`esmm_chain, seed 2: 3 epochs (best 2), test AUC activate 0.8412` (`label` for the name)."""
    last = table.iloc[-1]
    best = "" if pd.isna(last["best_epoch"]) else f" (best {int(last['best_epoch'])})"
    return (
        f"{label or last['model']}, seed {last['seed']}: {last['epochs']} epochs{best}, "
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


def _scheduled(
    processes: list, traced: list[set], keys: list, call: Callable[[int], tuple]
) -> Iterator:
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
        keys: Each job's architecture.
        call: Job index → `(function, *arguments)`, called when the job is submitted (so
            that data drawn for it is drawn then, not all up front).
    """
    jobs = range(len(keys))
    pending, running, finished = list(jobs), {}, {}
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
            future = processes[worker].submit(*call(index))
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
    keys = [_architecture(job) for job in jobs]
    try:
        yield from _scheduled(
            processes, [set() for _ in processes], keys, lambda i: (_work, *args(jobs[i]))
        )
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
        ...     table, _ = mtl.experiment.run_seeds(["esmm"], {0: a, 1: b}, (0, 1),
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
        args = _sending(splits, keep)
        keys = [_architecture(job) for job in jobs]
        return _scheduled(self._started(), self._traced, keys, lambda i: (_work, *args(jobs[i])))

    def map(
        self,
        function: Callable,
        jobs: Sequence[tuple],
        *,
        key: Callable[[tuple], Hashable] = operator.itemgetter(0),
    ) -> list:
        """`[function(*job) for job in jobs]`, the calls spread over the pool's processes.

        For runs that `run_seeds` cannot express (e.g. `correlated_run`, the MMoE paper's
        synthetic regression tasks). Each process keeps what `function` keeps between calls
        (its traced models), and a free process takes, first, the next job whose `key` it
        has seen (see `_scheduled`).

        Args:
            function: A module-level function, or a `functools.partial` of one (processes
                are spawned: it is imported there by name, so not a lambda or a function
                defined in a notebook).
            jobs: Each call's positional arguments, picklable.
            key: Job → what a traced model depends on (default: the job's first item).

        Returns:
            The calls' results, in the jobs' order. A call that raises raises here.
        """
        keys = [key(job) for job in jobs]
        return list(_scheduled(self._started(), self._traced, keys, lambda i: (function, *jobs[i])))

    def _started(self) -> list[ProcessPoolExecutor]:
        if self._closed:
            raise RuntimeError("this Workers pool is closed: make a new one")
        if self._pool is None:
            self._pool = [_spawned_process(None) for _ in range(self.processes)]
            for process in self._pool:
                weakref.finalize(self, process.shutdown, cancel_futures=True)
        return self._pool
