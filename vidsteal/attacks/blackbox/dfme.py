"""DFME baseline: a generator trained to make student and victim disagree, victim gradients by forward differences.

Paper: Truong, Maini, Walls, Papernot, "Data-Free Model Extraction", CVPR 2021 (https://arxiv.org/abs/2011.14779).
Threat model: query access with scores (probabilities; rounded / top-k answers degrade the estimates), no data,
no victim gradients. The generator maximises the L1 distance between the student's logits and the victim's
mean-centred log-probabilities; the victim part of that gradient is estimated with ``directions`` forward
differences per clip. The student minimises the same L1 on victim-labelled generator clips (and, here, on the
replay buffer of every clip paid so far).

Query cost per step: ``batch * (directions + 1)`` for the generator's gradient estimate plus
``batch * student_queries`` labelled clips; all of them go through the oracle and are counted there (DFME's code
computes its budget by formula instead). Like every attack's, the clips are paid as 8-bit video (what a video
API takes), so the gradient estimate probes on the 1/255 grid, with a step of at least ``sqrt(d)/255`` (one grey
level per pixel, RMS): a smaller ``eps`` would be rounded away before the victim saw it.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from pydantic import Field

from vidsteal.attacks.blackbox.session import BlackboxAttack, BlackboxConfig, Session
from vidsteal.attacks.blackbox.zeroth_order import GRID, forward_differences
from vidsteal.attacks.registry import register_attack
from vidsteal.distill.losses import LossName, l1_logits_loss
from vidsteal.models.generators.dfme import ClipGenerator
from vidsteal.train.checkpoint import load_optimizer_tensors, optimizer_tensors
from vidsteal.train.precision import Precision, autocast
from vidsteal.victims.base import Oracle
from vidsteal.victims.outputs import OutputKind


class DFMEConfig(BlackboxConfig):
    z_dim: int = Field(128, ge=1, description="generator latent size")
    width: int = Field(64, ge=8, description="generator channels at its stem")
    batch: int = Field(32, ge=1, description="clips per generator step")
    directions: int = Field(1, ge=1, description="forward-difference directions per clip (DFME's m)")
    eps: float = Field(1e-3, gt=0, description="forward-difference step (L2 norm of the probe; raised to "
                                               "sqrt(clip size)/255, the smallest step an 8-bit clip carries)")
    student_queries: int = Field(5, ge=0, description="labelled generator batches per generator step (DFME's n_S)")
    lr_generator: float = Field(5e-4, gt=0)
    precision: Precision = Field("auto", description="the generator's arithmetic: bf16 autocast where the CPU has it "
                                                     "natively (~2.5x faster generator steps), else float32")

    ADDED_LATER = {"precision": "32"}  # saved DFME runs from before the field ran their generator in float32


@register_attack
class DFMEAttack(BlackboxAttack):
    name = "dfme"
    config_class: ClassVar[type[DFMEConfig]] = DFMEConfig  # type: ignore[assignment]
    config: DFMEConfig

    def loss_for(self, oracle: Oracle) -> LossName:
        if self.config.distill.loss is not None:
            return self.config.distill.loss
        return "ce" if oracle.output_mode.kind in (OutputKind.label, OutputKind.topk_labels) else "l1_logits"

    def setup(self, session: Session) -> None:
        cfg = self.config
        self.rng = torch.Generator().manual_seed(cfg.seed * 1_000_003 + 11)
        with torch.random.fork_rng():
            torch.manual_seed(cfg.seed * 31 + 7)
            self.generator = ClipGenerator(cfg.z_dim, session.frames, session.size, cfg.width)
        self.opt = torch.optim.Adam(self.generator.parameters(), lr=cfg.lr_generator)
        self.steps = 0

    def _sample(self, n: int) -> torch.Tensor:
        z = torch.randn(n, self.config.z_dim, generator=self.rng)
        with autocast(self.config.precision):
            return self.generator(z)

    def step(self, session: Session) -> None:
        cfg = self.config
        per_clip = cfg.directions + 1
        batch = min(cfg.batch, session.remaining // per_clip)
        if batch >= 1:
            self._generator_step(session, batch)
        for _ in range(cfg.student_queries):
            n = min(cfg.batch, session.remaining)
            if n == 0:
                break
            with torch.no_grad():
                self.generator.train()
                session.pay(self._sample(n))
        if batch < 1 and cfg.student_queries == 0 and session.remaining:  # too little left for a probe: label it
            with torch.no_grad():
                session.pay(self._sample(session.remaining))
        self.steps += 1

    def _generator_step(self, session: Session, batch: int) -> None:
        self.generator.train()
        clips = self._sample(batch)
        student = session.learner

        def disagreement(points: torch.Tensor) -> torch.Tensor:
            logits = torch.log(student.probs(points).clamp(min=1e-8))  # student logits up to a constant
            paid, _, targets = session.pay(points)
            if paid.shape[0] < points.shape[0]:
                raise _OutOfBudget
            return l1_logits_loss(logits, targets, per_clip=True)

        try:
            step = max(self.config.eps, math.sqrt(clips[0].numel()) * GRID)
            grad, _ = forward_differences(disagreement, clips.detach(), self.config.directions, step, self.rng,
                                          grid=GRID)
        except _OutOfBudget:
            return
        self.opt.zero_grad(set_to_none=True)
        clips.backward(-grad)  # ascend the estimated disagreement
        self.opt.step()

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors = {f"generator.{k}": v for k, v in self.generator.state_dict().items()}
        tensors.update(optimizer_tensors(self.opt, "generator_opt"))
        tensors["rng"] = self.rng.get_state()
        return tensors, {"steps": self.steps}

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        self.generator.load_state_dict({k[len("generator."):]: v for k, v in tensors.items()
                                        if k.startswith("generator.")})
        load_optimizer_tensors(self.opt, tensors, "generator_opt")
        self.rng.set_state(tensors["rng"])
        self.steps = int(meta["steps"])

    def summary(self) -> dict[str, Any]:
        return {"generator_steps": self.steps}


class _OutOfBudget(Exception):
    """The budget ended inside a gradient estimate; the partial probe is kept in the buffer, the step skipped."""
