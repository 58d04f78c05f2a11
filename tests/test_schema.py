"""Tests of mtl_lib.data.schema: checks, from_files errors and the save/load round trip."""

import json

import numpy as np
import pytest

from mtl_lib.data import FEATURES_FILE, VOCAB_FILE, Field, Schema

FEATURES = [
    "Feature_Name,Type_Index",
    "city,C",
    "age,D",
    "x,K",
    "click,target",
    "apply,target",
    "true_p_click,truth",
]
VOCAB = {"city": 5, "age": 3}


def write(tmp_path, features=FEATURES, vocab=VOCAB, raw_vocab=None):
    (tmp_path / FEATURES_FILE).write_text("".join(line + "\n" for line in features))
    text = raw_vocab if raw_vocab is not None else json.dumps(vocab)
    (tmp_path / VOCAB_FILE).write_text(text)
    return tmp_path / FEATURES_FILE, tmp_path / VOCAB_FILE


def test_from_files_reads_fields_steps_and_truth(tmp_path):
    schema = Schema.from_files(*write(tmp_path))
    assert schema.fields == (Field("city", "C", 5), Field("age", "D", 3), Field("x", "K"))
    assert schema.steps == ("click", "apply")
    assert schema.truth == ("true_p_click",)
    assert schema.vocabulary_sizes == {"city": 6, "age": 4}


def test_save_load_round_trip(tmp_path):
    schema = Schema.from_files(*write(tmp_path))
    schema.save(tmp_path / "copy")
    assert Schema.load(tmp_path / "copy") == schema


def test_numpy_sizes_are_accepted_and_saved(tmp_path):
    schema = Schema((Field("city", "C", np.int64(7)),), ("click",))
    assert type(schema.field("city").size) is int
    schema.save(tmp_path)
    assert Schema.load(tmp_path) == schema


def test_byte_order_mark_is_accepted(tmp_path):
    features, vocab = write(tmp_path)
    features.write_bytes(b"\xef\xbb\xbf" + features.read_bytes())
    assert Schema.from_files(features, vocab).steps == ("click", "apply")


@pytest.mark.parametrize(
    ("features", "vocab", "message"),
    [
        (FEATURES, {"age": 3}, r"vocab.json: feature 'city' is type C .*line 2"),
        (FEATURES, {**VOCAB, "x": 4}, r"vocab.json: key 'x' is not a C or D feature"),
        (FEATURES, {**VOCAB, "zip": 4}, r"vocab.json: key 'zip' is not a C or D feature"),
        (FEATURES, {"city": 2.5, "age": 3}, r"vocab.json: 'city' must map to a positive int"),
        (FEATURES, {"city": "5", "age": 3}, r"vocab.json: 'city' must map to a positive int"),
        (FEATURES, {"city": 0, "age": 3}, r"vocab.json: 'city' must map to a positive int"),
        (FEATURES, {"city": True, "age": 3}, r"vocab.json: 'city' must map to a positive int"),
        ([*FEATURES[:2], "age,E"], VOCAB, r"features.csv, line 3: Type_Index of 'age'"),
        (["Name,Type", *FEATURES[1:]], VOCAB, r"features.csv: header must be"),
        ([*FEATURES, "y,K,extra"], VOCAB, r"features.csv, line 8: expected 2 columns"),
        ([*FEATURES, "2y,K"], VOCAB, r"'2y' is not a valid column name"),
        ([FEATURES[0]], {}, r"features.csv: schema has no feature columns"),
        (FEATURES[:4], VOCAB, r"features.csv: schema has no funnel steps"),
        ([*FEATURES, "city,K"], VOCAB, r"'city' appears more than once"),
    ],
)
def test_from_files_errors(tmp_path, features, vocab, message):
    with pytest.raises(ValueError, match=message):
        Schema.from_files(*write(tmp_path, features, vocab))


def test_empty_features_file(tmp_path):
    with pytest.raises(ValueError, match=r"features\.csv: the features file is empty"):
        Schema.from_files(*write(tmp_path, features=[]))


def test_invalid_json(tmp_path):
    with pytest.raises(ValueError, match=r"vocab\.json: not valid JSON"):
        Schema.from_files(*write(tmp_path, raw_vocab="{city: 5"))
    with pytest.raises(ValueError, match=r"vocab\.json: must hold a JSON object"):
        Schema.from_files(*write(tmp_path, raw_vocab="[5, 3]"))


def test_missing_files(tmp_path):
    features, vocab = write(tmp_path)
    with pytest.raises(ValueError, match="vocabulary file not found"):
        Schema.from_files(features, tmp_path / "none.json")
    with pytest.raises(ValueError, match="features file not found"):
        Schema.from_files(tmp_path / "none.csv", vocab)


@pytest.mark.parametrize("name", ["click", "true_p_click"])
def test_label_leakage_in_files(tmp_path, name):
    features = [*FEATURES[:4], f"{name},K", *FEATURES[4:]]
    with pytest.raises(ValueError, match=f"'{name}' is a label or ground-truth column"):
        Schema.from_files(*write(tmp_path, features))


@pytest.mark.parametrize(
    ("fields", "steps", "truth", "message"),
    [
        ((Field("x", "K"), Field("x", "K")), ("click",), (), "appears more than once"),
        ((Field("x", "K"),), ("click", "click"), (), "appears more than once"),
        ((Field("click", "C", 3),), ("click",), (), "label leakage"),
        ((Field("apply", "K"),), ("click",), ("apply",), "label leakage"),
        ((Field("true_p_click", "K"),), ("click",), (), "label leakage"),
        ((Field("city", "C"),), ("click",), (), "size must be an integer"),
        ((Field("city", "C", 0),), ("click",), (), "size must be >= 1"),
        ((Field("x", "K", 3),), ("click",), (), "takes no size"),
        ((Field("x", "Z"),), ("click",), (), "kind must be C, D or K"),
        ((), ("click",), (), "no feature columns"),
        ((Field("x", "K"),), (), (), "no funnel steps"),
    ],
)
def test_schema_checks(fields, steps, truth, message):
    with pytest.raises(ValueError, match=message):
        Schema(fields, steps, truth)


def test_views():
    schema = Schema((Field("city", "C", 5), Field("x", "K")), ("click", "apply"), ("true_p_a",))
    assert schema.columns == ("city", "x", "click", "apply", "true_p_a")
    assert schema.numeric_names == ("x",)
    assert schema.with_steps(("click",), ()).columns == ("city", "x", "click")
    with pytest.raises(KeyError):
        schema.field("zip")
    with pytest.raises(ValueError, match="has no vocabulary"):
        _ = schema.field("x").vocabulary_size
