"""MoViNet A0-A2 (Kondratyuk et al., 2021, https://arxiv.org/abs/2103.11511), base (non-streaming) variant.

A mobile 3D CNN found by architecture search: a stem conv, five stages of inverted-bottleneck blocks (1x1x1
expand, depthwise 3D conv, squeeze-excitation, 1x1x1 project, ReZero-gated residual), a 1x1x1 head conv, global
pooling and a two-layer classifier. Convolutions pad "same" the way TensorFlow does (asymmetric for stride 2),
because the published checkpoints were trained in TensorFlow; without that, converted weights give other outputs.
Stream buffers and causal convolutions are left out: a victim sees whole clips. Inputs are RGB in ``[0, 1]`` with
no mean/std normalisation, as the TF checkpoints expect. Converted weights load through the key mapping in
:mod:`vidsteal.models.movinet_keys`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vidsteal.models.movinet_keys import load_reference
from vidsteal.models.registry import register_model

# (out channels, expanded channels, kernel "THW", spatial stride); a block's input is the previous block's output.
Block = tuple[int, int, str, int]


@dataclass(frozen=True)
class MoViNetSpec:
    """Widths and kernels of one MoViNet; the published A0-A2 values are below."""

    stem: int
    stages: tuple[tuple[Block, ...], ...]
    head: int
    hidden: int = 2048


A0 = MoViNetSpec(stem=8, head=480, stages=(
    ((8, 24, "155", 2),),
    ((32, 80, "333", 2), (32, 80, "333", 1), (32, 80, "333", 1)),
    ((56, 184, "533", 2), (56, 112, "333", 1), (56, 184, "333", 1)),
    ((56, 184, "533", 1), (56, 184, "333", 1), (56, 184, "333", 1), (56, 184, "333", 1)),
    ((104, 384, "533", 2), (104, 280, "155", 1), (104, 280, "155", 1), (104, 344, "155", 1)),
))
A1 = MoViNetSpec(stem=16, head=600, stages=(
    ((16, 40, "155", 2), (16, 40, "333", 1)),
    ((40, 96, "333", 2), (40, 120, "333", 1), (40, 96, "333", 1), (40, 96, "333", 1)),
    ((64, 216, "533", 2), (64, 128, "333", 1), (64, 216, "333", 1), (64, 168, "333", 1), (64, 216, "333", 1)),
    ((64, 216, "533", 1), (64, 216, "333", 1), (64, 216, "333", 1), (64, 128, "333", 1), (64, 128, "155", 1),
     (64, 216, "333", 1)),
    ((136, 456, "533", 2), (136, 360, "155", 1), (136, 360, "155", 1), (136, 360, "155", 1), (136, 456, "155", 1),
     (136, 456, "333", 1), (136, 544, "133", 1)),
))
A2 = MoViNetSpec(stem=16, head=640, stages=(
    ((16, 40, "155", 2), (16, 40, "333", 1), (16, 64, "333", 1)),
    ((40, 96, "333", 2), (40, 120, "333", 1), (40, 96, "333", 1), (40, 96, "333", 1), (40, 120, "333", 1)),
    ((72, 240, "533", 2), (72, 160, "333", 1), (72, 240, "333", 1), (72, 192, "333", 1), (72, 240, "333", 1)),
    ((72, 240, "533", 1), (72, 240, "333", 1), (72, 240, "333", 1), (72, 240, "333", 1), (72, 144, "155", 1),
     (72, 240, "333", 1)),
    ((144, 480, "533", 2), (144, 384, "155", 1), (144, 384, "155", 1), (144, 480, "155", 1), (144, 480, "155", 1),
     (144, 480, "333", 1), (144, 576, "133", 1)),
))
TINY = MoViNetSpec(stem=4, head=16, hidden=16, stages=(
    ((4, 8, "155", 2),), ((8, 16, "333", 2), (8, 16, "333", 1)), ((8, 16, "533", 2),),
    ((8, 16, "333", 1),), ((12, 24, "155", 2),),
))


def _same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TensorFlow "SAME" spatial padding: total ``max(k - s, 0)`` (or ``k - H % s``), the extra pixel bottom/right."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad lists the last dim first
        total = max(kernel - (stride if size % stride == 0 else size % stride), 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads) if any(pads) else x


class ConvBN(nn.Module):
    """Conv3d (TF "same" in space, symmetric in time) + BatchNorm (eps 1e-3, as in TF) + optional SiLU."""

    def __init__(self, cin: int, cout: int, kernel: str = "111", stride: int = 1, groups: int = 1,
                 act: bool = True) -> None:
        super().__init__()
        kt, kh, kw = (int(c) for c in kernel)
        if kh != kw:
            raise ValueError(f"square spatial kernels only, got {kernel!r}")
        self.k, self.s = kh, stride
        self.conv = nn.Conv3d(cin, cout, (kt, kh, kw), stride=(1, stride, stride), padding=((kt - 1) // 2, 0, 0),
                              groups=groups, bias=False)
        self.bn = nn.BatchNorm3d(cout, eps=1e-3)
        self.act = nn.SiLU(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(_same_pad(x, self.k, self.s))))


class SamePool(nn.Module):
    """3x3 average pool, stride 2, TF "same" padding that does not count padded zeros (the strided shortcut)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padded = _same_pad(x, 3, 2)
        ones = _same_pad(torch.ones_like(x[:1, :1]), 3, 2)
        window = (1, 3, 3), (1, 2, 2)
        return F.avg_pool3d(padded, *window) / F.avg_pool3d(ones, *window)


