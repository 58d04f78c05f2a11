"""The experiment runner: BASE's selection, reproducibility, tidy results."""

import concurrent.futures
import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mtl_lib as mtl


@pytest.fixture(scope="module")
def splits(small_splits):
    return small_splits(("click", "purchase"), seed=3)


def test_same_seed_same_predictions(splits):
    a = mtl.experiment.run("esmm", splits, seed=5, epochs=1, batch_size=256)
    b = mtl.experiment.run("esmm", splits, seed=5, epochs=1, batch_size=256)
    for key in a.predictions:
        np.testing.assert_array_equal(a.predictions[key], b.predictions[key])


def test_base_trains_its_cvr_model_on_clicked_rows_only(splits, monkeypatch):
    seen = {}
    train_one = mtl.experiment.runs._train_one

    def spy(model, frame, schema, *, validation, **kwargs):
        seen[model.name] = (frame, validation)
        return train_one(model, frame, schema, validation=validation, **kwargs)

    monkeypatch.setattr(mtl.experiment.runs, "_train_one", spy)
    result = mtl.experiment.run("base", splits, seed=0, epochs=1, batch_size=256, patience=1)
    assert set(result.predictions) == {"click", "purchase", "purchase_given_click"}
    np.testing.assert_allclose(
        result.predictions["purchase"],
        result.predictions["click"] * result.predictions["purchase_given_click"],
        rtol=1e-6,
    )
    ctr_rows, ctr_valid = seen["base_click"]
    cvr_rows, cvr_valid = seen["base_purchase_given_click"]
    assert ctr_rows.equals(splits.train) and ctr_valid.equals(splits.valid)  # every exposure
    clicked = splits.train[splits.train["click"] == 1]
    assert cvr_rows.equals(clicked) and 0 < len(cvr_rows) < len(splits.train)
    assert cvr_valid.equals(splits.valid[splits.valid["click"] == 1])


def test_run_seeds_is_tidy(splits):
    table, runs = mtl.experiment.run_seeds(
        ["esmm", "base"], splits, seeds=[0, 1], epochs=1, batch_size=512
    )
    assert runs == []  # kept only on request (keep=True)
    assert len(table) == 2 * 2 * 2
    assert {
        "model",
        "seed",
        "step",
        "auc",
        "conditional_auc",
        "gap_closed",
        "unreached_spearman",
        "params",
        "examples_per_second",
    } <= set(table.columns)
    summary = mtl.experiment.summarize(table, "auc")
    assert list(summary.index) == ["esmm", "base"]
    assert summary.loc["esmm", "click"].count("±") == 1


def test_results_file_is_the_same_bytes_for_the_same_results(splits, tmp_path):
    table, _ = mtl.experiment.run_seeds(["esmm"], splits, seeds=[0], epochs=1, batch_size=512)
    again, _ = mtl.experiment.run_seeds(["esmm"], splits, seeds=[0], epochs=1, batch_size=512)
    first = mtl.experiment.save_results(table, tmp_path / "a" / "results.csv")
    second = mtl.experiment.save_results(again, tmp_path / "b.csv")
    assert first.read_bytes() == second.read_bytes()  # timing left out: same seed, same file
    loaded = mtl.experiment.load_results(first)
    assert "examples_per_second" not in loaded and len(loaded) == len(table)
    assert list(loaded.columns) == [c for c in table.columns if c != "examples_per_second"]
    for column in ("auc", "gap_closed", "ece", "params", "epochs"):
        np.testing.assert_allclose(loaded[column], table[column], rtol=5e-6)
    assert (loaded["model"] == table["model"]).all() and (loaded["step"] == table["step"]).all()


