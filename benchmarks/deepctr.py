"""mtl_lib against DeepCTR on the same funnel data (`make benchmark-deepctr`; a script, not a test).

DeepCTR (shenweichen/DeepCTR) is the library most users would otherwise pick for ESMM, MMoE
and PLE. This script trains DeepCTR's `ESMM`, `MMOE` and `PLE` (`deepctr.models.multitask`)
and this project's `build_esmm`, `build_mmoe` and `build_ple` on the same data, with the
same sizes and training settings, and prints them side by side:

- **train ex/s**: training examples per second of the fastest epoch after the first (the
  first epoch, which also traces the graph, is timed apart: `1st epoch s`), measured by the
  same Keras callback in both libraries; the fastest, because on a machine shared with
  other jobs the least time is the closest to what a library costs by itself;
- **train CPU µs/ex**: the process's CPU time (all threads) per training example in its
  least costly epoch after the first: the measure least disturbed by other jobs;
- **predict ex/s** and **predict CPU µs/ex**: the same for the fastest of five prediction
  passes over the whole test split, after a first one that traces;
- **peak MiB**: the case's peak resident memory (`VmHWM`), each case in its own
  process, beside the memory right after the imports;
- **AUC**: `sklearn.metrics.roc_auc_score` on the whole test split, computed by this script
  for both libraries from the predictions each case saves.

Models and tasks: ESMM on the two-step funnel click → apply (pCTR scored on `click`, pCTCVR
on `apply`); MMoE and PLE with click, apply and approve as independent tasks, each predicted
over every exposure. Data: the shipped `data/funnel` splits (200k training and 100k test
rows), read once with `mtl_lib.data.read_frame` and cached as arrays in
`benchmarks/out/deepctr/`, so that both libraries see the same numbers.

What is held equal: embedding width, tower and expert widths, number of experts and levels,
batch size, Adam and its learning rate, epochs, shuffling every epoch, binary cross-entropy
on every task with weight 1, no regularization (DeepCTR's `l2_reg_embedding` is set to 0),
TensorFlow's intra- and inter-op threads, oneDNN off and op determinism off in both (the
project's defaults on a CPU), and XLA off in both (the default a user gets) or, with `--xla`,
on in both (`jit_compile=True`; the table then goes to `benchmarks/out/deepctr-xla.md`).
mtl_lib trains with its default Adam, `mtl_lib.optimizers.Adam`: Adam also on embedding
rows that a batch looks up more than once, as `tf_keras`'s Adam (so DeepCTR's) is; or, with
`--adam keras`, with Keras 3's own Adam, which is not (the table then goes to
`benchmarks/out/deepctr-keras-adam.md`, or `deepctr-xla-keras-adam.md`).
What is each library's own: initializers (DeepCTR draws embeddings from N(0, 1e-4²) and
gives every dense network the same seed, so its experts start identical; mtl_lib uses
Keras's defaults), gate biases (DeepCTR's gates have none), the input pipeline (mtl_lib:
`mtl_lib.data.make_dataset` and `mtl_lib.train.fit`; DeepCTR: NumPy arrays handed to
`Model.fit`, as in its documentation) and Keras (3 for mtl_lib, the legacy Keras 2,
`tf_keras`, for DeepCTR).

DeepCTR runs on the legacy Keras 2 package, so its cases run in their own virtual
environment, `benchmarks/.venv-deepctr`, installed from `benchmarks/requirements-deepctr.txt`
(the same TensorFlow build, tensorflow-cpu 2.21.0, plus tf_keras and deepctr), with
`TF_USE_LEGACY_KERAS=1`. Cases run one after another, each `--repeats` times (2) in fresh
processes with the libraries alternating, and the table is written to stdout and to
`benchmarks/out/deepctr.md` (every process's raw timings to `out/deepctr/results.json`). On
a machine shared with other jobs the throughputs are lower bounds; the load average before
and after is reported with the table.

    make benchmark-deepctr                            # creates the DeepCTR venv, then runs
    .venv/bin/python benchmarks/deepctr.py --models esmm --epochs 2   # a shorter run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from peak_memory import peak_rss_mib  # beside this script, imported before the line below

HERE = Path(__file__).resolve().parent
# Run as a script, this file's folder is first on sys.path, where `import deepctr` would find
# this very file: drop it, so that the DeepCTR package is the one imported.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

ROOT = HERE.parent
DATA = ROOT / "data" / "funnel"
OUT = HERE / "out"
CACHE = OUT / "deepctr"
DEEPCTR_PYTHON = HERE / ".venv-deepctr" / "bin" / "python"

SEED = 0
THREADS = 2
EPOCHS = 3  # the first is warm-up: train ex/s is the fastest of the others
BATCH_SIZE = 1024
LEARNING_RATE = 1e-3
PREDICT_BATCH = 8192
PREDICT_REPEATS = 5  # timed passes after the first; the fastest counts
REPEATS = 3  # processes per case, the libraries alternating; median and range reported
EMBEDDING_DIM = 8
ESMM_TOWER_UNITS = (64, 32)
NUM_EXPERTS = 8
EXPERT_UNITS = (32,)
TOWER_UNITS = (16,)
PLE_TASK_EXPERTS = 2
PLE_SHARED_EXPERTS = 2
PLE_LEVELS = 2

#: Model → the funnel steps it is trained on (ESMM: CTR and CTCVR; the others: independent).
TASKS = {
    "esmm": ("click", "apply"),
    "mmoe": ("click", "apply", "approve"),
    "ple": ("click", "apply", "approve"),
}
LIBRARIES = ("mtl_lib", "deepctr")
ALL_STEPS = ("click", "apply", "approve")
RESULT = "RESULT "  # prefix of the line a case prints with its measurements


# ---------------------------------------------------------------------------------- data
def prepare_data() -> dict[str, Any]:
    """Read the shipped splits once and cache them as NumPy arrays for both libraries.

    Returns:
        The data's description: the fields in file order (name, embedding rows or `None`
        for a numeric field), the steps, and the number of rows of each split.
    """
    meta_path = CACHE / "meta.json"
    sources = [DATA / "features.csv", DATA / "vocab.json"]
    sources += [DATA / f"{s}.csv.gz" for s in ("train", "test")]
    newest = max(p.stat().st_mtime for p in sources if p.exists())
    if meta_path.exists() and meta_path.stat().st_mtime > newest:
        return json.loads(meta_path.read_text())

    import numpy as np

    import mtl_lib as mtl

    schema = mtl.data.Schema.load(DATA)
    CACHE.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {
        "fields": [
            [f.name, schema.vocabulary_sizes.get(f.name) if f.embedded else None]
            for f in schema.fields
        ],
        "steps": list(ALL_STEPS),
        "rows": {},
    }
    for split in ("train", "test"):
        frame = mtl.data.read_frame(mtl.data.split_path(DATA, split), schema)
        columns = [*schema.feature_names, *ALL_STEPS]
        np.savez(CACHE / f"{split}.npz", **{c: frame[c].to_numpy() for c in columns})
        meta["rows"][split] = len(frame)
    meta_path.write_text(json.dumps(meta, indent=1))
    return meta


def load_split(split: str, rows: int | None = None) -> dict[str, Any]:
    """The cached split: column name → NumPy array (ids int32, steps float32).

    Args:
        split: `"train"` or `"test"`.
        rows: Keep only the first `rows` rows (for a quick run); `None` keeps all.
    """
    import numpy as np

    with np.load(CACHE / f"{split}.npz") as arrays:
        columns = {name: arrays[name][:rows] for name in arrays.files}
    return {
        name: values.astype(np.float32) if name in ALL_STEPS else values
        for name, values in columns.items()
    }


# ----------------------------------------------------------------------------- one case
def _epoch_timer(base: type) -> Any:
    """A Keras callback (of Keras 3 or of tf_keras, given its `Callback` class) timing epochs."""

    class EpochTimer(base):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []  # wall-clock
            self.cpu_seconds: list[float] = []  # CPU time of the whole process, all threads

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self._start, self._cpu = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.seconds.append(time.perf_counter() - self._start)
            self.cpu_seconds.append(time.process_time() - self._cpu)

    return EpochTimer()


def _set_threads(tf: Any) -> None:
    """The same TensorFlow thread pools in both libraries' processes, before any op runs."""
    tf.config.threading.set_intra_op_parallelism_threads(THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(THREADS)


def _timed_predictions(predict: Any) -> tuple[dict[str, Any], float, float]:
    """Predict once to trace, then `PREDICT_REPEATS` times.

    Returns:
        The outputs, the least wall-clock seconds and the least CPU seconds of a pass.
    """
    outputs, seconds, cpu_seconds = predict(), [], []
    for _ in range(PREDICT_REPEATS):
        start, cpu = time.perf_counter(), time.process_time()
        outputs = predict()
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu)
    return outputs, min(seconds), min(cpu_seconds)


