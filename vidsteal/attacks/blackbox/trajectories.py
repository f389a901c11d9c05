"""Images -> clips with motion: latent paths over time plus spatial warps.

Video victims decide on motion as well as on appearance (some classes differ only by the direction of a motion,
as Kinetics' "pushing" vs "pulling"), and no class-conditional video GAN exists to sample from. So a clip is
built from generated keyframes and a small motion vector per clip:

- ``vx, vy``: translation per frame (fraction of the frame), ``rot``: rotation per frame (radians),
  ``zoom``: log-scale change per frame, ``path``: how far along the latent path the last frame is
  (frames blend the two keyframes ``G(z0)``, ``G(z1)`` linearly: the latent path sampled at its ends).
- ``layout="frame"`` (default): the whole image moves (camera motion, reflection at the borders), blending along
  the path; with a dead-leaves prior the image is a scene of occluding objects.
  ``layout="sprite"``: the first keyframe, cut out by a soft mask, moves over the second, which stays still
  (an object moving in a scene: the most generic structure of an action clip). The mask is a disc, or
  (``sprite_mask="prior"``) the silhouette of the keyframe's bright or dark regions inside that disc, so the
  object's outline varies with the latent and can be searched like everything else.

Motion parameters come unbounded (they are searched) and are squashed by ``tanh`` to physical ranges.
``static=True`` is the ablation: every frame equals the first. ``one_kind=True`` gives each clip one kind of
motion, as most footage has one at a time (a still camera, a pan, a roll or a zoom: one of the four, uniformly, per
clip): the motion vector's other coordinates are zeroed (the latent path stays).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from vidsteal.config import BaseConfig

MOTION_DIMS = 5  # vx, vy, rot, zoom, path
# one_kind: which coordinates move in each kind of clip (still, pan, roll, zoom); the latent path always does
KIND_MASKS = torch.tensor([[0.0, 0, 0, 0, 1], [1, 1, 0, 0, 1], [0, 0, 1, 0, 1], [0, 0, 0, 1, 1]])


class MotionConfig(BaseConfig):
    """How keyframes become clips."""

    static: bool = Field(False, description="ablation: repeat the first frame (no motion, no latent path)")
    # The frame layout was chosen on the benchmark v2 val split (c3d_small -> frame_cnn, 5,000 queries, seed 0): with
    # the eye DCGAN 18.0% vs 11.2% for sprites over a blurred background; smooth-noise keyframes 13.6 vs 12.6%.
    layout: Literal["frame", "sprite"] = Field("frame", description="move the whole frame, or a sprite over a "
                                                                    "background")
    # Limits of a slow camera, as in most natural footage: on the benchmark v2 val split (5,000 queries, 3 seeds)
    # c3d_small -> frame_cnn 25.6% vs 20.3% with the earlier 0.08 / 0.5 / 0.12 (27.5% with no motion at all);
    # c3d_small -> c3d_student 20.6 vs 20.8% (seed 0), so the 3D student lost nothing to the slower motion.
    max_shift: float = Field(0.04, gt=0, description="largest translation per frame, as a fraction of the frame")
    max_rot: float = Field(0.1, gt=0, description="largest rotation per frame, radians")
    max_zoom: float = Field(0.04, gt=0, description="largest log-scale change per frame")
    sprite_scale: float = Field(0.5, gt=0, le=1, description="sprite diameter as a fraction of the frame")
    background_blur: int = Field(8, ge=0, description="sprite layout: the background is low-passed to this many "
                                                        "pixels across (0 keeps it sharp), so the object stands out")
    # The disc is the default because, on the benchmark v1 c3d victim, 4000 queries of disc sprites made the victim
    # answer 18 classes (3.8 bits of top-1 entropy) against 13 (3.3 bits) for prior silhouettes. That choice queried
    # a v1 victim outside any reported budget; no v2 victim (nor a user's) was queried to set any default here.
    sprite_mask: Literal["disc", "prior"] = Field("disc", description="sprite outline: a disc, or the keyframe's "
                                                                      "own bright/dark regions within it")
    jitter: float = Field(0.3, ge=0, description="per-clip random spread of the motion (std, in raw units)")
    # Off: on the benchmark v2 val split (10k, E = 3) c3d_small -> frame_cnn 35.6 / 39.8 / 36.4 = 37.3% vs 41.0%
    # (seeds 0-2), c3d_small -> c3d_student 34.8 vs 36.2% (seed 0): motion-pair clips gain (8.0 -> 12.7%, seed 0),
    # appearance clips lose more (56.0 -> 45.4%).
    one_kind: bool = Field(False, description="each clip still, panning, rolling or zooming (one kind, drawn per "
                                              "clip), instead of all four motions at once")


def motion_kinds(n: int, cfg: MotionConfig, g: torch.Generator) -> torch.Tensor | None:
    """Per clip, the index of its kind of motion in ``KIND_MASKS`` (``one_kind``), else None (every kind at once).
    A float tensor, so it is batched and sliced like the other per-clip noise."""
    return torch.randint(0, len(KIND_MASKS), (n,), generator=g).float() if cfg.one_kind else None


def squash(raw: torch.Tensor, cfg: MotionConfig) -> torch.Tensor:
    """Unbounded ``(N, 5)`` motion parameters -> physical units (see module docstring)."""
    limits = torch.tensor([cfg.max_shift * 2, cfg.max_shift * 2, cfg.max_rot, cfg.max_zoom, 1.0])
    out = torch.tanh(raw) * limits.to(raw)
    return torch.cat([out[:, :4], (out[:, 4:] + 1) / 2], dim=1)  # path in [0, 1]


def _affine(motion: torch.Tensor, t: float, scale0: float, centre: torch.Tensor | None = None) -> torch.Tensor:
    """(N, 2, 3) matrices mapping output coords to source coords at time offset ``t`` (inverse warp)."""
    shift, rot, zoom = motion[:, :2] * t, motion[:, 2] * t, motion[:, 3] * t
    if centre is not None:
        shift = shift + centre
    scale = scale0 * torch.exp(zoom)
    cos, sin = torch.cos(rot), torch.sin(rot)
    inv = torch.stack([torch.stack([cos, sin], 1), torch.stack([-sin, cos], 1)], 1) / scale.view(-1, 1, 1)
    offset = -(inv @ shift.unsqueeze(2))
    return torch.cat([inv, offset], dim=2)


def _disc(size: int, device: torch.device) -> torch.Tensor:
    coords = torch.linspace(-1, 1, size, device=device)
    r = torch.sqrt(coords.view(1, -1) ** 2 + coords.view(-1, 1) ** 2)
    return torch.sigmoid((0.85 - r) * 12).view(1, 1, size, size)


def make_clips(key0: torch.Tensor, key1: torch.Tensor | None, motion: torch.Tensor, frames: int, size: int,
               cfg: MotionConfig, centre: torch.Tensor | None = None,
               polarity: torch.Tensor | None = None, kind: torch.Tensor | None = None) -> torch.Tensor:
    """Render clips ``(N, 3, T, size, size)`` in ``[0, 1]``; differentiable in images and motion.

    Args:
        key0, key1: keyframes ``(N, 3, h, w)`` in ``[0, 1]`` at any resolution (resized to ``size``); ``key1``
            is the path's end (frame layout) or the background (sprite layout); None means ``key0`` for both.
        motion: ``(N, 5)`` raw motion parameters (see :func:`squash`).
        centre: ``(N, 2)`` sprite position at the middle frame, in ``[-1, 1]`` coords; in the frame layout half of
            it offsets the camera.
        polarity: ``(N,)`` +1 / -1: the prior mask keeps the bright / dark regions (default +1); in the frame
            layout -1 mirrors the view.
        kind: ``(N,)`` index into ``KIND_MASKS`` per clip (see :func:`motion_kinds`); None moves every coordinate.
    """
    key0 = resize(key0, size)
    key1 = key0 if key1 is None else resize(key1, size)
    if cfg.layout == "sprite" and cfg.background_blur:
        small = resize(key1, min(cfg.background_blur, size))
        key1 = F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)
    mask = _mask(key0, cfg, polarity)
    if cfg.static:
        frame = (_camera_frame(key0, None, 0.0, centre, polarity) if cfg.layout == "frame"
                 else _sprite_frame(key0, mask, key1, None, 0.0, cfg, centre))
        return frame.unsqueeze(2).expand(-1, -1, frames, -1, -1).contiguous()
    m = squash(motion, cfg)
    if kind is not None:
        m = m * KIND_MASKS.to(m)[kind.view(-1).long()]
    out = []
    for i in range(frames):
        t = i - (frames - 1) / 2
        if cfg.layout == "frame":
            alpha = (m[:, 4] * i / max(frames - 1, 1)).view(-1, 1, 1, 1)
            out.append(_camera_frame(key0 * (1 - alpha) + key1 * alpha, m, t, centre, polarity))
        else:
            out.append(_sprite_frame(key0, mask, key1, m, t, cfg, centre))
    return torch.stack(out, dim=2).clamp(0, 1)


def _camera_frame(image: torch.Tensor, m: torch.Tensor | None, t: float, centre: torch.Tensor | None,
                  polarity: torch.Tensor | None) -> torch.Tensor:
    """The frame layout at time ``t``: the camera looks at ``centre`` (a per-clip offset) and moves by ``m``; a
    polarity of -1 mirrors the view. Clips that share their keyframes thus still differ, even when static."""
    theta = _affine(_or_still(m, image), t, 1.0, None if centre is None else centre * 0.5)
    if polarity is not None:
        theta = theta * torch.stack([polarity, torch.ones_like(polarity)], 1).view(-1, 2, 1).to(theta)
    grid = F.affine_grid(theta, list(image.shape), align_corners=False)
    return F.grid_sample(image, grid, padding_mode="reflection", align_corners=False)


def _or_still(m: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """Squashed motion ``m``, or no motion at all (the static frame) for each of ``like``'s images."""
    return m if m is not None else torch.zeros(like.shape[0], MOTION_DIMS, device=like.device, dtype=like.dtype)


