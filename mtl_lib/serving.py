"""Export a trained model for serving: a SavedModel that takes raw feature columns.

The SavedModel's `serving_default` signature takes one 1-D tensor per feature field, keyed
by the field's name (int64 ids for C/D fields, float32 values for K fields), and one 2-D
int64 tensor `(rows, length)` per bag (its ids, padded with −1), and returns
every funnel step's entire-space probability, keyed by step, each of shape `(rows,)`. It
checks its input (equal column lengths, ids within `0..n`, finite K values) and needs
neither Keras nor `mtl_lib` to run: TensorFlow Serving, or any TensorFlow program, can
load it.

A signature's input names must be Python identifiers. A field named otherwise (Ali-CCP's
`101`, `109_14`) is served as `f_` and its name with other characters as `_`
(`signature_name`: `f_101`); `assets.extra/funnel.json` records the mapping, and
`mtl.serving.load` takes the data's own names, and takes a bag as one cell per row (a list
of ids, or `"3|17"`), padding it.

path = mtl.serving.export_saved_model(model, schema, "out/esmm")
served = mtl.serving.load("out/esmm")                  # checks columns, returns NumPy
probabilities = served({"user_id": [3, 14], ...})      # {"click": (2,), "apply": (2,)}
"""

from __future__ import annotations

import json
import keyword
import re
from collections.abc import Mapping
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from numpy.typing import ArrayLike

from mtl_lib.data.bags import PAD, parse_bags
from mtl_lib.data.inputs import BAGS, IDS, VALUES, bag_width, input_names
from mtl_lib.data.schema import BAG, Field, Schema

SIGNATURE = "serving_default"
"""The signature TensorFlow Serving calls by default."""

FUNNEL_FILE = Path("assets.extra") / "funnel.json"
"""Written beside the SavedModel: the steps in funnel order, the feature columns in file
order (a signature's outputs come back sorted by name) and each column's signature name."""


def signature_name(field: str) -> str:
    """The name a field's column has in the serving signature (`"101"` → `"f_101"`).

    Its own name if that is a Python identifier, else `f_` and the name with any other
    character as `_`: TensorFlow would rename it otherwise (to `arg_101`), with a warning.
    """
    if field.isidentifier() and not keyword.iskeyword(field):
        return field
    return "f_" + re.sub(r"\W", "_", field)


def signature_names(schema: Schema) -> dict[str, str]:
    """Field name → its signature name, for every field of `schema`.

    Raises:
        ValueError: if two fields would get the same signature name.
    """
    names = {f.name: signature_name(f.name) for f in schema.fields}
    taken: dict[str, str] = {}
    for field, name in names.items():
        if name in taken:
            raise ValueError(
                f"fields {taken[name]!r} and {field!r} would both be served as {name!r}; "
                "rename one of them"
            )
        taken[name] = field
    return names


def input_signature(schema: Schema) -> dict[str, tf.TensorSpec]:
    """The served inputs: signature name → `TensorSpec`.

    `(None,)` int64 for C/D, float32 for K, and `(None, length)` int64 for a bag.
    """
    names = signature_names(schema)
    return {
        names[f.name]: tf.TensorSpec(
            (None, f.length) if f.bag else (None,),
            tf.int64 if f.embedded else tf.float32,
            name=names[f.name],
        )
        for f in schema.fields
    }


