"""ESCM² (IPS, DR): the losses by hand on a toy batch, their gradients, the builder, training."""

import numpy as np
import pytest
import tensorflow as tf

import mtl_lib as mtl
from mtl_lib.losses import COUNTERFACTUAL, CounterfactualCVRLoss

# Four exposures, two clicked (rows 0 and 2), one conversion (row 0).
CLICK = np.array([1.0, 0.0, 1.0, 0.0])
CONVERT = np.array([1.0, 0.0, 0.0, 0.0])
PCTR = np.array([0.5, 0.2, 0.04, 0.1])
PCVR = np.array([0.3, 0.6, 0.2, 0.9])
IMPUTED = np.array([0.4, 0.3, 0.1, 0.2])


def bce(y, p):
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def loss_of(estimator, y_pred, clip=15.0):
    y_true = tf.constant(np.stack([CLICK, CONVERT], 1), tf.float32)
    return float(CounterfactualCVRLoss(estimator, clip)(y_true, y_pred))


def test_ips_is_the_codes_click_normalised_weighted_loss_by_hand():
    # Two clicks in the batch: each clicked row weighs min(1 / (pCTR * 2), 15).
    expected = (bce(1, 0.3) / (0.5 * 2) + bce(0, 0.2) / (0.04 * 2)) / 1  # Σ over clicked rows
    got = loss_of("ips", tf.constant(np.stack([PCTR, PCVR], 1), tf.float32))
    assert got == pytest.approx(expected, rel=1e-5)


def test_ips_weight_is_clipped():
    # pCTR 0.001 on row 2: 1 / (0.001 * 2) = 500, clipped to 15 (clip 15), or to 3.
    pctr = PCTR.copy()
    pctr[2] = 0.001
    y_pred = tf.constant(np.stack([pctr, PCVR], 1), tf.float32)
    for clip in (15.0, 3.0):
        expected = min(1 / (0.5 * 2), clip) * bce(1, 0.3) + clip * bce(0, 0.2)
        assert loss_of("ips", y_pred, clip) == pytest.approx(expected, rel=1e-5)


def test_dr_by_hand():
    err = bce(CONVERT, PCVR) - IMPUTED
    weight = np.minimum(CLICK / PCTR, 15)  # 2 and 25 → 15 on the clicked rows, 0 elsewhere
    assert weight[2] == 15
    expected = np.mean(IMPUTED + weight * err + weight * err**2)
    got = loss_of("dr", tf.constant(np.stack([PCTR, PCVR, IMPUTED], 1), tf.float32))
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("estimator", ["ips", "dr"])
def test_gradients_skip_the_propensity_and_the_non_clicked_cvr(estimator):
    columns = [PCTR, PCVR] + ([IMPUTED] if estimator == "dr" else [])
    y_pred = tf.Variable(np.stack(columns, 1), dtype=tf.float32)
    with tf.GradientTape() as tape:
        loss = CounterfactualCVRLoss(estimator)(
            tf.constant(np.stack([CLICK, CONVERT], 1), tf.float32), y_pred
        )
    grad = tape.gradient(loss, y_pred).numpy()
    np.testing.assert_array_equal(grad[:, 0], 0)  # no gradient through a weight into pCTR
    np.testing.assert_array_equal(grad[CLICK == 0, 1], 0)  # pCVR: clicked rows only
    assert (grad[CLICK == 1, 1] != 0).all()
    if estimator == "dr":  # δ on a non-clicked row: d/dδ of δ/B
        np.testing.assert_allclose(grad[CLICK == 0, 2], 1 / 4)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="estimator must be one of"):
        CounterfactualCVRLoss("snips")
    with pytest.raises(ValueError, match="clip must be positive"):
        CounterfactualCVRLoss("ips", clip=0)
    with pytest.raises(ValueError, match="normalisation must be one of"):
        CounterfactualCVRLoss("ips", normalisation="rows")
    with pytest.raises(ValueError, match="normalisation applies to IPS only"):
        CounterfactualCVRLoss("dr", normalisation="exposures")
    with pytest.raises(ValueError, match="propensity must be one of"):
        CounterfactualCVRLoss("ips", propensity="true")
    with pytest.raises(ValueError, match="clip must be positive"):
        mtl.losses.DCMTLoss(clip=-1.0)
    gen = mtl.synthetic.FunnelGenerator(("click", "apply", "approve"), seed=0)
    with pytest.raises(ValueError, match="exactly 2 steps"):
        mtl.models.build_escm2(gen.schema)
    with pytest.raises(ValueError, match="estimator must be one of"):
        mtl.models.build_escm2(gen.schema.with_steps(("click", "apply")), estimator="snips")


