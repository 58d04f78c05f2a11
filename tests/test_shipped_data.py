"""The shipped sample is what the committed script generates."""

import importlib.util
from pathlib import Path

from mtl_lib.data import Schema

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "funnel"


def _make_data():
    spec = importlib.util.spec_from_file_location("make_data", ROOT / "scripts" / "make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_regenerated_data_has_the_committed_checksums(tmp_path):
    make_data = _make_data()
    committed = {}
    for line in (DATA / make_data.CHECKSUMS).read_text().splitlines():
        digest, name = line.split()
        committed[name] = digest
    assert make_data.generate(tmp_path) == committed
    for name, digest in committed.items():  # and the committed files are those
        assert make_data.text_sha256(DATA / name) == digest, name


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
