"""Bags (multi-valued id fields): schema, parsing, pooling, readers, saving and serving."""

import json

import keras
import numpy as np
import pandas as pd
import pytest

import mtl_lib as mtl
from mtl_lib.data import Field, Schema
from mtl_lib.data.bags import PAD, format_bags, parse_bags
from mtl_lib.datasets.encoding import Vocabulary
from mtl_lib.layers import FieldEmbedding

CATS = Field("cats", "B", 9, 3)
BRANDS = Field("brands", "B", 4, 2, "sum")
SCHEMA = Schema((Field("u", "C", 5), CATS, BRANDS, Field("x", "K")), ("click", "purchase"))


def frame(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)

    def bags(length, size):
        return [
            "|".join(map(str, rng.integers(0, size + 1, rng.integers(0, length + 1))))
            for _ in range(rows)
        ]

    click = rng.integers(0, 2, rows)
    return pd.DataFrame(
        {
            "u": rng.integers(0, 6, rows),
            "cats": bags(3, 9),
            "brands": bags(2, 4),
            "x": rng.normal(size=rows),
            "click": click,
            "purchase": click * rng.integers(0, 2, rows),
        }
    )


# ------------------------------------------------------------------------------ schema
def test_bag_schema_saves_and_loads(tmp_path):
    SCHEMA.save(tmp_path)
    vocab = json.loads((tmp_path / "vocab.json").read_text())
    assert vocab["cats"] == {"size": 9, "length": 3, "pooling": "mean"}
    assert vocab["brands"] == {"size": 4, "length": 2, "pooling": "sum"}
    assert "cats,B" in (tmp_path / "features.csv").read_text()
    assert Schema.load(tmp_path) == SCHEMA
    assert [f.name for f in SCHEMA.embedded_fields] == ["u"]
    assert [f.name for f in SCHEMA.bag_fields] == ["cats", "brands"]
    assert mtl.data.input_names(SCHEMA) == ("ids", "bags", "values")


@pytest.mark.parametrize(
    ("field", "message"),
    [
        (Field("b", "B", 9), "length must be a positive integer"),
        (Field("b", "B", 9, 0), "length must be a positive integer"),
        (Field("b", "B", 9, 3, "max"), "pooling must be one of mean, sum"),
        (Field("b", "B", None, 3), "size must be an integer"),
        (Field("b", "C", 9, 3), r"only a bag \(B\) has a length"),
    ],
)
def test_bad_bag_fields_are_refused(field, message):
    with pytest.raises(ValueError, match=message):
        Schema((Field("u", "C", 5), field), ("click",))


def test_a_schema_of_bags_only_is_refused():
    with pytest.raises(ValueError, match="at least one single-valued id field"):
        Schema((CATS,), ("click",))


def test_bad_bag_entry_in_vocab_json_names_the_file(tmp_path):
    SCHEMA.save(tmp_path)
    vocab = json.loads((tmp_path / "vocab.json").read_text())
    vocab["cats"] = 9
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    with pytest.raises(ValueError, match=r"vocab\.json: bag 'cats' \(type B"):
        Schema.load(tmp_path)


# ----------------------------------------------------------------------------- parsing
def test_parse_bags_pads_strings_numbers_and_lists():
    expected = np.array([[3, 7, PAD], [PAD, PAD, PAD], [5, PAD, PAD]], dtype=np.int32)
    np.testing.assert_array_equal(parse_bags(pd.Series(["3|7", "", "5"]), CATS), expected)
    np.testing.assert_array_equal(parse_bags(pd.Series([[3, 7], [], [5]]), CATS), expected)
    numbers = pd.Series([3.0, np.nan, 5.0])  # a column pandas read as numbers
    np.testing.assert_array_equal(parse_bags(numbers, CATS)[:, 0], [3, PAD, 5])
    assert format_bags(expected).tolist() == ["3|7", "", "5"]


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        (["1|2", "1|x"], r"row 1: bag '1\|x': id 'x' is not an integer in \[0, 9\]"),
        (["1|2", "1|10"], "id '10' is not an integer"),
        (["1.5"], "id '1.5' is not an integer"),
        (["1|2|3|4"], "4 ids, more than the bag's length 3"),
        (["1||2"], "id '' is not an integer"),
    ],
)
def test_bad_bag_cells_name_the_row(cells, message):
    with pytest.raises(ValueError, match=message):
        parse_bags(pd.Series(cells, name="cats"), CATS)


