"""The form in which features reach a model: one id matrix, one bag matrix, one value matrix.

Files, frames, the `Schema` and the serving signature are keyed by field name; a model
takes every id field at once as one integer matrix (looked up in one fused embedding
table, `mtl_lib.layers.FieldEmbedding`) and every K field as one float matrix. One tensor
per kind instead of one per field is what makes a training step cheap: the per-op and
per-tensor costs of TensorFlow, not the arithmetic, dominate a small model's step.

    inputs = mtl.data.to_inputs(frame, schema)   # {"ids": (rows, 25) int32}
    model(inputs)                                 # or model.predict(inputs)

Bags (multi-valued id fields, `mtl_lib.data.bags`) come as one more matrix, every bag
padded to its length and the bags side by side.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from mtl_lib.data.bags import parse_bags
from mtl_lib.data.schema import Schema

IDS = "ids"
"""Input key of the id matrix `(batch, len(schema.embedded_fields))`, int32, columns in
the order of `schema.embedded_fields`."""

VALUES = "values"
"""Input key of the K-value matrix `(batch, len(schema.numeric_names))`, float32, present
only when the schema has K fields."""

BAGS = "bags"
"""Input key of the bag matrix `(batch, Σ length)`, int32: each of `schema.bag_fields` in
turn, padded to its length with `mtl_lib.data.bags.PAD` (−1); present only with bags."""


def input_names(schema: Schema) -> tuple[str, ...]:
    """The model input keys a schema needs: `"ids"`, then `"bags"`, `"values"` if any.

    `"bags"` comes with bag fields, `"values"` with K fields.
    """
    return (
        (IDS,)
        + ((BAGS,) if schema.bag_fields else ())
        + ((VALUES,) if schema.numeric_names else ())
    )


def bag_width(schema: Schema) -> int:
    """Columns of the bag matrix: the sum of the bags' lengths."""
    return sum(f.length for f in schema.bag_fields)


def to_inputs(
    columns: pd.DataFrame | Mapping[str, np.ndarray], schema: Schema
) -> dict[str, np.ndarray]:
    """Stack a frame's (or a dict's) feature columns into a model's input matrices.

    Args:
        columns: A data frame or mapping holding every feature of `schema` (other columns
            are ignored), already validated (see `mtl_lib.data.validate_frame`).
        schema: The features to stack.

    Returns:
        `{"ids": (rows, fields) int32}`, plus `"bags": (rows, Σ length) int32` with bags
        and `"values": (rows, K) float32` with K fields.

    Raises:
        ValueError: naming the first feature that `columns` lacks.

    Example:
        >>> inputs = to_inputs(frame, schema)  # doctest: +SKIP
        >>> inputs["ids"].shape  # doctest: +SKIP
        (100000, 25)
    """
    missing = [name for name in schema.feature_names if name not in columns]
    if missing:
        raise ValueError(f"no column {missing[0]!r} among the features given")
    ids = [f.name for f in schema.embedded_fields]
    inputs = {IDS: _stack(columns, ids, np.int32)}
    if schema.bag_fields:
        inputs[BAGS] = np.concatenate(
            [parse_bags(pd.Series(columns[f.name], name=f.name), f) for f in schema.bag_fields],
            axis=1,
        )
    if schema.numeric_names:
        inputs[VALUES] = _stack(columns, schema.numeric_names, np.float32)
    return inputs


def _stack(columns, names, dtype) -> np.ndarray:
    if isinstance(columns, pd.DataFrame):
        return columns[list(names)].to_numpy(dtype=dtype)
    return np.stack([np.asarray(columns[n], dtype=dtype) for n in names], axis=1)
