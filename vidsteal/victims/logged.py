"""Any oracle behind the durable query log: every paid (clip, answer) is saved before the attack sees it.

The log itself is :class:`~vidsteal.victims.ledger.QueryLedger`; this wrapper decides what to pay for (unseen
clips only, within the budget) and what to answer from the log for free.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vidsteal.victims.base import Oracle, OracleError
from vidsteal.victims.budget import BudgetExceeded, QueryBudget
from vidsteal.victims.hashes import clip_hash
from vidsteal.victims.ledger import QueryLedger, Row
from vidsteal.victims.outputs import Answers
from vidsteal.victims.shards import from_stored, to_stored


class LoggedOracle(Oracle):
    """Any oracle, behind a durable log and an optional budget; attacks use it like any other oracle.

    Per batch: clips already in the log are answered from it for free (:attr:`hits`); the distinct unseen
    clips go to the backend in chunks of at most ``shard_size``, and each chunk is saved durably before any
    answer is returned. :attr:`paid` counts queries paid for across all resumes of the same folder, and the
    budget applies to it, with the prefix policy of :mod:`vidsteal.victims.budget`. Not ``differentiable``:
    white-box access goes to a :class:`~vidsteal.victims.local.LocalOracle` directly, bypassing the log.

    Args:
        backend: the victim that is paid for answers.
        root: the ledger's folder; reopening it resumes the run.
        budget: caps :attr:`paid`; on resume it is charged with what the log already holds.
        quantize: send and store 8-bit clips (the default, as a video service receives them). Turn off only
            for attacks whose queries differ by less than 1/255 (zeroth-order gradient estimates); clips are
            then stored as float32, four times larger.
        shard_size: most clips per backend call and per shard file; a kill loses at most one chunk in flight.
    """

    def __init__(self, backend: Oracle, root: str | Path, budget: QueryBudget | None = None, quantize: bool = True,
                 shard_size: int = 256) -> None:
        super().__init__(backend.num_classes, backend.output_mode)
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {shard_size}")
        self.backend = backend
        self.backend_name = str(backend.info().get("backend", type(backend).__name__))
        self.clip_format = "uint8" if quantize else "float32"
        self.ledger = QueryLedger(root, backend.num_classes, backend.output_mode, self.clip_format)
        self.budget = budget
        if budget is not None:
            budget.restore(self.ledger.paid)
        self.shard_size = shard_size
        self.hits = 0

    @property
    def paid(self) -> int:
        return self.ledger.paid

    def _answer(self, clips: torch.Tensor) -> Answers:
        stored = to_stored(clips, self.clip_format)
        hashes = [clip_hash(c) for c in stored]
        known = self.ledger.lookup(hashes)
        unseen: dict[bytes, int] = {}  # distinct unseen clips -> first position, in batch order
        for i, h in enumerate(hashes):
            if h not in known and h not in unseen:
                unseen[h] = i
        fresh = list(unseen.items())
        answered = len(hashes)
        fit = len(fresh) if self.budget is None else self.budget.fits(len(fresh))
        if fit < len(fresh):  # prefix policy: stop just before the first unseen clip that does not fit
            answered, fresh = fresh[fit][1], fresh[:fit]
        for c in range(0, len(fresh), self.shard_size):
            chunk = fresh[c : c + self.shard_size]
            index = torch.tensor([i for _, i in chunk])
            try:
                answers = self.backend.query(from_stored(stored[index], self.clip_format))
            except OracleError as err:
                self._keep_partial(err, stored[index])
                raise
            self._check(answers, len(chunk))
            self.ledger.append(stored[index], answers, self.backend_name)
            if self.budget is not None:
                self.budget.spend(len(chunk))
            known.update(self.ledger.lookup([h for h, _ in chunk]))  # answer with exactly what was saved
        self.hits += answered - len(fresh)
        result = self._assemble([known[h] for h in hashes[:answered]])
        if answered < len(hashes):
            assert self.budget is not None
            self.queries += answered
            raise BudgetExceeded(self.budget.limit, self.budget.spent, len(hashes), answered, result)
        assert result is not None
        return result

    def _keep_partial(self, err: OracleError, sent: torch.Tensor) -> None:
        """A backend that failed mid-batch may still have been paid for part of it (a remote budget ran out, a
        later request failed): log every answer the error carries before it propagates, so none is lost."""
        parts = [(0, getattr(err, "answers", None))] + list(getattr(err, "paid_beyond_prefix", []))
        for offset, answers in parts:
            if answers is None or len(answers) == 0:
                continue
            rows = sent[offset : offset + len(answers)]
            self._check(answers, rows.shape[0])
            self.ledger.append(rows, answers, self.backend_name)
            if self.budget is not None:
                self.budget.spend(rows.shape[0])

    def _check(self, answers: Answers, n: int) -> None:
        """Refuse to log garbage: wrong count, shape or mode, labels out of range, non-finite probabilities."""
        problem = None
        if len(answers) != n or answers.labels.ndim != 2:
            problem = f"{len(answers)} label rows of shape {tuple(answers.labels.shape)} for {n} clips"
        elif answers.mode != self.output_mode:
            problem = f"output mode {answers.mode.to_dict()} instead of {self.output_mode.to_dict()}"
        elif answers.labels.numel() and not 0 <= answers.labels.min() <= answers.labels.max() < self.num_classes:
            problem = f"labels outside [0, {self.num_classes})"
        elif self.output_mode.has_scores and (answers.probs is None or answers.probs.shape != (n, self.num_classes)):
            problem = f"probabilities of shape {None if answers.probs is None else tuple(answers.probs.shape)}"
        elif answers.probs is not None and not torch.isfinite(answers.probs).all():
            problem = "NaN/Inf probabilities"
        if problem:
            raise OracleError(f"victim {self.backend_name} returned {problem}; nothing was logged for this chunk")

    def _assemble(self, rows: list[Row]) -> Answers | None:
        if not rows:
            return None
        probs = None if rows[0][1] is None else torch.stack([p for _, p in rows])  # type: ignore[misc]
        return Answers(torch.stack([labels for labels, _ in rows]), probs, self.output_mode)

    def info(self) -> dict[str, Any]:
        budget = None if self.budget is None else {"limit": self.budget.limit, "spent": self.budget.spent}
        return {**super().info(), "ledger": str(self.ledger.root), "paid": self.paid, "hits": self.hits,
                "budget": budget, "clip_format": self.clip_format, "backend_info": self.backend.info()}

    def close(self) -> None:
        self.ledger.close()

    def __enter__(self) -> "LoggedOracle":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
