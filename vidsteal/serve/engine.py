"""The served victim: input checks, then the one answer path (forward, softmax, defences, output mode). No HTTP.

Answers go through :class:`vidsteal.victims.answer.AnswerPath`, as in :class:`~vidsteal.victims.local.LocalOracle`
and :class:`~vidsteal.victims.defended.DefendedOracle`, so a victim answers the same locally and served: bit for
bit for the same batches (one forward pass per request here), up to float rounding across batch sizes.
"""

from __future__ import annotations

import threading

import torch

from vidsteal.data.clips import ClipError, check_model_input
from vidsteal.models.external import load_victim_model
from vidsteal.models.registry import ModelCard
from vidsteal.serve.config import ServeConfig
from vidsteal.serve.schemas import ApiError
from vidsteal.victims.answer import AnswerPath, VictimInputError, VictimModel
from vidsteal.victims.defences import DefenceChain, QueryRefused
from vidsteal.victims.outputs import Answers


class Engine:
    """Loads the victim once; :meth:`answer` is thread-safe and runs at most ``inference_workers`` forwards."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.device = torch.device(config.device)
        self.model = load_victim_model(str(config.model_path), device=self.device).requires_grad_(False)
        self.card: ModelCard = self.model.card  # type: ignore[assignment]
        self.num_classes = self.card.num_classes
        self.frames = config.frames or self.card.frames
        self.size = config.size or self.card.size
        self.defences = DefenceChain.from_configs(config.defences)
        self.victim = VictimModel(self.model, self.num_classes, self.device)
        self.path = AnswerPath(self._probs, self.defences)
        self._slots = threading.BoundedSemaphore(config.inference_workers)

    def check(self, clips: torch.Tensor) -> None:
        """Refuse anything the victim should not see, with a message that says what was expected."""
        if clips.ndim != 5:
            raise ApiError(422, f"clips must have 5 dims (B, C, T, H, W), got shape {list(clips.shape)}")
        b, _, t, h, w = clips.shape
        if b > self.config.max_batch:
            raise ApiError(413, f"{b} clips in one request; this server takes at most {self.config.max_batch}")
        if b == 0:
            raise ApiError(422, "request holds no clips (B = 0)")
        if clips.is_floating_point() and not torch.isfinite(clips).all():
            raise ApiError(422, "clips hold NaN or Inf values (JSON NaN, Infinity or null, or numbers beyond the "
                                "float32 range); send finite values in [0, 1]")
        try:
            check_model_input(clips)
        except ClipError as err:
            raise ApiError(422, f"invalid clips: {err}") from None
        self._check_extent("frames T", t, self.frames, self.config.min_frames, self.config.max_frames)
        self._check_extent("height H", h, self.size, self.config.min_size, self.config.max_size)
        self._check_extent("width W", w, self.size, self.config.min_size, self.config.max_size)

    @staticmethod
    def _check_extent(what: str, got: int, exact: int | None, lo: int, hi: int) -> None:
        if exact is not None and got != exact:
            raise ApiError(422, f"clips must have {what} = {exact} (the victim's input size), got {got}")
        if exact is None and not lo <= got <= hi:
            raise ApiError(422, f"clips must have {what} in [{lo}, {hi}], got {got}")

    def _probs(self, clips: torch.Tensor) -> torch.Tensor:
        with self._slots:
            try:
                return self.victim.probs(clips)
            except VictimInputError as err:  # e.g. a clip too small for the victim's pooling
                raise ApiError(422, str(err)) from None

    def answer(self, clips: torch.Tensor, key: str) -> Answers:
        """Screen -> full probabilities -> defences -> output mode, for clips already :meth:`check`-ed."""
        try:
            return self.path(clips, key, self.config.output_mode)
        except QueryRefused as err:
            raise ApiError(403, str(err)) from None
