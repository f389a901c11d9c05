"""Shared fixtures for the victim tests: a tiny seeded victim and seeded random clips.

Helpers are handed out as factory fixtures rather than imported, because test folders have no
``__init__.py`` and a ``from conftest import`` would be ambiguous across folders.
"""

from __future__ import annotations

from typing import Callable

import pytest
import torch

from vidsteal.models import create_model
from vidsteal.victims import LocalOracle, OutputMode

SHAPE = (3, 4, 16, 16)  # (C, T, H, W): tiny clips keep every test on CPU in milliseconds


@pytest.fixture
def make_clips() -> Callable[[int, int], torch.Tensor]:
    def make(n: int, seed: int) -> torch.Tensor:
        return torch.rand((n, *SHAPE), generator=torch.Generator().manual_seed(seed))

    return make


@pytest.fixture
def make_victim() -> Callable[..., LocalOracle]:
    def make(output_mode: OutputMode | None = None, num_classes: int = 5) -> LocalOracle:
        torch.manual_seed(0)
        return LocalOracle(create_model("test_c3d", num_classes=num_classes), output_mode)

    return make


@pytest.fixture
def victim(make_victim) -> LocalOracle:
    return make_victim()
