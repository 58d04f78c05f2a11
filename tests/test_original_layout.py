"""The original project's data folder, exactly as it ships, loads and trains every model.

The folder is generated here in that layout: a feature list `info_v4.csv` starting with a
UTF-8 byte-order mark that marks only the last funnel label as `target`; a vocabulary
`embedding_number_v4.json` with an entry for every input column, K included (but for one
K column, to check that it stays numeric); splits `sample_{train,valid,test}.csv` with
extra columns (order ids, timestamps, Chinese text with commas, often-empty dates) and,
in the training split, one row that reaches a step without the one before.
"""

import json
import re

import numpy as np
import pandas as pd
import pytest

import mtl_lib as mtl
from mtl_lib.data import Schema, find_schema_files, make_dataset, read_frame, split_path

C = [f"c{i:02d}" for i in range(15)]
D = [f"d{i:03d}" for i in range(100)]
K_IDS = [f"k{i}" for i in range(6)]  # K columns with a vocabulary entry: looked up as ids
K_NUMBER = "k_amount"  # a K column without one: a number
STEPS = ("click", "apply", "approve", "activate")  # funnel order, known from the code only
MARKED = "activate"  # the one label the feature list marks as target
ROWS = {"train": 240, "valid": 80, "test": 120}
BAD_ROW = 7  # the training split's data row that applies without a click


def _sizes(rng):
    """Number of categories `n` per id column (ids run 0..n), as the JSON holds them."""
    sizes = {c: int(rng.integers(2, 40)) for c in C}
    sizes |= {d: int(rng.integers(2, 10)) for d in D}
    return sizes | {k: int(rng.integers(1, 5)) for k in K_IDS}


