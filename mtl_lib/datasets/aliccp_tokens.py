"""PaddleRec's `field:id` lines of Ali-CCP: labels, then one token per feature value.

PaddleRec's ESMM and ESCM² samples (`models/multitask/esmm/data/{train,test}/*.txt`) hold
one exposure a line, comma-separated, no header: a sample id, the click label, the
purchase label (over the exposure: the CTCVR label), then `field:id` tokens of variable
count, e.g. `1,0,0,210:1,210:2,216:4,301:5,...,150_14:18,150_14:19`. A field may appear
several times in one line: the multi-valued fields (`210`, `109_14`, `150_14`: the item's
intention nodes, the user's past categories, ...), read here as bags. A line may also
start with the labels alone (`0,0,210:1,...`): the cells before the first token are the
sample id, if any, and the two labels.

PaddleRec's own reader starts at the fifth cell (`features[4:]`), so it skips each line's
first token; every token is read here. Its reader pads or cuts every field to 3 ids; here
a single-valued field is one id (0 where the line lacks it) and a bag keeps all its ids,
or the first `bag_length`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mtl_lib.data.bags import format_bags, pad_bags

MISSING = -1
"""The raw code of a single-valued field a line lacks (re-indexed to id 0)."""


@dataclass
class TokenFile:
    """One file's rows, before re-indexing.

    Attributes:
        path: The file.
        labels: `(rows, 2)` int8 click and purchase.
        row_line: `(rows,)` each row's line of the file (1-based).
        row: Per token, its row (0-based), int64.
        field: Per token, its field's name.
        code: Per token, its raw id, int64.
        line: Per token, its line of the file (1-based), for messages.
        column: Per token, its cell of the line (1-based), for messages.
    """

    path: Path
    labels: np.ndarray
    row_line: np.ndarray
    row: np.ndarray
    field: np.ndarray
    code: np.ndarray
    line: np.ndarray
    column: np.ndarray

    @property
    def rows(self) -> int:
        """The file's exposures."""
        return len(self.labels)

    def fields(self) -> list[str]:
        """The fields seen, in order of first appearance."""
        return list(dict.fromkeys(self.field.tolist()))

    def repeated(self) -> set[str]:
        """The fields that appear more than once in some line (bags)."""
        pairs = pd.DataFrame({"row": self.row, "field": self.field})
        twice = pairs.duplicated()
        return set(pairs["field"][twice].tolist())


def is_token_line(line: str) -> bool:
    """Whether a line is PaddleRec's: comma-separated cells, some of them `field:id`."""
    cells = line.strip().split(",")
    return len(cells) > 2 and ":" in cells[-1]


def read_token_file(path: Path, max_rows: int | None = None) -> TokenFile:
    """Every token of a `field:id` file, checked.

    Raises:
        ValueError: naming the file, line and column (cell, 1-based) of a bad cell: a
            token without a colon, an id that is not a non-negative integer, a label other
            than 0/1, a line with other than 2 or 3 cells before its first token.
    """
    labels, row_lines, rows, fields, codes, lines, columns = [], [], [], [], [], [], []
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        for number, text in enumerate(f, start=1):
            if max_rows is not None and len(labels) >= max_rows:
                break
            cells = text.rstrip("\r\n").split(",")
            if not text.strip():
                continue
            lead = next((i for i, c in enumerate(cells) if ":" in c), len(cells))
            if lead not in (2, 3):
                raise ValueError(
                    f"{path}, line {number}: {lead} cells before the first field:id token; "
                    "expected the labels click,purchase, after an optional sample id"
                )
            label = cells[lead - 2 : lead]
            for j, cell in enumerate(label, start=lead - 1):
                if cell.strip() not in ("0", "1"):
                    name = ("click", "purchase")[j - lead + 1]
                    raise ValueError(
                        f"{path}, line {number}, column {j} ({name}): value {cell!r} is not a "
                        "0/1 label"
                    )
            row = len(labels)
            labels.append((int(label[0]), int(label[1])))
            row_lines.append(number)
            for j, token in enumerate(cells[lead:], start=lead + 1):
                field, colon, code = token.strip().partition(":")
                if not colon or not field:
                    raise ValueError(
                        f"{path}, line {number}, column {j}: token {token!r} is not field:id "
                        "(a field name, a colon, an integer id)"
                    )
                rows.append(row)
                fields.append(field)
                codes.append(code)
                lines.append(number)
                columns.append(j)
    if not labels:
        raise ValueError(f"{path}: the file has no data lines")
    numbers = pd.to_numeric(pd.Series(codes, dtype=object), errors="coerce").to_numpy(
        np.float64, na_value=np.nan
    )
    bad = ~np.isfinite(numbers) | (numbers < 0)
    bad |= numbers != np.floor(np.where(np.isfinite(numbers), numbers, 0.0))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"{path}, line {lines[i]}, column {columns[i]}: id {codes[i]!r} of field "
            f"{fields[i]!r} is not a non-negative integer"
        )
    return TokenFile(
        path,
        np.array(labels, dtype=np.int8),
        np.array(row_lines, dtype=np.int64),
        np.array(rows, dtype=np.int64),
        np.array(fields, dtype=object),
        numbers.astype(np.int64),
        np.array(lines, dtype=np.int64),
        np.array(columns, dtype=np.int64),
    )


def token_frame(
    tokens: TokenFile, singles: list[str], bags: dict[str, int]
) -> tuple[pd.DataFrame, dict[str, int]]:
    """A file's raw frame: labels, one raw code per single field, raw bags `3|17|42`.

    Args:
        tokens: The file's tokens.
        singles: The single-valued fields (columns), a line's missing one `MISSING`.
        bags: Bag field → its length; a longer bag keeps its first `length` ids.

    Returns:
        The frame (columns `click`, `purchase`, then `singles` and `bags` in order) and,
        per bag, the rows whose bag was cut to its length.

    Raises:
        ValueError: naming the file, line and column of a field the training file does not
            have, or of a second id of a field that is single-valued in the training file.
    """
    known = set(singles) | set(bags)
    unknown = np.flatnonzero(~np.isin(tokens.field, list(known)))
    if unknown.size:
        i = int(unknown[0])
        raise ValueError(
            f"{tokens.path}, line {tokens.line[i]}, column {tokens.column[i]}: field "
            f"{tokens.field[i]!r} is not a field of the training file "
            f"({', '.join(singles + list(bags))})"
        )
    frame = {"click": tokens.labels[:, 0], "purchase": tokens.labels[:, 1]}
    for name in singles:
        at = np.flatnonzero(tokens.field == name)
        rows = tokens.row[at]
        twice = np.flatnonzero(rows[1:] == rows[:-1])
        if twice.size:
            i = int(at[twice[0] + 1])
            raise ValueError(
                f"{tokens.path}, line {tokens.line[i]}, column {tokens.column[i]}: a second "
                f"id of field {name!r}, which holds one id in every line of the training file"
            )
        column = np.full(tokens.rows, MISSING, dtype=np.int64)
        column[rows] = tokens.code[at]
        frame[name] = column
    cut = {}
    for name, length in bags.items():
        at = np.flatnonzero(tokens.field == name)
        counts = np.bincount(tokens.row[at], minlength=tokens.rows)
        slot = np.arange(at.size) - np.repeat(np.cumsum(counts) - counts, counts)
        keep = slot < length
        cut[name] = int((counts > length).sum())
        matrix = pad_bags(tokens.code[at][keep], np.minimum(counts, length), length)
        frame[name] = format_bags(matrix)
    return pd.DataFrame(frame), cut
