"""scripts/run_robust.py: the numbers it compares, the shifts it reports, the failures it lists."""

import importlib.util
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("run_robust", ROOT / "scripts" / "run_robust.py")
run_robust = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(run_robust)


def _notebook(path, *outputs):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# title")] + [
        nbformat.v4.new_code_cell("x", outputs=[out]) for out in outputs
    ]
    nbformat.write(nb, path)
    return path


def _text(text):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def test_printed_numbers_skip_timings_and_integers():
    cell = nbformat.v4.new_code_cell(
        "x",
        outputs=[
            _text("auc 0.8267 ± 0.0012, 5 seeds\nepoch 3: 12.5 s, 91,000 examples/s\n"),
            nbformat.v4.new_output("execute_result", data={"text/plain": "gain −0.0040"}),
        ],
    )
    assert run_robust.printed_numbers(cell) == [0.8267, 0.0012, -0.004]


def test_largest_shift_names_its_cell_and_skips_cells_that_print_other_lines(tmp_path):
    reference = _notebook(tmp_path / "a.ipynb", _text("0.8267 0.5000"), _text("1.5"))
    perturbed = _notebook(tmp_path / "b.ipynb", _text("0.8271 0.5000"), _text("1.5 2.5"))
    shift, cell, unmatched = run_robust.largest_shift(reference, perturbed)
    assert abs(shift - 0.0004) < 1e-12 and cell == 1 and unmatched == 1


def test_failures_list_every_assert_and_only_the_first_other_error(tmp_path):
    def error(name):
        return nbformat.v4.new_output("error", ename=name, evalue="", traceback=[])

    path = _notebook(
        tmp_path / "c.ipynb",
        error("AssertionError"),
        error("RuntimeError"),
        error("NameError"),
        error("NameError"),
        error("AssertionError"),
    )
    found = run_robust.failures(path)
    assert [f.split(":")[0] for f in found[:3]] == ["cell 1", "cell 2", "cell 5"]
    assert found[3] == "and 2 more cells that raised after the first error"
