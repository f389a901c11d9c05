"""Small shared pieces: input normalisation inside the model, and per-frame -> clip aggregation."""

from __future__ import annotations

import torch
from torch import nn

# Statistics of the embedded benchmark are close to these; full-scale models override them with their own.
DEFAULT_MEAN = (0.45, 0.45, 0.45)
DEFAULT_STD = (0.225, 0.225, 0.225)


class Normalize(nn.Module):
    """(x - mean) / std over the channel dim of ``(B, C, T, H, W)``; kept as buffers but not saved."""

    def __init__(self, mean: tuple[float, ...] = DEFAULT_MEAN, std: tuple[float, ...] = DEFAULT_STD) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class TemporalConvHead(nn.Module):
    """Mixes per-frame features over time with a 1-D conv before classifying (the 'temporal' option)."""

    def __init__(self, dim: int, num_classes: int, kernel: int = 3) -> None:
        super().__init__()
        self.mix = nn.Sequential(nn.Conv1d(dim, dim, kernel, padding=kernel // 2), nn.GELU())
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:  # (B, T, D) -> (B, K)
        mixed = self.mix(feats.transpose(1, 2)).amax(dim=2)
        return self.fc(mixed)
