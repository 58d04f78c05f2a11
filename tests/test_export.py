"""Export for serving: a SavedModel of raw feature columns that predicts like the Keras model."""

import numpy as np
import pytest
from fresh_process import serve_in_fresh_process

import mtl_lib as mtl

# Plain TensorFlow, no Keras model code and no mtl_lib: what a serving process has.


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    gen = mtl.synthetic.FunnelGenerator(("click", "apply", "approve"), seed=3)
    frame = gen.sample(600, stream=0)
    mtl.train.set_seed(0)
    model = mtl.models.build_esmm_chain(gen.schema)
    mtl.train.compile_model(model, gen.schema.steps)
    ds = mtl.data.make_dataset(frame, gen.schema, batch_size=128, shuffle=True, seed=0)
    mtl.train.fit(model, ds, epochs=1)
    path = mtl.serving.export_saved_model(model, gen.schema, tmp_path_factory.mktemp("sm") / "m")
    return gen.schema, model, frame, path


def raw_columns(schema, frame):
    return {
        f.name: frame[f.name].to_numpy(np.int64 if f.embedded else np.float32)
        for f in schema.fields
    }


@pytest.mark.slow
def test_reloaded_in_a_fresh_process_predicts_like_keras(exported, tmp_path):
    schema, model, frame, path = exported
    served = serve_in_fresh_process(path, raw_columns(schema, frame), tmp_path)
    expected = mtl.train.predict(model, frame, schema)
    assert sorted(served) == sorted(schema.steps)
    for step in schema.steps:
        assert served[step].shape == (len(frame),)
        np.testing.assert_allclose(served[step], expected[step], rtol=1e-6, atol=1e-7)


def test_load_wraps_the_signature(exported):
    schema, model, frame, path = exported
    served = mtl.serving.load(path)
    assert served.steps == schema.steps  # funnel order, from assets.extra/funnel.json
    assert set(served.inputs) == set(schema.feature_names)
    out = served({k: v[:5].tolist() for k, v in raw_columns(schema, frame).items()})
    expected = mtl.train.predict(model, frame.iloc[:5], schema)
    for step in schema.steps:
        np.testing.assert_allclose(out[step], expected[step], rtol=1e-6, atol=1e-7)


def test_missing_column_is_named(exported):
    schema, _, frame, path = exported
    columns = raw_columns(schema, frame)
    del columns["city"]
    with pytest.raises(ValueError, match=r"missing feature column\(s\) \['city'\]") as error:
        mtl.serving.load(path)(columns)
    names = sorted(f.name for f in schema.fields)  # a long list is shortened
    assert str(error.value).endswith(
        f"takes {len(names)}: {', '.join(names[:3])}, ..., {', '.join(names[-2:])}"
    )


def test_unknown_column_is_named(exported):
    schema, _, frame, path = exported
    columns = raw_columns(schema, frame) | {"colour": np.zeros(len(frame), np.int64)}
    with pytest.raises(ValueError, match=r"unknown feature column\(s\) \['colour'\]"):
        mtl.serving.load(path)(columns)


def test_column_must_be_one_dimensional(exported):
    schema, _, frame, path = exported
    columns = raw_columns(schema, frame)
    columns["city"] = columns["city"].reshape(-1, 1)
    with pytest.raises(ValueError, match="feature 'city' must be a 1-D column"):
        mtl.serving.load(path)(columns)


def test_id_out_of_range_is_named_by_the_saved_model(exported):
    schema, _, frame, path = exported
    columns = raw_columns(schema, frame)
    columns["city"][3] = schema.field("city").size + 1
    with pytest.raises(ValueError, match="feature 'city': ids must be <= "):
        mtl.serving.load(path)(columns)
    columns["city"][3] = -1
    with pytest.raises(ValueError, match="feature 'city': ids must be >= 0"):
        mtl.serving.load(path)(columns)


def test_unequal_lengths_are_named_by_the_saved_model(exported):
    schema, _, frame, path = exported
    columns = raw_columns(schema, frame)
    columns["city"] = columns["city"][:-1]
    with pytest.raises(ValueError, match="feature 'city': every column must have the same"):
        mtl.serving.load(path)(columns)


def test_export_needs_every_step_output(exported, tmp_path):
    schema, *_ = exported
    model = mtl.models.build_single_task(schema, "click")
    with pytest.raises(ValueError, match="has no output for step 'apply'"):
        mtl.serving.export_saved_model(model, schema, tmp_path / "m")


def test_export_needs_every_feature_input(exported, tmp_path):
    schema, model, *_ = exported
    wider = mtl.data.Schema(
        fields=(*schema.fields, mtl.data.Field("extra", "C", 3)), steps=schema.steps
    )
    with pytest.raises(ValueError, match="does not take the schema's 26 id columns as input 'ids'"):
        mtl.serving.export_saved_model(model, wider, tmp_path / "m")


def test_k_columns_are_served_as_float32_and_checked(tmp_path):
    # K fields reach the model as one float matrix; served, each is a float32 column.
    schema = mtl.data.Schema(
        (mtl.data.Field("city", "C", 5), mtl.data.Field("price", "K"), mtl.data.Field("x", "K")),
        ("click", "purchase"),
    )
    mtl.train.set_seed(0)
    model = mtl.models.build_esmm(schema)
    rng = np.random.default_rng(0)
    columns = {
        "city": rng.integers(0, 6, 20),
        "price": rng.normal(size=20).astype(np.float32),
        "x": rng.normal(size=20).astype(np.float32),
    }
    served = mtl.serving.load(mtl.serving.export_saved_model(model, schema, tmp_path / "m"))
    assert served.inputs["price"].dtype.name == "float32"
    assert served.inputs["city"].dtype.name == "int64"
    out = served(columns)
    expected = model.predict(mtl.data.to_inputs(columns, schema), verbose=0)
    for step in schema.steps:
        np.testing.assert_allclose(out[step], expected[step][:, 0], rtol=1e-6, atol=1e-7)
    columns["x"][4] = np.inf
    with pytest.raises(ValueError, match="feature 'x': K values must be finite numbers"):
        served(columns)
