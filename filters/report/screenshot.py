"""A screenshot of the report page in headless Chromium (Debian's `chromium` package).

Used by the browser test and by scripts/screenshot_report.py for the README image. The flags keep
the browser from reaching the network or the user's profile: the page must render from the file alone.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
WINDOW = (1280, 2400)


class BrowserError(RuntimeError):
    """Chromium is missing or did not produce a screenshot."""


def find_chromium() -> str | None:
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def chromium_command(browser: str, html_path: Path, png_path: Path, profile_dir: Path,
                     window: tuple[int, int] = WINDOW) -> list[str]:
    return [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--hide-scrollbars", f"--user-data-dir={profile_dir}", f"--screenshot={png_path}",
            f"--window-size={window[0]},{window[1]}", Path(html_path).resolve().as_uri()]


def screenshot(html_path, png_path, profile_dir=None, window: tuple[int, int] = WINDOW,
               timeout: float = 90) -> Path:
    browser = find_chromium()
    if browser is None:
        raise BrowserError("chromium not found: apt-get install -y chromium")
    png_path = Path(png_path)
    png_path.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="synthsieve-chromium-") as scratch:
        profile = Path(profile_dir) if profile_dir else Path(scratch)
        command = chromium_command(browser, Path(html_path), png_path.resolve(), profile, window)
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if not png_path.exists() or png_path.stat().st_size == 0:
        raise BrowserError(f"chromium wrote no screenshot (exit {result.returncode}): {result.stderr[-2000:]}")
    return png_path
