"""Results a reader explores without re-running: 08's CSV and its widget's static figure."""

import json
import re
from pathlib import Path

import pandas as pd
from test_readme import _comparison_table

import mtl_lib as mtl

ROOT = Path(__file__).resolve().parents[1]
CAPSTONE = ROOT / "notebooks" / "08_compare_all.ipynb"
RESULTS = ROOT / "results" / "compare_all.csv"


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _readme_table() -> dict[tuple[str, str], str]:
    """08's README table, as printed (`test_readme`), as (model, step) → "mean ± std"."""
    lines = _comparison_table().splitlines()
    header = [h.strip() for h in lines[0].strip("|").split("|")]
    table = {}
    for line in lines[2:]:
        row = [v.strip() for v in line.strip("|").split("|")]
        for step, value in zip(header[1:], row[1:], strict=True):
            if "±" in value:
                table[row[0], step] = value
    return table


def test_the_committed_csv_is_the_run_the_committed_notebook_shows():
    # 08 writes results/compare_all.csv in the run that writes its outputs (`make
    # notebooks`): the CSV's means and stds are the README table that 08 printed.
    saved = mtl.experiment.load_results(RESULTS)
    assert "examples_per_second" not in saved  # timings differ run to run
    assert not saved.duplicated(["model", "seed", "step"]).any()
    shown = _readme_table()
    assert len(shown) >= 30
    summary = mtl.experiment.summarize(saved, "auc")
    for (model, step), value in shown.items():
        assert summary.loc[model, step] == value, (model, step)


def test_the_widget_cell_shows_its_default_figure_without_a_kernel():
    cell = next(c for c in _cells(CAPSTONE) if "widgets.interactive(" in "".join(c["source"]))
    kinds = [set(out.get("data", {})) for out in cell["outputs"]]
    assert any("image/png" in k for k in kinds), "the static default figure"
    assert any("application/vnd.jupyter.widget-view+json" in k for k in kinds), "the controls"


def test_notebooks_save_results_only_to_the_results_folder():
    # the tests redirect results_folder() to a temporary folder (conftest.py): a notebook
    # that saved results anywhere else would leave the work tree changed after `make test`
    saving = 0
    for path in sorted((ROOT / "notebooks").rglob("*.ipynb")):
        for cell in _cells(path):
            for line in "".join(cell["source"]).splitlines():
                if re.search(r"\bsave_results\(", line):
                    saving += 1
                    assert "save_results(results, RESULTS_FILE)" in line, (path.name, line)
                if "RESULTS_FILE =" in line:
                    assert "mtl.experiment.results_folder() /" in line, (path.name, line)
    assert saving >= 1 and pd.read_csv(RESULTS).shape[0] > 0
