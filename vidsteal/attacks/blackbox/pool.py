"""What the class-embedding attack spends the budget on once its search has ended: the pool.

The sample kinds (``KINDS``), the student-driven query selection (``rare_first``) and the photometric jitter every
pool clip gets (``augment``).

Clips that fool the victim with high confidence transfer poorly to real clips (issue 8), so the pool mixes sample
kinds (``pool.mix``), each to be kept only if it measurably helps on the benchmark's validation split
(``benchmarks/blackbox.py --split val``; the test split is for the report only):

- ``class``: ``theta_c`` plus Gaussian spread (the per-class distribution), labelled near-one-hot by the victim;
- ``boundary``: embeddings interpolated between two classes, whose answers are mixed soft labels;
- ``history``: embeddings from the search path, i.e. every confidence level and not only > threshold;
- ``prior``: random embeddings around the generator's own classes (what the prior makes before any search);
- ``elite``: Gaussian mutations (``pool.elite_sigma``) of the individual clips the victim scored highest for the
  aimed class so far (embedding and keyframe latents, see :mod:`~vidsteal.attacks.blackbox.elites`).

``pool.select=disagreement`` renders ``candidates`` times more clips than it pays for and queries those on which
the student disagrees most with the label the embedding was aimed at (free: only the student is evaluated);
``pool.select=rare`` queries those the student expects the victim to answer with classes it has rarely answered so
far (expected ``1 / (1 + count)`` of the predicted class): a victim that files most synthetic clips under one class
(a catch-all) otherwise leaves the other classes with almost no answers. The student scores each candidate on
the frames it trains on (``pool.score_frames=train``): one frame for the per-frame students of the demo, so the
selection costs a fraction of a student step instead of T frames' forward passes per candidate.
``pool.free_motion`` redraws the motion coordinates of a share of the searched samples from the prior: otherwise
every class sample of a class moves as its searched embedding does (the class spread acts on appearance only).
``pool.allocate=rare`` aims pool samples at classes in inverse proportion to how often the victim has answered them.
``pool.guide_steps`` first steers every candidate block through the student toward the class it aims at
(:mod:`~vidsteal.attacks.blackbox.guide`; student compute only, no queries).
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field

from vidsteal.config import BaseConfig

KINDS = ("class", "boundary", "history", "prior", "elite")
SEARCHED_KINDS = ("class", "boundary", "history")  # drawn around searched rows: unsearched classes use the prior


class PoolConfig(BaseConfig):
    """What the rest of the budget is spent on once the search has ended."""

    batch: int = Field(256, ge=1, description="clips paid per pool step")
    # elite (session 18, val, c3d_small -> frame_cnn, E = 3): the pool of elite mutations alone 31.3 +- 0.8% against
    # 28.6 +- 0.2% for this mix at 10,000 queries (seeds 0-2), but 37.5 vs 38.2% at 30,000 (seeds 0-1; wider archives
    # 36.0 / 37.8, seed 0): it helps small budgets only, so it is not in the default mix.
    mix: dict[str, float] = Field(default_factory=lambda: {"class": 0.4, "boundary": 0.4, "history": 0.2},
                                  description=f"weights of the sample kinds {KINDS}")
    spread: float = Field(0.5, ge=0, description="std added to theta_c for class samples")
    # rare, chosen on val (c3d_small -> frame_cnn, 30,000 queries, seeds 0-1): 42.2 / 41.0% against 37.0 / 38.2% for
    # none; checked, not chosen, on a victim vidsteal did not train (Fashion-MNIST, 10k, 3 seeds: 52.0 vs 49.3%).
    select: Literal["none", "disagreement", "rare"] = Field("rare", description="student-driven query selection")
    candidates: float = Field(3.0, ge=1, description="clips rendered per clip paid when selecting")
    score_frames: Literal["train", "all"] | Annotated[int, Field(ge=1)] = Field(
        "train", description="frames of each candidate the student scores, evenly spaced: those it trains on "
        "(distill.train_frames; a per-frame student trained on 1 frame scores 1, T times cheaper), all, or this many "
        "(per-frame students only)")
    augment: float = Field(0.2, ge=0, description="photometric jitter strength (brightness/contrast/colour/noise)")
    # mixup 0.5 on val (tau as the benchmark's rows; seeds 0-2): c3d_small -> c3d_student 10k 31.6 vs 29.0%, 30k
    # 39.8 vs 39.2; -> frame_cnn 10k 35.4 vs 34.3; Swin -> ViT 10k (seeds 0-1) 17.4 vs 17.7; and on the held-out
    # Fashion-MNIST victim (10k, test, 3 seeds) 55.9 vs 59.9: not generic, so off by default (README, session 23).
    mixup: float = Field(0.0, ge=0, le=1, description="share of the rendered pool clips blended pixel-wise with "
                         "another clip of the same step (weight ~ U(0, 1)) before selection; the victim labels the "
                         "blend (0 = off; with the elite kind, a blend's score is credited to its first clip)")
    # free_motion 1 on val (3D pair, 10k, seeds 0-2): 28.8 vs 29.0%: the searched motion is not what holds the 3D
    # student back (session 23), so off.
    free_motion: float = Field(0.0, ge=0, le=1, description="share of the searched-embedding samples (class, "
                               "boundary, history, elite) whose motion coordinates are drawn afresh from the prior, "
                               "as prior samples' are, so a class's clips do not all move alike (0 = keep the "
                               "searched motion)")
    allocate: Literal["uniform", "rare"] = Field("uniform", description="which class each pool sample aims at: "
                                                 "uniformly, or weighted 1/(1 + times the victim answered it so "
                                                 "far), toward the classes the transfer set lacks")
    elites: int = Field(32, ge=1, description="archive members per class (the elite kind)")
    elite_sigma: float = Field(0.3, ge=0, description="std of an elite's mutation: on its embedding row, and on its "
                               "latents in units of the prior's latent scale")

    # guide, on val (E = 3, tau 0.5): c3d_small -> c3d_student 10k, seeds 0-1, 2 steps at lr 0.25 with latents 30.2 /
    # 32.0% vs 25.6 / 28.8 (310 vs ~180 s); 30k 39.8 / 43.6 vs 37.2 / 39.6 (~1,075 vs ~570 s). -> frame_cnn 10k s0:
    # 34.2 vs 34.6 (5 steps). Off by default: no gain for the per-frame student, and 1.3-3x the attack's time.
    guide_steps: int = Field(0, ge=0, description="Adam steps that steer each candidate block through the student "
                             "toward the class it aims at before selection (vidsteal.attacks.blackbox.guide; no "
                             "queries, student compute only; 0 = off)")
    guide_lr: float = Field(0.1, gt=0, description="Adam step of the guide, in embedding units (latents: times the "
                            "prior's latent scale)")
    guide_latents: bool = Field(False, description="the guide also moves each block's keyframe latents, not only its "
                                "embedding row")
    # guide_clips 1, val 3D 10k seeds 0-2 (2 candidates, 1 step lr 0.5 with latents): 25.0 / 30.2 / 30.2% vs 28.2 /
    # 30.8 / 29.2 with all 4 clips and 26.0 / 28.6 / 26.0 unguided; 192-209 vs 228 s (181 unguided) a run.
    guide_clips: int | None = Field(None, ge=1, description="clips of each block (of prior.clips_per_image) the "
                                    "guide's loss sees; they stand for the block, for less of the guide's compute "
                                    "(None: all)")

    ADDED_LATER = {"score_frames": "all"}  # saved runs from before the field scored every frame


def augment(clips: torch.Tensor, strength: float, g: torch.Generator) -> torch.Tensor:
    """Per-clip brightness, contrast, colour gain and pixel noise (the victim labels the augmented clip)."""
    if strength <= 0:
        return clips
    n = clips.shape[0]
    shape = (n, 1, 1, 1, 1)
    contrast = 1 + (torch.rand(shape, generator=g) * 2 - 1) * strength
    bright = (torch.rand(shape, generator=g) - 0.5) * strength
    gain = 1 + (torch.rand(n, 3, 1, 1, 1, generator=g) - 0.5) * strength
    mean = clips.mean(dim=(1, 2, 3, 4), keepdim=True)
    # ((clips - mean) * contrast + mean + bright) * gain + noise, in place: the same roundings, ~40% less time
    out = (clips - mean).mul_(contrast).add_(mean).add_(bright).mul_(gain)
    return out.add_(torch.randn(clips.shape, generator=g).mul_(0.1).mul_(strength)).clamp_(0, 1)


def mixup(clips: torch.Tensor, intended: torch.Tensor, share: float, g: torch.Generator
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Blend a random ``share`` of the clips with a random partner of the batch, pixel-wise (input mixup): clips
    between the prior's modes, which no embedding draws; ``intended`` (the aims) blends with the same weights."""
    if share <= 0:
        return clips, intended
    n = clips.shape[0]
    picked = (torch.rand(n, generator=g) < share).nonzero().flatten()
    partner = torch.randint(0, n, (picked.numel(),), generator=g)
    lam = torch.rand(picked.numel(), generator=g)
    clips, intended = clips.clone(), intended.clone()
    w = lam.view(-1, *[1] * (clips.dim() - 1))
    clips[picked] = (1 - w) * clips[picked] + w * clips[partner]
    intended[picked] = (1 - lam.view(-1, 1)) * intended[picked] + lam.view(-1, 1) * intended[partner]
    return clips, intended


def rare_first(probs: torch.Tensor, answered: torch.Tensor, n: int) -> torch.Tensor:
    """Indices of the ``n`` candidates the student expects the victim to answer with its rarest classes so far:
    score = sum_c p_student(c | clip) / (1 + times the victim answered c), normalised over classes."""
    rarity = 1 / (1 + answered.float())
    return (probs @ (rarity / rarity.sum())).argsort(descending=True)[:n]
