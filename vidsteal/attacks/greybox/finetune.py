"""Grey-box stage 2: fine-tuning on a small labeled fraction of the victim's own domain.

Threat model: besides query access, the attacker holds k% (default 5%) of labeled clips from the victim's training
distribution, stratified by class and fixed by seed. Fine-tuning starts from the stage-1 student. Optionally the
victim is also queried on those clips (one query each, through the same oracle) and the loss mixes the true
labels with the victim's answers: ``(1 - w) * CE(label) + w * KD(answer)``. The same recipe trains every level of
the lottery-ticket search and, from random initialisation, the labeled-only floor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn
from torch.utils.data import Dataset

from vidsteal.attacks.greybox.stage import MeasureFn, run_stage
from vidsteal.config import BaseConfig
from vidsteal.data.embedded import ClipDataset
from vidsteal.distill.losses import kd_loss
from vidsteal.distill.transfer import query_dataset
from vidsteal.train.loop import Callback, LossFn, OptimConfig, fit
from vidsteal.victims.base import Oracle


class FinetuneConfig(BaseConfig):
    """Supervised training on the labeled fraction."""

    victim_answers: bool = Field(False, description="also query the victim on the labeled clips and distil its answers")
    answer_weight: float = Field(0.5, ge=0, le=1, description="weight of the victim-answer KD term (labels get 1 - w)")
    temperature: float = Field(2.0, gt=0, description="KD temperature for the victim-answer term")
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    optim: OptimConfig = Field(default_factory=lambda: OptimConfig(epochs=20, batch_size=32, lr=1e-3))


class AnsweredClips(Dataset):
    """Labeled clips with the victim's answers: items ``(clip, {"label": int, "soft": (K,) target})``."""

    def __init__(self, labeled: ClipDataset, soft: torch.Tensor) -> None:
        if len(labeled) != soft.shape[0]:
            raise ValueError(f"{len(labeled)} clips but {soft.shape[0]} victim answers")
        self.labeled, self.soft = labeled, soft

    def __len__(self) -> int:
        return len(self.labeled)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, Any]]:
        clip, label = self.labeled[i]
        return clip, {"label": label, "soft": self.soft[i]}


def finetune_loss(cfg: FinetuneConfig) -> LossFn:
    def loss(model: nn.Module, clips: torch.Tensor, target: Any) -> dict[str, torch.Tensor]:
        logits = model(clips)
        if not isinstance(target, dict):
            return {"loss": F.cross_entropy(logits, target, label_smoothing=cfg.label_smoothing), "logits": logits}
        ce = F.cross_entropy(logits, target["label"].to(logits.device), label_smoothing=cfg.label_smoothing)
        kd = kd_loss(logits, target["soft"].to(logits.device), cfg.temperature)
        w = cfg.answer_weight
        return {"loss": (1 - w) * ce + w * kd, "ce": ce, "kd": kd, "logits": logits}

    return loss


def labeled_training_set(labeled: ClipDataset, cfg: FinetuneConfig, oracle: Oracle | None = None,
                         on_query: Callable[[int, int], None] | None = None) -> Dataset:
    """The labeled clips as a training set; with ``cfg.victim_answers``, paid victim answers are attached."""
    if not cfg.victim_answers:
        return labeled
    if oracle is None:
        raise ValueError("victim_answers needs an oracle to query")
    transfer, exhausted = query_dataset(oracle, labeled, on_batch=on_query)
    if exhausted:
        raise RuntimeError(f"the query budget ran out on the labeled clips ({len(transfer)} of {len(labeled)} "
                           "answered); raise the budget or turn victim_answers off")
    return AnsweredClips(labeled, transfer.targets)


def make_trainer(dataset: Dataset, cfg: FinetuneConfig, seed: int = 0):
    """A :data:`~vidsteal.attacks.greybox.stage.TrainFn` that runs ``cfg``'s recipe on ``dataset``."""

    def train(model: nn.Module, ckpt_dir: Path, callbacks: Sequence[Callback]) -> list:
        return fit(model, dataset, finetune_loss(cfg), cfg.optim, seed=seed, ckpt_dir=ckpt_dir, callbacks=callbacks)

    return train


def finetune(
    student: nn.Module,
    dataset: Dataset,
    cfg: FinetuneConfig,
    out_dir: Path,
    *,
    measure: MeasureFn,
    seed: int = 0,
    callbacks: Sequence[Callback] = (),
    snapshot_epochs: Sequence[int] = (0,),
) -> dict[str, Any]:
    """Fine-tune ``student`` in place on ``dataset`` (from :func:`labeled_training_set`); resumable, idempotent.

    The folder keeps the start weights and the ``snapshot_epochs`` snapshots, so it can serve as level 0 of the
    lottery-ticket search (rewind points included).
    """
    return run_stage(student, out_dir, make_trainer(dataset, cfg, seed), measure, callbacks=callbacks,
                     snapshot_epochs=snapshot_epochs, extra={"train_clips": len(dataset)})
