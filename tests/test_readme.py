"""The README states what the project measures and runs."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_ci_runs_the_readme_test_command():
    ci = [
        line
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line and not line.startswith(("#", "set ", "cd "))
    ]
    assert ci == ["make test"]
    assert "make test   #" in README and "make lab    #" in README


def test_every_notebook_is_in_the_table_with_its_measured_run_time():
    runtimes = json.loads((ROOT / "notebooks" / "runtimes.json").read_text())
    notebooks = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
    assert sorted(runtimes) == notebooks
    for name, seconds in runtimes.items():
        row = re.search(rf"^\| \[`{re.escape(name)}`\].*\| (\d+) s \|$", README, re.M)
        assert row, f"README: no table row for {name}"
        assert int(row[1]) == seconds, f"README: {name} run time is not the measured one"


README_ZH = (ROOT / "README.zh-CN.md").read_text()


def _notebook_links(text: str) -> list[str]:
    return sorted(set(re.findall(r"\(notebooks/(\d\d\w*\.ipynb)\)", text)))


def _commands(text: str) -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    return [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]


def test_chinese_readme_lists_the_same_notebooks_and_commands():
    notebooks = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
    assert _notebook_links(README) == notebooks
    assert _notebook_links(README_ZH) == notebooks
    assert _commands(README_ZH) == _commands(README)
    runtimes = json.loads((ROOT / "notebooks" / "runtimes.json").read_text())
    for name, seconds in runtimes.items():
        row = re.search(rf"^\| \[`{re.escape(name)}`\].*\| (\d+) 秒 \|$", README_ZH, re.M)
        assert row and int(row[1]) == seconds, f"README.zh-CN: {name} run time"


def _comparison_table() -> str:
    """The results table as notebook 08 printed it in its committed run."""
    notebook = json.loads((ROOT / "notebooks" / "08_compare_all.ipynb").read_text())
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code" and "README_TABLE" in "".join(cell["source"]):
            return "".join("".join(out.get("text", "")) for out in cell["outputs"]).strip()
    raise AssertionError("notebook 08 has no cell printing README_TABLE")


def test_both_readmes_show_the_measured_comparison():
    table = _comparison_table()
    assert table.count("\n") >= 11  # a header, a rule and ten models
    assert table in README
    assert table in README_ZH
