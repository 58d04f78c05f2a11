"""Training under `tf.distribute`: mirrored replicas agree with one device; workers agree.

Each case runs in its own Python process: logical devices and a multi-worker cluster must
be set up before TensorFlow initialises, which the test process has long done.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import mtl_lib as mtl

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0")
TIMEOUT_S = 120

# Shared by the scripts below: a small two-step funnel and a seeded ESMM trained on it.
COMMON = """
import json, sys
import keras
import numpy as np
import mtl_lib as mtl

def data(rows=2048, batch=256, shuffle=False):
    gen = mtl.synthetic.FunnelGenerator(("click", "purchase"), seed=3)
    frame = gen.sample(rows, stream=0)
    ds = mtl.data.make_dataset(frame, gen.schema, batch_size=batch, shuffle=shuffle, seed=0)
    return gen.schema, ds

class Losses(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))

def train(schema, ds, strategy, epochs=2):
    mtl.train.set_seed(0)
    losses = Losses()
    model, _ = mtl.train.train_model(
        lambda: mtl.models.build_esmm(schema), ds, schema.steps,
        strategy=strategy, epochs=epochs, callbacks=[losses], steps_per_execution=1,
    )
    return model, losses.losses
"""

MIRRORED = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
{common}
schema, ds = data()
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
_, one = train(schema, ds, None)
model, two = train(schema, ds, strategy)
print(json.dumps({{"one": one, "two": two, "replicas": strategy.num_replicas_in_sync}}))
"""

WORKER = """
import tensorflow as tf
strategy = tf.distribute.MultiWorkerMirroredStrategy()  # first: it reads TF_CONFIG
{common}
schema, ds = data(rows=1024)
model, losses = train(schema, ds, strategy, epochs=1)
np.savez(sys.argv[1], *[np.asarray(w) for w in model.get_weights()])
print(json.dumps({{"losses": losses, "replicas": strategy.num_replicas_in_sync}}))
"""


def script(template: str) -> str:
    return textwrap.dedent(template).format(common=COMMON)


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_mirrored_two_devices_follow_one_device():
    out = subprocess.run(
        [sys.executable, "-c", script(MIRRORED)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=TIMEOUT_S,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = last_json(out.stdout)
    assert result["replicas"] == 2
    one, two = np.array(result["one"]), np.array(result["two"])
    assert len(one) == len(two) == 16  # 2 epochs of 8 global batches
    np.testing.assert_allclose(two, one, rtol=1e-4)
    assert one[-1] < one[0]  # it trained


@pytest.mark.slow
def test_multi_worker_mirrored_workers_end_with_the_same_weights(tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    code = script(WORKER)
    workers = []
    for index in range(2):
        config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        workers.append(
            subprocess.Popen(
                [sys.executable, "-c", code, str(tmp_path / f"worker{index}.npz")],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=ENV | {"TF_CONFIG": json.dumps(config)},
            )
        )
    outputs = []
    try:
        for worker in workers:
            stdout, stderr = worker.communicate(timeout=TIMEOUT_S)
            assert worker.returncode == 0, stderr[-3000:]
            outputs.append(last_json(stdout))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    assert [o["replicas"] for o in outputs] == [2, 2]
    assert len(outputs[0]["losses"]) > 1
    a, b = (np.load(tmp_path / f"worker{i}.npz") for i in range(2))
    assert len(a.files) == len(b.files) > 0
    for key in a.files:
        np.testing.assert_array_equal(a[key], b[key])


def test_strategy_must_be_a_strategy():
    with pytest.raises(TypeError, match=r"tf\.distribute\.Strategy or None, got str"):
        mtl.train.scope("mirrored")


def test_experiment_runs_under_a_strategy(small_splits):
    splits = small_splits(("click", "purchase"), seed=3, rows=(1024, 256, 256))
    plain = mtl.experiment.run("esmm", splits, seed=1, epochs=1, batch_size=256)
    scoped = mtl.experiment.run(
        "esmm",
        splits,
        seed=1,
        epochs=1,
        batch_size=256,
        strategy=tf.distribute.OneDeviceStrategy("/cpu:0"),
    )
    assert scoped.models[0].distribute_strategy.__class__.__name__ == "OneDeviceStrategy"
    # Close, not equal: Keras distributes a copy of the dataset, whose shuffle starts afresh.
    for key in plain.predictions:
        np.testing.assert_allclose(scoped.predictions[key], plain.predictions[key], atol=0.01)


def test_parameter_server_strategy_is_refused_with_a_reason():
    # Keras 3's fit has no parameter-server path; an instance without a cluster suffices
    strategy = object.__new__(tf.distribute.ParameterServerStrategy)
    with pytest.raises(NotImplementedError, match="ParameterServerStrategy is not supported"):
        mtl.train.scope(strategy)
