"""Headless Chromium for the console's tests: Debian's `chromium` (or `CHROMIUM=/path`), driven by
Python's playwright with `executable_path`; playwright never downloads a browser here."""

import os
import shutil
from pathlib import Path

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Without the networking flags Chromium keeps calling Google's hosts, which a closed network refuses.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"


def chromium_path() -> str:
    """The browser to drive; skips the test when there is none, except in CI, where .ci/run installs it."""
    given = os.environ.get("CHROMIUM")
    found = given if given and Path(given).is_file() else next(filter(None, map(shutil.which, CANDIDATES)), None)
    if found:
        return found
    reason = ("no Chromium found (looked for CHROMIUM and " + ", ".join(CANDIDATES) + " on PATH): "
              "install Debian's chromium (apt-get install -y chromium) to run the console's browser tests")
    if os.environ.get("CI"):
        pytest.fail(reason + "; .ci/run should have installed it")
    pytest.skip(reason)


def screenshot_dir(fallback: Path) -> Path:
    """docs/console/ when UPDATE_SCREENSHOTS is set (to refresh the README's pictures), else `fallback`."""
    target = SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") else fallback
    target.mkdir(parents=True, exist_ok=True)
    return target
