"""`make figures` redraws every committed diagram, byte for byte, and every model has one."""

import importlib.util
import sys
from pathlib import Path

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
    committed = sorted(p.name for p in (ROOT / "img").glob("*.png") if p.name != "compare_all.png")
    assert drawn == committed
    for name in drawn:
        assert (tmp_path / name).read_bytes() == (ROOT / "img" / name).read_bytes(), name


def test_every_model_has_a_diagram():
    assert set(DIAGRAMS) == {mtl.experiment.BASE, *mtl.experiment.MODELS}
    for name in DIAGRAMS.values():
        assert (ROOT / "img" / name).is_file()