def test_results_files_refuse_what_they_cannot_say(tmp_path, monkeypatch):
    table = pd.DataFrame(
        {"model": ["a", "a"], "seed": [0, 0], "step": ["click"] * 2, "auc": [0.6, 0.7]}
    )
    repeated = r"1 repeated \(model, seed, step\) rows, first \{'model': 'a'"
    with pytest.raises(ValueError, match=repeated):
        mtl.experiment.save_results(table, tmp_path / "x.csv")
    with pytest.raises(ValueError, match=r"no column \['seed'\]"):
        mtl.experiment.save_results(table.drop(columns="seed"), tmp_path / "x.csv")
    with pytest.raises(FileNotFoundError, match=r"missing.csv: no results file"):
        mtl.experiment.load_results(tmp_path / "missing.csv")
    monkeypatch.setenv("MTL_RESULTS", str(tmp_path / "elsewhere"))
    assert mtl.experiment.results_folder() == tmp_path / "elsewhere"
    monkeypatch.delenv("MTL_RESULTS")
    assert mtl.experiment.results_folder() == Path(mtl.__file__).parents[1] / "results"  # a clone


def test_unknown_model(splits):
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        mtl.experiment.run("nope", splits)


def test_steps_prefix(splits):
    with pytest.raises(ValueError, match="first steps"):
        mtl.experiment.Splits.from_frames(
            splits.schema, splits.train, splits.valid, splits.test, steps=("purchase",)
        )


def test_base_only_trains_the_chosen_models(splits):
    result = mtl.experiment.run(
        "base", splits, seed=0, epochs=1, batch_size=512, only=("purchase",)
    )
    assert set(result.predictions) == {"purchase_given_click"}
    assert len(result.models) == 1
    with pytest.raises(ValueError, match="selects BASE's models"):
        mtl.experiment.run("esmm", splits, only=("purchase",))
    with pytest.raises(ValueError, match="no step 'buy'"):
        mtl.experiment.run("base", splits, only=("buy",))


