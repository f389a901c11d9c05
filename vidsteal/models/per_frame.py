"""Per-frame students: an image backbone applied to every frame, then aggregated over time.

``temporal="mean"`` averages the frame logits (the reference study's "Frame" student, which cannot see motion);
``temporal="conv"`` mixes frame features with a 1-D temporal conv first.
"""

from __future__ import annotations

import torch
from torch import nn

from vidsteal.models.layers import Normalize, TemporalConvHead
from vidsteal.models.registry import register_model


class PerFrame(nn.Module):
    """Wraps ``backbone: (N, C, H, W) -> (N, D)`` features into a clip classifier."""

    def __init__(self, backbone: nn.Module, dim: int, num_classes: int, temporal: str = "mean") -> None:
        super().__init__()
        if temporal not in ("mean", "conv"):
            raise ValueError(f"temporal must be 'mean' or 'conv', got {temporal!r}")
        self.norm = Normalize()
        self.backbone = backbone
        self.temporal = temporal
        self.head = nn.Linear(dim, num_classes) if temporal == "mean" else TemporalConvHead(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        # Frames channels-last ((B*T, H, W, C) in memory): oneDNN's convolutions run ~1.2x faster that way on the
        # CPU, forward and backward, with the same results up to float rounding (bf16: ~2x). Whatever the clips'
        # memory order: whole uint8 (B, T, C, H, W) clips made model input by a permuted view (evaluation, fit without
        # a frame subset, the replay buffer's frame gather) would otherwise reach the backbone as plain NCHW frames
        # (1.7x slower student steps, bf16, 1 thread).
        frames = self.norm(x).permute(0, 2, 3, 4, 1).reshape(b * t, h, w, c).permute(0, 3, 1, 2)
        frames = frames.contiguous(memory_format=torch.channels_last)
        feats = self.backbone(frames).view(b, t, -1)
        if self.temporal == "mean":
            return self.head(feats).mean(dim=1)  # mean of frame logits
        return self.head(feats)


def _cnn2d(widths: tuple[int, ...]) -> nn.Sequential:
    layers, cin = [], 3
    for width in widths:
        # Pool before ReLU: the same outputs and gradients as conv-BN-ReLU-pool (max and ReLU commute), with the ReLU
        # on a quarter of the pixels (~10% of a student step on the CPU). No parameter moves: old weights load.
        layers += [nn.Conv2d(cin, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.MaxPool2d(2),
                   nn.ReLU(inplace=True)]
        cin = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())


@register_model()
def frame_cnn(num_classes: int, widths: tuple[int, ...] = (32, 64, 128), temporal: str = "mean") -> PerFrame:
    """Small per-frame 2D CNN student (a ResNet-50-per-frame in miniature)."""
    return PerFrame(_cnn2d(tuple(widths)), widths[-1], num_classes, temporal)


@register_model()
def frame_vit_tiny(
    num_classes: int,
    img_size: int = 32,
    patch_size: int = 4,
    embed_dim: int = 192,
    depth: int = 4,
    num_heads: int = 3,
    temporal: str = "mean",
    global_pool: str = "max",
) -> PerFrame:
    """Per-frame ViT-Tiny-style student via timm (ViT-Ti width 192 / 3 heads; depth cut for CPU training).

    Pools patch tokens with ``max`` by default: with timm's ``avg`` this model did not learn the embedded
    benchmark's small objects (4 shape classes, 150 AdamW steps: loss 1.56 -> 1.38 = ln 4) while ``max`` did
    (1.49 -> 1.10); see the same finding for the small Swin in models/swin.py. Frames of any size a multiple of
    ``patch_size`` are taken (timm's ``dynamic_img_size``: position embeddings resampled from the ``img_size`` grid),
    so a victim whose clips are not 32 px is attacked with the same student (bit for bit the same at ``img_size``).
    """
    from timm.models.vision_transformer import VisionTransformer  # timm costs ~2 s to import: only when used

    vit = VisionTransformer(
        img_size=img_size, patch_size=patch_size, embed_dim=embed_dim, depth=depth, num_heads=num_heads,
        num_classes=0, global_pool=global_pool, class_token=False, dynamic_img_size=True,
    )
    return PerFrame(vit, embed_dim, num_classes, temporal)


@register_model()
def test_frame_cnn(num_classes: int, temporal: str = "mean") -> PerFrame:
    return frame_cnn(num_classes, widths=(4, 8), temporal=temporal)


@register_model()
def test_frame_vit(num_classes: int, img_size: int = 32, temporal: str = "mean", global_pool: str = "max") -> PerFrame:
    return frame_vit_tiny(num_classes, img_size=img_size, patch_size=8, embed_dim=16, depth=1, num_heads=2,
                          temporal=temporal, global_pool=global_pool)
