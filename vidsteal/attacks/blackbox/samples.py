"""Sample synthetic frames for the run folder: one PNG strip (frames left to right) per victim class.

For each class the strip shows the paid clip the victim was most confident belongs to it, so a reader sees what
the attack actually fed the victim, and which classes it never managed to produce (no strip).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torchvision.utils import save_image

from vidsteal.victims.logged import LoggedOracle


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:60]


def save_strips(clips: torch.Tensor, titles: Sequence[str], folder: Path, scale: int = 2) -> list[Path]:
    """Write ``clips`` (float ``(N, C, T, H, W)`` in [0, 1]) as ``folder/<title>.png`` strips, plus ``all.png``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    rows = []
    for clip, title in zip(clips, titles):
        frames = clip.permute(1, 0, 2, 3)  # (T, C, H, W)
        if scale > 1:
            frames = F.interpolate(frames, scale_factor=scale, mode="nearest")
        path = folder / f"{_slug(title)}.png"
        save_image(frames, path, nrow=frames.shape[0], padding=1)
        paths.append(path)
        rows.append(frames)
    if rows:
        save_image(torch.cat(rows), folder / "all.png", nrow=rows[0].shape[0], padding=1)
    return paths


def strongest_per_class(oracle: LoggedOracle, num_classes: int) -> tuple[torch.Tensor, list[int], list[float]]:
    """For every class, the logged clip with the highest victim score for it (classes never on top are skipped)."""
    best: dict[int, tuple[float, torch.Tensor]] = {}
    for clips, answers in oracle.ledger.replay(batch_size=512):
        scores = answers.probs if answers.probs is not None else torch.ones(len(answers))
        top = answers.top1
        for c in top.unique().tolist():
            sel = (top == c).nonzero().flatten()
            s = scores[sel, c] if scores.ndim == 2 else scores[sel]
            i = int(s.argmax())
            if c not in best or float(s[i]) > best[c][0]:
                best[c] = (float(s[i]), clips[sel[i]].clone())
    classes = sorted(best)
    if not classes:
        return torch.zeros(0), [], []
    return torch.stack([best[c][1] for c in classes]), classes, [best[c][0] for c in classes]
