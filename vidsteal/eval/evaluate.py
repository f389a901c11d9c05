"""Evaluate a model (and optionally its agreement with a second one) on a held-out labeled split."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from vidsteal.data.clips import to_model_input
from vidsteal.eval.metrics import agreement, per_class_accuracy, topk_accuracy


@torch.no_grad()
def predict(model: nn.Module, dataset: Dataset, batch_size: int = 128, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``(N, K)`` and labels ``(N,)`` for every clip of ``dataset``, in order."""
    was_training = model.training
    model.eval().to(device)
    logits, labels = [], []
    for clips, y in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        logits.append(model(to_model_input(clips).to(device)).float().cpu())
        labels.append(torch.as_tensor(y))
    model.train(was_training)
    return torch.cat(logits), torch.cat(labels)


def evaluate(
    model: nn.Module,
    dataset: Dataset,
    reference: nn.Module | None = None,
    batch_size: int = 128,
    device: str = "cpu",
) -> dict[str, Any]:
    """Top-1 / top-5 on ``dataset``; with ``reference`` (e.g. the victim) also its top-1 and the agreement."""
    logits, labels = predict(model, dataset, batch_size, device)
    num_classes = logits.shape[1]
    out: dict[str, Any] = {
        "n": int(labels.numel()),
        "top1": topk_accuracy(logits, labels, 1),
        "top5": topk_accuracy(logits, labels, 5),
        "per_class_top1": per_class_accuracy(logits, labels, num_classes),
    }
    if reference is not None:
        ref_logits, _ = predict(reference, dataset, batch_size, device)
        out["reference_top1"] = topk_accuracy(ref_logits, labels, 1)
        out["agreement"] = agreement(logits, ref_logits)
    return out
