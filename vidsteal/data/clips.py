"""The clip contract every part of vidsteal shares.

Storage and datasets hold clips as uint8 ``(T, C, H, W)`` (torchvision's ``output_format="TCHW"``); a batch of
them is ``(B, T, C, H, W)``. Models, victims and oracles take float clips ``(B, C, T, H, W)`` in ``[0, 1]`` and
normalise their own input. Images are clips with ``T = 1``.
"""

from __future__ import annotations

import torch


class ClipError(ValueError):
    """A clip or batch that breaks the contract; the message says what was expected and what arrived."""


def to_model_input(clips: torch.Tensor) -> torch.Tensor:
    """uint8 ``(B, T, C, H, W)`` (or one ``(T, C, H, W)`` clip) -> float ``(B, C, T, H, W)`` in ``[0, 1]``."""
    if clips.ndim == 4:
        clips = clips.unsqueeze(0)
    if clips.ndim != 5:
        raise ClipError(f"expected clips of shape (B, T, C, H, W), got {tuple(clips.shape)}")
    if clips.dtype != torch.uint8:
        raise ClipError(f"expected uint8 clips, got {clips.dtype}")
    return clips.permute(0, 2, 1, 3, 4).float().div_(255.0)


def to_uint8_clips(batch: torch.Tensor) -> torch.Tensor:
    """float ``(B, C, T, H, W)`` in ``[0, 1]`` -> uint8 ``(B, T, C, H, W)`` (inverse of :func:`to_model_input`)."""
    check_model_input(batch)
    return batch.detach().clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 1, 3, 4).contiguous()


def random_frames(clips: torch.Tensor, frames: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``frames`` random frames of every ``(B, C, T, H, W)`` clip, kept in time order (the same frames for the whole
    batch; TSN-style training of per-frame students). Clips with at most ``frames`` frames are returned whole."""
    if frames >= clips.shape[2]:
        return clips
    return clips[:, :, frame_subset(clips.shape[2], frames, generator)]


def frame_subset(total: int, frames: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``frames`` distinct random frame indices out of ``total``, in time order (what :func:`random_frames` keeps)."""
    return torch.randperm(total, generator=generator)[:frames].sort().values


def check_model_input(batch: torch.Tensor, channels: int | None = 3) -> None:
    """Raise :class:`ClipError` unless ``batch`` is a finite float ``(B, C, T, H, W)`` tensor in ``[0, 1]``."""
    if not isinstance(batch, torch.Tensor):
        raise ClipError(f"expected a torch.Tensor, got {type(batch).__name__}")
    if batch.ndim != 5:
        raise ClipError(f"expected a float batch of shape (B, C, T, H, W), got {tuple(batch.shape)}")
    if not batch.is_floating_point():
        raise ClipError(f"expected a float batch in [0, 1], got {batch.dtype}")
    if channels is not None and batch.shape[1] != channels:
        raise ClipError(f"expected {channels} channels in dim 1 (B, C, T, H, W), got shape {tuple(batch.shape)}")
    if not batch.numel():
        return
    # One pass over the clips (every paid query is checked on its way to the victim): min and max propagate NaN
    # and an Inf lies outside [0, 1], so a batch that passes holds finite values only.
    low, high = torch.aminmax(batch)
    if bool(low >= 0) and bool(high <= 1):
        return
    if not torch.isfinite(batch).all():
        raise ClipError("batch holds NaN or Inf values")
    raise ClipError(f"values must lie in [0, 1], got [{low.item():.3g}, {high.item():.3g}]")
