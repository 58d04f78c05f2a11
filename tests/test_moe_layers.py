"""Mixture-of-experts layers and the MMoE-family builders."""

import itertools

import keras
import numpy as np
import pytest
from keras import ops
from random_inputs import random_features

import mtl_lib as mtl
from mtl_lib.data import Field, Schema
from mtl_lib.layers import ExpertBank, ExtractionLayer, MixtureOfExperts

SCHEMA3 = Schema(
    (Field("city", "C", 5), Field("age", "D", 3), Field("score", "K")),
    ("click", "apply", "approve"),
)
DENSE_DIM = 7


def _dense(rows=6, seed=0):
    return {"x": np.random.default_rng(seed).normal(size=(rows, DENSE_DIM)).astype("float32")}


pytestmark = pytest.mark.usefixtures("seeded")  # every test's weights from seed 0


# ------------------------------------------------------------------------------ layers
@pytest.mark.parametrize("num_tasks", [2, 3])
def test_mmoe_layer_matches_hand_computation(num_tasks):
    layer = MixtureOfExperts(num_experts=3, expert_units=(4,), num_tasks=num_tasks)
    x = np.random.default_rng(1).normal(size=(5, 6)).astype("float32")
    outputs, gates = layer(x)
    assert len(outputs) == len(gates) == num_tasks
    # f_i(x) = relu(x W_i + b_i), in NumPy from each expert's weights
    weights = [layer.experts.expert_weights(i)[0] for i in range(3)]  # (W_i, b_i)
    experts = np.stack([np.maximum(x @ w + b, 0) for w, b in weights], axis=1)  # (b, E, u)
    for k in range(num_tasks):
        kernel, bias = (np.asarray(w) for w in layer.gates[k].weights)
        logits = x @ kernel + bias
        g = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        np.testing.assert_allclose(gates[k], g, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(
            outputs[k], np.einsum("be,beu->bu", g, experts), rtol=1e-5, atol=1e-6
        )
    for j, k in itertools.combinations(range(num_tasks), 2):  # one gate per task
        assert not np.allclose(gates[j], gates[k])


def test_experts_start_from_different_weights():
    layer = MixtureOfExperts(2, 4, (8, 4))
    x = np.random.default_rng(2).normal(size=(16, 6)).astype("float32")
    layer(x)
    kernels = [layer.experts.expert_weights(i)[0][0] for i in range(4)]
    outputs = np.asarray(layer.experts(x))  # (rows, experts, units)
    for i in range(len(kernels)):
        for j in range(i):
            assert not np.allclose(kernels[i], kernels[j])
            assert not np.allclose(outputs[:, i], outputs[:, j])
    ple = ExtractionLayer(2, 2, 2, (4,), shared_output=True)
    ple(x)
    banks = [*ple.task_experts, ple.shared_experts]
    firsts = [b.expert_weights(i)[0][0] for b in banks for i in range(b.num_experts)]
    assert len({f.tobytes() for f in firsts}) == len(firsts) == 6


def test_omoe_has_one_gate_and_gives_every_task_the_same_mixture():
    layer = MixtureOfExperts(3, 4, (8,), shared_gate=True)
    outputs, gates = layer(ops.ones((2, 5)))
    assert len(layer.gates) == 1
    for k in (1, 2):
        np.testing.assert_allclose(outputs[k], outputs[0])
        np.testing.assert_allclose(gates[k], gates[0])


def test_stacked_layer_keeps_each_task_on_its_own_path():
    first = MixtureOfExperts(3, 4, (8,))
    second = MixtureOfExperts(3, 4, (8, 6))
    x = np.random.default_rng(3).normal(size=(5, 6)).astype("float32")
    reps, _ = first(x)
    outputs, gates = second(reps)
    assert [tuple(o.shape) for o in outputs] == [(5, 6)] * 3
    assert [tuple(g.shape) for g in gates] == [(5, 4)] * 3
    for k in range(3):  # task k's own gate, on task k's representation
        kernel, bias = (np.asarray(w) for w in second.gates[k].weights)
        logits = np.asarray(reps[k]) @ kernel + bias
        g = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        np.testing.assert_allclose(gates[k], g, rtol=1e-5, atol=1e-6)
    # task 1's output depends only on task 1's input: changing task 2's changes nothing
    changed = [reps[0], reps[1] * 0 + 1.0, reps[2]]
    again, _ = second(changed)
    np.testing.assert_allclose(again[0], outputs[0], rtol=1e-6)
    assert not np.allclose(again[1], outputs[1])


def test_stacked_layer_checks_the_number_of_inputs():
    layer = MixtureOfExperts(3, 2, (4,))
    with pytest.raises(ValueError, match="one input per task"):
        layer([ops.ones((2, 4))] * 2)


def test_extraction_layer_shapes_and_masked_gates():
    layer = ExtractionLayer(3, 2, 1, (8,), shared_output=True)
    outputs, gates = layer(ops.ones((4, 5)))
    assert len(outputs) == len(gates) == 4  # 3 tasks + shared
    assert [tuple(g.shape) for g in gates] == [(4, 7)] * 4
    for k in range(3):
        g = np.asarray(gates[k])
        own = [2 * k, 2 * k + 1, 6]
        other = [i for i in range(7) if i not in own]
        np.testing.assert_allclose(g[:, other], 0.0)
        np.testing.assert_allclose(g.sum(axis=1), 1.0, rtol=1e-6)
    # which experts each output actually mixes: tests/test_wiring.py
    top, top_gates = ExtractionLayer(3, 2, 1, (4,))(outputs)
    assert [tuple(o.shape) for o in top] == [(4, 4)] * 3 and len(top_gates) == 3


@pytest.mark.parametrize("shared_output", [True, False])
def test_extraction_layer_on_one_input_computes_every_bank_and_gate_at_once(shared_output):
    # One input: the banks' kernels side by side in one product, the gates' in another.
    # The same input as a list of streams takes the bank-by-bank path (checked against
    # NumPy in tests/test_wiring.py); both must agree, and the −∞ biases that zero a
    # gate's unseen experts must leave every gradient finite.
    import tensorflow as tf

    layer = ExtractionLayer(3, 2, 1, (8, 4), shared_output=shared_output)
    x = np.random.default_rng(1).normal(size=(6, 5)).astype("float32")
    with tf.GradientTape() as tape:
        fused, fused_gates = layer(x)
        loss = ops.sum(ops.stack(fused) ** 2)
    by_stream, stream_gates = layer([x] * 4)
    for a, b in zip([*fused, *fused_gates], [*by_stream, *stream_gates], strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    grads = tape.gradient(loss, layer.trainable_weights)
    assert len(grads) == len(layer.trainable_weights) and all(g is not None for g in grads)
    assert all(np.isfinite(np.asarray(tf.convert_to_tensor(g))).all() for g in grads)
    assert any(np.abs(np.asarray(g)).sum() > 0 for g in grads if len(g.shape) == 1)


def test_extraction_layer_needs_the_shared_stream():
    with pytest.raises(ValueError, match="shared one"):
        ExtractionLayer(2, 1, 1, (4,))([ops.ones((2, 3))] * 2)


@pytest.mark.parametrize(
    "layer",
    [
        MixtureOfExperts(2, 3, (8, 4), expert_dropout=0.1, name="moe"),
        MixtureOfExperts(3, 3, (4,), shared_gate=True, expert_activation="tanh"),
        ExtractionLayer(2, 2, 1, (4,), shared_output=True, expert_dropout=0.2),
    ],
    ids=["mmoe", "omoe", "extraction"],
)
def test_layer_config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_tasks": 2, "num_experts": 0, "expert_units": (4,)}, "num_experts"),
        ({"num_tasks": 2, "num_experts": 2, "expert_units": ()}, "units"),
        ({"num_experts": 2, "expert_units": (4,), "num_tasks": 0}, "num_tasks"),
    ],
)
def test_layer_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MixtureOfExperts(**kwargs)


