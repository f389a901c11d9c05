"""Student-guided pool clips: the student, a free differentiable surrogate of the victim, steers each candidate.

Before the pool pays for a batch, every candidate block (one embedding row and its keyframe latents, shared by
``prior.clips_per_image`` clips) takes ``pool.guide_steps`` Adam steps through the differentiable renderer on the
student's cross-entropy against the class the block was aimed at. No query is spent: only the student is
evaluated, as in the query selection. The student learns from the victim's soft answers, so its score for a class
the victim rarely puts first still carries the victim's probability mass there, and ascending it moves the
candidates toward clips the victim is likelier to file under that class (the rare selection then picks among
them). Steps act on the embedding rows and, with ``pool.guide_latents``, on the blocks' keyframe latents too (a
much larger space: the prior's whole image code). Steps move the prior's inputs, not pixels, so the clips stay
images the prior can draw; that is meant to keep them from becoming adversarial noise that fools only the student,
and the victim's answers are what say whether it did (val: more classes answered, +2 to +4 points for a 3D student;
README, session 20). Off by default: a per-frame student gained +0.5 at twice the time. ``pool.guide_clips`` lets
a block's first clips stand for all of it (the steps move what the block's clips share), for the time limit of
long runs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vidsteal.attacks.blackbox.class_embedding import ClassEmbeddings
from vidsteal.attacks.blackbox.online import OnlineStudent


def guide_blocks(emb: ClassEmbeddings, learner: OnlineStudent, theta: torch.Tensor, aims: torch.Tensor,
                 noise: dict[str, torch.Tensor], per_block: int, steps: int, lr: float, latents: bool,
                 frames: int | None, chunk: int = 16, clips: int | None = None
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``steps`` Adam steps on ``theta`` (blocks ``(B, D)``) and, with ``latents``, the blocks' keyframe latents,
    descending the student's cross-entropy against ``aims`` (``(B, K)`` class distributions). ``noise`` is per clip
    (``B * per_block`` rows, cut to its length), blocks sharing ``z0`` / ``z1``. Returns the moved rows and noise.
    ``clips`` (None: all ``per_block``) is how many of each block's clips the loss sees: the moved tensors are the
    block's, so its first clips estimate their gradient for all of them, for less compute (the 3D student, one clip
    of 4: ~0.4x the guide's time alone, ~0.6x of its share of a 100k run). Adam's first step is ``lr *
    sign(gradient)``, so with one step only the signs of the estimate matter.
    Blocks are steered ``chunk`` at a time: each block's steps depend on its own clips only (the loss is a sum over
    clips, Adam is per coordinate), so chunks bound memory and set speed (16 blocks of 4 clips: ~1.4x faster than 64
    for the 3D student on one thread), not the result."""
    seen = per_block if clips is None else min(clips, per_block)
    moved, parts = [], []
    for start in range(0, theta.shape[0], chunk):
        rows_of_chunk = slice(start * per_block, (start + chunk) * per_block)
        rows, part = _guide_chunk(emb, learner, theta[start:start + chunk], aims[start:start + chunk],
                                  {name: value[rows_of_chunk] for name, value in noise.items()}, per_block, steps,
                                  lr, latents, frames, seen)
        moved.append(rows)
        parts.append(part)
    return torch.cat(moved), {name: torch.cat([p[name] for p in parts]) for name in noise}


def _guide_chunk(emb: ClassEmbeddings, learner: OnlineStudent, theta: torch.Tensor, aims: torch.Tensor,
                 noise: dict[str, torch.Tensor], per_block: int, steps: int, lr: float, latents: bool,
                 frames: int | None, seen: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    n = noise["z0"].shape[0]
    looked = torch.arange(n) % per_block < seen  # the clips the loss sees: each block's first ``seen``
    rows = theta.detach().clone().requires_grad_(True)
    keys = ({name: noise[name][::per_block].detach().clone().requires_grad_(True) for name in ("z0", "z1")}
            if latents else {})
    groups = [{"params": [rows], "lr": lr}] + ([{"params": list(keys.values()), "lr": lr * emb.prior.z_scale}]
                                               if keys else [])
    opt = torch.optim.Adam(groups)
    target = aims.repeat_interleave(per_block, 0)[:n][looked]
    seen_noise = {name: value[looked] for name, value in noise.items()}

    def per_clip(z: torch.Tensor) -> torch.Tensor:
        return z.repeat_interleave(per_block, 0)[:n]

    with torch.enable_grad():
        for _ in range(steps):
            moved = {name: per_clip(z)[looked] for name, z in keys.items()}
            clips = emb.render(per_clip(rows)[looked], {**seen_noise, **moved})
            logp = F.log_softmax(learner.logits(clips, frames=frames).float(), 1)
            loss = -(target * logp).sum()  # a sum: a block's gradient does not depend on its chunk
            # gradients of the free tensors only: the student's own .grad stays as its optimiser left it
            free = [rows, *keys.values()]
            for tensor, grad in zip(free, torch.autograd.grad(loss, free)):
                tensor.grad = grad
            opt.step()
    return rows.detach(), {**noise, **{name: per_clip(z.detach()) for name, z in keys.items()}}
