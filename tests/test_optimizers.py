"""`mtl_lib.optimizers.LazyAdam`: the lazy update by hand, dense weights as Adam, save/load."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_lib as mtl
from mtl_lib.optimizers import LazyAdam

LR, B1, B2, EPS = 0.1, 0.9, 0.999, 1e-7


def lazy_steps(table: np.ndarray, batches: list[tuple[list[int], np.ndarray]]) -> np.ndarray:
    """NumPy: lazy Adam on `table`, each batch's rows and per-lookup gradients."""
    w, m, v = table.copy(), np.zeros_like(table), np.zeros_like(table)
    for t, (rows, grads) in enumerate(batches, start=1):
        summed: dict[int, np.ndarray] = {}
        for row, g in zip(rows, grads, strict=True):
            summed[row] = summed.get(row, 0) + g  # a row looked up twice: gradients add
        alpha = LR * np.sqrt(1 - B2**t) / (1 - B1**t)
        for row, g in summed.items():
            m[row] = B1 * m[row] + (1 - B1) * g
            v[row] = B2 * v[row] + (1 - B2) * g**2
            w[row] -= alpha * m[row] / (np.sqrt(v[row]) + EPS)
    return w


def test_sparse_step_matches_a_hand_computation_and_leaves_other_rows():
    table = np.arange(12, dtype="float32").reshape(6, 2) / 10
    var = tf.Variable(table)
    optimizer = LazyAdam(LR)
    batches = [
        ([1, 1, 3], np.array([[1, 2], [3, 4], [5, 6]], "float32")),
        ([3, 4], np.array([[-1, 0.5], [2, -2]], "float32")),
    ]
    for rows, grads in batches:
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.gather(var, rows) * grads)  # d loss / d row = grads
        gradient = tape.gradient(loss, var)
        assert isinstance(gradient, tf.IndexedSlices)
        optimizer.apply([gradient], [var])
    np.testing.assert_allclose(var.numpy(), lazy_steps(table, batches), rtol=1e-6)
    for untouched in (0, 2, 5):
        np.testing.assert_array_equal(var.numpy()[untouched], table[untouched])
    # Row 1 was touched at step 1 only: plain Adam would keep moving it at step 2.
    np.testing.assert_allclose(var.numpy()[1], lazy_steps(table, batches[:1])[1], rtol=1e-6)


def test_dense_weights_train_exactly_as_keras_adam():
    rng = np.random.default_rng(0)
    start, grads = rng.normal(size=(4, 3)), rng.normal(size=(3, 4, 3))
    results = []
    for optimizer in (LazyAdam(LR), keras.optimizers.Adam(LR)):
        var = tf.Variable(start.astype("float32"))
        for g in grads:
            optimizer.apply([tf.constant(g, "float32")], [var])
        results.append(var.numpy())
    np.testing.assert_array_equal(*results)


def test_a_model_trains_with_it_and_saves_with_its_state(round_trip):
    gen = mtl.synthetic.FunnelGenerator(("click", "purchase"), seed=3)
    schema, frame = gen.schema, gen.sample(2000, stream=0)
    mtl.train.set_seed(0)
    model = mtl.train.compile_model(
        mtl.models.build_esmm(schema), schema.steps, optimizer="lazy_adam"
    )
    assert isinstance(model.optimizer, LazyAdam)
    data = mtl.data.make_dataset(frame, schema, batch_size=256, shuffle=True, seed=0)
    history = mtl.train.fit(model, data, epochs=2)
    assert np.isfinite(history["loss"]).all() and history["loss"].iloc[1] < history["loss"].iloc[0]
    loaded = round_trip(model)
    assert isinstance(loaded.optimizer, LazyAdam)
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations)
    features = mtl.data.to_inputs({f.name: frame[f.name].to_numpy() for f in schema.fields}, schema)
    for step in schema.steps:
        np.testing.assert_array_equal(
            loaded.predict(features, verbose=0)[step], model.predict(features, verbose=0)[step]
        )


def test_bad_choices_are_refused():
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        mtl.optimizers.get("sgd", 1e-3)
    with pytest.raises(ValueError, match="amsgrad"):
        LazyAdam(amsgrad=True)


@pytest.mark.parametrize("weight_decay", [1e-4, 0.0])
def test_weight_decay_is_refused_with_what_to_use_instead(weight_decay):
    """Keras would decay every row of a table at every step, which undoes the lazy update."""
    with pytest.raises(
        ValueError, match=r"LazyAdam does not support weight_decay.*every row.*AdamW"
    ):
        LazyAdam(weight_decay=weight_decay)
    assert LazyAdam.from_config(LazyAdam().get_config()).weight_decay is None  # no decay: fine
