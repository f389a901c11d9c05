"""Labeled subsets: the attacker's k% of victim-domain data, stratified by class and fixed by seed."""

from __future__ import annotations

from typing import Sequence

import torch


def make_labeled_subset(labels: Sequence[int] | torch.Tensor, fraction: float, seed: int) -> list[int]:
    """Indices of a class-stratified random ``fraction`` of ``labels`` (at least one per class), sorted.

    The same labels, fraction and seed give the same subset. Negative labels (unlabeled) are never chosen.
    With several clips per video, pass ``dataset.video_labels`` and expand with ``dataset.clips_of``.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    labels = torch.as_tensor(labels, dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    chosen: list[int] = []
    for c in torch.unique(labels[labels >= 0]).tolist():
        members = torch.nonzero(labels == c).flatten()
        count = max(1, round(fraction * len(members)))
        chosen += members[torch.randperm(len(members), generator=generator)[:count]].tolist()
    return sorted(chosen)
