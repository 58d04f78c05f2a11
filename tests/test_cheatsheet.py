"""The cheat sheet says what the notebooks print and what the builders return."""

import json
import re
from pathlib import Path

import pytest

import mtl_lib as mtl

ROOT = Path(__file__).resolve().parents[1]
SHEET = (ROOT / "notebooks" / "cheatsheet.md").read_text()
SECTIONS = re.split(r"^### ", SHEET, flags=re.M)[1:]
NOTEBOOK_ID = re.compile(r"\b(0\d[a-z]?)\b")


def _row(section: str, key: str) -> str:
    match = re.search(rf"^\| {key} \| (.+) \|$", section, flags=re.M)
    assert match, f"{section.splitlines()[0]}: no '{key}' row"
    return match.group(1)


def _printed(notebook_id: str) -> str:
    (path,) = (ROOT / "notebooks").glob(f"{notebook_id}_*.ipynb")
    cells = json.loads(path.read_text())["cells"]
    texts = []
    for cell in cells:
        for out in cell.get("outputs", []):
            texts.append("".join(out.get("text", "")))
            texts.append("".join(out.get("data", {}).get("text/plain", "")))
    return "\n".join(texts)


def _title(section: str) -> str:
    return section.splitlines()[0]


def test_the_sheet_covers_every_family_and_is_linked_from_both_readmes():
    titles = [_title(s) for s in SECTIONS]
    for name in ("ESMM", "v2 chain", "v3 concat", "v4 AITM", "ESCM²", "DCMT", "MMoE", "PLE"):
        assert any(name in t for t in titles), name
    for readme in ("README.md", "README.zh-CN.md"):
        assert "(notebooks/cheatsheet.md)" in (ROOT / readme).read_text(), readme


@pytest.mark.parametrize("section", SECTIONS, ids=_title)
def test_every_measured_number_is_printed_by_a_notebook_the_row_cites(section):
    measured = _row(section, "measured")
    cited = set(NOTEBOOK_ID.findall(_title(section) + " " + measured))
    assert cited, "a measured row names its notebook"
    printed = "\n".join(_printed(n) for n in sorted(cited))
    numbers = [span for span in re.findall(r"`([^`]+)`", measured) if re.search(r"\d", span)]
    assert numbers, "a measured row quotes at least one printed number"
    for span in numbers:
        assert span in printed, f"{span!r} is not printed by notebook(s) {sorted(cited)}"


@pytest.mark.parametrize(
    "section", [s for s in SECTIONS if "mtl.models.build_" in _row(s, "builder")], ids=_title
)
def test_each_builder_returns_exactly_the_outputs_listed(section):
    builder = _row(section, "builder")
    call, listed = builder.split("→")
    name = re.search(r"mtl\.models\.(build_\w+)\(schema\)", call).group(1)
    outputs = re.findall(r"`([^`]+)`", listed)
    steps = (
        ("click", "purchase")
        if "purchase" in outputs
        else ("click", "apply", "approve", "activate")
    )
    schema = mtl.synthetic.FunnelGenerator(steps, seed=0).schema
    model = getattr(mtl.models, name)(schema)
    assert sorted(model.output_names) == sorted(outputs), name


def test_a_wrong_number_is_caught():
    section = next(s for s in SECTIONS if _title(s).startswith("ESMM"))
    measured = _row(section, "measured")
    wrong = measured.replace("70.52", "70.53")
    spans = [span for span in re.findall(r"`([^`]+)`", wrong) if re.search(r"\d", span)]
    assert any(span not in _printed("01") for span in spans)
