"""Tests of mtl_lib.data.validate and mtl_lib.data.read on tiny hand-made files."""

import contextlib
import gc
import gzip
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import mtl_lib.data.read as read_module
from mtl_lib.data import (
    Field,
    FileReport,
    Schema,
    make_dataset,
    read_frame,
    validate_file,
    validate_frame,
)

SCHEMA = Schema(
    fields=(Field("city", "C", 5), Field("age", "D", 3), Field("x", "K")),
    steps=("click", "apply"),
    truth=("true_p_click",),
)
HEADER = "city,age,x,click,apply"
GOOD_ROWS = ["3,2,0.5,1,1", "0,0,-1.25,0,0", "5,3,2.0,1,0", "1,1,0,0,0"]


def write(tmp_path, lines, name="data.csv"):
    """Write lines (header first) to a plain or gzip file and return its path."""
    path = tmp_path / name
    text = "".join(line + "\n" for line in lines)
    if name.endswith(".gz"):
        with gzip.open(path, "wt", newline="") as f:
            f.write(text)
    else:
        path.write_text(text, newline="")
    return path


def funnel_frame(rows=23, seed=0):
    """A consistent random frame with the SCHEMA columns plus an extra column."""
    rng = np.random.default_rng(seed)
    click = rng.integers(0, 2, rows)
    return pd.DataFrame(
        {
            "id": np.arange(rows),
            "city": rng.integers(0, 6, rows),
            "age": rng.integers(0, 4, rows),
            "x": np.round(rng.normal(size=rows), 4),
            "click": click,
            "apply": click * rng.integers(0, 2, rows),
            "true_p_click": np.round(rng.uniform(size=rows), 3),
        }
    )


def as_numpy(batches):
    """All batches of a dataset (or those left in an iterator) as numpy dicts."""
    return [
        ({k: v.numpy() for k, v in f.items()}, {k: v.numpy() for k, v in y.items()})
        for f, y in batches
    ]


def concat(batches, part, name):
    """One column over all batches: a label, or a feature's column of its kind's matrix."""
    if part == 1:
        return np.concatenate([batch[1][name] for batch in batches])
    ids = [f.name for f in SCHEMA.embedded_fields]
    key, column = ("ids", ids.index(name)) if name in ids else ("values", 0)
    assert key == "ids" or SCHEMA.numeric_names == (name,)
    return np.concatenate([batch[0][key][:, column] for batch in batches])


def assert_same_batches(a, b):
    assert len(a) == len(b)
    for (fa, ya), (fb, yb) in zip(a, b, strict=True):
        assert list(fa) == list(fb) == ["ids", "values"]
        for name in fa:
            np.testing.assert_array_equal(fa[name], fb[name])
            assert fa[name].dtype == fb[name].dtype
        for step in SCHEMA.steps:
            np.testing.assert_array_equal(ya[step], yb[step])


