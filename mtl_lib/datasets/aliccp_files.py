"""Ali-CCP as users hold it: one call for the processed files of public projects.

The raw release is tens of GB; most users start from a processed copy published by another
project. `load_aliccp(folder)` recognises which one a folder holds, by its files' names and
first lines, and says which it found in `Splits.source`:

- `"aitm"`, the AITM authors' public preprocessing (`process_public_dataset.py`; also
  PaddleRec's AITM sample): files `ctr_cvr.train`, `ctr_cvr.dev`, `ctr_cvr.test` (no
  extension); columns `click,purchase`, then 18 single-valued id fields named by their
  Ali-CCP field id (`101,121,...,853,301`, `AITM_FIELDS`), each already an integer code.
  In the published sample the training file has a header line and the test file none.
- `"torch-rechub"`, torch-rechub's processed Ali-CCP: `ali_ccp_train*.csv`,
  `ali_ccp_val*.csv`, `ali_ccp_test*.csv`, with the header `click,purchase`, 23 id fields
  (the 18, `210`, and `109_14,110_14,127_14,150_14`) and 8 number fields
  (`D109_14,...,D853`).
- `"paddlerec"`, PaddleRec's ESMM / ESCM² samples: `field:id` token lines (see
  `mtl_lib.datasets.aliccp_tokens`), in sub-folders `train/`, `test/` (and `valid/`,
  `val/` or `dev/`) of any file names, as PaddleRec ships them, or in files whose names
  hold `train`, `test`, `valid`. A field that appears several times in a line of the
  training files is a bag (`Field` kind B, mean-pooled), the others single ids.
- `"converted"`: `convert_aliccp`'s output folder (`aliccp.json`, `features.csv`,
  `vocab.json`, `{train,valid,test}.csv.gz`).

The raw release (`sample_skeleton_*.csv`, `common_features_*.csv`, or their `.tar.gz`
archives) is recognised and refused with the call that converts it (`convert_aliccp`).

**Names as the data has them.** Fields keep their Ali-CCP names (`101`, `109_14`,
`D508`) in the `Schema`, the frames and `mtl.serving.load` (the SavedModel's signature,
whose names must be identifiers, takes `101` as `f_101`: `mtl.serving.signature_name`);
the labels are `click` and `purchase`, the steps of the funnel.

**Headers.** A file whose first line is made of numbers has no header (the AITM sample's
test file): its columns are taken from a sibling file of the same folder that has one, or
else from the format's known layout, and `source` says which.

**Ids.** Every id column is re-indexed on the training rows, as the AliExpress loader does
(`mtl_lib.datasets.encoding.Vocabulary`): a code seen at least `min_count` times gets
its own id `1..n` in code order, any other (rare, or seen only in validation or test) gets
0. Codes that are already small integers keep their order. The number columns of
torch-rechub's files (`D…`) are K fields, used as they are.

**Validation.** Where the folder has no validation file, a seeded `valid_fraction` of the
training rows is held out (the same rows for the same seed and file).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mtl_lib.data.schema import Field, Schema
from mtl_lib.datasets.aliccp_tokens import (
    MISSING,
    TokenFile,
    is_token_line,
    read_token_file,
    token_frame,
)
from mtl_lib.datasets.encoding import Vocabulary, checked_numbers, read_checked
from mtl_lib.datasets.splits import Splits

LABELS = ("click", "purchase")
"""The label columns of every processed format, in funnel order: the schema's steps."""

AITM_FIELDS = (
    "101", "121", "122", "124", "125", "126", "127", "128", "129",
    "205", "206", "207", "216", "508", "509", "702", "853", "301",
)  # fmt: skip
"""The 18 single-valued fields of the public ESMM/AITM preprocessing, in its column order."""

RECHUB_IDS = (*AITM_FIELDS[:12], "210", *AITM_FIELDS[12:], "109_14", "110_14", "127_14", "150_14")
RECHUB_VALUES = ("D109_14", "D110_14", "D127_14", "D150_14", "D508", "D509", "D702", "D853")

CHUNK_ROWS = 200_000
"""Rows parsed and checked at a time."""


@dataclass(frozen=True)
class ProcessedFormat:
    """One published layout of processed Ali-CCP files.

    Attributes:
        name: Its key in `FORMATS`.
        description: Who publishes it, in words.
        patterns: Split (`"train"`, `"valid"`, `"test"`) → the file name pattern (a glob).
        columns: Every column of a file of the layout, in file order.
        values: The number (K) columns among them; the others but the labels are ids.
    """

    name: str
    description: str
    patterns: dict[str, str]
    columns: tuple[str, ...]
    values: tuple[str, ...] = ()


