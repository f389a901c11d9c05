"""What a victim reveals per query: full probabilities, top-k, labels only, or rounded probabilities.

The same post-processing runs in-process and in the server, so truncation is identical on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch
from pydantic import Field

from vidsteal.config import BaseConfig


class OutputKind(str, Enum):
    probs = "probs"  # full probability vector
    topk_probs = "topk_probs"  # the k largest probabilities; the rest are hidden (reported as 0)
    topk_labels = "topk_labels"  # the k most likely class indices, no scores
    label = "label"  # top-1 class index only
    rounded = "rounded"  # full vector rounded to `decimals` places


class OutputMode(BaseConfig):
    kind: OutputKind = Field(OutputKind.probs, description="what each answer reveals")
    k: int = Field(5, ge=1, description="k for topk_probs / topk_labels")
    decimals: int = Field(2, ge=0, le=8, description="decimal places for rounded")

    @property
    def has_scores(self) -> bool:
        """True when answers carry probabilities (soft-label distillation is possible)."""
        return self.kind in (OutputKind.probs, OutputKind.topk_probs, OutputKind.rounded)


@dataclass
class Answers:
    """A batch of victim answers, one row per queried clip.

    Attributes:
        labels: (N, k) long tensor of class indices, most likely first (k = 1 for ``label`` mode).
        probs: (N, num_classes) float tensor, or None when the mode reveals no scores. Hidden entries are 0.
        mode: the output mode that produced them.
    """

    labels: torch.Tensor
    probs: torch.Tensor | None
    mode: OutputMode

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def top1(self) -> torch.Tensor:
        return self.labels[:, 0]

    def __getitem__(self, index: slice | torch.Tensor) -> "Answers":
        return Answers(self.labels[index], None if self.probs is None else self.probs[index], self.mode)

    @staticmethod
    def cat(parts: list["Answers"]) -> "Answers":
        if not parts:
            raise ValueError("cannot concatenate zero answer batches")
        probs = None if parts[0].probs is None else torch.cat([p.probs for p in parts])  # type: ignore[misc]
        return Answers(torch.cat([p.labels for p in parts]), probs, parts[0].mode)


def apply_output_mode(probs: torch.Tensor, mode: OutputMode) -> Answers:
    """Reduce full ``(N, K)`` probabilities to what ``mode`` reveals."""
    probs = probs.detach().float()
    k = 1 if mode.kind == OutputKind.label else min(mode.k, probs.shape[1])
    order = probs.argsort(dim=1, descending=True, stable=True)
    labels = order[:, :k].contiguous()
    if mode.kind == OutputKind.probs:
        return Answers(labels, probs, mode)
    if mode.kind == OutputKind.rounded:
        return Answers(labels, torch.round(probs, decimals=mode.decimals), mode)
    if mode.kind == OutputKind.topk_probs:
        kept = torch.zeros_like(probs).scatter_(1, labels, probs.gather(1, labels))
        return Answers(labels, kept, mode)
    return Answers(labels, None, mode)
