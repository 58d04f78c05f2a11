"""`make lab`: JupyterLab on the notebooks, without the news pop-up (the project's overrides)."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTIFICATION = "@jupyterlab/apputils-extension:notification"

pytestmark = pytest.mark.slow  # starts a Jupyter server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def notification_defaults(tmp_path, overrides: Path | None) -> dict:
    """The notification settings' defaults a fresh JupyterLab serves, with `overrides`."""
    settings = tmp_path / "settings"
    settings.mkdir()
    if overrides is not None:
        shutil.copy(overrides, settings / "overrides.json")
    port, token = free_port(), "test-token"
    server = subprocess.Popen(
        [
            sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
            f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={ROOT / 'notebooks'}",
            f"--LabApp.app_settings_dir={settings}",
        ],
        env={**os.environ, "HOME": str(tmp_path), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/lab/api/settings/{NOTIFICATION}?token={token}"
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    reply = json.load(response)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not answer within a minute")
    finally:
        server.terminate()
        server.wait(timeout=30)
    properties = reply["schema"]["properties"]  # overrides become the schema's defaults
    return {name: properties[name]["default"] for name in ("fetchNews", "checkForUpdates")}


@pytest.mark.parametrize("overridden", [True, False])
def test_the_overrides_turn_the_news_question_off(tmp_path, overridden):
    overrides = ROOT / ".jupyter" / "overrides.json" if overridden else None
    defaults = notification_defaults(tmp_path, overrides)
    if overridden:
        assert defaults == {"fetchNews": "false", "checkForUpdates": False}
    else:  # JupyterLab's own default: ask ("none"), the pop-up
        assert defaults["fetchNews"] == "none"


def test_make_lab_installs_the_overrides_and_roots_the_notebooks():
    makefile = (ROOT / "Makefile").read_text()
    assert "$(VENV)/share/jupyter/lab/settings/overrides.json" in makefile
    assert "cp .jupyter/overrides.json $@" in makefile
    assert "lab: $(STAMP) $(LAB_OVERRIDES)" in makefile
    assert "--ServerApp.root_dir=notebooks" in makefile
