"""The `Schema` of a funnel data set and its on-disk layout.

The layout is the original project's, so that users can drop their own data in:

- a feature list, `features.csv`, header `Feature_Name,Type_Index`, one row per column of
  the data files. `Type_Index` is `C` (categorical id), `D` (bucketized numeric id), `K`
  (other numeric) or `target` (a 0/1 funnel step; rows in funnel order). This project adds
  `truth` for ground-truth probability columns, read for evaluation and never as features,
  and `B` for a bag: a multi-valued id field (a user's set of categories), whose cell is
  its ids joined by `|` (`3|17|42`; empty for an empty bag).
- a vocabulary, `vocab.json`, a JSON object mapping every C and D feature to its number of
  categories `n`: ids run `0..n`, so its embedding table has `n + 1` rows. A K feature with
  an entry is an id too, looked up in a table of `n + 1` rows (as the original code does);
  a K feature without one is a plain number. A bag maps to an object
  `{"size": n, "length": L, "pooling": "mean"}`: ids `0..n`, at most `L` of them per row,
  pooled by their mean (or `"sum"`).

The original project's own files load as they ship (`Schema.load` finds them): its feature
list `info_v4.csv` (found by its header, whatever its name) and its vocabulary
`embedding_number_v4.json` (the folder's only `.json` file). Its feature list marks only
one of its funnel labels as `target`; name them all, in funnel order, with `steps`.
"""

from __future__ import annotations

import csv
import json
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Literal

from mtl_lib.data.layout import (
    FEATURES_FILE,
    FEATURES_HEADER,
    VOCAB_FILE,
    find_schema_files,
    read_features_csv,
    read_vocab_json,
)

Kind = Literal["C", "D", "K", "B"]
EMBEDDED_KINDS = ("C", "D")
BAG = "B"
"""The kind of a bag: a multi-valued id field, padded to its `length`, pooled by `pooling`."""
BAG_SEPARATOR = "|"
"""Joins the ids of a bag in a data file's cell and a frame's column: `3|17|42`."""
POOLINGS = ("mean", "sum")
"""How a bag's embeddings are pooled: their mean (the ESMM paper's), or their sum."""
TRUTH_PREFIX = "true_p_"


def conditional_name(step: str, previous: str) -> str:
    """Name of P(step | previous, x), e.g. `purchase_given_click` (ESMM's pCVR output)."""
    return f"{step}_given_{previous}"


def truth_name(step: str, previous: str | None = None) -> str:
    """Column of a step's true probability on synthetic data.

    `true_p_purchase` (entire space) or, given the step before, `true_p_purchase_given_click`.
    """
    return TRUTH_PREFIX + (step if previous is None else conditional_name(step, previous))


#: Column of a step's potential outcome on synthetic evaluation data (`potential_purchase`:
#: would the exposure convert had it been clicked), for every exposure.
POTENTIAL_PREFIX = "potential_"


