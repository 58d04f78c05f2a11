"""The shipped sample is what the committed script generates, and is found where installed."""

import gzip
from pathlib import Path

import pytest

from mtl_lib.data import Schema
from mtl_lib.datasets import funnel

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "funnel"


def test_regenerated_data_has_the_committed_and_packaged_checksums(tmp_path):
    committed = funnel.read_checksums(DATA / funnel.CHECKSUMS)
    assert funnel.shipped_checksums() == committed  # the package's copy (package data)
    assert funnel.generate(tmp_path) == committed
    for name, digest in committed.items():  # and the committed files are those
        assert funnel.text_sha256(DATA / name) == digest, name


def test_funnel_folder_is_the_clone_s_data_or_a_checked_generated_copy(tmp_path, monkeypatch):
    monkeypatch.delenv(funnel.ENV, raising=False)
    assert funnel.funnel_folder() == DATA  # in a clone: data/funnel, as it is
    cache = tmp_path / "cache"
    made = funnel.funnel_folder(cache)  # where only the package is installed
    assert made == cache / "funnel"
    assert funnel.read_checksums(made / funnel.CHECKSUMS) == funnel.shipped_checksums()
    assert not [p for p in cache.iterdir() if p.name != "funnel"]  # no work folder left
    monkeypatch.setenv(funnel.ENV, str(cache))
    assert funnel.funnel_folder() == made  # $MTL_DATA, found again without generating
    with gzip.open(made / "valid.csv.gz", "at") as f:
        f.write("1,2,3\n")  # a copy that is not the sample is refused, by name
    with pytest.raises(ValueError, match=r"valid\.csv\.gz: checksum .* is not the shipped"):
        funnel.funnel_folder()


def test_shipped_schema_loads():
    schema = Schema.load(DATA)
    assert schema.steps == ("click", "apply", "approve", "activate")
    assert len(schema.truth) == 7


def test_data_readme_counts_are_the_data():
    import re

    import pandas as pd

    readme = (ROOT / "data" / "README.md").read_text()
    schema = Schema.load(DATA)
    for split in ("train", "valid", "test"):
        frame = pd.read_csv(DATA / f"{split}.csv.gz", usecols=["user_id", *schema.steps])
        counts = [len(frame), *(int(frame[s].sum()) for s in schema.steps)]
        row = f"| {split} | " + " | ".join(str(c) for c in counts) + " |"
        assert row in readme, f"data/README.md: expected the row {row}"
        if split == "train":
            median = frame["user_id"].value_counts().median()
            assert re.search(rf"median user appears only {median:.0f} times", readme)
