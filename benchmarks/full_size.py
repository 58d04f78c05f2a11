"""One epoch of ESMM streamed from a file in the converted Ali-CCP layout, at full size.

    python benchmarks/full_size.py                 # 1M and 5M rows (make benchmark-full)
    python benchmarks/full_size.py --rows 200000   # a quick look

Generates a training file shaped like `mtl.datasets.convert_aliccp`'s output (its 18
fields, Zipf-skewed ids with vocabularies of Ali-CCP's order of size, click and purchase
at about Ali-CCP's rates), writes it once as gzip CSV, and takes its first 1M rows as the
smaller file. Each size is then trained for one epoch in a fresh process, streamed
(`cache=False`: the file is decoded once into a spill file, timed apart) in batches of
2,048, with `LazyAdam` (updates only the embedding rows a batch touches) and with Keras's
Adam (updates every row at every step); the process reports rows/s and its peak resident
memory. The full training split (42M rows) is extrapolated from the larger run's rate,
and printed as an extrapolation.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

import mtl_lib as mtl
from mtl_lib.datasets.aliccp import FIELDS, PUBLIC_FIELDS, STEPS

HERE = Path(__file__).resolve().parent
FULL_TRAIN_ROWS = 42_000_000  # Ali-CCP: about 42M of its 84M samples are for training
#: Vocabulary size per kept field: Ali-CCP's order of size after the rare-id threshold.
SIZES = {
    "user_id": 200_000,
    "item_id": 400_000,
    "item_shop": 100_000,
    "item_brand": 80_000,
    "user_item_category": 300_000,
    "user_item_shop": 300_000,
    "user_item_brand": 300_000,
    "user_item_intention": 300_000,
    "item_category": 10_000,
}
CLICK_RATE, PURCHASE_GIVEN_CLICK = 0.039, 0.0054
CHUNK = 250_000

CHILD = textwrap.dedent(
    """
    import json, sys, time
    import mtl_lib as mtl

    folder, path, optimizer, benchmarks = sys.argv[1:5]
    sys.path.insert(0, benchmarks)
    from peak_memory import peak_rss_mib  # this process's own peak, not its parent's
    schema = mtl.data.Schema.load(folder)
    start = time.perf_counter()
    data = mtl.data.make_dataset(path, schema, batch_size=2048, shuffle=True, seed=0,
                                 cache=False, shuffle_buffer=100_000, validate=False)
    made = time.perf_counter() - start  # the file decoded once into the stream's spill file
    mtl.train.set_seed(0)
    model = mtl.train.compile_model(mtl.models.build_esmm(schema), schema.steps,
                                    learning_rate=2e-3, optimizer=optimizer)
    before = peak_rss_mib()
    history = mtl.train.fit(model, data, epochs=1)
    peak = peak_rss_mib()
    row = history.iloc[0]
    print(json.dumps({"rows": round(row["examples_per_second"] * row["seconds"]),
                      "rows_per_s": row["examples_per_second"], "seconds": row["seconds"],
                      "made_seconds": made,
                      "peak_mib": peak, "before_training_mib": before}))
    """
)


def write_layout(folder: Path, rows: int, small: int, seed: int = 0) -> tuple[Path, Path]:
    """The schema files and two gzip training files (`rows` and its first `small` rows)."""
    names = [FIELDS[f] for f in PUBLIC_FIELDS]
    sizes = {n: SIZES.get(n, 100) for n in names}
    (folder / "features.csv").write_text(
        "Feature_Name,Type_Index\n"
        + "".join(f"{n},C\n" for n in names)
        + "".join(f"{s},target\n" for s in STEPS)
    )
    (folder / "vocab.json").write_text(json.dumps(sizes))
    rng = np.random.default_rng(seed)
    large, first = folder / f"train_{rows}.csv.gz", folder / f"train_{small}.csv.gz"
    header = ",".join([*names, *STEPS]) + "\n"
    with (
        gzip.open(large, "wt", compresslevel=1) as out,
        gzip.open(first, "wt", compresslevel=1) as head,
    ):
        out.write(header)
        head.write(header)
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            ids = [np.minimum(rng.zipf(1.3, n), sizes[name]) for name in names]
            click = rng.random(n) < CLICK_RATE
            purchase = click & (rng.random(n) < PURCHASE_GIVEN_CLICK)
            block = np.column_stack([*ids, click, purchase]).astype(np.int64)
            text = "\n".join(",".join(map(str, r)) for r in block.tolist()) + "\n"
            out.write(text)
            if start < small:
                keep = min(n, small - start)
                head.write("\n".join(text.split("\n")[:keep]) + "\n")
    return first, large


def one_epoch(folder: Path, path: Path, optimizer: str) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0")
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder), str(path), optimizer, str(HERE)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--small", type=int, default=1_000_000)
    parser.add_argument(
        "--optimizers", nargs="+", default=["lazy_adam", "adam"], choices=["adam", "lazy_adam"]
    )
    args = parser.parse_args()
    small = min(args.small, args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        first, large = write_layout(folder, args.rows, small)
        print(
            f"generated {args.rows:,} rows in {time.perf_counter() - start:.0f} s "
            f"({large.stat().st_size / 2**20:.0f} MiB gzip)"
        )
        mtl.data.Schema.load(folder)  # the layout loads
        for optimizer in args.optimizers:
            results = {}
            for rows, path in ((small, first), (args.rows, large)):
                results[rows] = result = one_epoch(folder, path, optimizer)
                assert result["rows"] == rows, (rows, result["rows"])  # each read exactly once
                print(
                    f"{optimizer:>9}, {rows:>10,} rows: {result['rows_per_s']:,.0f} rows/s, "
                    f"{result['seconds']:.0f} s (the stream made in {result['made_seconds']:.0f} s"
                    f", once), peak RSS {result['peak_mib']:,.0f} MiB "
                    f"({result['before_training_mib']:,.0f} MiB before training)"
                )
            rate = results[args.rows]["rows_per_s"]
            print(
                f"{optimizer:>9}, extrapolated, not measured: one epoch of the full "
                f"{FULL_TRAIN_ROWS:,} training rows at {rate:,.0f} rows/s takes about "
                f"{FULL_TRAIN_ROWS / rate / 60:.0f} min"
            )


if __name__ == "__main__":
    main()
