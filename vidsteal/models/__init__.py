"""Models: registry, factory, safetensors I/O, and the registered families (imported here to register them)."""

from vidsteal.models import conv3d, per_frame, swin  # noqa: F401  (registration)
from vidsteal.models.registry import (
    MODELS,
    ModelCard,
    create_model,
    list_models,
    load_model,
    model_card,
    read_card,
    register_model,
    save_model,
)

__all__ = [
    "MODELS", "ModelCard", "create_model", "list_models", "load_model", "model_card", "read_card",
    "register_model", "save_model",
]
