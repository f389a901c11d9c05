"""Tiny dataset trees in the official layouts, built from one clip the tests encode themselves.

One 8-frame 32x32 clip is encoded once per session (per container) and copied to every path a tree needs; corrupt
files are random bytes with a video suffix.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from vidsteal.data.decode import encode_video


@pytest.fixture(scope="session")
def encoded(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("encoded")
    clip = torch.zeros(8, 3, 32, 32, dtype=torch.uint8)
    for t in range(8):
        clip[t, :, 8:16, 2 * t:2 * t + 8] = 200
    return {suffix: encode_video(root / f"clip{suffix}", clip, fps=8) for suffix in (".mp4", ".avi")}


@pytest.fixture(scope="session")
def place(encoded):
    """place(path) copies the encoded clip there (suffix picks the container); place(path, corrupt=True) writes junk."""

    def _place(path: Path, corrupt: bool = False) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        if corrupt:
            path.write_bytes(bytes(range(256)) * 8)
        else:
            shutil.copyfile(encoded[path.suffix], path)
        return path

    return _place