def test_bad_bag_in_a_file_names_file_column_row_and_line(tmp_path):
    data = frame(20)
    data.loc[7, "cats"] = "1|2|3|4"
    data.to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(ValueError, match=r"train\.csv: column 'cats', data row 8 \(line 9"):
        mtl.data.read_frame(tmp_path / "train.csv", SCHEMA)


# ------------------------------------------------------------------------------ pooling
def test_pooling_matches_numpy_and_padding_contributes_nothing():
    layer = FieldEmbedding(
        {"u": 6},
        embedding_dim=4,
        bags={
            "cats": {"rows": 10, "length": 3, "pooling": "mean"},
            "brands": {"rows": 5, "length": 2, "pooling": "sum"},
        },
    )
    bags = np.array([[3, 7, PAD, 1, 4], [PAD, PAD, PAD, PAD, PAD], [9, 9, 0, 2, PAD]])
    inputs = {"ids": np.array([[1], [0], [5]]), "bags": bags}
    out = keras.ops.convert_to_numpy(layer(inputs))
    u, cats, brands = layer.field_table("u"), layer.field_table("cats"), layer.field_table("brands")
    expected = np.stack(
        [
            np.concatenate([u[1], (cats[3] + cats[7]) / 2, brands[1] + brands[4]]),
            np.concatenate([u[0], np.zeros(4), np.zeros(4)]),  # empty bags: zero vectors
            np.concatenate([u[5], (2 * cats[9] + cats[0]) / 3, brands[2]]),
        ]
    )
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-7)
    # Whatever the padded slots' row holds, the output does not move.
    table = keras.ops.convert_to_numpy(layer.embeddings)
    table[-1] = 1e6
    layer.embeddings.assign(table)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(inputs)), expected, rtol=1e-6)


def test_field_embedding_with_bags_round_trips_its_config():
    layer = FieldEmbedding({"u": 6}, ("x",), 3, bags=SCHEMA.bags)
    clone = FieldEmbedding.from_config(layer.get_config())
    assert clone.bags == layer.bags and clone.output_dim == layer.output_dim == 3 * 3 + 1


def test_padding_gets_no_gradient():
    layer = FieldEmbedding({"u": 6}, embedding_dim=2, bags=SCHEMA.bags)
    inputs = {"ids": np.array([[1]]), "bags": np.array([[2, PAD, PAD, 1, PAD]])}
    import tensorflow as tf

    layer(inputs)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(inputs))
    grad = tf.convert_to_tensor(tape.gradient(loss, layer.embeddings))
    assert np.all(grad.numpy()[-1] == 0)  # the padded slots' row
    assert np.all(np.isfinite(grad.numpy()))


# ------------------------------------------------------------------------------ readers
def test_memory_and_stream_give_the_same_batches(tmp_path):
    frame(2500).to_csv(tmp_path / "train.csv", index=False)
    kept = mtl.data.make_dataset(tmp_path / "train.csv", SCHEMA, batch_size=512, cache=True)
    streamed = mtl.data.make_dataset(tmp_path / "train.csv", SCHEMA, batch_size=512, cache=False)
    batches = 0
    for (a, la), (b, lb) in zip(kept, streamed, strict=True):
        assert set(a) == set(b) == {"ids", "bags", "values"}
        for key in a:
            np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())
        for key in la:
            np.testing.assert_array_equal(la[key].numpy(), lb[key].numpy())
        batches += 1
    assert batches == 5


