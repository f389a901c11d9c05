"""A short, resumable training loop shared by victim training, distillation and fine-tuning.

Behaviour that varies (what the loss is, what to log, masks to re-apply after a step) comes in as a loss
function and callbacks, so the loop itself stays the same for every stage. With a ``ckpt_dir`` the loop saves
model and optimiser after every epoch (:mod:`vidsteal.train.checkpoint`) and resumes from there when run again;
randomness is seeded per epoch, so a resumed run sees the same batches as an uninterrupted one. The optimiser and
schedule come from :mod:`vidsteal.train.optim`; how it executes (device, torchrun ranks, mixed precision,
accumulation, the optimiser step) is a :class:`Runtime`, not a second loop.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from pydantic import Field
from torch import nn
from torch.utils.data import Dataset

from vidsteal.config import BaseConfig
from vidsteal.data.clips import random_frames
from vidsteal.train.checkpoint import load_checkpoint, save_checkpoint
from vidsteal.train.distributed import LossFn, Runtime
from vidsteal.train.optim import OptimizerName, make_optimizer, set_lr, warmup_cosine
from vidsteal.train.precision import Precision

class OptimConfig(BaseConfig):
    """Optimiser and schedule (AdamW + linear warm-up + cosine decay by default)."""

    epochs: int = Field(12, ge=0, description="passes over the training set")
    batch_size: int = Field(64, ge=1)
    lr: float = Field(3e-3, gt=0, description="peak learning rate")
    weight_decay: float = Field(0.05, ge=0)
    optimizer: OptimizerName = "adamw"
    warmup_epochs: float = Field(1.0, ge=0, description="linear warm-up length, in epochs")
    grad_clip: float | None = Field(1.0, description="max gradient norm; None disables clipping")
    train_frames: int | None = Field(None, ge=1, description="train on this many random frames of each clip, in "
                                     "order (TSN-style; for per-frame students, ~T/k times cheaper); None: all")
    precision: Precision = Field("32", description="arithmetic when no runtime is given: auto = bf16 autocast where "
                                 "the CPU computes it natively (~1.6-2x faster training there), else float32")


class Callback:
    """Hooks the loop calls; override what you need. All default to doing nothing."""

    def on_step(self, epoch: int, step: int, steps: int, logs: dict[str, float]) -> None: ...

    def after_optimizer_step(self, model: nn.Module) -> None: ...

    def on_epoch_end(self, epoch: int, model: nn.Module, logs: dict[str, Any]) -> None: ...


class EpochProgress(Callback):
    """Reports finished epochs to a progress callable ``(label, done, total)`` (an attack's or a worker's)."""

    def __init__(self, progress: Callable[[str, int, int | None], None], label: str, epochs: int) -> None:
        self.progress, self.label, self.epochs = progress, label, epochs
        progress(label, 0, epochs)

    def on_epoch_end(self, epoch: int, model: nn.Module, logs: dict[str, Any]) -> None:
        self.progress(self.label, epoch + 1, self.epochs)


def supervised_loss(label_smoothing: float = 0.0) -> LossFn:
    def loss(model: nn.Module, clips: torch.Tensor, target: Any) -> dict[str, torch.Tensor]:
        logits = model(clips)
        return {"loss": nn.functional.cross_entropy(logits, target, label_smoothing=label_smoothing),
                "logits": logits}

    return loss


def _frame_subset(loss_fn: LossFn, frames: int) -> LossFn:
    """``loss_fn`` on ``frames`` random frames of the batch (the torch RNG is seeded per epoch: resumable)."""
    def loss(model: nn.Module, clips: torch.Tensor, target: Any) -> dict[str, torch.Tensor]:
        return loss_fn(model, random_frames(clips, frames), target)

    return loss


def fit(
    model: nn.Module,
    dataset: Dataset,
    loss_fn: LossFn,
    cfg: OptimConfig,
    *,
    seed: int = 0,
    ckpt_dir: str | Path | None = None,
    callbacks: Sequence[Callback] = (),
    device: str = "cpu",
    runtime: Runtime | None = None,
) -> list[dict[str, Any]]:
    """Train ``model`` in place on ``(uint8 clip, target)`` items; returns per-epoch logs.

    Args:
        loss_fn: ``(model, float clips (B,C,T,H,W), target batch) -> {"loss": per-sample mean, ...}``; it must call
            ``model(clips)`` (under torchrun that is the DDP wrapper, whose forward synchronises gradients).
        cfg: ``batch_size`` is the global batch of one optimiser step, however many processes share it.
        ckpt_dir: where to checkpoint each epoch and resume from; None trains without checkpoints.
        device: used when no ``runtime`` is given (single process, float32).
        runtime: device, torchrun ranks, mixed precision and gradient accumulation (:mod:`vidsteal.train.distributed`).
    """
    rt = runtime or Runtime(device, precision=cfg.precision)
    if len(dataset) == 0:
        raise ValueError("cannot train on an empty dataset")
    net = rt.prepare(model.train())
    if cfg.train_frames is not None:
        loss_fn = _frame_subset(loss_fn, cfg.train_frames)
    steps = math.ceil(len(dataset) / cfg.batch_size)
    opt = make_optimizer(model, cfg.lr, cfg.weight_decay, cfg.optimizer)
    total_steps, warmup = max(1, cfg.epochs * steps), int(cfg.warmup_epochs * steps)
    start, history = 0, []
    restored = load_checkpoint(ckpt_dir, model, opt, rt) if ckpt_dir is not None else None
    if restored is not None:
        start, history = int(restored[0]["epoch"]) + 1, list(restored[0]["history"])
    for epoch in range(start, cfg.epochs):
        # Seeding per epoch (shuffle and dropout alike) makes a resumed run equal to an uninterrupted one.
        torch.manual_seed(rt.seed(seed * 1_000_003 + epoch))
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed * 100003 + epoch))
        total, seen = 0.0, 0
        for step, micro_batches in enumerate(rt.steps(dataset, order, cfg.batch_size)):
            set_lr(opt, cfg.lr * warmup_cosine(epoch * steps + step, total_steps, warmup))
            loss_sum, count = rt.train_step(net, opt, loss_fn, micro_batches, cfg.grad_clip,
                                            at=f"epoch {epoch} step {step}")
            for cb in callbacks:
                cb.after_optimizer_step(model)
            total, seen = total + loss_sum, seen + count
            for cb in callbacks:
                cb.on_step(epoch, step, steps, {"loss": loss_sum / max(count, 1)})
        logs: dict[str, Any] = {"epoch": epoch, "loss": rt.global_mean(total, seen)}
        for cb in callbacks:
            cb.on_epoch_end(epoch, model, logs)
        history.append(logs)
        if ckpt_dir is not None:
            save_checkpoint(ckpt_dir, epoch, model, opt, {"epoch": epoch, "history": history}, rt)
    return history
