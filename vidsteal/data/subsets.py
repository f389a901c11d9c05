"""Labeled subsets: the attacker's k% of victim-domain data, stratified by class and fixed by seed.

:func:`labeled_subset` is the one entry point for every dataset kind (embedded clips, video folders, Kinetics /
MiT lists); :func:`make_labeled_subset` is the index rule it applies.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch.utils.data import Subset


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


def labeled_subset(dataset: Any, fraction: float, seed: int = 0) -> Any:
    """The labeled ``fraction`` of ``dataset``, class-stratified (at least one per class) and fixed by seed.

    A dataset of videos cut into clips (``video_labels`` and ``clips_of``: folders, Kinetics / MiT) is drawn by
    *video* and comes back as a ``Subset`` of all their clips; an in-memory ``ClipDataset`` comes back as a smaller
    ``ClipDataset``.
    """
    if hasattr(dataset, "video_labels"):
        return Subset(dataset, dataset.clips_of(make_labeled_subset(dataset.video_labels, fraction, seed)))
    return dataset.subset(torch.tensor(make_labeled_subset(dataset.labels, fraction, seed), dtype=torch.long))
