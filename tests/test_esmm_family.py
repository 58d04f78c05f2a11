"""ESMM family: layers and builders against hand-computed expectations."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops
from random_inputs import random_features

import mtl_lib as mtl
from mtl_lib.data import Field, Schema
from mtl_lib.layers import AdaptiveInformationTransfer, LabelOrderPenalty, order_violation

SCHEMA2 = Schema((Field("city", "C", 5), Field("age", "D", 3)), ("click", "purchase"))
SCHEMA4 = Schema(
    (Field("city", "C", 5), Field("age", "D", 3), Field("score", "K")),
    ("click", "apply", "approve", "activate"),
)
BUILDERS = {
    "esmm_chain": mtl.models.build_esmm_chain,
    "esmm_concat": mtl.models.build_esmm_concat,
    "aitm": mtl.models.build_aitm,
}


def _bce(y, p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


pytestmark = pytest.mark.usefixtures("seeded")  # every test's weights from seed 0


def test_esmm_outputs_and_ctcvr_is_the_product():
    model = mtl.models.build_esmm(SCHEMA2)
    out = model(random_features(SCHEMA2))
    assert set(out) == {"click", "purchase", "purchase_given_click"}
    np.testing.assert_allclose(
        out["purchase"], out["click"] * out["purchase_given_click"], rtol=1e-6
    )


def test_esmm_needs_two_steps():
    with pytest.raises(ValueError, match="exactly 2 steps"):
        mtl.models.build_esmm(SCHEMA4)


def test_esmm_loss_is_the_papers_formula():
    # loss = BCE(click, pCTR) + BCE(click AND purchase, pCTCVR), over every exposure,
    # and nothing on pCVR.
    model = mtl.models.build_esmm(SCHEMA2)
    mtl.train.compile_model(model, SCHEMA2.steps)
    x = random_features(SCHEMA2, rows=8)
    click = np.array([1, 0, 1, 1, 0, 0, 1, 0], "float32").reshape(-1, 1)
    purchase = np.array([1, 0, 0, 1, 0, 0, 0, 0], "float32").reshape(-1, 1)
    out = model.predict(x, verbose=0)
    expected = _bce(click, out["click"]) + _bce(purchase, out["purchase"])
    loss = model.evaluate(x, {"click": click, "purchase": purchase}, verbose=0, return_dict=True)[
        "loss"
    ]
    assert loss == pytest.approx(expected, rel=1e-5)


def test_chain_is_a_product_of_conditionals():
    model = mtl.models.build_esmm_chain(SCHEMA4)
    out = model(random_features(SCHEMA4, rows=50))
    steps = SCHEMA4.steps
    reach = np.asarray(out[steps[0]])
    for prev, step in itertools.pairwise(steps):
        reach = reach * np.asarray(out[f"{step}_given_{prev}"])
        np.testing.assert_allclose(out[step], reach, rtol=1e-5)
    # Monotone along the funnel follows: every conditional is a sigmoid, in (0, 1).


def test_order_violation_by_hand():
    p1 = np.array([[0.5], [0.2]], "float32")
    p2 = np.array([[0.6], [0.1]], "float32")
    p3 = np.array([[0.7], [0.3]], "float32")
    # step 2: mean(max(p2 - p1, 0)) = mean(0.1, 0) = 0.05; step 3: mean(0.1, 0.2) = 0.15
    assert float(order_violation([p1, p2, p3])) == pytest.approx(0.20, abs=1e-6)
    # funnel order matters: reversed, max(p2 - p3, 0) = 0 and mean(max(p1 - p2, 0)) = 0.05
    assert float(order_violation([p3, p2, p1])) == pytest.approx(0.05, abs=1e-6)


def test_penalty_is_averaged_over_the_batch_not_summed():
    layer = LabelOrderPenalty(alpha=0.5)
    p1 = np.array([[0.5], [0.2]], "float32")
    p2 = np.array([[0.6], [0.1]], "float32")
    layer([p1, p2])
    once = float(layer.losses[0])
    assert once == pytest.approx(0.5 * 0.05, abs=1e-7)
    layer = LabelOrderPenalty(alpha=0.5)
    layer([np.tile(p1, (10, 1)), np.tile(p2, (10, 1))])  # ten times the batch, same mean
    assert float(layer.losses[0]) == pytest.approx(once, abs=1e-7)


def test_penalty_enters_the_training_loss():
    model = mtl.models.build_esmm_concat(SCHEMA4, alpha=3.0)
    mtl.train.compile_model(model, SCHEMA4.steps)
    x = random_features(SCHEMA4, rows=16)
    y = {s: np.zeros((16, 1), "float32") for s in SCHEMA4.steps}
    out = model.predict(x, verbose=0)
    bce = sum(_bce(y[s], out[s]) for s in SCHEMA4.steps)
    # α · Σ_{t≥2} mean(max(ŷ_t − ŷ_{t−1}, 0)) in NumPy, not with the layer's own function
    penalty = 3.0 * sum(
        np.maximum(out[later] - out[earlier], 0).mean()
        for earlier, later in itertools.pairwise(SCHEMA4.steps)
    )
    loss = model.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    assert loss == pytest.approx(bce + penalty, rel=1e-4)


def _ait_numpy(layer, p, q):
    """AdaptiveInformationTransfer in NumPy from the layer's weights: (z, weights)."""
    u = np.stack([p, q], axis=1).astype("float64")  # (batch, 2, d)
    h1, h2, h3 = (
        u @ np.asarray(d.kernel) + (np.asarray(d.bias) if d.use_bias else 0.0)
        for d in (layer.h1, layer.h2, layer.h3)
    )
    scores = (h2 * h3).sum(-1) / np.sqrt(layer.units)
    weights = np.exp(scores) / np.exp(scores).sum(1, keepdims=True)
    return (weights[..., None] * h1).sum(1), weights


