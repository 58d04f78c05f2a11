"""What every builder shares: inputs from a schema, the shared embedding, output names."""

from __future__ import annotations

import keras

from mtl_lib.data.schema import Schema
from mtl_lib.layers import FieldEmbedding


def conditional_name(step: str, previous: str) -> str:
    """Output name of P(step | previous, x), e.g. `purchase_given_click` (ESMM's pCVR)."""
    return f"{step}_given_{previous}"


def feature_inputs(schema: Schema) -> dict[str, keras.KerasTensor]:
    """One scalar `keras.Input` per feature: int32 ids (C/D), float32 values (K).

    Returns:
        Field name → input of shape `(batch,)`, matching `mtl_lib.data.make_dataset`.
    """
    return {
        f.name: keras.Input(shape=(), dtype="int32" if f.embedded else "float32", name=f.name)
        for f in schema.fields
    }


def shared_embedding(
    schema: Schema,
    inputs: dict[str, keras.KerasTensor],
    embedding_dim: int,
    name: str = "shared_embedding",
) -> keras.KerasTensor:
    """Embed every field with its own table and concatenate: `(batch, fields * dim)`."""
    layer = FieldEmbedding(schema.vocabulary_sizes, schema.numeric_names, embedding_dim, name=name)
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
