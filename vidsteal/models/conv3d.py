"""Small 3D CNNs for the embedded benchmark: the default victim and a 3D student.

A C3D-style stack (conv3d-BN-ReLU, spatial pooling first, temporal pooling later) that trains on 2 CPU cores
in minutes; kernels span time, so it sees motion that a per-frame model cannot.
"""

from __future__ import annotations

import torch
from torch import nn

from vidsteal.models.layers import Normalize
from vidsteal.models.registry import register_model


def _block(cin: int, cout: int, pool: tuple[int, int, int]) -> nn.Sequential:
    # Pool before ReLU: the same outputs and gradients as conv-BN-ReLU-pool (max and ReLU commute), with the ReLU on
    # a quarter (or an eighth) of the voxels. ReLU and pooling hold no parameters: old weights load unchanged.
    return nn.Sequential(
        nn.Conv3d(cin, cout, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm3d(cout),
        nn.MaxPool3d(pool),
        nn.ReLU(inplace=True),
    )


class Conv3dNet(nn.Module):
    """Stack of 3x3x3 conv blocks, global average pool, linear head."""

    def __init__(self, num_classes: int, widths: tuple[int, ...] = (16, 32, 64, 96), dropout: float = 0.2) -> None:
        super().__init__()
        self.norm = Normalize()
        pools = [(1, 2, 2), (2, 2, 2), (2, 2, 2)] + [(1, 1, 1)] * max(0, len(widths) - 3)
        layers, cin = [], 3
        for width, pool in zip(widths, pools):
            layers.append(_block(cin, width, pool))
            cin = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Channels-last clips ((B, T, H, W, C) in memory): oneDNN's 3D convolutions run ~1.6x faster that way on the
        # CPU (forward, and training steps in fp32 or bf16), with the same results up to float rounding. The
        # weights keep their layout, so checkpoints do not change.
        x = self.features(self.norm(x).contiguous(memory_format=torch.channels_last_3d))
        return self.head(x.mean(dim=(2, 3, 4)))


@register_model()
def c3d_small(num_classes: int, **kw) -> Conv3dNet:
    """Default embedded victim (~0.3M parameters)."""
    return Conv3dNet(num_classes, **kw)


@register_model()
def c3d_student(num_classes: int, **kw) -> Conv3dNet:
    """Narrower 3D student."""
    kw.setdefault("widths", (12, 24, 48))
    return Conv3dNet(num_classes, **kw)


@register_model()
def test_c3d(num_classes: int, **kw) -> Conv3dNet:
    """Toy width for tests."""
    kw.setdefault("widths", (4, 8))
    return Conv3dNet(num_classes, **kw)
