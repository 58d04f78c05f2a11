r"""Ali-CCP, the ESMM paper's data: a streaming converter from the released raw files.

Alibaba Click and Conversion Prediction (Ma et al., SIGIR 2018): 84 million exposures of
Taobao's recommender, 42 million for training and 42 million for test, with a click and a
purchase label each. Nothing is downloaded: put the released files into one folder, the
`.tar.gz` archives as they are (read without extracting them) or extracted, and call
`convert_aliccp` (or `scripts/convert_aliccp.py`). The result is a data folder in
the project's layout (`features.csv`, `vocab.json`, `train.csv.gz`, `valid.csv.gz`,
`test.csv.gz`, steps `click` → `purchase`) that `mtl_lib.data` and `mtl_lib.experiment` read.

**Raw format.** `sample_skeleton_{train,test}.csv`, one exposure a line, no header:
`sample_id,click,conversion,common_feature_index,feature_count,feature_list`; and
`common_features_{train,test}.csv`: `common_feature_index,feature_count,feature_list`, the
features shared by many exposures (the user's), joined to each exposure by its
`common_feature_index`. A feature list is `feature_count` items joined by `\x01`, each item
`field_id \x02 feature_id \x03 value`.

**Fields kept.** The 18 single-valued fields that the public ESMM/AITM preprocessing keeps
(`PUBLIC_FIELDS`), each one C (id) column, the feature id as the category. The field ids
are checked against that preprocessing; the meanings are the data set's own description
as it is commonly quoted, not re-checked here against the release page:

| field | column | what it is |
|---|---|---|
| 101 | `user_id` | user id |
| 121, 122 | `user_profile`, `user_group` | user profile category and group |
| 124, 125 | `user_gender`, `user_age` | gender, age group |
| 126, 127 | `user_consumption_1`, `user_consumption_2` | consumption level, two kinds |
| 128, 129 | `user_occupation`, `user_geography` | whether working, geography |
| 205, 206, 207, 216 | `item_id`, `item_category`, `item_shop`, `item_brand` | the item shown |
| 508, 509 | `user_item_category`, `user_item_shop` | user's history × the item's category, shop |
| 702, 853 | `user_item_brand`, `user_item_intention` | … × the item's brand, intention node |
| 301 | `position` | position of the exposure |

Field 210 (`item_intention`, the item's intention node) is in `FIELDS` too and can be
added with `fields=`; the public preprocessing leaves it out. The four multi-valued fields
(`MULTI_VALUED`: 109_14, 110_14, 127_14, 150_14, the user's past categories, shops, brands
and intention nodes with counts) are dropped: a bag does not fit the project's one id per
field and row (`mtl_lib.data.Schema`), they are most of the common-features file's tens of
GB (keeping them would make the join's table grow with that file), the public
preprocessing drops them too, and the combination fields 508, 509, 702 and 853 keep what
of them bears on the item shown. A field that occurs twice in one line keeps its last
value, as the public preprocessing does; the repeats are counted per field in the report.

**Encoding.** Ids are fitted on the training split: a feature id seen in at least
`min_count` training exposures gets its own id, `1..n` in increasing order of the raw
id; a rarer or unseen one, or a missing field, gets 0. `MIN_COUNT = 12` reproduces the
public preprocessing (its counter starts at 0 and keeps counts above 10). Exposures with a
conversion but no click are dropped and counted (as the public preprocessing does), or
refused with `drop_inconsistent=False`. A fixed, hashed `valid_fraction` of the training
lines is held out as `valid` (by line number: the same lines whatever the chunking).

**Memory and passes.** Three streaming passes, each in chunks of `chunk_rows` lines (at
most 32 MiB): (1) each common-features file is indexed once, keeping only the kept
fields of each line: sorted keys and an int64 matrix, about 170 bytes per common line
however long its bags (a few hundred MB even for millions of lines), cached on disk; (2)
one pass over the training skeleton counts the ids of the training split (sorted id and
count arrays, 16 bytes per distinct raw id, checkpointed per shard); (3) one pass over
each skeleton writes the encoded rows as gzip CSV shards of `shard_rows` lines. Nothing
else grows with the data. The shards are gzip members, so the split files are their byte
concatenation, behind a header member.

**Resuming.** Work lives in `<out_dir>/_work`: the indexes, the counts, the shards and a
ledger. Every file is written under a temporary name and renamed, so a killed run leaves
no half file under a final name; a restart with the same options skips the finished
indexes, counting shards and written shards. A finished folder (`aliccp.json` present) is
not converted again.

One module, long (about 510 lines), because the converter's passes (counting ids, the
vocabulary, writing the splits) resume from the same checkpoints and share their layout.
"""

