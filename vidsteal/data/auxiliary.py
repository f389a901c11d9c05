"""The irrelevant auxiliary set: unlabeled clips of another family (the embedded stand-in for Moments in Time).

No polygons and none of the benchmark's motion classes: drifting sinusoidal gratings, Gaussian blobs on random
walks, expanding or fading rings, global colour flicker and scrolling noise textures. The attacker may query the
victim on these, but they carry no victim labels and little overlap with its classes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

FAMILIES = ("grating", "blobs", "ring", "flicker", "texture")


def _grid(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    pix = torch.arange(size, dtype=torch.float32) + 0.5
    return torch.meshgrid(pix, pix, indexing="ij")


def _grating(n: int, t_len: int, size: int, g: torch.Generator) -> torch.Tensor:
    py, px = _grid(size)
    freq = (0.15 + 0.5 * torch.rand(n, generator=g)).view(n, 1, 1)
    ang = (torch.rand(n, generator=g) * math.pi).view(n, 1, 1)
    speed = ((torch.rand(n, generator=g) - 0.5) * 1.2).view(n, 1, 1)
    c1, c2 = torch.rand(n, 3, 1, 1, generator=g), torch.rand(n, 3, 1, 1, generator=g)
    proj = px * ang.cos() + py * ang.sin()
    out = []
    for t in range(t_len):
        wave = (torch.sin(freq * proj + speed * t * 2) * 0.5 + 0.5).unsqueeze(1)
        out.append(c1 * wave + c2 * (1 - wave))
    return torch.stack(out, 1)


def _blobs(n: int, t_len: int, size: int, g: torch.Generator) -> torch.Tensor:
    py, px = _grid(size)
    k = 3
    pos = torch.rand(n, k, 2, generator=g) * size
    r = size * (0.08 + 0.12 * torch.rand(n, k, 1, 1, generator=g))
    col = torch.rand(n, k, 3, generator=g)
    bg = torch.rand(n, 3, 1, 1, generator=g).expand(n, 3, size, size)
    out = []
    for _ in range(t_len):
        pos = pos + torch.randn(n, k, 2, generator=g) * size * 0.04
        d2 = (px - pos[..., 0, None, None]) ** 2 + (py - pos[..., 1, None, None]) ** 2
        a = torch.exp(-d2 / r**2)  # (n, k, H, W)
        frame = bg.clone()
        for j in range(k):
            aj = a[:, j : j + 1]
            frame = frame * (1 - aj) + col[:, j, :, None, None] * aj
        out.append(frame)
    return torch.stack(out, 1)


def _ring(n: int, t_len: int, size: int, g: torch.Generator) -> torch.Tensor:
    py, px = _grid(size)
    c = size * (0.3 + 0.4 * torch.rand(n, 2, generator=g))
    r0 = size * (0.1 + 0.2 * torch.rand(n, generator=g))
    grow = size * (torch.rand(n, generator=g) - 0.5) * 0.06
    col, bg = torch.rand(n, 3, 1, 1, generator=g), torch.rand(n, 3, 1, 1, generator=g)
    dist = ((px - c[:, 0, None, None]) ** 2 + (py - c[:, 1, None, None]) ** 2).sqrt()
    out = []
    for t in range(t_len):
        rad = (r0 + grow * t).view(n, 1, 1)
        a = torch.exp(-((dist - rad) ** 2) / 2.0).unsqueeze(1)
        out.append(bg * (1 - a) + col * a)
    return torch.stack(out, 1)


def _flicker(n: int, t_len: int, size: int, g: torch.Generator) -> torch.Tensor:
    c1, c2 = torch.rand(n, 3, 1, 1, generator=g), torch.rand(n, 3, 1, 1, generator=g)
    rate = 0.3 + 1.5 * torch.rand(n, 1, 1, 1, generator=g)
    out = [c1 + (c2 - c1) * (0.5 + 0.5 * torch.sin(rate * t)) for t in range(t_len)]
    return torch.stack([o.expand(n, 3, size, size) for o in out], 1)


def _texture(n: int, t_len: int, size: int, g: torch.Generator) -> torch.Tensor:
    big = torch.rand(n, 3, size // 4 * 2, size // 4 * 2, generator=g)
    tex = F.interpolate(big, size=(2 * size, 2 * size), mode="bicubic", align_corners=False).clamp(0, 1)
    step = (torch.rand(n, 2, generator=g) - 0.5) * 4
    rows, chans = torch.arange(n).view(n, 1, 1, 1), torch.arange(3).view(1, 3, 1, 1)
    span = torch.arange(size)
    out = []
    for t in range(t_len):
        ox = (size // 2 + step[:, 0] * t).long() % size
        oy = (size // 2 + step[:, 1] * t).long() % size
        ys = (oy.view(n, 1) + span).view(n, 1, size, 1)
        xs = (ox.view(n, 1) + span).view(n, 1, 1, size)
        out.append(tex[rows, chans, ys, xs])
    return torch.stack(out, 1)


_MAKERS = {"grating": _grating, "blobs": _blobs, "ring": _ring, "flicker": _flicker, "texture": _texture}


def render_auxiliary(
    family_idx: torch.Tensor, frames: int, size: int, g: torch.Generator, noise: float = 0.03
) -> torch.Tensor:
    """Render one clip per family index; returns uint8 ``(N, T, C, H, W)``."""
    n = family_idx.numel()
    clips = torch.empty(n, frames, 3, size, size)
    for f_i, name in enumerate(FAMILIES):
        sel = (family_idx == f_i).nonzero().flatten()
        if sel.numel():
            clips[sel] = _MAKERS[name](sel.numel(), frames, size, g)
    clips = clips + noise * torch.randn(clips.shape, generator=g)
    return (clips.clamp(0, 1) * 255).round().to(torch.uint8)
