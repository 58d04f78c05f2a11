"""AliExpress: the search-log benchmark of MTReclib (PLE, AITM, ...), a click → purchase funnel.

Real traffic logs of AliExpress's search system (Li et al., CIKM 2020), one file pair per
country (Netherlands `NL`, Spain `ES`, France `FR`, United States `US`, Russia `RU`). Every
row is one product shown for one search (an exposure); the funnel is exposure → `click` →
`conversion` (purchase). MTReclib (Zhu et al., KDD 2021) compares Shared-Bottom, OMoE,
MMoE, PLE, AITM and MetaHeac on it, one country at a time, from its processed files.

**Files.** Nothing is downloaded: put a country's folder on disk and pass it to
`load_aliexpress`. The raw logs are Tianchi data set 74690
(https://tianchi.aliyun.com/dataset/dataDetail?dataId=74690); MTReclib's `preprocess.py`
turns them into the processed files read here, which its README also links to
(https://github.com/easezyc/Multitask-Recommendation-Library): a folder `AliExpress_NL`
(one per country) holding `train.csv` and `test.csv` (or `.csv.gz`), each with the header

    search_id, categorical_1, ..., categorical_16, numerical_1, ..., numerical_63,
    click, conversion

- `search_id`: the search (query) a row belongs to; many rows share one. It is not an
  input (it names one search, it describes nothing); it groups rows when holding out
  validation.
- `categorical_1..16`: integer codes of user and item attributes, re-indexed here as C
  fields (ids `1..n` in the order of the codes, fitted on the training rows; a code unseen
  there, or rarer than `min_count`, gets id 0).
- `numerical_1..63`: numeric user and item statistics, used as they are as K fields
  (float32; MTReclib feeds them unscaled to a linear layer too).
- `click`, `conversion`: 0/1 labels, made by MTReclib from one label (0 exposure, 1 click,
  2 purchase), so a conversion without a click should not occur; it is checked.

The public release has no validation split: `load_aliexpress` holds out a seeded share of
the training *searches* (all of a search's rows go to one side, so no query is in both).

**Size.** A country has millions of rows. Loaded, a row
takes about 330 bytes (16 int32 ids, 63 float32 values, labels, search id), so a full
country needs a few GB of memory, and about twice that while the training file is split;
`max_rows` reads the first rows of each file only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mtl_lib.data.schema import Field, Schema
from mtl_lib.data.validate import read_header
from mtl_lib.datasets.encoding import Vocabulary, checked_numbers, read_checked
from mtl_lib.datasets.splits import Splits

COUNTRIES = ("NL", "ES", "FR", "US", "RU")
SEARCH_ID = "search_id"
CATEGORICAL = tuple(f"categorical_{i}" for i in range(1, 17))
NUMERICAL = tuple(f"numerical_{i}" for i in range(1, 64))
STEPS = ("click", "conversion")
#: Every column of a file, in file order.
COLUMNS = (SEARCH_ID, *CATEGORICAL, *NUMERICAL, *STEPS)
CHUNK_ROWS = 200_000
"""Rows parsed and checked at a time when reading a file."""
_INT32 = np.iinfo(np.int32)

_RULES = {
    SEARCH_ID: "an integer search id",
    **dict.fromkeys(CATEGORICAL, "an integer category code (categorical feature, C)"),
    **dict.fromkeys(NUMERICAL, "a finite number (numerical feature, K)"),
    **dict.fromkeys(STEPS, "a 0/1 label"),
}


# ------------------------------------------------------------------------------- files
def split_file(folder: str | Path, split: str) -> Path:
    """The file of `split` (`"train"` or `"test"`) in a country folder: `.csv` or `.csv.gz`.

    Raises:
        FileNotFoundError: if the folder holds neither, saying where the files come from.
    """
    folder = Path(folder)
    for name in (f"{split}.csv", f"{split}.csv.gz"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(
        f"{folder}: no {split}.csv or {split}.csv.gz here. Expected one country's folder of "
        "the processed AliExpress data (e.g. AliExpress_NL/ from MTReclib, "
        "https://github.com/easezyc/Multitask-Recommendation-Library); nothing is downloaded"
    )


def read_raw(
    path: str | Path,
    *,
    max_rows: int | None = None,
    drop_inconsistent: bool = False,
    chunk_rows: int = CHUNK_ROWS,
) -> pd.DataFrame:
    """Read and check one AliExpress file, keeping its raw category codes.

    The file is parsed `chunk_rows` rows at a time; each chunk is checked before the next is
    read, so an error is raised as soon as it is met, naming the file's row.

    Args:
        path: A `train.csv` or `test.csv` (or `.csv.gz`) in the layout above; extra columns
            are ignored.
        max_rows: Read only the first `max_rows` data rows (default: all of them).
        drop_inconsistent: Drop rows with a conversion but no click (with a `UserWarning`
            saying how many) instead of raising.
        chunk_rows: Rows parsed at a time.

    Returns:
        The `COLUMNS`, one row per exposure: `search_id` as int64, the category codes as
        int32, the numerical features as float32, `click` and `conversion` as int8.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: naming the file, column, data row (1-based, header not counted: data row
            `r` is line `r + 1`) and value, for a missing column, an empty cell, a value
            that is not a (finite, integer where needed) number, a label other than 0/1, or
            a conversion without a click; also for an empty or unreadable file.

    Example:
        >>> raw = read_raw("AliExpress_NL/test.csv", max_rows=1000)  # doctest: +SKIP
        >>> raw.shape  # doctest: +SKIP
        (1000, 82)
    """
    path = Path(path)
    if max_rows is not None and (isinstance(max_rows, bool) or max_rows < 1):
        raise ValueError(f"max_rows must be a positive number of rows or None, got {max_rows}")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    _check_header(path, read_header(path))
    reader = pd.read_csv(
        path,
        usecols=list(COLUMNS),
        chunksize=chunk_rows,
        nrows=max_rows,
        encoding="utf-8-sig",
        compression="gzip" if path.name.endswith(".gz") else None,
    )
    return read_checked(
        reader,
        path,
        lambda chunk, first_row: _check_chunk(chunk, path, first_row),
        STEPS,
        drop_inconsistent=drop_inconsistent,
        where=lambda column, row: _where(path, column, row),
    )


def _check_header(path: Path, header: Sequence[str]) -> None:
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        shown = ", ".join(map(repr, missing[:5])) + (", ..." if len(missing) > 5 else "")
        raise ValueError(
            f"{path}: missing column(s) {shown} ({len(missing)} in all); an AliExpress file "
            "has search_id, categorical_1..16, numerical_1..63, click and conversion"
        )
    twice = [c for c in COLUMNS if header.count(c) > 1]
    if twice:
        raise ValueError(f"{path}: column {twice[0]!r} appears more than once in the header")


def _where(path: Path, column: str, row: int) -> str:
    return f"{path}: column {column!r}, data row {row} (line {row + 1} of the file)"


def _check_chunk(chunk: pd.DataFrame, path: Path, first_row: int) -> dict[str, np.ndarray]:
    """Every column of a chunk as a checked array, in the dtypes `read_raw` returns."""

    def where(column: str, position: int) -> str:
        return _where(path, column, first_row + position)

    out = {SEARCH_ID: checked_numbers(chunk[SEARCH_ID], where, _RULES, integer=True)}
    for c in CATEGORICAL:
        codes = checked_numbers(chunk[c], where, _RULES, integer=True)
        # MTReclib sizes a table by the largest code: codes are small, int32 holds them.
        big = np.flatnonzero((codes < _INT32.min) | (codes > _INT32.max))
        if big.size:
            raise ValueError(
                f"{where(c, int(big[0]))}: value {codes[big[0]].item()!r} is out of range; "
                f"expected {_RULES[c]} within 32 bits"
            )
        out[c] = codes.astype(np.int32)
    for c in NUMERICAL:
        out[c] = checked_numbers(chunk[c], where, _RULES, integer=False).astype(np.float32)
    for step in STEPS:
        labels = checked_numbers(chunk[step], where, _RULES, integer=True)
        bad = np.flatnonzero((labels != 0) & (labels != 1))
        if bad.size:
            value = labels[bad[0]].item()
            raise ValueError(
                f"{where(step, int(bad[0]))}: value {value!r} is out of range; "
                f"expected {_RULES[step]}"
            )
        out[step] = labels.astype(np.int8)
    return out


def load_aliexpress(
    folder: str | Path,
    *,
    valid_fraction: float = 0.1,
    min_count: int = 1,
    max_rows: int | None = None,
    seed: int = 0,
    drop_inconsistent: bool = False,
) -> Splits:
    """One country's AliExpress splits, checked and encoded for `mtl_lib.models`.

    Reads `train` and `test` from `folder`, holds out a share of the training searches as
    validation, fits the category ids on the remaining training rows and encodes every
    split with them. Nothing is downloaded (see the module's docstring for the files).

    Args:
        folder: One country's folder, e.g. `data/AliExpress_NL`, holding `train.csv` and
            `test.csv` (or `.csv.gz`).
        valid_fraction: Share of the training searches held out as validation, in `[0, 1)`;
            0 gives an empty validation frame.
        min_count: A category code seen in fewer training rows gets id 0, as an unseen one.
        max_rows: Read only the first `max_rows` rows of each file (quick experiments).
        seed: Seed of the choice of validation searches.
        drop_inconsistent: Drop rows with a conversion but no click (with a `UserWarning`)
            instead of raising.

    Returns:
        The encoded splits and their schema (`Splits`, with `vocabulary` and `source`).

    Raises:
        FileNotFoundError: if a file is missing.
        ValueError: on a bad argument, or naming the file, column, row and value of bad data
            (see `read_raw`).

    Example:
        >>> splits = load_aliexpress("data/AliExpress_NL", max_rows=100_000)  # doctest: +SKIP
        >>> splits.schema.steps, len(splits.schema.numeric_names)  # doctest: +SKIP
        (('click', 'conversion'), 63)
        >>> result = mtl.experiment.run("esmm", splits, epochs=1)  # doctest: +SKIP
    """
    if not 0 <= valid_fraction < 1:
        raise ValueError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
    folder = Path(folder)
    options = {"max_rows": max_rows, "drop_inconsistent": drop_inconsistent}
    train_path, test_path = split_file(folder, "train"), split_file(folder, "test")
    raw = read_raw(train_path, **options)
    test_raw = read_raw(test_path, **options)

    held = _held_out_searches(raw[SEARCH_ID].to_numpy(), valid_fraction, seed, train_path)
    fitted_on = raw.loc[~held, list(CATEGORICAL)] if held.any() else raw
    vocabulary = Vocabulary.fit(fitted_on, CATEGORICAL, min_count)
    del fitted_on
    schema = Schema((*vocabulary.fields, *(Field(c, "K") for c in NUMERICAL)), STEPS)
    # Ids replace the codes column by column: no second copy of a whole split.
    for frame in (raw, test_raw):
        for name, ids in vocabulary.transform(frame).items():
            frame[name] = ids.to_numpy()
    train = raw.loc[~held].reset_index(drop=True)
    valid = raw.loc[held].reset_index(drop=True)
    test = test_raw
    source = (
        f"{folder.name}: {train_path.name} ({len(raw):,} rows"
        + (f", the first {max_rows:,} only" if max_rows is not None else "")
        + f") split by search into train ({len(train):,}) and validation ({len(valid):,}, "
        f"{valid_fraction:.0%} of the searches, seed {seed}); {test_path.name} as test "
        f"({len(test):,}); category ids fitted on train, codes "
        + (f"seen fewer than {min_count} times there, or " if min_count > 1 else "")
        + "unseen there mapped to 0"
    )
    return Splits(schema, train, valid, test, source=source, vocabulary=vocabulary)


def _held_out_searches(
    search_ids: np.ndarray, fraction: float, seed: int, path: Path
) -> np.ndarray:
    """Mask of the rows whose search is held out: a seeded `fraction` of the searches."""
    if fraction == 0:
        return np.zeros(len(search_ids), dtype=bool)
    searches = np.unique(search_ids)
    if len(searches) < 2:
        raise ValueError(
            f"{path}: {len(searches)} search(es) only; holding out validation searches "
            "needs at least 2 (or pass valid_fraction=0)"
        )
    count = min(max(round(fraction * len(searches)), 1), len(searches) - 1)
    held = np.random.default_rng(seed).choice(searches, size=count, replace=False)
    return np.isin(search_ids, held)