def run_mtl_lib(
    model_name: str,
    meta: dict,
    train_rows: int | None,
    epochs: int,
    xla: bool = False,
    adam: str = "exact",
) -> dict:
    """Train and time this project's model; return the measurements and predictions.

    Args:
        model_name: A key of `TASKS`.
        meta: The data's description from `prepare_data`.
        train_rows: Train on the first rows only (`None`: all).
        epochs: Passes over the training split, the first one timed apart.
        xla: Compile with XLA (`jit_compile=True`).
        adam: `"exact"` (`mtl_lib.optimizers.Adam`, the project's default) or `"keras"`
            (Keras 3's Adam).

    Returns:
        Epoch seconds, prediction seconds, parameters, memory, versions and the test
        predictions (output name → array).
    """
    import keras
    import pandas as pd
    import tensorflow as tf

    import mtl_lib as mtl

    _set_threads(tf)
    after_import = peak_rss_mib()
    steps = TASKS[model_name]
    schema = mtl.data.Schema.load(DATA).with_steps(steps, ())
    train = pd.DataFrame(load_split("train", train_rows))
    test = pd.DataFrame(load_split("test"))

    mtl.train.set_seed(SEED)  # Keras's seeds (op determinism only on a GPU)
    common = {"embedding_dim": EMBEDDING_DIM}
    if model_name == "esmm":
        model = mtl.models.build_esmm(schema, tower_units=ESMM_TOWER_UNITS, **common)
    elif model_name == "mmoe":
        model = mtl.models.build_mmoe(
            schema,
            num_experts=NUM_EXPERTS,
            expert_units=EXPERT_UNITS,
            tower_units=TOWER_UNITS,
            **common,
        )
    else:
        model = mtl.models.build_ple(
            schema,
            num_task_experts=PLE_TASK_EXPERTS,
            num_shared_experts=PLE_SHARED_EXPERTS,
            expert_units=EXPERT_UNITS,
            num_levels=PLE_LEVELS,
            tower_units=TOWER_UNITS,
            **common,
        )
    optimizer = keras.optimizers.Adam(LEARNING_RATE) if adam == "keras" else "adam"
    mtl.train.compile_model(
        model, steps, learning_rate=LEARNING_RATE, optimizer=optimizer, jit_compile=xla
    )
    data = mtl.data.make_dataset(
        train, schema, batch_size=BATCH_SIZE, shuffle=True, seed=SEED, validate=False
    )
    timer = _epoch_timer(keras.callbacks.Callback)
    mtl.train.fit(model, data, epochs=epochs, callbacks=[timer])
    outputs, predict_seconds, predict_cpu_seconds = _timed_predictions(
        lambda: mtl.train.predict(model, test, schema, batch_size=PREDICT_BATCH)
    )
    return {
        "epoch_seconds": timer.seconds,
        "epoch_cpu_seconds": timer.cpu_seconds,
        "predict_seconds": predict_seconds,
        "predict_cpu_seconds": predict_cpu_seconds,
        "params": model.count_params(),
        "after_import_mib": after_import,
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
        "predictions": {step: outputs[step] for step in steps},
    }


