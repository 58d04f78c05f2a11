"""One seed, the same bits: training repeats in fresh processes, and the environment holds."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # every test here starts fresh processes

SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import mtl_lib as mtl

    gen = mtl.synthetic.FunnelGenerator(("click", "apply", "approve"), seed=3)
    splits = mtl.experiment.Splits.from_frames(
        gen.schema,
        gen.sample(6_000, stream=0),
        gen.sample(2_000, stream=1),
        gen.sample(2_000, stream=2),
    )
    options = dict(epochs=2, patience=1, batch_size=256, jit_compile=sys.argv[2] == "xla")
    saved = {}
    for job in sys.argv[3:]:  # "model:seed", run in this order; the seed-7 runs are saved
        model, seed = job.split(":")
        result = mtl.experiment.run(model, splits, seed=int(seed), **options)
        if seed == "7":
            saved |= {f"{model}/{k}": v for k, v in result.predictions.items()}
    np.savez(sys.argv[1], **saved)
    """
)


def run_in_fresh_process(path, path_name, jobs):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0")
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path), path_name, *jobs],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    with np.load(path) as arrays:
        return {k: arrays[k] for k in arrays.files}


@pytest.mark.parametrize("path_name", ["default", "xla"])
def test_training_twice_in_fresh_processes_gives_identical_predictions(tmp_path, path_name):
    """Without op determinism on a CPU (`set_seed` turns it on on a GPU only), and whatever
    the process trained before (`set_seed` keeps TensorFlow's kernel cache).

    A shared embedding and a mixture, on shuffled data: each at seed 7 in one fresh
    process, and again in a second one after another seed of the mixture ran first.
    """
    first = run_in_fresh_process(tmp_path / "first.npz", path_name, ["esmm_concat:7", "ple:7"])
    second = run_in_fresh_process(
        tmp_path / "second.npz", path_name, ["ple:3", "esmm_concat:7", "ple:7"]
    )
    assert first.keys() == second.keys() and len(first) > 8  # both models' outputs
    for key in first:
        assert first[key].tobytes() == second[key].tobytes(), key


def _fresh_python(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    return subprocess.run(
        [sys.executable, "-W", "always", "-c", code],
        env={**clean, "TF_CPP_MIN_LOG_LEVEL": "3", **env},
        capture_output=True,
        text=True,
        check=True,
    )


def test_importing_mtl_lib_changes_no_environment_variable_and_no_global_seed():
    code = (
        "import os, random, pickle\n"
        "import keras, numpy as np, tensorflow  # they draw from Python's generator on import\n"
        "before = (dict(os.environ), random.getstate(), pickle.dumps(np.random.get_state()))\n"
        "import mtl_lib\n"
        "after = (dict(os.environ), random.getstate(), pickle.dumps(np.random.get_state()))\n"
        "print([name for name, a, b in zip(('environ', 'random', 'numpy'), before, after)"
        " if a != b])\n"
        "print(sorted(set(after[0]) ^ set(before[0])))\n"
    )
    assert _fresh_python(code).stdout.split("\n")[:2] == ["[]", "[]"]


def test_importing_mtl_lib_loads_seaborn_only_when_plots_is_used():
    """Keras and TensorFlow import matplotlib and PIL themselves; seaborn is ours alone."""
    code = (
        "import sys, mtl_lib\n"
        "print('seaborn' in sys.modules)\n"
        "mtl_lib.plots.set_style\n"
        "print('seaborn' in sys.modules)\n"
    )
    assert _fresh_python(code).stdout.split() == ["False", "True"]
