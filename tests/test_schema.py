"""Tests of mtl_lib.data.schema: checks, from_files errors and the save/load round trip."""

import json

import numpy as np
import pytest

from mtl_lib.data import FEATURES_FILE, VOCAB_FILE, Field, Schema, find_schema_files

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
        (FEATURES, {**VOCAB, "zip": 4}, r"vocab.json: key 'zip' is not a feature \(C, D or K"),
        (FEATURES, {**VOCAB, "click": 1}, r"vocab.json: key 'click' is not a feature"),
        (FEATURES, {**VOCAB, "x": 1.5}, r"vocab.json: 'x' must map to a positive int"),
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
        ((Field("x", "K", 0),), ("click",), (), "size must be >= 1"),
        ((Field("x", "K", 2.5),), ("click",), (), "size must be an integer"),
        ((Field("x", "Z"),), ("click",), (), "kind must be C, D, K or B"),
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


# ------------------------------------------------------------- K fields with a vocabulary
def test_k_feature_with_a_vocabulary_entry_is_an_id(tmp_path):
    schema = Schema.from_files(*write(tmp_path, vocab={**VOCAB, "x": 4}))
    assert schema.field("x") == Field("x", "K", 4)
    assert schema.field("x").embedded and schema.numeric_names == ()
    assert schema.vocabulary_sizes == {"city": 6, "age": 4, "x": 5}
    schema.save(tmp_path / "copy")
    assert Schema.load(tmp_path / "copy") == schema
    assert json.loads((tmp_path / "copy" / VOCAB_FILE).read_text())["x"] == 4


def test_k_feature_without_an_entry_stays_numeric(tmp_path):
    schema = Schema.from_files(*write(tmp_path))
    assert not schema.field("x").embedded and schema.numeric_names == ("x",)


# ----------------------------------------------------------------------- named steps
def test_named_steps_replace_the_targets_of_the_feature_list(tmp_path):
    files = write(tmp_path)
    assert Schema.from_files(*files, steps=["click", "apply", "hire"]).steps == (
        "click",
        "apply",
        "hire",
    )
    assert Schema.from_files(*files, steps=("click",)).steps == ("click",)  # apply ignored
    assert Schema.load(tmp_path, steps=["view", "click"]).steps == ("view", "click")
    assert Schema.load(tmp_path, steps=None).steps == ("click", "apply")


@pytest.mark.parametrize(
    ("steps", "error", "message"),
    [
        (["click", "x"], ValueError, r"features.csv, line 4: step 'x' is listed as a K column"),
        (["true_p_click"], ValueError, r"line 7: step 'true_p_click' is listed as a truth"),
        (["apply", "click"], ValueError, r"do not keep the funnel order .*\('click', 'apply'\)"),
        (["click", "click"], ValueError, r"'click' appears more than once"),
        ([], ValueError, r"steps is empty"),
        ("click", TypeError, r"sequence of column names"),
        (["click", 3], TypeError, r"must be column names"),
    ],
)
def test_named_step_errors(tmp_path, steps, error, message):
    with pytest.raises(error, match=message):
        Schema.from_files(*write(tmp_path), steps=steps)


# ------------------------------------------------------------ finding the schema files
def test_schema_files_are_found_by_header_and_extension(tmp_path):
    features, vocab = write(tmp_path)
    features.rename(tmp_path / "info_v4.csv")
    vocab.rename(tmp_path / "sizes.json")
    (tmp_path / "train.csv").write_text("city,age,x,click,apply\n1,1,0,0,0\n")
    assert [p.name for p in find_schema_files(tmp_path)] == ["info_v4.csv", "sizes.json"]
    assert Schema.load(tmp_path) == Schema.from_files(
        tmp_path / "info_v4.csv", tmp_path / "sizes.json"
    )


def test_project_names_come_first(tmp_path):
    write(tmp_path)
    (tmp_path / "other.json").write_text("{}")
    (tmp_path / "other.csv").write_text("Feature_Name,Type_Index\n")
    assert [p.name for p in find_schema_files(tmp_path)] == [FEATURES_FILE, VOCAB_FILE]


def test_finding_errors_name_the_folder_and_the_candidates(tmp_path):
    with pytest.raises(ValueError, match="data folder not found"):
        Schema.load(tmp_path / "nowhere")
    (tmp_path / "train.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"no feature list \(features.csv, or a .csv file whose"):
        Schema.load(tmp_path)
    for name in ("a.csv", "b.csv"):
        (tmp_path / name).write_text(
            "\ufeffFeature_Name,Type_Index\ncity,C\nclick,target\n", encoding="utf-8"
        )
    with pytest.raises(ValueError, match=r"several candidates for the feature list .*: a.csv, b"):
        Schema.load(tmp_path)
    (tmp_path / "b.csv").unlink()
    with pytest.raises(ValueError, match=r"no vocabulary \(vocab.json, or one .json file\)"):
        Schema.load(tmp_path)
    (tmp_path / "x.json").write_text('{"city": 3}')
    (tmp_path / "y.json").write_text('{"city": 3}')
    with pytest.raises(ValueError, match=r"several candidates for the vocabulary .*x.json, y"):
        Schema.load(tmp_path)
    (tmp_path / "y.json").unlink()
    assert Schema.load(tmp_path).fields == (Field("city", "C", 3),)
