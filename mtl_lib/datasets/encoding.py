"""Encoding raw columns checked cell by cell: category codes to ids, text to numbers.

Shared by the real data sets' loaders (AliExpress, processed Ali-CCP): a bad cell is
reported by the file, column and row a caller's `where` names; category codes are re-indexed
on the training rows, an unseen or rare code becoming id 0.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mtl_lib.data.bags import bag_codes, format_bags, pad_bags
from mtl_lib.data.schema import BAG, Field


@dataclass(frozen=True)
class Vocabulary:
    """Ids of the category codes, fitted on training rows.

    A column's kept codes (seen at least `min_count` times) get ids `1..n` in increasing
    order of the code; any other code (rare, or unseen in training) gets id 0. A bag column
    (cells `3|17|42` of raw codes) is re-indexed code by code, a code counted once per row
    whose bag holds it (as `convert_aliccp` counts).

    Attributes:
        codes: Column → its kept codes, sorted, int64 `(n,)`.
        min_count: The least number of training rows a code needs to keep its own id.
        bags: Bag column → its length (the most ids a row holds); the others are single ids.
    """

    codes: dict[str, np.ndarray]
    min_count: int = 1
    bags: dict[str, int] = field(default_factory=dict)

    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        columns: Sequence[str],
        min_count: int = 1,
        bags: Mapping[str, int] | None = None,
        missing: int | None = None,
    ) -> Vocabulary:
        """Learn the kept codes of `columns` from the raw training rows of `frame`.

        Args:
            frame: The raw training rows.
            columns: The id columns to re-index (single ids, and the bags among them).
            min_count: The least number of training rows a code needs to keep its own id.
            bags: Bag column → its length, for the columns of `columns` that are bags.
            missing: A code that stands for "no value" (never kept: it gets id 0).

        Raises:
            ValueError: if `min_count` is below 1.
        """
        if isinstance(min_count, bool) or min_count < 1:
            raise ValueError(f"min_count must be an integer >= 1, got {min_count!r}")
        bags = dict(bags or {})
        codes = {}
        for name in columns:
            raw = _once_per_row(frame[name]) if name in bags else frame[name].to_numpy(np.int64)
            values, counts = np.unique(raw, return_counts=True)
            kept = counts >= min_count
            if missing is not None:
                kept &= values != missing
            codes[name] = values[kept]
        return cls(codes, min_count, bags)

    @property
    def fields(self) -> tuple[Field, ...]:
        """One C `Field` per column (B for a bag); its size is its number of kept codes (≥ 1)."""
        # A column without a kept code still gets size 1 (a table of ids 0 and 1, id 1
        # unused): a schema's C field needs at least one category.
        return tuple(
            Field(name, BAG, max(len(kept), 1), self.bags[name], "mean")
            if name in self.bags
            else Field(name, "C", max(len(kept), 1))
            for name, kept in self.codes.items()
        )

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The ids of every column of `frame`'s raw codes: int32, and cells `3|17` for bags."""
        out = {}
        for name, kept in self.codes.items():
            if name in self.bags:
                raw, counts = bag_codes(frame[name])
                ids = ids_of(kept, raw)
                out[name] = format_bags(pad_bags(ids, counts, max(int(counts.max(initial=0)), 1)))
            else:
                out[name] = ids_of(kept, frame[name].to_numpy(np.int64))
        return pd.DataFrame(out, index=frame.index)


def _once_per_row(column: pd.Series) -> np.ndarray:
    """A bag column's codes, each code once per row that holds it."""
    codes, counts = bag_codes(column)
    rows = np.repeat(np.arange(len(counts)), counts)
    return np.unique(np.stack([rows, codes], axis=1), axis=0)[:, 1]


