"""Tiny victims and runs for the black-box tests: a 6-class 4x16x16 benchmark, a random test_c3d victim."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
import torch

from vidsteal.data.synthetic import BenchmarkConfig
from vidsteal.models import create_model, save_model

TINY = BenchmarkConfig(shapes=("square", "triangle"), motions=("right", "left", "cw"), frames=4, size=16)
# Every method at its smallest: tiny prior, few search iterations, one curve point per 100 queries.
FAST: dict[str, dict[str, Any]] = {
    "noise": {"batch": 64},
    "reference": {"batch": 64},
    "dfme": {"batch": 8, "width": 8, "z_dim": 16, "student_queries": 2},
    "embeddings": {"prior": {"generator": "test_dcgan"}, "search": {"max_iters": 4, "directions": 2},
                   "pool": {"batch": 64}},
    "prior": {"prior": {"generator": "test_dcgan"}, "pool": {"batch": 64}},
}


@pytest.fixture(autouse=True)
def _one_thread():
    # Small ops on a shared 2-core machine run tens of times faster on one thread than on two.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def victim_path(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = create_model("test_c3d", num_classes=len(TINY.classes()))
    card = model.card.model_copy(update={"frames": TINY.frames, "size": TINY.size, "dataset": TINY.to_dict(),
                                         "categories": TINY.classes()})
    return save_model(model, tmp_path_factory.mktemp("victim") / "victim.safetensors", card)


@pytest.fixture
def make_job(victim_path) -> Callable[..., Any]:
    from vidsteal.pipeline.blackbox import BlackboxJob

    def make(method: str, budget: int, **attack: Any) -> BlackboxJob:
        cfg = {**FAST[method], "budget": budget, "chunk": 100,
               "distill": {"eval_every": 100, "final_epochs": 0.5, "batch_size": 32}}
        for key, value in attack.items():  # one level of merging is all the tests need
            cfg[key] = {**cfg[key], **value} if isinstance(value, dict) and isinstance(cfg.get(key), dict) else value
        return BlackboxJob(victim=str(victim_path), student="test_frame_cnn", method=method, attack=cfg,
                           test_size=48)

    return make