class SqueezeExcite(nn.Module):
    """Channel gates from the clip's global average: reduce to a quarter (rounded to 8), SiLU, expand, sigmoid."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        squeeze = _round8(channels // 4)
        self.reduce = nn.Conv3d(channels, squeeze, 1)
        self.expand = nn.Conv3d(squeeze, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.expand(F.silu(self.reduce(x.mean(dim=(2, 3, 4), keepdim=True))))
        return x * torch.sigmoid(gate)


class Bottleneck(nn.Module):
    """Inverted bottleneck; the residual branch is scaled by ``rezero`` (0 at init: every block starts as identity)."""

    def __init__(self, cin: int, block: Block) -> None:
        super().__init__()
        cout, mid, kernel, stride = block
        self.expand = ConvBN(cin, mid)
        self.depthwise = ConvBN(mid, mid, kernel, stride, groups=mid)
        self.se = SqueezeExcite(mid)
        self.project = ConvBN(mid, cout, act=False)
        self.shortcut = _Shortcut(cin, cout, stride) if stride != 1 or cin != cout else None
        self.rezero = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.shortcut is None else self.shortcut(x)
        return residual + self.rezero * self.project(self.se(self.depthwise(self.expand(x))))


class _Shortcut(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.pool = SamePool() if stride != 1 else nn.Identity()
        self.proj = ConvBN(cin, cout, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.pool(x))


class Classifier(nn.Module):
    def __init__(self, cin: int, hidden: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.hidden = nn.Linear(cin, hidden)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(F.silu(self.hidden(x))))


class MoViNet(nn.Module):
    """MoViNet base model on ``(B, 3, T, H, W)`` clips in ``[0, 1]`` (any T, H, W)."""

    def __init__(self, spec: MoViNetSpec, num_classes: int, dropout: float = 0.2) -> None:
        super().__init__()
        self.spec = spec
        self.stem = ConvBN(3, spec.stem, "133", stride=2)
        stages, cin = [], spec.stem
        for stage in spec.stages:
            blocks = []
            for block in stage:
                blocks.append(Bottleneck(cin, block))
                cin = block[0]
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        self.head = ConvBN(cin, spec.head)
        self.classifier = Classifier(spec.head, spec.hidden, num_classes, dropout)
        self.apply(_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return self.classifier(self.head(x).mean(dim=(2, 3, 4)))

    def load_reference_weights(self, path: str | Path, skip_classifier: bool = False) -> None:
        """Load converted MoViNet weights (reference PyTorch port layout; see :mod:`vidsteal.models.movinet_keys`)."""
        load_reference(self, path, skip_classifier)


def _round8(value: int) -> int:
    """Nearest multiple of 8 (at least 8, never more than 10% below): the channel rounding of the TF models."""
    rounded = max(8, (value + 4) // 8 * 8)
    return rounded + 8 if rounded < 0.9 * value else rounded


def _init(m: nn.Module) -> None:
    if isinstance(m, nn.Conv3d):
        nn.init.kaiming_normal_(m.weight, mode="fan_out")
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, 0, 0.01)
        nn.init.zeros_(m.bias)


@register_model()
def movinet_a0(num_classes: int = 600, dropout: float = 0.2) -> MoViNet:
    """MoViNet-A0: 3.1M parameters with a 600-class head; trained on Kinetics-600 at 50x172x172."""
    return MoViNet(A0, num_classes, dropout)


@register_model()
def movinet_a1(num_classes: int = 600, dropout: float = 0.2) -> MoViNet:
    """MoViNet-A1: 4.7M parameters with a 600-class head; trained on Kinetics-600 at 50x172x172."""
    return MoViNet(A1, num_classes, dropout)


@register_model()
def movinet_a2(num_classes: int = 600, dropout: float = 0.2) -> MoViNet:
    """MoViNet-A2: 5.3M parameters with a 600-class head; trained on Kinetics-600 at 50x224x224."""
    return MoViNet(A2, num_classes, dropout)


@register_model()
def test_movinet(num_classes: int, dropout: float = 0.0) -> MoViNet:
    """Toy widths, every block type (strided, channel-changing, identity shortcut) kept, for tests."""
    return MoViNet(TINY, num_classes, dropout)
