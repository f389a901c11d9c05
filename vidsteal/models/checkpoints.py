"""Read weights that other projects published (torchvision, timm, converted MoViNet) from local files.

Nothing is downloaded: every loader takes a path. ``.safetensors`` files are read with safetensors; anything else
with ``torch.load(..., weights_only=True)``, which refuses pickled code, so a checkpoint can never run anything.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

# Training scripts wrap the weights in a dict under one of these keys (torchvision refs, timm, Lightning).
_WRAPPER_KEYS = ("state_dict", "model", "model_state", "module")


class WeightsError(ValueError):
    """A weights file that is missing, unreadable, or does not fit the model; the message says which keys differ."""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a local checkpoint: unwraps ``{"state_dict": ...}``-style dicts and strips DDP's ``module.``."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist (nothing is downloaded: give a local path)")
    try:
        if path.suffix == ".safetensors":
            state: object = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except (SafetensorError, OSError, RuntimeError, EOFError, pickle.UnpicklingError) as err:
        raise WeightsError(f"cannot read weights from {path}: {err}") from err
    while isinstance(state, Mapping) and not _is_tensor_dict(state):
        key = next((k for k in _WRAPPER_KEYS if k in state), None)
        if key is None:
            raise WeightsError(f"{path} holds a dict without tensors or a known wrapper key {_WRAPPER_KEYS}")
        state = state[key]
    if not isinstance(state, Mapping):
        raise WeightsError(f"{path} holds a {type(state).__name__}, not a state dict")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return dict(state)


def load_into(module: nn.Module, state: Mapping[str, torch.Tensor], source: str, layout: str) -> None:
    """``module.load_state_dict(state)`` with an error that names the layout expected and the keys that differ."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in sorted(set(own) & set(state)) if state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = [f"{source} does not fit the {layout} layout"]
        for name, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", shapes)):
            if keys:
                parts.append(f"{len(keys)} {name} (first: {', '.join(keys[:3])})")
        hint = " (a different num_classes? pass skip_classifier=True to keep the new head)" if shapes else ""
        raise WeightsError("; ".join(parts) + hint)
    module.load_state_dict(state)


def _is_tensor_dict(state: Mapping) -> bool:
    return bool(state) and all(isinstance(v, torch.Tensor) for v in state.values())