# -------------------------------------------------------------------- 1. empty files
def test_empty_file_is_an_error(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.csv: the file is empty \(0 bytes\)"):
        validate_file(path, SCHEMA)


def test_empty_gzip_file_is_an_error(tmp_path):
    path = write(tmp_path, [], name="empty.csv.gz")
    with pytest.raises(ValueError, match=r"empty\.csv\.gz: the file is empty"):
        validate_file(path, SCHEMA)


@pytest.mark.parametrize("name", ["head.csv", "head.csv.gz"])
def test_header_only_file_is_an_error(tmp_path, name):
    path = write(tmp_path, [HEADER], name=name)
    with pytest.raises(ValueError, match=f"{re.escape(name)}: .*header but no data rows"):
        validate_file(path, SCHEMA)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.csv"):
        validate_file(tmp_path / "nope.csv", SCHEMA)


# ---------------------------------------------------------------- 2. missing columns
def test_missing_feature_and_step_columns_are_named(tmp_path):
    path = write(tmp_path, ["city,x,click", "1,0.5,1"])
    with pytest.raises(ValueError, match=r"data.csv: missing column\(s\) 'age', 'apply'"):
        validate_file(path, SCHEMA)


def test_a_missing_step_is_called_a_step_and_a_long_header_is_cut(tmp_path):
    path = write(tmp_path, ["city,age,x,click", "1,1,0.5,1"])
    with pytest.raises(
        ValueError,
        match=r"missing column\(s\) 'apply' \(funnel step\(s\) 'apply': .*steps=.*\); .*"
        r"the header has 4 columns: city, age, x, click$",
    ):
        validate_file(path, SCHEMA)
    extra = ",".join(f"note{i}" for i in range(50))
    path = write(tmp_path, [f"city,age,x,{extra}", "1,1,0.5" + ",a" * 50])
    with pytest.raises(ValueError, match=r"header has 53 columns: city, .*, note36, \.\.\.$"):
        validate_file(path, SCHEMA)


def test_truth_columns_are_optional(tmp_path):
    report = validate_file(write(tmp_path, [HEADER, *GOOD_ROWS]), SCHEMA)
    assert report == FileReport(str(tmp_path / "data.csv"), 4, 0, {"click": 2, "apply": 1})


def test_truth_column_present_is_checked_and_kept(tmp_path):
    path = write(tmp_path, [HEADER + ",true_p_click", "3,2,0.5,1,1,0.25", "0,0,1,0,0,1"])
    frame = read_frame(path, SCHEMA)
    assert list(frame.columns) == list(SCHEMA.columns)
    assert frame["true_p_click"].dtype == np.float32
    bad = write(tmp_path, [HEADER + ",true_p_click", "3,2,0.5,1,1,0.25", "0,0,1,0,0,1.5"])
    with pytest.raises(ValueError, match=r"'true_p_click', data row 2 .*1\.5.*\[0, 1\]"):
        validate_file(bad, SCHEMA)
    nan = write(tmp_path, [HEADER + ",true_p_click", "3,2,0.5,1,1,", "0,0,1,0,0,1"])
    with pytest.raises(ValueError, match=r"'true_p_click', data row 1 .*missing"):
        validate_file(nan, SCHEMA)


def test_duplicate_schema_column_in_header_is_an_error(tmp_path):
    path = write(tmp_path, [HEADER + ",city", GOOD_ROWS[0] + ",1"])
    with pytest.raises(ValueError, match="'city' appears more than once"):
        validate_file(path, SCHEMA)


# ------------------------------------------------------------------------ 3. C/D ids
@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("city", "1.5", "value 1.5 is not an integer"),
        ("city", "abc", "value 'abc' is not a number"),
        ("city", "-1", "value -1 is out of range"),
        ("city", "6", "value 6 is out of range"),
        ("age", "4", "value 4 is out of range"),
    ],
)
def test_bad_ids_name_column_row_value_and_range(tmp_path, column, value, problem):
    rows = [r.split(",") for r in GOOD_ROWS]
    rows[2][SCHEMA.feature_names.index(column)] = value
    path = write(tmp_path, [HEADER, *(",".join(r) for r in rows)])
    size = SCHEMA.field(column).size
    expected = (
        f"data.csv: column '{column}', data row 3 (line 4 of the file): {problem}; "
        f"expected an integer id in [0, {size}]"
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        validate_file(path, SCHEMA)


def test_integral_float_ids_are_accepted(tmp_path):
    frame = read_frame(write(tmp_path, [HEADER, "3.0,2,0.5,1,1"]), SCHEMA)
    assert frame["city"].dtype == np.int32 and frame["city"].tolist() == [3]


def test_first_offending_row_is_reported(tmp_path):
    path = write(tmp_path, [HEADER, "1,1,0,0,0", "9,1,0,0,0", "1,1,0,0,0", "-3,1,0,0,0"])
    with pytest.raises(ValueError, match=r"data row 2 \(line 3 .*value 9 .*at least 2 bad"):
        validate_file(path, SCHEMA)


def test_row_numbers_continue_across_chunks(tmp_path):
    rows = ["1,1,0.5,0,0"] * 12
    rows[9] = "1,7,0.5,0,0"
    path = write(tmp_path, [HEADER, *rows])
    with pytest.raises(ValueError, match=r"'age', data row 10 \(line 11 of the file\)"):
        validate_file(path, SCHEMA, chunk_rows=4)


# ------------------------------------------------------------- 4. missing and K values
@pytest.mark.parametrize("column", ["city", "age", "x"])
def test_empty_feature_cell_is_an_error(tmp_path, column):
    rows = [r.split(",") for r in GOOD_ROWS]
    rows[1][SCHEMA.feature_names.index(column)] = ""
    path = write(tmp_path, [HEADER, *(",".join(r) for r in rows)])
    with pytest.raises(ValueError, match=f"'{column}', data row 2 .*empty or missing"):
        validate_file(path, SCHEMA)


@pytest.mark.parametrize(("value", "problem"), [("abc", "not a number"), ("inf", "not finite")])
def test_bad_k_value_is_an_error(tmp_path, value, problem):
    path = write(tmp_path, [HEADER, GOOD_ROWS[0], f"1,1,{value},0,0"])
    with pytest.raises(ValueError, match=f"'x', data row 2 .*'?{value}'? is {problem}"):
        validate_file(path, SCHEMA)


# ---------------------------------------------------------------------------- 5. labels
@pytest.mark.parametrize("value", ["2", "-1", "0.5", "", "yes"])
def test_labels_must_be_zero_or_one(tmp_path, value):
    path = write(tmp_path, [HEADER, GOOD_ROWS[0], f"1,1,0.5,{value},0"])
    with pytest.raises(ValueError, match=r"'click', data row 2 .*expected a 0/1 label"):
        validate_file(path, SCHEMA)


# ------------------------------------------------------------- 6. funnel consistency
INCONSISTENT = [HEADER, "1,1,0.5,1,1", "1,1,0.5,0,1", "1,1,0.5,0,0", "1,1,0.5,0,1"]


def test_inconsistent_row_is_an_error_naming_row_and_steps(tmp_path):
    path = write(tmp_path, INCONSISTENT)
    with pytest.raises(
        ValueError, match=r"'apply', data row 2 \(line 3.*'apply' is 1 .*'click' is 0"
    ):
        validate_file(path, SCHEMA)


def test_inconsistent_rows_are_dropped_and_counted(tmp_path):
    path = write(tmp_path, INCONSISTENT)
    report = validate_file(path, SCHEMA, drop_inconsistent=True, chunk_rows=3)
    assert (report.rows, report.dropped, report.step_counts) == (2, 2, {"click": 1, "apply": 1})
    with pytest.warns(UserWarning, match="dropped 2 of 4 rows"):
        frame = read_frame(path, SCHEMA, drop_inconsistent=True)
    assert frame["click"].tolist() == [1, 0]


@pytest.mark.parametrize("cache", [True, False])
def test_make_dataset_warns_about_dropped_rows(tmp_path, cache):
    path = write(tmp_path, INCONSISTENT)
    with pytest.warns(UserWarning, match="dropped 2 of 4 rows"):
        ds = make_dataset(path, SCHEMA, cache=cache, drop_inconsistent=True)
    batches = as_numpy(ds)
    assert concat(batches, 1, "apply").ravel().tolist() == [1.0, 0.0]


def test_no_warning_without_drops(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_frame(write(tmp_path, [HEADER, *GOOD_ROWS]), SCHEMA, drop_inconsistent=True)


def test_three_step_funnel_names_the_adjacent_steps():
    schema = Schema((Field("x", "K"),), ("click", "apply", "hire"))
    frame = pd.DataFrame({"x": [0.0, 1.0], "click": [1, 1], "apply": [1, 0], "hire": [1, 1]})
    with pytest.raises(ValueError, match=r"data row 2: .*'hire' is 1 .*'apply' is 0"):
        validate_frame(frame, schema)


# ------------------------------------------------------------------- validate_frame
def test_validate_frame_dtypes_order_and_extra_columns():
    raw = funnel_frame()[["apply", "id", "x", "click", "age", "city"]]
    clean, dropped = validate_frame(raw, SCHEMA)
    assert dropped == 0
    assert list(clean.columns) == ["city", "age", "x", "click", "apply"]
    assert clean.dtypes.astype(str).tolist() == ["int32", "int32", "float32", "int8", "int8"]


def test_validate_frame_errors_use_first_row_and_source():
    raw = funnel_frame(rows=5)
    raw.loc[3, "city"] = 99
    with pytest.raises(ValueError, match=r"^part: column 'city', data row 104: value 99 "):
        validate_frame(raw, SCHEMA, source="part", first_row=101)


def test_validate_frame_rejects_no_rows():
    with pytest.raises(ValueError, match="no data rows"):
        validate_frame(funnel_frame().iloc[:0], SCHEMA)


def test_malformed_csv_is_a_value_error(tmp_path):
    path = write(tmp_path, [HEADER, GOOD_ROWS[0], '1,1,"0.5,0,0'])
    with pytest.raises(ValueError, match=r"data\.csv: not a readable CSV file"):
        validate_file(path, SCHEMA)


def test_short_row_is_a_missing_value(tmp_path):
    path = write(tmp_path, [HEADER, GOOD_ROWS[0], "1,1,0.5"])
    with pytest.raises(ValueError, match=r"'click', data row 2 \(line 3 .*empty or missing"):
        validate_file(path, SCHEMA)


# ----------------------------------------------------------------------- make_dataset
@pytest.fixture
def gz_file(tmp_path):
    frame = funnel_frame()
    path = tmp_path / "split.csv.gz"
    frame.to_csv(path, index=False)
    return path, frame


@pytest.mark.parametrize("cache", [True, False])
def test_shapes_and_dtypes(gz_file, cache):
    path, _ = gz_file
    features, labels = make_dataset(path, SCHEMA, batch_size=8, cache=cache).element_spec
    assert list(features) == ["ids", "values"]  # one matrix per kind, fields in schema order
    assert list(labels) == list(SCHEMA.steps)
    ids = [f.name for f in SCHEMA.embedded_fields]
    assert features["ids"].dtype == tf.int32 and features["ids"].shape.as_list() == [None, len(ids)]
    assert features["values"].dtype == tf.float32
    assert features["values"].shape.as_list() == [None, len(SCHEMA.numeric_names)]
    assert all(s.dtype == tf.float32 and s.shape.as_list() == [None, 1] for s in labels.values())


@pytest.mark.parametrize("drop_inconsistent", [False, True])
def test_memory_and_streaming_give_the_same_rows(gz_file, drop_inconsistent):
    path, frame = gz_file
    kwargs = {"batch_size": 5, "drop_inconsistent": drop_inconsistent}
    memory = as_numpy(make_dataset(path, SCHEMA, cache=True, **kwargs))
    stream = as_numpy(make_dataset(path, SCHEMA, cache=False, **kwargs))
    assert_same_batches(memory, stream)
    assert [len(y["click"]) for _, y in memory] == [5, 5, 5, 5, 3]
    np.testing.assert_array_equal(concat(memory, 0, "city"), frame["city"])
    np.testing.assert_array_equal(concat(memory, 0, "x"), frame["x"].astype(np.float32))


def test_gzip_and_plain_csv_are_read_alike(gz_file, tmp_path):
    path, frame = gz_file
    plain = tmp_path / "split.csv"
    frame.to_csv(plain, index=False)
    for cache in (True, False):
        assert_same_batches(
            as_numpy(make_dataset(path, SCHEMA, batch_size=7, cache=cache)),
            as_numpy(make_dataset(plain, SCHEMA, batch_size=7, cache=cache)),
        )


def test_extra_and_reordered_columns_are_ignored(gz_file, tmp_path):
    path, frame = gz_file
    odd = tmp_path / "odd.csv"
    frame.assign(note="a,b")[["note", "apply", "x", "id", "click", "city", "age"]].to_csv(
        odd, index=False
    )
    for cache in (True, False):
        assert_same_batches(
            as_numpy(make_dataset(path, SCHEMA, batch_size=6, cache=cache)),
            as_numpy(make_dataset(odd, SCHEMA, batch_size=6, cache=cache)),
        )


@pytest.mark.parametrize("cache", [True, False])
def test_shuffle_is_reproducible_with_a_seed(gz_file, cache):
    path, frame = gz_file

    def order(ds):
        return concat(as_numpy(ds), 0, "x").tolist()

    kwargs = {"batch_size": 4, "shuffle": True, "cache": cache, "shuffle_buffer": 64}
    first = make_dataset(path, SCHEMA, seed=7, **kwargs)
    epoch_1, epoch_2 = order(first), order(first)
    assert epoch_1 == order(make_dataset(path, SCHEMA, seed=7, **kwargs))
    assert epoch_1 != epoch_2  # reshuffled each epoch
    assert epoch_1 != frame["x"].astype(np.float32).tolist()
    assert sorted(epoch_1) == sorted(frame["x"].astype(np.float32).tolist())


@pytest.mark.parametrize("cache", [True, False])
def test_drop_remainder(gz_file, cache):
    path, _ = gz_file
    ds = make_dataset(path, SCHEMA, batch_size=10, cache=cache, drop_remainder=True)
    assert [len(y["apply"]) for _, y in as_numpy(ds)] == [10, 10]
    assert ds.element_spec[1]["apply"].shape.as_list() == [10, 1]


def test_dataframe_input(gz_file):
    path, frame = gz_file
    assert_same_batches(
        as_numpy(make_dataset(frame, SCHEMA, batch_size=6)),
        as_numpy(make_dataset(path, SCHEMA, batch_size=6)),
    )
    bad = frame.assign(city=frame["city"] + 10)
    with pytest.raises(ValueError, match="<DataFrame>: column 'city', data row 1"):
        make_dataset(bad, SCHEMA)


def test_dataframe_input_warns_about_dropped_rows():
    frame = funnel_frame(rows=6).assign(click=[1, 0, 0, 1, 1, 0], apply=[1, 1, 0, 0, 1, 0])
    with pytest.warns(UserWarning, match="dropped 1 of 6 rows"):
        ds = make_dataset(frame, SCHEMA, drop_inconsistent=True)
    assert len(concat(as_numpy(ds), 0, "x")) == 5


def test_invalid_file_is_caught_before_training(tmp_path):
    path = write(tmp_path, [HEADER, GOOD_ROWS[0], "1,1,0.5,3,0"])
    for cache in (True, False):
        with pytest.raises(ValueError, match="'click', data row 2"):
            make_dataset(path, SCHEMA, cache=cache)


def test_streaming_does_not_load_the_file_into_pandas(gz_file, monkeypatch):
    path, frame = gz_file

    def refuse(*args, **kwargs):
        raise AssertionError("the streaming path must not read the file with pandas")

    monkeypatch.setattr(pd, "read_csv", refuse)
    monkeypatch.setattr(read_module, "read_frame", refuse)
    monkeypatch.setattr(read_module, "validate_file", refuse)
    ds = make_dataset(path, SCHEMA, batch_size=8, cache=False, validate=False)
    np.testing.assert_array_equal(concat(as_numpy(ds), 0, "age"), frame["age"])


def spills(folder):
    """This process's spill files in `folder`: named, or open though unlinked (Linux)."""
    found = {str(p) for p in folder.glob("mtl_stream_*")}
    descriptors = Path("/proc/self/fd")
    for fd in descriptors.iterdir() if descriptors.is_dir() else ():
        with contextlib.suppress(OSError):
            target = os.readlink(fd).removesuffix(" (deleted)")
            if target.startswith(str(folder / "mtl_stream_")):
                found.add(target)
    return sorted(found)


def test_stream_shuffle_mixes_blocks_within_its_buffer(tmp_path):
    rows, buffer = 6000, 2048
    frame = funnel_frame(rows).assign(x=np.arange(rows, dtype=np.float64))  # x = row number
    path = tmp_path / "rows.csv"
    frame.to_csv(path, index=False)
    ds = make_dataset(
        path, SCHEMA, batch_size=256, shuffle=True, seed=0, cache=False, shuffle_buffer=buffer
    )
    epochs = [concat(as_numpy(ds), 0, "x") for _ in range(2)]
    for order in epochs:  # every row exactly once per epoch
        np.testing.assert_array_equal(np.sort(order), np.arange(rows))
    first = epochs[0][:256]
    # A buffer of two blocks of 1,024 rows draws its first window from the first three blocks
    assert first.max() < 3 * read_module.SPILL_BLOCK_ROWS
    assert first.max() - first.min() > read_module.SPILL_BLOCK_ROWS  # rows of several blocks
    assert (np.diff(first) != 1).mean() > 0.9  # and not in file order within a block
    assert not np.array_equal(epochs[0], epochs[1])


def test_stream_spill_file_is_deleted_with_the_dataset(gz_file, tmp_path, monkeypatch):
    path, frame = gz_file
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ds = make_dataset(path, SCHEMA, batch_size=8, cache=False, shuffle=True, seed=0)
    assert len(spills(tmp_path)) == 1
    iterator = iter(ds)
    del ds
    gc.collect()
    assert len(concat(as_numpy(iterator), 0, "age")) == len(frame)
    del iterator
    gc.collect()
    assert spills(tmp_path) == []


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd (Linux)")
def test_stream_spill_file_has_no_name_and_goes_with_a_killed_process(gz_file, tmp_path):
    path, frame = gz_file
    child = textwrap.dedent(
        f"""
        import os, tempfile
        tempfile.tempdir = {str(tmp_path)!r}
        from mtl_lib.data import Field, Schema, make_dataset
        schema = Schema(fields=(Field("city", "C", 5), Field("age", "D", 3), Field("x", "K")),
                        steps=("click", "apply"))
        ds = make_dataset({str(path)!r}, schema, batch_size=8, cache=False)
        rows = sum(len(y["click"]) for _, y in ds)
        names = [n for n in os.listdir({str(tmp_path)!r}) if n.startswith("mtl_stream_")]
        print(rows, len(names), flush=True)
        os._exit(0)  # as a killed kernel: no finalizer runs
        """
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [str(len(frame)), "0"]  # read through its descriptor, nameless
    assert list(tmp_path.glob("mtl_stream_*")) == []


def test_stream_spill_file_is_deleted_when_making_the_dataset_fails(gz_file, tmp_path, monkeypatch):
    path, _ = gz_file
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def fail(*args, **kwargs):
        raise RuntimeError("no pipeline")

    monkeypatch.setattr(read_module, "_read_spill", fail)
    with pytest.raises(RuntimeError, match="no pipeline"):
        make_dataset(path, SCHEMA, cache=False)
    assert spills(tmp_path) == []


def test_unvalidated_malformed_stream_fails_when_made(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    path = write(tmp_path, [HEADER, GOOD_ROWS[0], "abc,1,0.5,0,0"])
    with pytest.raises(tf.errors.InvalidArgumentError):
        make_dataset(path, SCHEMA, cache=False, validate=False)
    assert spills(tmp_path) == []


def test_large_files_stream_by_default(gz_file, monkeypatch):
    path, frame = gz_file
    monkeypatch.setattr(read_module, "MEMORY_LIMIT_BYTES", 10)
    monkeypatch.setattr(read_module, "_from_frame", None)  # the in-memory path would fail
    ds = make_dataset(path, SCHEMA, batch_size=8)
    np.testing.assert_array_equal(concat(as_numpy(ds), 0, "city"), frame["city"])


def test_bad_arguments(gz_file):
    path, _ = gz_file
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        make_dataset(path, SCHEMA, batch_size=0)
    with pytest.raises(FileNotFoundError):
        make_dataset(path.with_name("missing.csv"), SCHEMA)


def test_split_path_finds_gz_then_csv(tmp_path):
    from mtl_lib.data import split_path

    (tmp_path / "train.csv").write_text("a\n1\n")
    assert split_path(tmp_path, "train").name == "train.csv"
    (tmp_path / "train.csv.gz").write_bytes(b"")
    assert split_path(tmp_path, "train").name == "train.csv.gz"
    with pytest.raises(ValueError, match=r"no test\.csv\.gz or test\.csv"):
        split_path(tmp_path, "test")


def test_split_path_finds_the_original_projects_names(tmp_path):
    from mtl_lib.data import split_path

    (tmp_path / "sample_valid.csv").write_text("a\n1\n")
    assert split_path(tmp_path, "valid").name == "sample_valid.csv"
    (tmp_path / "valid.csv").write_text("a\n1\n")
    assert split_path(tmp_path, "valid").name == "valid.csv"  # the project's name first
    with pytest.raises(ValueError, match=r"nor the original project's sample_test\.csv\)"):
        split_path(tmp_path, "test")


@pytest.mark.parametrize("cache", [True, False])
def test_a_k_feature_with_a_size_is_an_id(tmp_path, cache):
    schema = Schema((Field("city", "C", 5), Field("k", "K", 2), Field("x", "K")), ("click",))
    path = write(tmp_path, ["city,k,x,click", "1,2,0.5,1", "3,0,1.5,0"])
    features, _ = next(iter(make_dataset(path, schema, cache=cache)))
    np.testing.assert_array_equal(features["ids"].numpy(), [[1, 2], [3, 0]])
    np.testing.assert_array_equal(features["values"].numpy(), [[0.5], [1.5]])
    bad = write(tmp_path, ["city,k,x,click", "1,3,0.5,1"], name="bad.csv")
    with pytest.raises(ValueError, match=r"'k', data row 1 .*value 3 is out of range; .*\[0, 2\]"):
        read_frame(bad, schema)


def test_truth_labels_ride_along_row_by_row(tmp_path):
    from mtl_lib.synthetic import FunnelGenerator

    gen = FunnelGenerator(("click", "purchase"), seed=0)
    frame = gen.sample(300)
    data = make_dataset(frame, gen.schema, batch_size=300, truth=True)
    _, labels = next(iter(data))
    assert list(labels) == ["click", "purchase", *gen.schema.truth]
    for column in gen.schema.truth:
        np.testing.assert_array_equal(
            labels[column].numpy().ravel(), frame[column].to_numpy("float32")
        )
    _, plain = next(iter(make_dataset(frame, gen.schema, batch_size=300)))
    assert list(plain) == ["click", "purchase"]
    with pytest.raises(ValueError, match="<DataFrame>: no column 'true_p_click'"):
        make_dataset(frame.drop(columns="true_p_click"), gen.schema, truth=True)
    with pytest.raises(ValueError, match="the schema has no truth columns"):
        make_dataset(frame, gen.schema.with_steps(gen.schema.steps, truth=()), truth=True)
    path = gen.write_csv(tmp_path / "train.csv", 300)
    with pytest.raises(ValueError, match="truth labels need the data in memory"):
        make_dataset(path, gen.schema, cache=False, truth=True)