def _split(rng, rows, sizes):
    """One split's columns, extra ones first, in an order other than the feature list's."""
    reach = rng.uniform(size=rows)
    rates = (0.5, 0.3, 0.2, 0.1)  # of exposures reaching each step: a consistent funnel
    labels = {s: (reach < p).astype(int) for s, p in zip(STEPS, rates, strict=True)}
    frame = pd.DataFrame(
        {
            "order_id": [f"OD2019{i:010d}" for i in rng.integers(0, 10**9, rows)],
            "备注": rng.choice(["首次申请", "老客户,提额", '"白金"卡', ""], rows),
            **{name: rng.integers(0, n + 1, rows) for name, n in sizes.items()},
            "apply_time": pd.Timestamp("2019-03-01")
            + pd.to_timedelta(rng.integers(0, 86400 * 30, rows), unit="s"),
            K_NUMBER: np.round(rng.lognormal(3, 1, rows), 2),
            "product_name": rng.choice(["信用卡，普卡", "白金卡, 年费减免", "金卡"], rows),
            **labels,
            "approve_date": np.where(labels["approve"] == 1, "2019-03-05", ""),
        }
    )
    order = list(frame.columns)
    rng.shuffle(order)
    return frame[order]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A data folder in the original project's layout, and the frames written to it."""
    path = tmp_path_factory.mktemp("original")
    rng = np.random.default_rng(14)
    sizes = _sizes(rng)
    listed = [(c, "C") for c in C] + [(d, "D") for d in D]
    listed += [(k, "K") for k in [*K_IDS, K_NUMBER]] + [(MARKED, "target")]
    text = "Feature_Name,Type_Index\r\n" + "".join(f"{n},{t}\r\n" for n, t in listed)
    (path / "info_v4.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    (path / "embedding_number_v4.json").write_text(json.dumps(sizes, indent=1))
    frames = {}
    for split, rows in ROWS.items():
        frame = _split(rng, rows, sizes)
        if split == "train":  # applies without a click, as real logs sometimes do
            frame.loc[BAD_ROW - 1, list(STEPS)] = (0, 1, 0, 0)
        assert (frame[list(STEPS)].sum() > 0).all(), split
        # One split as a Windows program writes it: a byte-order mark and CRLF line ends.
        windows = {"encoding": "utf-8-sig", "lineterminator": "\r\n"} if split == "test" else {}
        frame.to_csv(path / f"sample_{split}.csv", index=False, **windows)
        frames[split] = frame
    return path, frames, sizes


@pytest.fixture(scope="module")
def schema(folder):
    return Schema.load(folder[0], steps=STEPS)


def test_the_files_are_found_without_renaming(folder):
    path = folder[0]
    assert [p.name for p in find_schema_files(path)] == [
        "info_v4.csv",
        "embedding_number_v4.json",
    ]
    assert [split_path(path, s).name for s in ROWS] == [f"sample_{s}.csv" for s in ROWS]
    assert Schema.load(path).steps == (MARKED,)  # without names: the marked target only


def test_types_k_with_a_vocabulary_entry_is_an_id(folder, schema):
    _, _, sizes = folder
    assert len(schema.fields) == 122
    kinds = [f.kind for f in schema.fields]
    assert (kinds.count("C"), kinds.count("D"), kinds.count("K")) == (15, 100, 7)
    assert schema.steps == STEPS and schema.truth == ()
    assert [f.name for f in schema.embedded_fields] == C + D + K_IDS
    assert schema.numeric_names == (K_NUMBER,)
    assert schema.vocabulary_sizes == {name: n + 1 for name, n in sizes.items()}


def test_splits_read_with_the_extra_columns_ignored(folder, schema):
    path, frames, _ = folder
    for split in ("valid", "test"):
        frame = read_frame(split_path(path, split), schema)
        assert list(frame.columns) == list(schema.columns)
        assert frame["k0"].dtype == np.int32 and frame[K_NUMBER].dtype == np.float32
        expected = frames[split][list(schema.columns)]
        np.testing.assert_allclose(frame.to_numpy(float), expected.to_numpy(float), rtol=1e-6)


def test_streaming_reads_the_same_batches(folder, schema):
    """The line-by-line reader meets quoted Chinese text, a BOM and CRLF: the same rows."""
    file = split_path(folder[0], "test")
    memory = list(make_dataset(file, schema, batch_size=32, cache=True))
    stream = list(make_dataset(file, schema, batch_size=32, cache=False))
    assert len(memory) == len(stream) == 4
    for (fm, ym), (fs, ys) in zip(memory, stream, strict=True):
        assert fm["ids"].shape[1] == 121 and fm["values"].shape[1] == 1
        for key in fm:
            np.testing.assert_array_equal(fm[key].numpy(), fs[key].numpy())
        for step in STEPS:
            np.testing.assert_array_equal(ym[step].numpy(), ys[step].numpy())


def test_a_named_step_missing_from_the_data_is_named_with_the_file(folder):
    path = folder[0]
    schema = Schema.load(path, steps=(*STEPS[:3], "paid"))  # the schema cannot know
    expected = "sample_train.csv: missing column(s) 'paid' (funnel step(s) 'paid'"
    with pytest.raises(ValueError, match=re.escape(expected) + r".* 131 columns: .*, \.\.\.$"):
        read_frame(split_path(path, "train"), schema)


def test_the_inconsistent_row_is_an_error_that_suggests_dropping_it(folder, schema):
    path = split_path(folder[0], "train")
    expected = (
        f"sample_train.csv: column 'apply', data row {BAD_ROW} (line {BAD_ROW + 1} of the "
        "file): funnel-inconsistent row, step 'apply' is 1 while the earlier step 'click' is 0"
    )
    with pytest.raises(ValueError, match=re.escape(expected) + ".*drop_inconsistent=True"):
        read_frame(path, schema)
    with pytest.warns(UserWarning, match=f"dropped 1 of {ROWS['train']} rows"):
        frame = read_frame(path, schema, drop_inconsistent=True)
    assert len(frame) == ROWS["train"] - 1


@pytest.mark.parametrize(
    ("column", "value", "problem", "rule"),
    [
        ("k0", "9", "value 9 is out of range", "an integer id in [0, {n}] (K feature with a"),
        ("k0", "1.5", "value 1.5 is not an integer", "an integer id in [0, {n}]"),
        (K_NUMBER, "", "empty or missing value", "a finite number (K feature)"),
        ("d000", "白金卡", "value '白金卡' is not a number", "an integer id in [0, {n}] (D"),
        ("approve", "是", "value '是' is not a number", "a 0/1 label"),
    ],
)
def test_bad_input_names_file_column_and_row(
    folder, schema, tmp_path, column, value, problem, rule
):
    _, frames, sizes = folder
    frame = frames["valid"].astype({column: object})
    frame.loc[2, column] = value
    bad = tmp_path / "sample_valid.csv"
    frame.to_csv(bad, index=False)
    rule = rule.format(n=sizes.get(column))
    expected = f"sample_valid.csv: column '{column}', data row 3 (line 4 of the file): {problem}"
    with pytest.raises(ValueError, match=re.escape(expected) + ".*" + re.escape(rule)):
        read_frame(bad, schema)


def test_text_in_another_encoding_in_an_ignored_column_does_not_stop_the_read(
    folder, schema, tmp_path
):
    """Chinese text saved as GBK (not UTF-8) in the extra columns, header included."""
    path, _, _ = folder
    utf8 = split_path(path, "valid")
    gbk = tmp_path / "sample_valid.csv"
    gbk.write_bytes(utf8.read_text(encoding="utf-8").encode("gbk"))
    pd.testing.assert_frame_equal(read_frame(gbk, schema), read_frame(utf8, schema))


def test_splits_load_reads_the_folder(folder):
    """`Splits.load` finds the files; without named steps it has the marked target only."""
    splits = mtl.experiment.Splits.load(folder[0])
    assert splits.schema.steps == (MARKED,) and len(splits.train) == ROWS["train"]


@pytest.fixture(scope="module")
def splits(folder):
    """The original folder as a notebook loads it: named steps, the odd row dropped."""
    with pytest.warns(UserWarning, match="dropped 1 of"):
        return mtl.experiment.Splits.load(folder[0], STEPS, drop_inconsistent=True)


def test_splits_load_warns_at_its_callers_line(folder):
    """The dropped-rows warning names the caller's file, not a file of `mtl_lib`."""
    with pytest.warns(UserWarning, match="dropped 1 of") as record:
        mtl.experiment.Splits.load(folder[0], STEPS, drop_inconsistent=True)
    assert len(record) == 1 and record[0].filename == __file__


def test_splits_load_names_the_steps_and_drops_the_inconsistent_row(folder, splits):
    assert splits.schema.steps == tuple(STEPS)
    assert len(splits.train) == ROWS["train"] - 1 and len(splits.test) == ROWS["test"]
    with pytest.raises(ValueError, match="drop_inconsistent=True"):
        mtl.experiment.Splits.load(folder[0], STEPS)


ARCHITECTURES = [n for n, r in mtl.experiment.REGISTRY.items() if r.variant_of is None]


@pytest.mark.parametrize("name", [*ARCHITECTURES, mtl.experiment.BASE])
def test_every_model_trains_one_epoch(splits, name):
    result = mtl.experiment.run(name, splits, seed=0, epochs=1, batch_size=64)
    predicted = (STEPS[0], STEPS[-1]) if name in mtl.experiment.TWO_STEP else STEPS
    assert set(predicted) <= set(result.predictions), name
    for step in predicted:
        p = result.predictions[step]
        assert p.shape == (ROWS["test"],) and ((p > 0) & (p < 1)).all(), (name, step)
    assert len(result.history) == 1


def test_an_oracle_propensity_on_data_without_the_truth_is_refused_by_name(splits):
    with pytest.raises(ValueError, match="reads the label column 'true_p_click'"):
        mtl.experiment.run("escm2_dr_oracle", splits, seed=0, epochs=1, batch_size=64)
