"""Building blocks every model shares: the field embedding and the MLP tower."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from mtl_lib.data.inputs import BAGS, IDS, VALUES
from mtl_lib.data.schema import POOLINGS

#: The package every serializable object of mtl_lib registers under with Keras (layers,
#: losses, optimizers: `"mtl_lib>MLP"`), so that `.keras` files load them by name.
PACKAGE = "mtl_lib"


@keras.saving.register_keras_serializable(package=PACKAGE)
class FieldEmbedding(keras.layers.Layer):
    """Every id field looked up in one fused table, concatenated (the shared input).

    Field f owns rows `offset_f .. offset_f + vocabulary_size_f − 1` of one table of
    `Σ_f vocabulary_size_f` rows: the embedding of id `i` of field f is row `offset_f + i`.
    A batch is then one gather (and one sparse gradient update) for every field at once,
    instead of one per field; `field_table(name)` gives one field's rows. Bags
    (multi-valued fields, `mtl_lib.data.bags`) own rows of the same table: a bag's ids are
    looked up in the same gather and pooled, masked, into one vector per bag,

        e_bag = Σ_j m_j · E[offset + id_j] / max(Σ_j m_j, 1)   (mean; sum: no division)

    where `m_j` is 1 for an id and 0 for a padded slot (`PAD`, −1), so padding contributes
    nothing and an empty bag is the zero vector. K (numeric) fields are appended as they
    are. One instance is shared by all the towers of a model, so every task's gradient
    trains the same embeddings.

    Ids must lie in `[0, vocabulary_size_f)`: `mtl_lib.data` validates files and frames,
    and `mtl_lib.serving` checks served requests, before any id reaches this layer (an
    id past its field's range would read the next field's rows).

    Args:
        vocabulary_sizes: Field name → rows of its table (`n + 1` for ids `0..n`), in the
            order of the columns of `inputs["ids"]`.
        numeric: Names of numeric (K) fields, in the order of the columns of
            `inputs["values"]`, appended after the embeddings.
        embedding_dim: Width of every embedding.
        embeddings_regularizer: Optional regularizer of the table (e.g. `"l2"`).
        bags: Bag name → `{"rows": n + 1, "length": L, "pooling": "mean" or "sum"}`, in
            the order of the blocks of `inputs["bags"]` (`Schema.bags`).

    Call args:
        inputs: `{"ids": (batch, len(vocabulary_sizes)) int ids}`, plus
            `"bags": (batch, Σ L) int ids, −1 for padding` with bags and
            `"values": (batch, len(numeric))` floats with K fields (the form
            `mtl_lib.data.make_dataset` yields).

    Returns:
        `(batch, (len(vocabulary_sizes) + len(bags)) * embedding_dim + len(numeric))`
        floats: the single fields' embeddings, then each bag's pooled one, then K values.

    Example:
        >>> layer = FieldEmbedding({"city": 301, "age": 11}, embedding_dim=4)
        >>> layer({"ids": ops.array([[1, 0], [2, 3]])}).shape
        (2, 8)
        >>> layer.field_table("age").shape
        (11, 4)
    """

    def __init__(
        self,
        vocabulary_sizes: Mapping[str, int],
        numeric: Sequence[str] = (),
        embedding_dim: int = 8,
        embeddings_regularizer: str | keras.regularizers.Regularizer | None = None,
        bags: Mapping[str, Mapping] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if embedding_dim < 1:
            raise ValueError(f"embedding_dim must be >= 1, got {embedding_dim}")
        if not vocabulary_sizes:
            raise ValueError("FieldEmbedding needs at least one id field")
        small = {k: v for k, v in vocabulary_sizes.items() if int(v) < 1}
        if small:
            name, size = next(iter(small.items()))
            raise ValueError(f"field {name!r}: a table needs at least one row, got {size}")
        self.vocabulary_sizes = {name: int(size) for name, size in vocabulary_sizes.items()}
        self.numeric = tuple(numeric)
        self.embedding_dim = embedding_dim
        self.embeddings_regularizer = keras.regularizers.get(embeddings_regularizer)
        self.bags = {name: _checked_bag(name, spec) for name, spec in (bags or {}).items()}
        tables = {**self.vocabulary_sizes, **{n: b["rows"] for n, b in self.bags.items()}}
        if len(tables) < len(self.vocabulary_sizes) + len(self.bags):
            raise ValueError("a bag has the name of a single-valued id field")
        sizes = np.array(list(tables.values()), dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype("int32")
        #: Row of each field's id 0 in the fused table (single fields, then bags).
        self.table_offsets = dict(zip(tables, starts.tolist(), strict=True))
        #: Row of each single field's id 0, in the order of the columns of `inputs["ids"]`.
        self.offsets = starts[: len(self.vocabulary_sizes)]
        # With bags, one more row: where padded slots look (their weight is 0).
        self.total_rows = int(sizes.sum()) + (1 if self.bags else 0)
        if self.bags:
            lengths = [b["length"] for b in self.bags.values()]
            #: Per column of `inputs["bags"]`: the row of its bag's id 0.
            self.bag_offsets = np.repeat(starts[len(self.vocabulary_sizes) :], lengths)
            #: `(Σ L, bags)`: 1 where a column belongs to a bag (the pooling's sum).
            self.bag_membership = np.repeat(np.eye(len(lengths), dtype="float32"), lengths, 0)
            self.bag_means = np.array(
                [b["pooling"] == "mean" for b in self.bags.values()], dtype=bool
            )

    @property
    def output_dim(self) -> int:
        """Width of the concatenated output."""
        fields = len(self.vocabulary_sizes) + len(self.bags)
        return fields * self.embedding_dim + len(self.numeric)

    def build(self, input_shape: Mapping[str, tuple]) -> None:
        self.embeddings = self.add_weight(
            shape=(self.total_rows, self.embedding_dim),
            initializer="uniform",  # U(−0.05, 0.05), as keras.layers.Embedding
            regularizer=self.embeddings_regularizer,
            name="embeddings",
        )

    def call(self, inputs: Mapping[str, keras.KerasTensor]) -> keras.KerasTensor:
        rows = ops.cast(inputs[IDS], "int32") + self.offsets  # (batch, fields)
        # (batch, fields, dim): one gather, straight from the variable. `ops.take` would
        # first read the whole table into a tensor, a copy of every row at every step:
        # with Ali-CCP's 2.3M rows that read, not the model, set the pace (19,000 against
        # 220,000 rows/s with `LazyAdam`, benchmarks/full_size.py). The TensorFlow
        # backend is the only one mtl_lib runs on (its input pipeline is tf.data).
        table = self.embeddings.value
        vectors = tf.gather(table, rows)
        x = [ops.reshape(vectors, (-1, len(self.vocabulary_sizes) * self.embedding_dim))]
        if self.bags:
            x.append(self._pool_bags(table, ops.cast(inputs[BAGS], "int32")))
        if self.numeric:
            x.append(ops.cast(inputs[VALUES], self.compute_dtype))
        return ops.concatenate(x, axis=-1) if len(x) > 1 else x[0]

    def _pool_bags(self, table: tf.Tensor, ids: keras.KerasTensor) -> keras.KerasTensor:
        """Each bag's pooled embedding, `(batch, bags * dim)`, padded slots masked out."""
        present = ids >= 0  # (batch, Σ L)
        rows = ops.where(present, ids + self.bag_offsets, self.total_rows - 1)
        weights = ops.cast(present, self.compute_dtype)
        vectors = tf.gather(table, rows) * weights[..., None]  # (batch, Σ L, dim)
        membership = ops.convert_to_tensor(self.bag_membership, self.compute_dtype)
        pooled = ops.einsum("bwd,wk->bkd", vectors, membership)  # Σ_j m_j e_j per bag
        counts = ops.matmul(weights, membership)  # (batch, bags): ids per bag
        scale = ops.where(self.bag_means, 1.0 / ops.maximum(counts, 1.0), 1.0)
        pooled = pooled * ops.cast(scale, self.compute_dtype)[..., None]
        return ops.reshape(pooled, (-1, len(self.bags) * self.embedding_dim))

    def field_table(self, name: str) -> np.ndarray:
        """One field's embedding rows, `(vocabulary_sizes[name], embedding_dim)`: row i is id i.

        Raises:
            KeyError: if `name` is not an id field of this layer.
        """
        if name not in self.table_offsets:
            raise KeyError(f"no id field {name!r}; the fields are {list(self.table_offsets)}")
        start = self.table_offsets[name]
        rows = self.bags[name]["rows"] if name in self.bags else self.vocabulary_sizes[name]
        table = ops.convert_to_numpy(self.embeddings)
        return table[start : start + rows]

    def compute_output_shape(self, input_shape: Mapping[str, tuple]) -> tuple:
        return (input_shape[IDS][0], self.output_dim)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "vocabulary_sizes": self.vocabulary_sizes,
            "numeric": list(self.numeric),
            "embedding_dim": self.embedding_dim,
            "embeddings_regularizer": keras.regularizers.serialize(self.embeddings_regularizer)
            if self.embeddings_regularizer
            else None,
            "bags": {name: dict(spec) for name, spec in self.bags.items()},
        }


def _checked_bag(name: str, spec: Mapping) -> dict:
    """A bag's `{"rows", "length", "pooling"}`, checked."""
    rows, length, pooling = spec.get("rows"), spec.get("length"), spec.get("pooling", "mean")
    if not isinstance(rows, int) or rows < 1 or not isinstance(length, int) or length < 1:
        raise ValueError(
            f"bag {name!r}: rows and length must be positive integers, got {dict(spec)}"
        )
    if pooling not in POOLINGS:
        raise ValueError(f"bag {name!r}: pooling must be one of {POOLINGS}, got {pooling!r}")
    return {"rows": rows, "length": length, "pooling": pooling}


def checked_units(units: Sequence[int], dropout: float) -> tuple[int, ...]:
    """An MLP's layer widths as a tuple, after checking them and its dropout rate.

    Raises:
        ValueError: if `units` is empty or holds a width below 1, or `dropout` is outside
            [0, 1).
    """
    widths = tuple(int(u) for u in units)
    if not widths or min(widths) < 1:
        raise ValueError(f"units must be a non-empty sequence of positive widths, got {units}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    return widths


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
        self.units = checked_units(units, dropout)
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
