"""Headless Chromium for the web UI tests and benchmark: Debian's `chromium` package
driven by Playwright (never a browser build Playwright downloads)."""

from __future__ import annotations

import os
import shutil

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def chromium_path() -> str | None:
    """The system Chromium, or None. $TRACKWIRE_CHROMIUM overrides the search."""
    configured = os.environ.get("TRACKWIRE_CHROMIUM")
    if configured:
        return configured
    for path in CHROMIUM_CANDIDATES:
        if os.path.exists(path):
            return path
    return shutil.which("chromium")


def launch(playwright):
    """A headless browser; --no-sandbox because tests and CI run as root."""
    return playwright.chromium.launch(
        executable_path=chromium_path(), headless=True, args=["--no-sandbox"]
    )
