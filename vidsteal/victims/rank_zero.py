"""The oracle for multi-process training (torchrun): every rank asks, only rank 0 pays, logs and answers.

A :class:`~vidsteal.victims.ledger.QueryLedger` has one writer (it holds a file lock), and the budget must be
counted once. So with several ranks only rank 0 holds the victim (usually a ``LoggedOracle`` with a budget).
:meth:`RankZeroOracle.query` is collective: each rank passes its own clips, rank 0 gathers them in rank order,
queries the victim once for the whole global batch (so the ledger order is the same for any number of ranks),
and broadcasts the answers; each rank gets back the rows of its own clips. A budget cut or victim failure on rank
0 is raised on every rank, so no rank is left waiting.
"""

from __future__ import annotations

import json

import torch
import torch.distributed as dist

from vidsteal.victims.base import Oracle, OracleError
from vidsteal.victims.budget import BudgetExceeded
from vidsteal.victims.outputs import Answers, OutputMode

_OK, _BUDGET, _FAILED = 0, 1, 2


class RankZeroOracle(Oracle):
    """Wraps the victim on rank 0; other ranks pass ``None``. Construction and :meth:`query` are collective.

    Args:
        victim: the oracle on rank 0 (ignored elsewhere).
        device: where tensors travel: the rank's CUDA device under NCCL, the CPU under gloo.
    """

    def __init__(self, victim: Oracle | None, device: str | torch.device = "cpu") -> None:
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.device = torch.device(device)
        if self.rank == 0 and victim is None:
            raise ValueError("rank 0 must hold the victim")
        info = {"num_classes": victim.num_classes, "mode": victim.output_mode.to_dict()} if self.rank == 0 else {}
        info = json.loads(self._broadcast_bytes(json.dumps(info).encode()))
        super().__init__(info["num_classes"], OutputMode.model_validate(info["mode"]))
        self.victim = victim if self.rank == 0 else None

    def query(self, clips: torch.Tensor) -> Answers:
        """Collective: every rank calls it with its own (possibly empty, possibly differently sized) batch."""
        if clips.ndim != 5:
            raise OracleError(f"expected clips (B, C, T, H, W), got shape {tuple(clips.shape)}")
        sizes = self._all_gather_sizes(clips.shape[0])
        gathered = self._gather(clips, sizes)
        header, labels, probs = torch.zeros(5, dtype=torch.long), None, None  # status, rows, limit, spent, k
        message, failure = b"", None
        if self.rank == 0:
            try:
                answers = self.victim.query(gathered) if len(gathered) else None  # type: ignore[union-attr]
            except BudgetExceeded as err:
                answers, header[0] = err.answers, _BUDGET
                header[2:4] = torch.tensor([err.limit, err.spent])
            except Exception as err:  # noqa: BLE001 - every failure must reach every rank, or they wait forever
                answers, header[0], failure = None, _FAILED, err
                message = f"{type(err).__name__}: {err}".encode()
            if answers is not None:
                labels = answers.labels.long()
                probs = None if answers.probs is None else answers.probs.float()
                header[1], header[4] = len(answers), labels.shape[1]
        header = self._broadcast(header)
        if header[0] == _FAILED:
            text = self._broadcast_bytes(message).decode()
            if failure is not None:
                raise failure
            raise OracleError(f"victim query failed on rank 0: {text}")
        answered = int(header[1])
        if labels is None:
            labels = torch.zeros(answered, int(header[4]), dtype=torch.long)
        labels = self._broadcast(labels)
        if self.output_mode.has_scores:
            probs = self._broadcast(probs if probs is not None else torch.zeros(answered, self.num_classes))
        rows = slice(sum(sizes[: self.rank]), sum(sizes[: self.rank + 1]))
        mine = Answers(labels[rows], None if probs is None else probs[rows], self.output_mode)
        self.queries += len(mine)
        if header[0] == _BUDGET:
            limit, spent = int(header[2]), int(header[3])
            raise BudgetExceeded(limit, spent, clips.shape[0], len(mine), mine if len(mine) else None)
        return mine

    def _answer(self, clips: torch.Tensor) -> Answers:  # query() is overridden: it must stay collective
        raise NotImplementedError

    def info(self) -> dict:
        inner = self.victim.info() if self.victim is not None else {}
        return {**super().info(), "backend": "RankZeroOracle", "world_size": self.world, "victim": inner}

    def _all_gather_sizes(self, n: int) -> list[int]:
        sizes = [torch.zeros(1, dtype=torch.long, device=self.device) for _ in range(self.world)]
        dist.all_gather(sizes, torch.tensor([n], device=self.device))
        return [int(s) for s in sizes]

    def _gather(self, clips: torch.Tensor, sizes: list[int]) -> torch.Tensor:
        """Rank 0 receives every rank's clips (padded to the largest batch for the collective, then trimmed)."""
        most = max(sizes)
        padded = torch.zeros(most, *clips.shape[1:], dtype=clips.dtype, device=self.device)
        padded[: clips.shape[0]] = clips
        parts = [torch.empty_like(padded) for _ in range(self.world)] if self.rank == 0 else None
        dist.gather(padded, parts, dst=0)
        if self.rank != 0:
            return clips[:0]
        return torch.cat([part[:n] for part, n in zip(parts, sizes)]).cpu()  # type: ignore[arg-type]

    def _broadcast(self, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.to(self.device).contiguous()
        dist.broadcast(tensor, src=0)
        return tensor.cpu()

    def _broadcast_bytes(self, data: bytes) -> bytes:
        length = self._broadcast(torch.tensor([len(data)]))
        buffer = torch.zeros(int(length), dtype=torch.uint8)
        if self.rank == 0:
            buffer = torch.frombuffer(bytearray(data), dtype=torch.uint8) if data else buffer
        return bytes(self._broadcast(buffer).tolist())
