"""The AliExpress loader on generated files in the public layout, and the whole K path.

Nothing is downloaded: small `train.csv` and `test.csv` files with the processed data's
exact header (search_id, categorical_1..16, numerical_1..63, click, conversion) are
written here, loaded, trained on for one epoch, exported for serving and served again.
"""

import csv
import gzip
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
from fresh_process import serve_in_fresh_process

import mtl_lib as mtl
from mtl_lib.datasets import aliexpress
from mtl_lib.datasets.aliexpress import CATEGORICAL, COLUMNS, NUMERICAL, STEPS

TRAIN_ROWS, TEST_ROWS, ROWS_PER_SEARCH = 240, 90, 6
UNSEEN_CODE = 99  # in the test file only

# Plain TensorFlow, no Keras model code and no mtl_lib: what a serving process has.


def make_rows(rows, seed, first_search=0):
    """Rows as the processed files write them: codes, scaled values, some integer columns."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(rows):
        codes = [str(rng.integers(0, 2 + j % 5)) for j in range(16)]
        values = [
            str(int(rng.integers(0, 2))) if k % 9 == 0 else repr(float(rng.random()))
            for k in range(63)
        ]
        click = int(rng.random() < 0.3)
        conversion = int(click and rng.random() < 0.4)
        search = str(first_search + i // ROWS_PER_SEARCH)
        out.append([search, *codes, *values, str(click), str(conversion)])
    return out


def write(path, rows, header=COLUMNS):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_folder(folder, train=None, test=None, header=COLUMNS):
    folder.mkdir(parents=True, exist_ok=True)
    if train is None:
        train = make_rows(TRAIN_ROWS, seed=0)
    if test is None:
        test = make_rows(TEST_ROWS, seed=1, first_search=1000)
        test[0][COLUMNS.index("categorical_3")] = str(UNSEEN_CODE)
    write(folder / "train.csv", train, header)
    write(folder / "test.csv", test, header)
    return folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_folder(tmp_path_factory.mktemp("data") / "AliExpress_NL")


@pytest.fixture(scope="module")
def splits(folder):
    return aliexpress.load_aliexpress(folder, valid_fraction=0.25, seed=0)


@pytest.fixture(scope="module")
def experiment_splits(splits):
    assert isinstance(splits, mtl.experiment.Splits)  # one container: the loader's is run's
    return splits


@pytest.fixture(scope="module")
def esmm(experiment_splits):
    return mtl.experiment.run(
        "esmm",
        experiment_splits,
        seed=0,
        epochs=1,
        batch_size=64,
        log_validation=True,
        validation_auc=True,
    )


# ------------------------------------------------------------------------------ loading
def test_layout_is_the_public_one():
    assert len(COLUMNS) == 82 and COLUMNS[0] == "search_id"
    assert COLUMNS[1:17] == tuple(f"categorical_{i}" for i in range(1, 17))
    assert COLUMNS[17:80] == tuple(f"numerical_{i}" for i in range(1, 64))
    assert COLUMNS[80:] == ("click", "conversion") == STEPS


def test_schema_has_16_ids_63_k_values_and_the_funnel(splits, folder):
    schema = splits.schema
    assert schema.steps == ("click", "conversion")
    assert schema.feature_names == CATEGORICAL + NUMERICAL
    assert [f.kind for f in schema.fields] == ["C"] * 16 + ["K"] * 63
    assert schema.numeric_names == NUMERICAL
    raw = pd.read_csv(folder / "train.csv")
    train_rows = raw[raw["search_id"].isin(splits.train["search_id"])]
    for name in CATEGORICAL:  # every code of the training rows, and only those
        assert schema.field(name).size == train_rows[name].nunique(), name


def test_frames_hold_the_files_values(splits, folder):
    raw = pd.read_csv(folder / "test.csv")
    test = splits.test
    assert list(test.columns) == list(COLUMNS) and len(test) == TEST_ROWS
    np.testing.assert_array_equal(test[list(NUMERICAL)], raw[list(NUMERICAL)].astype(np.float32))
    np.testing.assert_array_equal(test[list(STEPS)], raw[list(STEPS)])
    np.testing.assert_array_equal(test["search_id"], raw["search_id"])
    assert test[list(CATEGORICAL)].dtypes.eq(np.int32).all()
    assert test[list(NUMERICAL)].dtypes.eq(np.float32).all()
    assert test[list(STEPS)].dtypes.eq(np.int8).all()


def test_ids_follow_the_codes_and_unseen_codes_get_zero(splits, folder):
    raw = pd.read_csv(folder / "test.csv")
    kept = splits.vocabulary.codes["categorical_3"]
    assert UNSEEN_CODE not in kept and splits.test["categorical_3"].iloc[0] == 0
    seen = raw["categorical_3"].isin(kept).to_numpy()
    np.testing.assert_array_equal(
        splits.test["categorical_3"].to_numpy()[seen],
        np.searchsorted(kept, raw["categorical_3"].to_numpy()[seen]) + 1,
    )
    for frame in (splits.train, splits.valid, splits.test):
        for f in splits.schema.embedded_fields:
            assert frame[f.name].between(0, f.size).all(), f.name
    assert (splits.train[list(CATEGORICAL)] > 0).all().all()  # fitted on the training rows


def test_rare_codes_share_id_zero():
    frame = pd.DataFrame({"categorical_1": [5, 5, 5, 7, 9, 9]})
    vocabulary = aliexpress.Vocabulary.fit(frame, ["categorical_1"], min_count=2)
    np.testing.assert_array_equal(vocabulary.codes["categorical_1"], [5, 9])
    assert vocabulary.fields == (mtl.data.Field("categorical_1", "C", 2),)
    ids = vocabulary.transform(pd.DataFrame({"categorical_1": [5, 7, 9, 11, -1]}))
    np.testing.assert_array_equal(ids["categorical_1"], [1, 0, 2, 0, 0])
    with pytest.raises(ValueError, match="min_count must be an integer >= 1"):
        aliexpress.Vocabulary.fit(frame, ["categorical_1"], min_count=0)


def test_validation_holds_out_whole_searches(splits, folder):
    train, valid = splits.train, splits.valid
    assert not set(train["search_id"]) & set(valid["search_id"])
    assert len(train) + len(valid) == TRAIN_ROWS
    assert valid["search_id"].nunique() == TRAIN_ROWS // ROWS_PER_SEARCH // 4
    again = aliexpress.load_aliexpress(folder, valid_fraction=0.25, seed=0)
    other = aliexpress.load_aliexpress(folder, valid_fraction=0.25, seed=1)
    assert again.valid.equals(valid) and not other.valid.equals(valid)
    none = aliexpress.load_aliexpress(folder, valid_fraction=0)
    assert len(none.valid) == 0 and len(none.train) == TRAIN_ROWS


def test_max_rows_reads_the_first_rows(folder):
    head = aliexpress.read_raw(folder / "train.csv", max_rows=25, chunk_rows=10)
    full = aliexpress.read_raw(folder / "train.csv")
    assert len(head) == 25 and head.equals(full.iloc[:25])


def test_dataset_gives_an_id_matrix_and_a_k_matrix(splits):
    features, labels = next(iter(splits.dataset("test", batch_size=16)))
    assert set(features) == {"ids", "values"} and set(labels) == set(STEPS)
    assert features["ids"].dtype.name == "int32" and tuple(features["ids"].shape) == (16, 16)
    assert features["values"].dtype.name == "float32"
    assert tuple(features["values"].shape) == (16, 63)
    np.testing.assert_array_equal(features["values"], splits.test[list(NUMERICAL)].iloc[:16])
    assert tuple(labels["conversion"].shape) == (16, 1)
    with pytest.raises(ValueError, match="split must be"):
        splits.dataset("valdation")


# --------------------------------------------------------------------------- bad input
def _edit(rows, data_row, column, value):
    rows[data_row - 1][COLUMNS.index(column)] = value
    return rows


@pytest.mark.parametrize(
    ("column", "data_row", "value", "message"),
    [
        ("numerical_5", 4, "abc", "value 'abc' is not a number; expected a finite number"),
        ("numerical_63", 2, "", "empty or missing value; expected a finite number"),
        ("numerical_1", 9, "inf", "value inf is not finite"),
        ("categorical_2", 6, "2.5", "value 2.5 is not an integer; expected an integer category"),
        ("search_id", 3, "s-17", "value 's-17' is not a number; expected an integer search id"),
        ("click", 5, "2", "value 2 is out of range; expected a 0/1 label"),
    ],
)
def test_bad_values_name_file_column_and_row(tmp_path, column, data_row, value, message):
    train = _edit(make_rows(TRAIN_ROWS, seed=0), data_row, column, value)
    folder = write_folder(tmp_path / "AliExpress_ES", train=train)
    where = rf"train\.csv: column '{column}', data row {data_row} \(line {data_row + 1} of"
    with pytest.raises(ValueError, match=where) as error:
        aliexpress.load_aliexpress(folder)
    assert message in str(error.value)
    assert str(folder / "train.csv") in str(error.value)


def test_a_bad_test_file_is_named(tmp_path):
    test = _edit(make_rows(TEST_ROWS, seed=1), 30, "numerical_40", "n/a")
    folder = write_folder(tmp_path / "AliExpress_FR", test=test)
    with pytest.raises(ValueError, match=r"test\.csv: column 'numerical_40', data row 30 "):
        aliexpress.load_aliexpress(folder)


def test_rows_are_counted_across_chunks(tmp_path):
    path = write(tmp_path / "train.csv", _edit(make_rows(200, seed=0), 123, "numerical_8", "x"))
    with pytest.raises(ValueError, match=r"column 'numerical_8', data row 123 \(line 124 "):
        aliexpress.read_raw(path, chunk_rows=50)


def test_missing_column_is_named(tmp_path):
    drop = COLUMNS.index("numerical_7")
    header = COLUMNS[:drop] + COLUMNS[drop + 1 :]
    rows = [r[:drop] + r[drop + 1 :] for r in make_rows(TRAIN_ROWS, seed=0)]
    folder = write_folder(tmp_path / "AliExpress_US", train=rows, header=header)
    with pytest.raises(ValueError, match=r"train\.csv: missing column\(s\) 'numerical_7' "):
        aliexpress.load_aliexpress(folder)


def test_conversion_without_click_is_refused_or_dropped(tmp_path):
    rows = make_rows(TRAIN_ROWS, seed=0)
    unclicked = [i for i, r in enumerate(rows) if r[-2] == "0"][:2]
    for i in unclicked:
        rows[i][-1] = "1"
    folder = write_folder(tmp_path / "AliExpress_NL", train=rows)
    row = unclicked[0] + 1
    with pytest.raises(
        ValueError,
        match=rf"train\.csv: column 'conversion', data row {row} \(line {row + 1} of the file\)"
        r": funnel-inconsistent row, conversion is 1 while click is 0; pass "
        r"drop_inconsistent=True",
    ):
        aliexpress.load_aliexpress(folder)
    with pytest.warns(UserWarning, match="dropped 2 of 240 rows with a conversion but no click"):
        dropped = aliexpress.load_aliexpress(folder, drop_inconsistent=True)
    assert len(dropped.train) + len(dropped.valid) == TRAIN_ROWS - 2


def test_missing_files_say_where_the_data_come_from(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no train\.csv or train\.csv\.gz") as error:
        aliexpress.load_aliexpress(tmp_path)
    assert "MTReclib" in str(error.value) and "nothing is downloaded" in str(error.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"valid_fraction": 1.0}, "valid_fraction"),
        ({"valid_fraction": -0.1}, "valid_fraction"),
        ({"min_count": 0}, "min_count"),
        ({"max_rows": 0}, "max_rows"),
    ],
)
def test_bad_arguments(folder, kwargs, message):
    with pytest.raises(ValueError, match=message):
        aliexpress.load_aliexpress(folder, **kwargs)


def test_gzip_files_are_read(tmp_path, folder):
    target = tmp_path / "AliExpress_RU"
    target.mkdir()
    for name in ("train.csv", "test.csv"):
        with open(folder / name, "rb") as src, gzip.open(target / f"{name}.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
    again = aliexpress.load_aliexpress(target, valid_fraction=0.25, seed=0)
    plain = aliexpress.load_aliexpress(folder, valid_fraction=0.25, seed=0)
    assert again.test.equals(plain.test) and again.train.equals(plain.train)


def test_exported():
    assert mtl.datasets.load_aliexpress is aliexpress.load_aliexpress
    assert mtl.datasets.Splits is mtl.experiment.Splits


# ------------------------------------------------------------- training and serving (K)
def _finite_probabilities(predictions, steps, rows):
    for step in steps:
        p = predictions[step]
        assert p.shape == (rows,) and np.isfinite(p).all(), step
        assert ((p > 0) & (p < 1)).all(), step


def test_esmm_trains_one_epoch_on_k_inputs(esmm, splits, experiment_splits):
    model = esmm.models[0]
    assert model.input["values"].shape[-1] == 63 and model.input["ids"].shape[-1] == 16
    assert len(esmm.history) == 1 and np.isfinite(esmm.history["loss"]).all()
    assert "val_conversion_auc" in esmm.history
    _finite_probabilities(esmm.predictions, STEPS, TEST_ROWS)
    table = esmm.evaluate(experiment_splits)
    assert list(table.index) == list(STEPS)


def test_k_values_reach_the_model(esmm, splits):
    model, schema = esmm.models[0], splits.schema
    shifted = splits.test.copy()
    shifted[list(NUMERICAL)] = shifted[list(NUMERICAL)] + np.float32(1.0)
    before = mtl.train.predict(model, splits.test, schema)
    after = mtl.train.predict(model, shifted, schema)
    assert not np.allclose(before["click"], after["click"])


def test_a_mixture_model_trains_one_epoch_on_k_inputs(experiment_splits):
    result = mtl.experiment.run("mmoe", experiment_splits, seed=0, epochs=1, batch_size=64)
    assert result.models[0].input["values"].shape[-1] == 63
    assert np.isfinite(result.history["loss"]).all()
    _finite_probabilities(result.predictions, STEPS, TEST_ROWS)


def _raw_columns(schema, frame):
    return {
        f.name: frame[f.name].to_numpy(np.int64 if f.embedded else np.float32)
        for f in schema.fields
    }


@pytest.fixture(scope="module")
def exported(esmm, splits, tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "esmm"
    return mtl.serving.export_saved_model(esmm.models[0], splits.schema, path)


@pytest.mark.slow
def test_saved_model_serves_k_inputs_in_plain_tensorflow(exported, esmm, splits, tmp_path):
    columns = _raw_columns(splits.schema, splits.test)
    served = serve_in_fresh_process(exported, columns, tmp_path)
    expected = mtl.train.predict(esmm.models[0], splits.test, splits.schema)
    assert sorted(served) == sorted(STEPS)
    for step in STEPS:
        assert served[step].shape == (TEST_ROWS,)
        np.testing.assert_allclose(served[step], expected[step], rtol=1e-6, atol=1e-7)


def test_served_k_columns_are_float32_and_checked(exported, esmm, splits):
    served = mtl.serving.load(exported)
    assert served.steps == STEPS
    assert {served.inputs[n].dtype.name for n in NUMERICAL} == {"float32"}
    assert {served.inputs[n].dtype.name for n in CATEGORICAL} == {"int64"}
    columns = {k: v[:5].tolist() for k, v in _raw_columns(splits.schema, splits.test).items()}
    out = served(columns)
    expected = mtl.train.predict(esmm.models[0], splits.test.iloc[:5], splits.schema)
    for step in STEPS:
        np.testing.assert_allclose(out[step], expected[step], rtol=1e-6, atol=1e-7)
    columns["numerical_9"][2] = float("nan")
    with pytest.raises(ValueError, match="feature 'numerical_9': K values must be finite"):
        served(columns)
    del columns["numerical_9"]
    with pytest.raises(ValueError, match=r"missing feature column\(s\) \['numerical_9'\]"):
        served(columns)


def test_no_warnings_from_loading(folder):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        aliexpress.load_aliexpress(folder, max_rows=60)