@pytest.mark.parametrize("use_bias", [False, True])
def test_ait_attention_matches_numpy(use_bias):
    layer = AdaptiveInformationTransfer(units=3, use_bias=use_bias)
    rng = np.random.default_rng(1)
    p, q = rng.normal(size=(4, 5)).astype("float32"), rng.normal(size=(4, 5)).astype("float32")
    if use_bias:  # Dense starts its bias at zero: make it matter
        layer.build([p.shape, q.shape])
        for dense in (layer.h1, layer.h2, layer.h3):
            dense.bias.assign(rng.normal(size=3).astype("float32"))
    z, w = layer([p, q])
    for dense in (layer.h1, layer.h2, layer.h3):  # the authors' h1..h3 have no bias
        assert len(dense.weights) == (2 if use_bias else 1)
    z_np, w_np = _ait_numpy(layer, p, q)
    np.testing.assert_allclose(w, w_np, rtol=1e-5)
    np.testing.assert_allclose(z, z_np, rtol=1e-5, atol=1e-6)


def test_aitm_outputs_attention_per_later_step():
    model = mtl.models.build_aitm(SCHEMA4)
    out = model(random_features(SCHEMA4))
    for step in SCHEMA4.steps[1:]:
        assert tuple(out[f"{step}_attention"].shape) == (6, 2)
    assert "click_attention" not in out
    with pytest.raises(ValueError, match="transfer_units must end in k"):
        mtl.models.build_aitm(SCHEMA4, transfer_units=(8, 4))


def _ait_layers(model):
    return [layer for layer in model.layers if isinstance(layer, AdaptiveInformationTransfer)]


def _ait_inputs_and_outputs(model, x):
    """Per step t ≥ 2: p_{t−1} (transfer output), q_t (tower), z_t (head input), weights."""
    steps = SCHEMA4.steps
    probe = keras.Model(
        model.input,
        {
            step: (
                model.get_layer(f"{prev}_transfer").output,
                model.get_layer(f"{step}_tower").output,
                model.get_layer(f"{step}_head").input,
                model.get_layer(f"{step}_attention").output,
            )
            for prev, step in itertools.pairwise(steps)
        },
    )
    return {step: [np.asarray(a) for a in v] for step, v in probe(x).items()}