def run_deepctr(
    model_name: str, meta: dict, train_rows: int | None, epochs: int, xla: bool = False
) -> dict:
    """Train and time DeepCTR's model (in DeepCTR's own venv); arguments as `run_mtl_lib`.

    Returns:
        The same measurements as `run_mtl_lib`.
    """
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tf.keras is then tf_keras (Keras 2)
    import types

    import requests

    # At import, DeepCTR asks PyPI for its newest version in a background thread; answer
    # "not found" here, so the benchmark makes no network call and prints nothing about it.
    requests.get = lambda *args, **kwargs: types.SimpleNamespace(status_code=404)
    from importlib import metadata

    import deepctr
    import tensorflow as tf
    from deepctr.feature_column import DenseFeat, SparseFeat
    from deepctr.models.multitask import ESMM, MMOE, PLE

    _set_threads(tf)
    after_import = peak_rss_mib()
    steps = TASKS[model_name]
    train = load_split("train", train_rows)
    test = load_split("test")
    names = [name for name, _ in meta["fields"]]
    columns = [
        SparseFeat(name, vocabulary_size=size, embedding_dim=EMBEDDING_DIM)
        if size is not None
        else DenseFeat(name, 1)
        for name, size in meta["fields"]
    ]

    tf.keras.utils.set_random_seed(SEED)  # op determinism off, as mtl_lib.train.set_seed on a CPU
    common = {"l2_reg_embedding": 0.0, "task_names": steps}
    if model_name == "esmm":
        model = ESMM(columns, tower_dnn_hidden_units=ESMM_TOWER_UNITS, **common)
    elif model_name == "mmoe":
        model = MMOE(
            columns,
            num_experts=NUM_EXPERTS,
            expert_dnn_hidden_units=EXPERT_UNITS,
            tower_dnn_hidden_units=TOWER_UNITS,
            task_types=("binary",) * len(steps),
            **common,
        )
    else:
        model = PLE(
            columns,
            shared_expert_num=PLE_SHARED_EXPERTS,
            specific_expert_num=PLE_TASK_EXPERTS,
            num_levels=PLE_LEVELS,
            expert_dnn_hidden_units=EXPERT_UNITS,
            tower_dnn_hidden_units=TOWER_UNITS,
            task_types=("binary",) * len(steps),
            **common,
        )
    model.compile(
        optimizer=tf.keras.optimizers.Adam(LEARNING_RATE),
        loss=dict.fromkeys(steps, "binary_crossentropy"),
        jit_compile=xla,
    )
    timer = _epoch_timer(tf.keras.callbacks.Callback)
    model.fit(
        {name: train[name] for name in names},
        {step: train[step] for step in steps},
        batch_size=BATCH_SIZE,
        epochs=epochs,
        shuffle=True,
        callbacks=[timer],
        verbose=0,
    )
    test_inputs = {name: test[name] for name in names}

    def predict() -> dict[str, Any]:
        out = model.predict(test_inputs, batch_size=PREDICT_BATCH, verbose=0)
        return {name: values[:, 0] for name, values in zip(model.output_names, out, strict=True)}

    outputs, predict_seconds, predict_cpu_seconds = _timed_predictions(predict)
    return {
        "epoch_seconds": timer.seconds,
        "epoch_cpu_seconds": timer.cpu_seconds,
        "predict_seconds": predict_seconds,
        "predict_cpu_seconds": predict_cpu_seconds,
        "params": model.count_params(),
        "after_import_mib": after_import,
        "versions": {
            "tensorflow": tf.__version__,
            "tf_keras": metadata.version("tf_keras"),
            "deepctr": deepctr.__version__,
        },
        "predictions": {step: outputs[step] for step in steps},
    }


