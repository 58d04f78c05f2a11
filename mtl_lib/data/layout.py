"""Finding and reading the two schema files of a data folder: feature list and vocabulary.

A data folder holds a feature list (a CSV file, header `Feature_Name,Type_Index`), a
vocabulary (a JSON object of numbers of categories) and the splits. The project names them
`features.csv` and `vocab.json`; the original project ships `info_v4.csv` (starting with a
UTF-8 byte-order mark) and `embedding_number_v4.json`. Both load without renaming: the
feature list is found by its header and the vocabulary as the folder's one `.json` file.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

FEATURES_FILE = "features.csv"
"""The project's name for the feature list; any other `.csv` file with its header works."""
VOCAB_FILE = "vocab.json"
"""The project's name for the vocabulary; otherwise the folder's one `.json` file is read."""
FEATURES_HEADER = ("Feature_Name", "Type_Index")
"""The header of a feature list, by which it is found."""

_TYPE_INDEX = {"C", "D", "K", "B", "target", "truth"}


def find_schema_files(folder: str | Path) -> tuple[Path, Path]:
    """The feature list and the vocabulary of a data folder (see `Schema.load`).

    Args:
        folder: A data folder.

    Returns:
        `(features_csv, vocab_json)`.

    Raises:
        ValueError: naming the folder, when it is missing or holds no feature list or no
            vocabulary, or several candidates for one (then pass the files to
            `Schema.from_files`).

    Example:
        >>> [p.name for p in find_schema_files("data/funnel")]
        ['features.csv', 'vocab.json']
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: data folder not found")
    features = folder / FEATURES_FILE
    if not features.is_file():
        features = _only(
            folder,
            [p for p in sorted(folder.glob("*.csv")) if _is_feature_list(p)],
            f"feature list ({FEATURES_FILE}, or a .csv file whose header is "
            f"{','.join(FEATURES_HEADER)})",
        )
    vocab = folder / VOCAB_FILE
    if not vocab.is_file():
        vocab = _only(
            folder,
            [p for p in sorted(folder.glob("*.json")) if p.is_file()],
            f"vocabulary ({VOCAB_FILE}, or one .json file)",
        )
    return features, vocab


def _only(folder: Path, candidates: list[Path], what: str) -> Path:
    if not candidates:
        raise ValueError(f"{folder}: no {what} in this data folder")
    if len(candidates) > 1:
        names = ", ".join(p.name for p in candidates)
        raise ValueError(
            f"{folder}: several candidates for the {what}: {names}; "
            "pass the ones to use to Schema.from_files"
        )
    return candidates[0]


def _is_feature_list(path: Path) -> bool:
    """Whether a CSV file's first line is the feature-list header (read alone, not the file)."""
    if not path.is_file():
        return False
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        header = next(csv.reader([f.readline()]), [])
    return tuple(c.strip() for c in header) == FEATURES_HEADER


def read_features_csv(path: Path) -> list[tuple[int, str, str]]:
    """The rows of a feature list, checked.

    Args:
        path: The feature list, header `Feature_Name,Type_Index`; a UTF-8 byte-order mark
            and blank lines are accepted.

    Returns:
        `(line number, name, type)` per row, in file order.

    Raises:
        ValueError: naming the file, line and value: a missing or empty file, another
            header, a row of other than 2 columns, an unknown type, an invalid name.
    """
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
                f"C, D, K, B, target, truth; got {kind!r}"
            )
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"{path}, line {line}: {name!r} is not a valid column name")
        rows.append((line, name, kind))
    return rows


def read_vocab_json(path: Path) -> dict[str, int]:
    """The JSON object of a vocabulary file (its sizes are checked by `Schema.from_files`).

    Raises:
        ValueError: naming the file, if it is missing, not JSON or not a JSON object.
    """
    if not path.exists():
        raise ValueError(f"{path}: vocabulary file not found")
    try:
        vocab = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(vocab, dict):
        raise ValueError(f"{path}: must hold a JSON object mapping feature to size")
    return vocab