@pytest.mark.parametrize("attention", ["shared", "per_step"])
def test_aitm_attention_forms_train_and_round_trip(attention, round_trip):
    model = mtl.models.build_aitm(SCHEMA4, tower_units=(8, 4), attention=attention)
    expected = ["ait"] if attention == "shared" else [f"{s}_ait" for s in SCHEMA4.steps[1:]]
    assert [layer.name for layer in _ait_layers(model)] == expected
    mtl.train.compile_model(model, SCHEMA4.steps, learning_rate=0.05)
    x = random_features(SCHEMA4, rows=32)
    rng = np.random.default_rng(3)
    y = {s: rng.integers(0, 2, (32, 1)).astype("float32") for s in SCHEMA4.steps}
    before = [np.asarray(w).copy() for w in _ait_layers(model)[0].h1.weights]
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    after = _ait_layers(model)[0].h1.weights
    assert not np.allclose(before[0], np.asarray(after[0]))  # the step reached the unit
    predicted = model.predict(x, verbose=0)
    loaded = round_trip(model)
    assert [layer.name for layer in _ait_layers(loaded)] == expected
    assert not any(d.use_bias for u in _ait_layers(loaded) for d in (u.h1, u.h2, u.h3))
    again = loaded.predict(x, verbose=0)
    assert set(again) == set(predicted)
    for key in predicted:
        np.testing.assert_allclose(again[key], predicted[key], rtol=1e-6, atol=1e-7)


def test_shared_aitm_uses_one_bias_free_unit_at_every_step():
    model = mtl.models.build_aitm(SCHEMA4, tower_units=(8, 4))
    (ait,) = _ait_layers(model)
    assert ait.name == "ait" and model.get_layer("ait") is ait
    for dense in (ait.h1, ait.h2, ait.h3):
        assert not dense.use_bias and [w.name for w in dense.weights] == ["kernel"]
    x = random_features(SCHEMA4, rows=10)
    # z_t and the weights of every step t ≥ 2 are this one unit applied to (p_{t−1}, q_t)
    for step, (p, q, z, weights) in _ait_inputs_and_outputs(model, x).items():
        z_np, w_np = _ait_numpy(ait, p, q)
        np.testing.assert_allclose(z, z_np, rtol=1e-5, atol=1e-6, err_msg=step)
        np.testing.assert_allclose(weights, w_np, rtol=1e-5, atol=1e-6, err_msg=step)
    # and perturbing its h1 moves every step after the first, never the first
    out = model.predict(x, verbose=0)
    ait.h1.kernel.assign(ait.h1.kernel + 0.5)
    moved = model.predict(x, verbose=0)
    np.testing.assert_array_equal(moved["click"], out["click"])
    for step in SCHEMA4.steps[1:]:
        assert np.abs(moved[step] - out[step]).max() > 1e-4, step


def test_per_step_aitm_gives_each_step_its_own_unit():
    model = mtl.models.build_aitm(SCHEMA4, tower_units=(8, 4), attention="per_step")
    units = {layer.name: layer for layer in _ait_layers(model)}
    assert set(units) == {f"{s}_ait" for s in SCHEMA4.steps[1:]}
    x = random_features(SCHEMA4, rows=10)
    for step, (p, q, z, _) in _ait_inputs_and_outputs(model, x).items():
        for name, unit in units.items():
            z_np, _ = _ait_numpy(unit, p, q)
            if name == f"{step}_ait":
                np.testing.assert_allclose(z, z_np, rtol=1e-5, atol=1e-6, err_msg=step)
            else:  # another step's unit computes something else
                assert np.abs(z - z_np).max() > 1e-3, (step, name)


def test_aitm_rejects_an_unknown_attention_form():
    with pytest.raises(ValueError, match=r"attention must be one of 'shared', 'per_step'"):
        mtl.models.build_aitm(SCHEMA4, attention="per-step")


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_save_and_load_give_equal_predictions(name, round_trip):
    model = BUILDERS[name](SCHEMA4)
    x = random_features(SCHEMA4, rows=20)
    before = model.predict(x, verbose=0)
    loaded = round_trip(model)
    after = loaded.predict(x, verbose=0)
    assert set(before) == set(after)
    for key in before:
        np.testing.assert_allclose(before[key], after[key], rtol=1e-6, atol=1e-7)


def test_single_task_save_and_load(round_trip):
    model = mtl.models.build_single_task(SCHEMA2, "purchase_given_click")
    x = random_features(SCHEMA2)
    np.testing.assert_allclose(
        model.predict(x, verbose=0)["purchase_given_click"],
        round_trip(model).predict(x, verbose=0)["purchase_given_click"],
        rtol=1e-6,
    )


