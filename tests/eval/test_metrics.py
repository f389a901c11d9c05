import pytest
import torch

from vidsteal.eval.metrics import agreement, per_class_accuracy, topk_accuracy


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
