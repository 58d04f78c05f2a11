"""Wiring: each model recomputed in NumPy from its weights, so a wrong connection fails.

Every test takes the model's weights, recomputes the forward pass in NumPy (float64) from
the shared embedding's output (or the dense input) and compares with the model. Where a
plausible miswiring exists (AITM's transfer reading the tower q_{t−1} instead of z_{t−1},
v3 fusing q_{t−1}), the test also computes that wrong wiring and checks that it differs
from the model, so the test can tell the two apart.
"""

import itertools

import keras
import numpy as np
import pytest
from random_inputs import random_features

import mtl_lib as mtl
from mtl_lib.data import Field, Schema
from mtl_lib.layers import ExtractionLayer

SCHEMA4 = Schema(
    (Field("city", "C", 5), Field("age", "D", 3), Field("score", "K")),
    ("click", "apply", "approve", "activate"),
)
STEPS = SCHEMA4.steps
ROWS = 16


pytestmark = pytest.mark.usefixtures("seeded")  # every test's weights from seed 0


# --------------------------------------------------------------------- NumPy forward
def _relu(x):
    return np.maximum(x, 0.0)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _dense(x, layer):
    """x W (+ b) of a Dense layer, before its activation."""
    out = x @ np.asarray(layer.kernel, "float64")
    return out + np.asarray(layer.bias, "float64") if layer.use_bias else out


def _mlp(x, mlp):
    assert mlp.activation == "relu" and not mlp.dropout
    for dense in mlp.dense_layers:
        x = _relu(_dense(x, dense))
    return x


def _experts(x, bank):
    """Every expert of an `ExpertBank`, one at a time: a list of `(rows, units)` arrays."""
    assert bank.activation == "relu" and not bank.dropout
    outputs = []
    for i in range(bank.num_experts):
        h = x
        for kernel, bias in bank.expert_weights(i):
            h = _relu(h @ kernel.astype("float64") + bias)
        outputs.append(h)
    return outputs


def _ait(p, q, layer):
    """z = Σ_u w_u h1(u), w = softmax_u(⟨h2(u), h3(u)⟩ / √k), u ∈ {p, q}."""
    u = np.stack([p, q], axis=1)
    h1, h2, h3 = (_dense(u, d) for d in (layer.h1, layer.h2, layer.h3))
    w = _softmax((h2 * h3).sum(-1) / np.sqrt(layer.units))
    return (w[..., None] * h1).sum(1), w


def _embedding(model, x):
    probe = keras.Model(model.input, model.get_layer("shared_embedding").output)
    return np.asarray(probe(x), "float64")


def _assert_close(model_out, expected, what):
    np.testing.assert_allclose(np.asarray(model_out), expected, rtol=1e-5, atol=1e-6, err_msg=what)


def _assert_differs(model_out, wrong, what):
    gap = np.abs(np.asarray(model_out, "float64") - wrong).max()
    assert gap > 1e-4, f"{what}: the wrong wiring is indistinguishable ({gap:.2e})"


# ---------------------------------------------------------------------------- AITM
def _aitm_numpy(model, e, *, transfer_reads_tower=False):
    """AITM's forward pass: q_t = tower_t(e), z_1 = q_1, p_{t−1} = g_{t−1}(z_{t−1})."""
    names = [layer.name for layer in model.layers]
    units = {
        step: model.get_layer("ait" if "ait" in names else f"{step}_ait") for step in STEPS[1:]
    }
    q = [_mlp(e, model.get_layer(f"{step}_tower")) for step in STEPS]
    z = q[0]
    out = {STEPS[0]: _sigmoid(_dense(z, model.get_layer(f"{STEPS[0]}_head")))}
    for t in range(1, len(STEPS)):
        source = q[t - 1] if transfer_reads_tower else z  # the wrong wiring reads the tower
        p = _mlp(source, model.get_layer(f"{STEPS[t - 1]}_transfer"))
        z, w = _ait(p, q[t], units[STEPS[t]])
        out[STEPS[t]] = _sigmoid(_dense(z, model.get_layer(f"{STEPS[t]}_head")))
        out[f"{STEPS[t]}_attention"] = w
    return out