from __future__ import annotations

import gzip
import json
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from mtl_lib.data.schema import Field, Schema
from mtl_lib.datasets._aliccp_raw import (
    _GZIP_LEVEL,
    RawFile,
    _add_counts,
    _atomic,
    _CommonIndex,
    _csv,
    _encode,
    _error,
    _GzipShard,
    _held_out,
    _Parser,
    _Progress,
    _read_lines,
    find_raw,
)

#: Every single-valued field id of Ali-CCP → the column it becomes.
FIELDS: dict[str, str] = {
    "101": "user_id",
    "121": "user_profile",
    "122": "user_group",
    "124": "user_gender",
    "125": "user_age",
    "126": "user_consumption_1",
    "127": "user_consumption_2",
    "128": "user_occupation",
    "129": "user_geography",
    "205": "item_id",
    "206": "item_category",
    "207": "item_shop",
    "210": "item_intention",
    "216": "item_brand",
    "508": "user_item_category",
    "509": "user_item_shop",
    "702": "user_item_brand",
    "853": "user_item_intention",
    "301": "position",
}
#: The 18 fields of the public ESMM/AITM preprocessing: every single-valued field but 210.
PUBLIC_FIELDS: tuple[str, ...] = tuple(f for f in FIELDS if f != "210")
#: The multi-valued fields (bags with counts), not converted.
MULTI_VALUED: tuple[str, ...] = ("109_14", "110_14", "127_14", "150_14")
STEPS = ("click", "purchase")
MIN_COUNT = 12
SKELETON, COMMON = "sample_skeleton_{}.csv", "common_features_{}.csv"
REPORT = "aliccp.json"
_WORK, _LEDGER, _COUNTS = "_work", "ledger.json", "counts.npz"


@dataclass
class AliCCPReport:
    """What `convert_aliccp` wrote (saved as `aliccp.json` in the output folder).

    Attributes:
        folder: The output data folder.
        fields: The raw field ids kept, in column order.
        min_count: Training exposures an id needs to keep its own id.
        valid_fraction: Share of the training lines held out as `valid`.
        rows: Rows written per split (`train`, `valid`, `test`).
        positives: Per split, the clicks and purchases among them.
        dropped: Exposures with a conversion but no click, dropped, per skeleton file.
        repeated: Per column, the repeats of its field within one line (the last is kept).
        vocabulary: Per column, `[distinct raw ids in train, ids kept]`.
        seconds: Wall time of the conversion (of the last run, when resumed).
    """

    folder: str
    fields: list[str]
    min_count: int
    valid_fraction: float
    rows: dict[str, int]
    positives: dict[str, dict[str, int]]
    dropped: dict[str, int]
    repeated: dict[str, int]
    vocabulary: dict[str, list[int]]
    seconds: float

    @property
    def schema(self) -> Schema:
        """The schema written with the data: one C field per kept field, steps `STEPS`."""
        return Schema(
            tuple(
                Field(FIELDS[f], "C", max(self.vocabulary[FIELDS[f]][1], 1)) for f in self.fields
            ),
            STEPS,
        )


