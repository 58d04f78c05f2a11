"""Bags: multi-valued id fields, from a file's cell to a model's padded id matrix.

A bag is a set of ids of one field in one row (a user's categories, an item's brands). In a
data file and a data frame its cell is the ids joined by `|` (`3|17|42`, empty for an empty
bag); a frame may also hold a list or array of ids per cell. A model takes every bag of a
schema as one int32 matrix, each bag padded to its `length` with `PAD`:

    >>> field = Field("cats", "B", size=50, length=4)
    >>> parse_bags(pd.Series(["3|17|42", "", "5"]), field)
    array([[ 3, 17, 42, -1],
           [-1, -1, -1, -1],
           [ 5, -1, -1, -1]], dtype=int32)

`mtl_lib.layers.FieldEmbedding` pools each bag's embeddings (their mean or sum), padding
masked out: a padded slot contributes nothing, and an empty bag is the zero vector.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from mtl_lib.data.schema import BAG_SEPARATOR, Field

PAD = -1
"""The id of an empty slot of a padded bag (never a real id: ids run `0..n`)."""


def parse_bags(
    column: pd.Series | Sequence,
    field: Field,
    where: Callable[[str, int], str] | None = None,
) -> np.ndarray:
    """A bag column as its padded id matrix, every cell checked.

    Args:
        column: One cell per row: ids joined by `|` (`"3|17"`; empty or NaN for an empty
            bag), a single id (a column pandas parsed as numbers), or a sequence of ids.
        field: The bag (its size bounds the ids, its length the ids per row).
        where: `(column name, 0-based position)` → where that cell is, in words (the file,
            column, row and line); by default the column and the row's position.

    Returns:
        `(rows, field.length)` int32: each row's ids in cell order, then `PAD`.

    Raises:
        ValueError: at the first bad cell, naming where it is and its value: an id that is
            not an integer in `[0, size]`, or more ids than the bag's length.
    """
    column = pd.Series(column) if not isinstance(column, pd.Series) else column
    where = where or (lambda name, i: f"column {name!r}, row {i}")
    flat_text, counts = _tokens(column)
    ids = pd.to_numeric(pd.Series(flat_text, dtype=object), errors="coerce").to_numpy(
        np.float64, na_value=np.nan
    )
    rows = np.repeat(np.arange(len(column)), counts)
    bad_id = ~np.isfinite(ids) | (ids != np.floor(np.where(np.isfinite(ids), ids, 0.0)))
    bad_id |= (ids < 0) | (ids > field.size)
    first_bad = int(rows[np.argmax(bad_id)]) if bad_id.any() else len(column)
    long = np.flatnonzero(counts > field.length)
    first_long = int(long[0]) if long.size else len(column)
    if min(first_bad, first_long) < len(column):
        position = min(first_bad, first_long)
        cell = column.iloc[position]
        cell = cell.item() if isinstance(cell, np.generic) else cell
        if first_bad <= first_long:
            token = flat_text[int(np.flatnonzero(bad_id & (rows == position))[0])]
            problem = f"id {token!r} is not an integer in [0, {field.size}]"
        else:
            problem = f"{counts[position]} ids, more than the bag's length {field.length}"
        raise ValueError(
            f"{where(str(column.name if column.name is not None else field.name), position)}: "
            f"bag {cell!r}: {problem}; expected at most {field.length} ids in [0, "
            f"{field.size}] joined by {BAG_SEPARATOR!r} (B feature)"
        )
    return pad_bags(ids.astype(np.int32), counts, field.length)


def pad_bags(ids: np.ndarray, counts: np.ndarray, length: int) -> np.ndarray:
    """Ragged bags (all ids in row order, and each row's count) as a padded matrix.

    Args:
        ids: `(Σ counts,)` the ids of every row, row after row.
        counts: `(rows,)` ids per row, each at most `length`.
        length: The padded width.

    Returns:
        `(rows, length)` int32, each row's ids then `PAD`.
    """
    counts = np.asarray(counts, dtype=np.int64)
    out = np.full((len(counts), length), PAD, dtype=np.int32)
    starts = np.cumsum(counts) - counts
    slot = np.arange(len(ids)) - np.repeat(starts, counts)
    out[np.repeat(np.arange(len(counts)), counts), slot] = ids
    return out


def format_bags(matrix: np.ndarray) -> np.ndarray:
    """Padded bags as cells of a file or frame: each row's ids joined by `|` (object array).

    Example:
        >>> format_bags(np.array([[3, 17, -1], [-1, -1, -1]])).tolist()
        ['3|17', '']
    """
    matrix = np.asarray(matrix)
    return np.array(
        [BAG_SEPARATOR.join(map(str, row[row != PAD].tolist())) for row in matrix], dtype=object
    )


def bag_codes(column: pd.Series | Sequence) -> tuple[np.ndarray, np.ndarray]:
    """A bag column's codes, unchecked against a size: `(codes int64 (Σ counts,), counts)`.

    For re-indexing raw codes (`mtl_lib.datasets.encoding.Vocabulary`); the cells must hold
    integers (a loader has checked them).
    """
    column = pd.Series(column) if not isinstance(column, pd.Series) else column
    text, counts = _tokens(column)
    return np.array(text, dtype=np.float64).astype(np.int64), counts


def _tokens(column: pd.Series) -> tuple[list[str], np.ndarray]:
    """Every id's text, row after row, and the number of ids of each row."""
    dtype = column.dtype
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        values = column.to_numpy()
        present = ~pd.isna(values)
        text = [str(v) for v in values[present].tolist()]
        return [t[:-2] if t.endswith(".0") else t for t in text], present.astype(np.int64)
    cells = [
        ""
        if cell is None or (isinstance(cell, float) and np.isnan(cell))
        else BAG_SEPARATOR.join(map(str, np.asarray(cell).ravel().tolist()))
        if isinstance(cell, list | tuple | np.ndarray)
        else str(cell).strip()
        for cell in column.tolist()
    ]
    counts = np.array([c.count(BAG_SEPARATOR) + 1 if c else 0 for c in cells], dtype=np.int64)
    joined = BAG_SEPARATOR.join(c for c in cells if c)
    return (joined.split(BAG_SEPARATOR) if joined else []), counts
