"""Accuracy and fidelity metrics on logits or probabilities; pure functions, tested on known inputs."""

from __future__ import annotations

import torch


def topk_accuracy(scores: torch.Tensor, labels: torch.Tensor, k: int = 1) -> float:
    """Fraction of rows whose label is among the ``k`` highest scores (k is capped at the class count)."""
    if scores.shape[0] == 0:
        raise ValueError("no predictions to score")
    k = min(k, scores.shape[1])
    top = scores.topk(k, dim=1).indices
    return (top == labels.view(-1, 1)).any(dim=1).float().mean().item()


def agreement(scores_a: torch.Tensor, scores_b: torch.Tensor) -> float:
    """Fidelity: fraction of clips on which two models predict the same top-1 class."""
    if scores_a.shape[0] != scores_b.shape[0]:
        raise ValueError(f"{scores_a.shape[0]} vs {scores_b.shape[0]} predictions")
    return (scores_a.argmax(1) == scores_b.argmax(1)).float().mean().item()


def per_class_accuracy(scores: torch.Tensor, labels: torch.Tensor, num_classes: int) -> list[float | None]:
    """Top-1 accuracy per class (None for classes absent from ``labels``)."""
    pred = scores.argmax(1)
    out: list[float | None] = []
    for c in range(num_classes):
        sel = labels == c
        out.append((pred[sel] == c).float().mean().item() if sel.any() else None)
    return out


def factor_accuracy(scores: torch.Tensor, labels: torch.Tensor, class_factor: torch.Tensor) -> float:
    """Accuracy on one factor of the classes (e.g. the shape of ``triangle_cw``): the predicted class counts as
    right when it shares the true class's value of that factor. ``class_factor`` maps class -> factor value."""
    if scores.shape[0] == 0:
        raise ValueError("no predictions to score")
    if class_factor.shape[0] != scores.shape[1]:
        raise ValueError(f"class_factor covers {class_factor.shape[0]} classes, scores have {scores.shape[1]}")
    return (class_factor[scores.argmax(1)] == class_factor[labels]).float().mean().item()
