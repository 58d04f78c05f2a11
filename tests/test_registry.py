"""The model registry: one record per model, and the dict-like views notebooks read."""

from functools import partial

import pytest

import mtl_lib as mtl
from mtl_lib.experiment import registry


@pytest.fixture
def restored():
    """The registry as it was before the test."""
    saved = dict(registry.REGISTRY)
    yield
    registry.REGISTRY.clear()
    registry.REGISTRY.update(saved)


def test_the_views_read_every_record():
    records = registry.REGISTRY
    assert list(mtl.experiment.MODELS) == list(records)
    assert all(mtl.experiment.MODELS[name] is r.build for name, r in records.items())
    assert mtl.experiment.LABELS["base"] == "BASE"
    assert [mtl.experiment.LABELS[name] for name in records] == [r.label for r in records.values()]
    variants = (  # the counterfactual estimators' controls and settings (notebook 01b)
        "escm2_ips_oracle",
        "escm2_dr_oracle",
        "escm2_ips_paper",
        "escm2_dr_clip3",
        "dcmt_lambda1",
        "dcmt_clip15",
        "dcmt_lambda1_clip15",
    )
    counterfactual = ("escm2_ips", "escm2_dr", "dcmt", *variants)
    assert tuple(mtl.experiment.TWO_STEP) == ("esmm", "esmm_ns", *counterfactual)
    assert set(mtl.experiment.OBJECTIVES) == set(counterfactual)
    assert "esmm" in mtl.experiment.TWO_STEP and "aitm" not in mtl.experiment.TWO_STEP


def test_one_record_adds_a_model_that_runs_by_name(restored, small_splits):
    splits = small_splits(("click", "apply", "approve"), seed=4)
    mtl.experiment.register(
        "mmoe_4",
        mtl.experiment.ModelSpec(
            partial(mtl.models.build_mmoe, num_experts=4, expert_units=(8,)), "MMoE, 4 experts"
        ),
    )
    assert mtl.experiment.LABELS["mmoe_4"] == "MMoE, 4 experts"
    table, _ = mtl.experiment.run_seeds(["mmoe_4"], splits, seeds=[0], epochs=1)
    assert list(table["step"]) == ["click", "apply", "approve"]
    two_step = mtl.experiment.ModelSpec(mtl.models.build_esmm, "ESMM again", two_step=True)
    mtl.experiment.register("esmm_again", two_step)
    result = mtl.experiment.run("esmm_again", splits, seed=0, epochs=1)
    assert set(result.predictions) == {"click", "approve", "approve_given_click"}


def test_assigning_to_the_views_changes_the_records(restored):
    mtl.experiment.MODELS["ips_again"] = mtl.experiment.MODELS["escm2_ips"]
    assert registry.REGISTRY["ips_again"].label == "ips_again"  # a new record, named as is
    assert "ips_again" not in mtl.experiment.OBJECTIVES  # cross-entropy until told
    objective = partial(mtl.losses.escm2, estimator="ips", counterfactual_weight=1.0)
    mtl.experiment.OBJECTIVES["ips_again"] = objective
    assert registry.REGISTRY["ips_again"].objective is objective
    mtl.experiment.LABELS["ips_again"] = "IPS, weight 1"
    assert registry.spec("ips_again").label == "IPS, weight 1"
    del mtl.experiment.MODELS["ips_again"]
    assert "ips_again" not in registry.REGISTRY


def test_the_registry_refuses_what_it_cannot_hold(restored):
    with pytest.raises(KeyError, match="no model 'nope' to set the objective of: register it"):
        mtl.experiment.OBJECTIVES["nope"] = mtl.losses.cross_entropy
    with pytest.raises(ValueError, match="'base' names BASE's set of single-task models"):
        mtl.experiment.register("base", registry.REGISTRY["esmm"])
    with pytest.raises(ValueError, match=r"unknown model 'nope'; choose from \['base', 'esmm'"):
        registry.spec("nope")
    with pytest.raises(KeyError, match="'base' is not a record"):
        mtl.experiment.LABELS["base"] = "Base"