def run_case(
    library: str, model_name: str, train_rows: int | None, epochs: int, xla: bool, adam: str
) -> None:
    """Run one case in this process; save its predictions and print its measurements."""
    import numpy as np

    meta = json.loads((CACHE / "meta.json").read_text())
    if library == "mtl_lib":
        result = run_mtl_lib(model_name, meta, train_rows, epochs, xla, adam)
    else:  # tf_keras's Adam: exact on repeated rows already
        result = run_deepctr(model_name, meta, train_rows, epochs, xla)
    predictions = result.pop("predictions")
    np.savez(CACHE / f"pred_{library}_{model_name}.npz", **predictions)
    result.update(
        library=library,
        model=model_name,
        train_rows=train_rows or meta["rows"]["train"],
        test_rows=meta["rows"]["test"],
        peak_mib=peak_rss_mib(),
        python=platform.python_version(),
    )
    print(RESULT + json.dumps(result), flush=True)


# ------------------------------------------------------------------------------- driver
def _child(
    library: str,
    model_name: str,
    python: Path,
    train_rows: int | None,
    epochs: int,
    xla: bool,
    adam: str,
) -> dict:
    """Run one case in a fresh process of the library's interpreter; return its result."""
    env = dict(
        os.environ,
        TF_CPP_MIN_LOG_LEVEL="3",
        TF_ENABLE_ONEDNN_OPTS="0",
        PYTHONHASHSEED="0",
    )
    env.pop("TF_USE_LEGACY_KERAS", None)
    if library == "deepctr":
        env["TF_USE_LEGACY_KERAS"] = "1"
    command = [str(python), __file__, "--case", library, model_name, "--epochs", str(epochs)]
    if train_rows:
        command += ["--train-rows", str(train_rows)]
    if xla:
        command.append("--xla")
    command += ["--adam", adam]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith(RESULT)]
    if done.returncode or not lines:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        return {"library": library, "model": model_name, "error": tail}
    return json.loads(lines[-1][len(RESULT) :])


