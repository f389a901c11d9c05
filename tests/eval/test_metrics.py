import pytest
import torch

from vidsteal.eval.metrics import agreement, factor_accuracy, per_class_accuracy, topk_accuracy


def test_topk_on_known_inputs():
    scores = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.4, 0.35, 0.25]])
    labels = torch.tensor([1, 1, 0, 2])
    assert topk_accuracy(scores, labels, 1) == pytest.approx(0.25)
    assert topk_accuracy(scores, labels, 2) == pytest.approx(0.5)
    assert topk_accuracy(scores, labels, 5) == pytest.approx(1.0)  # k capped at class count


def test_agreement_and_per_class():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    b = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4]])
    assert agreement(a, b) == pytest.approx(2 / 3)
    assert per_class_accuracy(a, torch.tensor([0, 1, 1]), 3) == [1.0, 0.5, None]
    with pytest.raises(ValueError):
        agreement(a, b[:2])


def test_factor_accuracy_counts_a_shared_factor_as_right():
    # 4 classes = 2 shapes x 2 motions: class = shape * 2 + motion
    shape, motion = torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 0, 1])
    scores = torch.eye(4)[torch.tensor([1, 2, 3, 3])]  # predicted classes 1, 2, 3, 3
    labels = torch.tensor([0, 0, 3, 2])
    assert factor_accuracy(scores, labels, shape) == pytest.approx(3 / 4)  # right shape on clips 0, 2 and 3
    assert factor_accuracy(scores, labels, motion) == pytest.approx(2 / 4)  # right motion on clips 1 and 2
    assert topk_accuracy(scores, labels, 1) == pytest.approx(1 / 4)
    with pytest.raises(ValueError, match="covers 3 classes"):
        factor_accuracy(scores, labels, shape[:3])
