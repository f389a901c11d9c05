"""The embedded benchmark's config, and benchmark v1 (``kind: motion``): classes that all need appearance and motion.

The default benchmark is v2 (``kind: kinetics``, rendered by :mod:`vidsteal.data.kinetics_like`): most classes are
told apart by appearance, a minority by motion, as on Kinetics. v1 stays available by name so earlier figures
can be reproduced bit for bit.

In v1 each class is a (shape, motion) pair such as ``triangle_cw``. Position, size, speed, colours, background
gradient, a distractor blob, camera drift and pixel noise are random per clip, so a single frame shows the shape
but not its motion: left vs right, cw vs ccw and zoom in vs out are only separable across time. Rendering is
vectorised in torch (signed-distance shapes with soft edges) and deterministic by seed; thousands of clips take
seconds on a CPU.
"""

from __future__ import annotations

import math
from itertools import product
from typing import Any, Literal

import torch
from pydantic import Field, field_validator, model_validator

from vidsteal.config import BaseConfig
from vidsteal.data.kinetics_like import class_table
from vidsteal.data.sprites import contrasting, sdf

SHAPES = ("square", "triangle", "cross", "ell")
MOTIONS = ("right", "left", "up", "down", "cw", "ccw", "zoom_in", "zoom_out", "blink")


class BenchmarkConfig(BaseConfig):
    """Shape of the embedded benchmark. ``kind: kinetics`` (v2, default): ``appearance_classes`` classes told apart
    by appearance plus two classes per motion pair; ``kind: motion`` (v1): the classes are ``shapes x motions``."""

    kind: Literal["kinetics", "motion"] = Field("kinetics", description="kinetics = v2 (mostly appearance, a few "
                                                "motion pairs); motion = v1 (every class needs motion)")
    appearance_classes: int = Field(14, ge=1, description="v2: classes defined by object and scene, any motion")
    motion_pairs: tuple[str, ...] = Field(("lateral", "spin", "zoom"), description="v2: pairs of classes that share "
                                          "a look and differ only in a motion's direction: lateral, spin, zoom")
    shapes: tuple[str, ...] = Field(SHAPES, description=f"v1: object shapes, from {SHAPES}")
    motions: tuple[str, ...] = Field(("right", "left", "cw", "ccw", "zoom_in"), description=f"v1: from {MOTIONS}")
    frames: int = Field(8, ge=2, description="frames per clip")
    size: int = Field(32, ge=16, description="frame height = width in pixels")
    noise: float = Field(0.04, ge=0, description="std of per-pixel Gaussian noise (in [0,1] units)")
    drift: float = Field(0.35, ge=0, description="max camera drift in pixels per frame, applied to every class")
    scene_contrast: tuple[float, float] = Field((0.25, 0.4), description="v2: range of the per-channel step between "
                                                "a scene's two colours (at 0.12-0.25 scenes were the cue c3d_small "
                                                "confused most, under the pixel noise)")
    object_size: tuple[float, float] = Field((0.2, 0.3), description="object radius range, fraction of the frame "
                                             "(objects much smaller than this starve per-frame students of shape)")

    @model_validator(mode="before")
    @classmethod
    def _v1_without_kind(cls, data: Any) -> Any:
        """Configs and model cards written before v2 name shapes or motions and no kind: they are v1."""
        if isinstance(data, dict) and "kind" not in data and ("shapes" in data or "motions" in data):
            return {**data, "kind": "motion"}
        return data

    @field_validator("object_size")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] <= value[1] <= 0.45:
            raise ValueError(f"object_size must be 0 < low <= high <= 0.45, got {value}")
        return value

    @field_validator("scene_contrast")
    @classmethod
    def _contrast(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] <= value[1] <= 0.5:  # <= 0.5: one of bg +- step always stays inside [0, 1]
            raise ValueError(f"scene_contrast must be 0 < low <= high <= 0.5, got {value}")
        return value

    def classes(self) -> list[str]:
        if self.kind == "kinetics":
            return class_table(self.appearance_classes, self.motion_pairs)[0]
        for name in self.shapes:
            if name not in SHAPES:
                raise ValueError(f"unknown shape {name!r}; choose from {SHAPES}")
        for name in self.motions:
            if name not in MOTIONS:
                raise ValueError(f"unknown motion {name!r}; choose from {MOTIONS}")
        return [f"{s}_{m}" for s, m in product(self.shapes, self.motions)]


