"""Evaluation during training: held-out top-1 and agreement with the victim, logged per epoch."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from vidsteal.eval.evaluate import predict
from vidsteal.eval.metrics import agreement, topk_accuracy
from vidsteal.train.loop import Callback


class HeldOutEval(Callback):
    """Adds ``test_top1`` (and ``agreement`` when victim test logits are given) to the epoch logs.

    The victim's test predictions are computed once by the auditor (they are a measurement, not paid queries).
    """

    def __init__(self, test_set: Dataset, victim_logits: torch.Tensor | None = None, every: int = 1,
                 batch_size: int = 256) -> None:
        self.test_set, self.victim_logits, self.every, self.batch_size = test_set, victim_logits, every, batch_size

    def on_epoch_end(self, epoch: int, model: nn.Module, logs: dict[str, Any]) -> None:
        if (epoch + 1) % self.every:
            return
        logits, labels = predict(model, self.test_set, self.batch_size, device=next(model.parameters()).device.type)
        model.train()
        logs["test_top1"] = topk_accuracy(logits, labels, 1)
        if self.victim_logits is not None:
            logs["agreement"] = agreement(logits, self.victim_logits)
