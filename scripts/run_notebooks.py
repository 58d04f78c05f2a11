"""Re-execute notebooks in place, each top to bottom in one fresh kernel (`make notebooks`).

Outputs are then what the code produces; metadata is trimmed and keys sorted so that diffs
stay readable. The tutorials' run times go to `notebooks/runtimes.json` (read by the
README's table); the exercises' solutions (`notebooks/solutions/`) run after them.

    python scripts/run_notebooks.py                 # every notebook, solutions included
    python scripts/run_notebooks.py notebooks/00_data_tour.ipynb
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
RUNTIMES = NOTEBOOKS / "runtimes.json"
KEEP_NOTEBOOK_METADATA = ("kernelspec",)
TIMEOUT_S = 1800


def tidy(nb: nbformat.NotebookNode) -> None:
    """Drop run-dependent metadata (timings, widget state, language version)."""
    nb.metadata = {k: v for k, v in nb.metadata.items() if k in KEEP_NOTEBOOK_METADATA}
    nb.metadata["language_info"] = {"name": "python"}
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("ExecuteTime", None)
        if cell.cell_type == "code":
            for out in cell.outputs:
                out.get("metadata", {}).pop("needs_background", None)


def run(path: Path, allow_errors: bool = False) -> float | None:
    """Execute `path` in place; return its run time in seconds (None if a cell failed)."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = {
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "name": "python3",
    }
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    client = NotebookClient(
        nb,
        timeout=TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
        allow_errors=allow_errors,
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    tidy(nb)
    nbformat.validate(nb)
    nbformat.write(nb, path)
    failed = any(out.output_type == "error" for cell in nb.cells for out in cell.get("outputs", []))
    return None if failed else seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument(
        "--allow-errors",
        action="store_true",
        help="run every cell after an error too (for drafting: tests reject notebooks with errors)",
    )
    args = parser.parse_args()
    paths = args.paths or [
        *sorted(NOTEBOOKS.glob("[0-9][0-9]*_*.ipynb")),
        *sorted((NOTEBOOKS / "solutions").glob("*.ipynb")),
    ]
    runtimes = json.loads(RUNTIMES.read_text()) if RUNTIMES.exists() else {}
    for path in paths:
        seconds = run(path.resolve(), args.allow_errors)
        if seconds is None:
            print(f"{path.name}: a cell raised (see the notebook)")
            continue
        if path.resolve().parent == NOTEBOOKS.resolve():  # the tutorials' table, not solutions
            runtimes[path.name] = round(seconds)
        print(f"{path.name}: {seconds:.0f} s")
    RUNTIMES.write_text(json.dumps(dict(sorted(runtimes.items())), indent=1) + "\n")


if __name__ == "__main__":
    main()