# ---------------------------------------------------------------------------- builders
BUILDERS = {
    "shared_bottom": lambda data, **kw: mtl.models.build_shared_bottom(
        data, bottom_units=(8,), **kw
    ),
    "omoe": lambda data, **kw: mtl.models.build_omoe(data, num_experts=3, **kw),
    "mmoe": lambda data, **kw: mtl.models.build_mmoe(data, num_experts=3, **kw),
    "mmoe_deep_experts": lambda data, **kw: mtl.models.build_mmoe(
        data, num_experts=3, expert_units=(8, 4), **kw
    ),
    "mmoe_3_layers": lambda data, **kw: mtl.models.build_mmoe(
        data, num_experts=2, expert_units=(4,), num_layers=3, **kw
    ),
    "cgc": lambda data, **kw: mtl.models.build_ple(data, num_levels=1, expert_units=(4,), **kw),
    "ple": lambda data, **kw: mtl.models.build_ple(data, num_levels=2, expert_units=(4,), **kw),
}


def _gate_keys(name, tasks):
    if name == "shared_bottom":
        return set()
    if name == "mmoe_3_layers":
        return {mtl.models.gate_name(t, layer) for t in tasks for layer in (1, 2, 3)}
    if name == "ple":
        keys = {mtl.models.gate_name(t, layer) for t in tasks for layer in (1, 2)}
        return keys | {mtl.models.gate_name("shared", 1)}
    return {mtl.models.gate_name(t) for t in tasks}


