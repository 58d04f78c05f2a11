"""The Ali-CCP converter on raw files generated here in the released format.

Nothing is downloaded: small `sample_skeleton_*.csv` and `common_features_*.csv` files with
the raw separators (`\\x01` between items, `\\x02` and `\\x03` inside one) are written here:
a hand-made set whose converted rows are known, and a random one (bags of multi-valued
fields, common features shared by many exposures, rare ids, conversions without a click)
for chunking, resuming, loading and training; each also with the bags kept
(`multi_valued=True`).
"""

import gzip
import importlib.util
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mtl_lib as mtl
from mtl_lib.datasets import aliccp

ROOT = Path(__file__).resolve().parents[1]
SPLITS = ("train", "valid", "test")
FIELDS = ("101", "124", "205", "301")  # the known-answer set's columns
COLUMNS = ["user_id", "user_gender", "item_id", "position"]


# --------------------------------------------------------------------------- raw files
def feature_list(pairs):
    """`(count, text)` of `(field, feature id, value)` items in the raw format."""
    return len(pairs), "\x01".join(f"{f}\x02{i}\x03{v}" for f, i, v in pairs)


def skeleton_line(sample, click, conversion, key, pairs):
    count, text = feature_list(pairs)
    return f"{sample},{click},{conversion},{key},{count},{text}\n"


def common_line(key, pairs):
    count, text = feature_list(pairs)
    return f"{key},{count},{text}\n"


def bag(field, ids):
    """A multi-valued field: one item per id, its count as the value."""
    return [(field, i, f"{np.log1p(n):.5f}") for n, i in enumerate(ids, start=1)]


