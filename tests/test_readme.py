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


def reading_minutes(path: Path) -> int:
    """The README's reading-time estimate: prose at 200 words a minute, code at 10 lines a
    minute, a minute per figure."""
    cells = json.loads(path.read_text())["cells"]
    words = sum(len("".join(c["source"]).split()) for c in cells if c["cell_type"] == "markdown")
    code = [c for c in cells if c["cell_type"] == "code"]
    lines = sum(1 for c in code for line in "".join(c["source"]).splitlines() if line.strip())
    figures = sum("image/png" in o.get("data", {}) for c in code for o in c["outputs"])
    return round(words / 200 + lines / 10 + figures)


def test_reading_times_and_learning_paths_add_up():
    runtimes = json.loads((ROOT / "notebooks" / "runtimes.json").read_text())
    reading = {n: reading_minutes(ROOT / "notebooks" / n) for n in runtimes}
    by_prefix = {n.split("_")[0]: n for n in runtimes}
    for text, minutes, seconds in ((README, "min", "s"), (README_ZH, "分钟", "秒")):
        for name, estimate in reading.items():
            times = rf"\| {estimate} {minutes} \| {runtimes[name]} {seconds} \|$"
            row = rf"^\| \[`{re.escape(name)}`\].*{times}"
            assert re.search(row, text, re.M), f"{name}: reading time {estimate} {minutes}"
        tracks = re.findall(
            rf"^\| [^|]+ \| ((?:\w+(?: → )?)+) \| (\d+) {minutes} \| (\d+) {seconds} \|$",
            text,
            re.M,
        )
        assert len(tracks) == 4, tracks  # ESMM, mixtures of experts, the capstone, engineering
        covered = []
        for order, total_reading, total_run in tracks:
            names = [by_prefix[p] for p in order.split(" → ")]
            covered += names
            assert int(total_reading) == sum(reading[n] for n in names), order
            assert int(total_run) == sum(runtimes[n] for n in names), order
        assert sorted(covered) == sorted(runtimes)  # every tutorial on exactly one path


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
