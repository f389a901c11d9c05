import pytest
import torch
from torch import nn
from torch.utils.data import Subset

from vidsteal.data.embedded import make_split
from vidsteal.distill.student import measure


class AlwaysClassZero(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(clips.shape[0], self.num_classes)
        logits[:, 0] = 1.0
        return logits


def test_measure_splits_accuracy_into_shape_and_motion(tiny_bench):
    test = make_split(tiny_bench, "test", 60)  # 6 classes = 2 shapes x 3 motions, balanced
    out = measure(AlwaysClassZero(6), test, None)
    assert out["top1"] == pytest.approx(1 / 6)
    assert out["shape_acc"] == pytest.approx(1 / 2)   # class 0 = square_right: right shape on every square clip
    assert out["motion_acc"] == pytest.approx(1 / 3)  # right motion on every *_right clip
    sub = measure(AlwaysClassZero(6), Subset(test, range(30)), None)  # a Subset of the split keeps the factors
    labels = test.labels[:30]
    assert sub["shape_acc"] == pytest.approx((labels // 3 == 0).float().mean().item())


def test_measure_without_factors_reports_only_top_k(tiny_bench):
    test = make_split(tiny_bench, "test", 12)
    test.factors = None
    assert set(measure(AlwaysClassZero(6), test, None)) == {"top1", "top5"}
