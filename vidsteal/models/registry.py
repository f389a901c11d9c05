"""Model registry, factory and safetensors I/O.

Every model takes float clips ``(B, C, T, H, W)`` in ``[0, 1]``, normalises them itself and returns logits
``(B, num_classes)``. A :class:`ModelCard` travels inside the weights file (safetensors metadata), so a file is
enough to rebuild its model: no pickle, no code from the file is ever run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import torch
from pydantic import Field
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from vidsteal.config import BaseConfig
from vidsteal.registry import Registry

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")
register_model = MODELS.register


def list_models(pattern: str = "*") -> list[str]:
    return MODELS.list(pattern)


class ModelCard(BaseConfig):
    """Everything needed to rebuild a model and feed it: travels with the weights."""

    arch: str = Field(description="registry name of the builder")
    num_classes: int = Field(ge=1)
    kwargs: dict[str, Any] = Field(default_factory=dict, description="builder keyword arguments")
    frames: int | None = Field(None, description="clip length the model was trained on")
    size: int | None = Field(None, description="frame height = width the model was trained on")
    categories: list[str] | None = None
    dataset: dict[str, Any] | None = Field(None, description="config of the data it was trained on")
    metrics: dict[str, float] = Field(default_factory=dict, description="measured accuracy, e.g. test top-1")
    recipe: str | None = Field(None, description="config hash or command that produced the weights")


def create_model(name: str, num_classes: int, **kwargs: Any) -> nn.Module:
    """Build a registered model; ``None`` kwargs are dropped so builders keep their own defaults."""
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    model = MODELS.get(name)(num_classes=num_classes, **kwargs)
    model.card = ModelCard(arch=name, num_classes=num_classes, kwargs=kwargs)  # type: ignore[assignment]
    return model


def model_card(model: nn.Module) -> ModelCard:
    card = getattr(model, "card", None)
    if not isinstance(card, ModelCard):
        raise ValueError("model was not built by vidsteal.create_model and has no card; pass one explicitly")
    return card


def save_model(model: nn.Module, path: str | Path, card: ModelCard | None = None) -> Path:
    """Write weights + card to one ``.safetensors`` file (atomically: a crash leaves the old file intact)."""
    card = card or model_card(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(tmp), metadata={"vidsteal_card": card.model_dump_json()})
    tmp.replace(path)
    return path


def read_card(path: str | Path) -> ModelCard:
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError) as err:
        raise ValueError(f"{path} is not a readable safetensors file: {err}") from err
    if "vidsteal_card" not in meta:
        raise ValueError(f"{path} has no vidsteal model card in its metadata")
    return ModelCard.model_validate(json.loads(meta["vidsteal_card"]))


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> nn.Module:
    """Rebuild a model from a file written by :func:`save_model`; returns it in eval mode."""
    card = read_card(path)
    model = create_model(card.arch, num_classes=card.num_classes, **card.kwargs)
    model.load_state_dict(load_file(str(path), device=str(map_location)))
    model.card = card  # type: ignore[assignment]
    return model.eval()
