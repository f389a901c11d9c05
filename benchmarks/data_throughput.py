"""Data throughput: embedded-benchmark generation clips/s, and decoding: raw PyAV (decode every frame to RGB) versus the vidsteal loader (decode, sample, resize, crop).

Encodes ``--clips`` synthetic videos into a temporary folder, then times both over the same files and prints
clips/s for each and the ratio vidsteal/raw. The loader converts only the frames a clip samples to RGB, so it
can beat the raw loop; the raw loop does no resizing. Usage::

    python benchmarks/data_throughput.py --clips 32 --frames 64 --height 128 --width 170
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import torch
from torch.utils.data import DataLoader

from vidsteal.data.decode import encode_video
from vidsteal.data.embedded import make_auxiliary, make_split
from vidsteal.data.synthetic import BenchmarkConfig
from vidsteal.data.folder import UnlabeledVideoFolder, collate_skip
from vidsteal.data.transforms import ClipTransform


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=32, help="videos to encode and decode")
    parser.add_argument("--frames", type=int, default=64, help="frames per encoded video")
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--width", type=int, default=170)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--ext", default="mp4", choices=["mp4", "webm", "mkv"], help="container (codec follows)")
    parser.add_argument("--num-frames", type=int, default=16, help="frames per sampled clip (vidsteal)")
    parser.add_argument("--stride", type=int, default=2, help="temporal stride (vidsteal)")
    parser.add_argument("--resize", type=int, default=128, help="short side after resize (vidsteal)")
    parser.add_argument("--crop", type=int, default=112, help="crop size (vidsteal)")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers for the vidsteal pass")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes; the best is reported")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--generate", type=int, default=4000, help="embedded-benchmark clips to generate")
    return parser.parse_args()


def synthetic_video(frames: int, height: int, width: int, g: torch.Generator) -> torch.Tensor:
    """Textured background with a moving bright block: enough detail that the codec does real work."""
    background = torch.randint(0, 200, (3, height // 8, width // 8), generator=g, dtype=torch.uint8)
    background = torch.nn.functional.interpolate(background[None].float(), size=(height, width), mode="bilinear")[0]
    clip = background.to(torch.uint8).expand(frames, -1, -1, -1).clone()
    for t in range(frames):
        x = (3 * t) % max(width - 24, 1)
        clip[t, :, height // 3: height // 3 + 24, x:x + 24] = 250
    return clip


def raw_pass(paths: list[Path], threads: int | None = None) -> int:
    """Plain PyAV: every frame of every file to an RGB array (``threads``: swscale threads, None = FFmpeg's)."""
    for path in paths:
        with av.open(str(path)) as container:
            np.stack([frame.to_ndarray(format="rgb24", threads=threads) for frame in container.decode(video=0)])
    return len(paths)


def vidsteal_pass(dataset: UnlabeledVideoFolder, workers: int) -> int:
    if workers == 0:
        return sum(dataset[i] is not None for i in range(len(dataset)))
    loader = DataLoader(dataset, batch_size=8, num_workers=workers, collate_fn=collate_skip)
    return sum(batch[0].shape[0] for batch in loader if batch is not None)


def best_rates(runs: dict[str, Callable[[], int]], repeats: int) -> dict[str, tuple[float, float]]:
    """Best (wall, cpu) clips/s of each run; runs alternate so background load hits them alike."""
    best = {name: (0.0, 0.0) for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            wall, cpu = time.perf_counter(), time.process_time()
            count = run()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            best[name] = (max(best[name][0], count / wall), max(best[name][1], count / max(cpu, 1e-9)))
    return best


def generation_rates(n: int, seed: int) -> None:
    """Clips/s of the embedded benchmark and of the auxiliary set at their default size (2 torch threads)."""
    cfg = BenchmarkConfig()
    for label, make in (("benchmark", lambda: make_split(cfg, "train", n, seed)),
                        ("auxiliary", lambda: make_auxiliary(cfg, n, seed))):
        start = time.perf_counter()
        make()
        seconds = time.perf_counter() - start
        print(f"generate {label:<10} {n} clips {cfg.frames}x{cfg.size}x{cfg.size}: {seconds:6.2f} s "
              f"= {n / seconds:8.0f} clips/s")


def main() -> None:
    args = parse_args()
    torch.set_num_threads(2)
    generation_rates(args.generate, args.seed)
    torch.set_num_threads(1)  # measure decoding, not intra-op parallel resizing
    g = torch.Generator().manual_seed(args.seed)
    with tempfile.TemporaryDirectory(prefix="vidsteal_bench_") as tmp:
        start = time.perf_counter()
        paths = [encode_video(Path(tmp) / f"clip_{i:04d}.{args.ext}",
                              synthetic_video(args.frames, args.height, args.width, g), fps=args.fps)
                 for i in range(args.clips)]
        encode_s = time.perf_counter() - start
        transform = ClipTransform(num_frames=args.num_frames, stride=args.stride, resize=args.resize,
                                  crop=args.crop)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the benchmark's own files must all be readable
            dataset = UnlabeledVideoFolder(tmp, transform, scan=False)
            raw_pass(paths)  # warm the page cache for both
            rates = best_rates({"raw": lambda: raw_pass(paths), "raw1": lambda: raw_pass(paths, threads=1),
                                "ours": lambda: vidsteal_pass(dataset, args.workers)}, args.repeats)
    print(f"videos: {args.clips} x {args.frames} frames {args.height}x{args.width} .{args.ext} "
          f"(encoded in {encode_s:.1f} s); av {av.__version__}, torch {torch.__version__}")
    print(f"clip: {transform.num_frames} frames, stride {transform.stride}, resize {transform.resize}, "
          f"crop {transform.crop}; workers {args.workers}; best of {args.repeats}")
    cpu_note = "" if args.workers == 0 else "  (cpu: main process only)"
    rows = [("raw PyAV decode (all frames -> rgb24)", "raw"), ("raw PyAV, 1 swscale thread", "raw1"),
            ("vidsteal loader (decode+sample+resize)", "ours")]
    for label, key in rows:
        wall, cpu = rates[key]
        print(f"{label:<40} {wall:8.1f} clips/s wall {cpu:8.1f} clips/cpu-s" + (cpu_note if key == "ours" else ""))
    for key, label in (("raw", "raw"), ("raw1", "raw 1-thread")):
        print(f"ratio vidsteal/{label + ':':<24} {rates['ours'][0] / rates[key][0]:8.2f} wall")

if __name__ == "__main__":
    main()
