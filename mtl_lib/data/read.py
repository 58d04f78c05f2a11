"""Reading funnel data files into pandas and into batched `tf.data` pipelines.

Small files (and data frames) are validated, held in memory and sliced; large files are
validated in chunks, decoded once into a binary spill file and streamed from it a block at
a time, so memory stays bounded whatever the file's size. Both paths give the same rows, in
the same order when not shuffled.

One module, long (about 500 lines), because the two paths must give the same rows in the
same order: their shared checks and the order they share are easier to keep equal side by
side.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from mtl_lib.data.bags import PAD
from mtl_lib.data.inputs import BAGS, IDS, VALUES, bag_width, to_inputs
from mtl_lib.data.schema import BAG_SEPARATOR, Schema
from mtl_lib.data.validate import (
    check_header,
    inconsistent_rows,
    iter_validated_chunks,
    read_header,
    validate_file,
    validate_frame,
)

MEMORY_LIMIT_BYTES = 256 * 2**20
"""Files smaller than this on disk are read into memory by `make_dataset` (`cache=None`)."""

ORIGINAL_SPLIT_PREFIX = "sample_"
"""The original project names its splits `sample_train.csv`, `sample_valid.csv`, ..."""

SHUFFLE_BUFFER = 100_000
"""Rows mixed together when streaming a large file: the window permuted at once, and the
span of the buffer its blocks are drawn from."""

STREAM_PREFETCH = 4
"""Decoded batches a stream reads ahead of training."""

SPILL_BLOCK_ROWS = 1024
"""Rows per block read from a stream's spill file (the unit of its block shuffle)."""

SPILL_DECODE_LINES = 4096
"""Lines decoded at a time when a stream's file is decoded into its spill file."""

Features = dict[str, tf.Tensor]
Labels = dict[str, tf.Tensor]


def read_frame(
    path: str | Path, schema: Schema, *, drop_inconsistent: bool = False
) -> pd.DataFrame:
    """Read and validate a whole data file into memory (for small splits and evaluation).

    Args:
        path: A CSV file, or a gzip-compressed one ending in `.gz`.
        schema: Features, steps and truth columns expected.
        drop_inconsistent: Drop funnel-inconsistent rows (with a `UserWarning` saying how
            many) instead of raising.

    Returns:
        One row per example, with the schema columns present in the file in
        `schema.columns` order: C/D as int32, steps as int8, K and truth as float32.

    Raises:
        ValueError: naming the file, column, first offending row and value.

    Example:
        >>> frame = read_frame("data/train.csv.gz", schema)  # doctest: +SKIP
        >>> frame[list(schema.steps)].mean()  # doctest: +SKIP
    """
    frame, dropped = _read_frame(path, schema, drop_inconsistent)
    _warn_dropped(path, dropped, len(frame) + dropped)
    return frame


