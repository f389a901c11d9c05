"""A student distilled from victim answers: its recipe, its loss for :func:`~vidsteal.train.loop.fit`, its measure.

Students train with the one training stack (:mod:`vidsteal.train`): on a transfer set with ``fit`` and
:func:`distill_loss_fn`, or online during a black-box attack
(:class:`~vidsteal.attacks.blackbox.online.OnlineStudent`).
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn
from torch.utils.data import Dataset

from vidsteal.config import BaseConfig
from vidsteal.distill.losses import LossName, distill_loss
from vidsteal.eval.evaluate import predict
from vidsteal.eval.metrics import agreement, factor_accuracy, topk_accuracy
from vidsteal.train.loop import LossFn, OptimConfig


class DistillConfig(BaseConfig):
    """How a student learns from victim answers."""

    loss: LossName | None = Field(None, description="kd | l1_logits | ce; None picks from the output mode")
    temperature: float = Field(2.0, gt=0, description="KD temperature (kd loss only)")
    optim: OptimConfig = Field(default_factory=lambda: OptimConfig(epochs=15))


def distill_loss_fn(loss: LossName, temperature: float) -> LossFn:
    def fn(model: nn.Module, clips: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = model(clips)
        return {"loss": distill_loss(logits, targets, loss, temperature), "logits": logits}

    return fn


def measure(student: nn.Module, test_set: Dataset, victim_logits: torch.Tensor | None,
            logit_shift: torch.Tensor | None = None) -> dict[str, float]:
    """Held-out top-1/top-5 of the student, its agreement with the victim's test predictions and, when the test
    set's classes are factored (the embedded benchmark: shape x motion), the accuracy on each factor. Runs where
    the student's weights are. ``logit_shift`` (K,) is added to its logits first: the student as it would be with
    that shift in its last bias (:mod:`vidsteal.distill.label_shift`)."""
    weight = next(student.parameters(), None)
    logits, labels = predict(student, test_set, device="cpu" if weight is None else str(weight.device))
    if logit_shift is not None:
        logits = logits.float() + logit_shift.to(logits.device)
    return measure_logits(logits, labels, test_set, victim_logits)


def measure_logits(logits: torch.Tensor, labels: torch.Tensor, test_set: Dataset,
                   victim_logits: torch.Tensor | None) -> dict[str, float]:
    """What :func:`measure` reports, from a student's logits on ``test_set`` already computed (``labels`` its)."""
    out = {"top1": topk_accuracy(logits, labels, 1), "top5": topk_accuracy(logits, labels, 5)}
    factors = getattr(test_set, "factors", None) or getattr(getattr(test_set, "dataset", None), "factors", None)
    for name, class_factor in (factors or {}).items():
        out[f"{name}_acc"] = factor_accuracy(logits, labels, class_factor)
    if victim_logits is not None:
        out["agreement"] = agreement(logits, victim_logits)
        out["victim_top1"] = topk_accuracy(victim_logits, labels, 1)
    return out
