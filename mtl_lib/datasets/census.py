"""UCI Census-Income (KDD): the MMoE paper's real-data benchmark (Ma et al., KDD 2018, §6.3).

Weighted census records from the 1994 and 1995 Current Population Surveys: 42 fields per
person. The paper builds two groups of two binary tasks from them, every task's label field
removed from the inputs:

- group 1: `income` (income above 50,000) and `marital` (never married), label
  Pearson correlation of magnitude 0.1768 in the paper;
- group 2: `education` (at least college, read here as an associate degree or higher) and
  `marital` (never married), 0.2373 in the paper.

The instance weight is a sampling weight, not a feature, and the income field is a label:
neither is ever an input. `load_census` reads the files, encodes every categorical field as
ids (C) and bucketizes every numeric field (D), all fitted on the training split, into a
`Schema` whose steps are the two tasks, ready for `mtl_lib.models`' builders.

**Files.** `download` fetches the official splits from UCI with `keras.utils.get_file`
into a cache (`~/.keras/census-income` by default). The test split is checked against its
SHA-256. UCI publishes no checksum for the training split, and none could be found, so it
is checked by its row and field counts (199,523 rows of 42 fields) instead. Offline, put a
copy of the test split in the cache with `place_local_copy` first.

One module, long (about 430 lines), because reading, checking and encoding the census files
follow the paper's set-up step by step, and are read in that order.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from mtl_lib.data.schema import Field, Schema
from mtl_lib.data.validate import validate_frame
from mtl_lib.datasets.splits import Splits

ORIGIN = "https://archive.ics.uci.edu/ml/machine-learning-databases/census-income-mld/"
CACHE_SUBDIR = "census-income"
TRAIN_FILE, TEST_FILE = "census-income.data.gz", "census-income.test.gz"
TEST_SHA256 = "5ac4cacd3ca9f1ecb10de1a0a41e4ac68fdc419e3fec190f5c0c6cc03b2ea659"
#: Official row counts; the training split, which has no published checksum, is checked by them.
ROWS = {TRAIN_FILE: 199_523, TEST_FILE: 99_762}

#: The 42 fields of every line, in file order (see the data set's documentation).
COLUMNS = (
    "age",
    "class_of_worker",
    "detailed_industry_recode",
    "detailed_occupation_recode",
    "education",
    "wage_per_hour",
    "enroll_in_edu_inst_last_wk",
    "marital_stat",
    "major_industry_code",
    "major_occupation_code",
    "race",
    "hispanic_origin",
    "sex",
    "member_of_a_labor_union",
    "reason_for_unemployment",
    "full_or_part_time_employment_stat",
    "capital_gains",
    "capital_losses",
    "dividends_from_stocks",
    "tax_filer_stat",
    "region_of_previous_residence",
    "state_of_previous_residence",
    "detailed_household_and_family_stat",
    "detailed_household_summary_in_household",
    "instance_weight",
    "migration_code_change_in_msa",
    "migration_code_change_in_reg",
    "migration_code_move_within_reg",
    "live_in_this_house_1_year_ago",
    "migration_prev_res_in_sunbelt",
    "num_persons_worked_for_employer",
    "family_members_under_18",
    "country_of_birth_father",
    "country_of_birth_mother",
    "country_of_birth_self",
    "citizenship",
    "own_business_or_self_employed",
    "fill_inc_questionnaire_for_veterans_admin",
    "veterans_benefits",
    "weeks_worked_in_year",
    "year",
    "income",
)
#: Fields holding amounts or counts: bucketized (D). Every other field is categorical (C),
#: including the integer-coded recodes (industry, occupation, veterans benefits, year, ...).
NUMERIC = (
    "age",
    "wage_per_hour",
    "capital_gains",
    "capital_losses",
    "dividends_from_stocks",
    "num_persons_worked_for_employer",
    "weeks_worked_in_year",
)
#: Never inputs: a sampling weight, and the income label.
NOT_FEATURES = ("instance_weight", "income")
INCOME_ABOVE_50K = "50000+."
NEVER_MARRIED = "Never married"
#: "At least college": an associate degree or higher.
COLLEGE = (
    "Associates degree-occup /vocational",
    "Associates degree-academic program",
    "Bachelors degree(BA AB BS)",
    "Masters degree(MA MS MEng MEd MSW MBA)",
    "Prof school degree (MD DDS DVM LLB JD)",
    "Doctorate degree(PhD EdD)",
)
#: Task → the field its label is made from (removed from the inputs).
TASK_FIELDS = {"income": "income", "marital": "marital_stat", "education": "education"}
#: The paper's task groups.
GROUPS = {1: ("income", "marital"), 2: ("education", "marital")}
DEFAULT_BUCKETS = 10


# ------------------------------------------------------------------------------- files
def cache_folder(cache_dir: str | Path | None = None) -> Path:
    """The folder the files are cached in: `<cache_dir>/census-income`.

    `cache_dir` defaults to `$KERAS_HOME` or `~/.keras` (Keras' own default), and falls back
    to `/tmp/.keras` where that cannot be written, as `keras.utils.get_file` does.
    """
    base = Path(cache_dir or os.environ.get("KERAS_HOME", "~/.keras")).expanduser()
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError:
        base = Path("/tmp/.keras")
        base.mkdir(parents=True, exist_ok=True)
    if not os.access(base, os.W_OK):
        base = Path("/tmp/.keras")
        base.mkdir(parents=True, exist_ok=True)
    return base / CACHE_SUBDIR


def sha256(path: str | Path) -> str:
    """SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def place_local_copy(source: str | Path, *, cache_dir: str | Path | None = None) -> Path:
    """Put a local copy of the official test split into the cache, so no download is needed.

    Tests, CI and offline notebooks call this with the copy kept beside the repository
    (`../shared/data/census-income/census-income.test.gz` from the repository root); then
    `download("test")` finds the file in the cache and only checks its SHA-256.

    Args:
        source: A copy of `census-income.test.gz`.
        cache_dir: As in `download`.

    Returns:
        The cached file's path.

    Raises:
        FileNotFoundError: if `source` does not exist.
        ValueError: if its SHA-256 is not the official test split's.
    """
    source = Path(source)
    if not source.is_file():
        raise FileNotFoundError(
            f"{source}: no local copy of the census-income test split here. Tests and CI "
            f"expect the official {TEST_FILE} at ../shared/data/census-income/ from the "
            "repository root; online, call mtl.datasets.census.download() instead"
        )
    actual = sha256(source)
    if actual != TEST_SHA256:
        raise ValueError(
            f"{source}: SHA-256 {actual} is not that of the official {TEST_FILE} "
            f"({TEST_SHA256}); the file is corrupt or another file"
        )
    target = cache_folder(cache_dir) / TEST_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.is_file() or sha256(target) != TEST_SHA256:
        shutil.copyfile(source, target)
    return target


def download(split: str = "test", *, cache_dir: str | Path | None = None) -> Path:
    """The path of an official split in the cache, downloaded from UCI if it is not there.

    Args:
        split: `"test"` (99,762 rows, checked by SHA-256) or `"train"` (199,523 rows,
            checked by its row count when read, as no checksum is published).
        cache_dir: Cache root (default `$KERAS_HOME` or `~/.keras`).

    Raises:
        ValueError: for another split.
        RuntimeError: if the file is not cached and cannot be downloaded (offline).
    """
    files = {"train": TRAIN_FILE, "test": TEST_FILE}
    if split not in files:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    fname = files[split]
    folder = cache_folder(cache_dir)
    try:
        path = keras.utils.get_file(
            fname,
            origin=ORIGIN + fname,
            file_hash=TEST_SHA256 if split == "test" else None,
            hash_algorithm="sha256",
            cache_dir=str(folder.parent),
            cache_subdir=CACHE_SUBDIR,
        )
    except Exception as err:  # get_file raises bare Exceptions for network errors
        raise RuntimeError(
            f"cannot download {ORIGIN + fname} into {folder} ({err}). Offline, place a "
            f"copy of the test split first: mtl.datasets.census.place_local_copy(path)"
        ) from err
    return Path(path)


def read_raw(path: str | Path) -> pd.DataFrame:
    """Read an official split: one row per person, the 42 `COLUMNS`, text stripped.

    Raises:
        ValueError: naming the file and line, if a line has not 42 fields, an income label
            is neither `- 50000.` nor `50000+.`, or an official file has not its number
            of rows.
    """
    path = Path(path)
    frame = pd.read_csv(
        path,
        header=None,
        names=list(COLUMNS),
        skipinitialspace=True,
        dtype=str,
        keep_default_na=False,
        on_bad_lines="error",
        engine="c",
    )
    _check_fields(path, frame)
    frame = frame.apply(lambda col: col.str.strip())
    bad = ~frame["income"].isin(["- 50000.", INCOME_ABOVE_50K])
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"{path}, line {row + 1}, column 'income': expected '- 50000.' or "
            f"'{INCOME_ABOVE_50K}', got {frame['income'].iloc[row]!r}"
        )
    expected = ROWS.get(path.name)
    if expected is not None and len(frame) != expected:
        raise ValueError(
            f"{path}: {len(frame)} rows, but the official {path.name} has {expected}; "
            "the file is truncated or another file"
        )
    for name in (*NUMERIC, "instance_weight"):
        frame[name] = pd.to_numeric(frame[name], errors="raise")
    return frame