FORMATS = {
    "aitm": ProcessedFormat(
        "aitm",
        "the AITM authors' public preprocessing (process_public_dataset.py; also "
        "PaddleRec's AITM sample)",
        {"train": "ctr_cvr.train", "valid": "ctr_cvr.dev", "test": "ctr_cvr.test"},
        (*LABELS, *AITM_FIELDS),
    ),
    "torch-rechub": ProcessedFormat(
        "torch-rechub",
        "torch-rechub's processed Ali-CCP",
        {"train": "ali_ccp_train*.csv", "valid": "ali_ccp_val*.csv", "test": "ali_ccp_test*.csv"},
        (*LABELS, *RECHUB_IDS, *RECHUB_VALUES),
        RECHUB_VALUES,
    ),
}

_RAW = ("sample_skeleton_train.csv", "sample_skeleton_test.csv")
_NUMBER = re.compile(r"\s*-?\d+(\.\d*)?([eE][-+]?\d+)?\s*")


def load_aliccp(
    folder: str | Path,
    *,
    valid_fraction: float = 0.1,
    seed: int = 0,
    min_count: int = 1,
    max_rows: int | None = None,
    drop_inconsistent: bool = False,
    chunk_rows: int = CHUNK_ROWS,
    bag_length: int | None = None,
) -> Splits:
    """Ali-CCP's train, validation and test splits from a folder of processed files.

    Args:
        folder: A folder in one of the `FORMATS` (see the module's docstring), or
            `convert_aliccp`'s output folder.
        valid_fraction: Share of the training rows held out as validation where the
            folder has no validation file, in `(0, 1)`.
        seed: Seed of that choice of rows.
        min_count: A code seen in fewer training rows gets id 0, as an unseen one.
        max_rows: Read only the first `max_rows` data rows of each file.
        drop_inconsistent: Drop rows with a purchase but no click (with a `UserWarning`
            saying how many) instead of raising.
        chunk_rows: Rows parsed and checked at a time.
        bag_length: PaddleRec's format: the most ids a bag keeps (its first ones; the
            rows cut are counted in `source`). `None`: the longest bag of the training rows.

    Returns:
        The splits, steps `("click", "purchase")`, with `source` (which format, which
        files, where the headers came from) and `vocabulary` (the kept codes) set.

    Raises:
        FileNotFoundError: if the folder does not exist, or holds none of the formats (the
            message names the formats known and the files looked for), or lacks a
            training or test file.
        ValueError: on a bad argument, a file whose columns differ from the training
            file's, or naming the file, line, column and value of a bad cell (an id that is
            not an integer, a label other than 0/1, a purchase without a click).

    Example:
        >>> splits = load_aliccp("data/aitm_ctr_cvr")  # doctest: +SKIP
        >>> splits.source.split(":")[0]  # doctest: +SKIP
        "aitm (the AITM authors' public preprocessing ...)"
        >>> result = mtl.experiment.run("esmm", splits, epochs=1)  # doctest: +SKIP
    """
    if not 0 < valid_fraction < 1:
        raise ValueError(f"valid_fraction must be in (0, 1), got {valid_fraction}")
    if max_rows is not None and (isinstance(max_rows, bool) or max_rows < 1):
        raise ValueError(f"max_rows must be a positive number of rows or None, got {max_rows}")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    if (folder / "aliccp.json").is_file():
        splits = Splits.load(folder)
        splits.source = f"converted: convert_aliccp's output folder {folder}"
        return splits
    tokens = _paddlerec_files(folder)
    if tokens is not None:
        return _load_paddlerec(
            folder,
            tokens,
            valid_fraction=valid_fraction,
            seed=seed,
            min_count=min_count,
            max_rows=max_rows,
            drop_inconsistent=drop_inconsistent,
            bag_length=bag_length,
        )
    fmt, files = _detect(folder)
    headers, said = _headers(fmt, files)
    options = {"max_rows": max_rows, "chunk_rows": chunk_rows}
    frames = {
        split: _read(path, headers[split], fmt, drop_inconsistent=drop_inconsistent, **options)
        for split, path in files.items()
    }
    columns = headers["train"][0]
    valid = [files["valid"]] if "valid" in files else []
    split_said = _validation(frames, valid, files["train"], valid_fraction, seed)
    ids = [c for c in columns if c not in LABELS and c not in fmt.values]
    values = [c for c in columns if c in fmt.values]
    vocabulary = Vocabulary.fit(frames["train"], ids, min_count)
    _encode(frames, vocabulary)
    schema = Schema((*vocabulary.fields, *(Field(c, "K") for c in values)), LABELS)
    source = (
        f"{fmt.name} ({fmt.description}): "
        + ", ".join(f"{p.name} ({len(frames[s]):,} {s} rows)" for s, p in files.items())
        + (f", the first {max_rows:,} of each file only" if max_rows is not None else "")
        + f"; {split_said}; {'; '.join(said)}; ids fitted on train, codes "
        + (f"seen fewer than {min_count} times there, or " if min_count > 1 else "")
        + "unseen there mapped to 0"
    )
    return Splits(
        schema,
        frames["train"],
        frames["valid"],
        frames["test"],
        source=source,
        vocabulary=vocabulary,
    )