@pytest.fixture(scope="module")
def splits(small_splits):
    return small_splits(("click", "purchase"), seed=3, rows=(6_000, 2_000, 2_000))


@pytest.mark.parametrize(("estimator", "width"), [("ips", 2), ("dr", 3)])
def test_builder_outputs_and_a_trained_model_round_trips(splits, estimator, width, round_trip):
    result = mtl.experiment.run(
        f"escm2_{estimator}", splits, seed=0, epochs=2, batch_size=512, log_validation=True
    )
    pred = result.predictions
    assert pred[COUNTERFACTUAL].shape == (2000, width)
    np.testing.assert_allclose(pred[COUNTERFACTUAL][:, 0], pred["click"], rtol=1e-6)
    np.testing.assert_allclose(pred[COUNTERFACTUAL][:, 1], pred["purchase_given_click"], rtol=1e-6)
    np.testing.assert_allclose(pred["purchase"], pred["click"] * pred["purchase_given_click"], 1e-5)
    history = result.history
    assert np.isfinite(history[f"{COUNTERFACTUAL}_loss"]).all()
    assert f"val_{COUNTERFACTUAL}_auc" not in history  # two labels: no AUC to log
    model = result.models[0]
    assert model.loss[COUNTERFACTUAL].estimator == estimator
    loaded = round_trip(model)
    assert loaded.loss[COUNTERFACTUAL].get_config() == model.loss[COUNTERFACTUAL].get_config()
    again = mtl.train.predict(loaded, splits.test, splits.schema)
    for name, values in pred.items():
        np.testing.assert_array_equal(again[name], values)


def test_stacked_targets_feed_click_and_conversion(splits):
    data = mtl.data.make_dataset(splits.train.head(8), splits.schema, batch_size=8)
    selected = mtl.train.fitting._select(data, {COUNTERFACTUAL: ("click", "purchase")})
    _, labels = next(iter(selected))
    expected = splits.train.head(8)[["click", "purchase"]].to_numpy("float32")
    np.testing.assert_array_equal(labels[COUNTERFACTUAL].numpy(), expected)


COUNTERFACTUAL_CVR = np.array([0.6, 0.5, 0.7, 0.2])


def test_dcmt_by_hand():
    u = np.minimum(1 / PCTR, 15)  # clicked rows: 2 and 25 → 15
    v = np.minimum(1 / (1 - PCTR), 15)
    expected = np.mean(
        CLICK * u * bce(CONVERT, PCVR)
        + (1 - CLICK) * v * bce(1 - CONVERT, COUNTERFACTUAL_CVR)  # r* = 1 − r = 1
        + 0.5 * np.abs(1 - PCVR - COUNTERFACTUAL_CVR)
    )
    y_true = tf.constant(np.stack([CLICK, CONVERT], 1), tf.float32)
    y_pred = tf.constant(np.stack([PCTR, PCVR, COUNTERFACTUAL_CVR], 1), tf.float32)
    got = float(mtl.losses.DCMTLoss(prior_weight=0.5, clip=15.0)(y_true, y_pred))
    assert got == pytest.approx(expected, rel=1e-5)


def test_dcmt_gradients_reach_both_twins_but_not_the_propensity():
    y_pred = tf.Variable(np.stack([PCTR, PCVR, COUNTERFACTUAL_CVR], 1), dtype=tf.float32)
    with tf.GradientTape() as tape:
        loss = mtl.losses.DCMTLoss(prior_weight=0.0)(
            tf.constant(np.stack([CLICK, CONVERT], 1), tf.float32), y_pred
        )
    grad = tape.gradient(loss, y_pred).numpy()
    np.testing.assert_array_equal(grad[:, 0], 0)
    np.testing.assert_array_equal(grad[CLICK == 0, 1], 0)  # factual: clicked rows only
    np.testing.assert_array_equal(grad[CLICK == 1, 2], 0)  # twin: non-clicked rows only
    assert (grad[CLICK == 0, 2] < 0).all()  # pushed towards r* = 1
    with pytest.raises(ValueError, match="prior_weight must be >= 0"):
        mtl.losses.DCMTLoss(prior_weight=-1)


def test_dcmt_trains_and_round_trips(splits, round_trip):
    result = mtl.experiment.run("dcmt", splits, seed=0, epochs=2, batch_size=512)
    pred = result.predictions
    assert pred[COUNTERFACTUAL].shape == (2000, 3)
    np.testing.assert_allclose(pred[COUNTERFACTUAL][:, 1], pred["purchase_given_click"], 1e-6)
    model = result.models[0]
    loaded = round_trip(model)
    again = mtl.train.predict(loaded, splits.test, splits.schema)
    for name, values in pred.items():
        np.testing.assert_array_equal(again[name], values)


