"""Checks of funnel data files against a `Schema`, before anything is trained on them.

Every check raises a `ValueError` that names the file, the column and, where it applies,
the first offending data row (1-based, not counting the header, so data row `r` is line
`r + 1` of the file) and the offending value. The checks:

1. the file has a header and at least one data row;
2. every feature and step column is present (ground-truth columns are optional);
3. ids (C, D, and K with a number of categories) are integers in `[0, n]`, `n` being the
   field's size; a bag's (B) cell holds at most its length of them, joined by `|`;
4. no feature cell is empty or NaN, and the other K features are finite numbers;
5. step labels are 0 or 1, ground-truth columns numbers in `[0, 1]`;
6. no row reaches a step without the step before it (funnel consistency); such rows are an
   error, or are dropped and counted with `drop_inconsistent=True`.

Files are streamed in chunks, so a file of any size is checked in bounded memory.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mtl_lib.data.bags import format_bags, parse_bags
from mtl_lib.data.schema import Schema

# Header names shown in a missing-column error (real headers run to hundreds of columns).
_HEADER_SHOWN = 40
# Problem codes of a cell, in the order they are reported.
_OK, _MISSING, _NOT_NUMBER, _NOT_FINITE, _NOT_INTEGER, _OUT_OF_RANGE = range(6)


@dataclass(frozen=True)
class FileReport:
    """What `validate_file` found in one data file.

    Attributes:
        path: The file checked.
        rows: Data rows kept (all of them unless funnel-inconsistent rows were dropped).
        dropped: Funnel-inconsistent rows dropped (0 unless `drop_inconsistent=True`).
        step_counts: Positives per funnel step among the kept rows, in funnel order.
    """

    path: str
    rows: int
    dropped: int
    step_counts: dict[str, int]


def read_header(path: str | Path) -> list[str]:
    """The column names on the first line of a CSV or gzip-compressed CSV file.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if the file is empty or has no header line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: data file not found")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: the file is empty (0 bytes); expected a header and data rows")
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", newline="", encoding="utf-8-sig", errors="replace") as f:
            header = next(csv.reader(f), None)
    except (OSError, UnicodeDecodeError, EOFError) as err:
        raise ValueError(f"{path}: cannot read the header line ({err})") from None
    if not header or all(not name.strip() for name in header):
        raise ValueError(f"{path}: the file is empty; expected a header and data rows")
    return header


def check_header(header: list[str], schema: Schema, source: str) -> list[str]:
    """Check a file's header against the schema.

    Args:
        header: The file's column names, in file order.
        schema: Features, steps and truth columns expected.
        source: The file, named in errors.

    Returns:
        The schema columns present in the file, in `schema.columns` order (every feature and
        step, and the ground-truth columns that are there).

    Raises:
        ValueError: naming the missing feature or step columns, or a schema column that
            appears twice in the header.
    """
    required = schema.feature_names + schema.steps
    missing = [c for c in required if c not in header]
    if missing:
        steps = [c for c in missing if c in schema.steps]
        which = (
            f" (funnel step(s) {', '.join(map(repr, steps))}: a step is a `target` row of the "
            "feature list or a name given with `steps=`)"
            if steps
            else ""
        )
        shown = ", ".join(header[:_HEADER_SHOWN]) + (", ..." if len(header) > _HEADER_SHOWN else "")
        raise ValueError(
            f"{source}: missing column(s) {', '.join(map(repr, missing))}{which}; the schema "
            f"needs every feature and step column, the header has {len(header)} columns: "
            f"{shown}"
        )
    twice = [c for c in schema.columns if header.count(c) > 1]
    if twice:
        raise ValueError(f"{source}: column {twice[0]!r} appears more than once in the header")
    return [c for c in schema.columns if c in header]


