"""Pruning strategies: given trained weights and the current mask, remove a fraction of the *surviving* weights.

Strategies are kept apart from the IMP loop that calls them (as in open_lth's ``pruning/`` vs ``lottery/``):
each is a function ``(model, mask, fraction, generator) -> Mask`` registered by name.

- ``global_magnitude``: the ``fraction`` of surviving prunable weights with the smallest ``|w|`` across all layers
  (Frankle & Carbin 2019, global variant; layers end up with different sparsities).
- ``layer_magnitude``: the same fraction inside every layer separately (uniform per-layer sparsity).
- ``layer_random``: a random ``fraction`` of each layer's survivors (a control, not a method).

Exactly ``round(fraction * survivors)`` weights are removed per scope, so after ``n`` rounds the sparsity is
``1 - (1 - fraction)^n`` up to one weight of rounding per round and scope. Selection uses ``torch.topk`` on the
model's device (no NumPy sort over every weight); ties at the threshold are broken by ``topk``.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from pydantic import Field, field_validator
from torch import nn

from vidsteal.config import BaseConfig
from vidsteal.pruning.mask import LayerSelection, Mask
from vidsteal.registry import Registry

Strategy = Callable[[nn.Module, Mask, float, "torch.Generator | None"], Mask]
STRATEGIES: Registry[Strategy] = Registry("pruning strategy")


class PruningConfig(BaseConfig):
    """One pruning round."""

    strategy: str = Field("global_magnitude", description="global_magnitude | layer_magnitude | layer_random")
    fraction: float = Field(0.2, gt=0, lt=1, description="share of the surviving prunable weights removed per round")
    layers: LayerSelection = Field(default_factory=LayerSelection, description="which weights may be pruned")

    @field_validator("strategy")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in STRATEGIES:  # a misspelt strategy fails here, not after hours of training
            raise ValueError(f"unknown pruning strategy {name!r}; registered: {', '.join(list_strategies())}")
        return name


def list_strategies(pattern: str = "*") -> list[str]:
    return STRATEGIES.list(pattern)


def rounds_for(target_sparsity: float, fraction: float) -> int:
    """Fewest rounds of ``fraction`` that reach ``target_sparsity``: ceil(log(1 - s) / log(1 - p))."""
    if not 0 <= target_sparsity < 1:
        raise ValueError(f"target sparsity must lie in [0, 1), got {target_sparsity}")
    if target_sparsity == 0:
        return 0
    return math.ceil(math.log(1 - target_sparsity) / math.log(1 - fraction) - 1e-9)


def expected_sparsity(fraction: float, rounds: int) -> float:
    return 1.0 - (1.0 - fraction) ** rounds


def _drop_smallest(scores: torch.Tensor, keep: torch.Tensor, fraction: float) -> torch.Tensor:
    """New flat keep-vector: the ``round(fraction * kept)`` lowest-scoring kept entries removed."""
    k = round(fraction * int(keep.sum()))
    new = keep.clone()
    if k:
        masked = torch.where(keep, scores, torch.full_like(scores, math.inf))  # pruned weights are never chosen again
        new[masked.topk(k, largest=False, sorted=False).indices] = False
    return new


def _flat(model: nn.Module, mask: Mask, score: Callable[[torch.Tensor], torch.Tensor]
          ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per masked parameter: flat scores and flat keep-vector, on the parameter's device."""
    mask.check_model(model)
    params = dict(model.named_parameters())
    return {name: (score(params[name].detach()).flatten().float(), m.to(params[name].device).flatten())
            for name, m in mask.items()}


def _rebuild(mask: Mask, flat: dict[str, torch.Tensor]) -> Mask:
    return Mask({name: flat[name].view(m.shape) for name, m in mask.items()})


@STRATEGIES.register("global_magnitude")
def global_magnitude(model: nn.Module, mask: Mask, fraction: float, generator: torch.Generator | None = None) -> Mask:
    parts = _flat(model, mask, torch.abs)
    scores = torch.cat([s for s, _ in parts.values()])
    keep = torch.cat([m for _, m in parts.values()])
    new = _drop_smallest(scores, keep, fraction)
    return _rebuild(mask, dict(zip(parts, new.split([m.numel() for _, m in parts.values()]))))


@STRATEGIES.register("layer_magnitude")
def layer_magnitude(model: nn.Module, mask: Mask, fraction: float, generator: torch.Generator | None = None) -> Mask:
    parts = _flat(model, mask, torch.abs)
    return _rebuild(mask, {name: _drop_smallest(s, m, fraction) for name, (s, m) in parts.items()})


@STRATEGIES.register("layer_random")
def layer_random(model: nn.Module, mask: Mask, fraction: float, generator: torch.Generator | None = None) -> Mask:
    def random_scores(w: torch.Tensor) -> torch.Tensor:
        return torch.rand(w.shape, generator=generator).to(w.device)

    parts = _flat(model, mask, random_scores)
    return _rebuild(mask, {name: _drop_smallest(s, m, fraction) for name, (s, m) in parts.items()})


def magnitude_threshold(model: nn.Module, old: Mask, new: Mask) -> float | None:
    """Largest ``|w|`` removed going from ``old`` to ``new`` (None when nothing was removed)."""
    params = dict(model.named_parameters())
    removed = [params[n].detach().abs()[old[n].to(params[n].device) & ~new[n].to(params[n].device)] for n in old]
    removed = [r for r in removed if r.numel()]
    return float(torch.cat(removed).max()) if removed else None


def prune(model: nn.Module, mask: Mask, cfg: PruningConfig, generator: torch.Generator | None = None) -> Mask:
    """One round of ``cfg.strategy`` on ``model``'s current weights; the result is always within ``mask``."""
    new = STRATEGIES.get(cfg.strategy)(model, mask, cfg.fraction, generator)
    if not new.is_within(mask):  # a strategy that regrows weights is a bug, not a choice
        raise RuntimeError(f"pruning strategy {cfg.strategy!r} grew the mask")
    return new
