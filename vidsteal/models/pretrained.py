"""Published weights for the full-size models, from local files, and the clip size each model was trained at.

``load_weights(model, path)`` works for every full-size model: each family knows its checkpoint layout
(torchvision's state dict for Swin-T and the 3D ResNets, the reference port for MoViNet via a documented key
mapping, timm's for per-frame backbones). It also records the weights in the model's card, so a victim or
student saved later says where it started.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from torch import nn

from vidsteal.models.checkpoints import WeightsError
from vidsteal.models.registry import ModelCard
from vidsteal.models.video import TorchvisionVideo, kinetics400_categories

# (frames, frame size) the published weights were trained and evaluated at: attacks query victims at this size.
NATIVE_INPUT: dict[str, tuple[int, int]] = {
    "swin3d_t": (32, 224),
    "r3d_18": (16, 112),
    "r2plus1d_18": (16, 112),
    "movinet_a0": (50, 172),
    "movinet_a1": (50, 172),
    "movinet_a2": (50, 224),
    "resnet50_frame": (16, 224),
    "vit_tiny_frame": (16, 224),
}


def load_weights(model: nn.Module, path: str | Path, *, skip_classifier: bool = False,
                 categories: Sequence[str] | None = None) -> nn.Module:
    """Load a local checkpoint in the model family's published layout; returns ``model``.

    Args:
        model: a full-size model from :func:`vidsteal.models.create_model` (``swin3d_t``, ``movinet_a0``, ...).
        path: ``.pth``/``.pt`` (read with ``weights_only=True``) or ``.safetensors``.
        skip_classifier: keep the model's own last layer (a new label space, e.g. a K400 init for a K600 student).
        categories: class names, in label order, to record in the card; torchvision's Kinetics-400 names are
            filled in for torchvision video models with 400 classes.

    Raises:
        WeightsError: missing file, unreadable file, or keys/shapes that do not fit (the message lists them).
    """
    loader = getattr(model, "load_reference_weights", None)
    if loader is None:
        raise WeightsError(f"{type(model).__name__} has no published-weights loader; vidsteal's own "
                           f".safetensors files load with vidsteal.models.load_model")
    loader(path, skip_classifier=skip_classifier)
    card = getattr(model, "card", None)
    if isinstance(card, ModelCard):
        kinetics_head = isinstance(model, TorchvisionVideo) and card.num_classes == 400 and not skip_classifier
        if categories is None and kinetics_head:
            categories = kinetics400_categories()
        if categories is not None and len(categories) != card.num_classes:
            raise WeightsError(f"{len(categories)} category names for a model with {card.num_classes} classes")
        frames, size = NATIVE_INPUT.get(card.arch, (card.frames, card.size))
        model.card = card.model_copy(update={  # type: ignore[assignment]
            "categories": list(categories) if categories is not None else card.categories,
            "frames": card.frames or frames, "size": card.size or size,
            "recipe": card.recipe or f"weights from {Path(path).name}",
        })
    return model
