"""Drawing primitives both benchmark renderers share: signed-distance shapes and contrasting colours."""

from __future__ import annotations

import math

import torch


def sdf(shape: str, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Approximate signed distance (negative inside) of a unit-size shape in local coordinates."""
    ax, ay = x.abs(), y.abs()
    if shape == "square":
        return torch.maximum(ax, ay) - 0.8
    if shape == "triangle":
        s3 = math.sqrt(3.0)
        return torch.maximum(torch.maximum(-y - 0.5, (s3 * x + y) / 2 - 0.5), (-s3 * x + y) / 2 - 0.5) * 1.6
    if shape == "cross":
        return torch.minimum(torch.maximum(ax - 0.3, ay - 1.0), torch.maximum(ax - 1.0, ay - 0.3))
    if shape == "ell":
        bar = torch.maximum((x + 0.6).abs() - 0.35, ay - 1.0)
        foot = torch.maximum(ax - 0.95, (y - 0.65).abs() - 0.35)
        return torch.minimum(bar, foot)
    if shape == "ring":
        return ((x * x + y * y).sqrt() - 0.65).abs() - 0.3
    # Shapes no benchmark class has, for the auxiliary set (objects of the same world, other categories).
    if shape == "disk":
        return (x * x + y * y).sqrt() - 0.85
    if shape == "diamond":
        return (ax + ay - 1.0) * 0.7
    if shape == "bar":
        return torch.maximum(ax - 1.0, ay - 0.35)
    raise ValueError(f"unknown shape {shape!r}")


def contrasting(base: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random colours at least 0.35 away (L-inf) from ``base``, so objects never vanish into the background."""
    colour = torch.rand(base.shape, generator=g)
    close = (colour - base).abs().amax(dim=1) < 0.35
    colour[close] = (base[close] + 0.5) % 1.0
    return colour