def convert_aliccp(
    raw_dir: str | Path,
    out_dir: str | Path,
    *,
    fields: Sequence[str] = PUBLIC_FIELDS,
    min_count: int = MIN_COUNT,
    valid_fraction: float = 0.1,
    drop_inconsistent: bool = True,
    shard_rows: int = 1_000_000,
    chunk_rows: int = 20_000,
    keep_work: bool = False,
    progress: bool = True,
    on_shard: Callable[[str, int], None] | None = None,
) -> AliCCPReport:
    r"""Convert the raw Ali-CCP files into a data folder in the project's layout.

    Args:
        raw_dir: The folder of `sample_skeleton_{train,test}.csv` and
            `common_features_{train,test}.csv`, extracted or inside the release's
            `.tar.gz` archives there (read without extracting them: each pass
            decompresses the archive again, so extracted files convert faster).
        out_dir: The data folder to write (created); `<out_dir>/_work` holds the work.
        fields: Raw field ids to keep, from `FIELDS`, in column order.
        min_count: A feature id seen in fewer training exposures gets id 0.
        valid_fraction: Share of the training lines held out as validation, in (0, 1).
        drop_inconsistent: Drop (and count) exposures with a conversion but no click;
            `False` raises on the first one.
        shard_rows: Skeleton lines per output shard: the unit of resuming.
        chunk_rows: Lines parsed at a time (and at most 32 MiB): the unit of
            memory. It does not change the output.
        keep_work: Keep `<out_dir>/_work` (indexes, counts, shards) when done.
        progress: Print a progress line on stderr.
        on_shard: Called as `on_shard(stage, shard)` after each finished shard, stages
            `"count"`, `"train"` and `"test"` (tests stop a conversion with it).

    Returns:
        The report, also saved as `<out_dir>/aliccp.json`.

    Raises:
        FileNotFoundError: if a raw file is missing.
        ValueError: on a bad argument; when `out_dir` holds a conversion made with other
            options or raw files of other sizes; or naming the file and line of malformed
            raw input: a wrong number of columns, a label other than 0/1, a feature list
            that disagrees with its `feature_count` or is not `field\x02id\x03value`
            items, a feature id that is not an integer, a `common_feature_index` missing
            from the common features or given twice, an empty file.

    Example:
        >>> report = convert_aliccp("raw/ali-ccp", "data/aliccp")  # doctest: +SKIP
        >>> report.rows  # doctest: +SKIP
        >>> splits = mtl.experiment.Splits.load("data/aliccp")  # doctest: +SKIP
    """
    start = time.perf_counter()
    fields = _check_options(fields, min_count, valid_fraction, shard_rows, chunk_rows)
    raw_dir, out = Path(raw_dir), Path(out_dir)
    paths = {
        (kind, split): find_raw(raw_dir, name.format(split))
        for split in ("train", "test")
        for kind, name in (("skeleton", SKELETON), ("common", COMMON))
    }
    for path in paths.values():
        if path.size == 0:
            raise ValueError(f"{path}: the file is empty")
    options = {
        "fields": list(fields),
        "min_count": min_count,
        "valid_fraction": valid_fraction,
        "drop_inconsistent": drop_inconsistent,
        "shard_rows": shard_rows,
        "sizes": {p.name: p.size for p in paths.values()},
    }
    if (out / REPORT).is_file():  # converted before
        stored = json.loads((out / REPORT).read_text())
        _check_same(out / REPORT, options, stored, ("fields", "min_count", "valid_fraction"))
        return AliCCPReport(**stored)
    job = _Job(out, options, chunk_rows, progress, on_shard)
    index = job.index(paths["common", "train"], "train")
    job.count(paths["skeleton", "train"], index)
    job.write("train", paths["skeleton", "train"], index)
    del index  # one common-features index in memory at a time
    job.write("test", paths["skeleton", "test"], job.index(paths["common", "test"], "test"))
    report = job.finish(start)
    if not keep_work:
        shutil.rmtree(job.work)
    return report


