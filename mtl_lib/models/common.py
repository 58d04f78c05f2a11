"""What every builder shares: inputs from a schema, the shared embedding, output names."""

from __future__ import annotations

import keras

from mtl_lib.data.inputs import BAGS, IDS, VALUES, bag_width
from mtl_lib.data.schema import Schema
from mtl_lib.layers import FieldEmbedding

#: Dimensions of each field's embedding, in every builder of the project.
DEFAULT_EMBEDDING_DIM = 8


def feature_inputs(schema: Schema) -> dict[str, keras.KerasTensor]:
    """The model's inputs: one int32 id matrix, and one float32 matrix of K values if any.

    Returns:
        `{"ids": (batch, C/D fields)}`, plus `"bags": (batch, Σ bag lengths)` with bags and
        `"values": (batch, K fields)` with K fields, matching `mtl_lib.data.make_dataset`
        and `mtl_lib.data.to_inputs`.
    """
    inputs = {IDS: keras.Input(shape=(len(schema.embedded_fields),), dtype="int32", name=IDS)}
    if schema.bag_fields:
        inputs[BAGS] = keras.Input(shape=(bag_width(schema),), dtype="int32", name=BAGS)
    if schema.numeric_names:
        inputs[VALUES] = keras.Input(
            shape=(len(schema.numeric_names),), dtype="float32", name=VALUES
        )
    return inputs


def shared_embedding(
    schema: Schema,
    inputs: dict[str, keras.KerasTensor],
    embedding_dim: int,
    name: str = "shared_embedding",
) -> keras.KerasTensor:
    """Embed every id field, pool every bag, append K values: `(batch, (fields + bags) * dim + K)`.

    One fused table holds every field's and bag's rows (`FieldEmbedding`).
    """
    layer = FieldEmbedding(
        schema.vocabulary_sizes,
        schema.numeric_names,
        embedding_dim,
        bags=schema.bags,
        name=name,
    )
    return layer(inputs)


def check_steps(schema: Schema, model: str, exactly: int | None = None) -> tuple[str, ...]:
    """The schema's steps, checked for a model that needs at least two (or exactly n)."""
    steps = schema.steps
    if exactly is not None and len(steps) != exactly:
        raise ValueError(
            f"{model} needs a funnel of exactly {exactly} steps, got {len(steps)}: {steps} "
            "(use schema.with_steps(...) to choose them)"
        )
    if len(steps) < 2:
        raise ValueError(f"{model} needs at least two funnel steps, got {steps}")
    return steps


def named_outputs(outputs: dict[str, keras.KerasTensor]) -> dict[str, keras.KerasTensor]:
    """Pass every output through an `Identity` layer named by its key.

    Keras resolves per-output losses and metrics by the name of the layer that produced each
    output, so output `click` must come from a layer called `click`.
    """
    return {key: keras.layers.Identity(name=key)(tensor) for key, tensor in outputs.items()}