def export_saved_model(model: keras.Model, schema: Schema, path: str | Path) -> Path:
    """Write `model` as a SavedModel whose signature maps raw feature columns to each step.

    Beside it, `assets.extra/funnel.json` records the steps in funnel order and the feature
    columns (TensorFlow Serving ignores `assets.extra`).

    Args:
        model: A trained model of the project, with an output per step of `schema` (the
            entire-space probability, `(batch, 1)`); other outputs (ESMM's pCVR, AITM's
            attention) are not served.
        schema: The features the model reads and the steps it predicts.
        path: The SavedModel's folder (created, or overwritten).

    Returns:
        `path`, as a `Path`.

    Raises:
        ValueError: if the model has no output for one of the schema's steps, or no input
            for one of its features.

    Example:
        >>> export_saved_model(model, schema, "out/esmm")  # doctest: +SKIP
        >>> loaded = tf.saved_model.load("out/esmm")  # doctest: +SKIP
        >>> loaded.signatures["serving_default"](user_id=tf.constant([3], tf.int64), ...)
        ... # doctest: +SKIP
        {'click': <tf.Tensor: shape=(1,), ...>, 'purchase': <tf.Tensor: shape=(1,), ...>}
    """
    missing = [s for s in schema.steps if s not in model.output_names]
    if missing:
        raise ValueError(
            f"model {model.name!r} has no output for step {missing[0]!r}; its outputs are "
            f"{model.output_names} (a model of BASE predicts one conditional step: export "
            "a model with every step's output)"
        )
    inputs = model.input if isinstance(model.input, Mapping) else {}
    widths = {
        IDS: len(schema.embedded_fields),
        BAGS: bag_width(schema),
        VALUES: len(schema.numeric_names),
    }
    for key in input_names(schema):
        if key not in inputs or inputs[key].shape[-1] != widths[key]:
            what = {IDS: "id", BAGS: "bag", VALUES: "K"}[key]
            raise ValueError(
                f"model {model.name!r} does not take the schema's {widths[key]} {what} "
                f"columns as input {key!r}; export it with the schema it was built from"
            )
    sizes = {f.name: int(f.size) for f in schema.fields if f.embedded}
    ids, values = [f.name for f in schema.embedded_fields], list(schema.numeric_names)
    bags = [f.name for f in schema.bag_fields]
    steps = schema.steps
    served_as = signature_names(schema)

    def serve(signature_inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        features = {name: signature_inputs[served_as[name]] for name in schema.feature_names}
        rows = tf.shape(features[schema.feature_names[0]])[0]
        checks = []
        for name, column in features.items():
            checks.append(
                tf.debugging.assert_equal(
                    tf.shape(column)[0],
                    rows,
                    message=f"feature {name!r}: every column must have the same length",
                )
            )
            if name in sizes:  # an id, or a bag's ids and its padding
                low, padding = (PAD, f" ({PAD}: padding)") if name in bags else (0, "")
                checks.append(
                    tf.debugging.assert_greater_equal(
                        column,
                        tf.constant(low, tf.int64),
                        message=f"feature {name!r}: ids must be >= 0{padding}",
                    )
                )
                checks.append(
                    tf.debugging.assert_less_equal(
                        column,
                        tf.constant(sizes[name], tf.int64),
                        message=f"feature {name!r}: ids must be <= {sizes[name]} (vocab.json)",
                    )
                )
            else:  # a K value: NaN or infinity would give a NaN probability, silently
                checks.append(
                    tf.debugging.assert_equal(
                        tf.reduce_all(tf.math.is_finite(column)),
                        True,
                        message=f"feature {name!r}: K values must be finite numbers",
                    )
                )
        with tf.control_dependencies(checks):
            # The served columns, stacked into the model's matrices (`mtl_lib.data.inputs`).
            model_inputs = {IDS: tf.stack([tf.cast(features[n], tf.int32) for n in ids], axis=1)}
            if bags:
                model_inputs[BAGS] = tf.concat(
                    [tf.cast(features[n], tf.int32) for n in bags], axis=1
                )
            if values:
                model_inputs[VALUES] = tf.stack([features[n] for n in values], axis=1)
        outputs = model(model_inputs, training=False)
        return {step: tf.reshape(outputs[step], (-1,)) for step in steps}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(SIGNATURE, serve, input_signature=[input_signature(schema)])
    path = Path(path)
    archive.write_out(str(path), verbose=False)
    (path / FUNNEL_FILE).parent.mkdir(exist_ok=True)
    funnel = {
        "steps": list(steps),
        "features": list(schema.feature_names),
        "inputs": served_as,
        "bags": {f.name: {"size": f.size, "length": f.length} for f in schema.bag_fields},
    }
    (path / FUNNEL_FILE).write_text(json.dumps(funnel, indent=1) + "\n")
    return path


class ServedModel:
    """A loaded SavedModel's serving signature, with its input checked in Python first.

    Calling it takes a mapping of feature name → 1-D array-like and returns step → NumPy
    array of probabilities `(rows,)`.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._loaded = tf.saved_model.load(str(self.path))
        if SIGNATURE not in self._loaded.signatures:
            raise ValueError(f"{self.path}: no {SIGNATURE!r} signature in this SavedModel")
        self._fn = self._loaded.signatures[SIGNATURE]
        specs = dict(self._fn.structured_input_signature[1])
        steps, served_as = tuple(self._fn.structured_outputs), {n: n for n in specs}
        bags: dict[str, dict] = {}
        if (self.path / FUNNEL_FILE).is_file():
            funnel = json.loads((self.path / FUNNEL_FILE).read_text())
            steps, served_as = tuple(funnel["steps"]), funnel.get("inputs", served_as)
            bags = funnel.get("bags", {})
        self._bags = {
            name: Field(name, BAG, spec["size"], spec["length"]) for name, spec in bags.items()
        }
        self._served_as: dict[str, str] = served_as
        self.inputs: dict[str, tf.TensorSpec] = {n: specs[s] for n, s in served_as.items()}
        """The columns it takes, by the data's names (`101`, not `f_101`)."""
        self.steps: tuple[str, ...] = steps
        """The served steps, in funnel order."""

    def __call__(self, features: Mapping[str, ArrayLike]) -> dict[str, np.ndarray]:
        """Each step's probability for every row of `features`.

        A bag's column holds one cell per row: a list of ids, or the ids joined by `|`
        (padded here), or a padded `(rows, length)` array with −1 for padding.

        Raises:
            ValueError: naming the SavedModel and the column, for a missing or unknown
                column, a column that is not 1-D, columns of unequal lengths, an id out
                of range, a bag longer than its length, or a K value that is not finite.
        """
        missing = [name for name in self.inputs if name not in features]
        if missing:
            takes = sorted(self.inputs)
            shown = takes if len(takes) <= 6 else [*takes[:3], "...", *takes[-2:]]
            raise ValueError(
                f"{self.path}: missing feature column(s) {missing}; the model takes "
                f"{len(takes)}: {', '.join(shown)}"
            )
        unknown = [name for name in features if name not in self.inputs]
        if unknown:
            raise ValueError(f"{self.path}: unknown feature column(s) {unknown}")
        tensors = {}
        for name, spec in self.inputs.items():
            if name in self._bags:
                tensors[self._served_as[name]] = tf.constant(
                    self._bag_column(name, features[name]), dtype=spec.dtype
                )
                continue
            column = np.asarray(features[name])
            if column.ndim != 1:
                raise ValueError(
                    f"{self.path}: feature {name!r} must be a 1-D column, got shape {column.shape}"
                )
            tensors[self._served_as[name]] = tf.constant(column, dtype=spec.dtype)
        try:
            outputs = self._fn(**tensors)
        except tf.errors.InvalidArgumentError as error:
            # The failed check's message, out of TensorFlow's longer report.
            found = re.search(r"assertion failed: \[(.*?)\]", error.message)
            reason = found.group(1).replace("\\'", "'") if found else error.message
            raise ValueError(f"{self.path}: {reason}") from error
        return {step: outputs[step].numpy() for step in self.steps}

    def _bag_column(self, name: str, cells: ArrayLike) -> np.ndarray:
        """A bag's cells as its padded `(rows, length)` matrix, checked."""
        field = self._bags[name]
        if isinstance(cells, np.ndarray) and cells.ndim == 2 and cells.dtype.kind in "iu":
            if cells.shape[1] != field.length:
                raise ValueError(
                    f"{self.path}: bag {name!r} must be padded to its length {field.length}, "
                    f"got shape {cells.shape}"
                )
            return cells
        try:
            return parse_bags(list(cells), field, lambda _, i: f"bag {name!r}, row {i}")
        except ValueError as error:
            raise ValueError(f"{self.path}: {error}") from None


def load(path: str | Path) -> ServedModel:
    """Load a SavedModel written by `export_saved_model`, ready to call on raw columns.

    Example:
        >>> served = load("out/esmm")  # doctest: +SKIP
        >>> served({"user_id": [3], ...})["click"]  # doctest: +SKIP
        array([0.031], dtype=float32)
    """
    return ServedModel(path)
