"""Shared fixtures: tiny benchmark configs so tests exercise real code paths in seconds on the CPU."""

from __future__ import annotations

import pytest
import torch

from vidsteal.data.synthetic import BenchmarkConfig


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    torch.set_num_threads(2)


@pytest.fixture
def tiny_bench() -> BenchmarkConfig:
    return BenchmarkConfig(shapes=("square", "triangle"), motions=("right", "left", "cw"), frames=4, size=16)