def make_dataset(
    source: str | Path | pd.DataFrame,
    schema: Schema,
    *,
    batch_size: int = 1024,
    shuffle: bool = False,
    seed: int | None = None,
    cache: bool | None = None,
    drop_inconsistent: bool = False,
    validate: bool = True,
    drop_remainder: bool = False,
    shuffle_buffer: int = SHUFFLE_BUFFER,
    truth: bool = False,
) -> tf.data.Dataset:
    """A batched, prefetched `tf.data.Dataset` of `(features, labels)` from a data file.

    Args:
        source: A CSV file (`.csv` or `.csv.gz`) or a data frame with the schema's columns;
            other columns are ignored.
        schema: Features and funnel steps to read.
        batch_size: Examples per batch.
        shuffle: Shuffle the examples, anew at each iteration (epoch).
        seed: Shuffle seed; the same seed gives the same order.
        cache: `True` holds the data in memory and shuffles it fully; `False` decodes the
            file once into a spill file on disk and streams it with a shuffle buffer of
            `shuffle_buffer` rows (see `SPILL_BLOCK_ROWS`); `None` holds files
            smaller than `MEMORY_LIMIT_BYTES` on disk (and data frames) in memory.
        drop_inconsistent: Drop funnel-inconsistent rows (a step is 1 while an earlier step
            is 0) instead of raising; a `UserWarning` says how many when they are counted.
        validate: Check the data first (see `mtl_lib.data.validate`). With `False` a
            malformed file fails when streamed or loaded, with a less helpful error.
        drop_remainder: Drop the last, smaller batch.
        shuffle_buffer: Rows mixed together when streaming (see `_stream`).
        truth: Also carry the schema's truth columns (`true_p_click`, ...) as labels, each
            `(batch, 1)` float32: for a loss that reads the true click probability (an
            oracle control on synthetic data). Needs the data in memory.

    Returns:
        A dataset of `(features, labels)`: `features` is the models' input (see
        `mtl_lib.data.inputs`), `{"ids": (batch, C/D fields) int32}` plus
        `"values": (batch, K fields) float32` when there are K fields, columns in schema
        order; `labels` maps each step (and with `truth`, each truth column) to a float32
        tensor of shape `(batch, 1)`.

    Raises:
        ValueError: if validation fails (naming the file, column, row and value) or an
            argument is out of range.

    Example:
        >>> ds = make_dataset("data/train.csv.gz", schema, batch_size=512,
        ...                   shuffle=True, seed=0)  # doctest: +SKIP
        >>> features, labels = next(iter(ds))  # doctest: +SKIP
        >>> labels["click"].shape, features["ids"].shape  # doctest: +SKIP
        (TensorShape([512, 1]), TensorShape([512, 25]))
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if shuffle_buffer < 1:
        raise ValueError(f"shuffle_buffer must be >= 1, got {shuffle_buffer}")
    batching = {"batch_size": batch_size, "drop_remainder": drop_remainder}
    if isinstance(source, pd.DataFrame):
        if validate:
            frame, dropped = validate_frame(
                source, schema, source="<DataFrame>", drop_inconsistent=drop_inconsistent
            )
        else:
            check_header([str(c) for c in source.columns], schema, "<DataFrame>")
            frame, dropped = _unchecked(source, schema, drop_inconsistent)
        _warn_dropped("<DataFrame>", dropped, len(source))
        labels = _label_columns(frame, schema, truth, "<DataFrame>")
        return _from_frame(frame, schema, labels, shuffle=shuffle, seed=seed, **batching)

    path = Path(source)
    header = read_header(path)
    in_memory = cache if cache is not None else path.stat().st_size < MEMORY_LIMIT_BYTES
    if in_memory:
        if validate:
            frame, dropped = _read_frame(path, schema, drop_inconsistent)
        else:
            columns = check_header(header, schema, str(path))
            raw = pd.read_csv(
                path, usecols=columns, encoding="utf-8-sig", encoding_errors="replace"
            )
            frame, dropped = _unchecked(raw, schema, drop_inconsistent)
        _warn_dropped(path, dropped, len(frame) + dropped)
        labels = _label_columns(frame, schema, truth, str(path))
        return _from_frame(frame, schema, labels, shuffle=shuffle, seed=seed, **batching)
    if truth:
        raise ValueError(
            f"{path}: truth labels need the data in memory; pass cache=True to make_dataset"
        )

    check_header(header, schema, str(path))
    if validate:
        report = validate_file(path, schema, drop_inconsistent=drop_inconsistent)
        _warn_dropped(path, report.dropped, report.rows + report.dropped)
    return _stream(
        path,
        schema,
        header,
        shuffle=shuffle,
        seed=seed,
        shuffle_buffer=shuffle_buffer,
        drop_inconsistent=drop_inconsistent,
        **batching,
    )


def split_path(folder: str | Path, split: str) -> Path:
    """The file of split `split` (e.g. `"train"`) in a data folder.

    The project's `<split>.csv.gz` or `<split>.csv` is taken first, then the original
    project's `sample_<split>.csv.gz` or `sample_<split>.csv`.

    Raises:
        ValueError: if the folder holds none of these files.

    Example:
        >>> split_path("data/funnel", "test").name
        'test.csv.gz'
    """
    folder = Path(folder)
    for prefix in ("", ORIGINAL_SPLIT_PREFIX):
        for name in (f"{prefix}{split}.csv.gz", f"{prefix}{split}.csv"):
            if (folder / name).is_file():
                return folder / name
    raise ValueError(
        f"{folder}: no {split}.csv.gz or {split}.csv (nor the original project's "
        f"{ORIGINAL_SPLIT_PREFIX}{split}.csv) in this data folder"
    )


# ------------------------------------------------------------------------------ helpers
def _read_frame(
    path: str | Path, schema: Schema, drop_inconsistent: bool
) -> tuple[pd.DataFrame, int]:
    """The validated file and the number of funnel-inconsistent rows dropped."""
    chunks, dropped = [], 0
    for clean, chunk_dropped in iter_validated_chunks(
        path, schema, drop_inconsistent=drop_inconsistent
    ):
        chunks.append(clean)
        dropped += chunk_dropped
    return pd.concat(chunks, ignore_index=True), dropped


def _unchecked(
    frame: pd.DataFrame, schema: Schema, drop_inconsistent: bool
) -> tuple[pd.DataFrame, int]:
    """Features and steps cast without checks; inconsistent rows dropped if asked."""
    columns = {
        f.name: object if f.bag else np.int32 if f.embedded else np.float32 for f in schema.fields
    }
    columns |= dict.fromkeys(schema.steps, np.int8)
    columns |= {c: np.float32 for c in schema.truth if c in frame.columns}
    clean = pd.DataFrame({c: frame[c].to_numpy(dtype=t) for c, t in columns.items()})
    bad = inconsistent_rows(clean[list(schema.steps)].to_numpy())
    if drop_inconsistent and bad.any():
        return clean.loc[~bad].reset_index(drop=True), int(bad.sum())
    return clean, 0


def _warn_dropped(source: str | Path, dropped: int, total: int) -> None:
    """Warn of dropped rows, at the caller's line: the first frame outside `mtl_lib`.

    So `read_frame` warns at its caller's line, and `mtl_lib.experiment.Splits.load`,
    which calls it, at its own caller's.
    """
    if dropped:
        warnings.warn(
            f"{source}: dropped {dropped} of {total} rows that are funnel-inconsistent "
            "(a step is 1 while an earlier step is 0)",
            UserWarning,
            stacklevel=_outside_package(),
        )


def _outside_package() -> int:
    """`stacklevel` for a `warnings.warn` in the caller: the first frame outside `mtl_lib`.

    That is the user's line, however deep in the library the call is.
    """
    package = str(Path(__file__).resolve().parent.parent) + os.sep  # the mtl_lib folder
    frame, level = sys._getframe(2), 1  # the warning function's caller: stacklevel 2
    while frame is not None:
        level += 1
        if not str(Path(frame.f_code.co_filename).resolve()).startswith(package):
            return level
        frame = frame.f_back
    return level


def _label_columns(frame: pd.DataFrame, schema: Schema, truth: bool, source: str) -> list[str]:
    """The steps, then (with `truth`) the schema's truth columns, which must be there."""
    if not truth:
        return list(schema.steps)
    if not schema.truth:
        raise ValueError(f"{source}: truth labels asked for, but the schema has no truth columns")
    missing = [c for c in schema.truth if c not in frame.columns]
    if missing:
        raise ValueError(f"{source}: no column {missing[0]!r} for the truth labels")
    return [*schema.steps, *schema.truth]


