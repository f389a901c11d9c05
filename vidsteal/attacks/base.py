"""What every extraction attack shares: a typed config, a context for measuring, and a result.

An attack sees the victim only through an :class:`~vidsteal.victims.base.Oracle` (normally a
:class:`~vidsteal.victims.logged.LoggedOracle` with a budget, so every paid answer is durable). The held-out test
set and the victim's own test predictions in :class:`AttackContext` are the *auditor's* instruments: attacks use
them only to report accuracy, never to train.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch
from pydantic import Field
from torch import nn
from torch.utils.data import Dataset

from vidsteal.config import BaseConfig
from vidsteal.train.distributed import Runtime
from vidsteal.victims.base import Oracle

Progress = Callable[[str, int, int | None], None]  # (stage, done, total)


class AttackConfig(BaseConfig):
    """Fields every attack has; attacks subclass it with their own knobs."""

    budget: int = Field(20_000, ge=1, description="victim queries the attack may pay for")
    seed: int = 0


@dataclass
class AttackContext:
    """Where an attack writes and how it is measured.

    Attributes:
        run_dir: the attack's folder (ledger, checkpoints, metrics); re-running with it resumes.
        test_set: held-out labeled real clips, for measurement only.
        victim_logits: the victim's predictions on ``test_set`` (auditor-side, not paid queries).
        progress: optional ``(stage, done, total)`` reporter for the CLI's progress bars.
        val_set: held-out labeled clips, disjoint from ``test_set``, on which an attack may *choose* among its own
            candidates (e.g. the reported IMP level); never trained on.
        runtime: where and how the student trains (device, mixed precision, torchrun ranks); None: one CPU process.
    """

    run_dir: Path
    test_set: Dataset | None = None
    victim_logits: torch.Tensor | None = None
    progress: Progress | None = None
    runtime: Runtime | None = None
    val_set: Dataset | None = None

    def report(self, stage: str, done: int, total: int | None = None) -> None:
        if self.progress is not None:
            self.progress(stage, done, total)


@dataclass
class AttackResult:
    """Final held-out metrics, queries paid, and the accuracy-vs-queries curve."""

    metrics: dict[str, Any]
    queries: int
    curve: list[dict[str, float]] = field(default_factory=list)
    student_path: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        """What a pipeline writes as the run's ``metrics.json`` (see :func:`vidsteal.runs.finish`)."""
        return {"metrics": self.metrics, "queries": self.queries, "curve": self.curve,
                "student": None if self.student_path is None else str(self.student_path)}


class Attack(ABC):
    """Base class: ``Attack(config).run(oracle, student, context) -> AttackResult``."""

    name: ClassVar[str]
    config_class: ClassVar[type[AttackConfig]] = AttackConfig
    needs_gradients: ClassVar[bool] = False  # True only for white-box ablations (refuses remote victims)

    def __init__(self, config: AttackConfig) -> None:
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config

    @abstractmethod
    def run(self, oracle: Oracle, student: nn.Module, context: AttackContext) -> AttackResult:
        """Pay queries, train ``student`` in place, return its measured result."""
