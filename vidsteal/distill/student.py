"""Train a student on a transfer set with the loss the victim's output mode allows, then measure it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Sequence

import torch
from pydantic import Field
from torch import nn
from torch.utils.data import Dataset

from vidsteal.config import BaseConfig
from vidsteal.distill.losses import LossName, distill_loss
from vidsteal.distill.transfer import TransferSet
from vidsteal.eval.evaluate import predict
from vidsteal.eval.metrics import agreement, factor_accuracy, topk_accuracy
from vidsteal.train.loop import Callback, LossFn, OptimConfig, fit


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


def measure(student: nn.Module, test_set: Dataset, victim_logits: torch.Tensor | None) -> dict[str, float]:
    """Held-out top-1/top-5 of the student, its agreement with the victim's test predictions and, when the test
    set's classes are factored (the embedded benchmark: shape x motion), the accuracy on each factor."""
    logits, labels = predict(student, test_set)
    out = {"top1": topk_accuracy(logits, labels, 1), "top5": topk_accuracy(logits, labels, 5)}
    factors = getattr(test_set, "factors", None) or getattr(getattr(test_set, "dataset", None), "factors", None)
    for name, class_factor in (factors or {}).items():
        out[f"{name}_acc"] = factor_accuracy(logits, labels, class_factor)
    if victim_logits is not None:
        out["agreement"] = agreement(logits, victim_logits)
        out["victim_top1"] = topk_accuracy(victim_logits, labels, 1)
    return out


def distill(
    student: nn.Module,
    transfer: TransferSet,
    cfg: DistillConfig,
    loss: LossName,
    *,
    test_set: Dataset | None = None,
    victim_logits: torch.Tensor | None = None,
    ckpt_dir: str | Path | None = None,
    callbacks: Sequence[Callback] = (),
    seed: int = 0,
) -> dict[str, Any]:
    """Fit ``student`` on ``transfer``; returns the training history and, with a test set, held-out metrics."""
    start = time.perf_counter()
    history = fit(student, transfer, distill_loss_fn(cfg.loss or loss, cfg.temperature), cfg.optim, seed=seed,
                  ckpt_dir=ckpt_dir, callbacks=callbacks)
    result: dict[str, Any] = {"history": history, "train_clips": len(transfer),
                              "train_seconds": time.perf_counter() - start}
    if test_set is not None:
        result.update(measure(student, test_set, victim_logits))
    if ckpt_dir is not None:
        Path(ckpt_dir, "result.json").write_text(json.dumps(result, indent=2))
    return result
