"""Pytest set-up: quiet TensorFlow, and run the notebooks on a perturbed float path.

The committed notebooks were executed on the reference path (oneDNN off, `make notebooks`).
`make test` runs them again under nbval with oneDNN's kernels on and one thread per
TensorFlow thread pool instead: every trained number moves in its last bits, as it does on
another CPU, so every `assert` in a notebook is checked against a float path other than the
one that wrote it, on every CI run. (nbval runs in lax mode: only cells marked
`# NBVAL_CHECK_OUTPUT`, which print data facts, have their outputs compared.) One thread
per pool is also the cheaper setting here: two notebooks run at once on 2 cores, and their
worker processes beside them, so a second thread per pool only competes (measured: 02 and
03 side by side took 143 s against 154 s with TensorFlow's default pools).
`MTL_NOTEBOOK_FLOAT_PATH=reference` runs them on the reference path instead;
`make test-robust` tries another perturbation (`scripts/run_robust.py`).
"""

import json
import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
# A notebook that saves results for readers (08's `results/compare_all.csv`) writes them
# here during tests, so that a test run leaves the work tree as it was.
os.environ.setdefault("MTL_RESULTS", tempfile.mkdtemp(prefix="mtl-results-"))

PERTURBED = {
    "TF_ENABLE_ONEDNN_OPTS": "1",  # oneDNN's kernels: other last bits
    "TF_NUM_INTRAOP_THREADS": "1",  # other reduction splits
    "TF_NUM_INTEROP_THREADS": "1",  # no effect on the bits; less contention
}


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


def pytest_collection_modifyitems(items):
    """The tutorials first, longest first (`runtimes.json`), then everything in its order.

    `make test` hands whole files to its two processes in this order
    (`--no-loadscope-reorder`): 08, about a quarter of the serial work, must not start last.
    """
    runtimes = json.loads((Path(__file__).parent / "notebooks" / "runtimes.json").read_text())
    items.sort(key=lambda item: -runtimes.get(item.path.name, 0))  # stable: cells stay in order
