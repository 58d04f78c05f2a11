"""The pip pins (pyproject.toml) and the conda pins (environment.yml) agree."""

import re
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.\-]+)$")


def _pyproject_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + project["optional-dependencies"]["dev"]
    pins = {}
    for req in reqs:
        match = PIN.match(req)
        assert match, f"pyproject.toml: {req!r} is not pinned with =="
        pins[match[1].lower()] = match[2]
    return pins


def _environment_pins():
    pins = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        item = line.strip()
        if not item.startswith("- ") or "==" not in item:
            continue
        match = PIN.match(item[2:].strip())
        assert match, f"environment.yml: {item!r} is not a name==version pin"
        pins[match[1].lower()] = match[2]
    return pins


def test_conda_and_pip_pins_agree():
    assert _environment_pins() == _pyproject_pins()


def test_installed_versions_match_the_pins():
    for name, version in _pyproject_pins().items():
        assert metadata.version(name) == version, f"{name}: installed != pinned {version}"


def test_environment_uses_python_311():
    assert "python=3.11" in (ROOT / "environment.yml").read_text()