def ids_of(kept: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """Each raw code's id: `1 + its place among the sorted kept codes`, or 0 (int32)."""
    index = np.searchsorted(kept, raw)
    found = index < len(kept)
    found[found] = kept[index[found]] == raw[found]
    return np.where(found, index + 1, 0).astype(np.int32)


def checked_numbers(
    column: pd.Series,
    where: Callable[[str, int], str],
    rules: Mapping[str, str],
    *,
    integer: bool,
) -> np.ndarray:
    """A column's values (int64 if `integer`, else float64), raising on the first bad cell.

    Args:
        column: One column of a chunk of a file, as pandas parsed it.
        where: `(column name, position in the chunk)` → where that is, in words (the file,
            the column, the row and line).
        rules: Column name → what a cell of it should be, for the message.
        integer: Whether the values must be integers.

    Raises:
        ValueError: at the first empty, non-numeric, non-finite or (if `integer`)
            non-integer cell, naming where it is, its value and what was expected.
    """
    dtype = column.dtype
    if pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        return column.to_numpy(np.int64)  # parsed as integers: nothing can be wrong
    text = column.astype(str) if pd.api.types.is_bool_dtype(dtype) else column
    missing = column.isna().to_numpy()
    values = pd.to_numeric(text, errors="coerce").to_numpy(np.float64, na_value=np.nan)
    finite = np.isfinite(values)
    bad = ~finite
    if integer:
        bad |= finite & (values != np.floor(np.where(finite, values, 0.0)))
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        value = column.iloc[position]
        value = value.item() if isinstance(value, np.generic) else value
        if missing[position]:
            problem = "empty or missing value"
        elif np.isnan(values[position]):
            problem = f"value {value!r} is not a number"
        elif not finite[position]:
            problem = f"value {value!r} is not finite"
        else:
            problem = f"value {value!r} is not an integer"
        count = int(bad.sum())
        more = f" ({count} bad cells in this column of the chunk)" if count > 1 else ""
        name = str(column.name)
        raise ValueError(f"{where(name, position)}: {problem}; expected {rules[name]}{more}")
    return values.astype(np.int64) if integer else values


def read_checked(
    chunks: Iterable[pd.DataFrame],
    path: object,
    check: Callable[[pd.DataFrame, int], dict[str, np.ndarray]],
    funnel: tuple[str, str],
    *,
    drop_inconsistent: bool,
    where: Callable[[str, int], str],
) -> pd.DataFrame:
    """A file's rows, read chunk by chunk, each chunk checked before the next is read.

    Args:
        chunks: The file's chunks (a `pd.read_csv(..., chunksize=...)` reader).
        path: The file, for messages.
        check: `(chunk, its first data row, 1-based)` → column name → checked array.
        funnel: The click and the conversion label's column names.
        drop_inconsistent: Drop rows with a conversion but no click (a `UserWarning` says
            how many) instead of raising.
        where: `(column, data row)` → where that is, in words.

    Raises:
        ValueError: at a conversion without a click (unless dropped), an unreadable file,
            or a file without data rows.
    """
    click, conversion = funnel
    parts: dict[str, list[np.ndarray]] = {}
    first_row, total, dropped = 1, 0, 0
    try:
        with chunks:
            for chunk in chunks:
                columns = check(chunk, first_row)
                bad = (columns[conversion] == 1) & (columns[click] == 0)
                if bad.any():
                    if not drop_inconsistent:
                        raise ValueError(
                            f"{where(conversion, first_row + int(np.argmax(bad)))}: "
                            f"funnel-inconsistent row, {conversion} is 1 while {click} is 0; "
                            "pass drop_inconsistent=True to drop such rows"
                        )
                    columns = {c: v[~bad] for c, v in columns.items()}
                    dropped += int(bad.sum())
                for c, values in columns.items():
                    parts.setdefault(c, []).append(values)
                first_row += len(chunk)
                total += len(chunk)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ValueError(
            f"{path}: not a readable CSV file (read {total} data rows before: {err})"
        ) from None
    if total == 0:
        raise ValueError(f"{path}: the file has no data rows")
    if dropped:
        warnings.warn(
            f"{path}: dropped {dropped} of {total} rows with a {conversion} but no {click}",
            UserWarning,
            stacklevel=3,
        )
    return pd.DataFrame({c: np.concatenate(v) for c, v in parts.items()})