def _from_frame(
    frame: pd.DataFrame,
    schema: Schema,
    steps: list[str],
    *,
    batch_size: int,
    shuffle: bool,
    seed: int | None,
    drop_remainder: bool,
) -> tf.data.Dataset:
    """In-memory pipeline: batches gathered from whole-split matrices, fully shuffled if asked.

    The columns are held as one row-major matrix per kind (ids, K values, labels). Each
    epoch draws one permutation of the row indices (one vectorised op, seeded anew at
    every iteration from `seed`), cuts it into contiguous slices of `batch_size` and
    gathers each batch's rows at once: a handful of ops per batch whatever the number of
    fields, and no per-example work in the pipeline.
    """
    rows = len(frame)
    blocks = to_inputs(frame, schema)
    labels = tf.constant(frame[steps].to_numpy(dtype=np.float32).reshape(rows, len(steps)))
    blocks = {key: tf.constant(block) for key, block in blocks.items()}

    def gather(index: tf.Tensor) -> tuple[Features, Labels]:
        features = {key: tf.gather(block, index) for key, block in blocks.items()}
        columns = tf.split(tf.gather(labels, index), len(steps), axis=1)
        return features, dict(zip(steps, columns, strict=True))

    batches = rows // batch_size if drop_remainder else -(-rows // batch_size)
    starts = tf.data.Dataset.range(0, batches * batch_size, batch_size)
    if shuffle:
        # One scalar seed per iteration (epoch), a fixed sequence for a given `seed`.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)

        def epoch(draw: tf.Tensor) -> tf.data.Dataset:
            order = _permutation(rows, draw, stream=0)
            return starts.map(lambda s: order[s : s + batch_size])

        index = seeds.flat_map(epoch)
    else:
        index = starts.map(lambda s: tf.range(s, tf.minimum(s + batch_size, rows)))
    if drop_remainder:  # every batch is full: say so in the static shape, as `batch` does
        index = index.map(lambda i: tf.ensure_shape(i, (batch_size,)))
    ds = index.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    # The number of batches is known: Keras (and `fit`) can then size an epoch without a pass.
    ds = ds.apply(tf.data.experimental.assert_cardinality(batches))
    return ds.prefetch(tf.data.AUTOTUNE)


