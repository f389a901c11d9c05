"""Online distillation: the student trains on the replay buffer while the attack is still paying for queries.

Training is measured in *clip-steps per paid query* (``replay_ratio``), so every method gets the same student
compute per query at equal budgets, and a final phase (``final_epochs`` over the whole buffer, learning rate
cosine-decayed to zero) settles the student once the budget is spent. Paid answers are the scarce part and student
steps the cheap one, so the final phase is long: a per-frame student trains on one random frame per clip and step,
and 3 epochs left the synthetic buffer under-learnt (val: 10 epochs gave +4 points at 10k queries, +6 at 30k).
The training stack itself (optimiser, schedule, step, runtime, checkpoints) is the one in :mod:`vidsteal.train`;
this module only decides what to train on and when.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn

from vidsteal.attacks.blackbox.replay import ReplayBuffer
from vidsteal.config import BaseConfig
from vidsteal.data.transforms import random_shift
from vidsteal.distill.losses import LossName
from vidsteal.distill.student import distill_loss_fn
from vidsteal.train.checkpoint import load_checkpoint, save_checkpoint
from vidsteal.train.distributed import Runtime
from vidsteal.train.precision import Precision, uses_bf16
from vidsteal.train.optim import make_optimizer, set_lr, warmup_cosine


class OnlineDistillConfig(BaseConfig):
    """How the student learns from paid answers, and how often it is measured."""

    ADDED_LATER = {"prior_correction": 0.0}  # saved runs from before the field kept the uncorrected student

    loss: LossName | None = Field(None, description="kd | l1_logits | ce; None: kd when scores are revealed, else ce")
    temperature: float = Field(1.0, gt=0, description="KD temperature (val, embeddings: 8 gains at small budgets, "
                               "per-frame 10k 36.6 -> 41.0, 3D 30k 43.0 -> 45.8, but the 3D student at 100k loses "
                               "50.4 -> 42.2; 1 stays the default, and the audit, the demo and the benchmark "
                               "apply chosen_temperature: 8 up to 30k)")
    # val, T = 8 while querying (embeddings, E = 3): per-frame CNN 10k (seeds 0-2) 41.0 at 8 throughout, 38.5 at 1
    # in the final phase, 40.1 annealed; 3D 10k 34.1 / 33.0 / 35.3; 3D 100k seed 0 42.2 / 47.0 / 46.2 (T = 1
    # throughout: 50.4): the final phase's temperature does not win back 100k, so both stay off
    final_temperature: float | None = Field(None, gt=0, description="KD temperature the final phase ends at "
                                            "(None: ``temperature`` throughout); ``temperature_anneal`` says how")
    temperature_anneal: bool = Field(False, description="final phase: the temperature follows the learning rate's "
                                     "cosine from ``temperature`` to ``final_temperature`` (False: "
                                     "``final_temperature`` for the whole final phase, as with anneal=run)")
    lr: float = Field(1e-3, gt=0, description="AdamW learning rate (the demo takes 3e-3, chosen on the val split "
                                               "with the ceiling; its ViT student keeps 1e-3)")
    weight_decay: float = Field(0.01, ge=0)
    batch_size: int = Field(32, ge=1)
    replay_ratio: float = Field(4.0, ge=0, description="student clip-steps per paid query while querying")
    final_epochs: float = Field(10.0, ge=0, description="passes over the whole buffer after the last query (val, "
                                "c3d_small -> frame_cnn: 3 -> 10 epochs +4 points at 10k, +6 at 30k; the demo keeps "
                                "3 / 5 for its time limit)")
    balance: float = Field(0.0, ge=0, description="class-balanced replay: draw clips with weight count(victim "
                                                   "top-1)^-balance (0 uniform, 1 every answered class equally)")
    eval_every: int = Field(1000, ge=1, description="queries between held-out evaluations (the curve)")
    eval_size: int | None = Field(None, description="test clips per curve point (None: all); the final one uses all")
    train_frames: int | None = Field(None, ge=1, description="train on this many random frames of each clip "
                                     "(per-frame students only: they average frame logits, so a frame subset is a "
                                     "valid input and costs proportionally less); None uses every frame")
    shift: float = Field(0.0, ge=0, lt=0.5, description="student-side augmentation: translate each replayed clip "
                         "by up to this fraction of the frame (one random offset per clip, all frames alike; the "
                         "victim's answer on the paid clip stays the target, so it costs no query; val, 30k: "
                         "0.125 cost 3 points, so it is off)")
    # prior_correction, chosen on val (embeddings, E = 3; top-1 gain over tau 0 for tau 0.25 / 0.5 / 0.75):
    # c3d_small -> frame_cnn 10k +3.3 / +5.0 / +3.9 (seeds 0-2), 30k +2.6 / +0.6 / -3.6 (seeds 0-1);
    # -> c3d_student 10k +0.2 / +2.7 / +4.7 (3 runs), 30k +1.4 / +5.2 / +7.0 (seed 0); swin3d_small -> ViT 10k
    # +2.8 / +4.6 / +7.8 (seed 0). It hurts the noise baseline (10k: -2.0 at 0.5).
    prior_correction: float = Field(0.5, ge=0, description="after the final phase, shift the student's logits by "
                                    "-tau log(K pi), pi = the victim's mean answer over the paid clips: the "
                                    "student of a uniform class prior, not of the transfer set's "
                                    "(vidsteal.distill.label_shift; 0 = off)")
    anneal: Literal["final", "run"] = Field("final", description="final: constant lr while querying, cosine to 0 "
                                            "over the final epochs; run: one cosine from lr to 0 over every step "
                                            "the budget plans (querying and final), as when the run length is known")
    precision: Precision = Field("auto", description="student arithmetic unless the attack's context brings a "
                                 "Runtime: bf16 autocast (~2x faster steps on CPUs with AMX / AVX512-BF16, slower "
                                 "on others), 32, or auto = bf16 where native")


# The KD temperature chosen on val per budget for the students of the data-free attacks (README, sessions 25-26):
# 8 vs 1 at 10k, embeddings: per-frame CNN 41.0 vs 36.6%, 3D student 34.1 vs 33.3, held-out Fashion-MNIST victim
# (test) 65.4 vs 58.7; noise 14.0 vs 11.4; at 30k 44.4 vs 40.4 (per-frame), 45.8 vs 43.0 (3D); but at 100k the 3D
# student loses 8 points at 8. Measured with probability answers only (top-k / label keep 1).
SOFT_METHODS, SOFT_UP_TO, SOFT_TEMPERATURE = ("embeddings", "prior", "noise"), 30_000, 8.0


def chosen_temperature(method: str, budget: int, output: str) -> float:
    """The val-chosen KD temperature for ``method``'s student at ``budget`` queries when the victim answers
    ``output`` (an :class:`~vidsteal.victims.OutputMode` kind): 8 for the data-free methods up to 30k queries of
    full probabilities, else 1 (the library default, which a config keeps unless a caller applies this rule)."""
    return SOFT_TEMPERATURE if method in SOFT_METHODS and budget <= SOFT_UP_TO and output == "probs" else 1.0


def with_chosen_temperature(attack: dict[str, Any], method: str, budget: int, output: str,
                            temperature: float | None = None) -> dict[str, Any]:
    """``method``'s config overrides ``attack`` with its student's KD temperature: ``temperature`` for the data-free
    methods, or :func:`chosen_temperature` when None; one the overrides set themselves wins, and 1 (the config's own
    default) adds nothing, so a job at 1 is the job it always was."""
    if method not in SOFT_METHODS:
        return attack
    chosen = chosen_temperature(method, budget, output) if temperature is None else temperature
    distill = attack.get("distill") or {}
    if chosen == 1.0 or "temperature" in distill:
        return attack
    return {**attack, "distill": {**distill, "temperature": chosen}}


class OnlineStudent:
    """A student, its optimiser and a step counter; trains on batches drawn from a :class:`ReplayBuffer`.

    Optimiser, schedule, step and checkpoint format are the ones :func:`~vidsteal.train.loop.fit` uses
    (:mod:`vidsteal.train.optim`, :meth:`Runtime.train_step`, :mod:`vidsteal.train.checkpoint`); ``runtime``
    says where and how it trains (default: one CPU process in ``cfg.precision``).
    """

    def __init__(self, student: nn.Module, cfg: OnlineDistillConfig, loss: LossName, seed: int,
                 runtime: Runtime | None = None, budget: int | None = None) -> None:
        if cfg.anneal == "run" and budget is None:
            raise ValueError("distill.anneal=run needs the query budget to plan the run's steps")
        self.model, self.cfg = student, cfg
        # steps the whole run will take (querying, then final epochs over a buffer of ``budget`` clips)
        self.planned = (math.ceil(cfg.replay_ratio * budget / cfg.batch_size) + self.final_steps(budget)
                        if budget else 0)
        self.runtime = runtime or Runtime("cpu", precision="bf16" if uses_bf16(cfg.precision, "cpu") else "32")
        self.net = self.runtime.prepare(student)
        self.opt = make_optimizer(student, cfg.lr, cfg.weight_decay)
        self.rng = torch.Generator().manual_seed(seed * 7_919 + 17)
        self.seed = seed
        self.loss_name = loss
        self.loss_fn = distill_loss_fn(loss, cfg.temperature)
        self.steps = 0
        self.debt = 0.0  # clip-steps owed to the replay ratio, carried between chunks
        self.final_done = 0  # steps of the final phase already taken (a checkpoint can fall inside it)

    def owe(self, paid: int) -> int:
        """Steps to run after ``paid`` new queries under the replay ratio."""
        self.debt += self.cfg.replay_ratio * paid / self.cfg.batch_size
        steps = int(self.debt)
        self.debt -= steps
        return steps

    def train(self, buffer: ReplayBuffer, steps: int, lr: float | None = None) -> float:
        """Run ``steps`` optimiser steps on buffer batches (at ``lr``, default ``cfg.lr``; with ``anneal=run`` at the
        run's cosine for each step instead); returns the mean loss."""
        if steps <= 0 or len(buffer) == 0:
            return float("nan")
        self.net.train()
        set_lr(self.opt, self.cfg.lr if lr is None else lr)
        total = 0.0
        with torch.enable_grad():  # callers may pay for queries inside no_grad blocks
            for _ in range(steps):
                if self.cfg.anneal == "run":
                    set_lr(self.opt, self.cfg.lr * warmup_cosine(self.steps, self.planned))
                # one frame subset per step, however the runtime splits it
                clips, targets = buffer.sample(self.cfg.batch_size, self.rng, self.cfg.balance, self.cfg.train_frames)
                clips = random_shift(clips, self.cfg.shift, self.rng)
                micro = self.runtime.split(clips, targets)
                # the student's own randomness (dropout) is a function of the step: a resumed run trains the same
                # student as an uninterrupted one, whatever the process did before
                torch.manual_seed(self.seed * 1_000_003 + self.steps)
                loss_sum, count = self.runtime.train_step(self.net, self.opt, self.loss_fn, micro, grad_clip=1.0,
                                                          at=f"student step {self.steps} (distill.lr)")
                total += loss_sum / max(count, 1)
                self.steps += 1
        return total / steps

    def finish(self, buffer: ReplayBuffer, until: int | None = None) -> None:
        """The final phase from where it stands up to step ``until`` (default: its end): ``final_epochs`` passes over
        the buffer, learning rate cosine-decayed from ``lr`` to 0 (``anneal=run``: the run's own cosine carries on
        to 0). Taken in pieces or at once, it trains the same student."""
        total = self.final_steps(len(buffer))
        until = total if until is None else min(until, total)
        if self.cfg.anneal == "run":
            # the run's one cosine carries on: the final phase takes final_temperature throughout
            self.loss_fn = distill_loss_fn(self.loss_name, self.final_phase_temperature(0.0))
            self.train(buffer, until - self.final_done)
            self.final_done = max(self.final_done, until)
            return
        while self.final_done < until:
            factor = warmup_cosine(self.final_done, total)
            self.loss_fn = distill_loss_fn(self.loss_name, self.final_phase_temperature(factor))
            self.train(buffer, 1, lr=self.cfg.lr * factor)
            self.final_done += 1

    def final_phase_temperature(self, factor: float) -> float:
        """The KD temperature of a final-phase step whose learning-rate factor is ``factor`` (1 -> 0)."""
        cfg = self.cfg
        if cfg.final_temperature is None:
            return cfg.temperature
        if not cfg.temperature_anneal:
            return cfg.final_temperature
        return cfg.final_temperature + (cfg.temperature - cfg.final_temperature) * factor

    def final_steps(self, clips: int) -> int:
        """Optimiser steps of the whole final phase over a buffer of ``clips`` clips."""
        return math.ceil(self.cfg.final_epochs * clips / self.cfg.batch_size)

    @torch.no_grad()
    def probs(self, clips: torch.Tensor, batch_size: int = 64, frames: int | None = None,
              mixed: bool = False) -> torch.Tensor:
        """Student softmax on float ``(N, C, T, H, W)`` clips, in eval mode (for query selection; costs no victim
        queries). With ``frames``, on that many evenly spaced frames of each clip: a student trained on frame
        subsets (``train_frames``) predicts from them as it learned to, T/frames times cheaper. ``mixed`` runs the
        forward in the training precision (bf16 where native: ~2x faster for 3D students): right for ranking
        candidates, wrong for DFME's finite differences of these probabilities, which keep 32 bits."""
        clips = spaced_frames(clips, frames)
        return torch.cat([torch.softmax(self.logits(c, mixed=mixed).float(), 1).cpu()
                          for c in clips.split(batch_size)])

    def logits(self, clips: torch.Tensor, frames: int | None = None, mixed: bool = True) -> torch.Tensor:
        """Student logits in eval mode, differentiable unless called under no_grad (the guide steers candidates
        through them, :mod:`~vidsteal.attacks.blackbox.guide`); ``frames`` and ``mixed`` as in :meth:`probs`."""
        clips = spaced_frames(clips, frames)
        was = self.model.training
        self.model.eval()
        try:
            with self.runtime.autocast() if mixed else nullcontext():
                return self.model(clips.to(self.runtime.device))
        finally:
            self.model.train(was)

    # -- checkpoints (the format of vidsteal.train.checkpoint) ---------------------------------------------
    def save(self, root: Path, tag: int, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        """Commit a checkpoint of the student with the caller's ``meta`` and ``tensors`` beside it."""
        mine = {"steps": self.steps, "debt": self.debt, "final": self.final_done}
        save_checkpoint(root, tag, self.model, self.opt, {**meta, "student": mine}, self.runtime,
                        {**tensors, "student.rng": self.rng.get_state()})

    def load(self, root: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]] | None:
        """Restore the student from ``root``; returns the caller's ``(meta, tensors)``, or None without a checkpoint."""
        restored = load_checkpoint(root, self.model, self.opt, self.runtime)
        if restored is None:
            return None
        meta, tensors = restored
        self.rng.set_state(tensors.pop("student.rng"))
        mine = meta.pop("student")
        self.steps, self.debt = int(mine["steps"]), float(mine["debt"])
        self.final_done = int(mine.get("final", 0))  # checkpoints from before final-phase checkpoints: 0
        return meta, tensors


def spaced_frames(clips: torch.Tensor, frames: int | None) -> torch.Tensor:
    """``frames`` evenly spaced frames of ``(N, C, T, H, W)`` clips (all of them for None or ``frames >= T``)."""
    if frames is None or frames >= clips.shape[2]:
        return clips
    return clips[:, :, ((torch.arange(frames) + 0.5) * clips.shape[2] / frames).long()]