def validate_frame(
    frame: pd.DataFrame,
    schema: Schema,
    *,
    source: str = "<frame>",
    first_row: int = 1,
    drop_inconsistent: bool = False,
) -> tuple[pd.DataFrame, int]:
    """Check a table (or one chunk of a file) against the schema.

    Args:
        frame: One row per example; columns beyond the schema's are ignored.
        schema: Features, steps and truth columns expected.
        source: Where the rows come from, named in errors.
        first_row: The 1-based data-row number of the frame's first row, so that errors in a
            later chunk of a file name the row of the file.
        drop_inconsistent: Drop funnel-inconsistent rows (a step is 1 while an earlier step
            is 0) instead of raising.

    Returns:
        `(clean, dropped)`: the kept rows with the schema columns present, in
        `schema.columns` order and a fresh index (C/D as int32, steps as int8, K and truth as
        float32, bags as their cells `3|17|42`), and the number of rows dropped.

    Raises:
        ValueError: naming the source, column, first offending row and value.

    Example:
        >>> from mtl_lib.data.schema import Field
        >>> schema = Schema((Field("city", "C", 3), Field("x", "K")), ("click", "apply"))
        >>> raw = pd.DataFrame({"city": [0, 3], "x": [0.5, 1.0], "click": [1, 0],
        ...                     "apply": [1, 0]})
        >>> clean, dropped = validate_frame(raw, schema)
        >>> clean.dtypes.astype(str).tolist(), dropped
        (['int32', 'float32', 'int8', 'int8'], 0)
    """
    return _validate(frame, schema, source, first_row, drop_inconsistent, in_file=False)


