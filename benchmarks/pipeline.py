"""Where the time goes from a data file to a trained model (a script, not a test).

Generates a funnel file of 500k rows (cached in `benchmarks/out/`), then runs each case in
a fresh process, so that its peak memory is its own:

- `lines`: read and decompress the file into batches of lines (`TextLineDataset`);
- `spill`: make a stream, `make_dataset(..., cache=False)`: the file's lines decoded with
  `decode_csv` a batch at a time and written to the stream's spill file (done once);
- `load`: make an in-memory dataset, `make_dataset(..., cache=True)`: the file read with
  pandas and held in memory (done once);
- `parse_ordered`: batches from the stream's spill file, not shuffled (making it not timed);
- `parse`: the same, shuffled as for training (a buffer of 100,000 rows);
- `memory`: batches from memory, shuffled (loading not timed);
- `model`: training steps on one batch held in memory (the model alone, no input cost);
- `file_fit`: `mtl_lib.train.fit` on the streamed, shuffled file: file → model;
- `memory_fit`: `mtl_lib.train.fit` on the same rows held in memory: memory → model.

The `*_fit` cases train four epochs and report the fastest epoch after the first (the first
also pays for tracing), as `benchmarks/deepctr.py` does: on this machine one process's
epochs swing between about 100,000 and 155,000 rows/s from one epoch to the next, in
memory and streamed alike, so a single epoch says little. `fit rows/s` is the examples of
all epochs over the whole call.

Each case runs `--repeat` times (5 by default), the cases in turn, and the script prints
each case's median and range, and file → model ÷ memory → model of the medians: on a
machine whose speed changes from minute to minute, one run of each says little.

`--peak` instead trains one epoch on streamed 500k-row and 5M-row files and reports each
process's peak resident memory (the 5M file is generated once, which takes minutes).

    python benchmarks/pipeline.py                 # the cases, on the 500k-row file
    python benchmarks/pipeline.py --peak          # peak memory, 500k against 5M rows
    python benchmarks/pipeline.py --label before  # also save the table as out/pipeline_before.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from peak_memory import peak_rss_mib  # beside this script

OUT = Path(__file__).resolve().parent / "out"
DATA = Path(__file__).resolve().parents[1] / "data" / "funnel"
CASES = (
    "lines",
    "spill",
    "load",
    "parse_ordered",
    "parse",
    "memory",
    "model",
    "file_fit",
    "memory_fit",
)
ROWS = 500_000
PEAK_ROWS = (500_000, 5_000_000)
BATCH = 1024
EPOCHS = 4
MODEL = "esmm_chain"


def make_file(rows: int) -> Path:
    """The cached generated file of `rows` rows (`FunnelGenerator(seed=0)`)."""
    from mtl_lib.synthetic import FunnelGenerator

    name = f"{rows // 1_000_000}M" if rows % 1_000_000 == 0 else f"{rows // 1000}k"
    path = OUT / f"funnel_{name}.csv.gz"
    if not path.exists():
        start = time.perf_counter()
        FunnelGenerator(seed=0).write_csv(path, rows)
        print(f"generated {path.name} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return path


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def measure(case: str, path: str) -> dict:
    """Run one case in this process; return rows, seconds and peak resident memory."""
    import keras
    import tensorflow as tf

    import mtl_lib as mtl

    schema = mtl.data.Schema.load(DATA)
    base_mib = peak_rss_mib()

    def model() -> keras.Model:
        mtl.train.set_seed(0)
        m = mtl.experiment.MODELS[MODEL](schema)
        return mtl.train.compile_model(m, schema.steps)

    def stream(shuffle: bool) -> tf.data.Dataset:
        return mtl.data.make_dataset(
            path, schema, batch_size=BATCH, cache=False, validate=False, shuffle=shuffle, seed=0
        )

    def memory(shuffle: bool) -> tf.data.Dataset:
        return mtl.data.make_dataset(
            path, schema, batch_size=BATCH, cache=True, validate=False, shuffle=shuffle, seed=0
        )

    def result(case: str, rows: int, seconds: float, cpu: float, fit: float = np.nan) -> dict:
        return {
            "case": case,
            "rows": rows,
            "seconds": seconds,
            "fit_rows_per_s": fit,
            "cpu_seconds": cpu,
            "peak_mib": peak_rss_mib(),
            "base_mib": base_mib,
        }

    def drain(ds: tf.data.Dataset) -> int:
        rows = 0
        for batch in ds:
            rows += int(tf.shape(tf.nest.flatten(batch)[0])[0])
        return rows

    if case == "lines":
        ds = tf.data.TextLineDataset(path, compression_type="GZIP").skip(1).batch(BATCH)
        start, cpu = time.perf_counter(), _cpu_seconds()
        rows = drain(ds)
    elif case in ("spill", "load"):
        start, cpu = time.perf_counter(), _cpu_seconds()
        ds = stream(shuffle=True) if case == "spill" else memory(shuffle=True)
        seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
        return result(case, drain(ds), seconds, cpu)  # the drain, untimed, counts the rows
    elif case in ("parse", "parse_ordered"):
        ds = stream(shuffle=case == "parse")
        start, cpu = time.perf_counter(), _cpu_seconds()
        rows = drain(ds)
    elif case == "memory":
        ds = memory(shuffle=True)
        start, cpu = time.perf_counter(), _cpu_seconds()
        rows = drain(ds)
    elif case == "model":
        m = model()
        batch = next(iter(memory(shuffle=False)))
        steps = ROWS // BATCH
        ds = tf.data.Dataset.from_tensors(batch).repeat(steps)
        m.fit(ds.take(2), verbose=0)  # trace the train step once, untimed
        start, cpu = time.perf_counter(), _cpu_seconds()
        m.fit(ds, verbose=0)
        rows = steps * BATCH
    else:
        m = model()
        ds = stream(shuffle=True) if case == "file_fit" else memory(shuffle=True)
        start, cpu = time.perf_counter(), _cpu_seconds()
        history = mtl.train.fit(m, ds, epochs=EPOCHS)
        wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
        # The fastest epoch after the first, which also pays for tracing
        last = history.iloc[1:].sort_values("examples_per_second").iloc[-1]
        rows = round(last["examples_per_second"] * last["seconds"])
        # fit rows/s: the whole call, tracing and any extra pass included
        return result(case, rows, float(last["seconds"]), cpu, EPOCHS * rows / wall)
    return result(case, rows, time.perf_counter() - start, _cpu_seconds() - cpu)


def _child(case: str, path: Path) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0")
    out = subprocess.run(
        [sys.executable, __file__, "--case", case, "--path", str(path)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--case", help="run one case in this process (used internally)")
    parser.add_argument("--path")
    parser.add_argument("--peak", action="store_true", help="peak memory, 500k vs 5M rows")
    parser.add_argument("--cases", nargs="*", default=CASES, choices=CASES)
    parser.add_argument("--label", help="save the results as out/pipeline_<label>.json")
    parser.add_argument(
        "--repeat", type=int, default=5, help="runs of each case, in turn with the other cases"
    )
    args = parser.parse_args()
    if args.case:  # child process
        print(json.dumps(measure(args.case, args.path)))
        return
    OUT.mkdir(exist_ok=True)
    runs = (
        [("file_fit", make_file(rows)) for rows in PEAK_ROWS]
        if args.peak  # peak memory: one run each
        else [(case, make_file(ROWS)) for case in args.cases] * args.repeat  # cases in turn
    )
    print(
        f"{'file':>22} {'case':>10} {'rows':>10} {'seconds':>8} {'rows/s':>10} "
        f"{'fit rows/s':>10} {'CPU s':>6} {'peak MiB':>9} {'after import':>12}"
    )
    results = []
    for case, path in runs:
        r = _child(case, path) | {"file": path.name}
        results.append(r)
        print(
            f"{path.name:>22} {case:>10} {r['rows']:>10,} {r['seconds']:>8.1f} "
            f"{r['rows'] / r['seconds']:>10,.0f} {r['fit_rows_per_s']:>10,.0f} "
            f"{r['cpu_seconds']:>6.1f} "
            f"{r['peak_mib']:>9.0f} {r['base_mib']:>12.0f}",
            flush=True,
        )
    if not args.peak:
        summarize(results)
    if args.label:
        (OUT / f"pipeline_{args.label}.json").write_text(json.dumps(results, indent=1) + "\n")


def summarize(results: list[dict]) -> None:
    """Median and range of each case's rows/s over its runs; file → model ÷ memory → model."""
    speeds: dict[str, list[float]] = {}
    for r in results:
        speeds.setdefault(r["case"], []).append(r["rows"] / r["seconds"])
        speeds.setdefault(f"{r['case']}, fit rows/s", []).append(r["fit_rows_per_s"])
    print("\nmedian rows/s over the runs (range):")
    for name, values in speeds.items():
        if not np.isnan(values).all():
            print(f"  {name}: {np.median(values):,.0f} ({min(values):,.0f}–{max(values):,.0f})")
    for suffix in ("", ", fit rows/s"):
        file, memory = speeds.get(f"file_fit{suffix}"), speeds.get(f"memory_fit{suffix}")
        if file and memory:
            clear = min(file) > max(memory) or max(file) < min(memory)
            print(
                f"file → model ÷ memory → model{suffix or ', rows/s'}: "
                f"{np.median(file) / np.median(memory):.2f}× "
                f"({'every run agrees' if clear else 'the runs overlap'})"
            )


if __name__ == "__main__":
    main()
