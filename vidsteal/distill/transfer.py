"""Transfer sets: clips paid for once, with the victim's answers as targets, reusable without re-querying.

``query_dataset`` sends a dataset's clips through an oracle (normally a
:class:`~vidsteal.victims.logged.LoggedOracle`, so every answer is durable and a re-run is free) and returns a
:class:`TransferSet`. When the budget runs out mid-way, the clips already answered are kept.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.utils.data import DataLoader, Dataset

from vidsteal.data.clips import to_model_input
from vidsteal.distill.losses import soft_targets
from vidsteal.victims.base import Oracle
from vidsteal.victims.budget import BudgetExceeded
from vidsteal.victims.outputs import Answers


class TransferSet(Dataset):
    """uint8 clips ``(N, T, C, H, W)`` with target distributions ``(N, K)``; items are ``(clip, target)``."""

    def __init__(self, clips: torch.Tensor, targets: torch.Tensor) -> None:
        if clips.shape[0] != targets.shape[0]:
            raise ValueError(f"{clips.shape[0]} clips but {targets.shape[0]} targets")
        self.clips, self.targets = clips, targets.float()

    def __len__(self) -> int:
        return self.clips.shape[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.clips[i], self.targets[i]

    @staticmethod
    def cat(parts: list["TransferSet"]) -> "TransferSet":
        return TransferSet(torch.cat([p.clips for p in parts]), torch.cat([p.targets for p in parts]))


def query_dataset(
    oracle: Oracle,
    dataset: Dataset,
    batch_size: int = 128,
    on_batch: Callable[[int, int], None] | None = None,
) -> tuple[TransferSet, bool]:
    """Ask ``oracle`` about every clip of ``dataset`` (its labels are ignored).

    Returns the transfer set and whether the budget ran out before the end (``True`` = cut short).
    ``on_batch(done, total)`` reports progress.
    """
    clips_out, answers_out, exhausted = [], [], False
    total = len(dataset)  # type: ignore[arg-type]
    done = 0
    for clips, _ in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        try:
            answers = oracle.query(to_model_input(clips))
        except BudgetExceeded as err:
            if err.answers is not None:
                clips_out.append(clips[: err.answered])
                answers_out.append(err.answers)
            exhausted = True
            break
        clips_out.append(clips)
        answers_out.append(answers)
        done += clips.shape[0]
        if on_batch:
            on_batch(done, total)
    if not clips_out:
        empty = torch.zeros(0, oracle.num_classes)
        return TransferSet(torch.zeros(0, *dataset[0][0].shape, dtype=torch.uint8), empty), exhausted
    targets = soft_targets(Answers.cat(answers_out), oracle.num_classes)
    return TransferSet(torch.cat(clips_out), targets), exhausted
