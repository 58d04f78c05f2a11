"""Random model inputs for a schema, shared by the model tests (not a test module)."""

import numpy as np

import mtl_lib as mtl


def random_features(schema: mtl.data.Schema, rows: int = 6, seed: int = 0) -> dict:
    """`{"ids": (rows, C/D fields)[, "values": (rows, K fields)]}`: uniform ids, normal values."""
    rng = np.random.default_rng(seed)
    columns = {
        f.name: rng.integers(0, f.size + 1, rows).astype("int32")
        if f.embedded
        else rng.normal(size=rows).astype("float32")
        for f in schema.fields
    }
    return mtl.data.to_inputs(columns, schema)
