"""Random-noise baseline: distil the student on victim-labelled noise clips.

Threat model: query access only, any output mode; no victim gradients, no data. Query cost: one query per clip.
The floor every data-free method must beat. Keyframes are smooth random fields at a random spatial scale (pure
per-pixel noise sends almost every clip to one victim class). ``render="motion"`` turns two of them into a clip
with the embedding method's own motion renderer (:mod:`~vidsteal.attacks.blackbox.trajectories`: a sprite moving
over a background, random motion), so noise and class embeddings differ only in where the keyframes come from and
in the search: the fair baseline ``benchmarks/blackbox.py`` reports. ``render="blend"`` (default, as before: the
demo, audit and defence matrix keep their figures; PRADA flags this stream) fades one field into the other.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from vidsteal.attacks.blackbox.pool import mixup
from vidsteal.attacks.blackbox.session import BlackboxAttack, BlackboxConfig, Session
from vidsteal.attacks.blackbox.trajectories import MOTION_DIMS, MotionConfig, make_clips, motion_kinds
from vidsteal.attacks.registry import register_attack


class NoiseAttackConfig(BlackboxConfig):
    batch: int = Field(256, ge=1, description="clips rendered and paid per step")
    scales: tuple[int, ...] = Field((2, 4, 8, 16, 32), description="side of the random field before upsampling")
    render: Literal["motion", "blend"] = Field("blend", description="motion: the embedding method's renderer "
                                               "(sprite over background, random motion); blend: fade between fields")
    motion: MotionConfig = Field(default_factory=MotionConfig, description="the renderer (as the embedding method's)")
    motion_std: float = Field(1.0, ge=0, description="std of the raw motion parameters (the embedding method's "
                                                     "init_motion)")
    mixup: float = Field(0.0, ge=0, le=1, description="share of the clips blended pixel-wise with another of the "
                         "step before they are paid (the embedding method's pool.mixup; 0 = off)")


def noise_fields(n: int, size: int, scales: tuple[int, ...], g: torch.Generator, per_clip: int = 2) -> torch.Tensor:
    """``(n, per_clip, 3, size, size)`` smooth random images in [0, 1]; a clip's images share a random scale."""
    out = torch.empty(n, per_clip, 3, size, size)
    scale_idx = torch.randint(0, len(scales), (n,), generator=g)
    for i, s in enumerate(scales):
        sel = (scale_idx == i).nonzero().flatten()
        if sel.numel():
            keys = torch.rand(sel.numel() * per_clip, 3, min(s, size), min(s, size), generator=g)
            keys = F.interpolate(keys, size=(size, size), mode="bilinear", align_corners=False)
            out[sel] = keys.view(-1, per_clip, 3, size, size)
    return out


def noise_clips(n: int, frames: int, size: int, scales: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    """``(n, 3, T, size, size)`` smooth random clips in [0, 1], fading from one field to another."""
    keys = noise_fields(n, size, scales, g)
    w = torch.linspace(0, 1, frames).view(1, 1, frames, 1, 1)
    return (keys[:, 0].unsqueeze(2) * (1 - w) + keys[:, 1].unsqueeze(2) * w).clamp(0, 1)


def moving_noise_clips(n: int, frames: int, size: int, cfg: NoiseAttackConfig, g: torch.Generator) -> torch.Tensor:
    """Two noise fields per clip through the embedding method's renderer, with random motion, sprite position and
    mask polarity drawn as :meth:`ClassEmbeddings.noise` draws them (sprite and background at independent scales)."""
    key0, key1 = (noise_fields(n, size, cfg.scales, g, per_clip=1)[:, 0].clamp(0, 1) for _ in range(2))
    motion = torch.randn(n, MOTION_DIMS, generator=g) * cfg.motion_std
    motion = motion + torch.randn(n, MOTION_DIMS, generator=g) * cfg.motion.jitter
    centre = (torch.rand(n, 2, generator=g) - 0.5) * 0.8
    polarity = torch.randint(0, 2, (n,), generator=g).float() * 2 - 1
    kind = motion_kinds(n, cfg.motion, g)
    return make_clips(key0, key1, motion, frames, size, cfg.motion, centre, polarity, kind)


@register_attack
class NoiseAttack(BlackboxAttack):
    name = "noise"
    config_class: ClassVar[type[NoiseAttackConfig]] = NoiseAttackConfig  # type: ignore[assignment]
    config: NoiseAttackConfig

    def setup(self, session: Session) -> None:
        self.rng = torch.Generator().manual_seed(self.config.seed * 1_000_003 + 5)

    def step(self, session: Session) -> None:
        cfg, n = self.config, min(self.config.batch, session.remaining)
        if cfg.render == "motion":
            clips = moving_noise_clips(n, session.frames, session.size, cfg, self.rng)
        else:
            clips = noise_clips(n, session.frames, session.size, cfg.scales, self.rng)
        session.pay(mixup(clips, torch.zeros(n, 1), cfg.mixup, self.rng)[0])

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        return {"rng": self.rng.get_state()}, {}

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        self.rng.set_state(tensors["rng"])
