"""Re-execute every notebook on a perturbed float path and check its claims (`make test-robust`).

A trained number depends on the CPU's vector paths: another CPU, or TensorFlow's oneDNN
kernels, moves it in the 4th decimal. A claim that flips with those last bits is a claim
about noise. This script copies the repository's tracked files into a temporary folder (the
work tree stays clean), executes every tutorial and solutions notebook there under a
perturbation, and reports

- every cell that raised (an `assert` that does not survive the perturbation), and
- per notebook, the largest shift of any printed decimal number between the committed
  (reference) outputs and the perturbed ones: where the text's precision is false.

The perturbations are environment variables that TensorFlow reads at start-up:

    oneDNN      TF_ENABLE_ONEDNN_OPTS=1   oneDNN's matmul and reduction kernels instead of Eigen's
    threads     TF_NUM_INTRAOP_THREADS=1  one intra-op thread: other reduction splits

    python scripts/run_robust.py                       # every notebook, oneDNN on
    python scripts/run_robust.py --perturb onednn threads notebooks/02_esmm_v2_funnel.ipynb

It exits with status 1 if any cell raised. Timings, counts of seconds and examples/s are
left out of the shift table (they move on every run).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_notebooks import ROOT, run

PERTURBATIONS = {
    "onednn": {"TF_ENABLE_ONEDNN_OPTS": "1"},
    "threads": {"TF_NUM_INTRAOP_THREADS": "1"},
}
NUMBER = re.compile(r"(?<![\w.])[-−]?\d+\.\d+(?:e[-+]?\d+)?")
# Lines that report time or speed: they move on every run and say nothing about the float path.
TIMING = re.compile(r"examples/s|rows/s| s\b|seconds|sec\b|ms\b|µs|MiB|time", re.IGNORECASE)


def notebook_paths(paths: list[Path]) -> list[Path]:
    """The notebooks to run: those given, or every tutorial then every solutions notebook."""
    if paths:
        return [p.resolve() for p in paths]
    notebooks = ROOT / "notebooks"
    return [
        *sorted(notebooks.glob("[0-9][0-9]*_*.ipynb")),
        *sorted((notebooks / "solutions").glob("*.ipynb")),
    ]


def copy_tree(target: Path) -> None:
    """Copy the files git tracks (and untracked files it does not ignore) into `target`."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / name.decode()
        if source.is_file():
            (target / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name.decode())


def printed_numbers(cell: nbformat.NotebookNode) -> list[float]:
    """The decimal numbers a code cell printed (text and plain-text results), in order."""
    numbers = []
    for out in cell.get("outputs", []):
        text = out.get("text") or out.get("data", {}).get("text/plain", "")
        if isinstance(text, list):
            text = "".join(text)
        for line in text.splitlines():
            if TIMING.search(line):
                continue
            numbers += [float(n.replace("−", "-")) for n in NUMBER.findall(line)]
    return numbers


def largest_shift(reference: Path, perturbed: Path) -> tuple[float, int | None, int]:
    """Largest |difference| between printed numbers of matching cells, its cell, and the count.

    Cells whose printed numbers differ in count (a line that appears in one run only) are
    skipped and counted in the third value.
    """
    ref = nbformat.read(reference, as_version=4).cells
    new = nbformat.read(perturbed, as_version=4).cells
    worst, where, unmatched = 0.0, None, 0
    for i, (a, b) in enumerate(zip(ref, new, strict=True)):
        if a.cell_type != "code":
            continue
        x, y = printed_numbers(a), printed_numbers(b)
        if len(x) != len(y):
            unmatched += 1
            continue
        for u, v in zip(x, y, strict=True):
            if math.isfinite(u) and math.isfinite(v) and abs(u - v) > worst:
                worst, where = abs(u - v), i
    return worst, where, unmatched


def failures(path: Path) -> list[str]:
    """`cell i: ErrorName: message` for the cells of an executed notebook that raised.

    Every failed `assert` is listed; of other errors only the first, since the cells after
    it usually fail for want of its names (they are counted instead).
    """
    found, other = [], 0
    for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
        for out in cell.get("outputs", []):
            if out.output_type != "error":
                continue
            if out.ename == "AssertionError" or not other:
                found.append(f"cell {i}: {out.ename}: {out.evalue[:200]}")
            other += out.ename != "AssertionError"
    if other > 1:
        found.append(f"and {other - 1} more cells that raised after the first error")
    return found


def _execute(path: Path) -> float:
    """Execute one notebook in place, errors and all; its run time in seconds."""
    start = time.perf_counter()
    run(path, allow_errors=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--perturb", nargs="+", choices=sorted(PERTURBATIONS), default=["onednn"])
    parser.add_argument("--jobs", type=int, default=1, help="notebooks executed at once")
    parser.add_argument("--keep", type=Path, help="copy the executed notebooks here")
    parser.add_argument("--report", type=Path, help="write the table as JSON here")
    args = parser.parse_args()
    for name in args.perturb:
        os.environ.update(PERTURBATIONS[name])
    print(
        "perturbation:",
        ", ".join(f"{k}={v}" for n in args.perturb for k, v in PERTURBATIONS[n].items()),
        flush=True,
    )
    rows, failed = [], []
    with tempfile.TemporaryDirectory(prefix="mtl_robust_") as parent:
        # `<copy>/../shared` is the read-only shared folder, as beside the repository
        folder = Path(parent) / ROOT.name
        folder.mkdir()
        if (ROOT.parent / "shared").exists():
            (Path(parent) / "shared").symlink_to(ROOT.parent / "shared")
        copy_tree(folder)
        # results a notebook saves for readers (08's CSV) go to the copy, not to the
        # repository that `mtl_lib` is installed from (`mtl.experiment.results_folder`)
        os.environ["MTL_RESULTS"] = str(folder / "results")
        references = notebook_paths(args.paths)
        copies = [folder / reference.relative_to(ROOT) for reference in references]
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            timings = pool.map(_execute, copies)
            for reference, copy, seconds in zip(references, copies, timings, strict=True):
                raised = failures(copy)
                shift, cell, unmatched = largest_shift(reference, copy)
                rows.append(
                    {
                        "notebook": str(reference.relative_to(ROOT / "notebooks")),
                        "seconds": round(seconds),
                        "largest_shift": shift,
                        "cell": cell,
                        "unmatched_cells": unmatched,
                        "failed": raised,
                    }
                )
                failed += [f"{reference.name} {r}" for r in raised]
                print(
                    f"{rows[-1]['notebook']}: {seconds:.0f} s, largest shift {shift:.4g}"
                    f" (cell {cell}), {len(raised)} failed",
                    flush=True,
                )
                if args.keep:
                    kept = args.keep / copy.relative_to(folder)
                    kept.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(copy, kept)
    print("\n| notebook | run time (s) | largest shift | cell | cells raised |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['notebook']} | {r['seconds']} | {r['largest_shift']:.4g} | {r['cell']} "
            f"| {len(r['failed'])} |"
        )
    if args.report:
        args.report.write_text(json.dumps(rows, indent=1) + "\n")
    for line in failed:
        print("FAILED", line)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
