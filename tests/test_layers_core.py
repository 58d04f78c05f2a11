"""`mtl_lib.layers.core`: the fused field embedding and the MLP, against NumPy by hand."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from mtl_lib.layers import MLP, FieldEmbedding
from mtl_lib.layers.core import checked_units

pytestmark = pytest.mark.usefixtures("seeded")

SIZES = {"city": 5, "age": 3, "device": 4}


def test_each_field_reads_its_own_rows_of_the_fused_table():
    layer = FieldEmbedding(SIZES, embedding_dim=2)
    ids = np.array([[0, 0, 0], [4, 2, 3], [1, 1, 2]], dtype=np.int32)
    out = ops.convert_to_numpy(layer({"ids": ids}))
    table = ops.convert_to_numpy(layer.embeddings)
    assert table.shape == (5 + 3 + 4, 2)
    np.testing.assert_array_equal(layer.offsets, [0, 5, 8])
    expected = np.concatenate([table[[0, 5, 8]], table[[4, 7, 11]], table[[1, 6, 10]]]).reshape(
        3, 6
    )
    np.testing.assert_array_equal(out, expected)
    for name, start in zip(SIZES, (0, 5, 8), strict=True):  # field_table: the same rows
        np.testing.assert_array_equal(layer.field_table(name), table[start : start + SIZES[name]])


def test_numeric_fields_are_appended_as_they_are():
    layer = FieldEmbedding({"city": 5}, numeric=("price", "age"), embedding_dim=3)
    values = np.array([[0.5, -2.0], [3.0, 0.25]], dtype=np.float32)
    out = ops.convert_to_numpy(layer({"ids": np.array([[1], [2]]), "values": values}))
    assert out.shape == (2, layer.output_dim) == (2, 3 + 2)
    np.testing.assert_array_equal(out[:, 3:], values)
    assert layer.compute_output_shape({"ids": (None, 1), "values": (None, 2)}) == (None, 5)


def test_only_the_rows_of_a_batch_get_a_gradient():
    layer = FieldEmbedding(SIZES, embedding_dim=2)
    ids = np.array([[1, 0, 3]], dtype=np.int32)
    layer({"ids": ids})
    with tf.GradientTape() as tape:
        loss = ops.sum(layer({"ids": ids}))
    grad = tape.gradient(loss, layer.embeddings.value)
    dense = ops.convert_to_numpy(tf.convert_to_tensor(grad))
    touched = np.flatnonzero(np.abs(dense).sum(axis=1))
    np.testing.assert_array_equal(touched, [1, 5, 11])  # city 1, age 0, device 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vocabulary_sizes": {}}, "at least one id field"),
        ({"vocabulary_sizes": {"city": 0}}, "field 'city': a table needs at least one row"),
        ({"vocabulary_sizes": {"city": 3}, "embedding_dim": 0}, "embedding_dim must be >= 1"),
    ],
)
def test_embedding_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FieldEmbedding(**kwargs)


def test_field_table_names_the_fields_it_has():
    layer = FieldEmbedding(SIZES)
    layer({"ids": np.zeros((1, 3), dtype=np.int32)})
    with pytest.raises(KeyError, match="no id field 'zip'; the fields are"):
        layer.field_table("zip")


def test_mlp_is_its_dense_layers_in_turn():
    layer = MLP((4, 3), activation="relu")
    x = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    out = ops.convert_to_numpy(layer(x))
    h = x
    for dense in layer.dense_layers:
        kernel, bias = (ops.convert_to_numpy(w) for w in dense.weights)
        h = np.maximum(h @ kernel + bias, 0.0)
    np.testing.assert_allclose(out, h, rtol=1e-5, atol=1e-6)
    assert layer.compute_output_shape((None, 6)) == (None, 3)


def test_mlp_dropout_acts_in_training_only():
    layer = MLP((64,), dropout=0.5)
    x = np.ones((8, 4), dtype=np.float32)
    inference = ops.convert_to_numpy(layer(x, training=False))
    np.testing.assert_array_equal(inference, ops.convert_to_numpy(layer(x, training=False)))
    trained = ops.convert_to_numpy(layer(x, training=True))
    dropped = (trained == 0) & (inference != 0)
    assert 0 < dropped.mean() < 1  # some units dropped, not all
    kept = trained != 0
    np.testing.assert_allclose(trained[kept], 2 * inference[kept], rtol=1e-6)  # 1 / (1 − 0.5)


@pytest.mark.parametrize(
    ("units", "dropout", "message"),
    [((), 0.0, "non-empty sequence"), ((4, 0), 0.0, "positive widths"), ((4,), 1.0, "dropout")],
)
def test_checked_units_refuses_what_no_mlp_can_be(units, dropout, message):
    with pytest.raises(ValueError, match=message):
        checked_units(units, dropout)
    with pytest.raises(ValueError, match=message):
        MLP(units, dropout=dropout)


def test_both_layers_round_trip_through_their_config():
    embedding = FieldEmbedding(SIZES, numeric=("price",), embedding_dim=4, name="emb")
    mlp = MLP((8, 2), activation="tanh", dropout=0.1, kernel_regularizer="l2", name="mlp")
    for layer in (embedding, mlp):
        again = keras.layers.deserialize(keras.layers.serialize(layer))
        assert type(again) is type(layer)
        assert again.get_config() == layer.get_config()