def test_ips_with_the_papers_normalisation_by_hand():
    # (1/B) Σ o ℓ / p over the B = 4 rows, weights capped at 15 (1 / 0.04 = 25 → 15).
    expected = (bce(1, 0.3) / 0.5 + 15 * bce(0, 0.2)) / 4
    loss = CounterfactualCVRLoss("ips", normalisation="exposures")
    y_true = tf.constant(np.stack([CLICK, CONVERT], 1), tf.float32)
    got = float(loss(y_true, tf.constant(np.stack([PCTR, PCVR], 1), tf.float32)))
    assert got == pytest.approx(expected, rel=1e-5)
    uncapped = CounterfactualCVRLoss("ips", None, normalisation="exposures")
    got = float(uncapped(y_true, tf.constant(np.stack([PCTR, PCVR], 1), tf.float32)))
    assert got == pytest.approx((bce(1, 0.3) / 0.5 + 25 * bce(0, 0.2)) / 4, rel=1e-5)


@pytest.mark.parametrize("estimator", ["ips", "dr"])
def test_the_oracle_propensity_is_read_from_the_labels(estimator):
    # The same loss with pCTR in y_pred, or with pCTR as the third label column and
    # another pCTR in y_pred that the oracle must ignore.
    columns = [PCTR, PCVR] + ([IMPUTED] if estimator == "dr" else [])
    from_model = CounterfactualCVRLoss(estimator)(
        tf.constant(np.stack([CLICK, CONVERT], 1), tf.float32),
        tf.constant(np.stack(columns, 1), tf.float32),
    )
    ignored = np.full(4, 0.9)
    from_labels = CounterfactualCVRLoss(estimator, propensity="oracle")(
        tf.constant(np.stack([CLICK, CONVERT, PCTR], 1), tf.float32),
        tf.constant(np.stack([ignored, *columns[1:]], 1), tf.float32),
    )
    assert float(from_labels) == pytest.approx(float(from_model), rel=1e-6)


def test_dcmt_defaults_are_pinned():
    # λ = 0.001 (the public re-implementations') and no weight cap (the paper's equation).
    loss = mtl.losses.DCMTLoss()
    assert loss.prior_weight == 0.001 and loss.clip is None
    objective = mtl.losses.dcmt(("click", "purchase"))
    packed = objective.losses[COUNTERFACTUAL]
    assert (packed.prior_weight, packed.clip) == (0.001, None)
    assert objective.loss_weights == {"click": 1.0, "purchase": 1.0, COUNTERFACTUAL: 1.0}
    u, v = 1 / PCTR, 1 / (1 - PCTR)  # uncapped: row 2's weight is 25
    expected = np.mean(
        CLICK * u * bce(CONVERT, PCVR)
        + (1 - CLICK) * v * bce(1 - CONVERT, COUNTERFACTUAL_CVR)
        + 0.001 * np.abs(1 - PCVR - COUNTERFACTUAL_CVR)
    )
    y_true = tf.constant(np.stack([CLICK, CONVERT], 1), tf.float32)
    y_pred = tf.constant(np.stack([PCTR, PCVR, COUNTERFACTUAL_CVR], 1), tf.float32)
    assert float(loss(y_true, y_pred)) == pytest.approx(expected, rel=1e-5)


def test_new_settings_survive_the_config():
    loss = CounterfactualCVRLoss("ips", None, normalisation="exposures", propensity="oracle")
    again = CounterfactualCVRLoss.from_config(loss.get_config())
    assert (again.clip, again.normalisation, again.propensity) == (None, "exposures", "oracle")
    dcmt = mtl.losses.DCMTLoss.from_config(mtl.losses.DCMTLoss(clip=15.0).get_config())
    assert (dcmt.prior_weight, dcmt.clip) == (0.001, 15.0)


def test_an_oracle_objective_trains_on_the_truth_column(splits):
    objective = mtl.experiment.OBJECTIVES["escm2_ips_oracle"](("click", "purchase"))
    assert objective.targets[COUNTERFACTUAL] == ("click", "purchase", "true_p_click")
    result = mtl.experiment.run("escm2_ips_oracle", splits, seed=0, epochs=1, batch_size=512)
    assert np.isfinite(result.history["loss"]).all()
    truthless = splits.train.drop(columns=list(splits.schema.truth))
    no_truth = mtl.experiment.Splits.from_frames(
        splits.schema, truthless, splits.valid, splits.test
    )
    with pytest.raises(ValueError, match="no column 'true_p_click' for the truth labels"):
        mtl.experiment.run("escm2_ips_oracle", no_truth, seed=0, epochs=1, batch_size=512)
