import keras
import numpy as np
import tensorflow as tf

import mtl_lib as mtl


def test_describe_names_versions_cpu_cores_and_float_path():
    line = mtl.machine.describe()
    for part in (
        f"TensorFlow {tf.__version__}",
        f"Keras {keras.__version__}",
        f"NumPy {np.__version__}",
        mtl.machine.cpu_model(),
        " cores",
    ):
        assert part in line, (part, line)
    assert line.endswith(mtl.machine.float_path())


def test_float_path_reads_the_perturbations(monkeypatch):
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    assert mtl.machine.float_path() == "oneDNN off"
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "1")
    assert mtl.machine.float_path() == "oneDNN on, 1 intra-op thread"


def test_cpu_model_is_named():
    assert mtl.machine.cpu_model() not in ("", "unknown CPU")
