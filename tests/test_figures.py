"""`make figures` redraws every committed diagram, byte for byte, and every model has one."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

import mtl_lib as mtl

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
DIAGRAMS = {  # model of the registry → its diagram
    "base": "base.png",
    "esmm": "esmm.png",
    "esmm_ns": "esmm.png",
    "esmm_chain": "esmm_v2_chain.png",
    "esmm_concat": "esmm_v3_concat.png",
    "aitm": "esmm_v4_aitm.png",
    "escm2_ips": "escm2.png",
    "escm2_dr": "escm2.png",
    "dcmt": "dcmt.png",
    "shared_bottom": "shared_bottom.png",
    "omoe": "omoe.png",
    "mmoe": "mmoe.png",
    "mmoe_deep": "multilayer_mmoe.png",
    "mmoe_2_layers": "multilayer_mmoe.png",
    "ple": "ple.png",
}


def _make_figures():
    sys.path.insert(0, str(SCRIPTS))  # make_figures imports its sibling diagrams.py
    try:
        spec = importlib.util.spec_from_file_location("make_figures", SCRIPTS / "make_figures.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPTS))
    return module


def test_figures_regenerate_identically(tmp_path):
    _make_figures().main(tmp_path)
    drawn = sorted(p.name for p in tmp_path.glob("*.png"))
    committed = sorted(p.name for p in (ROOT / "img").glob("*.png"))
    assert drawn == committed
    for name in drawn:
        assert (tmp_path / name).read_bytes() == (ROOT / "img" / name).read_bytes(), name


def test_every_model_has_a_diagram():
    records = mtl.experiment.REGISTRY  # a variant (same builder) is drawn by its default's
    architectures = {name for name, record in records.items() if record.variant_of is None}
    assert set(DIAGRAMS) == {mtl.experiment.BASE, *architectures}
    assert all(records[r.variant_of].variant_of is None for r in records.values() if r.variant_of)
    for name in DIAGRAMS.values():
        assert (ROOT / "img" / name).is_file()


def test_a_notebook_figure_needs_exactly_one_tagged_cell_with_one_image(tmp_path):
    notebook = tmp_path / "n.ipynb"
    notebook.write_text(json.dumps({"cells": [{"metadata": {}, "outputs": []}]}))
    with pytest.raises(ValueError, match="expected one cell tagged 'readme-figure', found 0"):
        _make_figures().notebook_figure(notebook, "readme-figure")
    notebook.write_text(json.dumps({"cells": [{"metadata": {"tags": ["x"]}, "outputs": []}]}))
    with pytest.raises(ValueError, match="shows 0 figures, not 1"):
        _make_figures().notebook_figure(notebook, "x")
