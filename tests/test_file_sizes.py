"""Every file of the package is small enough to read in one sitting (the developers' guide: at most 400 lines)."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "vidsteal"
MAX_LINES = 400


def test_no_file_in_vidsteal_over_400_lines():
    long = {str(p.relative_to(PACKAGE)): n for p in sorted(PACKAGE.rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}
