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
added with `fields=`; the public preprocessing leaves it out. A field that occurs twice in
one line keeps its last value, as the public preprocessing does; the repeats are counted
per field in the report.

**Multi-valued fields, opt-in.** The four multi-valued fields (`MULTI_VALUED`: 109_14,
110_14, 127_14, 150_14, the user's past categories, shops, brands and intention nodes, one
item per id with a count as its value) are dropped by default: they are most of the
common-features file's tens of GB (kept, they make the join's index about ten times
larger, see below), the public preprocessing drops them too, and the combination fields
508, 509, 702 and 853 keep what of them bears on the item shown. `multi_valued=True` keeps
each as one bag column (kind B of `mtl_lib.data.Schema`), after the single-valued columns
(`BAG_FIELDS`: `user_category_history`, `user_shop_history`, `user_brand_history`,
`user_intention_history`). A bag is the line's ids of that field in the order they
appear, repeats included, the first `bag_length` of them; the bags cut to that length are
counted per column (`AliCCPReport.truncated`); an absent field is an empty bag; the counts
(each item's `\x03value`) are not used. As for a single-valued field, a bag in the
common features replaces the exposure's own bag of that field, as a whole. In the output
files a bag's cell is its encoded ids joined by `|` (`3|17|42`), empty for an empty bag.

**Encoding.** Ids are fitted on the training split: a feature id seen in at least
`min_count` training exposures gets its own id, `1..n` in increasing order of the raw
id; a rarer or unseen one, or a missing field, gets 0. `MIN_COUNT = 12` reproduces the
public preprocessing (its counter starts at 0 and keeps counts above 10). A bag's ids are
fitted the same way, an id counted once per training exposure whose bag (as cut to
`bag_length`) holds it. Exposures with a conversion but no click are dropped and counted
(as the public preprocessing does), or refused with `drop_inconsistent=False`. A fixed,
hashed `valid_fraction` of the training lines is held out as `valid` (by line number: the
same lines whatever the chunking).

**Memory and passes.** Three streaming passes, each in chunks of `chunk_rows` lines (at
most 32 MiB): (1) each common-features file is indexed once, keeping only the kept
fields of each line: sorted keys and an int64 matrix, 8 bytes per single-valued field
plus the key, about 170 bytes per common line (a few hundred MB even for millions of
lines), cached on disk. With `multi_valued=True` each bag adds `bag_length` int64 slots,
padded with -1 (`mtl_lib.data.bags.PAD`), and a byte (whether it was cut): 8 × (18 + 4 ×
`bag_length`) + 4 bytes plus the key, about 1.8 kB per common line at the defaults (1.8
GB per million lines), however long the raw bags; up to twice that while an index is
sorted, one index in memory at a time. (2) One pass over the training skeleton counts the
ids of the training split (sorted id and count arrays per column, bags included, 16 bytes
per distinct raw id, checkpointed per shard); (3) one pass over each skeleton writes the
encoded rows as gzip CSV shards of `shard_rows` lines. Nothing else grows with the data.
The shards are gzip members, so the split files are their byte concatenation, behind a
header member.

**Resuming.** Work lives in `<out_dir>/_work`: the indexes, the counts, the shards and a
ledger. Every file is written under a temporary name and renamed, so a killed run leaves
no half file under a final name; a restart with the same options skips the finished
indexes, counting shards and written shards, and one with other options (`multi_valued`
and `bag_length` included) is refused. A finished folder (`aliccp.json` present) is not
converted again.

One module, long (about 600 lines), because the converter's passes (counting ids, the
vocabulary, writing the splits) resume from the same checkpoints and share their layout.
"""

from __future__ import annotations

import gzip
import json
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from mtl_lib.data.schema import BAG, Field, Schema
from mtl_lib.datasets._aliccp_raw import (
    _GZIP_LEVEL,
    RawFile,
    _add_bag_counts,
    _add_counts,
    _atomic,
    _CommonIndex,
    _csv,
    _encode,
    _encode_bags,
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
#: Every multi-valued field id (a bag of ids with counts) → its bag column (`multi_valued=True`).
BAG_FIELDS: dict[str, str] = {
    "109_14": "user_category_history",
    "110_14": "user_shop_history",
    "127_14": "user_brand_history",
    "150_14": "user_intention_history",
}
#: The multi-valued fields, kept as bags with `multi_valued=True` only.
MULTI_VALUED: tuple[str, ...] = tuple(BAG_FIELDS)
STEPS = ("click", "purchase")
MIN_COUNT = 12
BAG_LENGTH = 50
SKELETON, COMMON = "sample_skeleton_{}.csv", "common_features_{}.csv"
REPORT = "aliccp.json"
_WORK, _LEDGER, _COUNTS = "_work", "ledger.json", "counts.npz"
#: Options added later: their value in a ledger or report written before them.
_BEFORE = {"multi_valued": False, "bag_length": None}


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
        repeated: Per single-valued column, the repeats of its field within one line (the
            last is kept).
        vocabulary: Per column, bags included, `[distinct raw ids in train, ids kept]`.
        seconds: Wall time of the conversion (of the last run, when resumed).
        multi_valued: Whether the `MULTI_VALUED` fields are kept, as bag columns after
            the single-valued ones.
        bag_length: The most ids a bag keeps (its first ones); `None` without bags.
        truncated: Per bag column, the rows written (all splits) whose bag was cut to
            `bag_length`; empty without bags.
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
    multi_valued: bool = False
    bag_length: int | None = None
    truncated: dict[str, int] = field(default_factory=dict)

    @property
    def schema(self) -> Schema:
        """The schema written with the data, steps `STEPS`.

        One C field per kept single-valued field, then, with `multi_valued`, one bag per
        multi-valued field: `Field(column, "B", n, bag_length, "mean")`.
        """
        singles = [Field(FIELDS[f], "C", self._size(FIELDS[f])) for f in self.fields]
        bags = [
            Field(BAG_FIELDS[f], BAG, self._size(BAG_FIELDS[f]), self.bag_length, "mean")
            for f in (MULTI_VALUED if self.multi_valued else ())
        ]
        return Schema((*singles, *bags), STEPS)

    def _size(self, column: str) -> int:
        return max(self.vocabulary[column][1], 1)


def convert_aliccp(
    raw_dir: str | Path,
    out_dir: str | Path,
    *,
    fields: Sequence[str] = PUBLIC_FIELDS,
    min_count: int = MIN_COUNT,
    valid_fraction: float = 0.1,
    drop_inconsistent: bool = True,
    multi_valued: bool = False,
    bag_length: int = BAG_LENGTH,
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
        min_count: A feature id seen in fewer training exposures gets id 0 (a bag's id
            is counted once per exposure whose bag holds it).
        valid_fraction: Share of the training lines held out as validation, in (0, 1).
        drop_inconsistent: Drop (and count) exposures with a conversion but no click;
            `False` raises on the first one.
        multi_valued: Also keep the four `MULTI_VALUED` fields, each as a bag column
            (`BAG_FIELDS`) after the single-valued ones: the line's ids of that field in
            line order, an empty bag where it is absent. The items' values (counts) are not
            used. Off by default, as in the public preprocessing (see the module's
            docstring for why, and for the memory it takes).
        bag_length: With `multi_valued`, the most ids a bag keeps: the first ones of the
            line; the bags cut are counted in the report's `truncated`. Unused otherwise.
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
        TypeError: if `fields` is a string, or `multi_valued` is not a bool.
        ValueError: on a bad argument (a multi-valued field in `fields`: see
            `multi_valued`); when `out_dir` holds a conversion made with other
            options or raw files of other sizes (`multi_valued` and `bag_length`
            included); or naming the file and line of malformed raw input: a wrong number
            of columns, a label other than 0/1, a feature list that disagrees with its
            `feature_count` or is not `field\x02id\x03value` items, a feature id (a
            bag's too) that is not a non-negative integer, a `common_feature_index`
            missing from the common features or given twice, an empty file.

    Example:
        >>> report = convert_aliccp("raw/ali-ccp", "data/aliccp")  # doctest: +SKIP
        >>> report.rows  # doctest: +SKIP
        >>> splits = mtl.experiment.Splits.load("data/aliccp")  # doctest: +SKIP
        >>> bags = convert_aliccp(
        ...     "raw/ali-ccp", "data/aliccp_bags", multi_valued=True, bag_length=20
        ... )  # doctest: +SKIP
        >>> bags.truncated  # doctest: +SKIP
    """
    start = time.perf_counter()
    fields = _check_options(fields, min_count, valid_fraction, shard_rows, chunk_rows)
    _check_bag_options(multi_valued, bag_length)
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
        "multi_valued": multi_valued,
        "bag_length": bag_length if multi_valued else None,  # no bags: no length to check
    }
    if (out / REPORT).is_file():  # converted before
        stored = json.loads((out / REPORT).read_text())
        checked = ("fields", "min_count", "valid_fraction", "multi_valued", "bag_length")
        _check_same(out / REPORT, options, stored, checked)
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
                f"field {f} is multi-valued (a bag of ids with counts): pass "
                "multi_valued=True (--multi-valued) to keep the four multi-valued fields as "
                f"bag columns; fields= takes single-valued fields only: {', '.join(FIELDS)}"
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


