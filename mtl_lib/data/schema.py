"""The `Schema` of a funnel data set and its on-disk layout.

The layout is the original project's, so that users can drop their own data in:

- `features.csv`, header `Feature_Name,Type_Index`, one row per column of the data files.
  `Type_Index` is `C` (categorical id), `D` (bucketized numeric id), `K` (other numeric) or
  `target` (a 0/1 funnel step; rows in funnel order). This project adds `truth` for
  ground-truth probability columns, which are read for evaluation and never as features.
- `vocab.json`, a JSON object mapping every C and D feature to its number of categories `n`:
  ids run `0..n`, so its embedding table has `n + 1` rows.
"""

from __future__ import annotations

import csv
import json
import numbers
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

FEATURES_FILE = "features.csv"
VOCAB_FILE = "vocab.json"
FEATURES_HEADER = ("Feature_Name", "Type_Index")

Kind = Literal["C", "D", "K"]
EMBEDDED_KINDS = ("C", "D")
TRUTH_PREFIX = "true_p_"
_TYPE_INDEX = {"C", "D", "K", "target", "truth"}


@dataclass(frozen=True)
class Field:
    """One input column.

    Attributes:
        name: Column name in the data files.
        kind: `"C"` categorical id, `"D"` bucketized numeric id, `"K"` other numeric.
        size: For C and D, the largest id `n` (ids run `0..n`); `None` for K.
    """

    name: str
    kind: Kind
    size: int | None = None

    @property
    def embedded(self) -> bool:
        """Whether the field is an id looked up in an embedding table (C or D)."""
        return self.kind in EMBEDDED_KINDS

    @property
    def vocabulary_size(self) -> int:
        """Rows of the field's embedding table, `size + 1`."""
        if not self.embedded:
            raise ValueError(f"field {self.name!r} is numeric (K) and has no vocabulary")
        return int(self.size) + 1


