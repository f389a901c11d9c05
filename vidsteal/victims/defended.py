"""A defended victim without a server: another oracle's full probabilities, then defences, then the output mode.

What the vidsteal server does per request, in-process and through the same
:class:`~vidsteal.victims.answer.AnswerPath`, so a defence can be measured locally and then deployed unchanged:
the same victim, defence configs and clips give identical answers here and behind HTTP.
"""

from __future__ import annotations

import torch

from vidsteal.victims.answer import AnswerPath
from vidsteal.victims.base import Oracle
from vidsteal.victims.defences import DefenceChain
from vidsteal.victims.outputs import Answers, OutputKind, OutputMode


class DefendedOracle(Oracle):
    """``backend``'s full probabilities -> ``defences`` (as key ``key``) -> ``output_mode``.

    ``backend`` must reveal full probabilities (e.g. a ``LocalOracle`` in the default mode); stateful defences
    (PRADA's per-key streams, the noise generator) live in ``defences`` and advance with every query.
    """

    def __init__(self, backend: Oracle, defences: DefenceChain, output_mode: OutputMode | None = None,
                 key: str = "local") -> None:
        if backend.output_mode.kind != OutputKind.probs:
            raise ValueError(f"the backend must reveal full probabilities, not {backend.output_mode.to_dict()}")
        super().__init__(backend.num_classes, output_mode)
        self.backend, self.defences, self.key = backend, defences, key
        self.path = AnswerPath(self._backend_probs, defences)

    def _backend_probs(self, clips: torch.Tensor) -> torch.Tensor:
        probs = self.backend.query(clips).probs
        assert probs is not None  # the backend's mode was checked to reveal them
        return probs

    def _answer(self, clips: torch.Tensor) -> Answers:
        return self.path(clips, self.key, self.output_mode)
