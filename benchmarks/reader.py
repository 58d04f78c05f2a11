"""Throughput and peak memory of the CSV reader (`make benchmark`; a script, not a test).

Generates funnel files of 1M and 5M rows (cached in `benchmarks/out/`), then, each in a
fresh process so that peak memory is its own, times:

- `validate`: the chunked validation pass (`mtl_lib.data.validate_file`);
- `stream`: making `make_dataset(..., cache=False)` (the file decoded once into a spill
  file) and iterating it once: file → batches, bounded memory;
- `memory`: making `make_dataset(..., cache=True)` (the whole file read into memory) and
  iterating it once, 1M only.

Prints rows/s and peak resident memory (MiB) per case, beside the resident memory right
after importing `mtl_lib` (Python, pandas and TensorFlow), which every case pays.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from peak_memory import peak_rss_mib  # beside this script

OUT = Path(__file__).resolve().parent / "out"
SIZES = (1_000_000, 5_000_000)
BATCH = 4096


def make_file(rows: int) -> Path:
    from mtl_lib.synthetic import FunnelGenerator

    path = OUT / f"funnel_{rows // 1_000_000}M.csv.gz"
    if not path.exists():
        start = time.perf_counter()
        FunnelGenerator(seed=0).write_csv(path, rows)
        print(f"generated {path.name} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return path


def measure(case: str, path: str) -> dict:
    """Run one case in this process; return rows, seconds and peak RSS."""
    import mtl_lib as mtl

    schema = mtl.data.Schema.load(Path(__file__).resolve().parents[1] / "data" / "funnel")
    base_mib = peak_rss_mib()  # Python + TF
    start = time.perf_counter()
    if case == "validate":
        rows = mtl.data.validate_file(path, schema).rows
    else:
        ds = mtl.data.make_dataset(
            path, schema, batch_size=BATCH, cache=case == "memory", validate=False
        )
        rows = 0
        for features, _ in ds:
            rows += int(features["ids"].shape[0])
    seconds = time.perf_counter() - start
    peak_mib = peak_rss_mib()
    return {
        "case": case,
        "rows": rows,
        "seconds": seconds,
        "peak_mib": peak_mib,
        "base_mib": base_mib,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--case")
    parser.add_argument("--path")
    args = parser.parse_args()
    if args.case:  # child process
        print(json.dumps(measure(args.case, args.path)))
        return
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0")
    print(
        f"{'file':>8} {'case':>9} {'rows':>10} {'seconds':>8} {'rows/s':>10} "
        f"{'peak MiB':>9} {'after import':>12}"
    )
    for rows in SIZES:
        path = make_file(rows)
        cases = ("validate", "stream", "memory") if rows <= 1_000_000 else ("validate", "stream")
        for case in cases:
            out = subprocess.run(
                [sys.executable, __file__, "--case", case, "--path", str(path)],
                check=True,
                capture_output=True,
                text=True,
                env=env,
            ).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(
                f"{rows // 1_000_000:>7}M {case:>9} {r['rows']:>10,} {r['seconds']:>8.1f} "
                f"{r['rows'] / r['seconds']:>10,.0f} {r['peak_mib']:>9.0f} {r['base_mib']:>12.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
