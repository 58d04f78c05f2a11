"""The machine a result was computed on: library versions, CPU, cores and float path.

A trained number depends on the floating-point path it took: the CPU's vector units
(AVX-512 or AVX2), whether TensorFlow uses oneDNN's kernels, how many threads split a
reduction. On one machine the same seed gives the same bits every run; another machine
moves a trained AUC in its 4th decimal. Every notebook prints `describe()` in its setup, so
a reader whose 4th decimal differs can see why; data (row counts, labels, checksums) does
not depend on any of this.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

__all__ = ["cpu_model", "describe", "float_path"]


def cpu_model() -> str:
    """The CPU's model name (`/proc/cpuinfo` on Linux), or the platform's best guess."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return " ".join(line.split(":", 1)[1].split())
    return platform.processor() or platform.machine() or "unknown CPU"


def float_path() -> str:
    """The TensorFlow settings that choose the float path, as read from the environment.

    Returns:
        e.g. `"oneDNN off"`, or `"oneDNN on, 1 intra-op thread"` under a perturbation.
    """
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "")
    path = "oneDNN off" if onednn == "0" else "oneDNN on"
    threads = os.environ.get("TF_NUM_INTRAOP_THREADS")
    if threads:
        path += f", {threads} intra-op thread{'s' if threads != '1' else ''}"
    return path


def describe() -> str:
    """One line naming what a trained result depends on beyond the code and the seed.

    Returns:
        e.g. `"TensorFlow 2.21.0 · Keras 3.15.1 · NumPy 2.4.6 · Intel(R) Xeon(R) ... ·
        2 cores · oneDNN off"`.

    Example:
        >>> import mtl_lib as mtl
        >>> print(mtl.machine.describe())  # doctest: +SKIP
    """
    import keras  # imported here: reading the CPU needs no TensorFlow
    import numpy as np
    import tensorflow as tf

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return " · ".join(
        [
            f"TensorFlow {tf.__version__}",
            f"Keras {keras.__version__}",
            f"NumPy {np.__version__}",
            cpu_model(),
            f"{cores} cores",
            float_path(),
        ]
    )
