"""Serve an exported SavedModel in a fresh process, with TensorFlow only (not a test module)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0")
SERVE = """
import sys
import numpy as np
import tensorflow as tf
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
columns = np.load(sys.argv[2])
outputs = serve(**{name: tf.constant(columns[name]) for name in columns.files})
np.savez(sys.argv[3], **{step: value.numpy() for step, value in outputs.items()})
"""


def serve_in_fresh_process(path: Path, columns: dict, work: Path) -> dict[str, np.ndarray]:
    """Each step's served probability for `columns` (name → 1-D array), no Keras, no mtl_lib."""
    np.savez(work / "in.npz", **columns)
    out = subprocess.run(
        [sys.executable, "-c", SERVE, str(path), str(work / "in.npz"), str(work / "out.npz")],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    with np.load(work / "out.npz") as served:
        return {step: served[step] for step in served.files}