@pytest.mark.parametrize("name", BUILDERS)
def test_classification_builders_on_a_schema_with_three_tasks(name):
    model = BUILDERS[name](SCHEMA3)
    out = model(random_features(SCHEMA3))
    tasks = SCHEMA3.steps
    assert set(out) == set(tasks) | _gate_keys(name, tasks)
    for task in tasks:
        assert model.get_layer(f"{task}_head").activation is keras.activations.sigmoid
        p = np.asarray(out[task])
        assert p.shape == (6, 1) and ((p > 0) & (p < 1)).all()
    for key in _gate_keys(name, tasks):
        np.testing.assert_allclose(np.asarray(out[key]).sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", BUILDERS)
def test_regression_builders_on_dense_input_with_two_tasks(name):
    model = BUILDERS[name](DENSE_DIM)
    out = model(_dense())
    assert {"task_1", "task_2"} <= set(out)
    assert model.get_layer("task_1_head").activation is keras.activations.linear
    assert np.asarray(out["task_1"]).shape == (6, 1)


def test_a_regression_model_trains_with_compile_model_and_fit():
    model = BUILDERS["ple"](DENSE_DIM)
    mtl.train.compile_model(model, {"task_1": "mse", "task_2": "mse"}, learning_rate=0.01)
    x, y = mtl.synthetic.make_correlated_tasks(256, 0.5, dim=DENSE_DIM)
    ds = mtl.synthetic.regression_dataset(x, y, batch_size=64)
    history = mtl.train.fit(model, ds, epochs=3)
    assert {"loss", "task_1_loss", "task_2_loss"} <= set(history.columns)
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]


@pytest.mark.parametrize("name", BUILDERS)
def test_builders_save_and_load_with_equal_predictions(name, round_trip):
    for data, features in ((SCHEMA3, random_features(SCHEMA3)), (DENSE_DIM, _dense())):
        model = BUILDERS[name](data)
        expected = model(features, training=False)
        loaded = round_trip(model)
        got = loaded(features, training=False)
        assert set(got) == set(expected)
        for key in expected:
            np.testing.assert_allclose(got[key], expected[key], rtol=1e-6, atol=1e-7)


def test_tasks_and_head_can_be_chosen():
    model = mtl.models.build_mmoe(DENSE_DIM, tasks=("a", "b", "c"), head="sigmoid")
    out = model(_dense())
    assert {"a", "b", "c", "a_gate"} <= set(out)
    assert ((np.asarray(out["a"]) > 0) & (np.asarray(out["a"]) < 1)).all()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"data": 0}, TypeError, "Schema or a positive"),
        ({"data": DENSE_DIM, "tasks": ("a",)}, ValueError, "two or more"),
        ({"data": DENSE_DIM, "head": "softmax"}, ValueError, "head"),
        ({"data": DENSE_DIM, "num_layers": 0}, ValueError, "num_layers"),
    ],
)
def test_builders_reject_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        mtl.models.build_mmoe(**kwargs)


def test_paper_sizes_have_comparable_parameter_counts():
    sizes = {
        "shared_bottom": mtl.models.build_shared_bottom(100, bottom_units=(113,)),
        "omoe": mtl.models.build_omoe(100),
        "mmoe": mtl.models.build_mmoe(100),
    }
    counts = {name: model.count_params() for name, model in sizes.items()}
    assert max(counts.values()) / min(counts.values()) < 1.15, counts


# ------------------------------------------------------------------------ expert bank
@pytest.mark.parametrize("lead", [(5,), (5, 3)])
def test_expert_bank_computes_each_expert_as_its_own_mlp(lead):
    bank = ExpertBank(4, (6, 3), activation="tanh")
    x = np.random.default_rng(4).normal(size=(*lead, 7)).astype("float32")
    got = np.asarray(bank(x))
    assert got.shape == (*lead, 4, 3)
    for i in range(4):  # expert i: tanh(tanh(x W1 + b1) W2 + b2), its own weights
        h = x.astype("float64")
        for kernel, bias in bank.expert_weights(i):
            h = np.tanh(h @ kernel + bias)
        np.testing.assert_allclose(got[..., i, :], h, rtol=1e-5, atol=1e-6)


def test_expert_bank_initializes_each_expert_like_a_dense_layer():
    # Glorot uniform with one expert's fans: U(-l, l), l = sqrt(6 / (d + u)), std l / sqrt(3)
    bank = ExpertBank(8, (32,))
    bank.build((None, 200))
    limit = np.sqrt(6 / (200 + 32))
    for i in range(8):
        kernel, bias = bank.expert_weights(i)[0]
        assert kernel.shape == (200, 32) and np.abs(kernel).max() <= limit
        assert abs(kernel.std() / (limit / np.sqrt(3)) - 1) < 0.05
        np.testing.assert_array_equal(bias, 0)


def test_expert_bank_round_trips_its_config_and_refuses_bad_settings():
    bank = ExpertBank(3, (4, 2), dropout=0.1, name="bank")
    again = ExpertBank.from_config(bank.get_config())
    assert (again.num_experts, again.units, again.dropout) == (3, (4, 2), 0.1)
    with pytest.raises(ValueError, match="num_experts must be a positive integer"):
        ExpertBank(0, (4,))
    with pytest.raises(ValueError, match="units must be a non-empty"):
        ExpertBank(2, ())
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        ExpertBank(2, (4,), dropout=1.0)
    bank(ops.ones((2, 5)))
    with pytest.raises(IndexError, match="expert 3 out of range: the bank has 3"):
        bank.expert_weights(3)
