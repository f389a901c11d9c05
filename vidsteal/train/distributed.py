"""How vidsteal trains: device, torchrun data parallelism, mixed precision, accumulation, the optimiser step.

Both training loops run on a :class:`Runtime`: :func:`vidsteal.train.loop.fit` over datasets (:meth:`Runtime.steps`)
and the black-box online student over replay batches (:meth:`Runtime.split`); both step through
:meth:`Runtime.train_step`. Launch any vidsteal training with ``torchrun --nproc_per_node=N ...`` and pass
``Runtime.from_env()`` to ``fit`` (or in the black-box ``AttackContext``).

Plain ``torch.distributed`` (DDP), not Lightning Fabric or Accelerate: vidsteal already owns the optimiser,
schedule, seeding and a pickle-free checkpoint format, so what scale-out adds is a process group, a DDP wrapper,
a batch split, autocast and a GradScaler. That is this file, with no new dependency, and it keeps the batch split
explicit, which the equal-weights guarantee below depends on.

The recipe does not change with the hardware. ``OptimConfig.batch_size`` is the *global* batch of one optimiser
step. Each step's batch (a contiguous slice of the epoch's permutation) is cut into one share per rank and each
share into ``accumulate`` micro-batches. Every micro-batch loss is weighted by ``n_micro * world / n_step``, and
DDP averages gradients over ranks, so 1 process, N ranks or accumulation give the same update up to float
rounding. Per-rank statistics (BatchNorm: use ``sync_batchnorm`` on GPU) and dropout noise are the exceptions. A
last step with fewer samples than ranks is dropped when running multi-rank.

Checkpoints (:mod:`vidsteal.train.checkpoint`): rank 0 writes, every rank waits, every rank reads on resume.
Callbacks run on every rank; those that write files should check :attr:`Runtime.is_main`. Victim queries go
through rank 0 only (:class:`vidsteal.victims.rank_zero.RankZeroOracle`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any, Callable, Literal

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from vidsteal.data.clips import to_model_input
from vidsteal.data.folder import collate_skip

Precision = Literal["auto", "32", "bf16", "16"]
MicroBatch = tuple[torch.Tensor, Any, float, bool]  # uint8 clips, target, loss weight, last of its step
LossFn = Callable[[nn.Module, torch.Tensor, Any], dict[str, torch.Tensor]]


class Runtime:
    """Where and how one training process runs.

    Args:
        device: this process's device; ``cuda:<LOCAL_RANK>`` or ``cpu`` by default.
        precision: ``32``, ``bf16`` (autocast), ``16`` (autocast + loss scaling, CUDA only) or ``auto`` (bf16 on
            CUDA GPUs that support it, else 32).
        accumulate: micro-batches per rank and step; trades memory for time without changing the result.
        num_workers: DataLoader worker processes per rank (video decoding).
        sync_batchnorm: share BatchNorm statistics across ranks (CUDA only).
        find_unused_parameters: for models whose forward skips some parameters (DDP must know).
    """

    def __init__(self, device: str | torch.device | None = None, precision: Precision = "auto", accumulate: int = 1,
                 num_workers: int = 0, sync_batchnorm: bool = False, find_unused_parameters: bool = False) -> None:
        if accumulate < 1:
            raise ValueError(f"accumulate must be >= 1, got {accumulate}")
        self.distributed = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.distributed else 0
        self.world_size = dist.get_world_size() if self.distributed else 1
        self.device = torch.device(device if device is not None else _default_device())
        self.accumulate, self.num_workers = accumulate, num_workers
        self.sync_batchnorm, self.find_unused_parameters = sync_batchnorm, find_unused_parameters
        self.amp_dtype = _amp_dtype(precision, self.device)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)

    @classmethod
    def from_env(cls, **kwargs: Any) -> "Runtime":
        """Join torchrun's process group (when ``WORLD_SIZE > 1``): NCCL on GPUs, gloo on CPUs."""
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        cuda = torch.cuda.is_available()
        if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
            if cuda:
                torch.cuda.set_device(local_rank)
                dist.init_process_group("nccl", device_id=torch.device("cuda", local_rank))
            else:
                dist.init_process_group("gloo")
        kwargs.setdefault("device", f"cuda:{local_rank}" if cuda else "cpu")
        return cls(**kwargs)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def prepare(self, model: nn.Module) -> nn.Module:
        """Move ``model`` to the device; multi-rank, return its DDP wrapper (train through it, save ``model``)."""
        model.to(self.device)
        if not self.distributed:
            return model
        if self.sync_batchnorm:
            if self.device.type != "cuda":
                raise ValueError("sync_batchnorm needs CUDA devices")
            nn.SyncBatchNorm.convert_sync_batchnorm(model)
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=self.find_unused_parameters)

    def steps(self, dataset: Dataset, order: torch.Tensor, batch_size: int) -> Iterator[Iterator[MicroBatch]]:
        """For each optimiser step, this rank's micro-batches (consume each step's before asking for the next)."""
        plan = [([m.tolist() for m in self._shard(batch)], len(batch)) for batch in order.split(batch_size)]
        plan = [(micro, total) for micro, total in plan if micro]
        loader = DataLoader(dataset, batch_sampler=[m for micro, _ in plan for m in micro], collate_fn=collate_skip,
                            num_workers=self.num_workers, pin_memory=self.device.type == "cuda")
        batches = iter(loader)
        for micro, total in plan:
            yield self._micro_batches(batches, len(micro), total)

    def split(self, clips: torch.Tensor, target: Any) -> Iterator[MicroBatch]:
        """This rank's micro-batches of one in-memory step ``(uint8 clips, target)`` (the black-box student's replay
        batches); weighted like :meth:`steps`, so every rank must pass the same whole batch."""
        micro = self._shard(torch.arange(clips.shape[0]))
        for i, index in enumerate(micro):
            yield clips[index], target[index], len(index) * self.world_size / clips.shape[0], i == len(micro) - 1

    def _shard(self, batch: torch.Tensor) -> list[torch.Tensor]:
        """This rank's share of one step's indices, cut into micro-batches; none when the step has fewer samples than
        ranks (only a last, tiny step of a multi-rank epoch)."""
        if len(batch) < self.world_size:
            return []
        share = batch.tensor_split(self.world_size)[self.rank]
        return list(share.tensor_split(min(self.accumulate, len(share))))

    def _micro_batches(self, batches: Iterator, count: int, total: int) -> Iterator[MicroBatch]:
        for i in range(count):
            batch = next(batches)
            if batch is None:  # every file of this micro-batch failed to decode
                if self.distributed:
                    raise RuntimeError("a whole micro-batch was unreadable on rank "
                                       f"{self.rank}; scan() the dataset before multi-rank training")
                continue
            clips, target = batch
            yield clips, target, clips.shape[0] * self.world_size / total, i == count - 1

    def autocast(self) -> torch.autocast:
        """The mixed-precision context of this runtime's ``precision`` (a no-op at 32 bits)."""
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)

    def train_step(self, net: nn.Module, opt: torch.optim.Optimizer, loss_fn: LossFn,
                   micro_batches: Iterator[MicroBatch], grad_clip: float | None, at: str = "") -> tuple[float, int]:
        """Forward/backward every micro-batch (gradients synchronised on the last), clip, one optimiser step.

        Args:
            at: where in training this step is, for the error raised when the loss is not finite.

        Returns:
            The sum of per-sample losses over this rank's samples, and their number.
        """
        opt.zero_grad(set_to_none=True)
        loss_sum, count = 0.0, 0
        for clips, target, weight, last in micro_batches:
            sync = net.no_sync() if isinstance(net, DistributedDataParallel) and not last else nullcontext()
            with sync:
                with self.autocast():
                    target = target.to(self.device, non_blocking=True) if isinstance(target, torch.Tensor) else target
                    out = loss_fn(net, to_model_input(clips).to(self.device, non_blocking=True), target)
                self.scaler.scale(out["loss"].float() * weight).backward()
            loss_sum, count = loss_sum + out["loss"].item() * clips.shape[0], count + clips.shape[0]
        if count:
            if grad_clip is not None:
                self.scaler.unscale_(opt)
                nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
            self.scaler.step(opt)
            self.scaler.update()
        if not math.isfinite(loss_sum):
            raise FloatingPointError(f"loss became {loss_sum / max(count, 1)} at {at}; lower the learning rate")
        return loss_sum, count

    def global_mean(self, total: float, count: int) -> float:
        """``total / count`` summed over all ranks (the epoch loss every rank reports)."""
        if self.distributed:
            both = torch.tensor([total, float(count)], dtype=torch.float64, device=self.device)
            dist.all_reduce(both)
            total, count = both.tolist()
        return total / max(count, 1)

    def seed(self, base: int) -> int:
        """A per-rank seed, so dropout and augmentation differ across ranks; rank 0 keeps ``base``."""
        return base + 7919 * self.rank

    def shutdown(self) -> None:
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()
            self.distributed = False


def _default_device() -> str:
    return f"cuda:{os.environ.get('LOCAL_RANK', '0')}" if torch.cuda.is_available() else "cpu"


def _amp_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    if precision == "auto":
        cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if cuda_bf16 else None
    if precision == "16" and device.type != "cuda":
        raise ValueError("precision '16' (float16 + loss scaling) needs a CUDA device; use 'bf16' or '32'")
    try:
        return {"32": None, "bf16": torch.bfloat16, "16": torch.float16}[precision]
    except KeyError:
        raise ValueError(f"precision must be auto, 32, bf16 or 16, got {precision!r}") from None
