"""The query ledger's shard files: paid clips in stored form with their answers, each written whole or not at all.

A shard is a safetensors file (``clips``, ``labels``, optional ``probs``, and string metadata): any tool reads it,
and loading it never runs code. :func:`atomic_save` writes it to a ``.tmp`` file, fsyncs it, renames it into
place and fsyncs the folder, so after a kill or power loss the final name holds either nothing or the whole
shard.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from vidsteal.data.clips import to_model_input, to_uint8_clips
from vidsteal.runs import fsync_path

CLIP_FORMATS = ("uint8", "float32")


def to_stored(clips: torch.Tensor, clip_format: str) -> torch.Tensor:
    """Float model input -> the form the ledger hashes and keeps (uint8 ``(B, T, C, H, W)`` or float32 as is)."""
    if clip_format == "uint8":
        return to_uint8_clips(clips)
    return clips.detach().to(device="cpu", dtype=torch.float32, copy=True).contiguous()


def from_stored(stored: torch.Tensor, clip_format: str) -> torch.Tensor:
    """Stored clips -> the float model input ``(B, C, T, H, W)`` the victim saw."""
    return to_model_input(stored) if clip_format == "uint8" else stored


def atomic_save(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    """Write a safetensors file so that ``path`` either does not exist or is complete, even across power loss."""
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    fsync_path(tmp)
    os.replace(tmp, path)
    fsync_path(path.parent)


def shard_meta(path: Path) -> dict[str, str]:
    """The string metadata of a shard file, without loading its tensors."""
    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})
