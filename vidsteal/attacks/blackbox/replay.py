"""The replay buffer: every clip the attack has paid for, with the victim's answer as a soft target.

Paid answers are the scarcest thing in black-box extraction, so none is used once and thrown away (as DFME does
with its generator's samples): the student keeps revisiting all of them. Clips are held as uint8
``(N, T, C, H, W)`` (what the victim saw after 8-bit quantisation; 24 KB per 8x32x32 clip), grown by doubling.

Synthetic clips are answered very unevenly (on the embedded c3d victim, 4,000 embedding clips: 1,052 top-1
``triangle_zoom_in``, 0 for four classes), and a student trained on them uniformly learns that imbalance.
``sample(balance=b)`` draws each clip with weight ``count(its victim top-1)^-b``: 0 is uniform, 1 gives every answered
class the same share of the student's steps (no queries involved).
"""

from __future__ import annotations

import torch

from vidsteal.data.clips import frame_subset, to_uint8_clips


class ReplayBuffer:
    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self._clips: torch.Tensor | None = None
        self._targets = torch.zeros(0, num_classes)
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, clips: torch.Tensor, targets: torch.Tensor) -> None:
        """Append float clips ``(B, C, T, H, W)`` in [0, 1] with target distributions ``(B, K)``."""
        if clips.shape[0] != targets.shape[0]:
            raise ValueError(f"{clips.shape[0]} clips but {targets.shape[0]} targets")
        if clips.shape[0] == 0:
            return
        stored = to_uint8_clips(clips)
        if self._clips is None:
            self._clips = torch.empty(max(256, stored.shape[0]), *stored.shape[1:], dtype=torch.uint8)
            self._targets = torch.empty(self._clips.shape[0], self.num_classes)
        need = self.size + stored.shape[0]
        if need > self._clips.shape[0]:
            cap = max(need, 2 * self._clips.shape[0])
            self._clips = torch.cat([self._clips, torch.empty(cap - self._clips.shape[0], *stored.shape[1:],
                                                              dtype=torch.uint8)])
            self._targets = torch.cat([self._targets, torch.empty(cap - self._targets.shape[0], self.num_classes)])
        self._clips[self.size:need] = stored
        self._targets[self.size:need] = targets.float()
        self.size = need

    def sample(self, n: int, generator: torch.Generator, balance: float = 0.0,
               frames: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` stored uint8 clips ``(n, T, C, H, W)`` and their targets, drawn with replacement: uniformly, or
        class-balanced by the victim's top-1 with ``balance`` > 0 (see the module docstring). With ``frames``, only
        that many random frames of every clip (the same ones for the batch, in time order, drawn after the clips:
        :func:`~vidsteal.data.clips.random_frames` of the whole clips), gathered without copying the rest."""
        if self.size == 0:
            raise ValueError("the replay buffer is empty")
        index = self._draw(n, generator, balance)
        if frames is not None and frames < self.clips.shape[1]:
            return self.clips[index[:, None], frame_subset(self.clips.shape[1], frames, generator)], self.targets[index]
        return self.clips[index], self.targets[index]

    def _draw(self, n: int, generator: torch.Generator, balance: float) -> torch.Tensor:
        if balance > 0:
            top1 = self.targets.argmax(1)
            counts = torch.bincount(top1, minlength=self.num_classes).float()
            weights = counts.pow(-balance)[top1]  # every class indexed here occurs, so no count is 0
            return torch.multinomial(weights, n, replacement=True, generator=generator)
        return torch.randint(0, self.size, (n,), generator=generator)

    @property
    def clips(self) -> torch.Tensor:
        return torch.zeros(0, dtype=torch.uint8) if self._clips is None else self._clips[: self.size]

    @property
    def targets(self) -> torch.Tensor:
        return self._targets[: self.size]

    @property
    def top1_counts(self) -> torch.Tensor:
        """How often each class is the victim's top-1 among the buffered answers."""
        return torch.bincount(self.targets.argmax(1), minlength=self.num_classes).float()


def transfer_stats(targets: torch.Tensor) -> dict[str, float]:
    """What the victim said about the paid clips, independent of any student: how many classes appear as top-1
    (in at least 1% of the clips), the entropy of the top-1 histogram in bits (log2 K = every class equally
    often) and the victim's mean top-1 confidence. A transfer set that covers few classes cannot teach the rest."""
    if targets.shape[0] == 0:
        return {"classes_covered": 0.0, "top1_entropy_bits": 0.0, "mean_confidence": 0.0}
    top = targets.argmax(1)
    hist = torch.bincount(top, minlength=targets.shape[1]).float() / top.numel()
    nz = hist[hist > 0]
    return {"classes_covered": float((hist >= 0.01).sum()), "top1_entropy_bits": float(-(nz * nz.log2()).sum()),
            "mean_confidence": float(targets.max(1).values.mean())}
