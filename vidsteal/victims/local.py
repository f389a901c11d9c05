"""An in-process victim: a torch model behind the oracle interface.

This is the fast victim for experiments and tests. Black-box attacks use it only through :meth:`query`, which
behaves exactly like a remote victim: eval mode, no gradients, softmax, then the output mode's truncation, through
the same :class:`~vidsteal.victims.answer.AnswerPath` the server runs. It also offers :meth:`LocalOracle.logits`
for white-box ablations, which is deliberately a separate, loudly named method so that no black-box code path can
reach victim gradients by accident.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from vidsteal.data.clips import check_model_input
from vidsteal.models.registry import ModelCard, create_model, load_model
from vidsteal.victims.answer import AnswerPath, VictimModel
from vidsteal.victims.base import Oracle
from vidsteal.victims.outputs import Answers, OutputMode


class LocalOracle(Oracle):
    """A torch model answering queries in this process.

    Args:
        model: maps float clips ``(B, C, T, H, W)`` in ``[0, 1]`` to logits ``(B, num_classes)``. It is put in
            eval mode and its parameters are frozen (``requires_grad=False``): it is the victim, never trained.
        output_mode: what each answer reveals.
        batch_size: clips per forward pass; bigger batches from the attack are split, so memory stays bounded.
        device: where the model runs; answers always come back on the CPU, as from a remote victim.
        num_classes: needed only for models not built by :func:`vidsteal.models.create_model` (no card).
    """

    differentiable = True

    def __init__(
        self,
        model: nn.Module,
        output_mode: OutputMode | None = None,
        batch_size: int = 64,
        device: str | torch.device = "cpu",
        num_classes: int | None = None,
    ) -> None:
        card = getattr(model, "card", None)
        if num_classes is None:
            if not isinstance(card, ModelCard):
                raise ValueError("model has no vidsteal card; pass num_classes explicitly")
            num_classes = card.num_classes
        self.victim = VictimModel(model, num_classes, device, batch_size)
        super().__init__(num_classes, output_mode)
        self.device, self.model = self.victim.device, self.victim.model
        self.card = card if isinstance(card, ModelCard) else None
        self.path = AnswerPath(self.victim.probs)

    @property
    def batch_size(self) -> int | None:
        """Clips per forward pass; settable (the answers do not change, up to float rounding)."""
        return self.victim.batch_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        if value < 1:
            raise ValueError(f"batch_size must be >= 1, got {value}")
        self.victim.batch_size = value

    @classmethod
    def from_file(cls, path: str | Path, output_mode: OutputMode | None = None, batch_size: int = 64,
                  device: str | torch.device = "cpu") -> "LocalOracle":
        """Victim from a ``.safetensors`` file written by :func:`vidsteal.models.save_model` (no pickle)."""
        return cls(load_model(path, map_location=device), output_mode, batch_size, device)

    @classmethod
    def from_registry(cls, name: str, num_classes: int, output_mode: OutputMode | None = None,
                      batch_size: int = 64, device: str | torch.device = "cpu", **model_kwargs: Any) -> "LocalOracle":
        """Victim built fresh from the model registry (random weights; seed torch first for a fixed victim)."""
        return cls(create_model(name, num_classes, **model_kwargs), output_mode, batch_size, device)

    def _answer(self, clips: torch.Tensor) -> Answers:
        return self.path(clips, "local", self.output_mode)

    def logits(self, clips: torch.Tensor) -> torch.Tensor:
        """WHITE-BOX access, not a black-box query: raw victim logits with autograd enabled.

        Gradients flow back to ``clips`` (not into the frozen victim), ignoring the output mode, budgets and
        query logs. Only white-box ablations (e.g. the reference study's gradient mode) may call this; a
        real victim behind an API offers nothing like it, which is why remote oracles are not
        ``differentiable``. Each clip still counts in :attr:`queries`.
        """
        check_model_input(clips)
        out = self.victim.logits(clips)
        self.queries += clips.shape[0]
        return out

    def info(self) -> dict[str, Any]:
        info = super().info()
        info["device"] = str(self.device)
        if self.card is not None:
            info["model"] = {"arch": self.card.arch, "kwargs": self.card.kwargs, "recipe": self.card.recipe}
        return info
