"""What a defence costs honest users: the victim's accuracy under it, and PRADA's false alarms on real clips.

Both run the real test clips through the defence setting's answer path (:class:`~vidsteal.victims.answer.AnswerPath`:
screen, defences, output mode) on top of the victim's full probabilities, already measured once for the yardstick
(:mod:`vidsteal.pipeline.measure`), so no victim query is paid again, for a remote victim either.

- :func:`utility`: one honest user sends the test clips in order; top-1 of the answers, their agreement with the
  undefended victim, and the probability mass moved (total variation to the honest probabilities, where the
  answers carry any). Refused queries (a blocked honest user) count as wrong answers.
- :func:`false_alarms`: ``users`` honest users, each sending ``queries`` test clips one by one (a fresh random
  order per user); the share of them PRADA flags is its false-positive rate.
"""

from __future__ import annotations

from typing import Iterator

import torch

from vidsteal.pipeline.deploy import DefenceSetting, detectors
from vidsteal.victims.answer import AnswerPath
from vidsteal.victims.defences import DefenceChain, QueryRefused
from vidsteal.victims.outputs import Answers


def answer_stream(setting: DefenceSetting, chain: DefenceChain, probs: torch.Tensor, clips: torch.Tensor, key: str,
                  batch: int = 1) -> Iterator[Answers | None]:
    """The answers ``key`` gets for model-input ``clips`` (full victim ``probs`` known), ``batch`` clips per
    request, in order; None for a refused request."""
    for i in range(0, clips.shape[0], batch):
        rows = probs[i : i + batch]
        path = AnswerPath(lambda _clips: rows, chain)  # noqa: B023 - used at once, inside this iteration
        try:
            yield path(clips[i : i + batch], key, setting.output_mode)
        except QueryRefused:
            yield None


def utility(setting: DefenceSetting, probs: torch.Tensor, clips: torch.Tensor, labels: torch.Tensor,
            batch: int = 1) -> dict[str, float | int | None]:
    """Honest users' view of ``setting`` on the test clips (see module docstring)."""
    chain = DefenceChain.from_configs(setting.defences)
    answers = answer_stream(setting, chain, probs, clips, "honest", batch)
    honest = probs.argmax(dim=1)
    top, moved, refused = [], [], 0
    for i, ans in zip(range(0, clips.shape[0], batch), answers):
        n = min(batch, clips.shape[0] - i)
        if ans is None:
            refused += n
            top.append(torch.full((n,), -1, dtype=torch.long))
            continue
        top.append(ans.top1)
        if ans.probs is not None:
            moved.append(0.5 * (ans.probs - probs[i : i + n]).abs().sum(dim=1))
    top1 = torch.cat(top)
    return {"top1": float((top1 == labels).float().mean()), "agreement": float((top1 == honest).float().mean()),
            "tv": float(torch.cat(moved).mean()) if moved else None, "refused": refused, "clips": int(clips.shape[0])}


def false_alarms(setting: DefenceSetting, probs: torch.Tensor, clips: torch.Tensor, users: int, queries: int,
                 seed: int = 0) -> dict[str, float | int | list[int | None]] | None:
    """PRADA's false-positive rate over ``users`` honest streams of ``queries`` real clips each (None: no PRADA)."""
    if setting.prada is None:
        return None
    chain = DefenceChain.from_configs(setting.defences)
    (detector,) = detectors(chain)
    n = min(queries, clips.shape[0])
    flagged_at: list[int | None] = []
    for user in range(users):
        order = torch.randperm(clips.shape[0], generator=torch.Generator().manual_seed(1000 * seed + user))[:n]
        key, first = f"honest{user}", None
        for i, ans in enumerate(answer_stream(setting, chain, probs[order], clips[order], key)):
            if first is None and (ans is None or detector.flagged(key)):
                first = i + 1
        flagged_at.append(first)
    flagged = sum(f is not None for f in flagged_at)
    return {"fpr": flagged / users, "flagged_users": flagged, "users": users, "queries_per_user": n,
            "flagged_at": flagged_at}