def _detect(folder: Path) -> tuple[ProcessedFormat, dict[str, Path]]:
    """The format a folder holds and its files, by name; raises naming what was looked for."""
    for fmt in FORMATS.values():
        files = {}
        for split, pattern in fmt.patterns.items():
            found = sorted(p for p in folder.glob(pattern) if p.is_file())
            if len(found) > 1:
                raise ValueError(
                    f"{folder}: {len(found)} files match {pattern!r} ({fmt.name} format): "
                    f"{', '.join(p.name for p in found)}; keep one per split"
                )
            if found:
                files[split] = found[0]
        if files:
            missing = [fmt.patterns[s] for s in ("train", "test") if s not in files]
            if missing:
                raise FileNotFoundError(
                    f"{folder}: found {', '.join(p.name for p in files.values())} "
                    f"({fmt.name} format) but no {' or '.join(missing)}; a training and a "
                    "test file are needed (validation is held out of the training file "
                    "where there is none)"
                )
            return fmt, files
    if any((folder / name).is_file() for name in _RAW) or any(folder.glob("sample_*.tar.gz")):
        raise FileNotFoundError(
            f"{folder}: this is the raw Ali-CCP release (sample_skeleton_*, common_features_*, "
            "or their .tar.gz archives); convert it first with "
            "mtl.datasets.convert_aliccp(raw_dir, out_dir), then load_aliccp(out_dir)"
        )
    known = "; ".join(f"{f.name}: {', '.join(f.patterns.values())}" for f in FORMATS.values())
    raise FileNotFoundError(
        f"{folder}: no processed Ali-CCP files found. Known formats and their files: {known}; "
        "paddlerec: train/ and test/ folders (or *train*, *test* files) of field:id lines; "
        "converted: aliccp.json (convert_aliccp's output); raw release: "
        "sample_skeleton_train.csv (convert it with convert_aliccp)"
    )


_SPLIT_NAMES = {"train": ("train",), "valid": ("valid", "val", "dev"), "test": ("test",)}


