"""Per-class elite archive: the individual clips the victim scored highest for each class, kept to be mutated.

Black-Box Ripper (Barbalau et al., NeurIPS 2020) steals a black-box classifier by evolving generator latents per
class until the victim is confident, then distilling on them. The class-embedding search moves one Gaussian per
class and draws fresh keyframe latents for every clip, so its fitness is an average over appearances and a class's
mean confidence stays low (0 of 20 classes reach 0.9 on the embedded benchmark). The archive keeps *individuals*
instead: an embedding row and its two keyframe latents, i.e. one appearance. Every clip the attack pays for (search
and pool) is offered to every class's archive with the victim's score for that class, so one answer informs all
classes, as in the shared-ES search; pool ``elite`` samples are Gaussian mutations of archive members, and their
answers flow back, so each class's archive keeps climbing over the whole budget at no extra query.
"""

from __future__ import annotations

import torch


class EliteArchive:
    """``size`` members per class: score ``(K, M)`` (``-inf`` where empty), embedding rows ``(K, M, D)`` and
    keyframe latents ``z0, z1 (K, M, Z)``."""

    def __init__(self, num_classes: int, size: int, dim: int, z_dim: int) -> None:
        self.score = torch.full((num_classes, size), float("-inf"))
        self.theta = torch.zeros(num_classes, size, dim)
        self.z0 = torch.zeros(num_classes, size, z_dim)
        self.z1 = torch.zeros(num_classes, size, z_dim)

    def offer(self, theta: torch.Tensor, z0: torch.Tensor, z1: torch.Tensor, scores: torch.Tensor) -> None:
        """Insert the paid clips ``(N, ...)`` with the victim's ``scores (N, K)`` (its confidence per class) where
        they beat a class's weakest member. Clips that share an individual (same embedding and latents, other
        motion jitter) count once, at their best score, so a block of them cannot fill an archive alone."""
        if theta.shape[0] == 0:
            return
        rows = torch.cat([theta, z0, z1], 1)
        unique, inverse = torch.unique(rows, dim=0, return_inverse=True)
        best = torch.full((unique.shape[0], scores.shape[1]), float("-inf"), dtype=scores.dtype)
        best = best.scatter_reduce(0, inverse.view(-1, 1).expand_as(scores), scores, "amax")
        k, m = self.score.shape
        d, z = self.theta.shape[2], self.z0.shape[2]
        everyone = torch.cat([self.score, best.T.to(self.score.dtype)], 1)  # (K, M + U)
        keep = everyone.topk(m, dim=1).indices  # (K, M)
        own = keep < m  # a current member of that class
        table = torch.cat([torch.cat([self.theta, self.z0, self.z1], 2).view(k * m, -1), unique], 0)
        index = torch.where(own, keep + torch.arange(k).view(-1, 1) * m, k * m + keep - m)
        chosen = table[index.flatten()].view(k, m, -1)
        self.score = everyone.gather(1, keep)
        self.theta, self.z0, self.z1 = chosen.split([d, z, z], dim=2)

    def sample(self, classes: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One filled member per entry of ``classes`` (uniform over that class's members): rows, z0, z1. A class
        with no member yet (nothing offered: a run without search, on its first pool step) gets zeros."""
        filled = torch.isfinite(self.score[classes]).float() + 1e-12  # an empty row samples slot 0 (all zeros)
        slot = torch.multinomial(filled, 1, generator=g).squeeze(1)
        return self.theta[classes, slot], self.z0[classes, slot], self.z1[classes, slot]

    def report(self) -> dict[str, float]:
        """Mean over classes of the best and of the median member's victim score (what the pool mutates)."""
        score = self.score.clamp(min=0)
        return {"best": round(float(score[:, 0].mean()), 4),
                "median": round(float(score.median(dim=1).values.mean()), 4)}

    def tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        return {f"{prefix}.score": self.score, f"{prefix}.theta": self.theta, f"{prefix}.z0": self.z0,
                f"{prefix}.z1": self.z1}

    def load(self, tensors: dict[str, torch.Tensor], prefix: str) -> None:
        self.score, self.theta = tensors[f"{prefix}.score"], tensors[f"{prefix}.theta"]
        self.z0, self.z1 = tensors[f"{prefix}.z0"], tensors[f"{prefix}.z1"]
