"""The one answer path of a victim: screen -> full probabilities -> defences -> output mode.

Everything that answers as the victim runs it: :class:`~vidsteal.victims.local.LocalOracle` and
:class:`~vidsteal.victims.defended.DefendedOracle` in-process, the vidsteal server's
:class:`~vidsteal.serve.engine.Engine` and the MLServer runtime. So the same model, defence configs (with their
seeds) and clips, queried in the same batches and order, give bit-identical answers in all four. Float results
may differ between batch sizes (the forward pass is batched), never between the four.

:class:`VictimModel` is the forward pass (eval mode, no autograd, logits checked, softmax in float32 on the CPU);
:class:`AnswerPath` adds the defence chain and the output mode to any source of full probabilities, which is a
:class:`VictimModel` or, for a defended wrapper of another oracle, that oracle's full-probability answers.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from vidsteal.victims.base import OracleError
from vidsteal.victims.defences import DefenceChain
from vidsteal.victims.outputs import Answers, OutputMode, apply_output_mode


class VictimInputError(OracleError):
    """The victim model raised on these clips (e.g. frames too small for its pooling): a problem of the input."""


class VictimModel:
    """A frozen torch model as a source of full probabilities.

    Args:
        model: maps float clips ``(B, C, T, H, W)`` in ``[0, 1]`` to logits ``(B, num_classes)``. It is moved to
            ``device``, put in eval mode and frozen (``requires_grad=False``): the victim never trains.
        num_classes: size of the victim's label space; logits of any other shape are refused.
        device: where the model runs; probabilities always come back on the CPU, as from a remote victim.
        batch_size: clips per forward pass (bigger batches are split, so memory stays bounded); None: whole batch.
    """

    def __init__(self, model: nn.Module, num_classes: int, device: str | torch.device = "cpu",
                 batch_size: int | None = None) -> None:
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval().requires_grad_(False)
        self.num_classes = num_classes
        self.batch_size = batch_size

    def logits(self, clips: torch.Tensor) -> torch.Tensor:
        """Raw logits of one forward pass (autograd as the caller has it), shape-checked."""
        self.model.eval()  # someone may have called .train() on the shared module; the victim never trains
        logits = self.model(clips.to(self.device))
        if logits.ndim != 2 or logits.shape != (clips.shape[0], self.num_classes):
            raise OracleError(
                f"victim model returned logits of shape {tuple(logits.shape)}, expected ({clips.shape[0]}, "
                f"{self.num_classes})"
            )
        return logits

    def probs(self, clips: torch.Tensor) -> torch.Tensor:
        """Full softmax ``(N, num_classes)``, float32 on the CPU, for clips already checked against the contract."""
        parts = []
        with torch.inference_mode():
            for chunk in clips.split(self.batch_size or max(1, clips.shape[0])):
                try:
                    logits = self.logits(chunk).float().cpu()
                except (OracleError, torch.cuda.OutOfMemoryError):
                    raise  # a broken victim or a full device is the server's problem, not the input's
                except RuntimeError as err:
                    raise VictimInputError(
                        f"the victim cannot process clips of shape {list(chunk.shape)}: {err}") from err
                bad = ~torch.isfinite(logits).all(dim=1)
                if bad.any():
                    raise OracleError(
                        f"victim model returned NaN/Inf logits for {int(bad.sum())} of {chunk.shape[0]} clips "
                        f"(broken weights or numerically unstable inputs); no answer was given for this batch"
                    )
                parts.append(torch.softmax(logits, dim=1))
        return torch.cat(parts)


class AnswerPath:
    """Defences and output mode around a source of full probabilities.

    Args:
        probs: maps checked clips to full probabilities ``(N, K)`` (e.g. :meth:`VictimModel.probs`).
        defences: the chain run between the softmax and the output mode; None or empty: the undefended victim.
    """

    def __init__(self, probs: Callable[[torch.Tensor], torch.Tensor], defences: DefenceChain | None = None) -> None:
        self.probs = probs
        self.defences = defences if defences is not None else DefenceChain()

    def defended_probs(self, clips: torch.Tensor, key: str) -> torch.Tensor:
        """Screen (may raise :class:`~vidsteal.victims.defences.QueryRefused`), full probabilities, defences."""
        self.defences.screen(clips, key)
        return self.defences(self.probs(clips), clips, key)

    def __call__(self, clips: torch.Tensor, key: str, mode: OutputMode) -> Answers:
        """What the victim reveals to ``key`` for ``clips`` under output ``mode``."""
        return apply_output_mode(self.defended_probs(clips, key), mode)
