"""Training worker for test_distributed.py: run under ``torchrun --nproc_per_node=2`` or as one plain process.

Trains a deterministic student (toy ViT: no dropout, no BatchNorm, so ranks cannot differ by batch statistics)
on a tiny embedded split with ``fit``; rank 0 writes the final weights. With ``--ledger`` the ranks first query a
victim through ``RankZeroOracle`` and each writes the answers it got back.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from vidsteal.data.embedded import make_split
from vidsteal.data.synthetic import BenchmarkConfig
from vidsteal.models import create_model
from vidsteal.train.distributed import Runtime
from vidsteal.train.loop import Callback, OptimConfig, fit, supervised_loss

BENCH = BenchmarkConfig(shapes=("square", "triangle"), motions=("right", "left", "cw"), frames=4, size=32)
CFG = OptimConfig(epochs=3, batch_size=8, lr=3e-3, warmup_epochs=0.5)


class Crash(Callback):
    def __init__(self, at_epoch: int) -> None:
        self.at_epoch = at_epoch

    def on_epoch_end(self, epoch, model, logs):
        if epoch == self.at_epoch:
            raise SystemExit(3)


def train(runtime: Runtime | None, ckpt: Path | None = None, crash_at: int | None = None) -> torch.nn.Module:
    data = make_split(BENCH, "train", 21)  # 2 full steps + a 5-sample last step: uneven rank shares and micro-batches
    torch.manual_seed(0)
    model = create_model("test_vit_tiny_frame", num_classes=6)
    callbacks = [Crash(crash_at)] if crash_at is not None else []
    fit(model, data, supervised_loss(), CFG, seed=1, ckpt_dir=ckpt, callbacks=callbacks, runtime=runtime)
    return model


def query_victim(runtime: Runtime, ledger: Path, out: Path) -> None:
    """Two collective queries through rank 0, the second one past a 7-query budget."""
    from vidsteal.victims.rank_zero import RankZeroOracle
    from vidsteal.victims import BudgetExceeded, LocalOracle, LoggedOracle, QueryBudget

    victim = None
    if runtime.is_main:
        torch.manual_seed(5)
        victim = LoggedOracle(LocalOracle(create_model("test_c3d", num_classes=6)), ledger, budget=QueryBudget(7))
    oracle = RankZeroOracle(victim)
    clips = make_split(BENCH, "test", 10).clips.permute(0, 2, 1, 3, 4).float() / 255
    first, second = clips[:5], clips[5:]
    mine = slice(0, 3) if runtime.rank == 0 else slice(3, 5)  # uneven batches per rank
    answers = oracle.query(first[mine])
    try:
        oracle.query(second[mine])
        cut = None
    except BudgetExceeded as err:
        cut = err.answered
    result = {"probs": answers.probs.tolist(), "answered_past_budget": cut}
    (out / f"answers_{runtime.rank}.json").write_text(json.dumps(result))
    if runtime.is_main:
        (out / "ledger_paid.json").write_text(json.dumps(victim.paid))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--ckpt", type=Path)
    parser.add_argument("--crash-at", type=int)
    parser.add_argument("--accumulate", type=int, default=1)
    parser.add_argument("--ledger", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    runtime = Runtime.from_env(accumulate=args.accumulate, precision="32")
    if args.ledger is not None:
        query_victim(runtime, args.ledger, args.out)
    model = train(runtime, args.ckpt, args.crash_at)
    if runtime.is_main:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(args.out / "weights.safetensors"))
    runtime.shutdown()


if __name__ == "__main__":
    main()
