"""Small Video Swin Transformers built from torchvision's ``SwinTransformer3d`` blocks.

Same architecture family as Video Swin-T (Liu et al., 2022, https://arxiv.org/abs/2106.13230), narrowed so it
trains on the CPU on the embedded benchmark; depth, width and windows are arguments.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.video.swin_transformer import SwinTransformer3d

from vidsteal.models.layers import Normalize
from vidsteal.models.registry import register_model


class SmallVideoSwin(nn.Module):
    def __init__(
        self,
        num_classes: int,
        embed_dim: int = 48,
        depths: tuple[int, ...] = (2, 2),
        num_heads: tuple[int, ...] = (3, 6),
        patch_size: tuple[int, int, int] = (2, 4, 4),
        window_size: tuple[int, int, int] = (2, 4, 4),
        stochastic_depth_prob: float = 0.1,
    ) -> None:
        super().__init__()
        self.norm = Normalize()
        self.swin = SwinTransformer3d(
            patch_size=list(patch_size),
            embed_dim=embed_dim,
            depths=list(depths),
            num_heads=list(num_heads),
            window_size=list(window_size),
            stochastic_depth_prob=stochastic_depth_prob,
            num_classes=num_classes,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.swin(self.norm(x))


@register_model()
def swin3d_small(num_classes: int, **kw) -> SmallVideoSwin:
    """Embedded Video Swin victim (~0.3M parameters at the defaults)."""
    return SmallVideoSwin(num_classes, **kw)


@register_model()
def test_swin3d(num_classes: int, **kw) -> SmallVideoSwin:
    kw.setdefault("embed_dim", 12)
    kw.setdefault("depths", (1, 1))
    kw.setdefault("num_heads", (1, 2))
    return SmallVideoSwin(num_classes, **kw)
