"""A user's own victim and videos, made the way a user would: plain torch.nn, torch.jit.save, a card, mp4 files.

The victim is a colour classifier vidsteal never defined: it takes ``(N, T, C, H, W)`` clips in ``[0, 255]`` (its
card says so) and answers which of red / green / blue dominates. The videos are one class folder per colour, so
the victim's top-1 on them is known (1.0) and a misaligned label mapping would show at once.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import torch
import yaml
from torch import nn

CLASSES = ["blue", "green", "red"]  # sorted, as class folders list them
FRAMES, SIZE = 4, 16
RGB = {"red": 0, "green": 1, "blue": 2}


class ColourNet(nn.Module):
    """(N, T, C, H, W) in [0, 255] -> logits over (blue, green, red): the dominant channel wins."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(3, 3)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]) / 8)
            self.head.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x.mean(dim=(1, 3, 4)))


def write_user_victim(folder: Path, name: str = "victim") -> Path:
    """victim.ts (TorchScript) with victim.card.yaml beside it; returns the model path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.ts"
    torch.jit.save(torch.jit.script(ColourNet().eval()), str(path))
    card = {"layout": "NTCHW", "frames": FRAMES, "size": SIZE, "value_range": 255, "classes": CLASSES}
    (folder / f"{name}.card.yaml").write_text(yaml.safe_dump(card))
    return path


def write_videos(root: Path, per_class: int = 3, classes: list[str] = CLASSES, size: int = 24) -> Path:
    """root/<colour>/<i>.mp4: noisy clips of one dominant colour, encoded with PyAV (H.264 or MPEG-4)."""
    g = np.random.default_rng(0)
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    for label, name in enumerate(classes):
        for i in range(per_class):
            path = root / name / f"{i}.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            with av.open(str(path), mode="w") as container:
                stream = container.add_stream(codec, rate=10)
                stream.width = stream.height = size
                stream.pix_fmt = "yuv420p"
                for _ in range(6):
                    frame = g.integers(0, 60, (size, size, 3), dtype=np.uint8)
                    frame[..., RGB.get(name, label % 3)] += 180
                    container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
                container.mux(stream.encode(None))
    return root


