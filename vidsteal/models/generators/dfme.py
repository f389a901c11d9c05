"""DFME's generator, for clips: trained adversarially against the student (not a frozen prior).

Truong et al., "Data-Free Model Extraction", CVPR 2021 (https://arxiv.org/abs/2011.14779) use a small DCGAN-style
image generator (linear stem, two upsampling convs, tanh, then a non-affine batch norm). A video victim needs
clips, so the stem here is a ``(C, T/2, S/4, S/4)`` volume, upsampled to ``(T, S, S)`` with one (3x3x3) and one
spatial-only (1x3x3) block: enough capacity to make motion, cheap enough for the CPU. An odd clip length (T = 1:
an image victim, DFME's own case) starts from all ``T`` frames and upsamples in space only.

Its convolutions are most of DFME's cost on a CPU (a 32-clip batch of 8x32x32: ~18 GFLOP forward), so they run on
channels-last volumes (~1.4x faster in float32, the same results up to rounding) and under the caller's autocast
(bf16 where native: ~3.5x with channels-last); the output squashing always runs in float32.
"""

from __future__ import annotations

import torch
from torch import nn


class ClipGenerator(nn.Module):
    """z ``(N, z_dim)`` -> clips ``(N, 3, T, S, S)`` in ``[0, 1]``."""

    def __init__(self, z_dim: int = 128, frames: int = 8, size: int = 32, width: int = 64) -> None:
        super().__init__()
        if size % 4 or frames < 1:
            raise ValueError(f"size must be a multiple of 4 and frames >= 1, got size={size}, frames={frames}")
        self.z_dim, self.frames, self.size, self.width = z_dim, frames, size, width
        self.t_up = 2 if frames % 2 == 0 else 1
        self.stem = nn.Linear(z_dim, width * (frames // self.t_up) * (size // 4) ** 2)
        self.body = nn.Sequential(
            nn.BatchNorm3d(width),
            nn.Upsample(scale_factor=(self.t_up, 2, 2)),
            nn.Conv3d(width, width * 3 // 4, 3, padding=1, bias=False),
            nn.BatchNorm3d(width * 3 // 4),
            nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=(1, 2, 2)),
            nn.Conv3d(width * 3 // 4, width // 2, (1, 3, 3), padding=(0, 1, 1), bias=False),
            nn.BatchNorm3d(width // 2),
            nn.LeakyReLU(0.2),
            nn.Conv3d(width // 2, 3, (1, 3, 3), padding=(0, 1, 1)),
            nn.Tanh(),
            nn.BatchNorm3d(3, affine=False),  # DFME's output normalisation, before the final squashing
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.stem(z).view(z.shape[0], self.width, self.frames // self.t_up, self.size // 4, self.size // 4)
        x = self.body[:-2](x.contiguous(memory_format=torch.channels_last_3d))
        # DFME feeds the normalised output to the victim directly; our victims take [0, 1] clips, so squash.
        with torch.autocast(x.device.type, enabled=False):
            return torch.sigmoid(self.body[-2:](x.float())).contiguous()
