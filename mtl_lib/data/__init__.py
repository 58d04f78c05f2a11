"""Data: the `Schema` of a funnel data set, validation of its files, reading into `tf.data`.

- `Schema`, `Field`: features (C, D, K), ordered funnel steps and ground-truth columns,
  read from a feature list and a vocabulary (`features.csv` and `vocab.json`, or the
  original project's `info_v4.csv` and `embedding_number_v4.json`: `find_schema_files`).
- `validate_frame`, `validate_file`: checks that name the file, column, row and value.
- `read_frame`, `make_dataset`, `split_path`: a validated data frame, or batched
  `(features, labels)`; the file of a split (`train.csv.gz`, ..., or `sample_train.csv`).
- `to_inputs`, `IDS`, `VALUES`: the models' input, one id matrix and one K-value matrix.
"""

from mtl_lib.data.inputs import IDS, VALUES, input_names, to_inputs
from mtl_lib.data.layout import FEATURES_FILE, VOCAB_FILE, find_schema_files
from mtl_lib.data.read import MEMORY_LIMIT_BYTES, make_dataset, read_frame, split_path
from mtl_lib.data.schema import Field, Schema, conditional_name, truth_name
from mtl_lib.data.validate import FileReport, validate_file, validate_frame

__all__ = [
    "FEATURES_FILE",
    "IDS",
    "MEMORY_LIMIT_BYTES",
    "VALUES",
    "VOCAB_FILE",
    "Field",
    "FileReport",
    "Schema",
    "conditional_name",
    "find_schema_files",
    "input_names",
    "make_dataset",
    "read_frame",
    "split_path",
    "to_inputs",
    "truth_name",
    "validate_file",
    "validate_frame",
]