def _permutation(n: int | tf.Tensor, draw: tf.Tensor, stream: int) -> tf.Tensor:
    """A random order of `range(n)`, int64, fixed by the scalar int64 `draw` and `stream`."""
    return tf.random.experimental.stateless_shuffle(
        tf.range(tf.cast(n, tf.int64)), seed=tf.stack([draw, tf.constant(stream, tf.int64)])
    )


def _stream(
    path: Path,
    schema: Schema,
    header: list[str],
    *,
    batch_size: int,
    shuffle: bool,
    seed: int | None,
    shuffle_buffer: int,
    drop_inconsistent: bool,
    drop_remainder: bool,
) -> tf.data.Dataset:
    """Streaming pipeline: the file decoded once into a spill file, then read a block at a time.

    Decoding text costs a few microseconds of CPU per row, taken from the cores that train
    at every epoch, so it is done once, when the dataset is made: the file's lines are
    decoded a batch at a time and written as rows of 32-bit words (ids, K values, steps) to
    a spill file in the temporary directory (`tempfile`, so `TMPDIR`), about as large as
    the uncompressed file. Each epoch then reads fixed-size blocks of `SPILL_BLOCK_ROWS`
    rows, draws them at random from a buffer of `shuffle_buffer` rows' worth of blocks,
    permutes the rows of each window of `shuffle_buffer` rows at once, and cuts batches: a
    few ops per block whatever the file's size, and memory bounded by the shuffle buffer.
    The spill file is deleted with the dataset (or, if the dataset cannot be made, at once),
    and on Linux also when the process ends, however it ends (see `_open_spill`).
    """
    spill, rows, remove = _write_spill(path, schema, header, drop_inconsistent)
    try:
        ds = _read_spill(
            spill,
            rows,
            schema,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            shuffle_buffer=shuffle_buffer,
            drop_remainder=drop_remainder,
        )
    except BaseException:
        remove()
        raise
    weakref.finalize(ds, remove)
    return ds


