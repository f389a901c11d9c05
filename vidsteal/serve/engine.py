"""The served victim: input checks, forward pass, defences, output mode. No HTTP in here.

Answers go through exactly the steps of :class:`vidsteal.victims.local.LocalOracle` (eval mode, softmax,
:func:`apply_output_mode`) with the defence chain in between, so a victim answers the same locally and served
(up to float rounding that differs between batch sizes).
"""

from __future__ import annotations

import threading

import torch

from vidsteal.data.clips import ClipError, check_model_input
from vidsteal.models.registry import ModelCard, load_model
from vidsteal.serve.config import ServeConfig
from vidsteal.serve.schemas import ApiError
from vidsteal.victims.defences import DefenceChain, QueryRefused
from vidsteal.victims.outputs import Answers, apply_output_mode


class Engine:
    """Loads the victim once; :meth:`answer` is thread-safe and runs at most ``inference_workers`` forwards."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.device = torch.device(config.device)
        self.model = load_model(config.model_path, map_location=self.device).requires_grad_(False)
        self.card: ModelCard = self.model.card  # type: ignore[assignment]
        self.num_classes = self.card.num_classes
        self.frames = config.frames or self.card.frames
        self.size = config.size or self.card.size
        self.defences = DefenceChain.from_configs(config.defences)
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

    def screen(self, clips: torch.Tensor, key: str) -> None:
        try:
            self.defences.screen(clips, key)
        except QueryRefused as err:
            raise ApiError(403, str(err)) from None

    def answer(self, clips: torch.Tensor, key: str) -> Answers:
        """Full probabilities -> defences -> output mode, for clips already :meth:`check`-ed."""
        with self._slots, torch.inference_mode():
            self.model.eval()
            try:
                logits = self.model(clips.to(self.device)).float().cpu()
            except RuntimeError as err:  # e.g. a clip too small for the victim's pooling: an input problem
                raise ApiError(422, f"the victim cannot process clips of shape {list(clips.shape)}: {err}") from None
        if logits.shape != (clips.shape[0], self.num_classes) or not torch.isfinite(logits).all():
            raise RuntimeError(f"victim returned invalid logits of shape {tuple(logits.shape)}")
        probs = self.defences(torch.softmax(logits, dim=1), clips, key)
        return apply_output_mode(probs, self.config.output_mode)
