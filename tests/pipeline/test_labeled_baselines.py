"""The labeled-baselines scores: motion-class top-1 and the per-frame / 3D ratio."""

import pytest
import torch
from torch import nn

from vidsteal.data.embedded import make_split, motion_classes
from vidsteal.data.synthetic import BenchmarkConfig
from vidsteal.pipeline.baselines import _ratios, _scores

TINY = BenchmarkConfig(appearance_classes=4, motion_pairs=("lateral",), frames=4, size=16)  # classes 4, 5: a pair


class Always(nn.Module):
    def __init__(self, cls: int) -> None:
        super().__init__()
        self.cls = cls

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return nn.functional.one_hot(torch.full((clips.shape[0],), self.cls), 6).float()


def test_scores_split_top1_by_motion_classes():
    test = make_split(TINY, "test", 60)
    always_right = _scores(Always(4), test, motion_classes(TINY))  # class 4: the pair's "right" member
    assert always_right["top1"] == pytest.approx(1 / 6)
    assert always_right["motion_class_top1"] == pytest.approx(1 / 2)
    assert always_right["appearance_acc"] == pytest.approx(2 / 6)  # the pair shares a look
    assert always_right["motion_acc"] == pytest.approx(1 / 6) and not always_right["per_frame"]
    assert _scores(Always(0), test, motion_classes(TINY))["motion_class_top1"] == 0.0


def test_ratio_is_per_frame_over_3d_student():
    rows = [{"role": "victim", "per_frame": False, "top1": 0.99, "motion_class_top1": 0.97},
            {"role": "student", "per_frame": True, "top1": 0.72, "motion_class_top1": 0.45},
            {"role": "student", "per_frame": False, "top1": 0.9, "motion_class_top1": 0.9}]
    assert _ratios(rows) == pytest.approx({"top1": 0.8, "motion_class_top1": 0.5})
    assert _ratios(rows[:2]) == {}


def test_the_victim_row_is_the_demo_victim():
    """Same SupervisedConfig, so labeled-baselines finds the demo's cached victim instead of training another."""
    from vidsteal.pipeline.baselines import BaselinesConfig
    from vidsteal.pipeline.study import demo_victim
    from vidsteal.train.supervised import SupervisedConfig

    cfg = BaselinesConfig()
    row = SupervisedConfig(arch="c3d_small", benchmark=cfg.benchmark, train_size=cfg.train_size,
                           test_size=cfg.test_size, optim=cfg.optim, seed=cfg.seed)
    assert row.hash() == demo_victim("c3d_small").hash()
