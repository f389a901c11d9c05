"""The optimiser and learning-rate schedule every vidsteal student trains with.

:func:`~vidsteal.train.loop.fit` (victims, grey-box fine-tuning, distillation) and the black-box online student
(:class:`~vidsteal.attacks.blackbox.online.OnlineStudent`) build their optimiser and schedule here, and take their
optimiser steps through :meth:`vidsteal.train.distributed.Runtime.train_step` (clipping, loss scaling, the
non-finite loss check), so a change to how students are optimised is made once.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

OptimizerName = Literal["adamw", "sgd"]


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Decay only weight matrices/kernels; norms, biases and embeddings-as-vectors are not decayed."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]


def make_optimizer(model: nn.Module, lr: float, weight_decay: float, kind: OptimizerName = "adamw"
                   ) -> torch.optim.Optimizer:
    """AdamW (or SGD with Nesterov momentum 0.9) over :func:`param_groups`."""
    groups = param_groups(model, weight_decay)
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)
    return torch.optim.AdamW(groups, lr=lr)


def warmup_cosine(step: int, total: int, warmup: int = 0) -> float:
    """Learning-rate factor at ``step`` of ``total``: linear warm-up over ``warmup`` steps, then cosine to 0."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * (1 + math.cos(math.pi * progress))


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr
