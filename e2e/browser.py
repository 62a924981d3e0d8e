"""The system's Chromium, driven by Playwright (its own browser download is never used)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from playwright.sync_api import Browser, Playwright

__all__ = ["ARGS", "chromium_path", "launch"]

# Quiet, offline, container-friendly: no sandbox (root in CI), no GPU, no background traffic.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    """``$PGHISTORY_E2E_CHROMIUM``, else Debian's ``/usr/bin/chromium``, else ``chromium`` on PATH."""
    if path := os.environ.get("PGHISTORY_E2E_CHROMIUM"):
        return path
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    if path := shutil.which("chromium") or shutil.which("chromium-browser"):
        return path
    raise RuntimeError(
        "No Chromium found: install Debian's chromium package or set PGHISTORY_E2E_CHROMIUM."
    )


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=ARGS)