def _check_bag_options(multi_valued: bool, bag_length: int) -> None:
    if not isinstance(multi_valued, bool):
        raise TypeError(f"multi_valued must be True or False, got {multi_valued!r}")
    if isinstance(bag_length, bool) or not isinstance(bag_length, int) or bag_length < 1:
        raise ValueError(
            f"bag_length must be an integer >= 1 (the most ids a bag keeps), got {bag_length!r}"
        )


def _check_same(where: Path, options: dict, stored: dict, keys: Sequence[str]) -> None:
    for key in keys:
        value = stored.get(key, _BEFORE.get(key))
        if value != options[key]:
            raise ValueError(
                f"{where}: this folder holds a conversion with {key}={value!r}, "
                f"not {options[key]!r}; pass the same options and raw files, or remove it"
            )


# ----------------------------------------------------------------------------- the job
class _Job:
    """One conversion's work folder, ledger and passes.

    A row of raw ids holds the single-valued fields, then `bag_length` slots per bag
    (`_Parser`); `columns` names the single-valued columns, then the bags.
    """

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
        self.bags = MULTI_VALUED if options["multi_valued"] else ()
        self.length = options["bag_length"] or 1
        self.columns = [FIELDS[f] for f in self.fields] + [BAG_FIELDS[b] for b in self.bags]
        self.chunk_rows, self.progress, self.on_shard = chunk_rows, progress, on_shard
        self.parser = _Parser(self.fields, self.bags, self.length)
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
            keys, values, cuts, lines = [], [], [], []
            bar = _Progress(self.progress, f"index {path.name}", path.size)
            with path.open() as f:
                first = 1
                while chunk := _read_lines(f, self.chunk_rows):
                    k, v, c, n = self.parser.common(chunk, first, path)
                    keys.append(np.array(k, dtype=bytes))
                    values.append(v)
                    cuts.append(c)
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
            values = np.concatenate(values)  # the chunks freed: twice the index at most
            arrays = {"keys": all_keys, "values": values[order]}
            del values
            arrays["cut"] = np.concatenate(cuts)[order]
            arrays["repeated"] = self.parser.repeated.copy()
            _atomic(cache, lambda out: np.savez(out, **arrays))
            del arrays
        with np.load(cache) as saved:
            self.common_repeated += saved["repeated"]
            no_bags = np.zeros((len(saved["keys"]), 0), bool)  # a cache from before bags
            cut = saved["cut"] if "cut" in saved else no_bags
            return _CommonIndex(saved["keys"], saved["values"], path, cut, self.length)

    def _shard(
        self, f: BinaryIO, first: int, path: RawFile, index: _CommonIndex
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]]:
        """Chunks of one shard from `f`: `(ids, cut bags, labels, line numbers, dropped)`."""
        remaining = self.options["shard_rows"]
        self.next_line = first
        while remaining and (chunk := _read_lines(f, min(self.chunk_rows, remaining))):
            remaining -= len(chunk)
            labels, keys, raw, cut, lines = self.parser.skeleton(chunk, self.next_line, path)
            self.next_line += len(chunk)
            if not len(lines):  # blank lines only
                continue
            raw, cut = index.join(keys, raw, cut, path, lines)
            bad = (labels[:, 1] == 1) & (labels[:, 0] == 0)
            if bad.any() and not self.options["drop_inconsistent"]:
                raise _error(
                    path,
                    int(lines[np.argmax(bad)]),
                    "conversion is 1 while click is 0; pass drop_inconsistent=True "
                    "(--drop-inconsistent) to drop such exposures",
                )
            yield raw[~bad], cut[~bad], labels[~bad], lines[~bad], int(bad.sum())

    # ---- pass 2: count the training split's ids (checkpointed per shard)
    def count(self, path: RawFile, index: _CommonIndex) -> None:
        state, size = self.work / _COUNTS, path.size
        singles, width, length = len(self.fields), len(self.columns), self.length
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
                for raw, _, _, lines, _ in self._shard(f, line, path, index):
                    train = raw[~_held_out(lines, self.options["valid_fraction"])]
                    for j in range(singles):
                        keys[j], counts[j] = _add_counts(keys[j], counts[j], train[:, j])
                    for j in range(singles, width):  # a bag's slots, from column `start`
                        start = singles + (j - singles) * length
                        block = train[:, start : start + length]
                        keys[j], counts[j] = _add_bag_counts(keys[j], counts[j], block)
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
            column: [len(keys[j]), len(self.kept[j])] for j, column in enumerate(self.columns)
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
        singles = len(self.fields)
        truncated = np.zeros(len(self.bags), np.int64)
        self.parser.repeated[:] = 0
        temporary = {o: p.with_name(p.name + ".tmp") for o, p in files.items()}
        writers = {o: _GzipShard(t) for o, t in temporary.items()}
        try:
            for raw, cut, labels, lines, dropped in self._shard(f, line, path, index):
                record["dropped"] += dropped
                truncated += cut.sum(axis=0)
                ids = _encode(raw[:, :singles], self.kept[:singles])
                table = np.concatenate([ids, labels.astype(np.int32)], axis=1)
                bags = _encode_bags(raw[:, singles:], self.kept[singles:], self.length)
                held = _held_out(lines, self.options["valid_fraction"])
                parts = {"train": ~held, "valid": held} if "valid" in files else {}
                for output, chosen in (parts or {"test": slice(None)}).items():
                    rows = table[chosen]
                    writers[output].write(_csv(rows, bags[chosen], singles, self.length))
                    record["rows"][output] += len(rows)
                    for s, step in enumerate(STEPS):
                        record["positives"][output][step] += int(rows[:, s - len(STEPS)].sum())
        finally:
            for writer in writers.values():
                writer.close()
        for output, file in files.items():
            temporary[output].replace(file)
        record["repeated"] = self.parser.repeated.tolist()
        record["truncated"] = truncated.tolist()
        record["end"], record["next_line"] = f.tell(), self.next_line
        return record

    def _save_ledger(self) -> None:
        text = json.dumps(self.ledger).encode()
        _atomic(self.work / _LEDGER, lambda f: f.write(text))

    # ---- the split files (shards behind a header), the schema and the report
    def finish(self, start: float) -> AliCCPReport:
        header = (",".join([*self.columns, *STEPS]) + "\n").encode()
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
        truncated = np.zeros(len(self.bags), np.int64)
        for record in self.ledger["train"] + self.ledger["test"]:
            repeated += np.array(record["repeated"], np.int64)
            truncated += np.array(record.get("truncated", truncated), np.int64)
        singles = self.columns[: len(self.fields)]
        report = AliCCPReport(
            folder=str(self.out),
            fields=list(self.fields),
            min_count=self.options["min_count"],
            valid_fraction=self.options["valid_fraction"],
            rows=rows,
            positives=positives,
            dropped={s: sum(r["dropped"] for r in self.ledger[s]) for s in ("train", "test")},
            repeated=dict(zip(singles, repeated.tolist(), strict=True)),
            vocabulary=self.vocabulary,
            seconds=round(time.perf_counter() - start, 1),
            multi_valued=bool(self.bags),
            bag_length=self.options["bag_length"],
            truncated=dict(zip(self.columns[len(self.fields) :], truncated.tolist(), strict=True)),
        )
        report.schema.save(self.out)
        text = (json.dumps(asdict(report), indent=2) + "\n").encode()
        _atomic(self.out / REPORT, lambda f: f.write(text))
        return report