def _check_fields(path: Path, frame: pd.DataFrame) -> None:
    """Every line has exactly 42 fields (pandas pads short lines with empty cells)."""
    short = frame[COLUMNS[-1]].eq("") | frame[COLUMNS[-1]].isna()
    if short.any():
        row = int(np.flatnonzero(short.to_numpy())[0])
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt") as f:
            for _ in range(row):
                next(f)
            fields = len(next(f).split(","))
        raise ValueError(f"{path}, line {row + 1}: expected 42 fields, got {fields}")


# ---------------------------------------------------------------------------- encoding
def labels(frame: pd.DataFrame) -> pd.DataFrame:
    """Every task's 0/1 label (`income`, `marital`, `education`) from raw rows."""
    return pd.DataFrame(
        {
            "income": frame["income"].eq(INCOME_ABOVE_50K),
            "marital": frame["marital_stat"].eq(NEVER_MARRIED),
            "education": frame["education"].isin(COLLEGE),
        },
        index=frame.index,
    ).astype(np.int8)


def feature_columns(tasks: Sequence[str]) -> tuple[str, ...]:
    """The input fields for `tasks`: every field but the weight, income and the task fields."""
    unknown = [t for t in tasks if t not in TASK_FIELDS]
    if unknown:
        raise ValueError(f"unknown census task {unknown[0]!r}; tasks are {tuple(TASK_FIELDS)}")
    removed = set(NOT_FEATURES) | {TASK_FIELDS[t] for t in tasks}
    return tuple(c for c in COLUMNS if c not in removed)