def _check_options(
    fields: Sequence[str], min_count: int, valid_fraction: float, shard_rows: int, chunk_rows: int
) -> tuple[str, ...]:
    if isinstance(fields, str):
        raise TypeError(f"fields must be a sequence of field ids, got the string {fields!r}")
    fields = tuple(str(f) for f in fields)
    for f in fields:
        if f in MULTI_VALUED:
            raise ValueError(
                f"field {f} is multi-valued (a bag of ids with counts); the converter keeps "
                f"single-valued fields only: {', '.join(FIELDS)}"
            )
        if f not in FIELDS:
            raise ValueError(f"unknown field {f!r}; choose from {', '.join(FIELDS)}")
    if not fields or len(set(fields)) != len(fields):
        raise ValueError(f"fields must be distinct and not empty, got {fields}")
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise ValueError(f"min_count must be an integer >= 1, got {min_count!r}")
    if not 0 < valid_fraction < 1:
        raise ValueError(f"valid_fraction must be in (0, 1), got {valid_fraction}")
    if shard_rows < 1 or chunk_rows < 1:
        raise ValueError(f"shard_rows and chunk_rows must be >= 1, got {shard_rows}, {chunk_rows}")
    return fields


def _check_same(where: Path, options: dict, stored: dict, keys: Sequence[str]) -> None:
    for key in keys:
        if stored.get(key) != options[key]:
            raise ValueError(
                f"{where}: this folder holds a conversion with {key}={stored.get(key)!r}, "
                f"not {options[key]!r}; pass the same options and raw files, or remove it"
            )


