"""The census-income loader, offline: the official test split is copied into a cache.

CI clones the repository with `shared/` beside it, so the official test split is at
`../shared/data/census-income/census-income.test.gz` from the repository root.
"""

import gzip
from pathlib import Path

import numpy as np
import pytest

import mtl_lib as mtl
from mtl_lib.datasets import census

ROOT = Path(__file__).resolve().parents[1]
LOCAL_COPY = ROOT.parent / "shared" / "data" / "census-income" / census.TEST_FILE


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    if not LOCAL_COPY.is_file():
        pytest.fail(
            f"the official census-income test split is missing: expected {LOCAL_COPY} "
            "(shared/ beside the repository, as in CI)",
            pytrace=False,
        )
    folder = tmp_path_factory.mktemp("keras")
    census.place_local_copy(LOCAL_COPY, cache_dir=folder)
    return folder


@pytest.fixture(scope="module")
def raw(cache):
    return census.read_raw(census.download("test", cache_dir=cache))


@pytest.fixture(scope="module")
def group1(cache):
    return census.load_census(1, cache_dir=cache)


def _write_slice(path, lines):
    with gzip.open(LOCAL_COPY, "rt") as f:
        head = [next(f) for _ in range(lines)]
    with gzip.open(path, "wt") as f:
        f.writelines(head)
    return head


def test_place_local_copy_checks_the_checksum(cache, tmp_path):
    cached = census.cache_folder(cache) / census.TEST_FILE
    assert census.sha256(cached) == census.TEST_SHA256
    assert census.download("test", cache_dir=cache) == cached  # found, not downloaded
    with pytest.raises(FileNotFoundError, match="no local copy"):
        census.place_local_copy(tmp_path / "missing.gz", cache_dir=tmp_path)
    fake = tmp_path / "fake.gz"
    _write_slice(fake, 5)
    with pytest.raises(ValueError, match="SHA-256"):
        census.place_local_copy(fake, cache_dir=tmp_path)


def test_download_rejects_an_unknown_split():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        census.download("valid")


def test_read_raw_on_a_slice(tmp_path):
    path = tmp_path / "slice.gz"
    head = _write_slice(path, 20)
    frame = census.read_raw(path)
    assert frame.shape == (20, 42) and tuple(frame.columns) == census.COLUMNS
    assert frame["age"].dtype.kind == "i" and frame["instance_weight"].dtype.kind == "f"
    assert frame["class_of_worker"].iloc[1] == head[1].split(", ")[1]
    assert not frame["citizenship"].str.endswith(" ").any()  # stripped


def test_read_raw_names_the_line_of_bad_data(tmp_path):
    lines = _write_slice(tmp_path / "ok.gz", 4)
    short = tmp_path / "short.gz"
    with gzip.open(short, "wt") as f:
        f.writelines([lines[0], lines[1].rsplit(", ", 1)[0] + "\n", *lines[2:]])
    with pytest.raises(ValueError, match="line 2: expected 42 fields, got 41"):
        census.read_raw(short)
    label = tmp_path / "label.gz"
    with gzip.open(label, "wt") as f:
        f.writelines([lines[0], lines[1], lines[2].replace("- 50000.", "maybe"), lines[3]])
    with pytest.raises(ValueError, match="line 3, column 'income'"):
        census.read_raw(label)


def test_an_official_file_is_checked_by_its_row_count(cache, tmp_path):
    # UCI publishes no checksum of the training split: a truncated one is caught by its rows.
    folder = census.cache_folder(tmp_path)
    folder.mkdir(parents=True)
    _write_slice(folder / census.TRAIN_FILE, 30)
    census.place_local_copy(LOCAL_COPY, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="199523"):
        census.load_census(1, official_train=True, cache_dir=tmp_path)


def test_labels_match_the_documented_facts(raw):
    labels = census.labels(raw)
    assert len(raw) == 99_762
    assert labels["income"].sum() == 6_186 and labels["marital"].sum() == 43_143
    r1 = np.corrcoef(labels["income"], labels["marital"])[0, 1]
    r2 = np.corrcoef(labels["education"], labels["marital"])[0, 1]
    assert round(abs(r1), 4) == 0.1787 and round(abs(r2), 4) == 0.2376


def test_task_fields_weight_and_income_are_never_inputs():
    g1, g2 = census.feature_columns(census.GROUPS[1]), census.feature_columns(census.GROUPS[2])
    assert len(g1) == 39 and len(g2) == 38
    for removed in ("instance_weight", "income", "marital_stat"):
        assert removed not in g1 and removed not in g2
    assert "education" in g1 and "education" not in g2
    with pytest.raises(ValueError, match="unknown census task"):
        census.feature_columns(["age"])


def test_load_census_encodes_ids_within_the_schema(group1):
    schema = group1.schema
    assert group1.tasks == ("income", "marital")
    assert sum(len(f) for f in (group1.train, group1.valid, group1.test)) == 99_762
    assert {f.kind for f in schema.fields} == {"C", "D"}
    for f in schema.fields:
        for frame in (group1.train, group1.test):
            assert frame[f.name].between(0, f.size).all(), f.name
    assert (group1.train[[f.name for f in schema.fields]] > 0).all().all()  # fitted on train
    assert "official test split only" in group1.source


def test_load_census_is_seeded(cache, group1):
    again = census.load_census(1, cache_dir=cache)
    assert again.train.equals(group1.train)
    other = census.load_census(2, cache_dir=cache, seed=1, fractions=(0.6, 0.2, 0.2))
    assert other.tasks == ("education", "marital") and len(other.train) == 59_857


def test_dataset_batches_features_and_task_labels(group1):
    features, labels = next(iter(group1.dataset("valid", batch_size=8)))
    assert set(labels) == {"income", "marital"} and tuple(labels["income"].shape) == (8, 1)
    assert set(features) == {"ids"}  # every field is an id (C or D): one matrix
    assert tuple(features["ids"].shape) == (8, len(group1.schema.feature_names))


def test_unseen_categories_get_id_zero(raw):
    encoder = census.Encoder.fit(raw.iloc[:100], ["class_of_worker", "age"], buckets=4)
    ids = encoder.transform(raw.iloc[100:2000])
    known = set(raw["class_of_worker"].iloc[:100])
    unseen = ~raw["class_of_worker"].iloc[100:2000].isin(known).to_numpy()
    assert (ids["class_of_worker"].to_numpy()[unseen] == 0).all()
    assert ids["age"].between(1, encoder.schema_fields[1].size).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"group": 3}, "group"), ({"fractions": (0.5, 0.5, 0.5)}, "fractions")],
)
def test_load_census_rejects_bad_arguments(cache, kwargs, message):
    with pytest.raises(ValueError, match=message):
        census.load_census(cache_dir=cache, **kwargs)


def test_exported():
    assert mtl.datasets.load_census is census.load_census
