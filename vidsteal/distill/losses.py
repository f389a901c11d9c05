"""Distillation targets and losses for every output mode a victim may expose.

All answers become a target distribution over the victim's classes, so one loss serves every mode:

- ``probs`` / ``rounded``: the (renormalised) probabilities.
- ``topk_probs``: the k revealed probabilities, the hidden mass spread evenly over the other classes.
- ``topk_labels``: ranked labels only; rank r gets weight 2^-r (an explicit, documented prior, not a score).
- ``label``: one-hot (the loss reduces to cross-entropy).

``kd`` is Hinton et al.'s KL at temperature T, scaled by T^2; ``l1_logits`` is DFME's L1 between mean-centred
log-probabilities and student logits (Truong et al. 2021), usable when scores are revealed.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from vidsteal.victims.outputs import Answers, OutputKind

LossName = Literal["kd", "l1_logits", "ce"]


def soft_targets(answers: Answers, num_classes: int) -> torch.Tensor:
    """(N, num_classes) target distributions from any answer mode (see module docstring)."""
    n = len(answers)
    kind = answers.mode.kind
    if kind in (OutputKind.probs, OutputKind.rounded):
        probs = answers.probs.clamp(min=0)  # type: ignore[union-attr]
        total = probs.sum(1, keepdim=True)
        # Rounding can zero every entry of a flat answer: fall back to the top-1 label.
        onehot = F.one_hot(answers.top1, num_classes).float()
        return torch.where(total > 0, probs / total.clamp(min=1e-12), onehot)
    if kind == OutputKind.topk_probs:
        probs = answers.probs.clamp(min=0)  # type: ignore[union-attr]
        hidden = num_classes - answers.labels.shape[1]
        rest = (1 - probs.sum(1, keepdim=True)).clamp(min=0) / max(hidden, 1)
        mask = torch.zeros(n, num_classes).scatter_(1, answers.labels, 1.0)
        target = probs + rest * (1 - mask)
        return target / target.sum(1, keepdim=True)
    k = answers.labels.shape[1]
    weights = 0.5 ** torch.arange(k, dtype=torch.float32)
    target = torch.zeros(n, num_classes).scatter_(1, answers.labels, weights.expand(n, k))
    return target / target.sum(1, keepdim=True)


def kd_loss(logits: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """KL(targets_T || softmax(logits / T)) * T^2, with targets re-tempered as p^(1/T) (renormalised)."""
    if temperature != 1.0:
        targets = torch.softmax(torch.log(targets.clamp(min=1e-8)) / temperature, dim=1)
    log_student = F.log_softmax(logits / temperature, dim=1)
    return F.kl_div(log_student, targets, reduction="batchmean") * temperature**2


def l1_logits_loss(logits: torch.Tensor, targets: torch.Tensor, per_clip: bool = False) -> torch.Tensor:
    """DFME's loss: L1 between mean-centred victim log-probabilities and mean-centred student logits; the mean over
    the batch, or with ``per_clip`` one value per clip (DFME's disagreement, which its generator ascends)."""
    log_t = torch.log(targets.clamp(min=1e-8))
    log_t = log_t - log_t.mean(1, keepdim=True)
    distance = (logits - logits.mean(1, keepdim=True) - log_t).abs()
    return distance.mean(1) if per_clip else distance.mean()


def distill_loss(logits: torch.Tensor, targets: torch.Tensor, loss: LossName = "kd", temperature: float = 1.0) -> torch.Tensor:
    if loss == "kd":
        return kd_loss(logits, targets, temperature)
    if loss == "l1_logits":
        return l1_logits_loss(logits, targets)
    if loss == "ce":
        return F.cross_entropy(logits, targets.argmax(1))
    raise ValueError(f"unknown distillation loss {loss!r}")


def default_loss(answers_kind: OutputKind) -> LossName:
    """KD when the victim reveals any ranking information, plain cross-entropy for top-1 labels."""
    return "ce" if answers_kind == OutputKind.label else "kd"