# ----------------------------------------------------------------------------- the job
class _Job:
    """One conversion's work folder, ledger and passes."""

    def __init__(
        self,
        out: Path,
        options: dict,
        chunk_rows: int,
        progress: bool,
        on_shard: Callable[[str, int], None] | None,
    ) -> None:
        self.out, self.work, self.options = out, out / _WORK, options
        self.fields = tuple(options["fields"])
        self.chunk_rows, self.progress, self.on_shard = chunk_rows, progress, on_shard
        self.parser = _Parser(self.fields)
        self.common_repeated = np.zeros(len(self.fields), np.int64)
        ledger = self.work / _LEDGER
        if ledger.is_file():
            self.ledger = json.loads(ledger.read_text())
            _check_same(ledger, options, self.ledger["options"], list(options))
        else:
            (self.work / "shards").mkdir(parents=True, exist_ok=True)
            self.ledger = {"options": options, "train": [], "test": []}
            self._save_ledger()

    # ---- pass 1: index each common-features file by its key (cached)
    def index(self, path: RawFile, split: str) -> _CommonIndex:
        cache = self.work / f"common_{split}.npz"
        if not cache.is_file():
            self.parser.repeated[:] = 0
            keys, values, lines = [], [], []
            bar = _Progress(self.progress, f"index {path.name}", path.size)
            with path.open() as f:
                first = 1
                while chunk := _read_lines(f, self.chunk_rows):
                    k, v, n = self.parser.common(chunk, first, path)
                    keys.append(np.array(k, dtype=bytes))
                    values.append(v)
                    lines.append(n)
                    first += len(chunk)
                    bar.update(f.tell(), first - 1)
            bar.close()
            if not sum(len(k) for k in keys):
                raise ValueError(f"{path}: the file has no common-features lines")
            order = np.argsort(all_keys := np.concatenate(keys), kind="stable")
            all_keys, all_lines = all_keys[order], np.concatenate(lines)[order]
            twice = np.flatnonzero(all_keys[1:] == all_keys[:-1])
            if twice.size:
                i = int(twice[0])
                key = all_keys[i].decode()
                raise _error(
                    path,
                    int(all_lines[i + 1]),
                    f"common_feature_index {key!r} is also on line {all_lines[i]}",
                )
            arrays = {"keys": all_keys, "values": np.concatenate(values)[order]}
            arrays["repeated"] = self.parser.repeated.copy()
            _atomic(cache, lambda out: np.savez(out, **arrays))
        with np.load(cache) as saved:
            self.common_repeated += saved["repeated"]
            return _CommonIndex(saved["keys"], saved["values"], path)

    def _shard(
        self, f: BinaryIO, first: int, path: RawFile, index: _CommonIndex
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
        """Chunks of one shard from `f`: `(ids, labels, line numbers, dropped)`."""
        remaining = self.options["shard_rows"]
        self.next_line = first
        while remaining and (chunk := _read_lines(f, min(self.chunk_rows, remaining))):
            remaining -= len(chunk)
            labels, keys, raw, lines = self.parser.skeleton(chunk, self.next_line, path)
            self.next_line += len(chunk)
            if not len(lines):  # blank lines only
                continue
            raw = index.join(keys, raw, path, lines)
            bad = (labels[:, 1] == 1) & (labels[:, 0] == 0)
            if bad.any() and not self.options["drop_inconsistent"]:
                raise _error(
                    path,
                    int(lines[np.argmax(bad)]),
                    "conversion is 1 while click is 0; pass drop_inconsistent=True "
                    "(--drop-inconsistent) to drop such exposures",
                )
            yield raw[~bad], labels[~bad], lines[~bad], int(bad.sum())

    # ---- pass 2: count the training split's ids (checkpointed per shard)
    def count(self, path: RawFile, index: _CommonIndex) -> None:
        state, width, size = self.work / _COUNTS, len(self.fields), path.size
        keys = [np.zeros(0, np.int64) for _ in range(width)]
        counts = [np.zeros(0, np.int64) for _ in range(width)]
        shard, offset, line = 0, 0, 1
        if state.is_file():
            with np.load(state) as saved:
                keys = [saved[f"keys{j}"] for j in range(width)]
                counts = [saved[f"counts{j}"] for j in range(width)]
                shard, offset, line = (int(x) for x in saved["position"])
        bar = _Progress(self.progress and offset < size, f"count {path.name}", size)
        with path.open() as f:
            f.seek(offset)
            while offset < size:
                for raw, _, lines, _ in self._shard(f, line, path, index):
                    train = raw[~_held_out(lines, self.options["valid_fraction"])]
                    for j in range(width):
                        keys[j], counts[j] = _add_counts(keys[j], counts[j], train[:, j])
                    bar.update(f.tell(), self.next_line - 1)
                offset, line = f.tell(), self.next_line
                arrays = {f"keys{j}": keys[j] for j in range(width)}
                arrays |= {f"counts{j}": counts[j] for j in range(width)}
                arrays["position"] = np.array([shard + 1, offset, line])
                _atomic(state, lambda out, a=arrays: np.savez(out, **a))
                if self.on_shard:
                    self.on_shard("count", shard)
                shard += 1
        bar.close()
        self.kept = [k[c >= self.options["min_count"]] for k, c in zip(keys, counts, strict=True)]
        self.vocabulary = {
            FIELDS[f]: [len(keys[j]), len(self.kept[j])] for j, f in enumerate(self.fields)
        }

    # ---- pass 3: encode and write gzip CSV shards
    def write(self, split: str, path: RawFile, index: _CommonIndex) -> None:
        records, size = self.ledger[split], path.size
        outputs = ("train", "valid") if split == "train" else ("test",)
        bar = _Progress(self.progress, f"write {path.name}", size)
        shard, offset, line = 0, 0, 1
        with path.open() as f:
            while offset < size:
                files = [self.work / "shards" / f"{o}-{shard:05d}.csv.gz" for o in outputs]
                if shard < len(records) and all(p.is_file() for p in files):
                    record = records[shard]  # written before: skipped
                else:
                    f.seek(offset)
                    record = self._write_shard(
                        f, line, path, index, dict(zip(outputs, files, strict=True))
                    )
                    records[shard : shard + 1] = [record]
                    self._save_ledger()
                    if self.on_shard:
                        self.on_shard(split, shard)
                offset, line = record["end"], record["next_line"]
                shard += 1
                bar.update(offset, line - 1)
        bar.close()

    def _write_shard(
        self, f: BinaryIO, line: int, path: RawFile, index: _CommonIndex, files: dict[str, Path]
    ) -> dict:
        """Write one shard's files under temporary names, then rename them; its record."""
        record = {
            "rows": dict.fromkeys(files, 0),
            "positives": {o: dict.fromkeys(STEPS, 0) for o in files},
            "dropped": 0,
        }
        self.parser.repeated[:] = 0
        temporary = {o: p.with_name(p.name + ".tmp") for o, p in files.items()}
        writers = {o: _GzipShard(t) for o, t in temporary.items()}
        try:
            for raw, labels, lines, dropped in self._shard(f, line, path, index):
                record["dropped"] += dropped
                table = np.concatenate([_encode(raw, self.kept), labels.astype(np.int32)], axis=1)
                held = _held_out(lines, self.options["valid_fraction"])
                parts = {"train": table[~held], "valid": table[held]} if "valid" in files else {}
                for output, rows in (parts or {"test": table}).items():
                    writers[output].write(_csv(rows))
                    record["rows"][output] += len(rows)
                    for s, step in enumerate(STEPS):
                        record["positives"][output][step] += int(rows[:, s - len(STEPS)].sum())
        finally:
            for writer in writers.values():
                writer.close()
        for output, file in files.items():
            temporary[output].replace(file)
        record["repeated"] = self.parser.repeated.tolist()
        record["end"], record["next_line"] = f.tell(), self.next_line
        return record

    def _save_ledger(self) -> None:
        text = json.dumps(self.ledger).encode()
        _atomic(self.work / _LEDGER, lambda f: f.write(text))

    # ---- the split files (shards behind a header), the schema and the report
    def finish(self, start: float) -> AliCCPReport:
        columns = [FIELDS[f] for f in self.fields]
        header = (",".join([*columns, *STEPS]) + "\n").encode()
        header = gzip.compress(header, compresslevel=_GZIP_LEVEL, mtime=0)
        rows, positives = {}, {}
        for split, source in (("train", "train"), ("valid", "train"), ("test", "test")):
            records = self.ledger[source]
            shards = [self.work / "shards" / f"{split}-{k:05d}.csv.gz" for k in range(len(records))]

            def concatenate(f: BinaryIO, shards: list[Path] = shards) -> None:
                f.write(header)
                for shard in shards:
                    with open(shard, "rb") as part:
                        shutil.copyfileobj(part, f)

            _atomic(self.out / f"{split}.csv.gz", concatenate)
            rows[split] = sum(r["rows"][split] for r in records)
            positives[split] = {s: sum(r["positives"][split][s] for r in records) for s in STEPS}
        repeated = self.common_repeated.copy()
        for record in self.ledger["train"] + self.ledger["test"]:
            repeated += np.array(record["repeated"], np.int64)
        report = AliCCPReport(
            folder=str(self.out),
            fields=list(self.fields),
            min_count=self.options["min_count"],
            valid_fraction=self.options["valid_fraction"],
            rows=rows,
            positives=positives,
            dropped={s: sum(r["dropped"] for r in self.ledger[s]) for s in ("train", "test")},
            repeated=dict(zip(columns, repeated.tolist(), strict=True)),
            vocabulary=self.vocabulary,
            seconds=round(time.perf_counter() - start, 1),
        )
        report.schema.save(self.out)
        text = (json.dumps(asdict(report), indent=2) + "\n").encode()
        _atomic(self.out / REPORT, lambda f: f.write(text))
        return report
