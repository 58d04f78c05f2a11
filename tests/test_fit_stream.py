"""`fit` on a stream from a file: rows counted as training reads them, no extra pass."""

import warnings

import numpy as np
import pytest

import mtl_lib as mtl

ROWS, BATCH = 3000, 256  # 11 full batches and one of 184


@pytest.fixture(scope="module")
def stream_and_schema(tmp_path_factory):
    gen = mtl.synthetic.FunnelGenerator(("click", "purchase"), seed=3)
    path = tmp_path_factory.mktemp("stream") / "train.csv"
    gen.sample(ROWS, stream=0).to_csv(path, index=False)
    ds = mtl.data.make_dataset(
        path, gen.schema, batch_size=BATCH, shuffle=True, seed=0, cache=False
    )
    return ds, gen.schema


def train(ds, schema, **kwargs):
    mtl.train.set_seed(0)
    model = mtl.models.build_esmm(schema)
    mtl.train.compile_model(model, schema.steps)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = mtl.train.fit(model, ds, **kwargs)
    assert not [w for w in caught if "ran out of data" in str(w.message)]
    return history["examples_per_second"] * history["seconds"]


def test_stream_rows_are_counted_exactly_each_epoch(stream_and_schema):
    ds, schema = stream_and_schema
    assert int(ds.cardinality()) < 0  # a stream: its size is unknown
    np.testing.assert_allclose(train(ds, schema, epochs=2), [ROWS, ROWS])


def test_stream_with_steps_per_epoch_counts_the_steps_taken(stream_and_schema):
    ds, schema = stream_and_schema
    examples = train(ds, schema, epochs=2, steps_per_epoch=5)
    # 5 steps of about the mean batch read (the short last batch lowers the mean a little)
    np.testing.assert_allclose(examples, [5 * BATCH, 5 * BATCH], rtol=0.05)
