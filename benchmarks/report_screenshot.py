"""Render a report.html in headless Chromium and save a PNG screenshot, to check it shows its images.

Usage: python benchmarks/report_screenshot.py runs/<timestamp>-demo_<hash>/report.html [out.png]
Needs Debian's chromium (apt-get install chromium). Prints the screenshot path and the number of images the
page holds; exits non-zero if Chromium fails or the screenshot is missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def screenshot(page: Path, out: Path, width: int = 1200, height: int = 2400) -> Path:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium not found: apt-get install chromium")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={profile}", f"--window-size={width},{height}",
                        f"--screenshot={out.resolve()}", page.resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)
    if not out.exists() or out.stat().st_size == 0:
        raise SystemExit(f"chromium wrote no screenshot to {out}")
    return out


def main() -> None:
    page = Path(sys.argv[1])
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else page.with_name("report_screenshot.png")
    images = len(re.findall(r"data:image/png;base64,", page.read_text()))
    print(f"{screenshot(page, out)}: screenshot of {page} ({images} embedded images)")


if __name__ == "__main__":
    main()
