"""`mtl_lib.train`: steps per call of the train function, exact epochs, paired validation AUC."""

import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import roc_auc_score
from tensorflow.python.framework import config as tf_config

import mtl_lib as mtl

ROWS, BATCH = 3000, 256  # 12 batches an epoch, not a multiple of 32


@pytest.fixture(scope="module")
def funnel():
    gen = mtl.synthetic.FunnelGenerator(("click", "purchase"), seed=3)
    return gen.schema, gen.sample(ROWS, stream=0), gen.sample(1000, stream=1)


def trained(
    schema,
    frame,
    *,
    steps_per_execution=None,
    epochs=2,
    jit_compile=False,
    optimizer="adam",
    **fit_kwargs,
):
    mtl.train.set_seed(0)
    model = mtl.models.build_esmm(schema)
    mtl.train.compile_model(
        model,
        schema.steps,
        steps_per_execution=steps_per_execution,
        jit_compile=jit_compile,
        optimizer=optimizer,
    )
    data = mtl.data.make_dataset(frame, schema, batch_size=BATCH, shuffle=True, seed=0)
    history = mtl.train.fit(model, data, epochs=epochs, **fit_kwargs)
    return model, history


def test_many_steps_per_call_train_exactly_like_one(funnel):
    schema, frame, _ = funnel
    one, _ = trained(schema, frame, steps_per_execution=1)
    many, _ = trained(schema, frame)  # the default: 32 steps per call
    assert many.steps_per_execution == mtl.train.STEPS_PER_EXECUTION == 32
    assert int(one.optimizer.iterations) == int(many.optimizer.iterations) == 2 * 12
    for a, b in zip(one.get_weights(), many.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # bit for bit


@pytest.mark.parametrize(("steps", "per_call"), [(7, 7), (36, 18), (37, 1)])
def test_steps_per_epoch_is_exact_whatever_the_steps_per_call(funnel, steps, per_call):
    schema, frame, _ = funnel
    model, history = trained(schema, frame, steps_per_epoch=steps)
    assert int(model.optimizer.iterations) == 2 * steps
    # fit ran the largest divisor of `steps` up to 32 per call, and left the model as it was
    assert model.steps_per_execution == mtl.train.STEPS_PER_EXECUTION
    assert set(mtl.train.fitting._FUNCTIONS_PER_CALL.get(model, {})) == (
        set() if per_call == mtl.train.STEPS_PER_EXECUTION else {per_call}
    )
    np.testing.assert_allclose(
        history["examples_per_second"] * history["seconds"], 2 * [steps * ROWS / 12]
    )
    # fitted again, with its own count between, it reuses what was traced for each count
    kept = dict(mtl.train.fitting._FUNCTIONS_PER_CALL.get(model, {}).get(per_call, {}))
    data = mtl.data.make_dataset(frame, schema, batch_size=BATCH, shuffle=True, seed=0)
    mtl.train.fit(model, data, epochs=1)
    own = model.train_function
    mtl.train.fit(model, data, epochs=1, steps_per_epoch=steps)
    assert model.train_function is own
    again = mtl.train.fitting._FUNCTIONS_PER_CALL.get(model, {}).get(per_call, {})
    assert all(again[name] is function for name, function in kept.items())


def test_validation_auc_pairs_scores_with_labels_even_when_shuffled(funnel):
    schema, frame, valid = funnel
    shuffled = mtl.data.make_dataset(valid, schema, batch_size=100, shuffle=True, seed=5)
    model, history = trained(schema, frame, epochs=1, validation=shuffled)
    pred = mtl.train.predict(model, valid, schema)
    for step in schema.steps:
        expected = roc_auc_score(valid[step], pred[step])
        assert history[f"val_{step}_auc"].iloc[-1] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("fit_kwargs", [{}, {"patience": 1}])
def test_an_empty_validation_split_is_refused_up_front(funnel, fit_kwargs):
    schema, frame, valid = funnel
    empty = mtl.data.make_dataset(valid.iloc[:0], schema, batch_size=100, validate=False)
    with pytest.raises(ValueError, match=r"validation data are empty.*valid_fraction > 0"):
        trained(schema, frame, epochs=1, validation=empty, **fit_kwargs)
    splits = mtl.experiment.Splits.from_frames(schema, frame, valid.iloc[:0], valid)
    with pytest.raises(ValueError, match=r"empty validation split.*log_validation=False"):
        mtl.experiment.run("esmm", splits, epochs=1, log_validation=True, **fit_kwargs)


def test_a_step_without_a_positive_has_no_auc_with_a_warning_once(funnel):
    """The per-epoch validation AUC is NaN and says so once; evaluation refuses it."""
    schema, frame, valid = funnel
    none_bought = valid[valid["purchase"] == 0]
    data = mtl.data.make_dataset(none_bought, schema, batch_size=100)
    with pytest.warns(RuntimeWarning) as record:
        model, history = trained(schema, frame, epochs=2, validation=data)
    undefined = [str(w.message) for w in record if "undefined" in str(w.message)]
    assert undefined == [
        f"validation AUC of 'purchase' is undefined: all {len(none_bought)} labels of the "
        "validation split are 0; val_purchase_auc is logged as NaN"
    ]  # once, not once an epoch
    assert history["val_purchase_auc"].isna().all() and history["val_click_auc"].notna().all()
    pred = mtl.train.predict(model, none_bought, schema)
    with pytest.raises(ValueError, match=rf"AUC is undefined: all {len(none_bought)} labels"):
        mtl.metrics.evaluate_funnel(pred, none_bought, schema)


@pytest.mark.parametrize("optimizer", ["adam", "lazy_adam"])
def test_xla_trains_the_same_model_to_the_last_bits(funnel, optimizer):
    schema, frame, valid = funnel
    plain, _ = trained(schema, frame, optimizer=optimizer)
    xla, _ = trained(schema, frame, optimizer=optimizer, jit_compile=True)
    assert xla.jit_compile and not plain.jit_compile
    a, b = (mtl.train.predict(m, valid, schema)["purchase"] for m in (plain, xla))
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)  # another float path, same model


def test_xla_is_refused_where_keras_would_quietly_train_without_it(funnel):
    schema, _, _ = funnel
    model = mtl.models.build_esmm(schema)
    tf.config.experimental.enable_op_determinism()
    try:
        with (
            pytest.raises(ValueError, match="op determinism off"),
            pytest.warns(UserWarning, match="jit_compile"),  # Keras's own, then our error
        ):
            mtl.train.compile_model(model, schema.steps, jit_compile=True)
    finally:
        tf_config.disable_op_determinism()  # not in TensorFlow's public API
    mtl.train.set_seed(0)  # on a CPU, seeding leaves op determinism off: XLA can run
    assert not tf_config.is_op_determinism_enabled()
    assert mtl.train.compile_model(model, schema.steps, jit_compile=True).jit_compile
