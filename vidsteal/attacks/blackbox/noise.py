"""Random-noise baseline: distil the student on victim-labelled noise clips.

Threat model: query access only, any output mode; no victim gradients, no data. Query cost: one query per clip.
The floor every data-free method must beat. Clips are smooth random fields at a random spatial scale (pure
per-pixel noise sends almost every clip to one victim class), blended between two random keyframes over time
so that they also change.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from pydantic import Field

from vidsteal.attacks.blackbox.session import BlackboxAttack, BlackboxConfig, Session
from vidsteal.attacks.registry import register_attack


class NoiseAttackConfig(BlackboxConfig):
    batch: int = Field(256, ge=1, description="clips rendered and paid per step")
    scales: tuple[int, ...] = Field((2, 4, 8, 16, 32), description="side of the random field before upsampling")


def noise_clips(n: int, frames: int, size: int, scales: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    """``(n, 3, T, size, size)`` smooth random clips in [0, 1]."""
    out = torch.empty(n, 3, frames, size, size)
    scale_idx = torch.randint(0, len(scales), (n,), generator=g)
    for i, s in enumerate(scales):
        sel = (scale_idx == i).nonzero().flatten()
        if not sel.numel():
            continue
        keys = torch.rand(sel.numel() * 2, 3, min(s, size), min(s, size), generator=g)
        keys = F.interpolate(keys, size=(size, size), mode="bilinear", align_corners=False).view(-1, 2, 3, size, size)
        w = torch.linspace(0, 1, frames).view(1, 1, frames, 1, 1)
        out[sel] = keys[:, 0].unsqueeze(2) * (1 - w) + keys[:, 1].unsqueeze(2) * w
    return out.clamp(0, 1)


@register_attack
class NoiseAttack(BlackboxAttack):
    name = "noise"
    config_class: ClassVar[type[NoiseAttackConfig]] = NoiseAttackConfig  # type: ignore[assignment]
    config: NoiseAttackConfig

    def setup(self, session: Session) -> None:
        self.rng = torch.Generator().manual_seed(self.config.seed * 1_000_003 + 5)

    def step(self, session: Session) -> None:
        n = min(self.config.batch, session.remaining)
        session.pay(noise_clips(n, session.frames, session.size, self.config.scales, self.rng))

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        return {"rng": self.rng.get_state()}, {}

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        self.rng.set_state(tensors["rng"])