@dataclass(frozen=True)
class Encoder:
    """Ids for categorical fields and buckets for numeric ones, fitted on training rows.

    Categories get ids `1..n` in sorted order; a category unseen in training gets `0`.
    Numeric values get bucket ids: the field's smallest training value (0 for most
    amounts) has its own bucket, the values above it are cut into equal-count buckets at
    training quantiles (merged where values tie), and a value below it gets id 1.

    Attributes:
        columns: The fields encoded, in order.
        vocabularies: Categorical field → its sorted training categories.
        edges: Numeric field → its bucket boundaries.
    """

    columns: tuple[str, ...]
    vocabularies: dict[str, tuple[str, ...]]
    edges: dict[str, np.ndarray]

    @classmethod
    def fit(
        cls, frame: pd.DataFrame, columns: Sequence[str], buckets: int = DEFAULT_BUCKETS
    ) -> Encoder:
        """Learn the vocabularies and bucket edges of `columns` from raw training rows."""
        if buckets < 2:
            raise ValueError(f"buckets must be >= 2, got {buckets}")
        vocab, edges = {}, {}
        for name in columns:
            if name in NUMERIC:
                values = frame[name].to_numpy(float)
                # The smallest value (0 for most amounts) is its own bucket; the rest are
                # cut at quantiles, so fields that are mostly 0 keep buckets above it.
                low = values.min()
                rest = values[values > low]
                q = np.quantile(rest, np.linspace(0, 1, buckets)[1:-1]) if len(rest) else []
                edges[name] = np.unique(np.concatenate([[low], q]))
            else:
                vocab[name] = tuple(sorted(frame[name].unique()))
        return cls(tuple(columns), vocab, edges)

    @property
    def schema_fields(self) -> tuple[Field, ...]:
        """One `Field` per column: C of size n categories, D of size n buckets."""
        return tuple(
            Field(c, "D", len(self.edges[c]) + 1)
            if c in self.edges
            else Field(c, "C", len(self.vocabularies[c]))
            for c in self.columns
        )

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Ids of every column, int32."""
        out = {}
        for name in self.columns:
            if name in self.edges:
                values = frame[name].to_numpy(float)
                out[name] = 1 + np.searchsorted(self.edges[name], values, side="right")
            else:
                index = pd.Index(self.vocabularies[name])
                out[name] = index.get_indexer(frame[name]) + 1  # unseen: -1 + 1 = 0
        return pd.DataFrame(out, index=frame.index).astype(np.int32)


def load_census(
    group: int = 1,
    *,
    official_train: bool = False,
    fractions: tuple[float, float, float] = (0.5, 0.25, 0.25),
    buckets: int = DEFAULT_BUCKETS,
    seed: int = 0,
    cache_dir: str | Path | None = None,
) -> Splits:
    """The census splits of task group 1 or 2, encoded for `mtl_lib.models`.

    Args:
        group: 1 (`income`, `marital`) or 2 (`education`, `marital`).
        official_train: The paper's setup: train on the official training split (downloaded,
            199,523 rows) and halve the official test split into validation and test. By
            default only the official test split is used (it is the one available
            offline), shuffled and cut into train, validation and test by `fractions`.
        fractions: Shares of the test split used for train, validation, test (default
            setup only).
        buckets: Quantile buckets of each numeric field.
        seed: Seed of the shuffle before splitting.
        cache_dir: As in `download`.

    Returns:
        The encoded splits; ids and buckets are fitted on the training split.

    Raises:
        ValueError: on a bad argument, or naming the file, line and column of bad data.

    Example:
        >>> splits = load_census(1)  # doctest: +SKIP
        >>> splits.tasks, len(splits.schema.fields)  # doctest: +SKIP
        (('income', 'marital'), 39)
        >>> model = mtl.models.build_mmoe(splits.schema)  # doctest: +SKIP
    """
    if group not in GROUPS:
        raise ValueError(f"group must be 1 or 2, got {group!r}")
    shares = np.asarray(fractions, dtype=float)
    if shares.shape != (3,) or (shares <= 0).any() or not np.isclose(shares.sum(), 1.0):
        raise ValueError(f"fractions must be three positive shares summing to 1, got {fractions}")
    test_raw = read_raw(download("test", cache_dir=cache_dir))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(test_raw))
    if official_train:
        train_raw = read_raw(download("train", cache_dir=cache_dir))
        half = len(order) // 2
        valid_raw, test_raw = test_raw.iloc[order[:half]], test_raw.iloc[order[half:]]
        source = (
            f"the paper's setup: official train split ({len(train_raw):,} rows); the official "
            f"test split halved into validation ({len(valid_raw):,}) and test ({len(test_raw):,})"
        )
    else:
        cuts = np.round(np.cumsum(shares)[:2] * len(order)).astype(int)
        parts = np.split(order, cuts)
        train_raw, valid_raw, test_raw = (test_raw.iloc[p] for p in parts)
        source = (
            f"the official test split only ({sum(map(len, parts)):,} rows), shuffled (seed "
            f"{seed}) and cut into train ({len(train_raw):,}), validation ({len(valid_raw):,}) "
            f"and test ({len(test_raw):,}); the official train split is not used"
        )
    tasks = GROUPS[group]
    encoder = Encoder.fit(train_raw, feature_columns(tasks), buckets)
    schema = Schema(encoder.schema_fields, tasks)
    frames = []
    for name, raw in (("train", train_raw), ("valid", valid_raw), ("test", test_raw)):
        frame = pd.concat([encoder.transform(raw), labels(raw)[list(tasks)]], axis=1)
        frame = frame.reset_index(drop=True)
        for task in tasks:  # one task at a time: the tasks are not a funnel
            validate_frame(frame, schema.with_steps([task]), source=f"<census {name}>")
        frames.append(frame)
    return Splits(schema, *frames, source=source)
