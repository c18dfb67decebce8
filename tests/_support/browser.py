"""Debian's chromium, driven by playwright, for the dashboard's browser test (never `playwright install`)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def chromium_page() -> Iterator[Any]:
    """A page of a fresh chromium (its own profile directory), closed with its browser at the end.

    Its temporary files go under a short directory of /tmp: chromium's singleton socket path must fit in
    a UNIX socket address, which the tests' own temporary directories are too long for.
    """
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="cr-", dir="/tmp") as short, sync_playwright() as playwright:
        profile = Path(short, "profile")
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            args=ARGS,
            headless=True,
            viewport={"width": 1280, "height": 900},
            env={**os.environ, "TMPDIR": short},
        )
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()
