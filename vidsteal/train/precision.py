"""Which arithmetic is fast where: bfloat16 pays only on hardware that computes it natively.

On a CPU with AMX or AVX512-BF16 (Sapphire Rapids and later), oneDNN runs bf16 convolutions ~2.5x faster than
float32; on older CPUs it emulates them and runs ~3x *slower*. ``precision="auto"`` therefore means bf16 autocast
on such CPUs and on CUDA devices that support it, float32 elsewhere.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Iterator, Literal

import torch

Precision = Literal["auto", "32", "bf16"]


@functools.cache
def _cpu_has_native_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: no cheap way to tell, stay exact
        return False
    return any(flag in flags.split() for flag in ("amx_bf16", "avx512_bf16"))


def native_bf16(device: torch.device | str) -> bool:
    """Whether bf16 autocast makes ``device`` faster (see the module docstring)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return device.type == "cpu" and torch.backends.mkldnn.is_available() and _cpu_has_native_bf16()


def uses_bf16(precision: Precision, device: torch.device | str) -> bool:
    return precision == "bf16" or (precision == "auto" and native_bf16(device))


@contextlib.contextmanager
def autocast(precision: Precision, device: torch.device | str = "cpu") -> Iterator[None]:
    """bf16 autocast when ``precision`` asks for it (``auto``: where it is native), else nothing."""
    device = torch.device(device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=uses_bf16(precision, device)):
        yield
