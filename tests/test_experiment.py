"""The experiment runner: BASE's selection, reproducibility, tidy results."""

import numpy as np
import pytest

import mtl_lib as mtl


@pytest.fixture(scope="module")
def splits():
    gen = mtl.synthetic.FunnelGenerator(("click", "purchase"), seed=3)
    return mtl.experiment.Splits.from_frames(
        gen.schema, gen.sample(4_000, 0), gen.sample(1_000, 1), gen.sample(3_000, 2)
    )


def test_same_seed_same_predictions(splits):
    a = mtl.experiment.run("esmm", splits, seed=5, epochs=1, batch_size=256)
    b = mtl.experiment.run("esmm", splits, seed=5, epochs=1, batch_size=256)
    for key in a.predictions:
        np.testing.assert_array_equal(a.predictions[key], b.predictions[key])


def test_base_trains_its_cvr_model_on_clicked_rows_only(splits):
    result = mtl.experiment.run("base", splits, seed=0, epochs=1, batch_size=256)
    assert set(result.predictions) == {"click", "purchase", "purchase_given_click"}
    np.testing.assert_allclose(
        result.predictions["purchase"],
        result.predictions["click"] * result.predictions["purchase_given_click"],
        rtol=1e-6,
    )
    clicked = int(splits.train["click"].sum())
    expected = (len(splits.train) + clicked) / result.examples_per_second
    assert len(result.models) == 2
    assert expected > 0


def test_run_seeds_is_tidy(splits):
    table = mtl.experiment.run_seeds(
        ["esmm", "base"], splits, seeds=[0, 1], epochs=1, batch_size=512
    )
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


def test_unknown_model(splits):
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        mtl.experiment.run("nope", splits)


def test_steps_prefix(splits):
    with pytest.raises(ValueError, match="first steps"):
        mtl.experiment.Splits.from_frames(
            splits.schema, splits.train, splits.valid, splits.test, steps=("purchase",)
        )