@dataclass(frozen=True)
class Field:
    """One input column.

    Attributes:
        name: Column name in the data files.
        kind: `"C"` categorical id, `"D"` bucketized numeric id, `"K"` other numeric,
            `"B"` a bag (several ids of one field in a row, e.g. a user's categories).
        size: The largest id `n` (ids run `0..n`): required for C, D and B; for K, `None`
            (a plain number) or a size, which makes the K column an id as well (the
            original project looks every column of its vocabulary up in an embedding table).
        length: For a bag, the most ids a row may hold: its padded width. `None` otherwise.
        pooling: For a bag, how its ids' embeddings become one vector: `"mean"` or
            `"sum"` (padding counts in neither; an empty bag is the zero vector).
    """

    name: str
    kind: Kind
    size: int | None = None
    length: int | None = None
    pooling: str | None = None

    @property
    def embedded(self) -> bool:
        """Whether the field is looked up in an embedding table (C, D, B, or K with a size)."""
        return self.kind in (*EMBEDDED_KINDS, BAG) or (self.kind == "K" and self.size is not None)

    @property
    def bag(self) -> bool:
        """Whether the field is a bag (multi-valued ids)."""
        return self.kind == BAG

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
            if field.kind not in ("C", "D", "K", BAG):
                raise ValueError(
                    f"feature {field.name!r}: kind must be C, D, K or B, got {field.kind!r}"
                )
            _check_bag(field)
            if field.name in labels or field.name.startswith(TRUTH_PREFIX):
                raise ValueError(
                    f"feature {field.name!r} is a label or ground-truth column: using it as "
                    "an input would leak the answer (label leakage)"
                )
            if field.kind in (*EMBEDDED_KINDS, BAG) or field.size is not None:
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
        if self.bag_fields and not self.embedded_fields:
            raise ValueError(
                "a schema with bags needs at least one single-valued id field (C, D, or K "
                "with a size) as well"
            )
        # After the leakage check, so that a feature named like a step is called leakage.
        _check_unique([f.name for f in self.fields] + list(self.steps) + list(self.truth))

    # ----------------------------------------------------------------------------- views
    @property
    def feature_names(self) -> tuple[str, ...]:
        """All input column names, in file order."""
        return tuple(f.name for f in self.fields)

    @property
    def embedded_fields(self) -> tuple[Field, ...]:
        """The single-valued id fields (C, D and K with a size): the columns of the ids matrix."""
        return tuple(f for f in self.fields if f.embedded and not f.bag)

    @property
    def bag_fields(self) -> tuple[Field, ...]:
        """The bags (B), in file order: the blocks of the bags matrix."""
        return tuple(f for f in self.fields if f.bag)

    @property
    def bags(self) -> dict[str, dict]:
        """Each bag's table rows (`n + 1`), length and pooling, as `FieldEmbedding` takes them."""
        return {
            f.name: {"rows": f.vocabulary_size, "length": f.length, "pooling": f.pooling}
            for f in self.bag_fields
        }

    @property
    def numeric_names(self) -> tuple[str, ...]:
        """The names of the K fields without a size (plain numbers)."""
        return tuple(f.name for f in self.fields if not f.embedded)

    @property
    def vocabulary_sizes(self) -> dict[str, int]:
        """Embedding-table rows (`n + 1`) per single-valued id field (bags: `bags`)."""
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
        vocab = {
            f.name: {"size": f.size, "length": f.length, "pooling": f.pooling} if f.bag else f.size
            for f in self.fields
            if f.embedded
        }
        (folder / VOCAB_FILE).write_text(json.dumps(vocab, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path, *, steps: Sequence[str] | None = None) -> Schema:
        """Read the schema of a data folder.

        The feature list is `features.csv` or, failing that, the folder's one `.csv` file
        whose header is `Feature_Name,Type_Index` (the original project's `info_v4.csv`);
        the vocabulary is `vocab.json` or, failing that, the folder's one `.json` file
        (the original's `embedding_number_v4.json`).

        Args:
            folder: A data folder (see `data/README.md`).
            steps: The funnel's label columns in funnel order, overriding the feature
                list's `target` rows (see `from_files`); needed for the original project's
                data, whose feature list marks only one of its labels as `target`.

        Returns:
            The schema.

        Raises:
            ValueError: naming the folder when it holds no feature list or vocabulary, or
                several candidates; otherwise as `from_files`.

        Example:
            >>> Schema.load("data/funnel").steps
            ('click', 'apply', 'approve', 'activate')
        """
        return cls.from_files(*find_schema_files(folder), steps=steps)

    @classmethod
    def from_files(
        cls,
        features_csv: str | Path,
        vocab_json: str | Path,
        *,
        steps: Sequence[str] | None = None,
    ) -> Schema:
        """Read the schema from a feature list (CSV) and a vocabulary (JSON).

        Args:
            features_csv: The feature list, header `Feature_Name,Type_Index` (a UTF-8
                byte-order mark is accepted).
            vocab_json: Every id feature's number of categories `n`: each C and D feature,
                and any K feature that is looked up as an id.
            steps: The funnel's label columns in funnel order. `None` takes the feature
                list's `target` rows, in file order. Named steps replace them: each must be
                marked `target` in the list or not listed at all (a column of the data
                files only, checked when a file is read); `target` rows left unnamed are
                ignored.

        Returns:
            The schema, its fields in file order.

        Raises:
            ValueError: naming the file, line and value, when a file is malformed or the
                two files disagree (a C/D feature missing from the JSON, a JSON key that is
                not a feature, a size that is not a positive integer), or when a named step
                is listed as a feature or ground-truth column.
            TypeError: if `steps` is a string rather than a sequence of names.

        Example:
            >>> schema = Schema.from_files(
            ...     "info_v4.csv", "embedding_number_v4.json",
            ...     steps=["click", "apply", "approve", "activate"],
            ... )  # doctest: +SKIP
        """
        features_csv, vocab_json = Path(features_csv), Path(vocab_json)
        rows = read_features_csv(features_csv)
        vocab = read_vocab_json(vocab_json)
        named = _named_steps(steps, rows, features_csv)
        fields, targets, truth = [], [], []
        for line, name, kind in rows:
            if kind == "target":
                targets.append(name)
            elif kind == "truth":
                truth.append(name)
            elif kind == BAG:
                fields.append(_bag_from_json(name, vocab.get(name), vocab_json, features_csv))
            else:
                if kind in EMBEDDED_KINDS and name not in vocab:
                    raise ValueError(
                        f"{vocab_json}: feature {name!r} is type {kind} in {features_csv} "
                        f"(line {line}) but has no number of categories in the JSON"
                    )
                fields.append(Field(name, kind, vocab.get(name)))
        features = {f.name for f in fields}
        extra = [k for k in vocab if k not in features]
        if extra:
            raise ValueError(
                f"{vocab_json}: key {extra[0]!r} is not a feature (C, D or K) of {features_csv}"
            )
        bags = {f.name for f in fields if f.bag}
        for name, size in vocab.items():
            if name in bags:
                continue
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ValueError(
                    f"{vocab_json}: {name!r} must map to a positive integer number of "
                    f"categories, got {size!r}"
                )
        try:
            return cls(tuple(fields), named or tuple(targets), tuple(truth))
        except ValueError as err:
            raise ValueError(f"{features_csv}: {err}") from None


def _named_steps(
    steps: Sequence[str] | None, rows: list[tuple[int, str, str]], features_csv: Path
) -> tuple[str, ...]:
    """The steps named by the user, checked against the feature list; `()` if none named."""
    if steps is None:
        return ()
    if isinstance(steps, str):
        raise TypeError(f"steps must be a sequence of column names, got the string {steps!r}")
    steps = tuple(steps)
    if not steps:
        raise ValueError("steps is empty; name the funnel's label columns in funnel order")
    listed = {name: (line, kind) for line, name, kind in rows}
    for step in steps:
        if not isinstance(step, str):
            raise TypeError(f"steps must be column names, got {step!r}")
        line, kind = listed.get(step, (None, "target"))
        if kind != "target":
            raise ValueError(
                f"{features_csv}, line {line}: step {step!r} is listed as a {kind} column; "
                "a funnel step cannot also be an input or ground-truth column (label leakage)"
            )
    marked = [name for _, name, kind in rows if kind == "target" and name in steps]
    if marked != sorted(marked, key=steps.index):
        raise ValueError(
            f"steps {steps} do not keep the funnel order of the targets of {features_csv}, "
            f"{tuple(marked)}"
        )
    return steps


def _bag_from_json(name: str, entry: object, vocab_json: Path, features_csv: Path) -> Field:
    """A bag's `Field` from its vocabulary entry `{"size": n, "length": L, "pooling": p}`."""
    if not isinstance(entry, dict) or set(entry) - {"size", "length", "pooling"}:
        raise ValueError(
            f"{vocab_json}: bag {name!r} (type B in {features_csv}) must map to an object "
            f'{{"size": n, "length": L, "pooling": "mean" or "sum"}}, got {entry!r}'
        )
    field = Field(name, BAG, entry.get("size"), entry.get("length"), entry.get("pooling", "mean"))
    try:
        _check_bag(field)
    except ValueError as err:
        raise ValueError(f"{vocab_json}: {err}") from None
    return field


def _check_bag(field: Field) -> None:
    """A bag's length and pooling are right; other kinds have neither."""
    if not field.bag:
        if field.length is not None or field.pooling is not None:
            raise ValueError(
                f"feature {field.name!r} ({field.kind}): only a bag (B) has a length and a pooling"
            )
        return
    length = field.length
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ValueError(
            f"bag {field.name!r}: length must be a positive integer (the most ids a row "
            f"holds), got {length!r}"
        )
    if field.pooling not in POOLINGS:
        raise ValueError(
            f"bag {field.name!r}: pooling must be one of {', '.join(POOLINGS)}, "
            f"got {field.pooling!r}"
        )


def _plain_size(field: Field) -> Field:
    """The field with integral numbers (e.g. `np.int64`) made `int`s; a bag's pooling `mean`."""
    size, length = field.size, field.length
    if isinstance(size, numbers.Integral) and not isinstance(size, bool | int):
        size = int(size)
    if isinstance(length, numbers.Integral) and not isinstance(length, bool | int):
        length = int(length)
    pooling = "mean" if field.bag and field.pooling is None else field.pooling
    if any(a is not b for a, b in zip((size, length, pooling), astuple(field)[2:], strict=True)):
        return Field(field.name, field.kind, size, length, pooling)
    return field


def _check_unique(names: Iterable[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"column {name!r} appears more than once in the schema")
        seen.add(name)