def _background(n: int, size: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random colour + linear gradient per clip: (n, 3, H, W) and the mean colour (n, 3)."""
    coords = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    base = torch.rand(n, 3, generator=g) * 0.8 + 0.1
    angle = torch.rand(n, generator=g) * 2 * math.pi
    slope = (torch.rand(n, 3, generator=g) - 0.5) * 0.4
    ramp = xx * angle.cos().view(n, 1, 1) + yy * angle.sin().view(n, 1, 1)
    bg = base.view(n, 3, 1, 1) + slope.view(n, 3, 1, 1) * ramp.unsqueeze(1)
    return bg, base


def render_clips(
    shape_idx: torch.Tensor, motion_idx: torch.Tensor, cfg: BenchmarkConfig, g: torch.Generator
) -> torch.Tensor:
    """v1: render one clip per (shape, motion) index pair; returns uint8 ``(N, T, C, H, W)``."""
    n, t_len, size = shape_idx.numel(), cfg.frames, cfg.size
    motions = [cfg.motions[i] for i in motion_idx.tolist()]
    bg, base = _background(n, size, g)
    colour = contrasting(base, g)
    # Per-clip object parameters, in pixels / radians.
    lo_r, hi_r = cfg.object_size
    radius = size * (lo_r + (hi_r - lo_r) * torch.rand(n, generator=g))
    speed = size * (0.045 + 0.03 * torch.rand(n, generator=g))
    spin = (0.25 + 0.2 * torch.rand(n, generator=g))  # rad per frame
    zoom = 1.07 + 0.05 * torch.rand(n, generator=g)  # scale factor per frame
    angle0 = torch.rand(n, generator=g) * 2 * math.pi
    drift = (torch.rand(n, 2, generator=g) - 0.5) * 2 * cfg.drift
    period = torch.randint(1, 3, (n,), generator=g)
    phase = torch.randint(0, 2, (n,), generator=g)
    # Start positions keep the whole trajectory inside the frame.
    unit = {"right": (1.0, 0.0), "left": (-1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}
    vel = torch.tensor([unit.get(m, (0.0, 0.0)) for m in motions]).view(n, 2) * speed.view(n, 1)
    travel = vel * (t_len - 1)
    margin = radius.view(n, 1) * 1.2
    lo = margin - travel.clamp(max=0)
    hi = size - margin - travel.clamp(min=0)
    start = lo + (hi - lo).clamp(min=0) * torch.rand(n, 2, generator=g)
    # Distractor: a soft blob of another colour that drifts slowly, present in every class.
    blob_c = contrasting(base, g)
    blob_pos = torch.rand(n, 2, generator=g) * size
    blob_r = size * (0.06 + 0.08 * torch.rand(n, generator=g))

    pix = torch.arange(size, dtype=torch.float32) + 0.5
    py, px = torch.meshgrid(pix, pix, indexing="ij")  # (H, W)
    frames = []
    sign = torch.tensor([{"cw": 1.0, "ccw": -1.0}.get(m, 0.0) for m in motions])
    zdir = torch.tensor([{"zoom_in": 1.0, "zoom_out": -1.0}.get(m, 0.0) for m in motions])
    blink = torch.tensor([m == "blink" for m in motions])
    for t in range(t_len):
        centre = start + vel * t + drift * t
        theta = angle0 + sign * spin * t
        scale = radius * zoom.pow(zdir * (t - (t_len - 1) / 2))
        dx = (px.unsqueeze(0) - centre[:, 0].view(n, 1, 1)) / scale.view(n, 1, 1)
        dy = (py.unsqueeze(0) - centre[:, 1].view(n, 1, 1)) / scale.view(n, 1, 1)
        cos, sin = theta.cos().view(n, 1, 1), theta.sin().view(n, 1, 1)
        lx, ly = cos * dx + sin * dy, -sin * dx + cos * dy
        dist = torch.empty(n, size, size)
        for s_i, s_name in enumerate(cfg.shapes):
            sel = shape_idx == s_i
            if sel.any():
                dist[sel] = sdf(s_name, lx[sel], ly[sel])
        alpha = torch.sigmoid(-dist * scale.view(n, 1, 1) * 2.0)
        hidden = blink & (((t // period) + phase) % 2 == 1)
        alpha[hidden] = 0.0
        bpos = blob_pos + drift * t
        bd = ((px - bpos[:, 0].view(n, 1, 1)) ** 2 + (py - bpos[:, 1].view(n, 1, 1)) ** 2) / blob_r.view(n, 1, 1) ** 2
        blob_a = torch.exp(-bd).unsqueeze(1) * 0.8
        frame = bg * (1 - blob_a) + blob_c.view(n, 3, 1, 1) * blob_a
        frame = frame * (1 - alpha.unsqueeze(1)) + colour.view(n, 3, 1, 1) * alpha.unsqueeze(1)
        frame = frame + cfg.noise * torch.randn(frame.shape, generator=g)
        frames.append(frame.clamp(0, 1))
    return (torch.stack(frames, dim=1) * 255).round().to(torch.uint8)
