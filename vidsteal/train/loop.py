"""A short, resumable training loop shared by victim training, distillation and fine-tuning.

Behaviour that varies (what the loss is, what to log, masks to re-apply after a step) comes in as a loss
function and callbacks, so the loop itself stays the same for every stage. With a ``ckpt_dir`` the loop saves
model, optimiser and scheduler after every epoch (atomically, no pickle of user objects) and resumes from there
when run again; randomness is seeded per epoch, so a resumed run sees the same batches as an uninterrupted one.
How it executes (device, torchrun ranks, mixed precision, accumulation) is a :class:`Runtime`, not a second loop.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import torch
from pydantic import Field
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import Dataset

from vidsteal.config import BaseConfig
from vidsteal.data.clips import random_frames
from vidsteal.train.distributed import LossFn, Runtime

class OptimConfig(BaseConfig):
    """Optimiser and schedule (AdamW + linear warm-up + cosine decay by default)."""

    epochs: int = Field(12, ge=0, description="passes over the training set")
    batch_size: int = Field(64, ge=1)
    lr: float = Field(3e-3, gt=0, description="peak learning rate")
    weight_decay: float = Field(0.05, ge=0)
    optimizer: Literal["adamw", "sgd"] = "adamw"
    warmup_epochs: float = Field(1.0, ge=0, description="linear warm-up length, in epochs")
    grad_clip: float | None = Field(1.0, description="max gradient norm; None disables clipping")
    train_frames: int | None = Field(None, ge=1, description="train on this many random frames of each clip, in "
                                     "order (TSN-style; for per-frame students, ~T/k times cheaper); None: all")


class Callback:
    """Hooks the loop calls; override what you need. All default to doing nothing."""

    def on_step(self, epoch: int, step: int, steps: int, logs: dict[str, float]) -> None: ...

    def after_optimizer_step(self, model: nn.Module) -> None: ...

    def on_epoch_end(self, epoch: int, model: nn.Module, logs: dict[str, Any]) -> None: ...


def supervised_loss(label_smoothing: float = 0.0) -> LossFn:
    def loss(model: nn.Module, clips: torch.Tensor, target: Any) -> dict[str, torch.Tensor]:
        logits = model(clips)
        return {"loss": nn.functional.cross_entropy(logits, target, label_smoothing=label_smoothing),
                "logits": logits}

    return loss


def make_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    """Decay only weight matrices/kernels; norms, biases and embeddings-as-vectors are not decayed."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=True)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def _schedule(cfg: OptimConfig, steps_per_epoch: int) -> Callable[[int], float]:
    total = max(1, cfg.epochs * steps_per_epoch)
    warm = int(cfg.warmup_epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = min(1.0, (step - warm) / max(1, total - warm))
        return 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def _save_checkpoint(ckpt_dir: Path, model: nn.Module, opt: torch.optim.Optimizer, epoch: int, history: list,
                     runtime: Runtime) -> None:
    """Rank 0 writes (every rank holds the same weights), then all ranks wait for the files."""
    if runtime.is_main:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
        save_file(state, str(ckpt_dir / "model.safetensors.tmp"))
        torch.save(opt.state_dict(), ckpt_dir / "optim.pt.tmp")  # tensors + plain containers only
        meta = {"epoch": epoch, "history": history, "scaler": runtime.scaler.state_dict()}
        (ckpt_dir / "state.json.tmp").write_text(json.dumps(meta))
        # state.json is renamed last: it is the commit point of a checkpoint.
        (ckpt_dir / "model.safetensors.tmp").replace(ckpt_dir / "model.safetensors")
        (ckpt_dir / "optim.pt.tmp").replace(ckpt_dir / "optim.pt")
        (ckpt_dir / "state.json.tmp").replace(ckpt_dir / "state.json")
    runtime.barrier()


def _load_checkpoint(ckpt_dir: Path, model: nn.Module, opt: torch.optim.Optimizer, runtime: Runtime
                     ) -> tuple[int, list]:
    state = json.loads((ckpt_dir / "state.json").read_text())
    device = str(runtime.device)
    model.load_state_dict(load_file(str(ckpt_dir / "model.safetensors"), device=device))
    opt.load_state_dict(torch.load(ckpt_dir / "optim.pt", map_location=device, weights_only=True))
    if state.get("scaler"):
        runtime.scaler.load_state_dict(state["scaler"])
    return int(state["epoch"]), list(state["history"])


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
    rt = runtime or Runtime(device, precision="32")
    if len(dataset) == 0:
        raise ValueError("cannot train on an empty dataset")
    net = rt.prepare(model.train())
    if cfg.train_frames is not None:
        loss_fn = _frame_subset(loss_fn, cfg.train_frames)
    steps = math.ceil(len(dataset) / cfg.batch_size)
    opt = make_optimizer(model, cfg)
    factor = _schedule(cfg, steps)
    start, history = 0, []
    ckpt = Path(ckpt_dir) if ckpt_dir is not None else None
    if ckpt is not None and (ckpt / "state.json").exists():
        done, history = _load_checkpoint(ckpt, model, opt, rt)
        start = done + 1
    for epoch in range(start, cfg.epochs):
        # Seeding per epoch (shuffle and dropout alike) makes a resumed run equal to an uninterrupted one.
        torch.manual_seed(rt.seed(seed * 1_000_003 + epoch))
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed * 100003 + epoch))
        total, seen = 0.0, 0
        for step, micro_batches in enumerate(rt.steps(dataset, order, cfg.batch_size)):
            for group in opt.param_groups:
                group["lr"] = cfg.lr * factor(epoch * steps + step)
            loss_sum, count = rt.train_step(net, opt, loss_fn, micro_batches, cfg.grad_clip)
            for cb in callbacks:
                cb.after_optimizer_step(model)
            loss = loss_sum / max(count, 1)
            if not math.isfinite(loss):
                raise FloatingPointError(f"loss became {loss} at epoch {epoch} step {step}; lower the learning rate")
            total, seen = total + loss_sum, seen + count
            for cb in callbacks:
                cb.on_step(epoch, step, steps, {"loss": loss})
        logs: dict[str, Any] = {"epoch": epoch, "loss": rt.global_mean(total, seen)}
        for cb in callbacks:
            cb.on_epoch_end(epoch, model, logs)
        history.append(logs)
        if ckpt is not None:
            _save_checkpoint(ckpt, model, opt, epoch, history, rt)
    return history