def _paddlerec_files(folder: Path) -> dict[str, list[Path]] | None:
    """PaddleRec's files per split, if the folder holds `field:id` lines; else None."""
    files: dict[str, list[Path]] = {}
    for split, names in _SPLIT_NAMES.items():
        for name in names:
            found = _visible(folder / name) if (folder / name).is_dir() else []
            if not found:
                pattern = re.compile(rf"(^|[._-]){name}([._-]|\d|$)", re.IGNORECASE)
                found = [p for p in _visible(folder) if pattern.search(p.name)]
            if found:
                files[split] = found
                break
    if "train" not in files:
        return None
    with open(files["train"][0], encoding="utf-8-sig", errors="replace") as f:
        first = next((line for line in f if line.strip()), "")
    if not is_token_line(first):
        return None
    if "test" not in files:
        raise FileNotFoundError(
            f"{folder}: found {', '.join(p.name for p in files['train'])} (paddlerec format) "
            "but no test file (a test/ folder, or a file named *test*)"
        )
    return files


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _load_paddlerec(
    folder: Path,
    files: dict[str, list[Path]],
    *,
    valid_fraction: float,
    seed: int,
    min_count: int,
    max_rows: int | None,
    drop_inconsistent: bool,
    bag_length: int | None,
) -> Splits:
    """PaddleRec's `field:id` files as splits: single fields and bags re-indexed on train."""
    if bag_length is not None and (isinstance(bag_length, bool) or bag_length < 1):
        raise ValueError(f"bag_length must be a positive number of ids or None, got {bag_length}")
    tokens = {s: [read_token_file(p, max_rows) for p in paths] for s, paths in files.items()}
    train = tokens["train"]
    fields = list(dict.fromkeys(f for t in train for f in t.fields()))
    repeated = set().union(*(t.repeated() for t in train))
    singles = [f for f in fields if f not in repeated]
    if not singles:
        raise ValueError(
            f"{folder}: every field of the training files holds several ids in some line; "
            "a model needs at least one single-valued field"
        )
    lengths = {f: bag_length or max(_longest(t, f) for t in train) for f in fields if f in repeated}
    frames, cut = {}, dict.fromkeys(lengths, 0)
    for split, parts in tokens.items():
        pieces = []
        for part in parts:
            frame, part_cut = token_frame(part, singles, lengths)
            pieces.append(_consistent(frame, part, drop_inconsistent))
            for name, rows in part_cut.items():
                cut[name] += rows
        frames[split] = pd.concat(pieces, ignore_index=True)
    split_said = _validation(
        frames, files.get("valid", []), files["train"][0], valid_fraction, seed
    )
    vocabulary = Vocabulary.fit(
        frames["train"], singles + list(lengths), min_count, bags=lengths, missing=MISSING
    )
    _encode(frames, vocabulary)
    schema = Schema(vocabulary.fields, LABELS)
    bags_said = (
        "bags "
        + ", ".join(
            f"{f} (at most {n} ids" + (f", {cut[f]:,} rows cut)" if cut[f] else ")")
            for f, n in lengths.items()
        )
        + (": the longest of the training rows" if bag_length is None else ": bag_length")
        if lengths
        else "no bags"
    )
    source = (
        "paddlerec (PaddleRec's ESMM/ESCM² field:id lines): "
        + ", ".join(
            f"{'+'.join(p.name for p in files[s])} ({len(frames[s]):,} {s} rows)" for s in files
        )
        + (f", the first {max_rows:,} lines of each file only" if max_rows is not None else "")
        + f"; {split_said}; {len(singles)} single-valued fields, {bags_said}; ids fitted on "
        "train, a missing single field, and codes "
        + (f"seen fewer than {min_count} times there or " if min_count > 1 else "")
        + "unseen there, mapped to 0"
    )
    return Splits(
        schema,
        frames["train"],
        frames["valid"],
        frames["test"],
        source=source,
        vocabulary=vocabulary,
    )


def _longest(tokens: TokenFile, field: str) -> int:
    rows = tokens.row[tokens.field == field]
    return int(np.bincount(rows).max(initial=0)) if rows.size else 0


def _consistent(frame: pd.DataFrame, tokens: TokenFile, drop: bool) -> pd.DataFrame:
    """The frame, a purchase without a click refused (naming its line) or dropped."""
    bad = (frame["purchase"].to_numpy() == 1) & (frame["click"].to_numpy() == 0)
    if not bad.any():
        return frame
    if not drop:
        line = int(tokens.row_line[int(np.argmax(bad))])
        raise ValueError(
            f"{tokens.path}, line {line}, column purchase: funnel-inconsistent row, purchase is 1 "
            "while click is 0; pass drop_inconsistent=True to drop such rows"
        )
    warnings.warn(
        f"{tokens.path}: dropped {int(bad.sum())} of {len(frame)} rows with a purchase but no "
        "click",
        UserWarning,
        stacklevel=4,
    )
    return frame[~bad].reset_index(drop=True)