def _aucs(result: dict, test: dict) -> dict[str, float]:
    """Test AUC of every task of a case, from its saved predictions (the same code for both)."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    with np.load(CACHE / f"pred_{result['library']}_{result['model']}.npz") as pred:
        return {step: float(roc_auc_score(test[step], pred[step])) for step in pred.files}


def summarize(runs: Sequence[dict]) -> dict:
    """One case's repeats in one row: median speeds with their ranges, the largest peak.

    Each process's training speed is that of its fastest epoch after the first (which also
    traces the graph; the first epoch is reported apart), its CPU cost that of its least
    costly epoch after the first, its prediction speed the fastest of its passes after a
    first. Across the processes of a case, the row gives the median and the range.

    Args:
        runs: The results of the same case's processes, each with `auc` added.

    Returns:
        `model`, `library`, `params`; `train` (ex/s), `train_cpu_us` (CPU µs per training
        example), `predict` (ex/s) and `predict_cpu_us`, each a `(median, low, high)`
        triple over the processes; `first_epoch` (s, median), `peak_mib`,
        `after_import_mib`, `auc` (step → AUC of the first process) and `auc_spread` (the
        largest difference between repeats).
    """
    first = runs[0]
    rows, test_rows = first["train_rows"], first["test_rows"]

    def spread(values: Sequence[float]) -> tuple[float, float, float]:
        return statistics.median(values), float(min(values)), float(max(values))

    steady = [r["epoch_seconds"][1:] or r["epoch_seconds"] for r in runs]
    steady_cpu = [r["epoch_cpu_seconds"][1:] or r["epoch_cpu_seconds"] for r in runs]
    return {
        "model": first["model"],
        "library": first["library"],
        "params": first["params"],
        "train": spread([rows / min(s) for s in steady]),
        "train_cpu_us": spread([min(s) / rows * 1e6 for s in steady_cpu]),
        "first_epoch": statistics.median(r["epoch_seconds"][0] for r in runs),
        "predict": spread([test_rows / r["predict_seconds"] for r in runs]),
        "predict_cpu_us": spread([r["predict_cpu_seconds"] / test_rows * 1e6 for r in runs]),
        "peak_mib": max(r["peak_mib"] for r in runs),
        "after_import_mib": max(r["after_import_mib"] for r in runs),
        "auc": first["auc"],
        "auc_spread": max(abs(r["auc"][k] - first["auc"][k]) for r in runs for k in first["auc"]),
    }


def _compare(what: str, ours: tuple, theirs: tuple, *, lower_is_better: bool) -> str:
    """Median ratio ours ÷ theirs, called faster or slower only where every run agrees."""
    ratio = ours[0] / theirs[0]
    if lower_is_better:
        better, worse = ours[2] < theirs[1], ours[1] > theirs[2]
    else:
        better, worse = ours[1] > theirs[2], ours[2] < theirs[1]
    word = "faster" if better else "slower" if worse else "no clear difference"
    return f"{what} {ratio:.2f}× ({word})"


def _verdict(ours: dict, theirs: dict) -> str:
    """A line comparing mtl_lib with DeepCTR on one model: median ratios, and the AUCs.

    "faster" (or "slower") is said only where every run of one library beats every run of
    the other; otherwise the ranges overlap and the line says so.
    """
    steps = list(ours["auc"])
    delta = {s: ours["auc"][s] - theirs["auc"][s] for s in steps}
    parts = [
        _compare("train ex/s", ours["train"], theirs["train"], lower_is_better=False),
        _compare(
            "train CPU µs/ex", ours["train_cpu_us"], theirs["train_cpu_us"], lower_is_better=True
        ),
        _compare("predict ex/s", ours["predict"], theirs["predict"], lower_is_better=False),
        _compare(
            "predict CPU µs/ex",
            ours["predict_cpu_us"],
            theirs["predict_cpu_us"],
            lower_is_better=True,
        ),
    ]
    return (
        f"- **{ours['model']}**, mtl_lib ÷ DeepCTR (medians): "
        + "; ".join(parts)
        + f"; peak memory {ours['peak_mib'] / theirs['peak_mib']:.2f}×; AUC mtl_lib − DeepCTR: "
        + ", ".join(f"{s} {d:+.4f}" for s, d in delta.items())
        + "."
    )


def _range(value: tuple[float, float, float], spec: str) -> str:
    """`median (low–high)`."""
    median, low, high = value
    return f"{median:{spec}} ({low:{spec}}–{high:{spec}})"


def markdown(rows: Sequence[dict], settings: str, errors: Sequence[str] = ()) -> str:
    """The summarized cases as a markdown table, a comparison per model and the settings.

    Args:
        rows: One `summarize` row per case, the libraries of a model side by side.
        settings: A paragraph of versions and settings, put under the table.
        errors: Failed cases, each a line and the tail of its error output.
    """
    header = (
        "| model | library | params | train ex/s | train CPU µs/ex | 1st epoch s "
        "| predict ex/s | predict CPU µs/ex | peak MiB (after import) | "
        + " | ".join(f"AUC {s}" for s in ALL_STEPS)
        + " |"
    )
    lines = [header, "|" + "---|" * (9 + len(ALL_STEPS))]
    for r in rows:
        aucs = [f"{r['auc'][s]:.4f}" if s in r["auc"] else "" for s in ALL_STEPS]
        lines.append(
            f"| {r['model']} | {r['library']} | {r['params']:,} | {_range(r['train'], ',.0f')} "
            f"| {_range(r['train_cpu_us'], '.1f')} | {r['first_epoch']:.1f} "
            f"| {_range(r['predict'], ',.0f')} | {_range(r['predict_cpu_us'], '.1f')} "
            f"| {r['peak_mib']:,.0f} ({r['after_import_mib']:,.0f}) | " + " | ".join(aucs) + " |"
        )
    by_case = {(r["model"], r["library"]): r for r in rows}
    verdicts = [
        _verdict(by_case[m, "mtl_lib"], by_case[m, "deepctr"])
        for m in TASKS
        if (m, "mtl_lib") in by_case and (m, "deepctr") in by_case
    ]
    spread = max((r["auc_spread"] for r in rows), default=0.0)
    repeat_note = f"AUCs of repeated runs of a case differ by at most {spread:.1e}."
    return "\n".join([*lines, "", *verdicts, "", settings, repeat_note, *errors]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", choices=list(TASKS), default=list(TASKS))
    parser.add_argument("--libraries", nargs="+", choices=LIBRARIES, default=list(LIBRARIES))
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="the first is warm-up")
    parser.add_argument(
        "--repeats", type=int, default=REPEATS, help="processes per case (median and range)"
    )
    parser.add_argument("--train-rows", type=int, help="train on the first rows only")
    parser.add_argument("--deepctr-python", type=Path, default=DEEPCTR_PYTHON)
    parser.add_argument(
        "--xla", action="store_true", help="both libraries compile with XLA (jit_compile=True)"
    )
    parser.add_argument(
        "--adam",
        choices=("exact", "keras"),
        default="exact",
        help="mtl_lib's optimizer: mtl_lib.optimizers.Adam (the default) or Keras 3's Adam",
    )
    parser.add_argument("--case", nargs=2, metavar=("LIBRARY", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:  # a child process: one library, one model
        run_case(*args.case, args.train_rows, args.epochs, args.xla, args.adam)
        return
    if "deepctr" in args.libraries and not args.deepctr_python.exists():
        sys.exit(f"{args.deepctr_python} not found: run `make benchmark-deepctr` to create it")

    meta = prepare_data()
    test = load_split("test")
    load_before = os.getloadavg()
    start = time.perf_counter()
    runs: dict[tuple[str, str], list[dict]] = {}
    errors = []
    for model_name in args.models:
        for repeat in range(args.repeats):  # the libraries alternate, so both share the load
            for library in args.libraries:
                python = Path(sys.executable) if library == "mtl_lib" else args.deepctr_python
                result = _child(
                    library, model_name, python, args.train_rows, args.epochs, args.xla, args.adam
                )
                if "error" in result:
                    errors.append(f"{model_name}/{library} failed:\n\n```\n{result['error']}\n```")
                else:
                    result["auc"] = _aucs(result, test)
                    runs.setdefault((model_name, library), []).append(result)
                print(f"{model_name}/{library} {repeat + 1} done", file=sys.stderr, flush=True)
    load_after = os.getloadavg()

    versions: dict[str, str] = {}
    for case in runs.values():
        versions.update(case[0]["versions"])
    version_text = ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
    settings = (
        f"Data: `data/funnel`, {args.train_rows or meta['rows']['train']:,} training and "
        f"{meta['rows']['test']:,} test rows. {args.epochs} epochs, batch {BATCH_SIZE}, Adam "
        f"{LEARNING_RATE:g}, embedding {EMBEDDING_DIM}; ESMM towers {ESMM_TOWER_UNITS}; MMoE "
        f"{NUM_EXPERTS} experts {EXPERT_UNITS}; PLE {PLE_LEVELS} levels of {PLE_TASK_EXPERTS} "
        f"task + {PLE_SHARED_EXPERTS} shared experts {EXPERT_UNITS}; towers {TOWER_UNITS}; "
        f"predict batch {PREDICT_BATCH}. {THREADS} intra- and inter-op threads, oneDNN off, "
        f"op determinism off, {'XLA' if args.xla else 'no XLA (the default)'}, seed {SEED}, "
        + (
            "mtl_lib with its default Adam (mtl_lib.optimizers.Adam). "
            if args.adam == "exact"
            else "mtl_lib with Keras 3's Adam (not Adam on repeated embedding rows). "
        )
        + f"Each case ran {args.repeats}× in a fresh process, "
        "the libraries alternating; each speed is the median over the processes (range in "
        "brackets) of a process's fastest epoch after the first (train) or fastest of "
        f"{PREDICT_REPEATS} passes after a first (predict); peak MiB the largest. "
        f"Python {platform.python_version()}, {version_text}; {os.cpu_count()} CPUs, load "
        f"average {load_before[0]:.1f} before and {load_after[0]:.1f} after "
        f"({time.perf_counter() - start:.0f} s in all): on a machine shared with other jobs "
        "the speeds are lower bounds, and CPU µs per example is the steadier measure."
    )
    rows = [summarize(case) for case in runs.values()]
    text = markdown(rows, settings, errors)
    OUT.mkdir(parents=True, exist_ok=True)
    suffix = ("-xla" if args.xla else "") + ("-keras-adam" if args.adam == "keras" else "")
    (OUT / f"deepctr{suffix}.md").write_text(text)
    (CACHE / f"results{suffix}.json").write_text(json.dumps(runs_as_list(runs), indent=1))
    print(text)


def runs_as_list(runs: dict[tuple[str, str], list[dict]]) -> list[dict]:
    """Every process's raw result, for `benchmarks/out/deepctr/results.json`."""
    return [result for case in runs.values() for result in case]


if __name__ == "__main__":
    main()