@pytest.mark.parametrize(
    "layer",
    [
        mtl.layers.FieldEmbedding(
            {"a": 4, "b": 7}, numeric=("k",), embedding_dim=3, embeddings_regularizer="l2"
        ),
        mtl.layers.MLP((8, 4), dropout=0.1, kernel_regularizer="l2"),
        LabelOrderPenalty(alpha=0.3),
        AdaptiveInformationTransfer(units=6),
        AdaptiveInformationTransfer(units=6, use_bias=True),
    ],
)
def test_layer_config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_extreme_logits_give_finite_loss_and_gradients(name):
    model = BUILDERS[name](SCHEMA4)
    for layer in model.layers:  # push every head's logit to +-100
        if layer.name.endswith("_head"):
            kernel, bias = layer.get_weights()
            sign = 1.0 if layer.name.startswith("click") else -1.0
            layer.set_weights([kernel * 0, bias * 0 + 100 * sign])
    x = random_features(SCHEMA4, rows=8)
    y = {"click": np.zeros((8, 1), "float32")} | {
        s: np.ones((8, 1), "float32") for s in SCHEMA4.steps[1:]
    }
    bce = keras.losses.BinaryCrossentropy()
    with tf.GradientTape() as tape:
        out = model(x, training=True)
        loss = sum(bce(y[s], out[s]) for s in SCHEMA4.steps) + sum(model.losses)
    grads = tape.gradient(loss, model.trainable_variables)
    assert np.isfinite(float(loss))
    assert all(
        np.all(np.isfinite(g.values if hasattr(g, "values") else g)) for g in grads if g is not None
    )


def test_builders_need_two_steps():
    one = Schema((Field("city", "C", 5),), ("click",))
    for build in BUILDERS.values():
        with pytest.raises(ValueError, match="at least two funnel steps"):
            build(one)


# ------------------------------------------------------------------ the fused embedding
def test_fused_lookup_equals_one_table_per_field_in_numpy():
    sizes = {"city": 6, "age": 4, "device": 3}
    layer = mtl.layers.FieldEmbedding(sizes, numeric=("x", "y"), embedding_dim=3)
    ids = np.array([[5, 0, 2], [0, 3, 1], [2, 2, 0], [5, 3, 2]], "int32")
    values = np.array([[0.5, -1.0], [2.0, 0.0], [1.5, 3.0], [-2.0, 0.25]], "float32")
    out = ops.convert_to_numpy(layer({"ids": ids, "values": values}))
    table = ops.convert_to_numpy(layer.embeddings)
    # By hand: field f's table is its own block of rows; look up each field, concatenate.
    per_field = {}
    start = 0
    for name, size in sizes.items():
        per_field[name] = table[start : start + size]
        start += size
    expected = np.concatenate(
        [per_field[name][ids[:, f]] for f, name in enumerate(sizes)] + [values], axis=1
    )
    np.testing.assert_array_equal(out, expected)
    for name in sizes:  # the per-field view is the same block
        np.testing.assert_array_equal(layer.field_table(name), per_field[name])
    assert layer.field_table("age").shape == (4, 3)
    with pytest.raises(KeyError, match="no id field 'x'"):
        layer.field_table("x")


def test_fused_table_gets_one_sparse_gradient_for_every_field():
    layer = mtl.layers.FieldEmbedding({"a": 3, "b": 5}, embedding_dim=2)
    ids = tf.constant([[1, 4], [2, 0]], tf.int32)
    layer({"ids": ids})
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer({"ids": ids}))
    (grad,) = tape.gradient(loss, [layer.embeddings.value])
    assert isinstance(grad, tf.IndexedSlices)  # one gather, one sparse update
    # rows touched: a's ids 1, 2 (rows 1, 2) and b's ids 4, 0 (rows 3 + 4, 3 + 0)
    assert sorted(grad.indices.numpy().ravel().tolist()) == [1, 2, 3, 7]


@pytest.mark.parametrize("sizes", [{}, {"a": 0}])
def test_field_embedding_rejects_empty_tables(sizes):
    with pytest.raises(ValueError, match="at least one"):
        mtl.layers.FieldEmbedding(sizes)
