"""Training throughput of the full-size models, and how it scales from 1 to N processes under torchrun.

Part 1 times forward + backward (cross-entropy on random labels) of every full-size model on the current device,
in clips/s. Part 2 runs vidsteal's own ``fit`` (DDP via ``Runtime.from_env``) on random in-memory clips with 1 and
then ``--processes`` processes, each with the same per-process batch, and prints the clips/s ratio (ideal: nproc).
On a CPU both runs get cores / processes threads per process, so the ratio says how well DDP spreads work over
the cores; on GPUs it is the usual multi-GPU scaling. Not run in CI. Usage::

    python benchmarks/throughput.py                           # 16x112x112 clips, batch 2, all models
    python benchmarks/throughput.py --native --batch 8        # each model's own clip size (e.g. Swin-T 32x224)
    python benchmarks/throughput.py --models movinet_a0 --iters 2 --processes 2 --scaling-model vit_tiny_frame
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import torch
from torch import nn

from vidsteal.data.embedded import ClipDataset
from vidsteal.models import NATIVE_INPUT, create_model
from vidsteal.train.distributed import Runtime
from vidsteal.train.loop import Callback, OptimConfig, fit, supervised_loss

MODELS = ("swin3d_t", "movinet_a0", "movinet_a1", "movinet_a2", "r3d_18", "r2plus1d_18", "resnet50_frame",
          "vit_tiny_frame")
CLASSES = 400


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="*", default=list(MODELS), help="registered full-size models (none: skip)")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--native", action="store_true", help="use each model's native clip size instead")
    parser.add_argument("--batch", type=int, default=2, help="clips per step (per process in part 2)")
    parser.add_argument("--iters", type=int, default=3, help="timed steps (after one warm-up step)")
    parser.add_argument("--precision", default="auto", choices=["auto", "32", "bf16", "16"])
    parser.add_argument("--processes", type=int, default=2, help="processes for the scaling run (1 skips it)")
    parser.add_argument("--scaling-model", default="vit_tiny_frame")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # one torchrun rank of part 2
    return parser.parse_args()


def forward_backward(name: str, frames: int, size: int, args: argparse.Namespace, device: torch.device) -> float:
    runtime = Runtime(device, precision=args.precision)
    model = create_model(name, num_classes=CLASSES).to(device).train()
    clips = torch.rand(args.batch, 3, frames, size, size, device=device)
    labels = torch.randint(0, CLASSES, (args.batch,), device=device)
    seconds = 0.0
    for step in range(args.iters + 1):
        _sync(device)
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=runtime.amp_dtype, enabled=runtime.amp_dtype is not None):
            loss = nn.functional.cross_entropy(model(clips), labels)
        loss.backward()
        model.zero_grad(set_to_none=True)
        _sync(device)
        seconds += (time.perf_counter() - start) if step else 0.0  # step 0 warms up kernels and allocators
    return args.batch * args.iters / seconds


class _Clock(Callback):
    def __init__(self) -> None:
        self.times: list[float] = []

    def on_step(self, epoch, step, steps, logs):
        self.times.append(time.perf_counter())


def worker(args: argparse.Namespace) -> None:
    """One rank of the scaling run: ``fit`` for iters + 1 steps of ``batch`` clips per rank."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    runtime = Runtime.from_env(precision=args.precision)
    frames, size = NATIVE_INPUT[args.scaling_model] if args.native else (args.frames, args.size)
    global_batch = args.batch * world
    n = global_batch * (args.iters + 1)
    gen = torch.Generator().manual_seed(0)
    data = ClipDataset(torch.randint(0, 256, (n, frames, 3, size, size), dtype=torch.uint8, generator=gen),
                       torch.randint(0, CLASSES, (n,), generator=gen), [str(i) for i in range(CLASSES)])
    model = create_model(args.scaling_model, num_classes=CLASSES)
    clock = _Clock()
    cfg = OptimConfig(epochs=1, batch_size=global_batch, warmup_epochs=0)
    fit(model, data, supervised_loss(), cfg, callbacks=[clock], runtime=runtime)
    if runtime.is_main:
        rate = global_batch * args.iters / (clock.times[-1] - clock.times[0])
        print(json.dumps({"world": world, "clips_per_s": rate}), flush=True)
    runtime.shutdown()


def scaling(args: argparse.Namespace) -> dict[int, float]:
    rates = {}
    cores = os.cpu_count() or 1
    for nproc in (1, args.processes):
        env = dict(os.environ)
        if not torch.cuda.is_available():  # same threads per process in both runs: only the process count changes
            env["OMP_NUM_THREADS"] = str(max(1, cores // args.processes))
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", __file__,
               "--worker", *sys.argv[1:]]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
        rates[nproc] = json.loads(out.strip().splitlines()[-1])["clips_per_s"]
    return rates


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    args = parse_args()
    if args.worker:
        return worker(args)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}; precision {args.precision}; batch {args.batch}; {args.iters} timed steps")
    print(f"{'model':<16} {'clip':>12} {'fwd+bwd clips/s':>16}")
    for model in args.models:
        frames, size = NATIVE_INPUT[model] if args.native else (args.frames, args.size)
        rate = forward_backward(model, frames, size, args, device)
        print(f"{model:<16} {f'{frames}x{size}x{size}':>12} {rate:>16.2f}", flush=True)
    if args.processes > 1:
        rates = scaling(args)
        print(f"scaling ({args.scaling_model}, fit + DDP, batch {args.batch} per process): "
              f"1 proc {rates[1]:.2f} clips/s, {args.processes} procs {rates[args.processes]:.2f} clips/s, "
              f"ratio {rates[args.processes] / rates[1]:.2f} (ideal {args.processes})")


if __name__ == "__main__":
    main()