def _first_line(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        line = f.readline().rstrip("\r\n")
    if not line.strip():
        raise ValueError(f"{path}: the file is empty; expected data rows")
    return line.split(",")


def _headers(
    fmt: ProcessedFormat, files: dict[str, Path]
) -> tuple[dict[str, tuple[list[str], bool]], list[str]]:
    """Each file's columns, checked against the training file's.

    Returns:
        Split → `(columns, whether the file has a header line)`, and sentences saying where
        the columns of a file without a header came from.
    """
    first = {split: _first_line(path) for split, path in files.items()}
    has_header = {s: not all(_NUMBER.fullmatch(cell) for cell in line) for s, line in first.items()}
    with_header = [s for s in ("train", "valid", "test") if s in files and has_header[s]]
    headers, said = {}, []
    for split, path in files.items():
        if has_header[split]:
            headers[split] = ([c.strip() for c in first[split]], True)
            continue
        width = len(first[split])
        sibling = next((s for s in with_header if len(first[s]) == width), None)
        if sibling is not None:
            headers[split] = ([c.strip() for c in first[sibling]], False)
            said.append(f"{path.name} has no header: columns from {files[sibling].name}")
        elif width == len(fmt.columns):
            headers[split] = (list(fmt.columns), False)
            said.append(f"{path.name} has no header: columns from the {fmt.name} layout")
        else:
            raise ValueError(
                f"{path}: no header line, and its {width} columns match neither a sibling "
                f"file's header nor the {fmt.name} layout's {len(fmt.columns)} columns "
                f"({','.join(fmt.columns)})"
            )
    train_columns = headers["train"][0]
    for split, (columns, _) in headers.items():
        missing = [c for c in LABELS if c not in columns]
        if missing:
            raise ValueError(
                f"{files[split]}: no {missing[0]!r} column in {','.join(columns)}; "
                f"an Ali-CCP file has the labels {','.join(LABELS)}"
            )
        twice = sorted({c for c in columns if columns.count(c) > 1})
        if twice:
            raise ValueError(f"{files[split]}: column {twice[0]!r} appears more than once")
        if set(columns) != set(train_columns):
            extra = [c for c in columns if c not in train_columns]
            lacking = [c for c in train_columns if c not in columns]
            raise ValueError(
                f"{files[split]}: its columns differ from {files['train'].name}'s: "
                + "; ".join(
                    part
                    for part in (
                        f"not in the training file: {','.join(extra)}" if extra else "",
                        f"missing here: {','.join(lacking)}" if lacking else "",
                    )
                    if part
                )
            )
    if not said:
        said.append("every file has a header")
    return headers, said


def _read(
    path: Path,
    header: tuple[list[str], bool],
    fmt: ProcessedFormat,
    *,
    max_rows: int | None,
    chunk_rows: int,
    drop_inconsistent: bool,
) -> pd.DataFrame:
    """One file's rows, checked chunk by chunk: ids int64 codes, values float32, labels int8."""
    columns, has_header = header
    skip = 1 if has_header else 0
    rules = {
        c: "a 0/1 label"
        if c in LABELS
        else "a finite number (K)"
        if c in fmt.values
        else "an integer id code"
        for c in columns
    }
    reader = pd.read_csv(
        path,
        header=None,
        names=columns,
        skiprows=skip,
        chunksize=chunk_rows,
        nrows=max_rows,
        encoding="utf-8-sig",
    )

    def where(column: str, row: int) -> str:
        return f"{path}: column {column!r}, data row {row} (line {row + skip} of the file)"

    def check(chunk: pd.DataFrame, first_row: int) -> dict[str, np.ndarray]:
        out = {}
        for c in columns:
            numbers = checked_numbers(
                chunk[c],
                lambda col, i: where(col, first_row + i),
                rules,
                integer=c not in fmt.values,
            )
            if c in LABELS:
                bad = np.flatnonzero((numbers != 0) & (numbers != 1))
                if bad.size:
                    raise ValueError(
                        f"{where(c, first_row + int(bad[0]))}: value "
                        f"{numbers[bad[0]].item()!r} is out of range; expected a 0/1 label"
                    )
                numbers = numbers.astype(np.int8)
            elif c in fmt.values:
                numbers = numbers.astype(np.float32)
            out[c] = numbers
        return out

    return read_checked(
        reader, path, check, LABELS, drop_inconsistent=drop_inconsistent, where=where
    )


def _validation(
    frames: dict[str, pd.DataFrame], valid: list[Path], train: Path, fraction: float, seed: int
) -> str:
    """Say which rows validate; with no validation file, hold some training rows out.

    Where `valid` (the validation files) is empty, a seeded `fraction` of
    `frames["train"]` becomes `frames["valid"]`, in place.
    """
    if valid:
        return f"{', '.join(p.name for p in valid)} as validation"
    held = _held_out_rows(len(frames["train"]), fraction, seed, train)
    frames["valid"] = frames["train"][held].reset_index(drop=True)
    frames["train"] = frames["train"][~held].reset_index(drop=True)
    return (
        f"no validation file: {held.sum():,} training rows held out as validation "
        f"({fraction:.0%}, seed {seed})"
    )


def _encode(frames: dict[str, pd.DataFrame], vocabulary: Vocabulary) -> None:
    """Replace every split's raw codes by their ids, in place."""
    for frame in frames.values():
        for name, encoded in vocabulary.transform(frame).items():
            frame[name] = encoded.to_numpy()


def _held_out_rows(rows: int, fraction: float, seed: int, path: Path) -> np.ndarray:
    """Mask of a seeded `fraction` of `rows` rows (at least one, and one left to train on)."""
    if rows < 2:
        raise ValueError(f"{path}: {rows} row(s); holding out validation rows needs at least 2")
    count = min(max(round(fraction * rows), 1), rows - 1)
    held = np.zeros(rows, dtype=bool)
    held[np.random.default_rng(seed).choice(rows, size=count, replace=False)] = True
    return held
