"""Models: registry, factory, safetensors I/O, and the registered families (imported here to register them)."""

from vidsteal.models import conv3d, image, movinet, per_frame, swin, video  # noqa: F401  (registration)
from vidsteal.models.checkpoints import WeightsError
from vidsteal.models.contract import ContractError, ContractModel, InputContract
from vidsteal.models.external import load_external, load_victim_model
from vidsteal.models.pretrained import NATIVE_INPUT, load_weights
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
    "MODELS", "NATIVE_INPUT", "ContractError", "ContractModel", "InputContract", "ModelCard", "WeightsError",
    "create_model", "list_models", "load_external", "load_model", "load_victim_model", "load_weights", "model_card",
    "read_card", "register_model", "save_model",
]
