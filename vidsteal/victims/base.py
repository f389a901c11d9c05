"""The oracle interface: the only way an attack sees a victim.

``Oracle.query(clips) -> Answers`` with float clips ``(B, C, T, H, W)`` in ``[0, 1]``; one clip is one query.
Backends (in-process model, vidsteal HTTP server, Open Inference Protocol v2) implement ``_answer``; budgets
and the durable query log wrap any backend, so attack code never knows which one it talks to.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch

from vidsteal.data.clips import check_model_input
from vidsteal.victims.outputs import Answers, OutputMode


class OracleError(RuntimeError):
    """The victim could not answer (unreachable, timed out, returned garbage); already-paid answers are kept."""


class Oracle(ABC):
    """A victim reachable by queries.

    Attributes:
        num_classes: size of the victim's label space.
        output_mode: what each answer reveals; attacks pick their loss from it.
        differentiable: True only for an in-process victim whose gradients an attack *may* use (white-box
            ablations such as the reference study's gradient mode); remote victims are never differentiable.
        queries: clips answered by this object so far (each clip counts once).
    """

    differentiable: bool = False

    def __init__(self, num_classes: int, output_mode: OutputMode | None = None) -> None:
        self.num_classes = num_classes
        self.output_mode = output_mode or OutputMode()
        self.queries = 0

    def query(self, clips: torch.Tensor) -> Answers:
        """Answer a batch; validates the contract, counts ``len(clips)`` queries."""
        check_model_input(clips)
        if clips.shape[0] == 0:
            return Answers(torch.zeros(0, 1, dtype=torch.long), None, self.output_mode)
        answers = self._answer(clips)
        if len(answers) != clips.shape[0]:
            raise OracleError(f"victim returned {len(answers)} answers for {clips.shape[0]} clips")
        self.queries += clips.shape[0]
        return answers

    @abstractmethod
    def _answer(self, clips: torch.Tensor) -> Answers:
        """Return one answer per clip of a validated, non-empty batch."""

    def info(self) -> dict[str, Any]:
        return {
            "backend": type(self).__name__,
            "num_classes": self.num_classes,
            "output_mode": self.output_mode.to_dict(),
            "differentiable": self.differentiable,
        }
