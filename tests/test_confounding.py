"""The hidden confounder of `make_funnel`, potential outcomes, and the entire-space CVR metric."""

import hashlib

import numpy as np
import pandas as pd
import pytest

import mtl_lib as mtl
from mtl_lib.metrics import entire_space_conditional

STEPS = ("click", "purchase")


def digest(frame: pd.DataFrame) -> str:
    return hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()


def test_zero_confounding_changes_nothing():
    # The shipped files are drawn with the default: the same world, byte for byte.
    default = mtl.synthetic.FunnelGenerator(seed=0).sample(5000, stream=1)
    explicit = mtl.synthetic.FunnelGenerator(seed=0, confounding=0.0).sample(5000, stream=1)
    assert digest(default) == digest(explicit)
    with_potential = mtl.synthetic.FunnelGenerator(seed=0).sample(5000, stream=1, potential=True)
    assert digest(with_potential[default.columns]) == digest(default)


def test_the_confounder_raises_clicks_and_conversions_together():
    gen = mtl.synthetic.FunnelGenerator(STEPS, seed=2, confounding=1.5)
    frame = gen.sample(60_000, stream=0, potential=True)
    assert "z" not in frame and not any("latent" in c for c in frame)  # not a feature
    np.testing.assert_allclose(frame[list(STEPS)].mean(), gen.reach_rates, atol=0.01)
    clicked = frame["click"] == 1
    truth = frame["true_p_purchase_given_click"]
    # Selection on z: the clicked exposures convert more, at equal features or not.
    assert truth[clicked].mean() > 1.5 * truth[~clicked].mean()
    plain = mtl.synthetic.FunnelGenerator(STEPS, seed=2).sample(60_000, stream=0)
    ratio = plain["true_p_purchase_given_click"].groupby(plain["click"]).mean()
    assert truth[clicked].mean() / truth[~clicked].mean() > ratio[1] / ratio[0]
    # Potential outcomes: the label where it exists, a draw from the truth elsewhere.
    assert (frame.loc[clicked, "potential_purchase"] == frame.loc[clicked, "purchase"]).all()
    unclicked = frame.loc[~clicked]
    assert unclicked["potential_purchase"].mean() == pytest.approx(
        unclicked["true_p_purchase_given_click"].mean(), abs=0.005
    )


def test_confounding_must_not_be_negative():
    with pytest.raises(ValueError, match="confounding must be >= 0"):
        mtl.synthetic.make_funnel(10, steps=STEPS, confounding=-1)


def test_entire_space_metric_by_hand():
    frame = pd.DataFrame(
        {
            "click": [1, 1, 0, 0, 0],
            "purchase": [1, 0, 0, 0, 0],
            "true_p_purchase_given_click": [0.8, 0.2, 0.5, 0.1, 0.3],
            "potential_purchase": [1, 0, 1, 0, 0],
        }
    )
    pred = np.array([0.7, 0.4, 0.2, 0.3, 0.1])
    out = entire_space_conditional(pred, frame, "purchase", "click")
    unreached = out.loc["not reached"]
    assert unreached["rows"] == 3
    assert unreached["bias"] == pytest.approx(0.2 - 0.3)
    assert unreached["mae"] == pytest.approx((0.3 + 0.2 + 0.2) / 3)
    assert unreached["spearman"] == pytest.approx(-0.5)  # ranks (2, 3, 1) against (3, 1, 2)
    assert unreached["potential_auc"] == 0.5  # the converter (0.2) beats 0.1, not 0.3
    assert out.loc["reached", "potential_auc"] == 1.0
    assert out.loc["all", "rows"] == 5
    assert out.loc["all", "mean_true"] == pytest.approx(0.38)


def test_entire_space_metric_needs_the_truth():
    frame = pd.DataFrame({"click": [1, 0], "purchase": [1, 0]})
    with pytest.raises(ValueError, match="no ground truth 'true_p_purchase_given_click'"):
        entire_space_conditional(np.array([0.5, 0.5]), frame, "purchase", "click")
    frame["true_p_purchase_given_click"] = [0.5, 0.5]
    with pytest.raises(ValueError, match="3 predictions for 2 rows"):
        entire_space_conditional(np.array([0.5, 0.5, 0.5]), frame, "purchase", "click")