def test_bag_matrix_matches_the_file_row_by_row(tmp_path):
    data = frame(50)
    data.to_csv(tmp_path / "train.csv", index=False)
    features, _ = next(iter(mtl.data.make_dataset(tmp_path / "train.csv", SCHEMA, cache=False)))
    bags = features["bags"].numpy()
    for i, (cats, brands) in enumerate(zip(data["cats"], data["brands"], strict=True)):
        assert bags[i, :3][bags[i, :3] >= 0].tolist() == [int(c) for c in cats.split("|") if c]
        assert bags[i, 3:][bags[i, 3:] >= 0].tolist() == [int(c) for c in brands.split("|") if c]


# -------------------------------------------------------------------- models and serving
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    data = mtl.data.validate_frame(frame(), SCHEMA)[0]
    splits = mtl.datasets.Splits(SCHEMA, data[:400], data[400:500], data[500:])
    result = mtl.experiment.run("esmm", splits, epochs=1)
    return result.models[0], data[500:].reset_index(drop=True), tmp_path_factory.mktemp("bags")


def test_keras_file_round_trip_with_bags(trained):
    model, test, folder = trained
    model.save(folder / "esmm.keras")
    loaded = keras.models.load_model(folder / "esmm.keras")
    inputs = mtl.data.to_inputs(test, SCHEMA)
    np.testing.assert_array_equal(
        model.predict(inputs, verbose=0)["purchase"], loaded.predict(inputs, verbose=0)["purchase"]
    )


def test_saved_model_serves_bags_as_lists_strings_or_padded(trained):
    model, test, folder = trained
    served = mtl.serving.load(mtl.serving.export_saved_model(model, SCHEMA, folder / "served"))
    assert tuple(served.inputs["cats"].shape) == (None, 3)
    want = model.predict(mtl.data.to_inputs(test, SCHEMA), verbose=0)["purchase"].ravel()
    columns = {"u": test["u"].to_numpy(), "x": test["x"].to_numpy(), "brands": list(test["brands"])}
    columns["cats"] = [[int(c) for c in cell.split("|") if c] for cell in test["cats"]]
    np.testing.assert_allclose(served(columns)["purchase"], want, rtol=1e-6)
    columns["cats"] = parse_bags(test["cats"], CATS).astype(np.int64)  # already padded
    np.testing.assert_allclose(served(columns)["purchase"], want, rtol=1e-6)
    columns["cats"] = [[1, 2, 3, 4]] + [[]] * (len(test) - 1)
    with pytest.raises(ValueError, match=r"bag .cats., row 0: .*more than the bag's length 3"):
        served(columns)
    columns["cats"] = [[10]] * len(test)
    with pytest.raises(ValueError, match=r"id '10' is not an integer in \[0, 9\]"):
        served(columns)


# --------------------------------------------------------------------------- vocabulary
def test_vocabulary_reindexes_bag_codes():
    raw = pd.DataFrame({"b": ["500|7|500", "", "9"], "s": [4, -1, 4]})
    vocabulary = Vocabulary.fit(raw, ["s", "b"], bags={"b": 3}, missing=-1)
    assert vocabulary.codes["b"].tolist() == [7, 9, 500]
    assert vocabulary.codes["s"].tolist() == [4]  # -1 is "missing", never kept
    assert vocabulary.transform(raw)["b"].tolist() == ["3|1|3", "", "2"]
    assert vocabulary.transform(pd.DataFrame({"b": ["8"], "s": [-1]}))["b"].tolist() == ["0"]
    assert vocabulary.fields[1] == Field("b", "B", 3, 3, "mean")
    # A code counts once per row that holds it: 500, twice in one row, is rare at 2.
    rare = Vocabulary.fit(raw, ["b"], min_count=2, bags={"b": 3})
    assert rare.codes["b"].tolist() == []
    assert Vocabulary.fit(raw.iloc[[0, 0]], ["b"], 2, {"b": 3}).codes["b"].tolist() == [7, 500]