def _read_spill(
    spill: str,
    rows: int,
    schema: Schema,
    *,
    batch_size: int,
    shuffle: bool,
    seed: int | None,
    shuffle_buffer: int,
    drop_remainder: bool,
) -> tf.data.Dataset:
    """Batches of `(features, labels)` from a spill file of `rows` rows (see `_write_spill`)."""
    ids = [f.name for f in schema.embedded_fields]
    bags = bag_width(schema)
    values = list(schema.numeric_names)
    steps = list(schema.steps)
    width = len(ids) + bags + len(values) + len(steps)

    def block(index: tf.Tensor, record: tf.Tensor) -> tf.Tensor:
        words = tf.reshape(tf.io.decode_raw(record, tf.int32), (SPILL_BLOCK_ROWS, width))
        return words[
            : tf.minimum(tf.constant(SPILL_BLOCK_ROWS, tf.int64), rows - index * SPILL_BLOCK_ROWS)
        ]

    def split(words: tf.Tensor) -> tuple[Features, Labels]:
        at = np.cumsum([len(ids), bags, len(values)])
        features = {IDS: words[:, : at[0]]}
        if bags:
            features[BAGS] = words[:, at[0] : at[1]]
        if values:
            features[VALUES] = tf.bitcast(words[:, at[1] : at[2]], tf.float32)
        labels = tf.bitcast(words[:, at[2] :], tf.float32)
        return features, dict(zip(steps, tf.split(labels, len(steps), axis=1), strict=True))

    record = SPILL_BLOCK_ROWS * width * 4
    ds = tf.data.FixedLengthRecordDataset(spill, record).enumerate()
    if shuffle:
        blocks = max(1, shuffle_buffer // SPILL_BLOCK_ROWS)
        ds = ds.shuffle(blocks, seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(block, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if shuffle:
        # One permutation of each window's rows, seeded anew at every window and epoch.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)

        def permute(words: tf.Tensor, draw: tf.Tensor) -> tf.Tensor:
            return tf.gather(words, _permutation(tf.shape(words)[0], draw, stream=1))

        ds = tf.data.Dataset.zip(ds.rebatch(shuffle_buffer), seeds).map(permute)
    ds = ds.rebatch(batch_size, drop_remainder=drop_remainder).map(split)
    # A fixed prefetch depth, not AUTOTUNE, whose buffers may grow as training goes on: the
    # memory of a stream then depends on the shuffle buffer and batch size, not on the file.
    return ds.prefetch(STREAM_PREFETCH)


def _write_spill(
    path: Path, schema: Schema, header: list[str], drop_inconsistent: bool
) -> tuple[str, int, Callable[[], None]]:
    """Decode a data file once into a spill file of 32-bit words (see `_open_spill`).

    Each row is its ids (int32), bags (int32, each padded to its length with `PAD`), K
    values (float32) and steps (float32, 0 or 1), in schema order, as raw little-endian
    words; the file is padded with zero rows to whole blocks of `SPILL_BLOCK_ROWS`. Lines
    are read with `TextLineDataset` and decoded with `decode_csv` a batch at a time, so
    memory stays bounded whatever the file's size.

    Returns:
        The name to read the spill file by, its rows, and the function that removes it.
    """
    wanted = set(schema.feature_names + schema.steps)
    select_cols = [i for i, name in enumerate(header) if name in wanted]
    names = [header[i] for i in select_cols]
    # Ids and K values are parsed as float64, as pandas does, then cast: `3.0` is a valid id
    # and K values round to float32 exactly as on the in-memory path.
    bags = {f.name: f.length for f in schema.bag_fields}
    # A bag's cell is text (`3|17`, or empty for an empty bag).
    defaults = [
        tf.constant([""])
        if name in bags
        else tf.constant([], tf.float32 if name in schema.steps else tf.float64)
        for name in names
    ]
    ids = [f.name for f in schema.embedded_fields]
    values, steps = list(schema.numeric_names), list(schema.steps)

    def padded(cells: tf.Tensor, length: int) -> tf.Tensor:
        tokens = tf.strings.split(tf.strings.strip(cells), BAG_SEPARATOR)
        tokens = tf.ragged.boolean_mask(tokens, tf.strings.length(tokens) > 0)
        numbers = tf.cast(tf.strings.to_number(tokens, tf.float64), tf.int32)
        return numbers.to_tensor(default_value=PAD, shape=(None, length))

    def decode(lines: tf.Tensor) -> tf.Tensor:
        lines = tf.boolean_mask(lines, tf.strings.length(lines) > 0)  # blank lines
        columns = dict(
            zip(names, tf.io.decode_csv(lines, defaults, select_cols=select_cols), strict=True)
        )
        words = [tf.cast(tf.stack([columns[n] for n in ids], axis=1), tf.int32)]
        words += [padded(columns[n], length) for n, length in bags.items()]
        if values:
            k = tf.cast(tf.stack([columns[n] for n in values], axis=1), tf.float32)
            words.append(tf.bitcast(k, tf.int32))
        labels = tf.stack([columns[s] for s in steps], axis=1)
        words.append(tf.bitcast(labels, tf.int32))
        words = tf.concat(words, axis=1)
        if drop_inconsistent and len(steps) > 1:
            keep = tf.logical_not(tf.reduce_any(labels[:, 1:] > labels[:, :-1], axis=1))
            words = tf.boolean_mask(words, keep)
        return words

    compression = "GZIP" if path.name.endswith(".gz") else ""
    lines = tf.data.TextLineDataset(str(path), compression_type=compression).skip(1)
    decoded = lines.batch(SPILL_DECODE_LINES).map(
        decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    handle, spill, remove = _open_spill()
    rows = 0
    try:
        with os.fdopen(handle, "wb", closefd=False) as out:
            for words in decoded.prefetch(2):
                block = words.numpy().astype("<i4", copy=False)
                out.write(block.tobytes())
                rows += len(block)
            width = len(ids) + sum(bags.values()) + len(values) + len(steps)
            out.write(bytes(4 * width * (-rows % SPILL_BLOCK_ROWS)))
    except BaseException:
        remove()
        raise
    return spill, rows, remove


def _open_spill() -> tuple[int, str, Callable[[], None]]:
    """A new, empty spill file: its descriptor, the name to read it by, and its removal.

    Where the system shows a process's descriptors as `/proc/self/fd/<n>` (Linux), the file
    is unlinked at once and read through its descriptor: it has no name left behind, and
    the system frees it when the descriptor is closed or the process ends, however it ends
    (a killed notebook kernel runs no finalizer). Elsewhere it keeps its name in the
    temporary directory until removed.
    """
    handle, name = tempfile.mkstemp(prefix="mtl_stream_", suffix=".bin")
    by_descriptor = f"/proc/self/fd/{handle}"
    if os.path.exists(by_descriptor):
        os.unlink(name)
        return handle, by_descriptor, functools.partial(os.close, handle)

    def remove() -> None:
        os.close(handle)
        Path(name).unlink(missing_ok=True)

    return handle, name, remove
