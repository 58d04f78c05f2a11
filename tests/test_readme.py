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
    notebooks = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert sorted(runtimes) == notebooks
    for name, seconds in runtimes.items():
        row = re.search(rf"^\| \[`{re.escape(name)}`\].*\| (\d+) s \|$", README, re.M)
        assert row, f"README: no table row for {name}"
        assert int(row[1]) == seconds, f"README: {name} run time is not the measured one"
