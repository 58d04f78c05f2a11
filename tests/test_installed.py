"""A tutorial runs where only the built wheel is installed: no clone, no `data/` beside it.

The wheel is built as a user would (`pip wheel .`), installed without its dependencies into
a folder put first on the path of the project's own environment (which has them), and
`00_data_tour.ipynb` is executed from an empty folder. The funnel sample is then made in
a fresh Keras cache and checked against the packaged checksums (`funnel_folder`).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # builds a wheel and runs a notebook in a fresh kernel

CHECK = """\
import os
from pathlib import Path
assert Path(mtl.__file__).is_relative_to(os.environ["WHEEL_SITE"]), mtl.__file__
assert DATA_DIR == Path(os.environ["KERAS_HOME"]) / "datasets" / "mtl_lib" / "funnel", DATA_DIR
print("installed:", Path(mtl.__file__).parent.name, "data:", DATA_DIR.name)
"""

RUN = """\
import sys
import nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=600, kernel_name="python3").execute()
nbformat.write(nb, sys.argv[1])
"""


def pip(*args: str, cwd: Path = ROOT) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pip", *args], cwd=cwd, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-3000:]


def test_the_data_tour_runs_from_an_installed_wheel_in_an_empty_folder(tmp_path):
    pip("wheel", ".", "--no-deps", "--quiet", "--wheel-dir", str(tmp_path / "dist"))
    (wheel,) = (tmp_path / "dist").glob("mtl_lib-*.whl")
    site = tmp_path / "site"
    pip("install", "--no-deps", "--quiet", "--target", str(site), str(wheel))
    assert (site / "mtl_lib" / "datasets" / "funnel.SHA256SUMS").is_file()  # package data
    work = tmp_path / "work"
    work.mkdir()
    notebook = nbformat.read(ROOT / "notebooks" / "00_data_tour.ipynb", as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(CHECK))
    path = work / "00_data_tour.ipynb"
    nbformat.write(notebook, path)
    env = {k: v for k, v in os.environ.items() if k not in ("MTL_DATA", "PYTHONPATH")}
    env |= {"PYTHONPATH": str(site), "WHEEL_SITE": str(site), "KERAS_HOME": str(tmp_path / "k")}
    out = subprocess.run(
        [sys.executable, "-c", RUN, str(path)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    executed = json.loads(path.read_text())
    printed = "".join("".join(o.get("text", "")) for o in executed["cells"][-1]["outputs"])
    assert printed == "installed: mtl_lib data: funnel\n"
    assert sorted(p.name for p in work.iterdir()) == ["00_data_tour.ipynb"]  # nothing beside
