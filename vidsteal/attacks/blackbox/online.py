"""Online distillation: the student trains on the replay buffer while the attack is still paying for queries.

Training is measured in *clip-steps per paid query* (``replay_ratio``), so every method gets the same student
compute per query at equal budgets, and a short final phase (``final_epochs`` over the whole buffer, learning rate
cosine-decayed to zero) settles the student once the budget is spent.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from pydantic import Field
from safetensors.torch import load_file, save_file
from torch import nn

from vidsteal.attacks.blackbox.replay import ReplayBuffer
from vidsteal.config import BaseConfig
from vidsteal.data.clips import random_frames
from vidsteal.distill.losses import LossName, distill_loss


class OnlineDistillConfig(BaseConfig):
    """How the student learns from paid answers, and how often it is measured."""

    loss: LossName | None = Field(None, description="kd | l1_logits | ce; None: kd when scores are revealed, else ce")
    temperature: float = Field(1.0, gt=0, description="KD temperature")
    lr: float = Field(1e-3, gt=0, description="AdamW learning rate (at 2e-3 and above the embedded per-frame "
                                               "students never leave chance level)")
    weight_decay: float = Field(0.01, ge=0)
    batch_size: int = Field(32, ge=1)
    replay_ratio: float = Field(4.0, ge=0, description="student clip-steps per paid query while querying")
    final_epochs: float = Field(2.0, ge=0, description="passes over the whole buffer after the last query")
    balance: float = Field(0.0, ge=0, description="class-balanced replay: draw clips with weight count(victim "
                                                   "top-1)^-balance (0 uniform, 1 every answered class equally)")
    eval_every: int = Field(1000, ge=1, description="queries between held-out evaluations (the curve)")
    eval_size: int | None = Field(None, description="test clips per curve point (None: all); the final one uses all")
    train_frames: int | None = Field(None, ge=1, description="train on this many random frames of each clip "
                                     "(per-frame students only: they average frame logits, so a frame subset is a "
                                     "valid input and costs proportionally less); None uses every frame")


class OnlineStudent:
    """A student, its optimiser and a step counter; trains on batches drawn from a :class:`ReplayBuffer`."""

    def __init__(self, student: nn.Module, cfg: OnlineDistillConfig, loss: LossName, seed: int) -> None:
        self.model, self.cfg, self.loss = student, cfg, loss
        params = [p for p in student.parameters() if p.requires_grad]
        decay = [p for p in params if p.ndim >= 2]
        rest = [p for p in params if p.ndim < 2]
        self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                      {"params": rest, "weight_decay": 0.0}], lr=cfg.lr)
        self.rng = torch.Generator().manual_seed(seed * 7_919 + 17)
        self.steps = 0
        self.debt = 0.0  # clip-steps owed to the replay ratio, carried between chunks

    def owe(self, paid: int) -> int:
        """Steps to run after ``paid`` new queries under the replay ratio."""
        self.debt += self.cfg.replay_ratio * paid / self.cfg.batch_size
        steps = int(self.debt)
        self.debt -= steps
        return steps

    def train(self, buffer: ReplayBuffer, steps: int, lr: float | None = None) -> float:
        """Run ``steps`` optimiser steps on uniform buffer batches; returns the mean loss."""
        if steps <= 0 or len(buffer) == 0:
            return float("nan")
        with torch.enable_grad():  # callers may pay for queries inside no_grad blocks
            return self._train(buffer, steps, lr)

    def _train(self, buffer: ReplayBuffer, steps: int, lr: float | None) -> float:
        self.model.train()
        total = 0.0
        for _ in range(steps):
            for group in self.opt.param_groups:
                group["lr"] = self.cfg.lr if lr is None else lr
            clips, targets = buffer.sample(self.cfg.batch_size, self.rng, self.cfg.balance)
            if self.cfg.train_frames is not None:
                clips = random_frames(clips, self.cfg.train_frames, self.rng)
            loss = distill_loss(self.model(clips), targets, self.loss, self.cfg.temperature)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.opt.step()
            value = loss.item()
            if not math.isfinite(value):
                raise FloatingPointError(f"student loss became {value} at step {self.steps}; lower distill.lr")
            total += value
            self.steps += 1
        return total / steps

    def finish(self, buffer: ReplayBuffer) -> None:
        """``final_epochs`` passes over the buffer, learning rate cosine-decayed from ``lr`` to 0."""
        steps = math.ceil(self.cfg.final_epochs * len(buffer) / self.cfg.batch_size)
        for i in range(steps):
            self.train(buffer, 1, lr=self.cfg.lr * 0.5 * (1 + math.cos(math.pi * i / max(steps, 1))))

    @torch.no_grad()
    def probs(self, clips: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Student softmax on float clips, in eval mode (for query selection; costs no victim queries)."""
        was = self.model.training
        self.model.eval()
        out = torch.cat([torch.softmax(self.model(c), 1) for c in clips.split(batch_size)])
        self.model.train(was)
        return out

    # -- checkpoints -------------------------------------------------------------------------------------
    def save(self, folder: Path) -> dict:
        state = {k: v.detach().contiguous().cpu() for k, v in self.model.state_dict().items()}
        save_file(state, str(folder / "student.safetensors"))
        torch.save(self.opt.state_dict(), folder / "student_optim.pt")  # tensors and plain containers only
        save_file({"rng": self.rng.get_state()}, str(folder / "student_rng.safetensors"))
        return {"steps": self.steps, "debt": self.debt}

    def load(self, folder: Path, meta: dict) -> None:
        self.model.load_state_dict(load_file(str(folder / "student.safetensors")))
        self.opt.load_state_dict(torch.load(folder / "student_optim.pt", map_location="cpu", weights_only=True))
        self.rng.set_state(load_file(str(folder / "student_rng.safetensors"))["rng"])
        self.steps, self.debt = int(meta["steps"]), float(meta["debt"])
