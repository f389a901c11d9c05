"""Write in-memory clips to real video files in a class-per-folder tree that :class:`VideoFolder` reads back.

Useful to feed the embedded benchmark to tools that expect files, and to run the real decoding path on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from vidsteal.data.decode import encode_video
from vidsteal.data.embedded import ClipDataset


def export_clips(dataset: ClipDataset, out_dir: str | Path, ext: str = ".mp4", fps: int = 8,
                 on_clip: Callable[[int, int], None] | None = None) -> list[Path]:
    """One file per clip at ``out_dir/<class>/<index>.<ext>``; unlabeled clips go to ``out_dir/unlabeled``."""
    out_dir = Path(out_dir)
    paths = []
    for i in range(len(dataset)):
        clip, label = dataset[i]
        folder = out_dir / (dataset.classes[label] if label >= 0 else "unlabeled")
        folder.mkdir(parents=True, exist_ok=True)
        paths.append(encode_video(folder / f"{i:06d}{ext}", clip, fps=fps))
        if on_clip:
            on_clip(i + 1, len(dataset))
    return paths
