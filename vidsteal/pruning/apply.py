"""Keeping pruned weights at zero while a model trains, and moving weights between checkpoints.

:class:`MaskedTraining` is a :class:`~vidsteal.train.loop.Callback` for :func:`~vidsteal.train.loop.fit`: it zeroes
the pruned weights at once, masks their gradients (so optimiser moments, weight decay and gradient clipping see
exactly zero for them), and multiplies the weights by the mask again after every optimiser step, so nothing can
drift back in. State dict keys stay plain (``weight``, no ``weight_orig``), so checkpoints and
:func:`vidsteal.models.save_model` files of pruned models load like any other, with real zeros in them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from vidsteal.pruning.mask import Mask
from vidsteal.train.loop import Callback


@torch.no_grad()
def apply_mask(model: nn.Module, mask: Mask) -> None:
    """Zero the pruned weights of ``model`` in place."""
    mask.check_model(model)
    params = dict(model.named_parameters())
    for name, m in mask.items():
        params[name].mul_(m.to(params[name].device, params[name].dtype))


def model_sparsity(model: nn.Module) -> float:
    """Fraction of exactly-zero entries over all parameters (pruned and dense ones alike)."""
    total = sum(p.numel() for p in model.parameters())
    return sum(int((p == 0).sum()) for p in model.parameters()) / total


class MaskedTraining(Callback):
    """Enforces ``mask`` on ``model`` for the lifetime of this object; use as a context manager around ``fit``."""

    def __init__(self, model: nn.Module, mask: Mask) -> None:
        apply_mask(model, mask)
        self.mask = mask
        params = dict(model.named_parameters())
        # Float masks cached per parameter (moved again only if the model changes device).
        self._pairs = [(params[name], m.to(params[name].device, params[name].dtype)) for name, m in mask.items()]
        self._hooks = [p.register_hook(self._grad_hook(i)) for i, (p, _) in enumerate(self._pairs)]

    def _mask_for(self, i: int, like: torch.Tensor) -> torch.Tensor:
        param, m = self._pairs[i]
        if m.device != like.device or m.dtype != like.dtype:
            m = m.to(like.device, like.dtype)
            self._pairs[i] = (param, m)
        return m

    def _grad_hook(self, i: int) -> Any:
        return lambda grad: grad * self._mask_for(i, grad)

    @torch.no_grad()
    def after_optimizer_step(self, model: nn.Module) -> None:
        for i, (param, _) in enumerate(self._pairs):
            param.mul_(self._mask_for(i, param))

    def remove(self) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks = []

    def __enter__(self) -> "MaskedTraining":
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def save_state(model: nn.Module, path: str | Path) -> Path:
    """Plain state dict as safetensors (atomic); for rewind points and per-level weights."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(tmp))
    tmp.replace(path)
    return path


def load_state(model: nn.Module, path: str | Path) -> nn.Module:
    device = next(model.parameters()).device
    model.load_state_dict(load_file(str(path), device=str(device)))
    return model


class SnapshotAt(Callback):
    """Saves the weights once, after ``epochs`` training epochs: a late-rewind point."""

    def __init__(self, epochs: int, path: str | Path) -> None:
        self.epochs, self.path = epochs, Path(path)

    def on_epoch_end(self, epoch: int, model: nn.Module, logs: dict[str, Any]) -> None:
        # Runs before fit() checkpoints the epoch, so a resumed run never skips past an unsaved snapshot.
        if epoch + 1 == self.epochs and not self.path.exists():
            save_state(model, self.path)