def test_base_later_models_take_a_full_epoch_of_steps(splits):
    result = mtl.experiment.run("base", splits, seed=0, epochs=2, batch_size=500)
    click_model, cvr_model = result.models
    steps_per_epoch = -(-len(splits.train) // 500)
    assert int(click_model.optimizer.iterations) == 2 * steps_per_epoch
    assert int(cvr_model.optimizer.iterations) == 2 * steps_per_epoch


def test_early_stopping_keeps_the_best_epoch(splits):
    result = mtl.experiment.run("esmm", splits, seed=0, epochs=6, patience=1, batch_size=256)
    losses = result.history["val_loss"].to_numpy()
    assert losses.argmin() >= len(losses) - 2  # stopped one epoch after the best
    assert result.epochs == len(losses) and result.best_epoch == losses.argmin() + 1
    assert result.best_epoch < result.epochs  # so the last epoch's weights are not the best
    # the weights kept are the best epoch's: they predict as a run that ended there
    best = mtl.experiment.run("esmm", splits, seed=0, epochs=result.best_epoch, batch_size=256)
    last = mtl.experiment.run("esmm", splits, seed=0, epochs=result.epochs, batch_size=256)
    for key, p in result.predictions.items():
        np.testing.assert_allclose(p, best.predictions[key], rtol=1e-6, err_msg=key)
        assert not np.allclose(p, last.predictions[key], rtol=1e-6), key


@pytest.mark.parametrize("name", ["esmm", "base"])
def test_a_run_knows_whether_early_stopping_or_the_cap_ended_it(splits, name):
    capped = mtl.experiment.run(name, splits, seed=0, epochs=1, patience=1, batch_size=256)
    assert capped.epochs == 1 and capped.converged is False  # no epoch after the best
    free = mtl.experiment.run(name, splits, seed=0, epochs=40, patience=1, batch_size=256)
    assert free.converged is True and free.epochs < 40
    # BASE: each model stops one epoch after its own best; the best of the longest is kept
    assert free.best_epoch == free.epochs - 1
    table = mtl.experiment.run_seeds(
        [name], splits, seeds=[0], epochs=1, patience=1, batch_size=256
    ).table
    assert not table["converged"].any() and (table["epochs"] == 1).all()
    plain = mtl.experiment.run(name, splits, seed=0, epochs=1, batch_size=256)
    assert plain.converged is None and plain.best_epoch is None


@pytest.fixture(scope="module")
def three_steps(small_splits):
    return small_splits(("click", "apply", "approve"), seed=4)


def test_two_step_model_learns_the_first_and_last_step_of_a_longer_funnel(three_steps):
    result = mtl.experiment.run("esmm", three_steps, seed=0, epochs=1, batch_size=512)
    assert set(result.predictions) == {"click", "approve", "approve_given_click"}
    table = result.evaluate(three_steps)
    assert list(table.index) == ["click", "approve"]  # no output for `apply`, no row
    assert np.isnan(table.loc["approve", "conditional_auc"])  # its previous step is unknown
    # ESMM's own order holds by construction; check what the order is checked against:
    # the click, the last step predicted before approve. Put half the rows out of order.
    click = result.predictions["click"]
    half = np.arange(len(click)) < len(click) // 2
    crossed = {"click": click, "approve": np.where(half, click * 1.5, click * 0.5)}
    table = mtl.metrics.evaluate_funnel(crossed, three_steps.test, three_steps.schema)
    assert table.loc["approve", "order_violation"] == pytest.approx(half.mean())


def test_run_seeds_takes_arguments_per_model(three_steps):
    table = mtl.experiment.run_seeds(
        {"esmm_chain": {"tower_units": (4,)}, "mmoe": {}},
        three_steps,
        seeds=[0],
        epochs=1,
        batch_size=1024,
    ).table
    params = table.groupby("model")["params"].first()
    fields = len(three_steps.schema.vocabulary_sizes)
    embedding = sum(three_steps.schema.vocabulary_sizes.values()) * 8  # 8 dimensions per id
    per_step = (fields * 8 * 4 + 4) + (4 + 1)  # a tower of 4 units, then a logistic head
    assert params["esmm_chain"] == embedding + 3 * per_step
    assert params["mmoe"] == mtl.experiment.MODELS["mmoe"](three_steps.schema).count_params()
    assert set(table["step"]) == {"click", "apply", "approve"}


def test_every_registered_model_predicts_every_step(three_steps):
    """Builders only: `run` trains every model alike, and each family has its training tests."""
    rows = three_steps.test.head(100)
    for name, build in mtl.experiment.MODELS.items():
        if name in mtl.experiment.TWO_STEP:  # (every variant is two-step)
            continue
        predictions = mtl.train.predict(build(three_steps.schema), rows, three_steps.schema)
        for step in three_steps.schema.steps:
            assert predictions[step].shape == (100,), name
            assert ((predictions[step] > 0) & (predictions[step] < 1)).all(), name
        assert name in mtl.experiment.LABELS


def test_registered_sizes_are_comparable_on_the_shipped_funnel():
    """The registry's claim: 55k-70k parameters above the embedding (ESMM's towers: 30k)."""
    schema = mtl.data.Schema.load(Path(__file__).resolve().parents[1] / "data" / "funnel")
    embedding = sum(schema.vocabulary_sizes.values()) * 8
    for name, build in mtl.experiment.MODELS.items():
        if name == "esmm_ns" or mtl.experiment.REGISTRY[name].variant_of:  # ablation; variants
            continue
        steps = schema.steps if name not in mtl.experiment.TWO_STEP else ("click", "activate")
        above = build(schema.with_steps(steps)).count_params() - embedding
        low, high = (25_000, 35_000) if name in mtl.experiment.TWO_STEP else (55_000, 70_000)
        if name.startswith(("escm2_dr", "dcmt")):  # ESMM's two towers and a third
            low, high = 40_000, 50_000
        assert low <= above <= high, (name, above)


def test_evaluate_needs_a_step(splits):
    with pytest.raises(ValueError, match="none of the steps"):
        mtl.metrics.evaluate_funnel({"x": np.zeros(3)}, splits.test, splits.schema)


@pytest.mark.parametrize("name", ["esmm", "base"])
def test_run_seeds_reuses_one_traced_model_and_gives_the_fresh_runs_numbers(splits, name):
    kwargs = {"epochs": 2, "patience": 1, "batch_size": 512}
    _, reused = mtl.experiment.run_seeds([name], splits, seeds=[3, 4], keep=True, **kwargs)
    assert all(a is b for a, b in zip(reused[0].models, reused[1].models, strict=True))
    for result in reused:
        fresh = mtl.experiment.run(name, splits, seed=result.seed, **kwargs)
        assert fresh.predictions.keys() == result.predictions.keys()
        for key in fresh.predictions:
            np.testing.assert_array_equal(fresh.predictions[key], result.predictions[key])
        pd.testing.assert_frame_equal(
            fresh.history.drop(columns=fresh.history.filter(like="second").columns),
            result.history.drop(columns=result.history.filter(like="second").columns),
        )


def test_progress_prints_a_label_in_place_of_the_model_name(splits, capsys):
    kwargs = {"seeds": [0], "epochs": 1, "batch_size": 512}
    mtl.experiment.run_seeds(
        ["mmoe"], splits, progress="MMoE, deep experts", expert_units=(8, 4), **kwargs
    )
    line = capsys.readouterr().out.strip()
    assert line.startswith("MMoE, deep experts, seed 0: 1 epochs, test AUC purchase ")
    mtl.experiment.run_seeds(["mmoe"], splits, progress=True, **kwargs)
    assert capsys.readouterr().out.startswith("mmoe, seed 0: ")


@pytest.mark.slow
def test_workers_give_the_one_process_table_in_its_order(splits, capsys):
    kwargs = {"seeds": [0, 1], "epochs": 2, "batch_size": 512, "patience": 1, "progress": True}
    alone, kept_alone = mtl.experiment.run_seeds(["esmm", "base"], splits, keep=True, **kwargs)
    lines_alone = capsys.readouterr().out
    table, kept = mtl.experiment.run_seeds(["esmm", "base"], splits, keep=True, workers=2, **kwargs)
    assert capsys.readouterr().out == lines_alone  # progress in the table's order
    assert lines_alone.splitlines()[0].startswith("esmm, seed 0: ")
    assert len(lines_alone.splitlines()) == 4
    pd.testing.assert_frame_equal(
        table.drop(columns="examples_per_second"), alone.drop(columns="examples_per_second")
    )
    for a, b in zip(kept, kept_alone, strict=True):
        assert (a.name, a.seed, a.models) == (b.name, b.seed, [])  # models stay in workers
        for key in b.predictions:
            np.testing.assert_array_equal(a.predictions[key], b.predictions[key])


@pytest.mark.slow
def test_a_workers_pool_runs_each_seed_on_its_own_splits_as_one_process_does(splits):
    gen = mtl.synthetic.FunnelGenerator(("click", "purchase"), seed=3)
    own = {
        seed: mtl.experiment.Splits.from_frames(
            gen.schema, gen.sample(3_000, stream=10 + seed), splits.valid, splits.test
        )
        for seed in (0, 1)
    }
    kwargs = {"seeds": [0, 1], "epochs": 2, "batch_size": 512, "patience": 1, "keep": True}
    names = {"base": {"only": ("purchase",)}, "esmm": {}}
    alone, kept_alone = mtl.experiment.run_seeds(names, own, **kwargs)
    with mtl.experiment.Workers(2) as workers:
        table, kept = mtl.experiment.run_seeds(names, own, workers=workers, **kwargs)
        again, _ = mtl.experiment.run_seeds(["esmm"], splits, seeds=[0], workers=workers, epochs=1)
    pd.testing.assert_frame_equal(
        table.drop(columns="examples_per_second"), alone.drop(columns="examples_per_second")
    )
    for a, b in zip(kept, kept_alone, strict=True):
        for key in b.predictions:
            np.testing.assert_array_equal(a.predictions[key], b.predictions[key])
    one = mtl.experiment.run_seeds(["esmm"], splits, seeds=[0], epochs=1).table
    pd.testing.assert_frame_equal(
        again.drop(columns="examples_per_second"), one.drop(columns="examples_per_second")
    )
    # the two seeds' data differ, and so do their runs: each ran on its own splits
    assert not np.array_equal(kept[2].predictions["click"], kept[3].predictions["click"])


@pytest.mark.slow
def test_workers_draw_each_seeds_data_from_a_function_of_the_seed(splits):
    gen = mtl.synthetic.FunnelGenerator(("click", "purchase"), seed=3)
    draw = functools.partial(
        mtl.experiment.Splits.from_generator,
        gen,
        train_rows=3_000,
        valid_rows=1_000,
        test=splits.test,
    )
    kwargs = {"seeds": [1, 2], "epochs": 1, "batch_size": 512}
    drawn = mtl.experiment.run_seeds(["esmm"], {s: draw(s) for s in (1, 2)}, **kwargs).table
    alone = mtl.experiment.run_seeds(["esmm"], draw, **kwargs).table
    with mtl.experiment.Workers(2) as workers:
        pooled, _ = mtl.experiment.run_seeds(["esmm", "esmm_ns"], draw, workers=workers, **kwargs)
    for table in (alone, pooled[pooled["model"] == "esmm"].reset_index(drop=True)):
        pd.testing.assert_frame_equal(
            table.drop(columns="examples_per_second"), drawn.drop(columns="examples_per_second")
        )


def test_per_seed_splits_and_a_pool_refuse_what_they_cannot_do(splits):
    with pytest.raises(ValueError, match=r"no splits for seeds \[1\]"):
        mtl.experiment.run_seeds(["esmm"], {0: splits}, seeds=[0, 1])
    with pytest.raises(ValueError, match="at least 2 processes"):
        mtl.experiment.Workers(1)
    closed = mtl.experiment.Workers(2)
    closed.close()
    with pytest.raises(RuntimeError, match="is closed"):
        mtl.experiment.run_seeds(["esmm"], splits, seeds=[0], workers=closed)


def test_workers_refuse_what_they_cannot_share(splits):
    with pytest.raises(ValueError, match="at least 1"):
        mtl.experiment.run_seeds(["esmm"], splits, workers=0)
    with pytest.raises(ValueError, match="per process"):
        mtl.experiment.run_seeds(["esmm"], splits, workers=2, reuse={})


@pytest.mark.slow
def test_a_failed_run_in_a_worker_is_raised(splits):
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        mtl.experiment.run_seeds(["nope"], splits, seeds=[0, 1], workers=2, epochs=1)


def test_summarize_leaves_missing_values_out_and_formats_a_markdown_table():
    table = pd.DataFrame(
        {
            "model": ["a", "a", "b", "b", "c", "c"],
            "seed": [0, 1, 0, 1, 0, 1],
            "step": ["click"] * 6,
            "auc": [0.7, 0.8, np.nan, np.nan, 0.6, np.nan],
        }
    )
    summary = mtl.experiment.summarize(table, "auc", digits=2)
    assert summary.to_dict() == {"click": {"a": "0.75 ± 0.07", "c": "0.60 ± 0.00"}}
    summary.index.name = "model"
    assert mtl.experiment.markdown_table(summary) == (
        "| model | click |\n|---|---|\n| a | 0.75 ± 0.07 |\n| c | 0.60 ± 0.00 |"
    )


def test_splits_from_generator_give_each_seed_its_own_rows_and_one_test_split():
    gen = mtl.synthetic.FunnelGenerator(("click", "purchase"), seed=0)
    test = gen.sample(500, stream=mtl.experiment.TEST_STREAM)
    splits = {
        seed: mtl.experiment.Splits.from_generator(
            gen, seed, train_rows=300, valid_rows=200, test=test
        )
        for seed in (0, 1)
    }
    for seed, cell in splits.items():  # streams 2s and 2s + 1, the test split passed in
        pd.testing.assert_frame_equal(cell.train, gen.sample(300, stream=2 * seed))
        pd.testing.assert_frame_equal(cell.valid, gen.sample(200, stream=2 * seed + 1))
        assert cell.test is test and cell.ceiling is not None
    assert not splits[0].train.equals(splits[1].train)
    with pytest.raises(ValueError, match="seed must be >= 0, got -1"):
        mtl.experiment.Splits.from_generator(gen, -1, train_rows=3, valid_rows=3, test=test)
    with pytest.raises(ValueError, match="seed 49 would draw its rows from streams 98 and 99"):
        mtl.experiment.Splits.from_generator(gen, 49, train_rows=3, valid_rows=3, test=test)


class _InlineProcess:
    """Stands for one worker process: runs each job at once and records it."""

    def __init__(self, log: list, number: int, fail: str | None = None) -> None:
        self.log, self.number, self.fail = log, number, fail

    def submit(self, fn, name, seed, kwargs, *rest):
        self.log.append((self.number, name, seed))
        future = concurrent.futures.Future()
        if name == self.fail:
            future.set_exception(RuntimeError(f"{name} failed"))
        else:
            future.set_result((name, seed))
        return future


def _scheduled(processes, traced, jobs):
    """`parallel._scheduled` over `(name, seed, kwargs)` jobs, as `run_seeds` calls it."""
    keys = [mtl.experiment.parallel._architecture(job) for job in jobs]
    return mtl.experiment.parallel._scheduled(processes, traced, keys, lambda i: (None, *jobs[i]))


def test_processes_take_the_jobs_of_architectures_they_traced():
    jobs = [(name, seed, {}) for name in ("a", "b", "c") for seed in range(4)]
    log = []
    processes = [_InlineProcess(log, 0), _InlineProcess(log, 1)]
    traced = [set(), set()]
    outcomes = list(_scheduled(processes, traced, jobs))
    assert outcomes == [(name, seed) for name, seed, _ in jobs]  # in the jobs' order
    ran_on = {}
    for worker, name, _ in log:
        ran_on.setdefault(name, set()).add(worker)
    assert sorted(len(workers) for workers in ran_on.values()) == [1, 1, 2]  # c is shared
    assert len(log) == len(jobs)
    # arguments differ: another architecture, traced apart
    assert mtl.experiment.parallel._architecture(
        ("a", 0, {"alpha": 1})
    ) != mtl.experiment.parallel._architecture(("a", 1, {}))


def test_a_failed_job_is_raised_and_no_job_starts_after_it():
    jobs = [(name, seed, {}) for name in ("a", "b") for seed in range(3)]
    log = []
    processes = [_InlineProcess(log, 0, fail="b"), _InlineProcess(log, 1, fail="b")]
    with pytest.raises(RuntimeError, match="b failed"):
        list(_scheduled(processes, [set(), set()], jobs))
    assert len(log) == 2  # the first two jobs started together; the failure stopped the rest


def test_selecting_on_the_steps_watches_their_summed_validation_losses(small_splits):
    splits = small_splits(("click", "purchase"), seed=3, rows=(6_000, 2_000, 2_000))
    kwargs = {"seed": 0, "epochs": 6, "patience": 1, "batch_size": 512}
    steps = mtl.experiment.run("escm2_ips", splits, select_on="steps", **kwargs)
    history = steps.history
    summed = history["val_click_loss"] + history["val_purchase_loss"]  # unweighted
    np.testing.assert_allclose(history[mtl.train.SELECTED], summed, rtol=1e-12)
    assert steps.best_epoch == int(history[mtl.train.SELECTED].idxmin())
    assert steps.best_epoch != int(history["val_loss"].idxmin())  # not the model's own loss
    own = mtl.experiment.run("escm2_ips", splits, select_on="loss", **kwargs)
    assert mtl.train.SELECTED not in own.history
    assert own.best_epoch == int(own.history["val_loss"].idxmin())
    # ESMM's own loss is the steps' cross-entropies: both rules train it alike
    esmm = [mtl.experiment.run("esmm", splits, select_on=s, **kwargs) for s in ("loss", "steps")]
    pd.testing.assert_frame_equal(
        esmm[0].history.drop(columns=["seconds", "examples_per_second"]),
        esmm[1].history.drop(columns=["seconds", "examples_per_second"]),
    )
    with pytest.raises(ValueError, match="select_on must be one of"):
        mtl.experiment.run("escm2_ips", splits, select_on="auc", **kwargs)


def test_a_monitor_of_losses_that_are_not_logged_is_named(small_splits):
    splits = small_splits(("click", "purchase"), seed=3, rows=(2_000, 1_000, 1_000))
    model = mtl.models.build_esmm(splits.schema)
    mtl.train.compile_model(model, ["click", "purchase"])
    data = mtl.data.make_dataset(splits.train, splits.schema, batch_size=500)
    valid = mtl.data.make_dataset(splits.valid, splits.schema, batch_size=500)
    with pytest.raises(ValueError, match="'val_buy_loss', which is not logged"):
        mtl.train.fit(model, data, validation=valid, epochs=1, monitor=("val_buy_loss",))
    with pytest.raises(ValueError, match="needs validation data"):
        mtl.train.fit(model, data, epochs=1, monitor=("val_click_loss",))


def test_one_training_judged_by_two_rules_gives_what_each_rule_gives_alone(small_splits):
    splits = small_splits(("click", "purchase"), seed=3, rows=(6_000, 2_000, 2_000))
    kwargs = {"seed": 0, "epochs": 8, "patience": 1, "batch_size": 512}
    both = mtl.experiment.run(
        "escm2_ips", splits, select_on="steps", also_select_on="loss", **kwargs
    )
    own = mtl.experiment.run("escm2_ips", splits, select_on="loss", **kwargs)
    alternative = both.alternative
    assert (both.selected_on, alternative.selected_on) == ("steps", "loss")
    assert alternative.converged and alternative.epochs < both.epochs  # it stopped first
    assert (alternative.epochs, alternative.best_epoch) == (own.epochs, own.best_epoch)
    for name, values in own.predictions.items():
        np.testing.assert_array_equal(alternative.predictions[name], values)
    steps = mtl.experiment.run("escm2_ips", splits, select_on="steps", **kwargs)
    assert (both.epochs, both.best_epoch, both.converged) == (steps.epochs, steps.best_epoch, True)
    for name, values in steps.predictions.items():  # going on for the other rule changes nothing
        np.testing.assert_array_equal(both.predictions[name], values)
    # the other way round: the rule watched second stops later, and training waits for it
    later = mtl.experiment.run(
        "escm2_ips", splits, select_on="loss", also_select_on="steps", **kwargs
    )
    assert later.alternative.converged and later.alternative.epochs == steps.epochs > later.epochs
    for run, alone in ((later, own), (later.alternative, steps)):
        assert (run.epochs, run.best_epoch) == (alone.epochs, alone.best_epoch)
        for name, values in alone.predictions.items():
            np.testing.assert_array_equal(run.predictions[name], values)
    options = {k: v for k, v in kwargs.items() if k != "seed"}
    table = mtl.experiment.run_seeds(
        ["escm2_ips"], splits, (0,), select_on="steps", also_select_on="loss", **options
    ).table
    assert table.groupby("selected_on")["epochs"].first().to_dict() == {
        "loss": own.epochs,
        "steps": both.epochs,
    }
    with pytest.raises(ValueError, match="give a patience"):
        mtl.experiment.run("escm2_ips", splits, also_select_on="loss")
    with pytest.raises(ValueError, match="BASE's models have one loss"):
        mtl.experiment.run("base", splits, patience=1, also_select_on="loss")