@dataclass(frozen=True)
class Schema:
    """Features, ordered funnel steps and ground-truth columns of a data set.

    A schema is checked when it is made: names are unique, every C/D field has a positive
    integer size, and no step or ground-truth column is also a feature (label leakage).

    Attributes:
        fields: The input columns, in file order.
        steps: The funnel's label columns in order, e.g. `("click", "apply")`; a row that
            reaches step t has reached every step before it.
        truth: Optional ground-truth probability columns (e.g. `true_p_click`).

    Example:
        >>> schema = Schema(
        ...     fields=(Field("city", "C", 300), Field("age", "D", 10)),
        ...     steps=("click", "purchase"),
        ... )
        >>> schema.vocabulary_sizes
        {'city': 301, 'age': 11}
    """

    fields: tuple[Field, ...]
    steps: tuple[str, ...]
    truth: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(_plain_size(f) for f in self.fields))
        object.__setattr__(self, "steps", tuple(self.steps))
        object.__setattr__(self, "truth", tuple(self.truth))
        self._check()

    def _check(self) -> None:
        if not self.fields:
            raise ValueError("schema has no feature columns")
        if not self.steps:
            raise ValueError("schema has no funnel steps (label columns)")
        labels = set(self.steps) | set(self.truth)
        for field in self.fields:
            if field.kind not in ("C", "D", "K"):
                raise ValueError(
                    f"feature {field.name!r}: kind must be C, D or K, got {field.kind!r}"
                )
            if field.name in labels or field.name.startswith(TRUTH_PREFIX):
                raise ValueError(
                    f"feature {field.name!r} is a label or ground-truth column: using it as "
                    "an input would leak the answer (label leakage)"
                )
            if field.embedded:
                if isinstance(field.size, bool) or not isinstance(field.size, int):
                    raise ValueError(
                        f"feature {field.name!r} ({field.kind}): size must be an integer "
                        f"number of categories, got {field.size!r}"
                    )
                if field.size < 1:
                    raise ValueError(
                        f"feature {field.name!r} ({field.kind}): size must be >= 1, "
                        f"got {field.size}"
                    )
            elif field.size is not None:
                raise ValueError(f"feature {field.name!r} is numeric (K) and takes no size")
        # After the leakage check, so that a feature named like a step is called leakage.
        _check_unique([f.name for f in self.fields] + list(self.steps) + list(self.truth))

    # ----------------------------------------------------------------------------- views
    @property
    def feature_names(self) -> tuple[str, ...]:
        """All input column names, in file order."""
        return tuple(f.name for f in self.fields)

    @property
    def embedded_fields(self) -> tuple[Field, ...]:
        """The C and D fields, each looked up in its own embedding table."""
        return tuple(f for f in self.fields if f.embedded)

    @property
    def numeric_names(self) -> tuple[str, ...]:
        """The K (other numeric) column names."""
        return tuple(f.name for f in self.fields if not f.embedded)

    @property
    def vocabulary_sizes(self) -> dict[str, int]:
        """Embedding-table rows (`n + 1`) per C/D field."""
        return {f.name: f.vocabulary_size for f in self.embedded_fields}

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column the schema reads: features, then steps, then truth."""
        return self.feature_names + self.steps + self.truth

    def field(self, name: str) -> Field:
        """The field called `name`."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"no feature {name!r} in the schema")

    def with_steps(self, steps: Sequence[str], truth: Sequence[str] | None = None) -> Schema:
        """A copy with other funnel steps (e.g. the first two) and truth columns."""
        return Schema(self.fields, tuple(steps), self.truth if truth is None else tuple(truth))

    # ------------------------------------------------------------------------------ files
    def save(self, folder: str | Path) -> None:
        """Write `features.csv` and `vocab.json` into `folder` (created if needed)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / FEATURES_FILE, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(FEATURES_HEADER)
            writer.writerows((fld.name, fld.kind) for fld in self.fields)
            writer.writerows((step, "target") for step in self.steps)
            writer.writerows((col, "truth") for col in self.truth)
        vocab = {f.name: f.size for f in self.embedded_fields}
        (folder / VOCAB_FILE).write_text(json.dumps(vocab, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> Schema:
        """Read the schema from `folder/features.csv` and `folder/vocab.json`."""
        folder = Path(folder)
        return cls.from_files(folder / FEATURES_FILE, folder / VOCAB_FILE)

    @classmethod
    def from_files(cls, features_csv: str | Path, vocab_json: str | Path) -> Schema:
        """Read the schema from a features CSV and a vocabulary JSON.

        Raises:
            ValueError: naming the file, line and value, when a file is malformed or the
                two files disagree (a C/D feature missing from the JSON, a JSON key that is
                not a C/D feature, a size that is not a positive integer).
        """
        features_csv, vocab_json = Path(features_csv), Path(vocab_json)
        rows = _read_features_csv(features_csv)
        vocab = _read_vocab_json(vocab_json)
        fields, steps, truth = [], [], []
        for line, name, kind in rows:
            if kind == "target":
                steps.append(name)
            elif kind == "truth":
                truth.append(name)
            else:
                if kind in EMBEDDED_KINDS and name not in vocab:
                    raise ValueError(
                        f"{vocab_json}: feature {name!r} is type {kind} in {features_csv} "
                        f"(line {line}) but has no number of categories in the JSON"
                    )
                fields.append(Field(name, kind, vocab.get(name) if kind != "K" else None))
        embedded = {f.name for f in fields if f.embedded}
        extra = [k for k in vocab if k not in embedded]
        if extra:
            raise ValueError(
                f"{vocab_json}: key {extra[0]!r} is not a C or D feature of {features_csv}"
            )
        for name, size in vocab.items():
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ValueError(
                    f"{vocab_json}: {name!r} must map to a positive integer number of "
                    f"categories, got {size!r}"
                )
        try:
            return cls(tuple(fields), tuple(steps), tuple(truth))
        except ValueError as err:
            raise ValueError(f"{features_csv}: {err}") from None


def _plain_size(field: Field) -> Field:
    """The field with an integral size (e.g. `np.int64` from a data frame) made an `int`."""
    size = field.size
    if isinstance(size, numbers.Integral) and not isinstance(size, bool | int):
        return Field(field.name, field.kind, int(size))
    return field


def _check_unique(names: Iterable[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"column {name!r} appears more than once in the schema")
        seen.add(name)


def _read_features_csv(path: Path) -> list[tuple[int, str, str]]:
    """Rows `(line number, name, type)` of a features CSV, checked."""
    if not path.exists():
        raise ValueError(f"{path}: features file not found")
    # utf-8-sig: spreadsheet programs often start a CSV with a byte-order mark.
    with open(path, newline="", encoding="utf-8-sig") as f:
        lines = list(csv.reader(f))
    if not lines:
        raise ValueError(f"{path}: the features file is empty")
    header = tuple(c.strip() for c in lines[0])
    if header != FEATURES_HEADER:
        raise ValueError(f"{path}: header must be {','.join(FEATURES_HEADER)}, got {lines[0]}")
    rows = []
    for line, row in enumerate(lines[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 2:
            raise ValueError(f"{path}, line {line}: expected 2 columns, got {len(row)}: {row}")
        name, kind = row[0].strip(), row[1].strip()
        if kind not in _TYPE_INDEX:
            raise ValueError(
                f"{path}, line {line}: Type_Index of {name!r} must be one of "
                f"C, D, K, target, truth; got {kind!r}"
            )
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"{path}, line {line}: {name!r} is not a valid column name")
        rows.append((line, name, kind))
    return rows


def _read_vocab_json(path: Path) -> dict[str, int]:
    if not path.exists():
        raise ValueError(f"{path}: vocabulary file not found")
    try:
        vocab = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(vocab, dict):
        raise ValueError(f"{path}: must hold a JSON object mapping feature to size")
    return vocab
