"""Small Ali-CCP folders in each published processed layout, for tutorials and tests.

`write_aliccp_sample(folder, "paddlerec")` writes a folder of generated exposures in the
shape a user holds (file names, header or none, field names, repeated fields: see
`mtl_lib.datasets.aliccp_files`), so that `load_aliccp` can be shown and tested on every
format without the real data. The rows are synthetic: a user's and an item's codes set the
click, the item's category the purchase after a click, and a click is likelier when the
item's category is among the user's past categories (the bag `150_14`), so a model has
something to learn from every kind of field.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mtl_lib.datasets.aliccp_files import AITM_FIELDS, LABELS, RECHUB_IDS, RECHUB_VALUES

SAMPLE_FORMATS = ("aitm", "torch-rechub", "paddlerec")
"""The layouts `write_aliccp_sample` writes."""

PADDLEREC_BAGS = ("210", "109_14", "110_14", "127_14", "150_14")
"""The fields a PaddleRec line repeats (multi-valued)."""


def write_aliccp_sample(folder: str | Path, fmt: str, rows: int = 4000, seed: int = 0) -> Path:
    """Write `rows` generated exposures as a folder of format `fmt`, 75 % train, 25 % test.

    Args:
        folder: The folder to write (created).
        fmt: `"aitm"` (`ctr_cvr.train` with a header, `ctr_cvr.dev` with one,
            `ctr_cvr.test` without, as the published sample), `"torch-rechub"`
            (`ali_ccp_{train,val,test}.csv`, 23 id and 8 number columns) or `"paddlerec"`
            (`train/small.txt`, `test/small.txt`: `sample_id,click,purchase,field:id,...`,
            the multi-valued fields repeated, no validation file).
        rows: Exposures in all.
        seed: The generator's seed (the same seed writes the same bytes).

    Returns:
        `folder`, as a `Path`.

    Raises:
        ValueError: for another format, or fewer than 40 rows.
    """
    if fmt not in SAMPLE_FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(SAMPLE_FORMATS)}, got {fmt!r}")
    if rows < 40:
        raise ValueError(f"rows must be at least 40, got {rows}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = _exposures(rows, np.random.default_rng(seed))
    train, test = np.arange(rows) < rows * 3 // 4, np.arange(rows) >= rows * 3 // 4
    if fmt == "aitm":
        dev = train & (np.arange(rows) >= rows * 5 // 8)
        columns = [*LABELS, *AITM_FIELDS]
        _write_csv(folder / "ctr_cvr.train", data, columns, train & ~dev, header=True)
        _write_csv(folder / "ctr_cvr.dev", data, columns, dev, header=True)
        _write_csv(folder / "ctr_cvr.test", data, columns, test, header=False)
    elif fmt == "torch-rechub":
        valid = train & (np.arange(rows) >= rows * 5 // 8)
        columns = [*LABELS, *RECHUB_IDS, *RECHUB_VALUES]
        for name, rows_of in (("train", train & ~valid), ("val", valid), ("test", test)):
            _write_csv(folder / f"ali_ccp_{name}.csv", data, columns, rows_of, header=True)
    else:
        for name, rows_of in (("train", train), ("test", test)):
            (folder / name).mkdir(exist_ok=True)
            _write_tokens(folder / name / "small.txt", data, rows_of)
    return folder


def _exposures(rows: int, rng: np.random.Generator) -> dict:
    """Codes of every field, number columns, bags and labels of `rows` exposures."""
    users, items, categories = 60, 40, 12
    user = rng.integers(0, users, rows)
    item = rng.integers(0, items, rows)
    item_category = rng.integers(0, categories, items)[item]
    liked = [rng.choice(categories, rng.integers(0, 6), replace=False) for _ in range(users)]
    in_bag = np.array([c in liked[u] for u, c in zip(user, item_category, strict=True)])
    user_bias, item_bias = rng.normal(0, 1.5, users)[user], rng.normal(0, 1.5, items)[item]
    click = rng.random(rows) < 1 / (1 + np.exp(-(-1.6 + user_bias + item_bias + 2.0 * in_bag)))
    buy = 1 / (1 + np.exp(-(-1.0 + rng.normal(0, 1.5, categories)[item_category])))
    purchase = click & (rng.random(rows) < buy)
    data: dict = {"click": click.astype(int), "purchase": purchase.astype(int), "bags": {}}
    for k, name in enumerate(RECHUB_IDS):  # every id field: a code, offset per field
        base = 10_000 * (k + 1)
        if name == "101":
            data[name] = base + user
        elif name == "205":
            data[name] = base + item
        elif name == "206":
            data[name] = base + item_category
        else:
            data[name] = base + rng.integers(0, 10, rows)
    for name in RECHUB_VALUES:
        data[name] = np.round(rng.random(rows), 4)
    bags = data["bags"]  # PaddleRec's lines: every id of a multi-valued field
    bags["150_14"] = [(900_000 + liked[u]).tolist() for u in user]
    for name in PADDLEREC_BAGS[:-1]:
        bags[name] = [(rng.integers(0, 50, rng.integers(0, 4)) + 800_000).tolist() for _ in user]
    return data


def _write_csv(path: Path, data: dict, columns: list[str], rows: np.ndarray, header: bool) -> None:
    lines = [",".join(columns)] if header else []
    table = np.column_stack([np.asarray(data[c], dtype=object)[rows] for c in columns])
    lines += [",".join(map(str, row)) for row in table]
    path.write_text("\n".join(lines) + "\n")


def _write_tokens(path: Path, data: dict, rows: np.ndarray) -> None:
    singles = [f for f in RECHUB_IDS if f not in PADDLEREC_BAGS]
    lines = []
    for i in np.flatnonzero(rows):
        tokens = [f"{f}:{data[f][i]}" for f in singles]
        tokens += [f"{f}:{code}" for f in PADDLEREC_BAGS for code in data["bags"][f][i]]
        lines.append(",".join([str(i + 1), str(data["click"][i]), str(data["purchase"][i])]))
        lines[-1] += "," + ",".join(tokens)
    path.write_text("\n".join(lines) + "\n")
