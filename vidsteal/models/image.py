"""Full-size per-frame students from timm: ResNet-50 (the reference K600 student) and ViT-Tiny (the K400 one).

Each runs a timm image backbone on every frame through :class:`~vidsteal.models.per_frame.PerFrame` and averages
the frame logits (the reference study's "Frame" student). Start from random weights, or from local ImageNet
weights with :func:`vidsteal.models.load_weights`, which hands the file to timm through
``pretrained_cfg_overlay=dict(file=...)`` so timm's own filters apply (classifier dropped, ViT position
embeddings resampled); nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import timm

from vidsteal.models.checkpoints import WeightsError
from vidsteal.models.layers import Normalize
from vidsteal.models.per_frame import PerFrame
from vidsteal.models.registry import register_model
from vidsteal.models.video import IMAGENET_MEAN, IMAGENET_STD

# Force timm to the local file: no hub id or URL is left for it to fall back to.
_OFFLINE = {"source": None, "url": None, "hf_hub_id": None}


class TimmPerFrame(PerFrame):
    """A timm backbone (built with ``num_classes=0``) per frame, normalised with its pretraining statistics."""

    def __init__(self, timm_name: str, num_classes: int, temporal: str = "mean", **timm_kwargs: Any) -> None:
        backbone = timm.create_model(timm_name, pretrained=False, num_classes=0, **timm_kwargs)
        super().__init__(backbone, backbone.num_features, num_classes, temporal)
        cfg = backbone.pretrained_cfg
        self.norm = Normalize(tuple(cfg.get("mean", IMAGENET_MEAN)), tuple(cfg.get("std", IMAGENET_STD)))
        self.timm_name, self.timm_kwargs = timm_name, timm_kwargs

    def load_reference_weights(self, path: str | Path, skip_classifier: bool = False) -> None:
        """Backbone weights from a local timm/ImageNet checkpoint; the clip head is never in such a file and stays."""
        if not Path(path).is_file():
            raise WeightsError(f"weights file {path} does not exist (nothing is downloaded: give a local path)")
        try:
            loaded = timm.create_model(self.timm_name, pretrained=True, num_classes=0, **self.timm_kwargs,
                                       pretrained_cfg_overlay={**_OFFLINE, "file": str(path)})
        except (RuntimeError, KeyError, ValueError) as err:
            raise WeightsError(f"{path} does not fit timm's {self.timm_name}: {err}") from err
        self.backbone.load_state_dict(loaded.state_dict())


@register_model()
def resnet50_frame(num_classes: int, temporal: str = "mean", drop_path_rate: float = 0.0) -> TimmPerFrame:
    """Per-frame ResNet-50 (He et al., 2016): 23.5M backbone parameters, 224x224 frames native."""
    return TimmPerFrame("resnet50", num_classes, temporal, drop_path_rate=drop_path_rate)


@register_model()
def vit_tiny_frame(num_classes: int, temporal: str = "mean", img_size: int = 224,
                   drop_path_rate: float = 0.0) -> TimmPerFrame:
    """Per-frame ViT-Ti/16 (Touvron et al., 2021): 5.5M parameters; any frame size (position embeddings resampled)."""
    return TimmPerFrame("vit_tiny_patch16_224", num_classes, temporal, img_size=img_size, dynamic_img_size=True,
                        drop_path_rate=drop_path_rate)


@register_model()
def test_resnet50_frame(num_classes: int, temporal: str = "mean") -> TimmPerFrame:
    """ResNet-50's bottleneck blocks at toy depth and width, for tests."""
    return TimmPerFrame("resnet50", num_classes, temporal, layers=(1, 1, 1, 1), channels=(8, 16, 32, 64),
                        stem_width=8)


@register_model()
def test_vit_tiny_frame(num_classes: int, temporal: str = "mean") -> TimmPerFrame:
    """ViT-Tiny's patch-16 layout at toy depth and width, for tests."""
    return TimmPerFrame("vit_tiny_patch16_224", num_classes, temporal, img_size=64, dynamic_img_size=True,
                        depth=1, embed_dim=16, num_heads=2)
