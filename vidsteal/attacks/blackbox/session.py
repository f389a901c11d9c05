"""What every black-box attack shares: paying for queries, the replay buffer, online training, the curve, resume.

An attack is a loop of ``step(session)`` calls. Each step renders clips and hands them to :meth:`Session.pay`,
which sends them through the oracle (the budget is enforced there and, for a
:class:`~vidsteal.victims.logged.LoggedOracle`, every answer is durable before it is used), appends them to the
replay buffer, trains the student by the replay ratio and adds a point to the accuracy-vs-queries curve every
``eval_every`` queries. Between steps the base class checkpoints (student, optimiser, the attack's own tensors and
RNG state, in the one format of :mod:`vidsteal.train.checkpoint`) every ``chunk`` queries, and every
``final_chunk`` student steps of the final phase.

Resume: re-running the same command reloads the latest checkpoint and rebuilds the buffer from the query log
(clips paid up to the checkpoint); the attack then repeats, with its restored RNG, the steps after the
checkpoint, whose clips the log answers for free, so nothing is paid twice and the curve simply continues.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import torch
from pydantic import Field
from safetensors.torch import save_file
from torch import nn
from torch.utils.data import Subset

from vidsteal.attacks.base import Attack, AttackConfig, AttackContext, AttackResult
from vidsteal.attacks.blackbox.online import OnlineDistillConfig, OnlineStudent
from vidsteal.attacks.blackbox.replay import ReplayBuffer, transfer_stats
from vidsteal.distill.label_shift import check_correctable, prior_shift, shift_logits, transfer_prior
from vidsteal.distill.losses import LossName, default_loss, soft_targets
from vidsteal.distill.student import measure
from vidsteal.models.registry import ModelCard, save_model
from vidsteal.victims.base import Oracle
from vidsteal.victims.budget import BudgetExceeded
from vidsteal.victims.logged import LoggedOracle
from vidsteal.victims.outputs import Answers

FINAL_REPORT_EVERY = 25  # final-phase steps between progress reports


class BlackboxConfig(AttackConfig):
    """Knobs every black-box attack has (each attack subclasses it)."""

    frames: int | None = Field(None, ge=1, description="frames per clip the victim takes (default: its card)")
    size: int | None = Field(None, ge=8, description="frame height = width the victim takes (default: its card)")
    chunk: int = Field(512, ge=1, description="queries between checkpoints")
    final_chunk: int = Field(500, ge=1, description="student steps between checkpoints in the final phase (the "
                             "longest part of a run at the default final_epochs)")
    distill: OnlineDistillConfig = Field(default_factory=OnlineDistillConfig)


class Session:
    """Bookkeeping of one run (see module docstring). ``used`` counts answered clips, ``white_box`` counts
    clips sent through white-box victim access (gradient-mode ablations); both are charged to the budget."""

    def __init__(self, oracle: Oracle, student: nn.Module, context: AttackContext, cfg: BlackboxConfig,
                 loss: LossName) -> None:
        if cfg.frames is None or cfg.size is None:
            raise ValueError("set the victim's clip shape (frames, size); the CLI reads it from the victim's card")
        self.oracle, self.context, self.cfg = oracle, context, cfg
        self.frames, self.size, self.num_classes = cfg.frames, cfg.size, oracle.num_classes
        self.buffer = ReplayBuffer(oracle.num_classes)
        if cfg.distill.prior_correction:  # a student the correction cannot shift is refused before any query
            check_correctable(student, self.num_classes, self._probe(student))
        self.learner = OnlineStudent(student, cfg.distill, loss, cfg.seed, context.runtime, cfg.budget)
        self.used = self.white_box = 0
        self.exhausted = False
        self.corrected = False  # the prior correction is in the student's bias (only after the final phase)
        self.curve: list[dict[str, float]] = []
        self.next_eval = cfg.distill.eval_every
        self.last_ckpt = 0
        self.started = time.perf_counter()
        self.state_dir = Path(context.run_dir) / "state"

    @property
    def remaining(self) -> int:
        return 0 if self.exhausted else max(0, self.cfg.budget - self.used - self.white_box)

    # -- paying --------------------------------------------------------------------------------------------
    def pay(self, clips: torch.Tensor) -> tuple[torch.Tensor, Answers | None, torch.Tensor]:
        """Query the answered prefix of ``clips`` (the rest does not fit the budget); returns
        ``(clips answered, answers, soft targets)`` and trains / measures the student as due."""
        n = min(clips.shape[0], self.remaining)
        answers: Answers | None = None
        if n:
            try:
                answers = self.oracle.query(clips[:n])
            except BudgetExceeded as err:  # the oracle's own budget is tighter (e.g. a shared ledger)
                self.exhausted = True
                answers, n = err.answers, err.answered
        if not n or answers is None:
            return clips[:0], None, torch.zeros(0, self.num_classes)
        clips = clips[:n].detach()
        targets = soft_targets(answers, self.num_classes)
        self.buffer.add(clips, targets)
        self.used += n
        self.learner.train(self.buffer, self.learner.owe(n))
        self._maybe_evaluate()
        self.context.report("queries", self.used + self.white_box, self.cfg.budget)
        return clips, answers, targets

    def charge_white_box(self, n: int) -> None:
        """Count ``n`` clips sent through white-box access (not paid, not logged) against the budget."""
        self.white_box += int(n)
        self._maybe_evaluate()
        self.context.report("queries", self.used + self.white_box, self.cfg.budget)

    # -- measuring -----------------------------------------------------------------------------------------
    def _maybe_evaluate(self) -> None:
        spent = self.used + self.white_box
        if spent >= self.next_eval and self.remaining > 0:  # the point at the full budget comes from finish()
            self.evaluate(self.cfg.distill.eval_size)
            self.next_eval = (spent // self.cfg.distill.eval_every + 1) * self.cfg.distill.eval_every

    def evaluate(self, size: int | None = None) -> dict[str, float] | None:
        """Measure the student on the held-out split (its first ``size`` clips) as a point of the curve: with
        ``distill.prior_correction``, as the student corrected for the buffer's prior so far would measure."""
        point = self._measure(size, self._prior_shift())
        if point is not None:
            self.curve.append(point)
        return point

    def _measure(self, size: int | None, shift: torch.Tensor | None) -> dict[str, float] | None:
        test, victim = self.context.test_set, self.context.victim_logits
        if test is None:
            return None
        if size is not None and size < len(test):  # type: ignore[arg-type]
            test, victim = Subset(test, range(size)), None if victim is None else victim[:size]
        return {"queries": float(self.used + self.white_box), "paid": float(self.used),
                **measure(self.learner.model, test, victim, shift), "student_steps": float(self.learner.steps),
                "seconds": time.perf_counter() - self.started}

    def _prior_shift(self) -> torch.Tensor | None:
        """The logit shift of ``distill.prior_correction`` for the buffer so far (None: off, or already applied)."""
        tau = self.cfg.distill.prior_correction
        if tau == 0 or len(self.buffer) == 0 or self.corrected:
            return None
        return prior_shift(transfer_prior(self.buffer.targets), tau)

    def _probe(self, model: nn.Module) -> torch.Tensor:
        """Two fixed random clips of the victim's shape, where ``model``'s weights are."""
        probe = torch.rand(2, 3, self.frames, self.size, self.size, generator=torch.Generator().manual_seed(0))
        return probe.to(next(model.parameters()).device)

    def correct_prior(self) -> dict[str, float] | None:
        """Apply ``distill.prior_correction`` to the finished student (:mod:`vidsteal.distill.label_shift`): its
        logits move from the transfer set's class prior to a uniform one. Returns tau, the largest and smallest
        shift and, with a test split, what the uncorrected student measured (the ablation); None when off.
        Checkpoints never hold a corrected student, so a resumed run corrects once, as an uninterrupted one."""
        shift = self._prior_shift()
        if shift is None:
            return None
        before = self._measure(None, None) or {}
        shift_logits(self.learner.model, shift, self._probe(self.learner.model))
        self.corrected = True
        return {"tau": self.cfg.distill.prior_correction, "shift_max": float(shift.max()),
                "shift_min": float(shift.min()),
                **{f"{k}_uncorrected": before[k] for k in ("top1", "top5", "agreement") if k in before}}

    # -- checkpoints ---------------------------------------------------------------------------------------
    def due(self) -> bool:
        return self.used + self.white_box - self.last_ckpt >= self.cfg.chunk

    def checkpoint(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        """Commit the student, the session's counters and the attack's ``(tensors, meta)`` as one checkpoint."""
        spent = self.used + self.white_box
        session = {"used": self.used, "white_box": self.white_box, "buffer": len(self.buffer), "curve": self.curve,
                   "next_eval": self.next_eval, "exhausted": self.exhausted}
        self.learner.save(self.state_dir, spent, {"session": session, "attack": meta},
                          {f"attack.{k}": v for k, v in tensors.items()})
        self.last_ckpt = spent

    def restore(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        """Load the latest checkpoint if any; returns the attack's ``(tensors, meta)`` or None for a fresh run."""
        restored = self.learner.load(self.state_dir)
        if restored is None:
            return None
        meta, tensors = restored
        session = meta["session"]
        self.used, self.white_box = int(session["used"]), int(session["white_box"])
        self.curve, self.next_eval = list(session["curve"]), int(session["next_eval"])
        self.exhausted = bool(session["exhausted"])
        self._refill(int(session["buffer"]))
        self.last_ckpt = self.used + self.white_box
        return {k[len("attack."):]: v for k, v in tensors.items() if k.startswith("attack.")}, meta["attack"]

    def _refill(self, count: int) -> None:
        """Rebuild the buffer from the first ``count`` logged answers (free: nothing is re-queried)."""
        if count == 0:
            return
        if not isinstance(self.oracle, LoggedOracle):
            raise RuntimeError("resuming needs the query log: run the attack through a LoggedOracle")
        for clips, answers in self.oracle.ledger.replay(batch_size=512):
            take = min(clips.shape[0], count - len(self.buffer))
            self.buffer.add(clips[:take], soft_targets(answers[:take], self.num_classes))
            if len(self.buffer) >= count:
                break
        if len(self.buffer) < count:
            raise RuntimeError(f"the query log holds {len(self.buffer)} answers but the checkpoint needs {count}")

    # -- the end -------------------------------------------------------------------------------------------
    def finish(self, extra: dict[str, Any], state: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None
               ) -> AttackResult:
        """Final training over the buffer, final measurement on the whole test split, save the student. With the
        attack's ``state`` (fixed once the queries are spent), the final phase is checkpointed every
        ``final_chunk`` steps, so a killed run resumes inside it instead of training it again from the start."""
        learner, total = self.learner, self.learner.final_steps(len(self.buffer))
        piece = min(self.cfg.final_chunk, FINAL_REPORT_EVERY)
        last = learner.final_done
        self.context.report("final training", learner.final_done, total)
        while learner.final_done < total:
            learner.finish(self.buffer, until=learner.final_done + piece)
            self.context.report("final training", learner.final_done, total)
            if state is not None and learner.final_done - last >= self.cfg.final_chunk and learner.final_done < total:
                self.checkpoint(*state)
                last = learner.final_done
        correction = self.correct_prior()
        final = self.evaluate() or {}
        run_dir = Path(self.context.run_dir)
        path = run_dir / "student.safetensors"
        model = self.learner.model
        card = getattr(model, "card", None)
        if isinstance(card, ModelCard):
            save_model(model, path, card.model_copy(update={"frames": self.frames, "size": self.size,
                                                            "metrics": {k: v for k, v in final.items()
                                                                        if k in ("top1", "top5", "agreement")}}))
        else:
            save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(path))
        metrics = {**{k: v for k, v in final.items() if k not in ("queries", "paid")},
                   "queries": self.used + self.white_box, "paid": self.used, "white_box": self.white_box,
                   "buffer": len(self.buffer), "transfer_set": transfer_stats(self.buffer.targets),
                   "prior_correction": correction, **extra}
        return AttackResult(metrics, self.used + self.white_box, self.curve, path)


class BlackboxAttack(Attack):
    """Base of the black-box attacks: ``run`` drives ``step`` until the budget is spent (see module docstring)."""

    config_class: ClassVar[type[AttackConfig]] = BlackboxConfig
    config: BlackboxConfig

    def loss_for(self, oracle: Oracle) -> LossName:
        return self.config.distill.loss or default_loss(oracle.output_mode.kind)

    def run(self, oracle: Oracle, student: nn.Module, context: AttackContext) -> AttackResult:
        self.check_oracle(oracle)
        session = Session(oracle, student, context, self.config, self.loss_for(oracle))
        self.setup(session)
        restored = session.restore()
        if restored is not None:
            self.load_state(*restored)
        stalled = 0
        while session.remaining > 0 and stalled < 3:
            before = session.remaining
            self.step(session)
            stalled = stalled + 1 if session.remaining == before else 0
            if session.due():
                session.checkpoint(*self.state())
        state = self.state()
        session.checkpoint(*state)
        return session.finish(self.summary(), state)

    def check_oracle(self, oracle: Oracle) -> None:
        """Refuse oracles the attack cannot use (e.g. a remote victim for a white-box ablation)."""

    @abstractmethod
    def setup(self, session: Session) -> None:
        """Build the attack's own state for a fresh run (seeded by ``config.seed``)."""

    @abstractmethod
    def step(self, session: Session) -> None:
        """Pay for some queries (or white-box calls) through ``session``; called until the budget is spent."""

    @abstractmethod
    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Tensors (safetensors) and JSON metadata that :meth:`load_state` restores exactly."""

    @abstractmethod
    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None: ...

    def summary(self) -> dict[str, Any]:
        """Attack-specific numbers for ``metrics.json`` (e.g. which classes reached the confidence threshold)."""
        return {}
