"""`mtl_lib.optimizers`: the fused Adam against Keras's, the lazy update by hand, save/load."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_lib as mtl
from mtl_lib.optimizers import Adam, LazyAdam

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


def adam_steps(start: np.ndarray, grads: np.ndarray, lr: float = LR) -> np.ndarray:
    """NumPy, in float64: Adam's update, one dense gradient per step."""
    w, m, v = start.astype("float64"), np.zeros(start.shape), np.zeros(start.shape)
    for t, g in enumerate(grads, start=1):
        m = B1 * m + (1 - B1) * g
        v = B2 * v + (1 - B2) * g**2
        w = w - lr * np.sqrt(1 - B2**t) / (1 - B1**t) * m / (np.sqrt(v) + EPS)
    return w


def test_fused_adam_is_adam_to_float32_precision():
    rng = np.random.default_rng(0)
    start, grads = rng.normal(size=(50, 4)), rng.normal(size=(20, 50, 4))
    grads *= 10 ** rng.uniform(-6, 0, size=(20, 1, 1))  # small and large gradients
    results = {}
    for optimizer in (Adam(LR), keras.optimizers.Adam(LR)):
        var = tf.Variable(start.astype("float32"))
        for g in grads:
            optimizer.apply([tf.constant(g, "float32")], [var])
        results[type(optimizer).__module__] = var.numpy()
    exact = adam_steps(start, grads)
    ours, theirs = results["mtl_lib.optimizers"], results["keras.src.optimizers.adam"]
    np.testing.assert_allclose(ours, exact, rtol=1e-5, atol=1e-6)
    # As close to Keras's Adam as Keras's is to the exact update: float32 rounding apart.
    assert np.abs(ours - theirs).max() <= 2 * np.abs(theirs - exact).max()
    assert not np.array_equal(ours, theirs)  # 1 - beta in float32: not the same bits


def test_fused_adam_sums_a_sparse_gradient_like_its_dense_form():
    """An embedding row looked up twice in a batch gets the sum of its two gradients."""
    table = np.arange(12, dtype="float32").reshape(6, 2) / 10
    rows, grads = [1, 1, 3], np.array([[1, 2], [3, 4], [5, 6]], "float32")
    dense = np.zeros_like(table)
    np.add.at(dense, rows, grads)
    sparse_var, dense_var = tf.Variable(table), tf.Variable(table)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.gather(sparse_var, rows) * grads)
    gradient = tape.gradient(loss, sparse_var)
    assert isinstance(gradient, tf.IndexedSlices)
    Adam(LR).apply([gradient], [sparse_var])
    Adam(LR).apply([tf.constant(dense)], [dense_var])
    np.testing.assert_array_equal(sparse_var.numpy(), dense_var.numpy())
    np.testing.assert_allclose(sparse_var.numpy(), adam_steps(table, dense[None]), rtol=1e-6)


def test_keras_adam_steps_a_row_looked_up_k_times_by_sqrt_k_and_ours_by_lr():
    """Why `mtl_lib.optimizers.Adam` exists: Keras 3's Adam squares a sparse gradient's
    per-lookup values before their duplicates are summed (`ops.square` on a
    `tf.IndexedSlices`), so a row looked up k times with gradient g gets v from k g², not
    (k g)²: its first step is √k lr instead of Adam's lr. If Keras fixes it, this fails.
    """
    k, table = 4, np.zeros((3, 2), "float32")
    moved = {}
    for name, optimizer in (("keras", keras.optimizers.Adam(LR)), ("ours", Adam(LR))):
        var = tf.Variable(table)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.gather(var, [1] * k))  # every lookup's gradient is 1
        optimizer.apply([tape.gradient(loss, var)], [var])
        moved[name] = -var.numpy()[1]
    np.testing.assert_allclose(moved["ours"], LR, rtol=1e-5)  # Adam's first step: lr
    np.testing.assert_allclose(moved["keras"], np.sqrt(k) * LR, rtol=1e-5)


def test_fused_adam_leaves_amsgrad_and_weight_decay_to_keras():
    rng = np.random.default_rng(1)
    start, grads = rng.normal(size=(4, 3)), rng.normal(size=(3, 4, 3))
    for settings in ({"amsgrad": True}, {"weight_decay": 0.01}):
        results = []
        for optimizer in (Adam(LR, **settings), keras.optimizers.Adam(LR, **settings)):
            var = tf.Variable(start.astype("float32"))
            for g in grads:
                optimizer.apply([tf.constant(g, "float32")], [var])
            results.append(var.numpy())
        np.testing.assert_array_equal(*results)


def test_lazy_adam_trains_dense_weights_exactly_as_adam():
    rng = np.random.default_rng(0)
    start, grads = rng.normal(size=(4, 3)), rng.normal(size=(3, 4, 3))
    results = []
    for optimizer in (LazyAdam(LR), Adam(LR)):
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


def test_the_fused_adam_trains_a_model_and_saves_with_its_state(round_trip):
    gen = mtl.synthetic.FunnelGenerator(("click", "purchase"), seed=3)
    schema, frame = gen.schema, gen.sample(1000, stream=0)
    mtl.train.set_seed(0)
    model = mtl.train.compile_model(
        mtl.models.build_esmm(schema), schema.steps, optimizer=Adam(1e-3)
    )
    assert type(model.optimizer) is Adam
    assert type(mtl.optimizers.get("adam", 1e-3)) is Adam  # the project's default
    mtl.train.fit(model, mtl.data.make_dataset(frame, schema, batch_size=256), epochs=1)
    loaded = round_trip(model)
    assert type(loaded.optimizer) is Adam
    for ours, theirs in zip(loaded.optimizer.variables, model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(ours, theirs)  # the step count and both moments


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
