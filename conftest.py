"""Pytest set-up: quiet TensorFlow, and run the notebooks on a perturbed float path.

The committed notebooks were executed on the reference path (oneDNN off, `make notebooks`).
`make test` runs them again under nbval with oneDNN's kernels on instead: every trained
number moves in its last bits, as it does on another CPU, so every `assert` in a notebook
is checked against a float path other than the one that wrote it, on every CI run. (nbval
runs in lax mode: only cells marked `# NBVAL_CHECK_OUTPUT`, which print data facts, have
their outputs compared.) `MTL_NOTEBOOK_FLOAT_PATH=reference` runs them on the reference
path instead; `make test-robust` tries a second perturbation (`scripts/run_robust.py`).
"""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

PERTURBED = {"TF_ENABLE_ONEDNN_OPTS": "1"}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    """Start a notebook's kernel (nbval does it in the first cell's set-up) perturbed."""
    perturb = item.path.suffix == ".ipynb" and os.environ.get("MTL_NOTEBOOK_FLOAT_PATH") != (
        "reference"
    )
    saved = {k: os.environ.get(k) for k in PERTURBED}
    if perturb:
        os.environ.update(PERTURBED)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
