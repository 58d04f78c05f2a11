"""`mtl_lib.metrics` against hand computations and scikit-learn on small fixed arrays."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import roc_auc_score

import mtl_lib as mtl
from mtl_lib.data import Field, Schema

Y = np.array([0, 0, 1, 1, 0, 1, 0, 0])
P = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.7, 0.6, 0.05])


def test_auc_counts_the_pairs_ranked_right():
    # 3 positives × 5 negatives = 15 pairs; by hand, the positives' scores 0.35, 0.8, 0.7
    # beat 3, 5 and 5 of the negatives 0.1, 0.4, 0.2, 0.6, 0.05: 13 of 15 pairs.
    assert mtl.metrics.auc(Y, P) == pytest.approx(13 / 15)
    assert mtl.metrics.auc(Y, P) == pytest.approx(roc_auc_score(Y, P))
    assert mtl.metrics.auc(Y, np.full(8, 0.3)) == 0.5  # ties count a half
    with pytest.raises(ValueError, match="all 8 labels are 0"):
        mtl.metrics.auc(np.zeros(8), P)


def test_log_loss_is_the_mean_cross_entropy():
    by_hand = -np.mean(Y * np.log(P) + (1 - Y) * np.log(1 - P))
    assert mtl.metrics.log_loss(Y, P) == pytest.approx(by_hand)
    assert mtl.metrics.log_loss(Y, P) == pytest.approx(sk_log_loss(Y, P))
    assert np.isfinite(mtl.metrics.log_loss([1, 0], [0.0, 1.0]))  # clipped, not infinite


def test_reliability_curve_and_ece_use_equal_count_bins():
    curve = mtl.metrics.reliability_curve(Y, P, bins=4)  # 2 rows a bin, sorted by P
    # sorted P: 0.05 0.1 | 0.2 0.35 | 0.4 0.6 | 0.7 0.8, with labels 0 0 | 0 1 | 0 0 | 1 1
    np.testing.assert_allclose(curve["predicted"], [0.075, 0.275, 0.5, 0.75])
    np.testing.assert_allclose(curve["observed"], [0.0, 0.5, 0.0, 1.0])
    assert curve["rows"].tolist() == [2, 2, 2, 2]
    ece = mtl.metrics.expected_calibration_error(Y, P, bins=4)
    assert ece == pytest.approx((0.075 + 0.225 + 0.5 + 0.25) / 4)


def test_reliability_curve_agrees_with_scikit_learn_quantile_bins():
    # scikit-learn's `calibration_curve(strategy="quantile")` bins by the same rule (equal
    # counts, sorted by prediction) but returns neither the bins' sizes, which ECE weights by,
    # nor a bin for every tie-heavy quantile; on distinct predictions the two agree.
    rng = np.random.default_rng(0)
    probs = rng.beta(1, 30, size=10_000)  # a rare step: predictions crowd near 0
    labels = rng.random(10_000) < probs
    curve = mtl.metrics.reliability_curve(labels, probs, bins=10)
    observed, predicted = calibration_curve(labels, probs, n_bins=10, strategy="quantile")
    np.testing.assert_allclose(curve["predicted"], predicted, rtol=1e-12)
    np.testing.assert_allclose(curve["observed"], observed, rtol=1e-12)
    assert curve["rows"].tolist() == [1_000] * 10


def test_spearman_is_nan_for_a_constant_prediction_without_a_warning():
    assert mtl.metrics.spearman([0.1, 0.2, 0.3, 0.4], [1, 2, 4, 3]) == pytest.approx(0.8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(mtl.metrics.spearman([0.2] * 4, [1, 2, 4, 3]))


SCHEMA = Schema((Field("a", "C", 2),), ("click", "buy"), ("true_p_click", "true_p_buy"))


def funnel_frame():
    click = np.array([1, 1, 1, 0, 0, 0, 1, 0])
    buy = np.array([1, 0, 0, 0, 0, 0, 1, 0])
    true_click = np.array([0.9, 0.6, 0.7, 0.2, 0.3, 0.1, 0.8, 0.4])
    true_buy_given = np.array([0.5, 0.2, 0.1, 0.3, 0.2, 0.1, 0.6, 0.4])
    return pd.DataFrame(
        {
            "a": 0,
            "click": click,
            "buy": buy,
            "true_p_click": true_click,
            "true_p_buy": true_click * true_buy_given,
            "true_p_buy_given_click": true_buy_given,
        }
    )


def test_bayes_ceiling_and_gap_closed():
    frame = funnel_frame()
    ceiling = mtl.metrics.bayes_ceiling(frame, SCHEMA)
    assert ceiling.loc["click", "auc"] == pytest.approx(1.0)  # the truth ranks clicks right
    clicked = frame["click"] == 1
    expected = roc_auc_score(frame["buy"][clicked], frame["true_p_buy_given_click"][clicked])
    assert ceiling.loc["buy", "conditional_auc"] == pytest.approx(expected)
    pred = {"click": frame["true_p_click"].to_numpy() * 0 + np.linspace(0.8, 0.1, 8)}
    pred["buy"] = pred["click"] * 0.5
    table = mtl.metrics.evaluate_funnel(pred, frame, SCHEMA)
    for step in SCHEMA.steps:
        by_hand = (roc_auc_score(frame[step], pred[step]) - 0.5) / (ceiling.loc[step, "auc"] - 0.5)
        assert table.loc[step, "gap_closed"] == pytest.approx(by_hand)


def test_order_violation_compares_with_the_previous_step():
    frame = funnel_frame()
    click = np.array([0.5, 0.4, 0.3, 0.2, 0.1, 0.6, 0.7, 0.8])
    buy = np.array([0.6, 0.1, 0.4, 0.1, 0.05, 0.7, 0.2, 0.1])  # above click on rows 0, 2, 5
    table = mtl.metrics.evaluate_funnel({"click": click, "buy": buy}, frame, SCHEMA)
    assert table.loc["buy", "order_violation"] == pytest.approx(3 / 8)
    assert np.isnan(table.loc["click", "order_violation"])  # nothing before the first step


def test_conditional_auc_is_on_the_rows_that_reached_the_previous_step():
    frame = funnel_frame()
    cond = np.array([0.9, 0.1, 0.3, 0.99, 0.99, 0.99, 0.8, 0.99])  # high where not clicked
    out = mtl.metrics.conditional_metrics(cond, frame, "buy", "click")
    clicked = frame["click"].to_numpy() == 1
    assert out["conditional_auc"] == pytest.approx(
        roc_auc_score(frame["buy"][clicked], cond[clicked])
    )
    truth = frame["true_p_buy_given_click"].to_numpy()[~clicked]
    assert out["unreached_bias"] == pytest.approx(0.99 - truth.mean())
    assert np.isnan(out["unreached_spearman"])  # constant where not clicked: undefined