def iter_validated_chunks(
    path: str | Path,
    schema: Schema,
    *,
    drop_inconsistent: bool = False,
    chunk_rows: int = 200_000,
) -> Iterator[tuple[pd.DataFrame, int]]:
    """Stream a data file as checked chunks, in bounded memory.

    Args:
        path: A CSV file, or a gzip-compressed one ending in `.gz`.
        schema: Features, steps and truth columns expected.
        drop_inconsistent: Drop funnel-inconsistent rows instead of raising.
        chunk_rows: Rows read at a time.

    Yields:
        `(clean, dropped)` per chunk, as `validate_frame` returns them.

    Raises:
        ValueError: as `validate_frame`, naming the file and the row of the file; also if
            the file is empty, has no data rows, or lacks a feature or step column.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    source = str(path)
    columns = check_header(read_header(path), schema, source)
    reader = pd.read_csv(
        path,
        usecols=columns,
        chunksize=chunk_rows,
        encoding="utf-8-sig",
        # Bytes that are not UTF-8 (Chinese text saved as GBK, say) in the columns that are
        # ignored must not stop the read; in a schema column they fail the checks below.
        encoding_errors="replace",
        compression="gzip" if source.endswith(".gz") else None,
    )
    first_row, total = 1, 0
    try:
        with reader:
            for chunk in reader:
                if len(chunk) == 0:
                    continue
                yield _validate(chunk, schema, source, first_row, drop_inconsistent, in_file=True)
                first_row += len(chunk)
                total += len(chunk)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(
            f"{source}: not a readable CSV file (read {total} data rows before: {err})"
        ) from None
    if total == 0:
        raise ValueError(f"{source}: the file has a header but no data rows")


def validate_file(
    path: str | Path,
    schema: Schema,
    *,
    drop_inconsistent: bool = False,
    chunk_rows: int = 200_000,
) -> FileReport:
    """Check a whole data file against the schema, streaming it in chunks.

    Memory stays bounded by `chunk_rows` whatever the file's size; only the schema's columns
    are parsed, and row numbers in errors count from the file's first data row.

    Args:
        path: A CSV file, or a gzip-compressed one ending in `.gz`.
        schema: Features, steps and truth columns expected.
        drop_inconsistent: Count funnel-inconsistent rows as dropped instead of raising.
        chunk_rows: Rows read at a time.

    Returns:
        A `FileReport` with the rows kept, the rows dropped and the positives per step.

    Raises:
        ValueError: naming the file, column, first offending row and value.
    """
    rows = dropped = 0
    counts = dict.fromkeys(schema.steps, 0)
    for clean, chunk_dropped in iter_validated_chunks(
        path, schema, drop_inconsistent=drop_inconsistent, chunk_rows=chunk_rows
    ):
        rows += len(clean)
        dropped += chunk_dropped
        for step in schema.steps:
            counts[step] += int(clean[step].to_numpy().sum())
    return FileReport(str(path), rows, dropped, counts)


# ------------------------------------------------------------------------------- checks
def _validate(
    frame: pd.DataFrame,
    schema: Schema,
    source: str,
    first_row: int,
    drop_inconsistent: bool,
    in_file: bool,
) -> tuple[pd.DataFrame, int]:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{source}: expected a pandas DataFrame, got {type(frame).__name__}")
    columns = check_header([str(c) for c in frame.columns], schema, source)
    if len(frame) == 0:
        raise ValueError(f"{source}: no data rows")

    def where(column: str, position: int) -> str:
        """`file: column 'x', data row r (line r + 1 of the file)` for a 0-based position."""
        row = first_row + position
        line = f" (line {row + 1} of the file)" if in_file else ""
        return f"{source}: column {column!r}, data row {row}{line}"

    out: dict[str, np.ndarray] = {}
    for field in schema.fields:
        if field.bag:  # kept as its cells, `3|17|42`, checked and written the one way
            out[field.name] = format_bags(parse_bags(frame[field.name], field, where))
            continue
        values, codes = _parse(frame[field.name])
        if field.embedded:
            bad = codes == _OK
            codes[bad & (values != np.floor(values))] = _NOT_INTEGER
            bad = codes == _OK
            codes[bad & ((values < 0) | (values > field.size))] = _OUT_OF_RANGE
            kind = "K feature with a number of categories" if field.kind == "K" else field.kind
            rule = f"an integer id in [0, {field.size}] ({kind} feature)"
            _raise_first(codes, frame[field.name], rule, where)
            out[field.name] = values.astype(np.int32)
        else:
            _raise_first(codes, frame[field.name], "a finite number (K feature)", where)
            out[field.name] = values.astype(np.float32)
    for step in schema.steps:
        values, codes = _parse(frame[step])
        codes[(codes == _OK) & (values != 0) & (values != 1)] = _OUT_OF_RANGE
        _raise_first(codes, frame[step], "a 0/1 label of a funnel step", where)
        out[step] = values.astype(np.int8)
    for column in schema.truth:
        if column not in columns:
            continue
        values, codes = _parse(frame[column])
        codes[(codes == _OK) & ((values < 0) | (values > 1))] = _OUT_OF_RANGE
        _raise_first(codes, frame[column], "a probability in [0, 1] (ground truth)", where)
        out[column] = values.astype(np.float32)

    clean = pd.DataFrame({c: out[c] for c in columns})
    bad = inconsistent_rows(np.stack([out[s] for s in schema.steps], axis=1))
    dropped = int(bad.sum())
    if dropped and not drop_inconsistent:
        position = int(np.argmax(bad))
        labels = {s: int(out[s][position]) for s in schema.steps}
        row = np.array(list(labels.values()))
        t = int(np.argmax(row[1:] > row[:-1])) + 1
        early, late = schema.steps[t - 1], schema.steps[t]
        raise ValueError(
            f"{where(late, position)}: funnel-inconsistent row, step {late!r} is 1 while the "
            f"earlier step {early!r} is 0 (labels {labels}); pass drop_inconsistent=True to "
            "drop such rows"
        )
    if dropped:
        clean = clean.loc[~bad].reset_index(drop=True)
    return clean, dropped


def inconsistent_rows(labels: np.ndarray) -> np.ndarray:
    """Rows that reach a funnel step without every step before it.

    Args:
        labels: 0/1 labels, shape `(rows, steps)`, steps in funnel order.

    Returns:
        A boolean mask, shape `(rows,)`, true where some step is 1 after a step that is 0.
    """
    labels = np.asarray(labels)
    if labels.shape[1] < 2:
        return np.zeros(labels.shape[0], dtype=bool)
    return np.any(labels[:, 1:] > labels[:, :-1], axis=1)


def _parse(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Float64 values of a column and a problem code per cell (`_OK` where it parsed)."""
    missing = column.isna().to_numpy()
    numeric = pd.to_numeric(column, errors="coerce")
    values = numeric.to_numpy(dtype=np.float64, na_value=np.nan)
    codes = np.full(values.shape, _OK, dtype=np.int8)
    codes[~np.isfinite(values)] = _NOT_FINITE
    codes[np.isnan(values)] = _NOT_NUMBER
    codes[missing] = _MISSING
    return values, codes


def _raise_first(
    codes: np.ndarray, column: pd.Series, rule: str, where: Callable[[str, int], str]
) -> None:
    """Raise for the first cell whose code is not `_OK`."""
    bad = np.flatnonzero(codes != _OK)
    if bad.size == 0:
        return
    position = int(bad[0])
    value = column.iloc[position]
    if isinstance(value, np.generic):
        value = value.item()
    problem = {
        _MISSING: "empty or missing value (NaN)",
        _NOT_NUMBER: f"value {value!r} is not a number",
        _NOT_FINITE: f"value {value!r} is not finite",
        _NOT_INTEGER: f"value {value!r} is not an integer",
        _OUT_OF_RANGE: f"value {value!r} is out of range",
    }[int(codes[position])]
    more = f" (at least {bad.size} bad cells in this column)" if bad.size > 1 else ""
    raise ValueError(f"{where(str(column.name), position)}: {problem}; expected {rule}{more}")