@pytest.mark.parametrize("attention", ["shared", "per_step"])
def test_aitm_transfers_the_fused_representation_z_not_the_tower(attention):
    model = mtl.models.build_aitm(SCHEMA4, tower_units=(8, 4), attention=attention)
    x = random_features(SCHEMA4, rows=ROWS)
    out = model.predict(x, verbose=0)
    e = _embedding(model, x)
    expected = _aitm_numpy(model, e)
    assert set(expected) == set(out)
    for key, value in expected.items():
        _assert_close(out[key], value, key)
    # p_1 = g_1(z_1) with z_1 = q_1, so the two wirings agree at step 2; from step 3 on,
    # z_2 ≠ q_2 and a transfer reading the tower would give other numbers.
    wrong = _aitm_numpy(model, e, transfer_reads_tower=True)
    _assert_close(out[STEPS[1]], wrong[STEPS[1]], "step 2 under both wirings")
    for step in STEPS[2:]:
        _assert_differs(out[step], wrong[step], step)


# ---------------------------------------------------------------------- v3 concat
def _concat_numpy(model, e, *, fuse_tower=False):
    """v3: z_1 = q_1; z_t = MLP_t([z_{t−1}, q_t]); ŷ_t = sigmoid(w_tᵀ z_t)."""
    q = [_mlp(e, model.get_layer(f"{step}_tower")) for step in STEPS]
    z = q[0]
    out = {STEPS[0]: _sigmoid(_dense(z, model.get_layer(f"{STEPS[0]}_head")))}
    for t in range(1, len(STEPS)):
        previous = q[t - 1] if fuse_tower else z  # the wrong wiring fuses the raw tower
        z = _mlp(np.concatenate([previous, q[t]], axis=1), model.get_layer(f"{STEPS[t]}_fusion"))
        out[STEPS[t]] = _sigmoid(_dense(z, model.get_layer(f"{STEPS[t]}_head")))
    return out


def test_v3_concat_fuses_the_previous_fused_representation_not_the_tower():
    # fusion width = tower width (4), so fusing q_{t−1} instead of z_{t−1} fits the same
    # shapes: only the numbers can tell the wirings apart
    model = mtl.models.build_esmm_concat(SCHEMA4, tower_units=(8, 4), fusion_units=(6, 4))
    x = random_features(SCHEMA4, rows=ROWS)
    out = model.predict(x, verbose=0)
    e = _embedding(model, x)
    expected = _concat_numpy(model, e)
    assert set(expected) == set(out)
    for step in STEPS:
        _assert_close(out[step], expected[step], step)
    wrong = _concat_numpy(model, e, fuse_tower=True)
    _assert_close(out[STEPS[1]], wrong[STEPS[1]], "step 2 under both wirings")  # z_1 = q_1
    for step in STEPS[2:]:
        _assert_differs(out[step], wrong[step], step)


# ----------------------------------------------------------------------------- PLE
def _extraction_numpy(layer, streams):
    """One PLE level: task k mixes its experts and the shared ones on stream k; the shared
    gate (if any) mixes every expert on the shared stream. Returns (outputs, gates)."""
    n = layer.num_tasks
    task_in, shared_in = streams[:n], streams[n]
    own = [_experts(task_in[k], layer.task_experts[k]) for k in range(n)]
    shared = _experts(shared_in, layer.shared_experts)
    outputs, gates = [], []
    for k in range(n):
        g = _softmax(_dense(task_in[k], layer.task_gates[k]))
        outputs.append(np.einsum("be,beu->bu", g, np.stack(own[k] + shared, axis=1)))
        gates.append(g)
    if layer.shared_output:
        g = _softmax(_dense(shared_in, layer.shared_gate))
        every = [*itertools.chain.from_iterable(own), *shared]
        outputs.append(np.einsum("be,beu->bu", g, np.stack(every, axis=1)))
        gates.append(g)
    return outputs, gates


