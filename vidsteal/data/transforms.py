"""Clip sampling and spatial transforms on uint8 ``(T, C, H, W)`` clips, bundled in a typed :class:`ClipTransform`.

Temporal sampling returns frame *indices* rather than frames, so the decoder converts only the frames a clip
uses. Spatial ops are torchvision's v2 functionals, which treat the leading T as a batch dimension.
"""

from __future__ import annotations

from typing import Literal

import torch
import torchvision.transforms.v2.functional as F
from pydantic import Field, model_validator

from vidsteal.config import BaseConfig

Position = Literal["random", "center"]
Pad = Literal["loop", "repeat_last"]


def temporal_indices(
    num_available: int,
    num_frames: int,
    stride: int = 1,
    position: Position = "center",
    pad: Pad = "loop",
    clip_index: int = 0,
    num_clips: int = 1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Frame indices of one clip of ``num_frames`` frames taken every ``stride`` frames.

    The span of start positions is cut into ``num_clips`` equal segments and clip ``clip_index`` starts in its
    own segment: at the segment centre (``center``, evenly spaced test views) or anywhere in it (``random``).
    Videos shorter than the clip span are padded by looping from the start or repeating the last frame.

    Args:
        num_available: frames in the decoded video (or window).
        num_frames: frames per clip.
        stride: gap between sampled frames, in frames.
        position: where the clip sits in its segment.
        pad: how to fill a clip that runs past the last frame.
        clip_index: which of the ``num_clips`` clips of this video.
        num_clips: clips drawn from the same video.
        generator: random source for ``random``; torch's global generator (seeded per DataLoader worker) if None.
    """
    if num_available < 1:
        raise ValueError(f"cannot sample a clip from a video with {num_available} frames")
    if num_frames < 1 or stride < 1:
        raise ValueError(f"num_frames and stride must be >= 1, got {num_frames} and {stride}")
    if not 0 <= clip_index < num_clips:
        raise ValueError(f"clip_index must lie in [0, {num_clips}), got {clip_index}")
    span = (num_frames - 1) * stride + 1
    starts = max(num_available - span, 0) + 1  # number of valid start frames
    low = clip_index * starts // num_clips
    high = max((clip_index + 1) * starts // num_clips, low + 1)  # more clips than starts: segments share a start
    if position == "center":
        start = (low + high - 1) // 2
    elif position == "random":
        start = int(torch.randint(low, high, (1,), generator=generator))
    else:
        raise ValueError(f"position must be 'random' or 'center', got {position!r}")
    indices = start + torch.arange(num_frames) * stride
    if pad == "loop":
        return indices % num_available
    if pad == "repeat_last":
        return indices.clamp_(max=num_available - 1)
    raise ValueError(f"pad must be 'loop' or 'repeat_last', got {pad!r}")


def resize_short_side(clip: torch.Tensor, size: int) -> torch.Tensor:
    """Resize so the shorter side is ``size`` pixels, keeping the aspect ratio (antialiased bilinear)."""
    if min(clip.shape[-2:]) == size:
        return clip
    return F.resize(clip, [size], antialias=True)


def crop(clip: torch.Tensor, size: int, mode: Position = "center", generator: torch.Generator | None = None
         ) -> torch.Tensor:
    """Square ``size`` crop at the centre or a random place; a clip smaller than ``size`` is zero-padded (centred)."""
    height, width = clip.shape[-2:]
    if mode == "center" or height < size or width < size:
        return F.center_crop(clip, [size, size])
    if mode != "random":
        raise ValueError(f"crop mode must be 'random' or 'center', got {mode!r}")
    top = int(torch.randint(0, height - size + 1, (1,), generator=generator))
    left = int(torch.randint(0, width - size + 1, (1,), generator=generator))
    return F.crop(clip, top, left, size, size)


def random_shift(clips: torch.Tensor, fraction: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Translate every clip of a ``(N, T, C, H, W)`` batch by its own random offset of up to ``fraction`` of the frame
    (the same offset for all its frames, so motion is kept; edge pixels fill the border, as replicate padding).

    Student-side augmentation of paid clips: the victim's answer on the unshifted clip stays the target, no query
    is spent. Works on any dtype (it gathers pixels; nothing is interpolated)."""
    if fraction <= 0:
        return clips
    n, _, _, height, width = clips.shape
    dy, dx = (torch.randint(-round(fraction * size), round(fraction * size) + 1, (n, 1), generator=generator)
              for size in (height, width))
    rows = (torch.arange(height) + dy).clamp_(0, height - 1)  # (N, H)
    cols = (torch.arange(width) + dx).clamp_(0, width - 1)  # (N, W)
    # advanced indices split by slices go first: (N, H, W, T, C)
    out = clips[torch.arange(n)[:, None, None], :, :, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 4, 1, 2).contiguous()


class ClipTransform(BaseConfig):
    """How a dataset turns a decoded video into one fixed-size uint8 clip: sample frames, resize, crop, flip."""

    num_frames: int = Field(16, ge=1, description="frames per clip (1 for images)")
    stride: int = Field(1, ge=1, description="take every stride-th frame")
    position: Position = Field("center", description="clip start within its segment: random (train) or center (eval)")
    pad: Pad = Field("loop", description="fill for videos shorter than the clip span: loop or repeat_last")
    resize: int | None = Field(128, ge=1, description="short side after resizing; None keeps the decoded size")
    crop: int | None = Field(112, ge=1, description="square crop size; None skips cropping")
    crop_mode: Position = Field("center", description="random (train) or center (eval) crop")
    hflip: bool = Field(False, description="flip the whole clip horizontally with probability 0.5")

    @model_validator(mode="after")
    def _crop_fits(self) -> "ClipTransform":
        if self.resize is not None and self.crop is not None and self.crop > self.resize:
            raise ValueError(f"crop ({self.crop}) larger than the resized short side ({self.resize}) would pad")
        return self

    def indices(self, num_available: int, clip_index: int = 0, num_clips: int = 1, generator=None) -> torch.Tensor:
        """Frame indices for clip ``clip_index`` of ``num_clips`` from a video of ``num_available`` frames."""
        return temporal_indices(num_available, self.num_frames, self.stride, self.position, self.pad,
                                clip_index, num_clips, generator)

    def spatial(self, clip: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Resize, crop and maybe flip an already sampled uint8 ``(T, C, H, W)`` clip."""
        if self.resize is not None:
            clip = resize_short_side(clip, self.resize)
        if self.crop is not None:
            clip = crop(clip, self.crop, self.crop_mode, generator)
        if self.hflip and bool(torch.rand((), generator=generator) < 0.5):
            clip = F.horizontal_flip(clip)
        return clip.contiguous()

    def __call__(self, frames: torch.Tensor, clip_index: int = 0, num_clips: int = 1, generator=None) -> torch.Tensor:
        """Sample and transform one clip from all decoded frames ``(N, C, H, W)``."""
        return self.spatial(frames[self.indices(frames.shape[0], clip_index, num_clips, generator)], generator)
