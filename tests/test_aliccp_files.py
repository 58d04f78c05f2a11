"""`load_aliccp` on generated files that copy the published processed layouts.

Nothing is downloaded: the AITM authors' `ctr_cvr.{train,dev,test}` (a header on the
training file, none on the test file, fields named `101` ... `301`) and torch-rechub's
`ali_ccp_{train,val,test}_sample.csv` (ids and `D...` numbers) are written here, loaded row
by row against what was written, trained on for one epoch and served by their own names.
"""

import csv

import numpy as np
import pandas as pd
import pytest
from fresh_process import serve_in_fresh_process

import mtl_lib as mtl
from mtl_lib.datasets.aliccp_files import AITM_FIELDS, FORMATS, LABELS, RECHUB_VALUES

AITM = FORMATS["aitm"].columns
RECHUB = FORMATS["torch-rechub"].columns


def rows(count, columns, seed, values=()):
    """Rows as the processed files hold them: labels, integer codes, some numbers."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        click = int(rng.random() < 0.4)
        purchase = int(click and rng.random() < 0.3)
        row = []
        for j, c in enumerate(columns):
            if c == "click":
                row.append(str(click))
            elif c == "purchase":
                row.append(str(purchase))
            elif c in values:
                row.append(repr(round(float(rng.random() * 5), 3)))
            else:
                row.append(str(int(rng.integers(0, 3 + j % 4))))
        out.append(row)
    return out


def write(path, body, header=None):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        if header is not None:
            writer.writerow(header)
        writer.writerows(body)
    return path


def aitm_folder(folder, *, dev=True, test_header=False):
    folder.mkdir(parents=True, exist_ok=True)
    files = {"train": rows(120, AITM, 0), "test": rows(40, AITM, 2)}
    write(folder / "ctr_cvr.train", files["train"], AITM)
    write(folder / "ctr_cvr.test", files["test"], AITM if test_header else None)
    if dev:
        files["valid"] = rows(30, AITM, 1)
        write(folder / "ctr_cvr.dev", files["valid"], AITM)
    return files


def rechub_folder(folder):
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for seed, (split, name) in enumerate((("train", "train"), ("valid", "val"), ("test", "test"))):
        files[split] = rows((120, 30, 40)[seed], RECHUB, seed, RECHUB_VALUES)
        write(folder / f"ali_ccp_{name}_sample.csv", files[split], RECHUB)
    return files


def test_aitm_folder_loads_row_by_row_with_the_test_header_from_its_sibling(tmp_path):
    written = aitm_folder(tmp_path / "ctr_cvr")
    splits = mtl.datasets.load_aliccp(tmp_path / "ctr_cvr")
    assert splits.source.startswith("aitm (the AITM authors' public preprocessing")
    assert "ctr_cvr.test has no header: columns from ctr_cvr.train" in splits.source
    assert splits.schema.steps == LABELS
    assert splits.schema.feature_names == AITM_FIELDS  # the data's own names
    assert {f.kind for f in splits.schema.fields} == {"C"}
    vocabulary = splits.vocabulary
    for split in ("train", "valid", "test"):
        frame, raw = getattr(splits, split), np.array(written[split], dtype=np.int64)
        assert len(frame) == len(raw)
        for j, column in enumerate(AITM):
            if column in LABELS:
                np.testing.assert_array_equal(frame[column], raw[:, j])
            else:  # the id is the code's rank among the training codes, 0 if unseen
                codes = vocabulary.codes[column]
                expected = [
                    int(np.searchsorted(codes, c)) + 1 if c in codes else 0 for c in raw[:, j]
                ]
                np.testing.assert_array_equal(frame[column], expected)


def test_torch_rechub_folder_loads_ids_and_numbers(tmp_path):
    written = rechub_folder(tmp_path / "ali-ccp")
    splits = mtl.datasets.load_aliccp(tmp_path / "ali-ccp")
    assert splits.source.startswith("torch-rechub")
    assert "ali_ccp_val_sample.csv as validation" in splits.source
    assert splits.schema.numeric_names == RECHUB_VALUES
    assert "109_14" in splits.schema.feature_names and "210" in splits.schema.feature_names
    raw = pd.DataFrame(written["test"], columns=RECHUB)
    for column in RECHUB_VALUES:
        np.testing.assert_array_equal(splits.test[column], raw[column].astype(np.float32))
    np.testing.assert_array_equal(splits.test["purchase"], raw["purchase"].astype(int))


def test_without_a_validation_file_a_seeded_share_of_train_is_held_out(tmp_path):
    aitm_folder(tmp_path / "f", dev=False)
    first = mtl.datasets.load_aliccp(tmp_path / "f", valid_fraction=0.25, seed=3)
    again = mtl.datasets.load_aliccp(tmp_path / "f", valid_fraction=0.25, seed=3)
    other = mtl.datasets.load_aliccp(tmp_path / "f", valid_fraction=0.25, seed=4)
    assert (len(first.train), len(first.valid)) == (90, 30)
    assert "no validation file: 30 training rows held out as validation (25%, seed 3)" in (
        first.source
    )
    pd.testing.assert_frame_equal(first.valid, again.valid)
    assert not first.valid.equals(other.valid)


@pytest.mark.parametrize("fmt", ["aitm", "torch-rechub"])
def test_each_format_trains_esmm_for_an_epoch_and_serves_by_its_own_names(tmp_path, fmt):
    (aitm_folder if fmt == "aitm" else rechub_folder)(tmp_path / "data")
    splits = mtl.datasets.load_aliccp(tmp_path / "data")
    result = mtl.experiment.run("esmm", splits, epochs=1, batch_size=64)
    assert set(result.predictions) >= set(LABELS)
    assert np.isfinite(result.predictions["purchase"]).all()
    model = result.models[0]
    served_dir = mtl.serving.export_saved_model(model, splits.schema, tmp_path / "served")
    test = splits.test
    columns = {  # by the data's names: "101", "D508"
        f.name: test[f.name].to_numpy(np.int64 if f.embedded else np.float32)
        for f in splits.schema.fields
    }
    loaded = mtl.serving.load(served_dir)
    assert sorted(loaded.inputs) == sorted(columns)
    expected = mtl.train.predict(model, test, splits.schema)
    # Plain TensorFlow calls the signature by its names: "101" is served as "f_101".
    as_signed = {mtl.serving.signature_name(n): c for n, c in columns.items()}
    assert "f_101" in as_signed and ("D508" in as_signed) == (fmt == "torch-rechub")
    served = serve_in_fresh_process(served_dir, as_signed, tmp_path)
    for step in LABELS:
        np.testing.assert_allclose(served[step], expected[step], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(loaded(columns)[step], expected[step], rtol=1e-6, atol=1e-7)


def test_an_unknown_folder_names_the_formats_it_knows(tmp_path):
    (tmp_path / "x").mkdir()
    write(tmp_path / "x" / "data.csv", [["1", "0"]], ["click", "purchase"])
    with pytest.raises(FileNotFoundError, match=r"no processed Ali-CCP files.*aitm: ctr_cvr.train"):
        mtl.datasets.load_aliccp(tmp_path / "x")
    (tmp_path / "x" / "sample_train.tar.gz").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"raw Ali-CCP release.*convert_aliccp"):
        mtl.datasets.load_aliccp(tmp_path / "x")


def test_a_purchase_without_a_click_is_refused_or_dropped(tmp_path):
    written = aitm_folder(tmp_path / "f")
    bad = written["train"]
    bad[6][0], bad[6][1] = "0", "1"  # data row 7, line 8 (after the header)
    write(tmp_path / "f" / "ctr_cvr.train", bad, AITM)
    with pytest.raises(
        ValueError,
        match=r"ctr_cvr.train: column 'purchase', data row 7 \(line 8 of the file\): "
        r"funnel-inconsistent row.*drop_inconsistent=True",
    ):
        mtl.datasets.load_aliccp(tmp_path / "f")
    with pytest.warns(UserWarning, match=r"dropped 1 of 120 rows with a purchase but no click"):
        splits = mtl.datasets.load_aliccp(tmp_path / "f", drop_inconsistent=True)
    assert len(splits.train) == 119


def test_a_test_file_with_other_columns_is_refused(tmp_path):
    aitm_folder(tmp_path / "f")
    header = [*AITM[:-1], "210"]
    write(tmp_path / "f" / "ctr_cvr.test", rows(5, header, 0), header)
    with pytest.raises(
        ValueError,
        match=r"ctr_cvr.test: its columns differ from ctr_cvr.train's: not in the training "
        r"file: 210; missing here: 301",
    ):
        mtl.datasets.load_aliccp(tmp_path / "f")


def test_a_headerless_file_of_another_width_is_refused(tmp_path):
    aitm_folder(tmp_path / "f")
    write(tmp_path / "f" / "ctr_cvr.test", [r[:-1] for r in rows(5, AITM, 0)])
    with pytest.raises(ValueError, match=r"ctr_cvr.test: no header line, and its 19 columns"):
        mtl.datasets.load_aliccp(tmp_path / "f")


def test_a_non_integer_id_names_file_line_and_column(tmp_path):
    written = aitm_folder(tmp_path / "f")
    test = written["test"]
    test[2][AITM.index("205")] = "12a"  # no header: data row 3 is line 3
    write(tmp_path / "f" / "ctr_cvr.test", test)
    with pytest.raises(
        ValueError,
        match=r"ctr_cvr.test: column '205', data row 3 \(line 3 of the file\): value '12a' is "
        r"not a number; expected an integer id code",
    ):
        mtl.datasets.load_aliccp(tmp_path / "f")
    test[2][AITM.index("205")] = "1.5"
    write(tmp_path / "f" / "ctr_cvr.test", test)
    with pytest.raises(ValueError, match=r"column '205', data row 3.*1.5 is not an integer"):
        mtl.datasets.load_aliccp(tmp_path / "f")


def test_a_label_other_than_0_or_1_is_refused(tmp_path):
    written = aitm_folder(tmp_path / "f")
    written["valid"][0][0] = "2"
    write(tmp_path / "f" / "ctr_cvr.dev", written["valid"], AITM)
    with pytest.raises(ValueError, match=r"ctr_cvr.dev: column 'click', data row 1 \(line 2"):
        mtl.datasets.load_aliccp(tmp_path / "f")


def test_a_missing_test_file_and_bad_arguments(tmp_path):
    aitm_folder(tmp_path / "f")
    (tmp_path / "f" / "ctr_cvr.test").unlink()
    with pytest.raises(FileNotFoundError, match=r"found ctr_cvr.train.*but no ctr_cvr.test"):
        mtl.datasets.load_aliccp(tmp_path / "f")
    with pytest.raises(ValueError, match=r"valid_fraction must be in \(0, 1\)"):
        mtl.datasets.load_aliccp(tmp_path / "f", valid_fraction=0)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        mtl.datasets.load_aliccp(tmp_path / "nowhere")