def test_ple_gates_mix_own_and_shared_experts_and_the_shared_gate_mixes_all():
    # Expert i outputs the one-hot vector e_i whatever its input, so each output *is* the
    # weight its gate put on every expert: zero exactly where the gate may not look.
    layer = ExtractionLayer(3, 2, 1, expert_units=(7,), shared_output=True)
    rng = np.random.default_rng(5)
    streams = [rng.normal(size=(ROWS, 4)).astype("float32") for _ in range(4)]
    layer(streams)
    one_hot = iter(np.eye(7, dtype="float32"))  # order: task 0's, task 1's, task 2's, shared
    for bank in (*layer.task_experts, layer.shared_experts):
        (kernel,), (bias,) = bank.kernels, bank.biases
        kernel.assign(np.zeros(kernel.shape, "float32"))
        bias.assign(np.stack([next(one_hot) for _ in range(bank.num_experts)]))
    for gate in (*layer.task_gates, layer.shared_gate):  # sharp, distinct gate weights
        gate.kernel.assign(rng.normal(scale=2.0, size=gate.kernel.shape).astype("float32"))
        gate.bias.assign(rng.normal(size=gate.bias.shape).astype("float32"))
    outputs, gates = (list(map(np.asarray, part)) for part in layer(streams))
    for k in range(3):
        own = [2 * k, 2 * k + 1, 6]  # task k's two experts and the shared one
        expected = np.zeros((ROWS, 7))
        expected[:, own] = _softmax(_dense(streams[k], layer.task_gates[k]))  # on stream k
        _assert_close(outputs[k], expected, f"task {k}")
        np.testing.assert_array_equal(outputs[k][:, [i for i in range(7) if i not in own]], 0)
        _assert_close(gates[k], outputs[k], f"task {k}'s reported gate")
    shared = _softmax(_dense(streams[3], layer.shared_gate))  # every expert, shared stream
    _assert_close(outputs[3], shared, "shared")
    _assert_close(gates[3], outputs[3], "the shared gate as reported")


def test_ple_level_reads_each_stream_where_it_should():
    # Distinct streams: task k's experts and gate read stream k, the shared experts and
    # the shared gate read the shared stream.
    layer = ExtractionLayer(3, 2, 2, expert_units=(5,), shared_output=True)
    rng = np.random.default_rng(6)
    streams = [rng.normal(size=(ROWS, 4)).astype("float32") for _ in range(4)]
    outputs, _ = layer(streams)
    expected, _ = _extraction_numpy(layer, [s.astype("float64") for s in streams])
    for k, (got, want) in enumerate(zip(outputs, expected, strict=True)):
        _assert_close(got, want, f"output {k}")


def test_ple_model_feeds_each_level_from_the_right_outputs_of_the_one_below():
    model = mtl.models.build_ple(6, tasks=("a", "b", "c"), num_levels=3, expert_units=(5,))
    x = np.random.default_rng(7).normal(size=(ROWS, 6)).astype("float32")
    out = model.predict({"x": x}, verbose=0)
    streams = [x.astype("float64")] * 4  # level 1: every stream is the input
    for level in (1, 2, 3):
        layer = model.get_layer(f"extraction_{level}")
        streams, gates = _extraction_numpy(layer, streams)
        for task, gate in zip(("a", "b", "c"), gates, strict=False):
            # the reported gate spreads the task's weights over all experts: keep its own
            n_t, k = layer.num_task_experts, ("a", "b", "c").index(task)
            reported = out[f"{task}_gate_{level}"]
            own = [*range(k * n_t, (k + 1) * n_t), *range(3 * n_t, layer.num_experts)]
            _assert_close(reported[:, own], gate, f"{task}_gate_{level}")
        if level < 3:
            _assert_close(out[f"shared_gate_{level}"], gates[-1], f"shared_gate_{level}")
    for k, task in enumerate(("a", "b", "c")):
        tower = _mlp(streams[k], model.get_layer(f"{task}_tower"))
        _assert_close(out[task], _dense(tower, model.get_layer(f"{task}_head")), task)
