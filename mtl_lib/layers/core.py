"""Building blocks every model shares: the field embedding and the MLP tower."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
from keras import ops

PACKAGE = "mtl_lib"


@keras.saving.register_keras_serializable(package=PACKAGE)
class FieldEmbedding(keras.layers.Layer):
    """One embedding table per id field, looked up and concatenated (the shared input).

    Every C/D field has its own table of `vocabulary_size` rows; K (numeric) fields are
    appended as they are. One instance is shared by all the towers of a model, so every
    task's gradient trains the same embeddings.

    Args:
        vocabulary_sizes: Field name → rows of its table (`n + 1` for ids `0..n`), in order.
        numeric: Names of numeric (K) fields, appended after the embeddings.
        embedding_dim: Width of every embedding.
        embeddings_regularizer: Optional regularizer of the tables (e.g. `"l2"`).

    Call args:
        inputs: Dict field name → `(batch,)` int ids (C/D) or floats (K).

    Returns:
        `(batch, len(vocabulary_sizes) * embedding_dim + len(numeric))` floats.

    Example:
        >>> layer = FieldEmbedding({"city": 301, "age": 11}, embedding_dim=4)
        >>> layer({"city": ops.array([1, 2]), "age": ops.array([0, 3])}).shape
        (2, 8)
    """

    def __init__(
        self,
        vocabulary_sizes: Mapping[str, int],
        numeric: Sequence[str] = (),
        embedding_dim: int = 8,
        embeddings_regularizer: str | keras.regularizers.Regularizer | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if embedding_dim < 1:
            raise ValueError(f"embedding_dim must be >= 1, got {embedding_dim}")
        self.vocabulary_sizes = dict(vocabulary_sizes)
        self.numeric = tuple(numeric)
        self.embedding_dim = embedding_dim
        self.embeddings_regularizer = keras.regularizers.get(embeddings_regularizer)
        self.tables = {
            name: keras.layers.Embedding(
                size,
                embedding_dim,
                embeddings_regularizer=self.embeddings_regularizer,
                name=f"embedding_{name}",
            )
            for name, size in self.vocabulary_sizes.items()
        }

    @property
    def output_dim(self) -> int:
        """Width of the concatenated output."""
        return len(self.vocabulary_sizes) * self.embedding_dim + len(self.numeric)

    def build(self, input_shape: Mapping[str, tuple]) -> None:
        for table in self.tables.values():
            table.build((None,))

    def call(self, inputs: Mapping[str, keras.KerasTensor]) -> keras.KerasTensor:
        parts = [self.tables[name](inputs[name]) for name in self.vocabulary_sizes]
        parts += [
            ops.expand_dims(ops.cast(inputs[name], self.compute_dtype), -1) for name in self.numeric
        ]
        return ops.concatenate(parts, axis=-1)

    def compute_output_shape(self, input_shape: Mapping[str, tuple]) -> tuple:
        batch = next(iter(input_shape.values()))[0]
        return (batch, self.output_dim)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "vocabulary_sizes": self.vocabulary_sizes,
            "numeric": list(self.numeric),
            "embedding_dim": self.embedding_dim,
            "embeddings_regularizer": keras.regularizers.serialize(self.embeddings_regularizer)
            if self.embeddings_regularizer
            else None,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class MLP(keras.layers.Layer):
    """A stack of dense layers: the towers, experts and transfer networks of every model.

    Args:
        units: Width of each hidden layer, e.g. `(64, 32)`; the output is the last one.
        activation: Activation of every layer.
        dropout: Dropout rate after each layer (0 for none).
        kernel_regularizer: Optional regularizer of the kernels.

    Call args:
        inputs: `(batch, features)` floats.
        training: Whether dropout is active.

    Returns:
        `(batch, units[-1])` floats.

    Example:
        >>> MLP((16, 8))(ops.ones((2, 5))).shape
        (2, 8)
    """

    def __init__(
        self,
        units: Sequence[int],
        activation: str = "relu",
        dropout: float = 0.0,
        kernel_regularizer: str | keras.regularizers.Regularizer | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.units = tuple(int(u) for u in units)
        if not self.units or min(self.units) < 1:
            raise ValueError(f"units must be a non-empty sequence of positive widths, got {units}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.activation = activation
        self.dropout = dropout
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.dense_layers = [
            keras.layers.Dense(
                u,
                activation=activation,
                kernel_regularizer=self.kernel_regularizer,
                name=f"dense_{i}",
            )
            for i, u in enumerate(self.units)
        ]
        self.dropout_layers = [keras.layers.Dropout(dropout) for _ in self.units] if dropout else []

    def build(self, input_shape: tuple) -> None:
        shape = tuple(input_shape)
        for dense in self.dense_layers:
            dense.build(shape)
            shape = (*shape[:-1], dense.units)

    def call(self, inputs: keras.KerasTensor, training: bool | None = None) -> keras.KerasTensor:
        x = inputs
        for i, dense in enumerate(self.dense_layers):
            x = dense(x)
            if self.dropout_layers:
                x = self.dropout_layers[i](x, training=training)
        return x

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*tuple(input_shape)[:-1], self.units[-1])

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "units": list(self.units),
            "activation": self.activation,
            "dropout": self.dropout,
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer)
            if self.kernel_regularizer
            else None,
        }
