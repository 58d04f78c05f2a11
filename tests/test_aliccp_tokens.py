"""PaddleRec's `field:id` Ali-CCP lines through `load_aliccp`: files as PaddleRec ships them."""

import numpy as np
import pytest

import mtl_lib as mtl

SINGLE = ("216", "301", "205", "206", "207", "508", "121", "122", "101", "124")
BAGS = ("210", "150_14", "109_14")


def lines(rows: int, seed: int, sample_ids: bool = True) -> tuple[list[str], list[dict]]:
    """Lines in PaddleRec's shape (sample id, click, purchase, then field:id tokens, the
    bags' fields repeated), and what each line holds."""
    rng = np.random.default_rng(seed)
    out, truth = [], []
    for i in range(rows):
        click = int(rng.random() < 0.3)
        purchase = int(click and rng.random() < 0.3)
        row = {"click": click, "purchase": purchase}
        tokens = []
        for field in rng.permutation(SINGLE):
            if rng.random() < 0.9:  # a single field may be absent from a line
                row[field] = int(rng.integers(1000, 1020))
                tokens.append(f"{field}:{row[field]}")
        for field in BAGS:
            row[field] = rng.integers(2000, 2030, rng.integers(0, 5)).tolist()
            tokens += [f"{field}:{code}" for code in row[field]]
        head = [str(i + 1)] if sample_ids else []
        out.append(",".join([*head, str(click), str(purchase), *tokens]))
        truth.append(row)
    return out, truth


@pytest.fixture
def folder(tmp_path):
    """PaddleRec's layout: `train/` and `test/` folders of `.txt` files."""
    truth = {}
    for split, rows, seed in (("train", 900, 0), ("test", 300, 1)):
        (tmp_path / split).mkdir()
        text, truth[split] = lines(rows, seed)
        (tmp_path / split / "small.txt").write_text("\n".join(text) + "\n")
    return tmp_path, truth


def test_paddlerec_folder_loads_with_bags_and_ids_match_row_by_row(folder):
    path, truth = folder
    splits = mtl.datasets.load_aliccp(path, valid_fraction=0.2, seed=3)
    assert splits.source.startswith("paddlerec (PaddleRec's ESMM/ESCM² field:id lines)")
    assert "180 training rows held out as validation" in splits.source
    bags = {f.name: f for f in splits.schema.bag_fields}
    assert set(bags) == set(BAGS) and all(f.length == 4 for f in bags.values())
    assert {f.name for f in splits.schema.embedded_fields} == set(SINGLE)
    test, vocabulary = splits.test, splits.vocabulary
    for i, row in enumerate(truth["test"]):
        assert (test["click"][i], test["purchase"][i]) == (row["click"], row["purchase"])
        for field in SINGLE:
            kept = vocabulary.codes[field]
            code = row.get(field)
            want = 0 if code is None or code not in kept else int(np.searchsorted(kept, code)) + 1
            assert test[field][i] == want, (i, field)
        for field in BAGS:
            kept = vocabulary.codes[field]
            want = [int(np.searchsorted(kept, c)) + 1 if c in kept else 0 for c in row[field]]
            assert test[field][i] == "|".join(map(str, want)), (i, field)


def test_paddlerec_trains_esmm_for_one_epoch(folder):
    splits = mtl.datasets.load_aliccp(folder[0])
    result = mtl.experiment.run("esmm", splits, epochs=1)
    assert np.isfinite(result.history["loss"]).all()
    assert result.epochs == 1


def test_labels_without_a_sample_id_and_flat_files_load(tmp_path):
    text, _ = lines(200, 0, sample_ids=False)
    (tmp_path / "esmm_train.txt").write_text("\n".join(text[:150]) + "\n")
    (tmp_path / "esmm_test.txt").write_text("\n".join(text[150:]) + "\n")
    splits = mtl.datasets.load_aliccp(tmp_path)
    assert len(splits.train) + len(splits.valid) == 150 and len(splits.test) == 50


def test_bag_length_cuts_and_counts(folder):
    splits = mtl.datasets.load_aliccp(folder[0], bag_length=2)
    assert all(f.length == 2 for f in splits.schema.bag_fields)
    assert "rows cut" in splits.source
    cells = splits.train["210"]
    assert max(len(c.split("|")) for c in cells if c) == 2


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("7,0,0,216:1,301", r"small\.txt, line 4, column 5: token '301' is not field:id"),
        ("7,0,0,216:1,301:x", r"line 4, column 5: id 'x' of field '301' is not a non-negative"),
        ("7,0,1,216:1", r"line 4, column purchase: funnel-inconsistent row"),
        ("7,2,0,216:1", r"line 4, column 2 \(click\): value '2' is not a 0/1 label"),
        ("0,216:1", r"line 4: 1 cells before the first field:id token"),
    ],
)
def test_bad_lines_name_file_line_and_column(folder, bad, message):
    path, _ = folder
    good = (path / "train" / "small.txt").read_text().splitlines()
    (path / "train" / "small.txt").write_text("\n".join([*good[:3], bad, *good[3:]]) + "\n")
    with pytest.raises(ValueError, match=message):
        mtl.datasets.load_aliccp(path)


def test_a_test_field_unknown_to_training_is_refused(folder):
    path, _ = folder
    test = (path / "test" / "small.txt").read_text().splitlines()
    test[1] += ",999:4"
    (path / "test" / "small.txt").write_text("\n".join(test) + "\n")
    with pytest.raises(ValueError, match=r"line 2, column \d+: field '999' is not a field of"):
        mtl.datasets.load_aliccp(path)


def test_purchase_without_click_can_be_dropped(folder):
    path, _ = folder
    good = (path / "train" / "small.txt").read_text().splitlines()
    (path / "train" / "small.txt").write_text("\n".join(["7,0,1,216:1", *good]) + "\n")
    with pytest.warns(UserWarning, match="dropped 1 of 901 rows with a purchase but no click"):
        splits = mtl.datasets.load_aliccp(path, drop_inconsistent=True)
    assert len(splits.train) + len(splits.valid) == 900


def test_missing_test_folder_is_named(folder):
    path, _ = folder
    (path / "test" / "small.txt").unlink()
    (path / "test").rmdir()
    with pytest.raises(FileNotFoundError, match=r"paddlerec format\) but no test file"):
        mtl.datasets.load_aliccp(path)