def write_raw(folder, files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, lines in files.items():
        (folder / name).write_text("".join(lines), encoding="utf-8")
    return folder


def known_files():
    """The hand-made raw set (see `EXPECTED` for its converted rows)."""
    s = skeleton_line
    common_train = [
        common_line(
            "a1f3",
            [
                ("101", 11, 1.0),
                ("124", 1, 1.0),
                *bag("109_14", [7, 8, 9]),
                *bag("150_14", [70, 71]),
            ],
        ),
        common_line("b2e4", [("101", 12, 1.0), *bag("109_14", [7]), ("124", 2, 1.0)]),
        common_line("c3d5", [("101", 13, 1.0), *bag("110_14", [5, 6])]),  # no gender
    ]
    skeleton_train = [
        s(1, 1, 0, "a1f3", [("205", 501, 1.0), ("301", 1, 1.0), ("206", 9001, 1.0)]),
        s(2, 0, 0, "a1f3", [("205", 501, 1.0), ("301", 2, 1.0)]),
        s(3, 1, 1, "b2e4", [("205", 502, 1.0), ("301", 1, 1.0)]),  # held out: valid
        s(4, 0, 0, "b2e4", [("301", 1, 1.0), ("205", 501, 1.0)]),
        s(5, 0, 1, "a1f3", [("205", 503, 1.0), ("301", 1, 1.0)]),  # conversion, no click
        s(6, 1, 0, "c3d5", [("205", 502, 1.0), ("301", 2, 1.0)]),
        s(7, 0, 0, "a1f3", [("205", 504, 1.0), ("301", 3, 1.0)]),
        s(8, 0, 0, "b2e4", [("205", 502, 1.0), ("508", 4, 0.69)]),  # no position
        s(9, 1, 1, "a1f3", [("205", 502, 1.0), ("301", 2, 1.0), ("301", 1, 1.0)]),  # twice
        s(10, 0, 0, "c3d5", [("205", 505, 1.0), ("301", 1, 1.0)]),  # held out: valid
        s(11, 1, 0, "b2e4", [("205", 501, 1.0), ("301", 2, 1.0)]),
        s(12, 0, 0, "a1f3", [("205", 503, 1.0), ("301", 2, 1.0)]),
    ]
    common_test = [  # the test file's own keys: "a1f3" is another user here
        common_line("a1f3", [("101", 12, 1.0), ("124", 2, 1.0), *bag("127_14", [3, 4])]),
        common_line("ffff", [("124", 1, 1.0), ("101", 99, 1.0)]),
    ]
    skeleton_test = [
        s(1, 1, 0, "a1f3", [("205", 502, 1.0), ("301", 1, 1.0)]),
        s(2, 0, 0, "ffff", [("205", 501, 1.0), ("301", 2, 1.0)]),
        s(3, 1, 1, "a1f3", [("205", 777, 1.0), ("301", 3, 1.0)]),
        s(4, 0, 1, "ffff", [("205", 501, 1.0), ("301", 1, 1.0)]),  # conversion, no click
    ]
    return {
        "common_features_train.csv": common_train,
        "sample_skeleton_train.csv": skeleton_train,
        "common_features_test.csv": common_test,
        "sample_skeleton_test.csv": skeleton_test,
    }


# Fitted on the training rows (lines 1, 2, 4, 6, 7, 8, 9, 11, 12) with min_count=2:
# user 11 (5 rows) → 1, 12 (3) → 2, 13 (1) → 0; gender 1 → 1, 2 → 2, absent → 0;
# item 501 (4) → 1, 502 (3) → 2, 503 and 504 (1 each) → 0; position 1 → 1, 2 → 2, 3 → 0.
EXPECTED = {  # user_id, user_gender, item_id, position, click, purchase
    "train": [
        [1, 1, 1, 1, 1, 0],  # line 1
        [1, 1, 1, 2, 0, 0],  # line 2
        [2, 2, 1, 1, 0, 0],  # line 4
        [0, 0, 2, 2, 1, 0],  # line 6: rare user, no gender
        [1, 1, 0, 0, 0, 0],  # line 7: rare item and position
        [2, 2, 2, 0, 0, 0],  # line 8: no position
        [1, 1, 2, 1, 1, 1],  # line 9: the last of two positions
        [2, 2, 1, 2, 1, 0],  # line 11
        [1, 1, 0, 2, 0, 0],  # line 12
    ],
    "valid": [[2, 2, 2, 1, 1, 1], [0, 0, 0, 1, 0, 0]],  # lines 3 and 10 (505: unseen)
    "test": [[2, 2, 2, 1, 1, 0], [0, 1, 1, 2, 0, 0], [2, 2, 0, 0, 1, 1]],  # line 4 dropped
}
KNOWN = {"fields": FIELDS, "min_count": 2, "valid_fraction": 0.25, "progress": False}


def add_items(line, pairs):
    """A skeleton line with `(field, feature id, value)` items appended to its feature list."""
    *head, count, text = line.rstrip("\n").split(",")
    extra_count, extra = feature_list(pairs)
    return ",".join([*head, str(int(count) + extra_count), f"{text}\x01{extra}"]) + "\n"


def bag_files():
    """The hand-made set with bags in some skeleton lines too (see `BAG_EXPECTED`)."""
    files = known_files()
    skeleton = files["sample_skeleton_train.csv"]
    for line, field, ids in [
        (4, "110_14", [6]),  # b2e4 has no 110_14 in common: this bag is used
        (6, "110_14", [9]),  # c3d5's common bag [5, 6] replaces it, as a whole
        (7, "127_14", [40, 40, 3]),  # cut to [40, 40]; 40 counts once for line 7
        (8, "127_14", [3]),
        (11, "109_14", [8, 9]),  # b2e4's common bag [7] replaces it
        (12, "127_14", [3]),
    ]:
        skeleton[line - 1] = add_items(skeleton[line - 1], bag(field, ids))
    return files


BAGS = list(aliccp.BAG_FIELDS.values())
# With bag_length=2 and min_count=2, fitted on the training lines 1, 2, 4, 6, 7, 8, 9, 11, 12
# (bags as cut, an id counted once per exposure):
# categories: a1f3 [7, 8, 9] → [7, 8] (5 rows), b2e4 [7] (3 rows): 7 (8) → 1, 8 (5) → 2;
# shops: c3d5 [5, 6] (line 6), line 4's own [6]: 6 (2) → 1, 5 (1) → 0;
# brands: line 7 [40, 40], lines 8 and 12 [3]: 3 (2) → 1, 40 (1, not 2) → 0;
# intentions: a1f3 [70, 71] (5 rows): 70 → 1, 71 → 2. Test: a1f3 brands [3, 4] → "1|0".
BAG_EXPECTED = {  # the bag cells of the rows of `EXPECTED`, in the order of `BAGS`
    "train": [
        ["1|2", "", "", "1|2"],  # line 1
        ["1|2", "", "", "1|2"],  # line 2
        ["1", "1", "", ""],  # line 4
        ["", "0|1", "", ""],  # line 6
        ["1|2", "", "0|0", "1|2"],  # line 7: brands cut
        ["1", "", "1", ""],  # line 8
        ["1|2", "", "", "1|2"],  # line 9
        ["1", "", "", ""],  # line 11
        ["1|2", "", "1", "1|2"],  # line 12
    ],
    "valid": [["1", "", "", ""], ["", "0|1", "", ""]],  # lines 3 and 10
    "test": [["", "", "1|0", ""], ["", "", "", ""], ["", "", "1|0", ""]],
}
BAG_KNOWN = KNOWN | {"multi_valued": True, "bag_length": 2}


def random_files(train=3000, test=1500, users=120, items=400, seed=0):
    """Random raw files: Zipf-like ids, bags, shared common features, a few inconsistent rows."""
    rng = np.random.default_rng(seed)
    files = {}
    for split, samples in (("train", train), ("test", test)):
        keys = [f"{rng.integers(16**12):012x}" for _ in range(users)]
        files[f"common_features_{split}.csv"] = [
            common_line(
                key,
                [("101", u + 1, 1.0)]
                + [
                    (f, int(rng.integers(1, n)), 1.0)
                    for f, n in zip(
                        ("121", "122", "124", "125", "126", "127", "128", "129"),
                        (98, 14, 3, 8, 4, 4, 3, 5),
                        strict=True,
                    )
                ]
                + bag("109_14", rng.integers(1, 500, rng.integers(1, 40)))
                + bag("110_14", rng.integers(1, 500, rng.integers(0, 20)))
                + bag("127_14", rng.integers(1, 500, rng.integers(0, 20)))
                + bag("150_14", rng.integers(1, 500, rng.integers(0, 20))),
            )
            for u, key in enumerate(keys)
        ]
        lines = []
        for sample in range(1, samples + 1):
            user = min(int(rng.zipf(1.3)), users) - 1
            item = min(int(rng.zipf(1.2)), items)
            click = int(rng.random() < 0.2)
            conversion = int((click and rng.random() < 0.3) or rng.random() < 0.002)
            pairs = [
                ("205", item, 1.0),
                ("206", item % 37, 1.0),
                ("207", item % 101, 1.0),
                ("210", item % 53, 1.0),
                ("216", item % 71, 1.0),
                ("508", (user * 7 + item) % 300, 0.5),
                ("509", (user * 3 + item) % 200, 0.5),
                ("702", (user + item) % 150, 0.5),
                ("853", (user * 5 + item) % 100, 0.5),
                ("301", int(rng.integers(1, 4)), 1.0),
            ]
            rng.shuffle(pairs)
            lines.append(skeleton_line(sample, click, conversion, keys[user], pairs))
        files[f"sample_skeleton_{split}.csv"] = lines
    return files


def read_text(path):
    with gzip.open(path, "rt") as f:
        return f.read()


def outputs(folder):
    """Every output file's (decompressed) text."""
    texts = {s: read_text(folder / f"{s}.csv.gz") for s in SPLITS}
    texts |= {n: (folder / n).read_text() for n in ("features.csv", "vocab.json")}
    return texts


@pytest.fixture(scope="module")
def random_raw(tmp_path_factory):
    return write_raw(tmp_path_factory.mktemp("raw"), random_files())


@pytest.fixture(scope="module")
def random_out(random_raw, tmp_path_factory):
    out = tmp_path_factory.mktemp("converted") / "aliccp"
    # Three training shards: the split files are a header and three gzip members.
    aliccp.convert_aliccp(random_raw, out, min_count=3, shard_rows=1000, progress=False)
    return out


RANDOM_BAGS = {"min_count": 3, "shard_rows": 1000, "multi_valued": True, "bag_length": 8}


@pytest.fixture(scope="module")
def random_bags_out(random_raw, tmp_path_factory):
    out = tmp_path_factory.mktemp("converted") / "aliccp_bags"
    aliccp.convert_aliccp(random_raw, out, progress=False, **RANDOM_BAGS)
    return out


# --------------------------------------------------------------------------- the answer
def test_known_answer(tmp_path):
    raw = write_raw(tmp_path / "raw", known_files())
    report = aliccp.convert_aliccp(raw, tmp_path / "out", **KNOWN)
    schema = mtl.data.Schema.load(tmp_path / "out")
    assert schema.feature_names == tuple(COLUMNS) and schema.steps == ("click", "purchase")
    assert schema.vocabulary_sizes == dict.fromkeys(COLUMNS, 3)  # ids 0..2
    for split, rows in EXPECTED.items():
        frame = mtl.data.read_frame(tmp_path / "out" / f"{split}.csv.gz", schema)
        expected = pd.DataFrame(rows, columns=[*COLUMNS, "click", "purchase"])
        pd.testing.assert_frame_equal(frame, expected, check_dtype=False)
    assert report.rows == {"train": 9, "valid": 2, "test": 3}
    assert report.positives == {
        "train": {"click": 4, "purchase": 1},
        "valid": {"click": 1, "purchase": 1},
        "test": {"click": 2, "purchase": 1},
    }
    assert report.dropped == {"train": 1, "test": 1}
    assert report.repeated == {"user_id": 0, "user_gender": 0, "item_id": 0, "position": 1}
    assert report.vocabulary == {
        "user_id": [3, 2],
        "user_gender": [2, 2],
        "item_id": [4, 2],
        "position": [3, 2],
    }
    assert json.loads((tmp_path / "out" / "aliccp.json").read_text())["rows"] == report.rows
    assert not (tmp_path / "out" / "_work").exists()
    # A finished folder is not converted again: the same report comes back.
    assert aliccp.convert_aliccp(raw, tmp_path / "out", **KNOWN) == report


def test_known_answer_with_bags(tmp_path):
    raw = write_raw(tmp_path / "raw", bag_files())
    out = tmp_path / "out"
    report = aliccp.convert_aliccp(raw, out, **BAG_KNOWN)
    for split in SPLITS:
        lines = read_text(out / f"{split}.csv.gz").splitlines()
        assert lines[0] == ",".join([*COLUMNS, *BAGS, "click", "purchase"])
        expected = [
            ",".join([*map(str, row[:4]), *cells, *map(str, row[4:])])
            for row, cells in zip(EXPECTED[split], BAG_EXPECTED[split], strict=True)
        ]
        assert lines[1:] == expected  # the single-valued columns as without bags
    assert report.multi_valued and report.bag_length == 2
    assert report.truncated == dict(zip(BAGS, [5, 0, 1, 0], strict=True))  # rows written
    assert report.vocabulary == {
        "user_id": [3, 2],
        "user_gender": [2, 2],
        "item_id": [4, 2],
        "position": [3, 2],
        "user_category_history": [2, 2],  # 9: cut off, and replaced on line 11
        "user_shop_history": [2, 1],  # 9: replaced by the common bag on line 6
        "user_brand_history": [2, 1],
        "user_intention_history": [2, 2],
    }
    assert report.repeated == {"user_id": 0, "user_gender": 0, "item_id": 0, "position": 1}
    # The folder's schema is the report's: four bags of length 2, pooled by their mean.
    schema = mtl.data.Schema.load(out)
    assert schema == report.schema
    assert schema.feature_names == (*COLUMNS, *BAGS)
    sizes = dict(zip(BAGS, [2, 1, 1, 2], strict=True))
    assert schema.bag_fields == tuple(mtl.data.Field(b, "B", sizes[b], 2, "mean") for b in BAGS)
    assert json.loads((out / "vocab.json").read_text())["user_shop_history"] == {
        "size": 1,
        "length": 2,
        "pooling": "mean",
    }
    frame = mtl.data.read_frame(out / "test.csv.gz", schema)
    brands = mtl.data.bags.parse_bags(frame["user_brand_history"], schema.field(BAGS[2]))
    np.testing.assert_array_equal(brands, [[1, 0], [-1, -1], [1, 0]])
    assert aliccp.convert_aliccp(raw, out, **BAG_KNOWN) == report  # finished: not redone


def test_bags_do_not_change_the_default_conversion(tmp_path):
    raw = write_raw(tmp_path / "raw", bag_files())  # bags in skeleton lines too
    aliccp.convert_aliccp(raw, tmp_path / "out", **KNOWN)
    for split, rows in EXPECTED.items():
        lines = read_text(tmp_path / "out" / f"{split}.csv.gz").splitlines()
        assert lines[1:] == [",".join(map(str, row)) for row in rows]
    assert "B" not in (tmp_path / "out" / "features.csv").read_text()


def test_the_held_out_lines_are_pinned():
    held = aliccp._held_out(np.arange(1, 13), 0.25)
    assert np.flatnonzero(held).tolist() == [2, 9]  # lines 3 and 10
    share = aliccp._held_out(np.arange(1, 200_001), 0.1).mean()
    assert abs(share - 0.1) < 0.003


# ----------------------------------------------------------------- chunks and resuming
def test_chunks_and_shards_do_not_change_the_output(random_raw, random_out, tmp_path, monkeypatch):
    seen = []
    read = aliccp._read_lines

    def spy(f, max_lines):
        lines = read(f, max_lines)
        seen.append(len(lines))
        return lines

    monkeypatch.setattr(aliccp, "_read_lines", spy)
    options = {"min_count": 3, "progress": False}
    aliccp.convert_aliccp(random_raw, tmp_path / "small", chunk_rows=7, shard_rows=700, **options)
    assert max(seen) == 7  # the parser never holds more than a chunk of lines
    assert outputs(tmp_path / "small") == outputs(random_out)


def test_resume_after_interruptions_gives_identical_files(random_raw, random_out, tmp_path):
    out, options = tmp_path / "out", {"min_count": 3, "progress": False, "shard_rows": 700}
    calls = []

    def stop_at(stage, shard):
        def on_shard(s, k):
            calls.append((s, k))
            if (s, k) == (stage, shard):
                raise KeyboardInterrupt

        return on_shard

    with pytest.raises(KeyboardInterrupt):  # killed while counting
        aliccp.convert_aliccp(random_raw, out, on_shard=stop_at("count", 1), **options)
    calls.clear()
    with pytest.raises(KeyboardInterrupt):  # killed while writing the training shards
        aliccp.convert_aliccp(random_raw, out, on_shard=stop_at("train", 2), **options)
    assert calls[0] == ("count", 2)  # the two counted shards were not counted again
    assert ("train", 2) in calls and ("test", 0) not in calls
    (out / "_work" / "shards" / "valid-00002.csv.gz").unlink()  # the last shard, lost
    calls.clear()
    report = aliccp.convert_aliccp(random_raw, out, on_shard=stop_at(None, None), **options)
    assert calls[0] == ("train", 2)  # shards 0 and 1 were kept, 2 written again
    assert outputs(out) == outputs(random_out)
    # The same shard size gives byte-identical gzip files, and the same report's numbers.
    clean = tmp_path / "clean"
    clean_report = aliccp.convert_aliccp(random_raw, clean, **options)
    for split in SPLITS:
        name = f"{split}.csv.gz"
        assert (out / name).read_bytes() == (clean / name).read_bytes()
    assert report.rows == clean_report.rows and report.vocabulary == clean_report.vocabulary


def archive(raw, folder, name, members):
    """A `.tar.gz` of `members` of `raw`, as the release ships them (one per split)."""
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(folder / name, "w:gz") as tar:
        for member in members:
            tar.add(raw / member, arcname=f"{name.split('.')[0]}/{member}")
    return folder


def packed_release(raw, folder):
    """Both splits' raw files in `sample_{split}.tar.gz` archives, as the release ships them."""
    for split in ("train", "test"):
        members = [f"common_features_{split}.csv", f"sample_skeleton_{split}.csv"]
        archive(raw, folder, f"sample_{split}.tar.gz", members)
    return folder


def stop_in_first_train_shard(stage, shard):
    """An `on_shard` hook that kills a conversion while it writes the training shards."""
    if (stage, shard) == ("train", 1):
        raise KeyboardInterrupt


def test_the_release_archives_convert_without_extracting_and_resume(
    random_raw, random_out, tmp_path
):
    packed = packed_release(random_raw, tmp_path / "packed")
    options = {"min_count": 3, "progress": False, "shard_rows": 1000}
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):  # killed while writing: resumes by seeking
        aliccp.convert_aliccp(packed, out, on_shard=stop_in_first_train_shard, **options)
    aliccp.convert_aliccp(packed, out, **options)
    assert outputs(out) == outputs(random_out)  # as from the extracted files
    # A file in neither the folder nor an archive is named with the archives searched.
    (packed / "sample_test.tar.gz").unlink()
    with pytest.raises(
        FileNotFoundError,
        match=r"sample_skeleton_test\.csv: raw file not found nor in sample_train\.tar\.gz",
    ):
        aliccp.convert_aliccp(packed, tmp_path / "other", **options)
    (packed / "sample_test.tar.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match=r"sample_test\.tar\.gz: not a readable \.tar\.gz"):
        aliccp.convert_aliccp(packed, tmp_path / "other", **options)


def test_bags_from_the_release_archives_in_small_chunks_resume(
    random_raw, random_bags_out, tmp_path
):
    packed = packed_release(random_raw, tmp_path / "packed")
    out, options = tmp_path / "out", {"progress": False, "chunk_rows": 97, **RANDOM_BAGS}
    with pytest.raises(KeyboardInterrupt):
        aliccp.convert_aliccp(packed, out, on_shard=stop_in_first_train_shard, **options)
    report = aliccp.convert_aliccp(packed, out, **options)
    assert outputs(out) == outputs(random_bags_out)  # as from the extracted files, in one go
    assert all(report.truncated[b] > 0 for b in BAGS)  # bags of up to 39 ids, cut to 8


def test_a_crash_inside_a_shard_leaves_no_shard_and_resumes(
    random_raw, random_out, tmp_path, monkeypatch
):
    out, options = tmp_path / "out", {"min_count": 3, "progress": False, "shard_rows": 700}
    encode, calls = aliccp._encode, []

    def crash_on_the_fifth_chunk(raw, kept):
        calls.append(len(raw))
        if len(calls) == 5:  # the second chunk of training shard 1
            raise MemoryError("killed")
        return encode(raw, kept)

    monkeypatch.setattr(aliccp, "_encode", crash_on_the_fifth_chunk)
    with pytest.raises(MemoryError):
        aliccp.convert_aliccp(random_raw, out, chunk_rows=300, **options)
    shards = sorted(p.name for p in (out / "_work" / "shards").iterdir())
    assert "train-00001.csv.gz.tmp" in shards and "train-00001.csv.gz" not in shards
    monkeypatch.undo()
    aliccp.convert_aliccp(random_raw, out, chunk_rows=300, **options)
    assert outputs(out) == outputs(random_out)


def test_resume_refuses_other_options(random_raw, tmp_path):
    out = tmp_path / "out"

    def stop(stage, shard):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        aliccp.convert_aliccp(random_raw, out, on_shard=stop, shard_rows=500, progress=False)
    with pytest.raises(ValueError, match="holds a conversion with min_count=12, not 5"):
        aliccp.convert_aliccp(random_raw, out, min_count=5, shard_rows=500, progress=False)
    with pytest.raises(ValueError, match="holds a conversion with multi_valued=False, not True"):
        aliccp.convert_aliccp(random_raw, out, multi_valued=True, shard_rows=500, progress=False)
    # A ledger written before the bag options existed reads as a conversion without bags.
    ledger = out / "_work" / "ledger.json"
    stored = json.loads(ledger.read_text())
    del stored["options"]["multi_valued"], stored["options"]["bag_length"]
    ledger.write_text(json.dumps(stored))
    with pytest.raises(KeyboardInterrupt):  # accepted: goes on to the next shard
        aliccp.convert_aliccp(random_raw, out, on_shard=stop, shard_rows=500, progress=False)


def test_resume_refuses_other_bag_options(random_raw, tmp_path):
    out, options = tmp_path / "out", {"shard_rows": 500, "progress": False}

    def stop(stage, shard):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        aliccp.convert_aliccp(random_raw, out, on_shard=stop, multi_valued=True, **options)
    with pytest.raises(ValueError, match=r"ledger\.json: .* multi_valued=True, not False"):
        aliccp.convert_aliccp(random_raw, out, **options)
    with pytest.raises(ValueError, match=r"ledger\.json: .* bag_length=50, not 20"):
        aliccp.convert_aliccp(random_raw, out, multi_valued=True, bag_length=20, **options)
    # A finished folder is checked too.
    raw = write_raw(tmp_path / "raw", bag_files())
    aliccp.convert_aliccp(raw, tmp_path / "done", **BAG_KNOWN)
    with pytest.raises(ValueError, match=r"aliccp\.json: .* bag_length=2, not 3"):
        aliccp.convert_aliccp(raw, tmp_path / "done", **BAG_KNOWN | {"bag_length": 3})
    with pytest.raises(ValueError, match=r"aliccp\.json: .* multi_valued=True, not False"):
        aliccp.convert_aliccp(raw, tmp_path / "done", **KNOWN)


# --------------------------------------------------------------------- using the result
def test_the_result_loads_streams_and_trains_esmm(random_out):
    schema = mtl.data.Schema.load(random_out)
    assert schema.feature_names == tuple(aliccp.FIELDS[f] for f in aliccp.PUBLIC_FIELDS)
    assert len(schema.fields) == 18 and schema.steps == aliccp.STEPS
    report = json.loads((random_out / "aliccp.json").read_text())
    train = mtl.data.read_frame(random_out / "train.csv.gz", schema)
    assert len(train) == report["rows"]["train"] and train["purchase"].sum() > 0
    for name, field in zip(schema.feature_names, schema.fields, strict=True):
        assert 0 <= train[name].min() and train[name].max() == field.size  # ids 0..n, all used
    # The shards are gzip members of one file: the streaming reader reads them all.
    stream = mtl.data.make_dataset(random_out / "train.csv.gz", schema, batch_size=512, cache=False)
    streamed = np.concatenate([features["ids"].numpy() for features, _ in stream])
    np.testing.assert_array_equal(streamed, train[list(schema.feature_names)].to_numpy())
    # ESMM's Table 2 protocol (CVR AUC on clicked rows, CTCVR AUC on all rows), one epoch.
    splits = mtl.experiment.Splits.load(random_out)
    table = mtl.experiment.run_seeds(["esmm"], splits, seeds=[0], epochs=1, batch_size=256).table
    purchase = table[table["step"] == "purchase"]
    assert np.isfinite(purchase[["conditional_auc", "auc"]].to_numpy()).all()
    assert mtl.experiment.summarize(purchase, "conditional_auc").shape == (1, 1)


def test_the_result_with_bags_loads_streams_and_trains_esmm(random_bags_out):
    report = json.loads((random_bags_out / "aliccp.json").read_text())
    splits = mtl.datasets.load_aliccp(random_bags_out)
    schema = splits.schema
    assert schema == mtl.datasets.Splits.load(random_bags_out).schema
    assert schema.feature_names[-4:] == tuple(BAGS) and len(schema.embedded_fields) == 18
    for name in BAGS:
        field = schema.field(name)
        assert (field.kind, field.length, field.pooling) == ("B", 8, "mean")
        assert field.size == report["vocabulary"][name][1]
    assert len(splits.train) == report["rows"]["train"]
    # The streamed bags are the frame's, parsed: every bag side by side, padded with -1.
    stream = mtl.data.make_dataset(
        random_bags_out / "valid.csv.gz", schema, batch_size=128, cache=False
    )
    streamed = np.concatenate([features["bags"].numpy() for features, _ in stream])
    parsed = [mtl.data.bags.parse_bags(splits.valid[f.name], f) for f in schema.bag_fields]
    np.testing.assert_array_equal(streamed, np.concatenate(parsed, axis=1))
    lengths = (streamed[:, :8] != -1).sum(axis=1)
    assert lengths.max() == 8 and lengths.min() >= 1  # every user has categories, cut to 8
    result = mtl.experiment.run("esmm", splits, epochs=1, batch_size=256)
    for predicted in result.predictions.values():
        assert len(predicted) == len(splits.test) and np.isfinite(predicted).all()


# ------------------------------------------------------------------------------ errors
def corrupt(files, name, line, text):
    files = {k: list(v) for k, v in files.items()}
    files[name][line - 1] = text
    return files


BAD_INPUT = [
    ("sample_skeleton_train.csv", 4, "4,0,0,b2e4,1\n", "line 4: expected 6 comma-separated"),
    ("sample_skeleton_train.csv", 2, skeleton_line(2, 2, 0, "a1f3", []), "line 2: click must"),
    (
        "sample_skeleton_train.csv",
        6,
        "6,1,0,c3d5,3,205\x02502\x031.0\x01301\x022\x031.0\n",
        "line 6: feature_count is 3, but the feature list has 2 items",
    ),
    (
        "sample_skeleton_train.csv",
        7,
        "7,0,0,a1f3,2,205\x02504\x031.0\x01301\x031.0\x023\n",
        "line 7: the feature list is not items field_id",
    ),
    (
        "sample_skeleton_train.csv",
        8,
        skeleton_line(8, 0, 0, "b2e4", [("205", "x9", 1.0)]),
        "line 8: feature id 'x9' of field 205 is not a non-negative integer",
    ),
    (
        "common_features_train.csv",
        2,
        common_line("b2e4", [("101", -12, 1.0)]),
        "line 2: feature id '-12' of field 101 is not a non-negative integer",
    ),
    (
        "sample_skeleton_train.csv",
        11,
        skeleton_line(11, 1, 0, "zzzz", [("205", 501, 1.0)]),
        "line 11: common_feature_index 'zzzz' is not in .*common_features_train.csv",
    ),
    (
        "common_features_train.csv",
        3,
        common_line("a1f3", [("101", 13, 1.0)]),
        "common_features_train.csv, line 3: common_feature_index 'a1f3' is also on line 1",
    ),
    ("common_features_train.csv", 2, "b2e4,1\n", "line 2: expected 3 comma-separated"),
    (
        "sample_skeleton_test.csv",
        3,
        skeleton_line(3, 1, 1, "nope", [("205", 7, 1.0)]),
        "sample_skeleton_test.csv, line 3: .*'nope' is not in .*common_features_test.csv",
    ),
]


@pytest.mark.parametrize(("name", "line", "text", "message"), BAD_INPUT)
def test_bad_raw_input_names_the_file_and_line(tmp_path, name, line, text, message):
    raw = write_raw(tmp_path / "raw", corrupt(known_files(), name, line, text))
    with pytest.raises(
        ValueError, match=f"{name}, {message}" if "line" in message[:5] else message
    ):
        aliccp.convert_aliccp(raw, tmp_path / "out", **KNOWN)


@pytest.mark.parametrize(
    ("name", "line", "text", "message"),
    [
        (
            "common_features_train.csv",
            2,
            common_line("b2e4", [("101", 12, 1.0), *bag("109_14", [7, "x7"])]),
            "line 2: feature id 'x7' of field 109_14 is not a non-negative integer",
        ),
        (
            "sample_skeleton_train.csv",
            8,
            skeleton_line(8, 0, 0, "b2e4", [("205", 502, 1.0), ("127_14", -3, 1.0)]),
            "line 8: feature id '-3' of field 127_14 is not a non-negative integer",
        ),
    ],
)
def test_a_bad_bag_id_names_the_file_and_line(tmp_path, name, line, text, message):
    raw = write_raw(tmp_path / "raw", corrupt(bag_files(), name, line, text))
    with pytest.raises(ValueError, match=f"{name}, {message}"):
        aliccp.convert_aliccp(raw, tmp_path / "out", **BAG_KNOWN)
    aliccp.convert_aliccp(raw, tmp_path / "default", **KNOWN)  # bags dropped: not read


def test_inconsistent_rows_can_be_refused(tmp_path):
    raw = write_raw(tmp_path / "raw", known_files())
    with pytest.raises(ValueError, match=r"train.csv, line 5: conversion is 1 while click is 0"):
        aliccp.convert_aliccp(raw, tmp_path / "out", drop_inconsistent=False, **KNOWN)


def test_missing_and_empty_files(tmp_path):
    raw = write_raw(tmp_path / "raw", known_files())
    (raw / "common_features_test.csv").write_text("")
    with pytest.raises(ValueError, match=r"common_features_test\.csv: the file is empty"):
        aliccp.convert_aliccp(raw, tmp_path / "out", **KNOWN)
    (raw / "common_features_test.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"common_features_test\.csv: raw file not found"):
        aliccp.convert_aliccp(raw, tmp_path / "out", **KNOWN)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fields": ["101", "109_14"]}, "field 109_14 is multi-valued .* multi_valued=True"),
        ({"multi_valued": True, "bag_length": 0}, "bag_length must be an integer >= 1"),
        ({"bag_length": 2.5}, "bag_length must be an integer >= 1"),
        ({"fields": ["101", "999"]}, "unknown field '999'"),
        ({"fields": ["101", "101"]}, "distinct"),
        ({"min_count": 0}, "min_count must be an integer >= 1"),
        ({"valid_fraction": 0.0}, r"valid_fraction must be in \(0, 1\)"),
    ],
)
def test_bad_options(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        aliccp.convert_aliccp(tmp_path, tmp_path / "out", **options)
    with pytest.raises(TypeError, match="multi_valued must be True or False"):
        aliccp.convert_aliccp(tmp_path, tmp_path / "out", multi_valued="yes")


# ----------------------------------------------------------------- command line, progress
def test_command_line_and_progress(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("convert", ROOT / "scripts/convert_aliccp.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    raw = write_raw(tmp_path / "raw", known_files())
    argv = [str(raw), str(tmp_path / "out"), "--fields", ",".join(FIELDS), "--min-count", "2"]
    script.main([*argv, "--valid-fraction", "0.25"])
    captured = capsys.readouterr()
    assert "aliccp: count sample_skeleton_train.csv: 100%" in captured.err
    assert "train: 9 rows" in captured.out
    frame = mtl.data.read_frame(
        tmp_path / "out" / "test.csv.gz", mtl.data.Schema.load(tmp_path / "out")
    )
    assert frame.to_numpy().tolist() == EXPECTED["test"]
    shutil.rmtree(tmp_path / "out")
    raw = write_raw(tmp_path / "bag_raw", bag_files())
    argv = [str(raw), str(tmp_path / "bags"), "--fields", ",".join(FIELDS), "--min-count", "2"]
    script.main([*argv, "--valid-fraction", "0.25", "--multi-valued", "--bag-length", "2"])
    captured = capsys.readouterr()
    cut = "rows whose bag was cut to 2 ids: user_category_history 5, user_brand_history 1\n"
    assert cut in captured.out
    assert mtl.data.Schema.load(tmp_path / "bags").feature_names == (*COLUMNS, *BAGS)