def _mask(image: torch.Tensor, cfg: MotionConfig, polarity: torch.Tensor | None) -> torch.Tensor:
    """Sprite alpha ``(N, 1, H, W)``: the disc, times the image's bright (or dark) regions for the prior mask."""
    disc = _disc(image.shape[-1], image.device).to(image.dtype).expand(image.shape[0], 1, -1, -1)
    if cfg.sprite_mask == "disc":
        return disc
    lum = image.mean(1, keepdim=True)
    z = (lum - lum.mean((2, 3), keepdim=True)) / lum.std((2, 3), keepdim=True).clamp(min=1e-3)
    sign = torch.ones(image.shape[0], 1, 1, 1) if polarity is None else polarity.view(-1, 1, 1, 1).to(image)
    return disc * torch.sigmoid(4 * sign * z)


def _sprite_frame(fg: torch.Tensor, mask: torch.Tensor, bg: torch.Tensor, m: torch.Tensor | None, t: float,
                  cfg: MotionConfig, centre: torch.Tensor | None) -> torch.Tensor:
    rgba = torch.cat([fg, mask], dim=1)
    grid = F.affine_grid(_affine(_or_still(m, fg), t, cfg.sprite_scale, centre), list(rgba.shape),
                         align_corners=False)
    warped = F.grid_sample(rgba, grid, padding_mode="zeros", align_corners=False)
    alpha = warped[:, 3:]
    return warped[:, :3] * alpha + bg * (1 - alpha)


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Images ``(N, C, h, w)`` -> ``(N, C, size, size)``, antialiased; unchanged when already that size."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def frame_difference(clips: torch.Tensor) -> torch.Tensor:
    """Mean absolute change between consecutive frames, per clip: 0 for static clips."""
    return (clips[:, :, 1:] - clips[:, :, :-1]).abs().flatten(1).mean(1)

